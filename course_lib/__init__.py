"""Library behind the course *What compressed neural networks forget, and who pays for it*.

Importing the package is cheap: submodules (``course_lib.data``, ``course_lib.pruning``, ...)
are imported on first use, so ``import course_lib`` never loads data or trains anything.
"""

from __future__ import annotations

import importlib
from typing import Any

__version__ = "0.1.0"

_SUBMODULES = (
    "cache",
    "config",
    "data",
    "models",
    "population",
    "profiles",
    "pruning",
    "quantization",
    "training",
)

__all__ = ["__version__", *_SUBMODULES]


def __getattr__(name: str) -> Any:
    if name in _SUBMODULES:
        return importlib.import_module(f"{__name__}.{name}")
    raise AttributeError(f"module 'course_lib' has no attribute {name!r}")
