"""Prediction mismatches between a compressed model and the model it was made from.

Joseph et al. (2020) measure what compression changes one model at a time: the share of test
examples on which the compressed model predicts another label than its *reference* (the
uncompressed model it came from), overall and among the examples the reference gets right.
Their distillation-inspired loss cuts those mismatches by up to 4.1x (5.7x where the reference
is right). This is not Hooker et al.'s PIE, which compares the modal labels of two
*populations* (:mod:`~course_lib.analysis.exemplars`); it is the direct measure of a remedy
whose student starts from, and is taught by, its own reference.

Here member ``k`` of a compressed population is compared with member ``k`` of the reference
population (the design of :func:`~course_lib.book.experiments.remedied_populations`).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from ..core.validation import check_labels
from .bootstrap import bootstrap_settings, mean_over_picked, members_and_examples, percentile_interval


def _counts(reference: np.ndarray, compressed: np.ndarray, y_true: np.ndarray | None,
            weights: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Weighted mismatches and eligible examples ``(B, K)`` under example ``weights`` ``(B, N)``."""
    eligible = np.ones_like(reference, dtype=np.float64) if y_true is None else (reference == y_true).astype(float)
    mismatched = eligible * (compressed != reference)
    return weights @ mismatched.T, weights @ eligible.T


def mismatch_rates(*, reference: Any, compressed: Any, y_true: Any = None) -> np.ndarray:
    """Each member's share of examples predicted otherwise than by its reference, ``(K,)``.

    Parameters
    ----------
    reference, compressed : array-like
        ``(K, N)`` labels; row ``k`` of ``compressed`` was made from row ``k`` of ``reference``.
    y_true : array-like, optional
        ``(N,)`` true labels: count only the examples that reference member ``k`` gets right.
    """
    ref = check_labels(reference, "reference")
    comp = check_labels(compressed, "compressed", n=ref.shape[1])
    if comp.shape != ref.shape:
        raise ValueError(f"compressed must have the shape of reference {ref.shape}, got {comp.shape}")
    y = None if y_true is None else check_labels(y_true, "y_true", ndim=1, n=ref.shape[1])
    mismatched, eligible = _counts(ref, comp, y, np.ones((1, ref.shape[1])))
    return mismatched[0] / eligible[0]


def mismatch_reduction(*, reference: Any, plain: Any, remedied: Any, floor: Any = None, y_true: Any = None,
                       n_boot: int = 1000, ci: float = 0.95, seed: int = 0) -> pd.Series:
    """How many times fewer mismatches a remedy leaves than plain compression: Joseph et al.'s reduction.

    The reduction is the ratio of the mean :func:`mismatch_rates` of ``plain`` to that of
    ``remedied``, both against the same ``reference`` members. Its percentile interval comes
    from a bootstrap that resamples the test examples and the members together (a member's
    reference, plain and remedied rows are kept together: they are paired;
    :mod:`~course_lib.analysis.bootstrap`).

    Retraining alone changes some predictions, so a remedy cannot be expected to bring the
    mismatches to 0. With ``floor``, a population made from the same reference members by the
    same retraining without compression (the fine-tuned control), the rate that retraining alone
    produces is reported beside the others, with the share of plain compression's *excess*
    mismatches (over the floor) that the remedy removes:
    ``100 * (plain - remedied) / (plain - floor)``, on the same resamples. It is undefined (NaN)
    where plain compression is not above the floor, and such resamples are left out of its
    interval. The share is negative for a remedy that adds mismatches to plain
    compression's, and may exceed 100% for one that goes below the floor (distillation can: its
    loss pulls the student towards the reference).

    Parameters
    ----------
    reference, plain, remedied : array-like
        ``(K, N)`` labels, paired by row.
    floor : array-like, optional
        ``(K, N)`` labels of the uncompressed control, paired by row with the others.
    y_true : array-like, optional
        As for :func:`mismatch_rates`: only where the reference is right.
    n_boot, ci, seed
        Bootstrap resamples, coverage of the interval and seed of the resampling.

    Returns
    -------
    pandas.Series
        ``plain (%)``, ``remedied (%)`` (mean mismatch rates), ``reduction`` (their ratio),
        ``low`` and ``high``; with ``floor`` also ``floor (%)``, ``excess removed (%)``,
        ``excess low`` and ``excess high``.
    """
    ref = check_labels(reference, "reference")
    members, n = ref.shape
    y = None if y_true is None else check_labels(y_true, "y_true", ndim=1, n=n)
    named = {"plain": plain, "remedied": remedied} | ({} if floor is None else {"floor": floor})
    rates = {name: mismatch_rates(reference=ref, compressed=preds, y_true=y).mean() for name, preds in named.items()}
    n_boot, ci, rng = bootstrap_settings(n_boot, ci, seed)
    weights, picks = members_and_examples(rng, members=members, n=n, size=n_boot)
    resampled = {}
    for name, preds in named.items():
        mismatched, eligible = _counts(ref, check_labels(preds, name, n=n), y, weights)
        with np.errstate(invalid="ignore", divide="ignore"):
            resampled[name] = mean_over_picked(mismatched / eligible, picks)
    with np.errstate(invalid="ignore", divide="ignore"):
        low, high = percentile_interval(resampled["plain"] / resampled["remedied"], ci)
    result = {"plain (%)": 100 * rates["plain"], "remedied (%)": 100 * rates["remedied"],
              "reduction": rates["plain"] / rates["remedied"] if rates["remedied"] > 0 else np.inf,
              "low": low, "high": high}
    if floor is not None:
        with np.errstate(invalid="ignore", divide="ignore"):
            margin = resampled["plain"] - resampled["floor"]
            excess = np.where(margin > 0, 100 * (resampled["plain"] - resampled["remedied"]) / margin, np.nan)
            removed = (100 * (rates["plain"] - rates["remedied"]) / (rates["plain"] - rates["floor"])
                       if rates["plain"] > rates["floor"] else np.nan)
        excess_low, excess_high = percentile_interval(excess, ci)
        result |= {"floor (%)": 100 * rates["floor"], "excess removed (%)": removed, "excess low": excess_low,
                   "excess high": excess_high}
    return pd.Series(result)
