"""CIFAR-10 (Krizhevsky, 2009) and CelebA (Liu et al., 2015), in the layouts torchvision downloads.

Layouts read, under ``$COURSE_DATA_DIR`` (those of ``torchvision.datasets.CIFAR10`` and
``torchvision.datasets.CelebA``)::

    cifar-10-batches-py/data_batch_1 ... data_batch_5, test_batch, batches.meta
    celeba/img_align_celeba/000001.jpg ... 202599.jpg
    celeba/list_attr_celeba.txt
    celeba/list_eval_partition.txt

Neither dataset could be stored with the course; users with internet access fetch them with
``download=True`` (through torchvision) or by hand from the official pages.

Why the files are read here rather than through the torchvision classes: both classes refuse
to open a dataset whose files do not have the md5 sums of the official release (CIFAR-10
checks every batch; CelebA checks its five text files, including identity, bounding-box and
landmark lists the course does not use). That makes them unusable on the small fixtures the
tests write, and on a copy whose text files were re-saved (line endings, say). So torchvision
is used only to *download*; the official formats are read here, exactly as torchvision reads
them (CIFAR-10: pickled dicts with ``data``, ``labels`` and ``label_names``; CelebA:
whitespace-separated text files), and checked for consistency instead of checksums
(shapes, counts, label ranges), with :class:`~course_lib.core.config.DataCorruptedError` naming
the file that fails.

References
----------
A. Krizhevsky. *Learning Multiple Layers of Features from Tiny Images.* Technical report,
University of Toronto, 2009. https://www.cs.toronto.edu/~kriz/cifar.html

Z. Liu, P. Luo, X. Wang and X. Tang. *Deep Learning Face Attributes in the Wild.* ICCV 2015.
https://mmlab.ie.cuhk.edu.hk/projects/CelebA.html
"""

from __future__ import annotations

import os
import pickle
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from ..core import cache
from ..core.config import DATA_DIR_ENV, DataCorruptedError
from .dataset import ImageDataset, check_split, concat, from_uint8
from .images import check_image_size, decode_jpegs, not_found_error, resolve_root

# ----------------------------------------------------------------------------------------------
# Shared
# ----------------------------------------------------------------------------------------------


def _fetch(download: bool, missing: Callable[[], list[str]], fetch: Callable[[], None]) -> str:
    """Run ``fetch`` when ``download`` is set and files are ``missing()``; return why it failed, or ``""``."""
    if not (download and missing()):
        return ""
    try:
        fetch()
    except Exception as err:  # offline, a mirror down, a quota hit: reported with what is missing
        return f" The download failed: {type(err).__name__}: {err}."
    return ""


def _combine(parts: Sequence[ImageDataset], split: str) -> ImageDataset:
    return parts[0] if len(parts) == 1 else concat(parts, split=split)


def _sizes(folder: Path, names: Sequence[str]) -> list[list]:
    """``[[name, size in bytes], ...]``: what identifies raw files in a cache key."""
    return [[name, (folder / name).stat().st_size] for name in names]


# ----------------------------------------------------------------------------------------------
# CIFAR-10
# ----------------------------------------------------------------------------------------------

CIFAR10_HOMEPAGE = "https://www.cs.toronto.edu/~kriz/cifar.html"
CIFAR10_FOLDER = "cifar-10-batches-py"
CIFAR10_HOW_TO_GET = (f"Run `make data DATA_ARGS=--cifar10` or load it with download=True on a machine with internet "
                      f"access (torchvision fetches cifar-10-python.tar.gz and extracts it), or download the python "
                      f"version from {CIFAR10_HOMEPAGE} and extract `{CIFAR10_FOLDER}/` under `{DATA_DIR_ENV}`.")
"""Where to get CIFAR-10 and where it goes, without local paths (error messages and book notes quote it)."""
_CIFAR10_BATCHES = {"train": tuple(f"data_batch_{i}" for i in range(1, 6)), "test": ("test_batch",)}
_CIFAR10_META = "batches.meta"
_CIFAR10_FORMAT = 1


def _unpickle(path: Path) -> dict[str, object]:
    """A CIFAR python batch (a Python 2 pickle) as a dict with ``str`` keys.

    Read with ``encoding="bytes"`` as the CIFAR page suggests, so keys and names come back as
    ``bytes`` and are decoded here. Pickles can run code: read only files from the official
    archive.
    """
    try:
        with open(path, "rb") as fh:
            raw = pickle.load(fh, encoding="bytes")
    except Exception as err:  # unpickling a damaged file can raise almost anything
        raise DataCorruptedError(f"CIFAR-10 file {path} is truncated or damaged ({type(err).__name__}: {err}); "
                                 "delete it and download the dataset again") from None
    if not isinstance(raw, dict):
        raise DataCorruptedError(f"CIFAR-10 file {path} is not a CIFAR python batch (a {type(raw).__name__})")
    return {k.decode("latin1") if isinstance(k, bytes) else k: v for k, v in raw.items()}


def _cifar10_classes(path: Path) -> tuple[str, ...]:
    names = _unpickle(path).get("label_names")
    if not isinstance(names, list) or not names:
        raise DataCorruptedError(f"CIFAR-10 file {path} lacks the list label_names")
    return tuple(n.decode("latin1") if isinstance(n, bytes) else str(n) for n in names)


def _cifar10_batch(path: Path, n_classes: int) -> tuple[np.ndarray, np.ndarray]:
    """Images ``(n, 3, 32, 32)`` ``uint8`` and labels ``(n,)`` of one batch file, checked."""
    batch = _unpickle(path)
    data = batch.get("data")
    try:
        labels = np.asarray(batch.get("labels", []), dtype=np.int64).reshape(-1)
    except (TypeError, ValueError):
        raise DataCorruptedError(f"CIFAR-10 file {path}: 'labels' must be a list of class indices") from None
    if not isinstance(data, np.ndarray) or data.dtype != np.uint8 or data.ndim != 2 or data.shape[1] != 3 * 32 * 32:
        raise DataCorruptedError(f"CIFAR-10 file {path}: 'data' must be uint8 of shape (n, 3072), got "
                                 f"{getattr(data, 'dtype', type(data).__name__)} {getattr(data, 'shape', '')}")
    if labels.shape != (len(data),) or (len(labels) and not 0 <= labels.min() <= labels.max() < n_classes):
        span = f" in [{labels.min()}, {labels.max()}]" if len(labels) else ""
        raise DataCorruptedError(f"CIFAR-10 file {path}: 'labels' must hold {len(data)} class indices "
                                 f"in [0, {n_classes}), got {len(labels)}{span}")
    return data.reshape(-1, 3, 32, 32), labels


def locate_cifar10(root: Path, *, download: bool) -> Path:
    """The folder ``cifar-10-batches-py/`` under ``root``, fetched first when ``download`` is set.

    Raises
    ------
    course_lib.core.config.DataNotFoundError
        When a batch file is missing; the message says where to get them.
    """
    folder = root / CIFAR10_FOLDER
    wanted = [*_CIFAR10_BATCHES["train"], *_CIFAR10_BATCHES["test"], _CIFAR10_META]

    def missing() -> list[str]:
        return [name for name in wanted if not (folder / name).is_file()]

    def fetch() -> None:
        from torchvision.datasets import CIFAR10
        CIFAR10(str(root), train=True, download=True)

    failure = _fetch(download, missing, fetch)
    if missing():
        raise not_found_error(
            "CIFAR-10", root,
            f"the folder {CIFAR10_FOLDER}/ with {', '.join(wanted)} (missing: {', '.join(missing())})",
            CIFAR10_HOW_TO_GET + failure)
    return folder


def _decode_cifar10(folder: Path, part: str) -> dict:
    classes = _cifar10_classes(folder / _CIFAR10_META)
    batches = [_cifar10_batch(folder / name, len(classes)) for name in _CIFAR10_BATCHES[part]]
    images, labels = np.concatenate([b[0] for b in batches]), np.concatenate([b[1] for b in batches])
    ids = pd.Index([f"{part}-{i:05d}" for i in range(len(labels))], name="example_id")
    return {"images": torch.from_numpy(images.copy()), "targets": torch.from_numpy(labels),
            "attributes": pd.DataFrame({"official_split": [part] * len(labels)}, index=ids),
            "classes": classes}


def load_cifar10(*, split: str = "train", seed: int = 0, root: str | Path | None = None,
                 download: bool = False) -> ImageDataset:
    """CIFAR-10 as an :class:`~course_lib.data.ImageDataset` of shape ``(N, 3, 32, 32)``.

    Parameters
    ----------
    split : {"train", "test", "all"}
        The official split: 50,000 train (``data_batch_1`` to ``_5``), 10,000 test
        (``test_batch``); ``"all"`` is train then test.
    seed : int
        Unused (the split is official); accepted for the common signature.
    root : path, optional
        Data folder holding ``cifar-10-batches-py/``; default ``$COURSE_DATA_DIR``.
    download : bool
        Fetch the files through ``torchvision.datasets.CIFAR10(root, download=True)`` when
        some are missing.

    Returns
    -------
    ImageDataset
        ``classes`` from ``batches.meta`` (``"airplane"``, ``"automobile"``, ``"bird"``, ...).
        ``attributes`` is indexed by ``example_id`` = ``"<split>-<position>"`` (``"train-00000"``
        to ``"train-49999"``, ``"test-00000"`` to ``"test-09999"``, positions in the official
        order, so stable) and has one column, ``official_split``.

    Raises
    ------
    DataNotFoundError
        When files are missing; the message lists them and says how to get them.
    DataCorruptedError
        Naming a batch that is truncated, damaged or inconsistent (shape, labels).
    """
    check_split(split)
    del seed  # the official split is fixed
    folder = locate_cifar10(resolve_root(root), download=download)
    parts = []
    for part in (("train", "test") if split == "all" else (split,)):
        config = {"dataset": "cifar10", "split": part, "format": _CIFAR10_FORMAT,
                  "files": _sizes(folder, [*_CIFAR10_BATCHES[part], _CIFAR10_META])}
        entry = cache.cached("data", config, lambda part=part: _decode_cifar10(folder, part))
        parts.append(from_uint8("cifar10", part, entry["images"], entry["targets"],
                                entry["attributes"], entry["classes"]))
    return _combine(parts, split)


# ----------------------------------------------------------------------------------------------
# CelebA
# ----------------------------------------------------------------------------------------------

CELEBA_HOMEPAGE = "https://mmlab.ie.cuhk.edu.hk/projects/CelebA.html"
CELEBA_FOLDER = "celeba"
CELEBA_IMAGES = "img_align_celeba"
CELEBA_ATTR = "list_attr_celeba.txt"
CELEBA_PARTITION = "list_eval_partition.txt"
CELEBA_HOW_TO_GET = (f"Download them from {CELEBA_HOMEPAGE} (Align&Cropped Images: img_align_celeba.zip, unzipped; "
                     f"Anno: {CELEBA_ATTR}; Eval: {CELEBA_PARTITION}) into `{CELEBA_FOLDER}/` under `{DATA_DIR_ENV}`, "
                     "or load it with download=True on a machine with internet access (torchvision fetches the "
                     "files from Google Drive; it needs the gdown package, and Google Drive often refuses for a "
                     "while when its daily quota is spent). CelebA is for non-commercial research only.")
"""Where to get CelebA and where it goes, without local paths (error messages and book notes quote it)."""
CELEBA_CLASSES = ("not blond", "blond")
CELEBA_NATIVE_SIZE = 178  # aligned images are 178 wide, 218 high
_CELEBA_PARTITIONS = {"train": 0, "valid": 1, "test": 2}
_CELEBA_FORMAT = 1


def locate_celeba(root: Path, *, download: bool) -> Path:
    """The folder ``celeba/`` under ``root``, fetched first when ``download`` is set.

    Raises
    ------
    course_lib.core.config.DataNotFoundError
        When the images or the attribute and partition files are missing; the message says where
        to get them.
    """
    folder = root / CELEBA_FOLDER

    def missing() -> list[str]:
        return ([f"{CELEBA_FOLDER}/{name}" for name in (CELEBA_ATTR, CELEBA_PARTITION) if not (folder / name).is_file()]
                + ([] if (folder / CELEBA_IMAGES).is_dir() else [f"{CELEBA_FOLDER}/{CELEBA_IMAGES}/"]))

    def fetch() -> None:
        from torchvision.datasets import CelebA
        CelebA(str(root), split="all", target_type="attr", download=True)

    failure = _fetch(download, missing, fetch)
    if missing():
        raise not_found_error(
            "CelebA", root,
            f"{CELEBA_FOLDER}/{CELEBA_IMAGES}/ (the aligned and cropped JPEGs), {CELEBA_FOLDER}/{CELEBA_ATTR} "
            f"and {CELEBA_FOLDER}/{CELEBA_PARTITION} (missing: {', '.join(missing())})",
            CELEBA_HOW_TO_GET + failure)
    return folder


def _read_table(path: Path, names: Sequence[str], skip: int) -> pd.DataFrame:
    """A whitespace-separated CelebA list (file name, then integers), indexed by file name."""
    try:
        table = pd.read_csv(path, sep=r"\s+", header=None, skiprows=skip, names=["file", *names],
                            index_col="file", dtype={name: "float64" for name in names})
    except (ValueError, pd.errors.ParserError, UnicodeDecodeError, OSError) as err:
        raise DataCorruptedError(f"CelebA file {path} is damaged ({err}); delete it and download it again") from None
    if not table.index.is_unique:
        raise DataCorruptedError(f"CelebA file {path} lists some images twice; delete it and download it again")
    return table


def celeba_attributes(path: Path) -> pd.DataFrame:
    """``list_attr_celeba.txt`` as ``bool``: a count line, a header of 40 names, rows of +-1."""
    try:
        with open(path) as fh:
            declared, header = int(fh.readline()), fh.readline().split()
    except (ValueError, UnicodeDecodeError) as err:
        raise DataCorruptedError(f"CelebA file {path} must start with a count line and a header line ({err})") from None
    table = _read_table(path, header, skip=2)
    if len(table) != declared:
        raise DataCorruptedError(f"CelebA file {path} is truncated or damaged: its first line announces {declared} "
                                 f"rows, it holds {len(table)}; delete it and download it again")
    if table.isna().to_numpy().any() or not table.isin([-1, 1]).to_numpy().all():
        raise DataCorruptedError(f"CelebA file {path} is damaged: every row must hold a file name and "
                                 f"{len(header)} values -1 or 1; delete it and download it again")
    return (table == 1).rename(columns=str.lower)


def celeba_partition(path: Path) -> pd.Series:
    """``list_eval_partition.txt``: official partition (0 train, 1 valid, 2 test) per file name."""
    table = _read_table(path, ["partition"], skip=0)
    if table.isna().to_numpy().any() or not table["partition"].isin([0, 1, 2]).all():
        raise DataCorruptedError(f"CelebA file {path} is damaged: every row must be a file name and 0, 1 or 2")
    return table["partition"].astype(np.int64)


def celeba_files(folder: Path, names: Sequence[str]) -> list[Path]:
    """The image paths of ``names``, all of which must exist."""
    present = set(os.listdir(folder / CELEBA_IMAGES))
    absent = [name for name in names if name not in present]
    if absent:
        raise DataCorruptedError(f"CelebA: {folder / CELEBA_IMAGES} lacks {len(absent)} of the {len(names)} "
                                 f"images listed in {CELEBA_PARTITION} (e.g. {', '.join(absent[:3])}); "
                                 "unzip img_align_celeba.zip there again")
    return [folder / CELEBA_IMAGES / name for name in names]


def _decode_celeba(folder: Path, part: str, image_size: int) -> dict:
    partition = celeba_partition(folder / CELEBA_PARTITION)
    attributes = celeba_attributes(folder / CELEBA_ATTR)
    names = list(partition.index[partition.to_numpy() == _CELEBA_PARTITIONS[part]])
    unlabelled = [name for name in names if name not in attributes.index]
    if unlabelled:
        raise DataCorruptedError(f"CelebA: {len(unlabelled)} images of {CELEBA_PARTITION} have no row in "
                                 f"{CELEBA_ATTR} (e.g. {', '.join(unlabelled[:3])})")
    table = attributes.loc[names]
    table.insert(0, "blond", table["blond_hair"])
    table.insert(0, "official_split", part)
    table.index = pd.Index(names, name="example_id")
    images = decode_jpegs(celeba_files(folder, names), names, image_size, where=f"CelebA {folder}")
    return {"images": images, "targets": torch.from_numpy(table["blond"].to_numpy(np.int64)), "attributes": table}


def load_celeba(*, split: str = "train", seed: int = 0, image_size: int = 64,
                root: str | Path | None = None, download: bool = False) -> ImageDataset:
    """CelebA aligned faces, target ``Blond_Hair``, as an :class:`~course_lib.data.ImageDataset`.

    Parameters
    ----------
    split : {"train", "test", "all"}
        The official partition of ``list_eval_partition.txt``: ``"train"`` is partition 0
        (162,770 images), ``"test"`` partition 2 (19,962). The validation partition 1
        (19,867) is in neither; ``"all"`` is train, valid and test (202,599), and the column
        ``official_split`` tells them apart.
    seed : int
        Unused (the split is official); accepted for the common signature.
    image_size : int
        Side of the square images returned, from 8 to 178. The aligned images are 178 wide
        and 218 high: the centered 178x178 square (rows 20 to 197) is kept, then resized
        with antialiasing (see :func:`~course_lib.data.images.decode_jpegs`).
    root : path, optional
        Data folder holding ``celeba/``; default ``$COURSE_DATA_DIR``.
    download : bool
        Fetch the files through ``torchvision.datasets.CelebA(root, split="all",
        target_type="attr", download=True)`` when some are missing.

    Returns
    -------
    ImageDataset
        ``images`` of shape ``(N, 3, image_size, image_size)``; ``targets`` 1 for blond hair,
        0 otherwise; ``classes`` ``("not blond", "blond")``. ``attributes`` is indexed by
        ``example_id``, the image's file name (``"000001.jpg"``), and has the columns
        ``official_split`` (``"train"``, ``"valid"`` or ``"test"``), ``blond`` (bool, the
        target), then the 40 attributes of ``list_attr_celeba.txt`` lowercased, as bool
        (1 becomes True, -1 False): ``5_o_clock_shadow``, ..., ``blond_hair``, ..., ``male``,
        ..., ``young``.

    Notes
    -----
    The attributes were assigned by annotators; "Male" and "Young" are binary labels of
    perceived presentation, not self-descriptions. Decoded images are cached per official
    partition and ``image_size`` (about 3 GB for all 202,599 images at 64 pixels).

    Raises
    ------
    ValueError
        For a bad ``split`` or ``image_size``.
    DataNotFoundError
        When files are missing; the message lists them and says how to get them.
    DataCorruptedError
        Naming a text file that is truncated or damaged, missing images, or an image that
        cannot be decoded.
    """
    check_split(split)
    del seed  # the official split is fixed
    image_size = check_image_size(image_size, native=CELEBA_NATIVE_SIZE)
    folder = locate_celeba(resolve_root(root), download=download)
    parts = []
    for part in (tuple(_CELEBA_PARTITIONS) if split == "all" else (split,)):
        config = {"dataset": "celeba", "split": part, "format": _CELEBA_FORMAT, "image_size": image_size,
                  "files": _sizes(folder, [CELEBA_ATTR, CELEBA_PARTITION])}
        entry = cache.cached("data", config, lambda part=part: _decode_celeba(folder, part, image_size))
        parts.append(from_uint8("celeba", part, entry["images"], entry["targets"],
                                entry["attributes"], CELEBA_CLASSES))
    return _combine(parts, split)
