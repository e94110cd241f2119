"""UTKFace loader: tiny fixture archives in the official layout, plus the real archive when present.

Every test gets its own empty ``COURSE_CACHE_DIR`` (autouse fixture in ``conftest.py``).
"""

from __future__ import annotations

import re
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from fixtures_data import (UTK_KEPT, UTK_MALFORMED, UTK_NAMES, colour, real_data_dir, utk_images,
                           truncate, truncated_message, write_utkface_archive, write_utkface_folder)

from course_lib import data
from course_lib.core.config import DataCorruptedError, DataNotFoundError
from course_lib.data import utkface
from course_lib.data.utkface import MalformedNameWarning, load_utkface

SKIP_MESSAGE = ("UTKFace: skipped 3 of 12 images whose file names lack the [age]_[gender]_[race]_ fields: "
                "39_1_20170116174525125.jpg.chip.jpg, 61_1_20170109142408075.jpg.chip.jpg, "
                "61_1_20170109150557335.jpg.chip.jpg")


@pytest.fixture
def root(tmp_path, monkeypatch) -> Path:
    folder = tmp_path / "data"
    write_utkface_archive(folder)
    monkeypatch.setenv("COURSE_DATA_DIR", str(folder))
    return folder


def load_quiet(**kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", MalformedNameWarning)
        return load_utkface(**kwargs)


def test_loads_the_archive_sorted_with_labels_from_names(root):
    with pytest.warns(MalformedNameWarning) as record:
        ds = load_utkface(split="all", image_size=16)
    assert [str(w.message) for w in record] == [SKIP_MESSAGE]
    assert list(ds.example_ids) == sorted(UTK_KEPT)  # stray space and missing dot kept
    assert ds.example_ids.name == "example_id"
    assert ds.images.shape == (len(UTK_KEPT), 3, 16, 16) and ds.images.dtype == torch.float32
    assert ds.classes == ("male", "female")
    a = ds.attributes
    assert list(a.columns) == ["age", "age_group", "gender", "race", "file"]
    for name, (age, gender, race) in UTK_KEPT.items():
        row = a.loc[name]
        assert (row.age, row.gender, row.race) == (age, ("male", "female")[gender], utkface.RACES[race])
        assert row.file == f"UTKFace/{name}"
    assert ds.targets.tolist() == [UTK_KEPT[n][1] for n in ds.example_ids]
    assert a.age.dtype == np.int64


def test_attribute_types_and_age_bins(root):
    a = load_quiet(split="all", image_size=8).attributes
    assert isinstance(a.age_group.dtype, pd.CategoricalDtype) and a.age_group.cat.ordered
    assert list(a.age_group.cat.categories) == ["0-19", "20-39", "40-59", "60+"]
    assert list(a.race.cat.categories) == ["White", "Black", "Asian", "Indian", "Others"]
    assert list(a.gender.cat.categories) == ["male", "female"]
    groups = dict(zip(a.age, a.age_group))
    assert [groups[age] for age in (8, 19, 20, 39, 40, 55, 60, 116)] == [
        "0-19", "0-19", "20-39", "20-39", "40-59", "40-59", "60+", "60+"]
    assert (a.race == "Asian").sum() == 2


def test_pixels_are_rgb_channels_first_in_unit_range(root):
    ds = load_quiet(split="all", image_size=8)
    for i, name in enumerate(ds.example_ids):
        expected = torch.tensor(colour(UTK_NAMES.index(name)), dtype=torch.float32) / 255
        mean = ds.images[i].mean(dim=(1, 2))
        assert torch.allclose(mean, expected, atol=4 / 255), name


def test_split_is_seeded_disjoint_and_complete(root):
    every = load_quiet(split="all", image_size=8)
    train, test = load_quiet(split="train", image_size=8), load_quiet(split="test", image_size=8)
    assert len(test) == round(0.2 * len(every)) == 2
    assert sorted([*train.example_ids, *test.example_ids]) == list(every.example_ids)
    assert list(load_quiet(split="test", image_size=8).example_ids) == list(test.example_ids)
    others = {tuple(load_quiet(split="test", image_size=8, seed=s).example_ids) for s in range(1, 8)}
    assert len(others | {tuple(test.example_ids)}) > 1
    assert len(load_quiet(split="test", image_size=8, test_fraction=0.5)) == round(0.5 * len(every))


def test_registry_loads_utkface(root):
    with pytest.warns(MalformedNameWarning):
        ds = data.load("utkface", split="test", seed=3, image_size=8)
    assert ds.name == "utkface" and ds.split == "test"


def test_decoding_happens_once_per_image_size(root, monkeypatch):
    load_quiet(image_size=8)

    def fail(*args, **kwargs):
        raise AssertionError("decoded again instead of reading the cache")

    monkeypatch.setattr(utkface, "decode_jpegs", fail)
    with pytest.warns(MalformedNameWarning, match="skipped 3 of 12"):  # still reported from the cache
        assert len(load_utkface(split="all", image_size=8)) == len(UTK_KEPT)
    with pytest.raises(AssertionError, match="decoded again"):
        load_quiet(image_size=12)


def test_folder_is_preferred_over_archive(root):
    kept = {name: data for name, data in utk_images().items() if name != "8_0_2_20170116000000006.jpg.chip.jpg"}
    write_utkface_folder(root, {**kept, ".DS_Store": b"", "._19_0_0_x.jpg": b"not a jpeg"})
    with pytest.warns(MalformedNameWarning, match="skipped 3 of 11"):
        ds = load_utkface(split="all", image_size=8)
    assert list(ds.example_ids) == sorted(n for n in kept if n in UTK_KEPT)
    from_archive = load_quiet(split="all", image_size=8, root=_archive_only(root))
    same = from_archive.attributes.loc[ds.example_ids]
    pd.testing.assert_frame_equal(same, ds.attributes)
    assert torch.equal(from_archive.images[np.flatnonzero(from_archive.example_ids.isin(ds.example_ids))], ds.images)


def _archive_only(root: Path) -> Path:
    other = root.parent / "archive-only"
    other.mkdir()
    (other / "UTKFace.tar.gz").write_bytes((root / "UTKFace.tar.gz").read_bytes())
    return other


def test_missing_data_names_setting_files_and_download_page(tmp_path, monkeypatch):
    empty = tmp_path / "empty"
    empty.mkdir()
    monkeypatch.setenv("COURSE_DATA_DIR", str(empty))
    with pytest.raises(DataNotFoundError) as info:
        load_utkface()
    assert str(info.value) == (
        f"UTKFace not found in {empty}: expected the archive UTKFace.tar.gz or the folder UTKFace/ extracted "
        f"from it. Set COURSE_DATA_DIR (currently '{empty}') to the folder that holds them, or pass root=. "
        'Download "Aligned&Cropped Faces" (`UTKFace.tar.gz`) from the official UTKFace page '
        "https://susanqq.github.io/UTKFace/ and put it, as it is, in the folder `COURSE_DATA_DIR` points at. "
        "The images are for non-commercial research and education only; the course never redistributes them.")
    assert isinstance(info.value, FileNotFoundError)


def test_missing_data_when_setting_is_unset(tmp_path, monkeypatch):
    monkeypatch.delenv("COURSE_DATA_DIR", raising=False)
    with pytest.raises(DataNotFoundError, match=re.escape("Set COURSE_DATA_DIR (currently unset, so ")):
        load_utkface(root=tmp_path)


@pytest.mark.parametrize("keep", [0.5, 0.9, 0.999])
def test_truncated_archive_is_named(root, keep):
    archive = root / "UTKFace.tar.gz"
    truncate(archive, keep)
    advice = "delete it and download UTKFace.tar.gz again from https://susanqq.github.io/UTKFace/"
    with pytest.raises(DataCorruptedError, match=truncated_message(f"UTKFace archive {archive}", advice)):
        load_quiet()


def test_archive_that_is_not_gzip_is_named(root):
    (root / "UTKFace.tar.gz").write_bytes(b"<html>quota exceeded</html>")
    with pytest.raises(DataCorruptedError, match=re.escape(f"UTKFace archive {root / 'UTKFace.tar.gz'} is truncated")):
        load_quiet()


def test_unreadable_jpeg_is_named(tmp_path, monkeypatch):
    files = utk_images()
    bad = "20_1_1_20170116000000002.jpg.chip.jpg"
    files[bad] = files[bad][:200]
    write_utkface_archive(tmp_path, files)
    expected = (re.escape(f"UTKFace {tmp_path / 'UTKFace.tar.gz'}: image {bad} cannot be decoded (") + r".+"
                + re.escape("); the file is damaged: replace it or download the dataset again"))
    with pytest.raises(DataCorruptedError, match=f"^{expected}$"):
        load_quiet(root=tmp_path)


def test_archive_without_images_is_reported(tmp_path):
    write_utkface_archive(tmp_path, {})
    with pytest.raises(DataCorruptedError, match=re.escape(f"UTKFace: {tmp_path / 'UTKFace.tar.gz'} holds no JPEG images")):
        load_quiet(root=tmp_path)


@pytest.mark.parametrize("bad, error, message", [
    (4, ValueError, "image_size must be an integer in [8, 200], got 4"),
    (7, ValueError, "image_size must be an integer in [8, 200], got 7"),
    (201, ValueError, "image_size must be an integer in [8, 200], got 201"),
    (32.0, TypeError, "image_size must be an integer, got 32.0"),
    (True, TypeError, "image_size must be an integer, got True (bool)"),
    ("32", TypeError, "image_size must be an integer, got '32'"),
])
def test_bad_image_size_names_the_argument(root, bad, error, message):
    with pytest.raises(error, match=f"^{re.escape(message)}$"):
        load_utkface(image_size=bad)


@pytest.mark.parametrize("bad, error", [(0, ValueError), (1, ValueError), (-0.1, ValueError), (1.5, ValueError),
                                        (float("nan"), ValueError), ("0.2", TypeError)])
def test_bad_test_fraction_names_the_argument(root, bad, error):
    expected = ("test_fraction must be a real number in (0, 1), got" if error is ValueError
                else "test_fraction must be a real number, got")
    with pytest.raises(error, match=f"^{re.escape(expected)} {re.escape(repr(bad))}$"):
        load_utkface(test_fraction=bad)


def test_bad_split_names_the_argument(root):
    with pytest.raises(ValueError, match="split must be one of"):
        load_utkface(split="valid")


def test_parse_name_reads_only_the_leading_fields():
    assert utkface.parse_name("24_0_1_20170116220224657 .jpg.chip.jpg") == (24, 0, 1)
    assert utkface.parse_name("55_0_0_20170116232725357jpg.chip.jpg") == (55, 0, 0)
    assert all(utkface.parse_name(name) is None for name in UTK_MALFORMED)
    assert utkface.parse_name("30_2_0_x.jpg") is None and utkface.parse_name("30_0_5_x.jpg") is None


# ----------------------------------------------------------------------------------------------
# The real archive (../shared/data or $COURSE_TEST_DATA_DIR)
# ----------------------------------------------------------------------------------------------

REAL = real_data_dir()
needs_real = pytest.mark.skipif(REAL is None or not (REAL / "UTKFace.tar.gz").is_file(),
                                reason="real UTKFace.tar.gz not found: set COURSE_TEST_DATA_DIR or put it in ../shared/data")


@pytest.fixture(scope="session")
def real_utkface(tmp_path_factory):
    """The real archive decoded once, at 32 pixels, into a session cache.

    Returns ``(dataset, skip warnings, seconds, cache folder)``; the settings are restored after.
    """
    cache_dir = tmp_path_factory.mktemp("real-cache")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("COURSE_CACHE_DIR", str(cache_dir))
        patch.setenv("COURSE_DATA_DIR", str(REAL))
        start = time.perf_counter()
        with warnings.catch_warnings(record=True) as record:
            warnings.simplefilter("always")
            ds = load_utkface(split="all", image_size=32)
        seconds = time.perf_counter() - start
    print(f"\nreal UTKFace decoded at 32 px in {seconds:.1f} s")
    return ds, [str(w.message) for w in record if issubclass(w.category, MalformedNameWarning)], seconds, cache_dir


@pytest.mark.slow
@needs_real
def test_real_archive_counts(real_utkface):
    ds, messages, _, _ = real_utkface
    assert len(ds) == 23_704
    assert ds.images.shape == (23_704, 3, 32, 32)
    assert ds.attributes.race.value_counts().to_dict() == {
        "White": 10_078, "Black": 4_525, "Indian": 3_975, "Asian": 3_434, "Others": 1_692}
    assert ds.attributes.gender.value_counts().to_dict() == {"male": 12_390, "female": 11_314}
    assert ds.targets.sum().item() == 11_314
    assert messages == ["UTKFace: skipped 3 of 23707 images whose file names lack the [age]_[gender]_[race]_ "
                        "fields: 39_1_20170116174525125.jpg.chip.jpg, 61_1_20170109142408075.jpg.chip.jpg, "
                        "61_1_20170109150557335.jpg.chip.jpg"]
    assert {"24_0_1_20170116220224657 .jpg.chip.jpg", "55_0_0_20170116232725357jpg.chip.jpg"} <= set(ds.example_ids)
    assert ds.attributes.age.between(1, 116).all()


@pytest.mark.slow
@needs_real
def test_real_archive_split_from_cache(real_utkface, monkeypatch):
    *_, cache_dir = real_utkface
    monkeypatch.setenv("COURSE_DATA_DIR", str(REAL))
    monkeypatch.setenv("COURSE_CACHE_DIR", str(cache_dir))
    monkeypatch.setattr(utkface, "decode_jpegs", _no_decoding)
    train, test = load_quiet(split="train"), load_quiet(split="test")
    assert (len(train), len(test)) == (18_963, 4_741)
    assert not set(train.example_ids) & set(test.example_ids)


def _no_decoding(*args, **kwargs):
    raise AssertionError("the real archive was decoded twice")
