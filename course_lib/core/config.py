"""Where the course reads its data and keeps its caches.

Two settings, both environment variables so that notebooks, tests and the command line agree:

``COURSE_DATA_DIR``
    Folder holding the datasets in their official layouts (``FashionMNIST/raw/``,
    ``UTKFace.tar.gz`` or ``UTKFace/``, ``cifar-10-batches-py/``, ``celeba/``).
    Default: ``~/.cache/course_lib/data``.
``COURSE_CACHE_DIR``
    Folder for decoded datasets and trained populations (safe to delete; everything in it is
    rebuilt on demand). Default: ``~/.cache/course_lib/cache``.
"""

from __future__ import annotations

import os
from pathlib import Path

DATA_DIR_ENV = "COURSE_DATA_DIR"
CACHE_DIR_ENV = "COURSE_CACHE_DIR"
_DEFAULT_ROOT = Path("~/.cache/course_lib")


class DataNotFoundError(FileNotFoundError):
    """A dataset is not on disk where the course's data-directory setting points."""


class DataCorruptedError(OSError):
    """A dataset file exists but is truncated or damaged."""


def data_dir() -> Path:
    """Folder the loaders read datasets from (``$COURSE_DATA_DIR``)."""
    return Path(os.environ.get(DATA_DIR_ENV, _DEFAULT_ROOT / "data")).expanduser().resolve()


def cache_dir() -> Path:
    """Folder for decoded datasets and trained populations (``$COURSE_CACHE_DIR``)."""
    return Path(os.environ.get(CACHE_DIR_ENV, _DEFAULT_ROOT / "cache")).expanduser().resolve()
