"""How well a score ranks the examples that carry a flag: average precision, with intervals.

An auditing signal (VoG, the loss, a disagreement score) is useful if the examples it ranks
first are the ones a reviewer should see: mislabelled, atypical. With ground-truth flags (the
synthetic set's ``noisy`` and ``atypical``) a ranking is scored by its **average precision**
(AP): the mean, over the flagged examples, of the precision of the ranking down to each of
them. A random ranking has an expected AP equal to the **base rate**, the share of flagged
examples; a perfect one has AP 1.

A score computed by a population has one value per member, so the AP is averaged over members,
and its interval resamples both what varies: the members (the seeds) and the examples.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from ..core.validation import check_integer
from .bootstrap import bootstrap_settings, mean_over_picked, members_and_examples, percentile_interval


def _weighted_ap(scores: np.ndarray, flags: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """AP ``(B,)`` of one member's ``scores`` ``(N,)`` under example ``weights`` ``(B, N)`` (counts)."""
    order = np.argsort(-scores, kind="stable")
    w, pos = weights[:, order], flags[order]
    hits = np.cumsum(w * pos, axis=1)
    precision = hits / np.maximum(np.cumsum(w, axis=1), 1e-12)
    flagged = (w * pos).sum(1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return (w * pos * precision).sum(1) / flagged


def _member_aps(rankings: list[np.ndarray], flags: np.ndarray, *, n_boot: int, ci: float,
                seed: int) -> tuple[np.ndarray, np.ndarray, float]:
    """Checked inputs' member APs ``(R, K)`` and their resampled means over members ``(R, B)``, and ``ci``.

    All ``R`` rankings ``(K, N)`` are resampled on the same draws: ``N`` examples and ``K``
    members with replacement, per resample.
    """
    rankings = [np.atleast_2d(np.asarray(r, dtype=np.float64)) for r in rankings]
    if any(r.shape != rankings[0].shape for r in rankings):
        raise ValueError(f"scores and other must have the same shape, got {[r.shape for r in rankings]}")
    members, n = rankings[0].shape
    flags = np.asarray(flags, dtype=bool)
    if flags.shape != (n,):
        raise ValueError(f"flags must have shape (N,) = ({n},), got {flags.shape}")
    if not flags.any():
        raise ValueError("flags must mark at least one example, got none")
    n_boot, ci, rng = bootstrap_settings(n_boot, ci, seed)
    observed = np.array([[_weighted_ap(s, flags, np.ones((1, n)))[0] for s in r] for r in rankings])
    weights, picks = members_and_examples(rng, members=members, n=n, size=n_boot)
    # a resample without a flagged example has no AP (NaN): left out of the mean and the interval
    resampled = [mean_over_picked(np.stack([_weighted_ap(s, flags, weights) for s in r], axis=1), picks)
                 for r in rankings]
    return observed, np.stack(resampled), ci


def average_precision(scores: np.ndarray, flags: np.ndarray, *, n_boot: int = 200, ci: float = 0.95,
                      seed: int = 0) -> pd.Series:
    """Average precision of a score at ranking flagged examples first, over members, with an interval.

    Parameters
    ----------
    scores : array-like
        Shape ``(K, N)``, or ``(N,)`` for one ranking: higher means "review first". Ties are
        ranked in the order of the examples.
    flags : array-like
        Shape ``(N,)``, bool: the examples to find, at least one.
    n_boot : int
        Bootstrap resamples; each draws ``K`` members and ``N`` examples with replacement.
    ci : float
        Coverage of the percentile interval, in ``(0, 1)``.
    seed : int
        Seed of the resampling.

    Returns
    -------
    pandas.Series
        ``ap`` (the mean over members of each member's AP, which equals
        :func:`sklearn.metrics.average_precision_score` for scores without ties), ``low``,
        ``high`` and ``base_rate`` (the share of flagged examples: a random ranking's expected AP).
    """
    observed, resampled, ci = _member_aps([scores], flags, n_boot=n_boot, ci=ci, seed=seed)
    low, high = percentile_interval(resampled[0], ci)
    return pd.Series({"ap": float(observed[0].mean()), "low": low, "high": high,
                      "base_rate": float(np.asarray(flags, dtype=bool).mean())})


def average_precision_difference(scores: np.ndarray, other: np.ndarray, flags: np.ndarray, *, n_boot: int = 200,
                                 ci: float = 0.95, seed: int = 0) -> pd.Series:
    """The AP of ``scores`` minus that of ``other``, on the same members and examples, with an interval.

    Both scores come from the same members and are judged on the same examples, so the
    interval resamples them together (paired): each resample draws members and examples once
    and computes both APs on the draw. Two marginal intervals that overlap say little about
    such a difference; this interval does.

    Parameters
    ----------
    scores, other : array-like
        Shape ``(K, N)`` (or ``(N,)``): two rankings of the same examples by the same members.
    flags, n_boot, ci, seed
        As for :func:`average_precision`.

    Returns
    -------
    pandas.Series
        ``difference`` (mean over members of the AP difference), ``low`` and ``high``.
    """
    observed, resampled, ci = _member_aps([scores, other], flags, n_boot=n_boot, ci=ci, seed=seed)
    low, high = percentile_interval(resampled[0] - resampled[1], ci)
    return pd.Series({"difference": float((observed[0] - observed[1]).mean()), "low": low, "high": high})


def precision_at_k(scores: np.ndarray, flags: np.ndarray, k: int) -> float:
    """Share of flagged examples among the ``k`` highest scores, averaged over members (``scores`` ``(K, N)`` or ``(N,)``)."""
    scores = np.atleast_2d(np.asarray(scores, dtype=np.float64))
    flags = np.asarray(flags, dtype=bool)
    k = check_integer(k, "k", low=1, high=scores.shape[1])
    top = np.argsort(-scores, axis=1, kind="stable")[:, :k]
    return float(flags[top].mean())


__all__ = ["average_precision", "average_precision_difference", "precision_at_k"]
