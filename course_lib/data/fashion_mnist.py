"""Fashion-MNIST (Xiao, Rasul and Vollgraf, 2017) from its official idx files.

Layout read, under ``$COURSE_DATA_DIR`` (torchvision's ``FashionMNIST`` raw folder)::

    FashionMNIST/raw/train-images-idx3-ubyte[.gz]   FashionMNIST/raw/train-labels-idx1-ubyte[.gz]
    FashionMNIST/raw/t10k-images-idx3-ubyte[.gz]    FashionMNIST/raw/t10k-labels-idx1-ubyte[.gz]

Gzipped or not. When the files are missing and ``download=True``, torchvision fetches them.
The official split is used (60,000 train, 10,000 test); ``seed`` plays no part.
"""

from __future__ import annotations

import gzip
import zlib
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from ..core import cache
from ..core.config import DATA_DIR_ENV, DataCorruptedError
from .dataset import ImageDataset, concat, from_uint8
from .images import not_found_error, resolve_root

CLASSES = ("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
           "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot")
_FILES = {"train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
          "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")}
_IDX_IMAGES, _IDX_LABELS = 2051, 2049
HOMEPAGE = "https://github.com/zalandoresearch/fashion-mnist"
HOW_TO_GET = (f"Fashion-MNIST downloads itself on a machine with internet access (load it with download=True, "
              f"or run `make data`); its files go in `FashionMNIST/raw/` under `{DATA_DIR_ENV}` ({HOMEPAGE}).")
"""Where to get the data and where they go, without local paths (error messages and book notes quote it)."""


def read_idx(path: Path) -> np.ndarray:
    """Read an idx file (gzipped or not) as a ``uint8`` array: ``(N, 28, 28)`` images or ``(N,)`` labels.

    Raises
    ------
    DataCorruptedError
        If the file is truncated, not gzip when named ``.gz``, or its header does not match its size.
    """
    try:
        raw = gzip.open(path).read() if path.suffix == ".gz" else path.read_bytes()
    except (EOFError, OSError, zlib.error) as err:
        raise DataCorruptedError(f"Fashion-MNIST file {path} is truncated or damaged ({err}); "
                                 "delete it and download it again") from None
    if len(raw) < 8:
        raise DataCorruptedError(f"Fashion-MNIST file {path} is truncated: {len(raw)} bytes")
    magic, n = int.from_bytes(raw[0:4], "big"), int.from_bytes(raw[4:8], "big")
    shape, offset = ((n, 28, 28), 16) if magic == _IDX_IMAGES else ((n,), 8)
    if magic not in (_IDX_IMAGES, _IDX_LABELS) or len(raw) != offset + int(np.prod(shape)):
        raise DataCorruptedError(f"Fashion-MNIST file {path} is truncated or damaged: header announces "
                                 f"{n} items but the file holds {len(raw)} bytes")
    return np.frombuffer(raw, dtype=np.uint8, offset=offset).reshape(shape)


def _find(raw_dir: Path, stem: str) -> Path | None:
    for candidate in (raw_dir / f"{stem}.gz", raw_dir / stem):
        if candidate.is_file():
            return candidate
    return None


def locate(root: Path, *, download: bool) -> dict[str, tuple[Path, Path]]:
    """The ``(images, labels)`` files of each split under ``root``, fetched first when ``download`` is set.

    Raises
    ------
    course_lib.core.config.DataNotFoundError
        When a file is missing (and could not be downloaded); the message says where to get it.
    """
    raw_dir = root / "FashionMNIST" / "raw"
    stems = [stem for pair in _FILES.values() for stem in pair]
    if download and any(_find(raw_dir, s) is None for s in stems):
        try:
            from torchvision.datasets import FashionMNIST
            FashionMNIST(str(root), train=True, download=True)
            FashionMNIST(str(root), train=False, download=True)
        except Exception:  # offline, or the mirror is down: report below what is missing
            pass
    missing = [s for s in stems if _find(raw_dir, s) is None]
    if missing:
        raise not_found_error("Fashion-MNIST", root, f"FashionMNIST/raw/ with {', '.join(f'{m}.gz' for m in missing)}",
                              HOW_TO_GET)
    return {split: (_find(raw_dir, img), _find(raw_dir, lab)) for split, (img, lab) in _FILES.items()}


def _decode(paths: tuple[Path, Path], split: str) -> dict:
    images, labels = read_idx(paths[0]), read_idx(paths[1])
    if len(images) != len(labels):
        raise DataCorruptedError(f"Fashion-MNIST {split}: {len(images)} images but {len(labels)} labels")
    ids = pd.Index([f"{split}-{i:05d}" for i in range(len(labels))], name="example_id")
    return {"images": torch.from_numpy(images.copy()).unsqueeze(1),
            "targets": torch.from_numpy(labels.astype(np.int64)),
            "attributes": pd.DataFrame({"official_split": split}, index=ids)}


def load_fashion_mnist(*, split: str = "train", seed: int = 0, root: str | Path | None = None,
                       download: bool = True) -> ImageDataset:
    """Fashion-MNIST as an :class:`~course_lib.data.ImageDataset` of shape ``(N, 1, 28, 28)``.

    Parameters
    ----------
    split : {"train", "test", "all"}
        The official split (``"all"``: train then test).
    seed : int
        Unused (the split is official); accepted for the common signature.
    root : path, optional
        Data folder; default ``$COURSE_DATA_DIR``.
    download : bool
        Fetch the files through torchvision when they are missing.
    """
    del seed  # the official split is fixed
    root = resolve_root(root)
    paths = locate(root, download=download)
    parts = []
    for part in (("train", "test") if split == "all" else (split,)):
        files = paths[part]
        config = {"dataset": "fashion-mnist", "split": part, "format": 1,
                  "files": [[p.name, p.stat().st_size] for p in files]}
        entry = cache.cached("data", config, lambda files=files, part=part: _decode(files, part))
        parts.append(from_uint8("fashion-mnist", part, entry["images"], entry["targets"],
                                entry["attributes"], CLASSES))
    return parts[0] if len(parts) == 1 else concat(parts)
