"""Is a finding larger than what seeds alone produce? Control populations and member permutations.

Two populations of models trained with different seeds disagree even when nothing else differs:
on a few hundred Fashion-MNIST test images their modal labels differ, some classes look
"significantly" changed, some subgroups' error moves. Every count, difference or enrichment the
course reports about compression is therefore set beside the same number computed for seeds
alone.

The design
----------
Hooker et al. (2019, 2020) train every population independently. The course does the same with
three disjoint families of seeds (:func:`course_lib.book.experiments.seeds`):

* the **baseline**: the dense population every comparison starts from;
* the **compressed** populations, one per level;
* the **control**: a second dense population, trained exactly as the baseline, with other seeds.

A statistic ``s(baseline, X)`` (the number of PIEs, of significantly impacted classes, the
spread of subgroup changes, ...) is computed for ``X = compressed`` and for ``X = control``; the
second is the *noise baseline*, what the same design gives when compression does nothing. The
test (:func:`control_test`) asks whether the compressed value exceeds the control value by more
than chance: under the null hypothesis compression changes nothing, so compressed and control
members are exchangeable. Splitting the pooled ``K_c + K_0`` members into groups of ``K_c`` and
``K_0`` in every possible way (all 252 splits for ``K_c = K_0 = 5``) gives the null distribution
of ``s(baseline, first) - s(baseline, second)``; the p-value is the share of splits at least as
extreme as the observed one, the observed split included. It is exact, makes no distributional
assumption, and respects what varies in the design: the members. It conditions on the test set:
the claim it tests is about these test examples.

Paired designs
--------------
Where a compressed member is made from a baseline member (fine-tuned and pruned from it,
:func:`course_lib.book.experiments.finetuned_populations`), its noise baseline is made the same way
without the compression: member ``k`` of the control is member ``k`` of the baseline fine-tuned
alike, unpruned, with the same seed. Only the pairs are then exchangeable, not all the members:
``paired=True`` swaps the compressed and the control member within pairs, in all ``2**K`` ways
(:func:`paired_splits`; 32 for ``K = 5``, so the smallest p-value is 1/32).
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats as _scipy_stats

from ..core.validation import check_bool, check_integer, check_labels, check_mapping, check_option, check_real
from .exemplars import pie_mask

ALTERNATIVES = ("greater", "less", "two-sided")


def member_splits(n_first: int, n_second: int, *, n_resamples: int = 10_000, seed: int = 0) -> np.ndarray:
    """The ways of splitting ``n_first + n_second`` pooled members into two groups.

    Parameters
    ----------
    n_first, n_second : int
        Sizes of the two groups, at least 1 each.
    n_resamples : int
        When there are at most this many splits, all of them are returned (an exact test);
        otherwise this many random splits, the observed one first.
    seed : int
        Seed of the random splits.

    Returns
    -------
    numpy.ndarray
        Shape ``(S, n_first + n_second)``, bool: row ``s`` is True for the members of the first
        group. Row 0 is always the observed split (the first ``n_first`` members).

    Examples
    --------
    >>> member_splits(1, 2).astype(int).tolist()
    [[1, 0, 0], [0, 1, 0], [0, 0, 1]]
    """
    n_first = check_integer(n_first, "n_first", low=1)
    n_second = check_integer(n_second, "n_second", low=1)
    n_resamples = check_integer(n_resamples, "n_resamples", low=1)
    n = n_first + n_second
    if math.comb(n, n_first) <= n_resamples:
        splits = np.zeros((math.comb(n, n_first), n), dtype=bool)
        for row, members in enumerate(itertools.combinations(range(n), n_first)):
            splits[row, list(members)] = True
        return splits
    rng = np.random.default_rng(check_integer(seed, "seed"))
    splits = np.zeros((n_resamples, n), dtype=bool)
    splits[0, :n_first] = True
    for row in range(1, n_resamples):
        splits[row, rng.permutation(n)[:n_first]] = True
    return splits


def paired_splits(n_pairs: int, *, n_resamples: int = 10_000, seed: int = 0) -> np.ndarray:
    """The ways of swapping the members of ``n_pairs`` pairs between two groups.

    The pooled members are the first elements of the pairs followed by the second elements
    (``2 * n_pairs`` of them); each split puts one member of every pair in the first group.

    Parameters
    ----------
    n_pairs : int
        Number of pairs, at least 1.
    n_resamples, seed
        As for :func:`member_splits`: all ``2 ** n_pairs`` splits when there are at most
        ``n_resamples``, otherwise this many random ones, the observed split first.

    Returns
    -------
    numpy.ndarray
        Shape ``(S, 2 * n_pairs)``, bool: row ``s`` is True for the members of the first group.
        Row 0 is the observed split (the first elements of all pairs).

    Examples
    --------
    >>> paired_splits(2).astype(int).tolist()
    [[1, 1, 0, 0], [1, 0, 0, 1], [0, 1, 1, 0], [0, 0, 1, 1]]
    """
    n_pairs = check_integer(n_pairs, "n_pairs", low=1)
    n_resamples = check_integer(n_resamples, "n_resamples", low=1)
    if 2 ** n_pairs <= n_resamples:
        swaps = np.array(list(itertools.product([False, True], repeat=n_pairs)), dtype=bool)
    else:
        rng = np.random.default_rng(check_integer(seed, "seed"))
        swaps = rng.random((n_resamples, n_pairs)) < 0.5
        swaps[0] = False
    return np.concatenate([~swaps, swaps], axis=1)


def control_test(statistic: Callable[[np.ndarray, np.ndarray], float], *, baseline: Any, compressed: Any,
                 control: Any, alternative: str = "greater", paired: bool = False, n_resamples: int = 10_000,
                 seed: int = 0) -> pd.Series:
    """Compare ``statistic(baseline, compressed)`` with what the control population gives.

    Parameters
    ----------
    statistic : callable
        ``statistic(baseline, other) -> float``, for arrays of ``K`` and ``K'`` members along
        axis 0 (e.g. labels ``(K, N)``): the number of PIEs, of impacted classes, ...
    baseline : array-like
        Shape ``(K, ...)``. The baseline population's outputs (predicted labels, per-member tables as arrays).
    compressed, control : array-like
        Shape ``(K_c, ...)`` and ``(K_0, ...)``. The same outputs of the compressed population and of
        the control population (dense, trained like ``baseline`` with other seeds).
    alternative : {"greater", "less", "two-sided"}
        ``"greater"``: compression raises the statistic above the control's (more PIEs);
        ``"two-sided"`` compares absolute differences.
    paired : bool
        ``False``: all members of ``compressed`` and ``control`` are exchangeable under the null
        hypothesis (independent seeds; :func:`member_splits`). ``True``: member ``k`` of
        ``compressed`` and member ``k`` of ``control`` are a pair made alike from one baseline
        member (same size ``K``); only pairs are swapped (:func:`paired_splits`).
    n_resamples, seed
        As for :func:`member_splits`: all splits when there are at most ``n_resamples``.

    Returns
    -------
    pandas.Series
        ``compressed`` (the statistic), ``control`` (its noise baseline), ``excess``
        (compressed minus control), ``p`` (the permutation p-value, at least ``1 / splits``)
        and ``splits`` (the number of splits, the observed one included).
    """
    check_option(alternative, "alternative", ALTERNATIVES)
    base = np.asarray(baseline)
    comp, ctrl = np.asarray(compressed), np.asarray(control)
    if comp.shape[1:] != ctrl.shape[1:]:
        raise ValueError(f"compressed and control must have the same shape but for the members (axis 0), "
                         f"got {comp.shape} and {ctrl.shape}")
    pooled = np.concatenate([comp, ctrl])
    if check_bool(paired, "paired"):
        if len(comp) != len(ctrl):
            raise ValueError(f"paired=True needs compressed and control of the same size, got {len(comp)} and "
                             f"{len(ctrl)} members")
        splits = paired_splits(len(comp), n_resamples=n_resamples, seed=seed)
    else:
        splits = member_splits(len(comp), len(ctrl), n_resamples=n_resamples, seed=seed)
    differences = np.array([float(statistic(base, pooled[split])) - float(statistic(base, pooled[~split]))
                            for split in splits])
    observed = differences[0]
    tolerance = 1e-12 * max(1.0, abs(observed))  # a split that ties the observed one counts as extreme
    if alternative == "greater":
        extreme = differences >= observed - tolerance
    elif alternative == "less":
        extreme = differences <= observed + tolerance
    else:
        extreme = np.abs(differences) >= abs(observed) - tolerance
    value, noise = float(statistic(base, comp)), float(statistic(base, ctrl))
    return pd.Series({"compressed": value, "control": noise, "excess": value - noise,
                      "p": float(extreme.mean()), "splits": len(splits)})


def exemplar_counts(*, baseline: Any, compressed: Mapping[Any, Any], control: Any, alpha: float = 0.05,
                    paired: bool = False, n_resamples: int = 10_000, seed: int = 0) -> pd.DataFrame:
    """PIEs (CIEs) at every level beside the disagreements seeds alone produce.

    Parameters
    ----------
    baseline : array-like
        Shape ``(K, N)``. Labels predicted by the baseline dense population.
    compressed : mapping
        Shape ``(K_c, N)``. Labels predicted by each compressed population, by level.
    control : array-like
        Shape ``(K_0, N)``. Labels predicted by the control population.
    alpha : float
        Level of the Benjamini-Hochberg false-discovery-rate correction across levels.
    paired, n_resamples, seed
        As for :func:`control_test`.

    Returns
    -------
    pandas.DataFrame
        One row per level: ``count`` (:func:`~course_lib.analysis.exemplars.pie_mask` against
        the baseline), ``noise count`` (the control's disagreements with the baseline, the
        same number on every row), ``ratio`` (count / noise count), ``p`` (:func:`control_test`,
        one-sided), ``p_adjusted`` (Benjamini-Hochberg across the levels) and ``beats noise``
        (``p_adjusted < alpha``).
    """
    check_mapping(compressed, "compressed", of="levels to predictions")
    alpha = check_real(alpha, "alpha", low=0.0, high=1.0, closed="neither")
    base = check_labels(baseline, "baseline")
    ctrl = check_labels(control, "control", n=base.shape[1])

    def count(reference: np.ndarray, other: np.ndarray) -> float:
        return float(pie_mask(baseline=reference, compressed=other).sum())

    rows = {}
    for level, preds in compressed.items():
        comp = check_labels(preds, f"compressed[{level!r}]", n=base.shape[1])
        test = control_test(count, baseline=base, compressed=comp, control=ctrl, paired=paired,
                            n_resamples=n_resamples, seed=seed)
        rows[level] = {"count": int(test["compressed"]), "noise count": int(test["control"]), "p": test["p"]}
    table = pd.DataFrame.from_dict(rows, orient="index").rename_axis("level")
    with np.errstate(divide="ignore", invalid="ignore"):
        table.insert(2, "ratio", table["count"] / table["noise count"].astype(float))
    table["p_adjusted"] = _scipy_stats.false_discovery_control(table["p"].to_numpy())
    table["beats noise"] = table["p_adjusted"] < alpha
    return table
