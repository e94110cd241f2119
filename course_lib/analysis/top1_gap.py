"""The top-1 gap between two populations, with an interval over members and test examples.

How much better does one way of training a network do than another? Each population's top-1
is the mean over its members; the gap is their difference, in percentage points. Its interval
resamples what the book did not choose (:mod:`course_lib.analysis.bootstrap`): the test
examples (one draw for both populations, which are tested on the same examples) and the
members, independently for populations trained from disjoint seeds or, with ``paired=True``,
as pairs (member ``k`` of both shares what the design pairs: a mask, a seed, a start).

With a handful of members the percentile interval over members covers less than it says, so the
gap also gets the p-value of the t-test over the members' own top-1 (paired or Welch's, as the
design is): a verdict should need both.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from ..core.validation import check_bool, check_labels
from .bootstrap import bootstrap_settings, mean_over_picked, percentile_interval, resample_counts, resample_members
from .class_impact import paired_t_test, welch_t_test


def top1_gap(*, y_true: Any, first: Any, second: Any, paired: bool = False, n_boot: int = 2000, ci: float = 0.95,
             seed: int = 0) -> pd.Series:
    """Top-1 of ``first`` minus top-1 of ``second`` (means over members, in points), with a bootstrap interval.

    Parameters
    ----------
    y_true : array-like
        Shape ``(N,)``, the true labels.
    first, second : array-like
        Shapes ``(K, N)`` and ``(K', N)``, the labels predicted by each member of the two populations.
    paired : bool
        Member ``k`` of ``first`` is paired with member ``k`` of ``second`` (then ``K' = K``):
        the pairs are resampled, not the members of each population on their own.
    n_boot : int
        Number of resamples.
    ci : float
        Coverage of the percentile interval, in ``(0, 1)``.
    seed : int
        Seed of the resampling.

    Returns
    -------
    pandas.Series
        ``first`` and ``second`` (their top-1, in percent), ``gap`` (``first - second``, in
        points), ``low`` and ``high`` (the interval of the gap), ``p`` (two-sided, of the paired
        t-test over the members' top-1 with ``paired=True``, of Welch's t-test otherwise:
        :func:`~course_lib.analysis.class_impact.paired_t_test`,
        :func:`~course_lib.analysis.class_impact.welch_t_test`; NaN when the members do not
        vary or a population has one member).
    """
    n_boot, ci, rng = bootstrap_settings(n_boot, ci, seed)
    y = check_labels(y_true, "y_true", ndim=1)
    correct = [(check_labels(p, name, n=len(y)) == y).astype(np.float64)
               for p, name in ((first, "first"), (second, "second"))]  # (K, N) each
    if check_bool(paired, "paired") and len(correct[0]) != len(correct[1]):
        raise ValueError(f"paired=True needs populations of the same size, got {len(correct[0])} and "
                         f"{len(correct[1])} members")
    counts = resample_counts(rng, len(y), n_boot) / len(y)  # (B, N): the weights of each resample
    picks = resample_members(rng, len(correct[0]), n_boot)
    picks = [picks, picks if paired else resample_members(rng, len(correct[1]), n_boot)]
    top1 = [100 * mean_over_picked(counts @ c.T, pick) for c, pick in zip(correct, picks)]  # (B,) each
    low, high = percentile_interval(top1[0] - top1[1], ci)
    observed = [100 * c.mean() for c in correct]
    members = [c.mean(1) for c in correct]  # (K,) each member's top-1
    testable = min(len(m) for m in members) >= 2
    p = (paired_t_test if paired else welch_t_test)(*members)[1] if testable else np.nan
    return pd.Series({"first": observed[0], "second": observed[1], "gap": observed[0] - observed[1],
                      "low": low, "high": high, "p": p})


__all__ = ["top1_gap"]
