"""Which datasets are on this machine, and what to tell a reader whose machine lacks one.

Fashion-MNIST downloads itself and the synthetic faces are generated, but UTKFace (whose
licence lets the course point at it, not ship it), CIFAR-10 and CelebA must be put in the data
folder by the reader. The book runs without them: the sections that need a missing dataset are
replaced by a note (:mod:`course_lib.book.optional_data`) that quotes :func:`missing_data`.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from ..core.config import DATA_DIR_ENV, DataNotFoundError
from ..core.validation import check_option
from . import DATASETS, fashion_mnist, torchvision_sets, utkface
from .images import resolve_root

_LOCATORS: dict[str, Callable[[Path], object]] = {
    "fashion-mnist": lambda root: fashion_mnist.locate(root, download=False),
    "utkface": utkface.locate,
    "cifar10": lambda root: torchvision_sets.locate_cifar10(root, download=False),
    "celeba": lambda root: torchvision_sets.locate_celeba(root, download=False),
}
"""How to find each dataset that is read from disk (``"synthetic-celeba"`` is generated)."""


HOW_TO_GET: dict[str, str] = {"fashion-mnist": fashion_mnist.HOW_TO_GET, "utkface": utkface.HOW_TO_GET,
                              "cifar10": torchvision_sets.CIFAR10_HOW_TO_GET,
                              "celeba": torchvision_sets.CELEBA_HOW_TO_GET}
"""Where to get each dataset that is read from disk and where it goes, without local paths.

The loaders' own texts, which their errors end with; the notes of published pages quote them."""


def missing_data(name: str, *, root: str | Path | None = None) -> str | None:
    """Why dataset ``name`` cannot be loaded from the data folder, or ``None`` when it can.

    Nothing is downloaded or decoded: only the expected files are looked for.

    Parameters
    ----------
    name : str
        One of :data:`~course_lib.data.DATASETS`.
    root : path, optional
        The data folder; default ``$COURSE_DATA_DIR``.

    Returns
    -------
    str or None
        The loader's own message when files are missing (what it expected, where it looked,
        the setting that points there, where to get the data and under which licence).
    """
    check_option(name, "name", DATASETS)
    if name not in _LOCATORS:
        return None
    try:
        _LOCATORS[name](resolve_root(root))
    except DataNotFoundError as err:
        return str(err)
    return None


def available(name: str, *, root: str | Path | None = None) -> bool:
    """Whether dataset ``name`` is in the data folder (see :func:`missing_data`)."""
    return missing_data(name, root=root) is None
