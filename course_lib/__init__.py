"""Library behind the course *What compressed neural networks forget, and who pays for it*.

Importing the package is cheap: its subpackages are imported on first use, so
``import course_lib`` never loads torch, data or anything else. They are layered, each
importing only from those before it:

``core`` (settings, cache, profiles, argument checks) -> ``data`` -> ``training`` (models, the
training recipe and loop, metrics) -> ``compression`` (masks, pruning, quantization, storage)
-> ``populations`` -> ``analysis`` (class impact, exemplars, subgroups, changes, robustness,
VoG, mismatches) -> ``remedies`` (distillation, re-weighting, re-sampling, group DRO) -> ``book``
(what chapters call). ``make test`` checks the order with import-linter.
"""

from __future__ import annotations

import importlib
from typing import Any

__version__ = "0.1.0"

_SUBMODULES = ("core", "data", "training", "compression", "populations", "analysis", "remedies", "book")

__all__ = ["__version__", *_SUBMODULES]


def __getattr__(name: str) -> Any:
    if name in _SUBMODULES:
        return importlib.import_module(f"{__name__}.{name}")
    raise AttributeError(f"module 'course_lib' has no attribute {name!r}")
