"""Datasets of the course, all in one shape (:class:`ImageDataset`), behind :func:`load`.

========================  =====================================================================
name                      what
========================  =====================================================================
``"fashion-mnist"``       Fashion-MNIST, the official idx files (10 classes, 28x28 grey)
``"synthetic-celeba"``    procedural faces whose (Blond, Male, Young) mix mirrors CelebA's
``"utkface"``             UTKFace aligned and cropped faces with age, gender and race
``"cifar10"``             CIFAR-10, the official python batches (for users who can download)
``"celeba"``              CelebA, target Blond_Hair (for users who can download)
========================  =====================================================================

The loaders read from ``$COURSE_DATA_DIR`` (:func:`course_lib.core.config.data_dir`) and keep decoded
copies in ``$COURSE_CACHE_DIR``.
"""

from __future__ import annotations

import importlib

from ..core.validation import check_integer, check_option
from .dataset import SPLITS, ImageDataset, check_split, concat

_LOADERS = {
    "fashion-mnist": "fashion_mnist:load_fashion_mnist",
    "synthetic-celeba": "synthetic:load_synthetic_celeba",
    "utkface": "utkface:load_utkface",
    "cifar10": "torchvision_sets:load_cifar10",
    "celeba": "torchvision_sets:load_celeba",
}

DATASETS = tuple(_LOADERS)
"""Names :func:`load` accepts, in the order of the table above."""

__all__ = ["DATASETS", "SPLITS", "ImageDataset", "concat", "load"]


def load(name: str, *, split: str = "train", seed: int = 0, **options) -> ImageDataset:
    """Load dataset ``name`` as an :class:`ImageDataset`.

    Parameters
    ----------
    name : str
        One of :data:`DATASETS`.
    split : {"train", "test", "all"}
        Which part. Datasets with an official split use it; the others draw a fixed split from
        ``seed``.
    seed : int
        Seed of the train/test split (and of the rendering, for synthetic data).
    **options
        Passed to the dataset's loader (see its docstring).

    Raises
    ------
    ValueError
        For an unknown ``name`` or ``split``.
    course_lib.core.config.DataNotFoundError
        When the files are not under ``$COURSE_DATA_DIR``; the message says where to get them.
    """
    check_option(name, "name", DATASETS)
    check_split(split)
    check_integer(seed, "seed", low=0)
    module, func = _LOADERS[name].split(":")
    loader = getattr(importlib.import_module(f"{__name__}.{module}"), func)
    return loader(split=split, seed=seed, **options)
