"""One way to check arguments, with one shape of error message.

Every public function of the library validates its arguments through these helpers, in the
spirit of :func:`sklearn.utils.check_scalar`, so that a bad value fails at once with a message
that names the argument, says what was expected and shows what was given::

    ValueError: epochs must be an integer >= 1, got 0
    TypeError: size must be an integer, got True (bool)

Conventions
-----------
* An *integer* is a Python or NumPy integer, never a ``bool`` (``True`` is an ``int`` to
  Python, but never a meaningful count) and never a float, even a whole one: ``5.0`` epochs is
  a ``TypeError``.
* A *real* is any integer or float (NumPy's included), again never a ``bool``; NaN fails every
  range check.
* A wrong type raises ``TypeError``; a value of the right type outside its range, an unknown
  option or an array of the wrong shape raises ``ValueError``.
"""

from __future__ import annotations

import numbers
from collections.abc import Collection, Mapping
from typing import Any

import numpy as np


def _got(value: Any) -> str:
    """``value`` as messages show it: its repr, with the type name for non-numbers and bools."""
    text = repr(value)
    if len(text) > 80:
        text = text[:77] + "..."
    if isinstance(value, bool) or not isinstance(value, (numbers.Number, str)):
        return f"{text} ({type(value).__name__})"
    return text


def _bounds(low: float | None, high: float | None, closed: str) -> str:
    left, right = closed in ("both", "left"), closed in ("both", "right")
    low, high = (None if b is None else f"{b:g}" for b in (low, high))
    if low is not None and high is not None:
        return f"in {'[' if left else '('}{low}, {high}{']' if right else ')'}"
    if low is not None:
        return f">= {low}" if left else f"> {low}"
    if high is not None:
        return f"<= {high}" if right else f"< {high}"
    return ""


def _in_range(value: float, low: float | None, high: float | None, closed: str) -> bool:
    left, right = closed in ("both", "left"), closed in ("both", "right")
    if low is not None and not (value >= low if left else value > low):
        return False
    if high is not None and not (value <= high if right else value < high):
        return False
    return value == value  # NaN fails


def check_integer(value: Any, name: str, *, low: int | None = None, high: int | None = None,
                  optional: bool = False) -> int | None:
    """``value`` as an ``int``, checked to be an integer in ``[low, high]``.

    Parameters
    ----------
    value : object
        The argument to check.
    name : str
        Its name, as the caller's signature spells it (shown in the message).
    low, high : int, optional
        Inclusive bounds.
    optional : bool
        Accept ``None`` (returned as is).

    Raises
    ------
    TypeError
        If ``value`` is not an integer (a ``bool`` or a float is not).
    ValueError
        If it lies outside ``[low, high]``.
    """
    if value is None and optional:
        return None
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{name} must be an integer{' or None' if optional else ''}, got {_got(value)}")
    if not _in_range(int(value), low, high, "both"):
        raise ValueError(f"{name} must be an integer {_bounds(low, high, 'both')}, got {value!r}")
    return int(value)


def check_real(value: Any, name: str, *, low: float | None = None, high: float | None = None,
               closed: str = "both", optional: bool = False) -> float | None:
    """``value`` as a ``float``, checked to be a real number in the given range.

    Parameters
    ----------
    value : object
        The argument to check.
    name : str
        Its name, shown in the message.
    low, high : float, optional
        Bounds of the range.
    closed : {"both", "left", "right", "neither"}
        Which bounds belong to the range.
    optional : bool
        Accept ``None`` (returned as is).

    Raises
    ------
    TypeError
        If ``value`` is not a real number (a ``bool`` is not).
    ValueError
        If it lies outside the range, or is NaN.
    """
    if value is None and optional:
        return None
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name} must be a real number{' or None' if optional else ''}, got {_got(value)}")
    if not _in_range(float(value), low, high, closed):
        raise ValueError(f"{name} must be a real number {_bounds(low, high, closed)}, got {value!r}")
    return float(value)


def check_bool(value: Any, name: str) -> bool:
    """``value``, checked to be a ``bool`` (or NumPy's); raises ``TypeError`` otherwise."""
    if not isinstance(value, (bool, np.bool_)):
        raise TypeError(f"{name} must be True or False, got {_got(value)}")
    return bool(value)


def check_option(value: Any, name: str, options: Collection[Any]) -> Any:
    """``value``, checked to be one of ``options``.

    Raises
    ------
    ValueError
        If ``value`` is not among ``options`` (the message lists them).
    """
    try:
        known = value in options
    except TypeError:  # an unhashable value asked of a set or dict
        known = False
    if not known:
        raise ValueError(f"{name} must be one of {list(options)}, got {_got(value)}")
    return value


def check_mapping(value: Any, name: str, *, of: str) -> Any:
    """``value``, checked to be a mapping (e.g. of compression levels to predictions).

    Raises
    ------
    TypeError
        If ``value`` is not a :class:`collections.abc.Mapping`; the message says it should map
        ``of``.
    """
    if not isinstance(value, Mapping):
        raise TypeError(f"{name} must be a mapping of {of}, got {_got(value)}")
    return value


def check_labels(value: Any, name: str, *, ndim: int = 2, n: int | None = None) -> np.ndarray:
    """Class labels as an int64 array: ``(K, N)`` predictions of ``K`` members, or ``(N,)``.

    Parameters
    ----------
    value : array-like
        Integer class labels ``>= 0`` (a tensor, an array or nested lists).
    name : str
        Its name, shown in the message.
    ndim : {1, 2}
        ``2`` for the predictions of a population, ``(K, N)`` with ``K >= 1``; ``1`` for the
        labels of one model or the true labels, ``(N,)``.
    n : int, optional
        The number of examples ``N`` the labels must cover.

    Raises
    ------
    ValueError
        If the shape is not the expected one, or a label is negative.
    TypeError
        If the labels are not integers.
    """
    array = np.asarray(value)
    shape = "(K, N) with K >= 1 members" if ndim == 2 else "(N,)"
    if n is not None:
        shape = shape.replace("N", f"N={n}", 1)
    if array.ndim != ndim or (ndim == 2 and array.shape[0] == 0) or (n is not None and array.shape[-1] != n):
        raise ValueError(f"{name} must have shape {shape}, got {array.shape}")
    if not np.issubdtype(array.dtype, np.integer):
        raise TypeError(f"{name} must hold integer class labels, got dtype {array.dtype}")
    if array.size and array.min() < 0:
        raise ValueError(f"{name} must hold class labels >= 0, got {array.min()}")
    return array.astype(np.int64, copy=False)


def check_mask(value: Any, name: str, *, n: int) -> np.ndarray:
    """A boolean array of shape ``(n,)``; ``ValueError`` otherwise."""
    array = np.asarray(value)
    if array.shape != (n,) or array.dtype != bool:
        raise ValueError(f"{name} must be a boolean array of shape ({n},), got {array.dtype} {array.shape}")
    return array


def check_instance(value: Any, name: str, cls: type) -> Any:
    """``value``, checked to be an instance of ``cls``; raises ``TypeError`` otherwise."""
    if not isinstance(value, cls):
        raise TypeError(f"{name} must be a {cls.__name__}, got {_got(value)}")
    return value


def check_device(value: Any, name: str = "device") -> Any:
    """``value`` as a :class:`torch.device`, checked to exist on this machine (a CUDA device needs a GPU)."""
    import torch

    try:
        device = torch.device(value)
    except (RuntimeError, TypeError):
        raise ValueError(f"{name} must be a device such as 'cpu' or 'cuda', got {_got(value)}") from None
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"{name} must be available on this machine, got {str(device)!r}")
    return device


def check_targets(value: Any, name: str = "targets", *, n: int) -> Any:
    """An int64 tensor of class labels ``(n,)``, one per image; returned as is."""
    import torch

    if not isinstance(value, torch.Tensor) or value.dtype != torch.int64 or value.shape != (n,):
        got = f"{value.dtype} {tuple(value.shape)}" if isinstance(value, torch.Tensor) else _got(value)
        raise ValueError(f"{name} must be an int64 tensor of shape ({n},), one label per image, got {got}")
    return value


def check_images(value: Any, name: str = "images") -> Any:
    """A float tensor of images ``(N, C, H, W)``; returned as is.

    Raises
    ------
    TypeError
        If ``value`` is not a ``torch.Tensor``.
    ValueError
        If it is not four-dimensional or not floating point.
    """
    import torch

    if not isinstance(value, torch.Tensor):
        raise TypeError(f"{name} must be a torch.Tensor of shape (N, C, H, W), got {_got(value)}")
    if value.ndim != 4 or not value.is_floating_point():
        raise ValueError(f"{name} must be a float tensor of shape (N, C, H, W), got {value.dtype} {tuple(value.shape)}")
    return value
