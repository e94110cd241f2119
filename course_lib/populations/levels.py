"""Compression levels: a sparsity, or a quantization scheme, and how the book names them."""

from __future__ import annotations

from typing import Any

from ..compression.quantization import SCHEMES
from ..core.validation import check_option, check_real

Level = float | str
"""A sparsity in ``[0, 1)`` (``0.0``: the dense baseline) or a quantization scheme of
:data:`~course_lib.compression.quantization.SCHEMES`."""


def check_level(level: Any, name: str = "level") -> Level:
    """``level``, checked to be a sparsity in ``[0, 1)`` or a quantization scheme.

    Raises
    ------
    TypeError
        If ``level`` is neither a string nor a real number (a ``bool`` is not).
    ValueError
        If it is a sparsity outside ``[0, 1)`` or an unknown scheme.
    """
    if isinstance(level, str):
        return check_option(level, name, SCHEMES)
    return check_real(level, name, low=0.0, high=1.0, closed="left")


def level_label(level: Level) -> str:
    """How tables and figures name a level: ``"dense"``, ``"pruned 90%"`` or the scheme itself.

    Examples
    --------
    >>> [level_label(level) for level in (0.0, 0.9, 0.995, "int8-tensor")]
    ['dense', 'pruned 90%', 'pruned 99.5%', 'int8-tensor']
    """
    level = check_level(level)
    if isinstance(level, str):
        return level
    return "dense" if level == 0 else f"pruned {100 * level:g}%"
