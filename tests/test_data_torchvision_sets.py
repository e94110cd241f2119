"""CIFAR-10 and CelebA loaders on tiny fixtures written in the official on-disk formats.

Every test gets its own empty ``COURSE_CACHE_DIR`` (autouse fixture in ``conftest.py``).
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest
import torch
import torchvision.datasets
from fixtures_data import (CELEBA_ATTRS, CELEBA_PARTITION, CIFAR_CLASSES, CIFAR_PER_BATCH, CIFAR_TEST,
                           celeba_name, celeba_value, cifar_image, cifar_label, colour, write_celeba,
                           truncate, truncated_message, write_cifar10)

from course_lib import data
from course_lib.core.config import DataCorruptedError, DataNotFoundError
from course_lib.data import torchvision_sets
from course_lib.data.torchvision_sets import load_celeba, load_cifar10

N_TRAIN = 5 * CIFAR_PER_BATCH
CIFAR_FILES = "data_batch_1, data_batch_2, data_batch_3, data_batch_4, data_batch_5, test_batch, batches.meta"


@pytest.fixture
def root(tmp_path, monkeypatch) -> Path:
    folder = tmp_path / "data"
    monkeypatch.setenv("COURSE_DATA_DIR", str(folder))
    return folder


def _no_decoding(*args, **kwargs):
    raise AssertionError("decoded again instead of reading the cache")


# ----------------------------------------------------------------------------------------------
# CIFAR-10
# ----------------------------------------------------------------------------------------------

@pytest.fixture
def cifar_root(root) -> Path:
    write_cifar10(root)
    return root


def test_cifar10_official_split_classes_and_pixels(cifar_root):
    train, test = load_cifar10(split="train"), load_cifar10(split="test")
    assert (len(train), len(test)) == (N_TRAIN, CIFAR_TEST)
    assert train.classes == CIFAR_CLASSES
    assert train.images.shape == (N_TRAIN, 3, 32, 32) and train.images.dtype == torch.float32
    assert train.targets.tolist() == [cifar_label(k) for k in range(N_TRAIN)]
    assert test.targets.tolist() == [cifar_label(k) for k in range(N_TRAIN, N_TRAIN + CIFAR_TEST)]
    assert list(train.example_ids[:2]) == ["train-00000", "train-00001"] and test.example_ids[-1] == "test-00003"
    assert list(train.attributes.columns) == ["official_split"] and set(test.attributes.official_split) == {"test"}
    for k in (0, 7, N_TRAIN - 1):  # row-major 1024 R, 1024 G, 1024 B becomes (3, 32, 32)
        expected = torch.from_numpy(cifar_image(k).reshape(3, 32, 32)).float() / 255
        assert torch.equal(train.images[k], expected)
        assert train.images[k, :, 5, 9].mul(255).round().tolist() == list(colour(k))


def test_cifar10_all_is_train_then_test(cifar_root):
    every = data.load("cifar10", split="all")
    assert every.split == "all" and len(every) == N_TRAIN + CIFAR_TEST
    assert list(every.example_ids[N_TRAIN - 1: N_TRAIN + 1]) == [f"train-{N_TRAIN - 1:05d}", "test-00000"]
    assert every.example_ids.is_unique


def test_cifar10_is_cached(cifar_root, monkeypatch):
    first = load_cifar10()
    monkeypatch.setattr(torchvision_sets, "_decode_cifar10", _no_decoding)
    assert torch.equal(load_cifar10().images, first.images)


def test_cifar10_missing_names_setting_files_and_download(root):
    with pytest.raises(DataNotFoundError) as info:
        load_cifar10()
    assert str(info.value) == (
        f"CIFAR-10 not found in {root}: expected the folder cifar-10-batches-py/ with {CIFAR_FILES} "
        f"(missing: {CIFAR_FILES}). Set COURSE_DATA_DIR (currently '{root}') to the folder that holds them, "
        f"or pass root=. {torchvision_sets.CIFAR10_HOW_TO_GET}")
    assert "download=True" in str(info.value) and "https://www.cs.toronto.edu/~kriz/cifar.html" in str(info.value)


def test_cifar10_missing_one_batch_is_listed(cifar_root):
    (cifar_root / "cifar-10-batches-py" / "test_batch").unlink()
    with pytest.raises(DataNotFoundError, match=re.escape("(missing: test_batch)")):
        load_cifar10(split="train")


def test_cifar10_download_failure_is_reported(root, monkeypatch):
    def offline(*args, **kwargs):
        raise RuntimeError("network unreachable")

    monkeypatch.setattr(torchvision.datasets, "CIFAR10", offline)
    with pytest.raises(DataNotFoundError, match=re.escape(
            "`COURSE_DATA_DIR`. The download failed: RuntimeError: network unreachable.")):
        load_cifar10(download=True)


def test_cifar10_download_goes_through_torchvision(root, monkeypatch):
    calls = []

    def fake(path, train, download):
        calls.append((path, train, download))
        write_cifar10(Path(path))

    monkeypatch.setattr(torchvision.datasets, "CIFAR10", fake)
    assert len(load_cifar10(split="test", download=True)) == CIFAR_TEST
    assert calls == [(str(root), True, True)]
    assert len(load_cifar10(split="train", download=True)) == N_TRAIN and len(calls) == 1  # nothing missing now


@pytest.mark.parametrize("keep", [0.3, 0.99])
def test_cifar10_truncated_batch_is_named(cifar_root, keep):
    path = cifar_root / "cifar-10-batches-py" / "data_batch_3"
    truncate(path, keep)
    with pytest.raises(DataCorruptedError,
                       match=truncated_message(f"CIFAR-10 file {path}", "delete it and download the dataset again")):
        load_cifar10()


def test_cifar10_labels_out_of_range_are_named(cifar_root):
    import pickle
    path = cifar_root / "cifar-10-batches-py" / "test_batch"
    batch = pickle.loads(path.read_bytes(), encoding="bytes")
    batch[b"labels"][0] = 10
    path.write_bytes(pickle.dumps(batch, protocol=2))
    with pytest.raises(DataCorruptedError) as info:
        load_cifar10(split="test")
    assert str(info.value) == f"CIFAR-10 file {path}: 'labels' must hold 4 class indices in [0, 10), got 4 in [2, 10]"


def test_cifar10_bad_data_shape_is_named(cifar_root):
    import pickle
    path = cifar_root / "cifar-10-batches-py" / "test_batch"
    batch = pickle.loads(path.read_bytes(), encoding="bytes")
    batch[b"data"] = batch[b"data"][:, :100]
    path.write_bytes(pickle.dumps(batch, protocol=2))
    with pytest.raises(DataCorruptedError) as info:
        load_cifar10(split="test")
    assert str(info.value) == f"CIFAR-10 file {path}: 'data' must be uint8 of shape (n, 3072), got uint8 (4, 100)"


# ----------------------------------------------------------------------------------------------
# CelebA
# ----------------------------------------------------------------------------------------------

@pytest.fixture
def celeba_root(root) -> Path:
    write_celeba(root)
    return root


def _indices(partition: int) -> list[int]:
    return [i for i, p in enumerate(CELEBA_PARTITION) if p == partition]


def test_celeba_official_partition(celeba_root):
    train, test, every = (load_celeba(split=s, image_size=16) for s in ("train", "test", "all"))
    assert list(train.example_ids) == [celeba_name(i) for i in _indices(0)]
    assert list(test.example_ids) == [celeba_name(i) for i in _indices(2)]
    assert list(every.example_ids) == [celeba_name(i) for i in _indices(0) + _indices(1) + _indices(2)]
    assert every.attributes.official_split.tolist() == ["train"] * 5 + ["valid"] + ["test"] * 2
    assert every.split == "all" and train.classes == ("not blond", "blond")


def test_celeba_attributes_and_target(celeba_root):
    ds = load_celeba(split="all", image_size=8)
    a = ds.attributes
    assert list(a.columns) == ["official_split", "blond", *[name.lower() for name in CELEBA_ATTRS]]
    assert a.index.name == "example_id"
    assert all(a[c].dtype == bool for c in a.columns[1:])
    order = [int(name[:6]) - 1 for name in ds.example_ids]
    for column, attribute in (("blond", "Blond_Hair"), ("male", "Male"), ("young", "Young"),
                              ("wearing_hat", "Wearing_Hat"), ("5_o_clock_shadow", "5_o_Clock_Shadow")):
        assert a[column].tolist() == [celeba_value(i, attribute) == 1 for i in order], column
    assert ds.targets.tolist() == a.blond.astype(int).tolist()


def test_celeba_center_crop_and_resize(celeba_root):
    ds = load_celeba(split="all", image_size=32)
    assert ds.images.shape == (8, 3, 32, 32)
    order = [int(name[:6]) - 1 for name in ds.example_ids]
    for image, i in zip(ds.images, order):
        # the blue bands (top and bottom 20 rows of 218) are cropped away: the square is flat
        # (JPEG blocks straddling the band's edge may tint the outermost row)
        expected = torch.tensor(colour(i), dtype=torch.float32).view(3, 1, 1) / 255
        assert (image[:, 1:-1] - expected).abs().max() < 6 / 255, celeba_name(i)
        assert (image.mean(dim=(1, 2)) - expected.flatten()).abs().max() < 4 / 255, celeba_name(i)


def test_celeba_windows_line_endings(root):
    write_celeba(root, newline="\r\n")
    assert load_celeba(split="test", image_size=8).attributes.blond.tolist() == [
        celeba_value(i, "Blond_Hair") == 1 for i in _indices(2)]


def test_celeba_is_cached_per_image_size(celeba_root, monkeypatch):
    load_celeba(image_size=8)
    monkeypatch.setattr(torchvision_sets, "decode_jpegs", _no_decoding)
    assert len(load_celeba(image_size=8)) == 5
    with pytest.raises(AssertionError, match="decoded again"):
        load_celeba(image_size=12)


def test_celeba_missing_names_setting_files_and_download(root):
    with pytest.raises(DataNotFoundError) as info:
        load_celeba()
    assert str(info.value) == (
        f"CelebA not found in {root}: expected celeba/img_align_celeba/ (the aligned and cropped JPEGs), "
        "celeba/list_attr_celeba.txt and celeba/list_eval_partition.txt (missing: celeba/list_attr_celeba.txt, "
        "celeba/list_eval_partition.txt, celeba/img_align_celeba/). Set COURSE_DATA_DIR "
        f"(currently '{root}') to the folder that holds them, or pass root=. {torchvision_sets.CELEBA_HOW_TO_GET}")
    assert "gdown" in str(info.value) and "https://mmlab.ie.cuhk.edu.hk/projects/CelebA.html" in str(info.value)


def test_celeba_download_goes_through_torchvision(root, monkeypatch):
    calls = []

    def fake(path, split, target_type, download):
        calls.append((path, split, target_type, download))
        write_celeba(Path(path))

    monkeypatch.setattr(torchvision.datasets, "CelebA", fake)
    assert len(load_celeba(split="test", image_size=8, download=True)) == 2
    assert calls == [(str(root), "all", "attr", True)]


def test_celeba_truncated_attribute_file_is_named(celeba_root):
    path = celeba_root / "celeba" / "list_attr_celeba.txt"
    lines = path.read_text().splitlines(keepends=True)
    path.write_text("".join(lines[:-2]))
    with pytest.raises(DataCorruptedError) as info:
        load_celeba()
    assert str(info.value) == (f"CelebA file {path} is truncated or damaged: its first line announces 8 rows, "
                               "it holds 6; delete it and download it again")


def test_celeba_cut_in_a_row_is_named(celeba_root):
    path = celeba_root / "celeba" / "list_attr_celeba.txt"
    text = path.read_text()
    path.write_text(text[: len(text) - 30])
    with pytest.raises(DataCorruptedError) as info:
        load_celeba()
    assert str(info.value) == (f"CelebA file {path} is damaged: every row must hold a file name and 40 values "
                               "-1 or 1; delete it and download it again")


def test_celeba_missing_image_is_named(celeba_root):
    (celeba_root / "celeba" / "img_align_celeba" / "000002.jpg").unlink()
    with pytest.raises(DataCorruptedError) as info:
        load_celeba()
    assert str(info.value) == (f"CelebA: {celeba_root / 'celeba' / 'img_align_celeba'} lacks 1 of the 5 images "
                               "listed in list_eval_partition.txt (e.g. 000002.jpg); unzip img_align_celeba.zip there again")


def test_celeba_unreadable_image_is_named(celeba_root):
    path = celeba_root / "celeba" / "img_align_celeba" / "000007.jpg"
    path.write_bytes(path.read_bytes()[:300])
    expected = (re.escape(f"CelebA {celeba_root / 'celeba'}: image 000007.jpg cannot be decoded (") + r".+"
                + re.escape("); the file is damaged: replace it or download the dataset again"))
    with pytest.raises(DataCorruptedError, match=f"^{expected}$"):
        load_celeba(split="test")


def test_celeba_bad_partition_is_named(celeba_root):
    path = celeba_root / "celeba" / "list_eval_partition.txt"
    path.write_text(path.read_text().replace("000003.jpg 0", "000003.jpg 7"))
    with pytest.raises(DataCorruptedError, match=re.escape(f"CelebA file {path} is damaged: every row must be")):
        load_celeba()


@pytest.mark.parametrize("bad, error, message", [
    (4, ValueError, "image_size must be an integer in [8, 178], got 4"),
    (179, ValueError, "image_size must be an integer in [8, 178], got 179"),
    (64.0, TypeError, "image_size must be an integer, got 64.0"),
])
def test_celeba_bad_image_size_names_the_argument(celeba_root, bad, error, message):
    with pytest.raises(error, match=f"^{re.escape(message)}$"):
        load_celeba(image_size=bad)


def test_celeba_bad_split_names_the_argument(celeba_root):
    with pytest.raises(ValueError, match=re.escape("split must be one of ['train', 'test', 'all'], got 'valid'")):
        load_celeba(split="valid")


def test_registry_loads_celeba_with_options(celeba_root):
    ds = data.load("celeba", split="test", image_size=8)
    assert ds.name == "celeba" and ds.images.shape == (2, 3, 8, 8)
    assert np.array_equal(ds.targets.numpy(), [celeba_value(i, "Blond_Hair") == 1 for i in _indices(2)])
