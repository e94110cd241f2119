"""UTKFace "Aligned & Cropped Faces" (Zhang, Song and Qi, 2017), read from the official archive.

Layout read, under ``$COURSE_DATA_DIR`` (one of the two; the folder wins when both exist)::

    UTKFace/                 the extracted archive: one JPEG per face
    UTKFace.tar.gz           the official archive, read as is (no need to extract it)

Each face is a 200x200 RGB JPEG whose labels are in its file name,
``[age]_[gender]_[race]_[date&time].jpg.chip.jpg``: ``age`` an integer (1 to 116 in the
release), ``gender`` 0 male or 1 female, ``race`` 0 White, 1 Black, 2 Asian, 3 Indian,
4 Others. The release has 23,707 files; three lack the race field (for example
``39_1_20170116174525125.jpg.chip.jpg``) and are skipped with one warning that counts them,
which leaves 23,704 faces. Two names are slightly damaged after the race field (a stray space,
a missing dot) and are kept: only the leading ``age_gender_race_`` fields are parsed.

References
----------
Z. Zhang, Y. Song and H. Qi. *Age Progression/Regression by Conditional Adversarial
Autoencoder.* CVPR 2017. https://susanqq.github.io/UTKFace/
"""

from __future__ import annotations

import hashlib
import os
import re
import tarfile
import warnings
import zlib
from collections.abc import Sequence
from pathlib import Path, PurePosixPath

import numpy as np
import pandas as pd
import torch

from ..core.validation import check_real
from ..core import cache
from ..core.config import DATA_DIR_ENV, DataCorruptedError
from .dataset import ImageDataset, check_split, from_uint8, seeded_test_mask
from .images import check_image_size, decode_jpegs, not_found_error, resolve_root

NAME = "utkface"
HOMEPAGE = "https://susanqq.github.io/UTKFace/"
ARCHIVE = "UTKFace.tar.gz"
FOLDER = "UTKFace"
NATIVE_SIZE = 200
CLASSES = ("male", "female")
GENDERS = CLASSES
RACES = ("White", "Black", "Asian", "Indian", "Others")
AGE_GROUPS = ("0-19", "20-39", "40-59", "60+")
_AGE_EDGES = (-1, 19, 39, 59, np.inf)  # right-closed bins: 0-19, 20-39, 40-59, 60 and over
_LABELS = re.compile(r"^(?P<age>\d{1,3})_(?P<gender>[01])_(?P<race>[0-4])_")
_FORMAT = 1  # bump when the decoded entry changes
HOW_TO_GET = (f'Download "Aligned&Cropped Faces" (`{ARCHIVE}`) from the official UTKFace page {HOMEPAGE} '
              f"and put it, as it is, in the folder `{DATA_DIR_ENV}` points at. The images are for "
              "non-commercial research and education only; the course never redistributes them.")
"""Where to get the data and where they go, without local paths (error messages and book notes quote it)."""


class MalformedNameWarning(UserWarning):
    """Some UTKFace files were skipped because their names lack the label fields."""


# ----------------------------------------------------------------------------------------------
# UTKFace
# ----------------------------------------------------------------------------------------------

def parse_name(name: str) -> tuple[int, int, int] | None:
    """``(age, gender, race)`` from a UTKFace file name, or ``None`` when the fields are missing.

    Only the leading ``[age]_[gender]_[race]_`` fields are read, so damage after them (a stray
    space, a missing dot) does not matter.
    """
    match = _LABELS.match(name)
    return None if match is None else (int(match["age"]), int(match["gender"]), int(match["race"]))


def _is_image_name(name: str) -> bool:
    return name.lower().endswith(".jpg") and not name.startswith(".")


def locate(root: Path) -> Path:
    """The folder ``UTKFace/`` under ``root`` when it exists, else the archive ``UTKFace.tar.gz``.

    Raises
    ------
    course_lib.core.config.DataNotFoundError
        When neither is there; the message says where to get the archive and under which licence.
    """
    folder, archive = root / FOLDER, root / ARCHIVE
    if folder.is_dir():
        return folder
    if archive.is_file():
        return archive
    raise not_found_error(
        "UTKFace", root, f"the archive {ARCHIVE} or the folder {FOLDER}/ extracted from it", HOW_TO_GET)


def folder_files(folder: Path) -> dict[str, tuple[str, int]]:
    """``{file name: (path relative to the data folder, size)}`` of the images in ``folder``."""
    with os.scandir(folder) as entries:
        return {e.name: (f"{FOLDER}/{e.name}", e.stat().st_size)
                for e in entries if e.is_file() and _is_image_name(e.name)}


def _source_config(source: Path) -> dict:
    """What identifies the raw data in the cache key: the archive's size, or the folder's listing."""
    if source.is_file():
        return {"source": ARCHIVE, "bytes": source.stat().st_size}
    files = folder_files(source)
    listing = "\n".join(f"{name}\t{size}" for name, (_, size) in sorted(files.items()))
    return {"source": f"{FOLDER}/", "files": len(files),
            "listing_sha256": hashlib.sha256(listing.encode()).hexdigest()}


def read_archive(path: Path) -> dict[str, tuple[str, bytes]]:
    """``{file name: (member path, JPEG bytes)}`` of the images in the archive at ``path``."""
    members = []
    try:
        with tarfile.open(path, "r:gz") as tar:
            for member in tar:
                name = PurePosixPath(member.name).name
                if member.isfile() and _is_image_name(name):
                    members.append((name, member.name, tar.extractfile(member).read()))
            while tar.fileobj.read(1 << 20):  # read on past the end-of-archive blocks: checks gzip's CRC
                pass
    except (tarfile.TarError, EOFError, zlib.error, OSError) as err:
        raise DataCorruptedError(f"UTKFace archive {path} is truncated or damaged ({err}); delete it and "
                                 f"download {ARCHIVE} again from {HOMEPAGE}") from None
    found = {name: (member, data) for name, member, data in members}
    if len(found) != len(members):
        raise DataCorruptedError(f"UTKFace archive {path} holds some file names twice, in different folders")
    return found


def _attributes(names: Sequence[str], files: Sequence[str], labels: np.ndarray) -> pd.DataFrame:
    """The attribute table of the kept faces (``labels``: ``(N, 3)`` age, gender, race)."""
    ages = labels[:, 0].astype(np.int64)
    return pd.DataFrame(
        {"age": ages,
         "age_group": pd.cut(ages, bins=list(_AGE_EDGES), labels=list(AGE_GROUPS), ordered=True),
         "gender": pd.Categorical.from_codes(labels[:, 1], categories=list(GENDERS)),
         "race": pd.Categorical.from_codes(labels[:, 2], categories=list(RACES)),
         "file": list(files)},
        index=pd.Index(list(names), name="example_id"))


def _decode(source: Path, image_size: int) -> dict:
    """Read, parse, sort and decode every face of ``source`` (folder or archive)."""
    if source.is_file():
        entries = read_archive(source)
    else:
        entries = {name: (relative, source / name) for name, (relative, _) in folder_files(source).items()}
    if not entries:
        raise DataCorruptedError(f"UTKFace: {source} holds no JPEG images; download {ARCHIVE} again from {HOMEPAGE}")
    parsed = {name: parse_name(name) for name in entries}
    kept = sorted(name for name, labels in parsed.items() if labels is not None)
    images = decode_jpegs([entries[n][1] for n in kept], kept, image_size, where=f"UTKFace {source}")
    labels = np.array([parsed[n] for n in kept], dtype=np.int64).reshape(-1, 3)
    return {"images": images,
            "targets": torch.from_numpy(labels[:, 1].copy()),
            "attributes": _attributes(kept, [entries[n][0] for n in kept], labels),
            "skipped": sorted(name for name, labels in parsed.items() if labels is None),
            "files": len(entries)}


def _warn_skipped(skipped: Sequence[str], total: int) -> None:
    if skipped:
        shown = ", ".join(skipped[:5]) + (", ..." if len(skipped) > 5 else "")
        warnings.warn(f"UTKFace: skipped {len(skipped)} of {total} images whose file names lack the "
                      f"[age]_[gender]_[race]_ fields: {shown}", MalformedNameWarning, stacklevel=3)


def _check_test_fraction(test_fraction: float) -> float:
    return check_real(test_fraction, "test_fraction", low=0, high=1, closed="neither")


def load_utkface(*, split: str = "train", seed: int = 0, image_size: int = 32,
                 root: str | Path | None = None, test_fraction: float = 0.2) -> ImageDataset:
    """UTKFace faces for gender classification, as an :class:`~course_lib.data.ImageDataset`.

    The task is binary gender classification: ``targets`` are 0 for ``"male"`` and 1 for
    ``"female"``. The race and age columns are there to measure who pays for compression.

    Parameters
    ----------
    split : {"train", "test", "all"}
        UTKFace has no official split. The faces are sorted by file name (which makes the order
        the same on every machine) and :func:`~course_lib.data.dataset.seeded_test_mask` draws
        ``round(test_fraction * N)`` of them, from ``seed``, as the test split.
    seed : int
        Seed of the train/test split (unused for ``"all"``).
    image_size : int
        Side, in pixels, of the square images returned, from 8 to 200 (the native side).
        Resized from 200x200 with PIL's antialiased bilinear filter (see
        :func:`~course_lib.data.images.decode_jpegs`).
    root : path, optional
        Data folder; default ``$COURSE_DATA_DIR``. Holds ``UTKFace/`` (used when present) or
        ``UTKFace.tar.gz``.
    test_fraction : float
        Share of the faces in the test split, in ``(0, 1)``.

    Returns
    -------
    ImageDataset
        ``images`` of shape ``(N, 3, image_size, image_size)``; N is 23,704 for ``"all"``,
        23,704 - 4,741 = 18,963 for ``"train"`` and 4,741 for ``"test"`` at the default
        ``test_fraction``. ``attributes`` is indexed by ``example_id``, the file name, and has
        the columns

        ``age`` (int64)
            Age in years, as labelled.
        ``age_group`` (ordered categorical)
            ``"0-19"``, ``"20-39"``, ``"40-59"``, ``"60+"`` (bins closed on the right: 19 is
            in ``"0-19"``, 20 in ``"20-39"``).
        ``gender`` (categorical)
            ``"male"`` or ``"female"``; the class of ``targets``.
        ``race`` (categorical)
            ``"White"``, ``"Black"``, ``"Asian"``, ``"Indian"`` or ``"Others"`` (the release
            describes "Others" as, e.g., Hispanic, Latino, Middle Eastern).
        ``file`` (str)
            Path of the image inside the data folder or archive (``UTKFace/<example_id>``).

    Notes
    -----
    *Labels.* Gender is recorded as binary and race as five coarse groups; neither is how the
    people pictured described themselves. The dataset page says the labels were estimated
    automatically (by the DEX age and gender estimator) and then checked by a human annotator,
    so they carry the estimator's and annotator's errors and biases, and per-group results are
    about these *assigned* categories. "Others" lumps very different groups together.

    *Licence.* UTKFace is available for non-commercial research and education only; the
    copyright of the images stays with their owners. The course never redistributes the
    images: each user downloads the archive from the official page.

    *Caching.* Decoding happens once per ``image_size``: the decoded faces (all of them, before
    the split) are kept in ``$COURSE_CACHE_DIR`` under a key made of the archive's size (or the
    folder's listing), ``image_size`` and a format version. Skipped names are warned about on
    every load.

    Raises
    ------
    ValueError
        For a bad ``split``, ``image_size`` or ``test_fraction``.
    DataNotFoundError
        When neither ``UTKFace/`` nor ``UTKFace.tar.gz`` is in the data folder; the message
        says where to download it.
    DataCorruptedError
        When the archive is truncated or damaged, or an image cannot be decoded (named).

    Warns
    -----
    MalformedNameWarning
        Once per load, counting the files skipped because their names lack the label fields
        (3 in the official release).
    """
    check_split(split)
    image_size = check_image_size(image_size, native=NATIVE_SIZE)
    test_fraction = _check_test_fraction(test_fraction)
    source = locate(resolve_root(root))
    config = {"dataset": NAME, "format": _FORMAT, "image_size": image_size, **_source_config(source)}
    entry = cache.cached("data", config, lambda: _decode(source, image_size))
    _warn_skipped(entry["skipped"], entry["files"])
    images, targets, attributes = entry["images"], entry["targets"], entry["attributes"]
    if split != "all":
        mask = seeded_test_mask(len(targets), test_fraction=test_fraction, seed=seed)
        keep = np.flatnonzero(mask if split == "test" else ~mask)
        images, targets, attributes = images[keep], targets[keep], attributes.iloc[keep]
    return from_uint8(NAME, split, images, targets, attributes, CLASSES)
