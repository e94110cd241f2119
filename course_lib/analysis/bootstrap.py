"""The bootstrap over members and examples that every interval of the course uses.

A statistic of a population on a test set varies with two things the book did not choose: the
seeds of the ``K`` members and the ``N`` test examples drawn. Its interval therefore resamples
both (Principle 2 of the course): each resample draws ``N`` examples and ``K`` members with
replacement, and the statistic is recomputed on the draw. Examples are drawn as **counts**
(how often each example is drawn, :func:`resample_counts`), so a rate on a resample is one
matrix product of the counts with per-example outcomes, for all resamples at once.

When several populations are compared on the same examples (a remedy and plain pruning on the
same faces), one draw of examples serves all of them; when their members are paired (member
``k`` of each was made from the same dense member ``k``), one draw of members serves all of
them too. That pairing is what makes the interval of a difference narrower than two marginal
intervals when the paired statistics are positively correlated (as a member's results under two
treatments are). The interval is the percentile interval of the resampled statistic
(:func:`percentile_interval`).
"""

from __future__ import annotations

import numpy as np

from ..core.validation import check_integer, check_real


def bootstrap_settings(n_boot: int, ci: float, seed: int) -> tuple[int, float, np.random.Generator]:
    """Check the three settings of a bootstrap and return them, the seed as a generator.

    Raises
    ------
    ValueError
        If ``n_boot`` is not a positive integer, ``ci`` not in ``(0, 1)`` or ``seed`` negative.
    """
    return (check_integer(n_boot, "n_boot", low=1), check_real(ci, "ci", low=0.0, high=1.0, closed="neither"),
            np.random.default_rng(check_integer(seed, "seed", low=0)))


def resample_counts(rng: np.random.Generator, n: int, size: int) -> np.ndarray:
    """How often each of ``n`` examples is drawn in each of ``size`` bootstrap resamples.

    Returns
    -------
    numpy.ndarray
        Shape ``(size, n)``, int: row ``b`` counts the draws of every example in resample ``b``
        (``n`` draws with replacement), the example weights of a resample.
    """
    return np.stack([np.bincount(rng.integers(0, n, n), minlength=n) for _ in range(size)])


def resample_members(rng: np.random.Generator, members: int, size: int) -> np.ndarray:
    """The members drawn in each of ``size`` resamples: ``(size, members)`` indices, with replacement."""
    return rng.integers(0, members, (size, members))


def members_and_examples(rng: np.random.Generator, *, members: int, n: int,
                         size: int) -> tuple[np.ndarray, np.ndarray]:
    """One draw of examples and members for ``size`` resamples: counts ``(size, n)``, picks ``(size, members)``.

    The examples are drawn first, then the members, from the same generator.
    """
    return resample_counts(rng, n, size).astype(np.float64), resample_members(rng, members, size)


def mean_over_picked(per_member: np.ndarray, picks: np.ndarray) -> np.ndarray:
    """Mean over the drawn members: ``per_member`` ``(B, K)`` and ``picks`` ``(B, K)`` give ``(B,)``.

    NaNs (a statistic undefined on a resample) are left out of the mean; a resample whose drawn
    members are all NaN stays NaN, without a warning.
    """
    drawn = np.take_along_axis(per_member, picks, 1)
    counted = (~np.isnan(drawn)).sum(1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(counted > 0, np.nansum(drawn, 1) / counted, np.nan)


def percentile_interval(resampled: np.ndarray, ci: float) -> tuple:
    """The percentile interval of coverage ``ci`` over the resamples, NaNs left out.

    Parameters
    ----------
    resampled : numpy.ndarray
        ``(B,)`` values of one statistic on ``B`` resamples, or ``(B, G)`` for ``G`` statistics
        (one per group) on the same resamples.
    ci : float
        Coverage, in ``(0, 1)``.

    Returns
    -------
    tuple
        ``(low, high)``: floats for ``(B,)``, ``(G,)`` arrays for ``(B, G)``. A statistic
        undefined (NaN) on every resample has a NaN interval, without a warning.
    """
    resampled = np.asarray(resampled, dtype=np.float64)
    values = resampled.reshape(len(resampled), -1)
    bounds = np.full((2, values.shape[1]), np.nan)
    defined = ~np.isnan(values).all(0)
    if defined.any():
        bounds[:, defined] = np.nanquantile(values[:, defined], [(1 - ci) / 2, (1 + ci) / 2], axis=0)
    if resampled.ndim == 1:
        return float(bounds[0, 0]), float(bounds[1, 0])
    return bounds[0], bounds[1]


__all__ = ["bootstrap_settings", "mean_over_picked", "members_and_examples", "percentile_interval",
           "resample_counts", "resample_members"]
