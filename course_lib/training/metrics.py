"""Accuracy and per-class recall, of one model or of every member of a population.

The one place the course counts correct predictions: chapters, class-impact tests and PIE
tables all call these two functions.
"""

from __future__ import annotations

import numpy as np
import torch

from ..core.validation import check_integer, check_labels

ArrayLike = np.ndarray | torch.Tensor


def _preds_and_targets(preds: ArrayLike, targets: ArrayLike) -> tuple[np.ndarray, np.ndarray]:
    """``preds`` ``(N,)`` or ``(K, N)`` and ``targets`` ``(N,)``, checked."""
    preds = np.asarray(preds)
    preds = check_labels(preds, "preds", ndim=2 if preds.ndim == 2 else 1)
    return preds, check_labels(targets, "targets", ndim=1, n=preds.shape[-1])


def accuracy(preds: ArrayLike, targets: ArrayLike) -> float | np.ndarray:
    """Top-1 accuracy: the share of ``preds == targets``.

    Parameters
    ----------
    preds : array-like
        Shape ``(N,)`` (one model) or ``(K, N)`` (the ``K`` members of a population).
    targets : array-like
        Shape ``(N,)``. True labels.

    Returns
    -------
    float or numpy.ndarray
        A float for one model, shape ``(K,)`` for a population; NaN without examples.
    """
    preds, targets = _preds_and_targets(preds, targets)
    if not preds.shape[-1]:
        return float("nan") if preds.ndim == 1 else np.full(len(preds), np.nan)
    correct = (preds == targets).mean(axis=-1)
    return float(correct) if preds.ndim == 1 else correct


def recall_per_class(preds: ArrayLike, targets: ArrayLike, num_classes: int) -> np.ndarray:
    """Recall of every class: the share of its examples predicted as it.

    Parameters
    ----------
    preds : array-like
        Shape ``(N,)`` or ``(K, N)``, as for :func:`accuracy`.
    targets : array-like
        Shape ``(N,)``. True labels in ``[0, num_classes)``.
    num_classes : int
        Number of classes ``C``.

    Returns
    -------
    numpy.ndarray
        Shape ``(C,)`` for one model, ``(K, C)`` for a population; NaN for a class absent from
        ``targets``.
    """
    preds, targets = _preds_and_targets(preds, targets)
    num_classes = check_integer(num_classes, "num_classes", low=1)
    total = np.bincount(targets, minlength=num_classes)
    correct = np.stack([np.bincount(targets, weights=p == targets, minlength=num_classes)
                        for p in np.atleast_2d(preds)])
    with np.errstate(invalid="ignore", divide="ignore"):
        recall = np.where(total > 0, correct / np.maximum(total, 1), np.nan)
    return recall if preds.ndim == 2 else recall[0]
