"""Fetch what can be fetched and verify what is there: the library behind ``make data``.

One function per dataset says, as a :class:`Status`, what ``$COURSE_DATA_DIR`` holds:

=============  ================================================  ===============================
dataset        fetched                                           verified
=============  ================================================  ===============================
Fashion-MNIST  by torchvision (with its progress bar)            SHA-256 of the decompressed
                                                                 idx files, gzipped or not
CIFAR-10       by torchvision, only when asked (optional)        MD5 of the extracted batches
UTKFace        never: its licence asks each user to download it  the archive reads to its end;
                                                                 images and malformed names
                                                                 counted
CelebA         never: downloaded by hand (optional)              every image listed in the
                                                                 partition is there, with its
                                                                 attributes
=============  ================================================  ===============================

A dataset is ``"intact"`` when its files pass the check, ``"fetched"`` when they were just
downloaded and pass it, ``"missing"`` when files are absent (the message says where to get them
and where to put them) and ``"damaged"`` when files are there but fail the check (the message
names them). Only damage is an error: a missing dataset, or a download that failed because the
machine is offline, is reported and left to the user.
"""

from __future__ import annotations

import gzip
import hashlib
import zlib
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path

from ..core.config import DATA_DIR_ENV, DataCorruptedError
from ..core.validation import check_bool, check_option
from . import fashion_mnist, utkface
from .availability import HOW_TO_GET
from .images import resolve_root
from .torchvision_sets import (CELEBA_ATTR, CELEBA_FOLDER, CELEBA_IMAGES, CELEBA_PARTITION,
                               CIFAR10_FOLDER, celeba_attributes, celeba_files,
                               celeba_partition)

STATES = ("intact", "fetched", "missing", "damaged")
"""What a :class:`Status` can say of a dataset."""

FASHION_MNIST_SHA256 = {
    # SHA-256 of the *decompressed* idx files, the dataset itself: a re-gzipped copy (such as
    # Debian's) has other .gz checksums but the same contents. Computed from the genuine files.
    "train-images-idx3-ubyte": "c59f468a2f672dc815687fe0f83887768d799fd8a3f3276145d20f83aa44d888",
    "train-labels-idx1-ubyte": "bad3541b69d912435c50bb6ba87bec294ff4f6a2e1246121d8633921760443d9",
    "t10k-images-idx3-ubyte": "5b4141f0afbad91edebe8549f8fcffe087ea10ca49f1dbef5c9a5cd8815ce37b",
    "t10k-labels-idx1-ubyte": "0402a96d92fd2663957122ceb108a494c5af83dab82d92729df917d7dec38c34",
}

CIFAR10_MD5 = {
    # MD5 of the files extracted from the official cifar-10-python.tar.gz (the sums torchvision checks).
    "data_batch_1": "c99cafc152244af753f735de768cd75f",
    "data_batch_2": "d4bba439e000b95fd0a9bffe97cbabec",
    "data_batch_3": "54ebc095f3ab1f0389bbae665268c751",
    "data_batch_4": "634d18415352ddfa80567beed471001a",
    "data_batch_5": "482c414d41f54cd18b22e5b47cb7c3cb",
    "test_batch": "40351d587109b95175f43aff81a1287e",
    "batches.meta": "5ff9c542aee3614f3951f8cda6e48888",
}

UTKFACE_FILES = 23_707
"""Images in the official UTKFace archive (three of them with malformed names)."""


@dataclass(frozen=True)
class Status:
    """What the data folder holds of one dataset.

    Attributes
    ----------
    dataset : str
        Its name as people write it (``"Fashion-MNIST"``).
    state : {"intact", "fetched", "missing", "damaged"}
        See the module's docstring.
    message : str
        One line: what was found, or which files are missing, where to get them and where to
        put them, or which files are damaged and why.
    """

    dataset: str
    state: str
    message: str

    def __post_init__(self) -> None:
        check_option(self.state, "state", STATES)


def prepare(root: str | Path | None = None, *, cifar10: bool = False, download: bool = True) -> list[Status]:
    """Fetch and verify every dataset of the course, in the order of the README's table.

    Parameters
    ----------
    root : path, optional
        Data folder; default ``$COURSE_DATA_DIR``.
    cifar10 : bool
        Also fetch and verify CIFAR-10 (optional, 170 MB).
    download : bool
        Download what is missing and can be downloaded (Fashion-MNIST, CIFAR-10).

    Returns
    -------
    list of Status
        Fashion-MNIST, UTKFace, CIFAR-10 (when asked), CelebA.
    """
    cifar10, download = check_bool(cifar10, "cifar10"), check_bool(download, "download")
    root = resolve_root(root)
    return [fetch_fashion_mnist(root, download=download), check_utkface(root),
            *([fetch_cifar10(root, download=download)] if cifar10 else []), check_celeba(root)]


# ----------------------------------------------------------------------------------------------
# Shared
# ----------------------------------------------------------------------------------------------


def _digest(path: Path, algorithm: str, *, gunzip: bool = False) -> str:
    """Hex digest of the file at ``path``, or of its decompressed contents with ``gunzip``."""
    digest = hashlib.new(algorithm)
    with (gzip.open if gunzip else open)(path, "rb") as fh:
        while chunk := fh.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def _where(target: Path, root: Path) -> str:
    """``target`` (inside ``root``) and the setting under which the course looks there."""
    return f"{target}, where the course looks when {DATA_DIR_ENV}={root}"


def _one_line(err: BaseException) -> str:
    """``err`` as ``"Type: message"`` on one line."""
    return f"{type(err).__name__}: {' '.join(str(err).split())}"


def _fetch(check: Callable[[Path], Status], download_into: Callable[[Path], None], root: Path,
           download: bool) -> Status:
    """``check(root)``; when it finds files missing and ``download`` is set, ``download_into(root)`` and check again."""
    before = check(root)
    if before.state != "missing" or not download:
        return before
    try:
        download_into(root)
    except Exception as err:  # offline, a mirror down: say so beside what is missing
        return replace(before, message=f"{before.message.rstrip('.')}; the download failed ({_one_line(err)})")
    after = check(root)
    return replace(after, state="fetched", message=f"downloaded: {after.message}") if after.state == "intact" else after


# ----------------------------------------------------------------------------------------------
# Fashion-MNIST
# ----------------------------------------------------------------------------------------------


def _idx_problem(path: Path, stem: str) -> str | None:
    """Why the idx file at ``path`` (gzipped when named ``.gz``) is not the official ``stem``, or ``None``."""
    try:
        digest = _digest(path, "sha256", gunzip=path.suffix == ".gz")
    except (EOFError, OSError, zlib.error) as err:
        return f"{path} is truncated or damaged ({_one_line(err)})"
    if digest != FASHION_MNIST_SHA256[stem]:
        return f"{path} differs from the official {stem} (SHA-256 of the decompressed contents)"
    return None


def check_fashion_mnist(root: str | Path | None = None) -> Status:
    """Verify ``FashionMNIST/raw/`` against the official contents, without downloading.

    Every copy of the four idx files is checked, ``.gz`` or plain (torchvision keeps both).

    Parameters
    ----------
    root : path, optional
        Data folder; default ``$COURSE_DATA_DIR``.
    """
    root = resolve_root(root)
    raw = root / "FashionMNIST" / "raw"
    copies = {stem: [p for p in (raw / f"{stem}.gz", raw / stem) if p.is_file()] for stem in FASHION_MNIST_SHA256}
    problems = [problem for stem, paths in copies.items() for path in paths
                if (problem := _idx_problem(path, stem)) is not None]
    if problems:
        return Status("Fashion-MNIST", "damaged", f"{'; '.join(problems)}; delete the damaged files and run "
                                                  "make data again")
    missing = [f"{stem}.gz" for stem, paths in copies.items() if not paths]
    if missing:
        return Status("Fashion-MNIST", "missing", f"{raw} lacks {', '.join(missing)}: download them from "
                                                  f"{fashion_mnist.HOMEPAGE} into {_where(raw, root)}")
    n_files = sum(len(paths) for paths in copies.values())
    return Status("Fashion-MNIST", "intact", f"{n_files} files in {raw} hold the official contents "
                                             "(SHA-256 of the decompressed idx files)")


def _download_fashion_mnist(root: Path) -> None:
    from torchvision.datasets import FashionMNIST

    FashionMNIST(str(root), train=True, download=True)  # all four files, md5 of the .gz checked


def fetch_fashion_mnist(root: str | Path | None = None, *, download: bool = True) -> Status:
    """:func:`check_fashion_mnist`, after downloading the files through torchvision when some are missing.

    Parameters
    ----------
    root : path, optional
        Data folder; default ``$COURSE_DATA_DIR``.
    download : bool
        Download missing files (``torchvision.datasets.FashionMNIST(root, download=True)``).
        When the download fails (offline), the state stays ``"missing"`` and the message says why.
    """
    return _fetch(check_fashion_mnist, _download_fashion_mnist, resolve_root(root), check_bool(download, "download"))


# ----------------------------------------------------------------------------------------------
# CIFAR-10
# ----------------------------------------------------------------------------------------------


def check_cifar10(root: str | Path | None = None) -> Status:
    """Verify ``cifar-10-batches-py/`` against the MD5 sums of the official files, without downloading.

    Parameters
    ----------
    root : path, optional
        Data folder; default ``$COURSE_DATA_DIR``.
    """
    root = resolve_root(root)
    folder = root / CIFAR10_FOLDER
    present = {name: folder / name for name in CIFAR10_MD5 if (folder / name).is_file()}
    damaged = [str(path) for name, path in present.items() if _digest(path, "md5") != CIFAR10_MD5[name]]
    if damaged:
        return Status("CIFAR-10", "damaged", f"{', '.join(damaged)} differ from the official files (MD5); "
                                             f"delete {folder} and download the dataset again")
    missing = [name for name in CIFAR10_MD5 if name not in present]
    if missing:
        return Status("CIFAR-10", "missing", f"{folder} lacks {', '.join(missing)} (optional). "
                                             f"{HOW_TO_GET['cifar10']}")
    return Status("CIFAR-10", "intact", f"the {len(present)} files of {folder} hold the official contents (MD5)")


def _download_cifar10(root: Path) -> None:
    from torchvision.datasets import CIFAR10

    CIFAR10(str(root), train=True, download=True)  # the archive's md5 checked, then extracted


def fetch_cifar10(root: str | Path | None = None, *, download: bool = True) -> Status:
    """:func:`check_cifar10`, after downloading the dataset through torchvision when files are missing.

    Parameters
    ----------
    root : path, optional
        Data folder; default ``$COURSE_DATA_DIR``.
    download : bool
        Download the archive (``torchvision.datasets.CIFAR10(root, download=True)``, 170 MB).
        When the download fails (offline), the state stays ``"missing"`` and the message says why.
    """
    return _fetch(check_cifar10, _download_cifar10, resolve_root(root), check_bool(download, "download"))


# ----------------------------------------------------------------------------------------------
# UTKFace
# ----------------------------------------------------------------------------------------------


def _utkface_names(root: Path) -> tuple[Path, list[str]] | None:
    """The source the loader reads (the folder ``UTKFace/`` first) and its image names, or ``None``.

    Raises
    ------
    DataCorruptedError
        When the archive is truncated or damaged.
    """
    folder, archive = root / utkface.FOLDER, root / utkface.ARCHIVE
    if folder.is_dir():
        return folder, list(utkface.folder_files(folder))
    if archive.is_file():
        return archive, list(utkface.read_archive(archive))
    return None


def check_utkface(root: str | Path | None = None) -> Status:
    """Count the images of ``UTKFace/`` or ``UTKFace.tar.gz`` and their malformed names.

    The archive is read to its end, which checks gzip's CRC; images are not decoded.

    Parameters
    ----------
    root : path, optional
        Data folder; default ``$COURSE_DATA_DIR``.
    """
    root = resolve_root(root)
    try:
        found = _utkface_names(root)
    except DataCorruptedError as err:
        return Status("UTKFace", "damaged", str(err))
    if found is None:
        return Status("UTKFace", "missing", f"neither {utkface.ARCHIVE} nor {utkface.FOLDER}/ in {root}. "
                                            f"{HOW_TO_GET['utkface']}")
    source, names = found
    if not names:
        return Status("UTKFace", "damaged", f"{source} holds no JPEG images; download {utkface.ARCHIVE} again "
                                            f"from {utkface.HOMEPAGE}")
    skipped = sorted(name for name in names if utkface.parse_name(name) is None)
    message = f"{len(names):,} images in {source}, {len(names) - len(skipped):,} with labels in their names"
    if skipped:
        message += (f"; {len(skipped)} skipped, whose names lack the [age]_[gender]_[race]_ fields: "
                    f"{', '.join(skipped[:5])}{', ...' if len(skipped) > 5 else ''}")
    if len(names) != UTKFACE_FILES:
        message += f" (the official release has {UTKFACE_FILES:,} images)"
    return Status("UTKFace", "intact", message)


# ----------------------------------------------------------------------------------------------
# CelebA
# ----------------------------------------------------------------------------------------------


def check_celeba(root: str | Path | None = None) -> Status:
    """Check that every image listed in CelebA's partition is there, with its attributes.

    Parameters
    ----------
    root : path, optional
        Data folder; default ``$COURSE_DATA_DIR``.
    """
    root = resolve_root(root)
    folder = root / CELEBA_FOLDER
    lacking = ([] if (folder / CELEBA_IMAGES).is_dir() else [f"{CELEBA_IMAGES}/"]) + [
        name for name in (CELEBA_ATTR, CELEBA_PARTITION) if not (folder / name).is_file()]
    if lacking:
        return Status("CelebA", "missing", f"{folder} lacks {', '.join(lacking)} (optional). "
                                           f"{HOW_TO_GET['celeba']}")
    try:
        names = list(celeba_partition(folder / CELEBA_PARTITION).index)
        labelled = set(celeba_attributes(folder / CELEBA_ATTR).index)
        celeba_files(folder, names)
    except DataCorruptedError as err:
        return Status("CelebA", "damaged", str(err))
    unlabelled = [name for name in names if name not in labelled]
    if unlabelled:
        return Status("CelebA", "damaged", f"{len(unlabelled)} images of {folder / CELEBA_PARTITION} have no row "
                                           f"in {folder / CELEBA_ATTR} (e.g. {', '.join(unlabelled[:3])}); "
                                           f"download {CELEBA_ATTR} again")
    return Status("CelebA", "intact", f"{len(names):,} images in {folder / CELEBA_IMAGES}, each listed in "
                                      f"{CELEBA_PARTITION} and {CELEBA_ATTR}")
