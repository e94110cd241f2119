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

from ..core.validation import check_integer, check_labels, check_real
from .subgroups import resample_counts


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


def mismatch_reduction(*, reference: Any, plain: Any, remedied: Any, y_true: Any = None, n_boot: int = 1000,
                       ci: float = 0.95, seed: int = 0) -> pd.Series:
    """How many times fewer mismatches a remedy leaves than plain compression: Joseph et al.'s reduction.

    The reduction is the ratio of the mean :func:`mismatch_rates` of ``plain`` to that of
    ``remedied``, both against the same ``reference`` members. Its percentile interval comes
    from a bootstrap that resamples the test examples and the members together (a member's
    reference, plain and remedied rows are kept together: they are paired).

    Parameters
    ----------
    reference, plain, remedied : array-like
        ``(K, N)`` labels, paired by row.
    y_true : array-like, optional
        As for :func:`mismatch_rates`: only where the reference is right.
    n_boot, ci, seed
        Bootstrap resamples, coverage of the interval and seed of the resampling.

    Returns
    -------
    pandas.Series
        ``plain (%)``, ``remedied (%)`` (mean mismatch rates), ``reduction`` (their ratio),
        ``low`` and ``high``.
    """
    ref = check_labels(reference, "reference")
    rates = {name: mismatch_rates(reference=ref, compressed=preds, y_true=y_true)
             for name, preds in (("plain", plain), ("remedied", remedied))}
    n_boot = check_integer(n_boot, "n_boot", low=1)
    ci = check_real(ci, "ci", low=0.0, high=1.0, closed="neither")
    rng = np.random.default_rng(check_integer(seed, "seed", low=0))
    members, n = ref.shape
    y = None if y_true is None else check_labels(y_true, "y_true", ndim=1, n=n)
    weights = resample_counts(rng, n, n_boot).astype(np.float64)
    picks = rng.integers(0, members, (n_boot, members))
    resampled = {}
    for name, preds in (("plain", plain), ("remedied", remedied)):
        mismatched, eligible = _counts(ref, check_labels(preds, name, n=n), y, weights)
        with np.errstate(invalid="ignore", divide="ignore"):
            resampled[name] = np.take_along_axis(mismatched / eligible, picks, 1).mean(1)
    with np.errstate(invalid="ignore", divide="ignore"):
        ratios = resampled["plain"] / resampled["remedied"]
    low, high = np.nanquantile(ratios, [(1 - ci) / 2, (1 + ci) / 2])
    plain_rate, remedied_rate = rates["plain"].mean(), rates["remedied"].mean()
    return pd.Series({"plain (%)": 100 * plain_rate, "remedied (%)": 100 * remedied_rate,
                      "reduction": plain_rate / remedied_rate if remedied_rate > 0 else np.inf,
                      "low": float(low), "high": float(high)})
