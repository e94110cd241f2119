"""Subgroup audits of compressed models: who pays for what compression forgets?

A model can keep its top-1 accuracy and still get much worse on a small part of the data. An
audit therefore reports the error of a classifier *per subgroup*: on the whole test set, on
every value of every protected attribute alone (gender: female, male), and on their
*intersections* (female & young, female & old, ...), where Buolamwini & Gebru ("Gender Shades",
2018) found error rates dozens of times those of the best-served group. Hooker et al.
("Characterising bias in compressed models", arXiv:2010.03058, 2020) ran such audits on pruned
and quantized CelebA classifiers, comparing each compressed population with the dense one by the
*relative change* of every metric (their Table 3); Blakeney et al. ("Simon Says: Evaluating and
Mitigating Bias in Pruned Neural Networks with Knowledge Distillation", arXiv:2106.07849, 2021)
condensed the per-class changes of FPR and FNR into two numbers, CEV and SDE.

Definitions (binary target; ``P`` positive and ``N`` negative examples of a subgroup; ``TP``,
``FP``, ``TN``, ``FN`` its confusion counts):

* ``error`` = (FP + FN) / (P + N), i.e. 1 - accuracy;
* ``fpr`` = FP / (FP + TN): the share of true negatives predicted positive;
* ``fnr`` = FN / (FN + TP): the share of true positives predicted negative;
* ``ppv`` = TP / (TP + FP): precision, the share of positive predictions that are right;
* ``count`` = P + N.

Conventions
-----------
* A rate whose denominator is 0 is **NaN**, never 0 and never a warning: ``fpr`` of a group
  without negatives, ``fnr`` of a group without positives, ``ppv`` of a group given no positive
  prediction, every metric of an empty group. (fairlearn's ``false_positive_rate`` and
  ``false_negative_rate`` return 0 there, through scikit-learn's ``confusion_matrix``; this
  module computes the four metrics itself, inside fairlearn's :class:`~fairlearn.metrics.MetricFrame`.)
* Intersections cover the full Cartesian product of the values observed for each attribute.
  An empty intersection is **reported**, with ``count`` 0 and NaN metrics: a combination absent
  from the test set is a finding of the audit, not a row to drop.

How the tables of two populations compare (relative changes, Table 3's normalised
differences, CEV and SDE) is the job of :mod:`course_lib.analysis.changes`.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
from fairlearn.metrics import MetricFrame, count

from ..core.validation import check_integer, check_real
from .bootstrap import percentile_interval, resample_counts

if TYPE_CHECKING:
    from pandas.api.typing import DataFrameGroupBy

METRICS = ("error", "fpr", "fnr", "ppv")
"""The metric columns of :func:`subgroup_metrics`, in order."""

KEYS = ("scope", "attributes", "group")
"""The columns that identify a subgroup in :func:`subgroup_metrics` and the population tables."""

OVERALL = "all"
"""``attributes`` and ``group`` of the row that covers the whole set."""


# --------------------------------------------------------------------------- metrics (0/1 arrays)

def _rate(hits: np.ndarray) -> float:
    """Share of ``True`` in ``hits``; NaN when there is nothing to count."""
    return float(np.mean(hits)) if len(hits) else math.nan


def _error(y_true: np.ndarray, y_pred: np.ndarray) -> float:
    return _rate(y_true != y_pred)


def _fpr(y_true: np.ndarray, y_pred: np.ndarray) -> float:
    return _rate(y_pred[y_true == 0] == 1)


def _fnr(y_true: np.ndarray, y_pred: np.ndarray) -> float:
    return _rate(y_pred[y_true == 1] == 0)


def _ppv(y_true: np.ndarray, y_pred: np.ndarray) -> float:
    return _rate(y_true[y_pred == 1] == 1)


_METRIC_FUNCTIONS = {"count": count, "error": _error, "fpr": _fpr, "fnr": _fnr, "ppv": _ppv}


# --------------------------------------------------------------------------- validation

def _labels(values: np.ndarray, name: str, pos_label: Any) -> set:
    """The labels of ``values`` other than ``pos_label``; at most one is allowed."""
    try:
        others = set(np.unique(values).tolist()) - {pos_label}
    except TypeError as error:
        raise ValueError(f"{name} must hold comparable labels, got {error}") from None
    if len(others) > 1:
        shown = sorted(others, key=str)
        raise ValueError(f"{name} must be binary: pos_label={pos_label!r} and at most one other label, "
                         f"got {len(others)} other labels {shown[:10]}")
    return others


def binary_labels(y_true: Any, y_pred: Any, pos_label: Any, pred_name: str = "y_pred") -> tuple[np.ndarray, np.ndarray]:
    """``y_true`` of shape (N,) and ``y_pred`` of shape (N,) as 0/1 int8, 1 for ``pos_label``.

    With any ``pred_name`` other than ``"y_pred"`` the predictions have shape ``(K, N)``, one row
    per member. Raises ``ValueError`` for wrong shapes or more than two labels.
    """
    y_true, y_pred = np.asarray(y_true), np.asarray(y_pred)
    if y_true.ndim != 1:
        raise ValueError(f"y_true must have shape (N,), one label per example, got {y_true.shape}")
    ndim, expected = (1, "(N,)") if pred_name == "y_pred" else (2, "(K, N)")
    if y_pred.ndim != ndim or y_pred.shape[-1] != len(y_true):
        raise ValueError(f"{pred_name} must have shape {expected} with N={len(y_true)}, one label per example "
                         f"of y_true, got {y_pred.shape}")
    negatives = _labels(y_true, "y_true", pos_label) | _labels(y_pred, pred_name, pos_label)
    if len(negatives) > 1:
        raise ValueError(f"y_true and {pred_name} must share one negative label besides pos_label={pos_label!r}, "
                         f"got {sorted(negatives, key=str)}")
    return (y_true == pos_label).astype(np.int8), (y_pred == pos_label).astype(np.int8)


def _levels(column: pd.Series) -> list:
    """The observed values of an attribute: in category order for a categorical, else sorted."""
    if isinstance(column.dtype, pd.CategoricalDtype):
        present = set(column.unique())
        return [value for value in column.cat.categories if value in present]
    values = list(pd.unique(column))
    try:
        return sorted(values)
    except TypeError:
        return sorted(values, key=str)


def _attributes(groups: Any, n: int) -> tuple[list[str], list[list], pd.DataFrame]:
    """Attribute names, observed values and integer codes (one column ``a0``, ``a1``, ... each).

    fairlearn receives the codes, not the raw columns: its own frame has columns ``y_true`` and
    ``y_pred`` that an attribute of that name would overwrite, it rejects non-string column names,
    and it sorts values with ``np.unique``, which fails on mixed types.
    """
    if isinstance(groups, pd.Series):
        groups = groups.to_frame()
    if not isinstance(groups, pd.DataFrame):
        raise TypeError("groups must be a pandas DataFrame with one column per attribute, "
                        f"got {type(groups).__name__}")
    if len(groups) != n:
        raise ValueError(f"groups must have one row per example ({n}), got {len(groups)}")
    if groups.shape[1] == 0:
        raise ValueError("groups must have at least one column (attribute), got none")
    names = [str(column) for column in groups.columns]
    duplicated = sorted({name for name in names if names.count(name) > 1})
    if duplicated:
        raise ValueError(f"groups must have distinct column names, got duplicates {duplicated}")
    levels, codes = [], {}
    for i, name in enumerate(names):
        column = groups.iloc[:, i]
        missing = int(column.isna().sum())
        if missing:
            raise ValueError(f"groups must not contain missing values, got {missing} in column {name!r}")
        values = _levels(column)
        position = {value: code for code, value in enumerate(values)}
        levels.append(values)
        codes[f"a{i}"] = np.fromiter((position[value] for value in column), dtype=np.int64, count=n)
    return names, levels, pd.DataFrame(codes)


def _check_bootstrap(n_boot: Any, ci: Any, seed: Any) -> None:
    check_integer(n_boot, "n_boot", low=1, optional=True)
    check_real(ci, "ci", low=0, high=1, closed="neither")
    check_integer(seed, "seed", low=0)


# --------------------------------------------------------------------------- subgroup tables

def _frame(y_true: np.ndarray, y_pred: np.ndarray, features: pd.DataFrame) -> MetricFrame:
    return MetricFrame(metrics=_METRIC_FUNCTIONS, y_true=y_true, y_pred=y_pred, sensitive_features=features)


def _bootstrap(y_true: np.ndarray, y_pred: np.ndarray, masks: np.ndarray, weights: np.ndarray,
               ci: float) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Percentile intervals ``{metric: (low (G,), high (G,))}`` of every group of ``masks`` ``(G, N)``.

    ``weights`` ``(n_boot, N)``: how often each example is drawn in each resample (:func:`~course_lib.analysis.bootstrap.resample_counts`).

    fairlearn's bootstrap definition (the whole set resampled with replacement ``n_boot`` times,
    every metric recomputed on each resample, quantiles over the resamples where it is defined)
    computed in one pass: the confusion counts of every group in every resample are products
    of the resample counts with the groups' indicator matrices.
    fairlearn's ``MetricFrame`` rebuilds every frame for every resample, minutes where this
    takes a second.
    """
    positive, predicted = y_true == 1, y_pred == 1

    def counts(condition: np.ndarray) -> np.ndarray:
        return weights @ (masks & condition).T.astype(np.float64)  # (n_boot, G)

    tp, fp = counts(positive & predicted), counts(~positive & predicted)
    fn, tn = counts(positive & ~predicted), counts(~positive & ~predicted)
    with np.errstate(invalid="ignore", divide="ignore"):
        values = {"error": (fp + fn) / (tp + fp + fn + tn), "fpr": fp / (fp + tn), "fnr": fn / (fn + tp),
                  "ppv": tp / (tp + fp)}
    return {metric: percentile_interval(value, ci) for metric, value in values.items()}  # never defined: NaN


def _table(y_true: np.ndarray, y_pred: np.ndarray, names: list[str], levels: list[list], codes: pd.DataFrame,
           n_boot: int | None = None, ci: float = 0.95, seed: int = 0) -> pd.DataFrame:
    """The audit table of one set of predictions (inputs already validated)."""
    # The whole set is a single group of a constant feature.
    subsets = [()] + [subset for order in range(1, len(names) + 1)
                      for subset in itertools.combinations(range(len(names)), order)]
    parts = []
    for subset in subsets:
        features = (codes[[f"a{i}" for i in subset]] if subset
                    else pd.DataFrame({"whole": np.zeros(len(y_true), np.int64)}))
        cells = list(itertools.product(*(range(len(levels[i])) for i in subset))) if subset else [(0,)]
        index = (pd.MultiIndex.from_tuples(cells, names=list(features.columns)) if len(cells[0]) > 1
                 else pd.Index([cell[0] for cell in cells], name=features.columns[0]))
        part = _frame(y_true, y_pred, features).by_group.reindex(index).reset_index(drop=True)
        if subset:
            part.insert(0, "scope", "unitary" if len(subset) == 1 else "intersection")
            part.insert(1, "attributes", " & ".join(names[i] for i in subset))
            part.insert(2, "group", [" & ".join(str(levels[i][code]) for i, code in zip(subset, cell))
                                     for cell in cells])
        else:
            part.insert(0, "scope", "overall")
            part.insert(1, "attributes", OVERALL)
            part.insert(2, "group", OVERALL)
        parts.append(part)
    table = pd.concat(parts, ignore_index=True)
    if n_boot is not None:  # every subgroup on the same resamples, in one pass
        masks = np.array(list(_masks(names, levels, codes, len(y_true)).values()))
        weights = resample_counts(np.random.default_rng(seed), len(y_true), n_boot).astype(np.float64)
        for metric, (low, high) in _bootstrap(y_true, y_pred, masks, weights, ci).items():
            table[f"{metric}_low"], table[f"{metric}_high"] = low, high
    table["count"] = table["count"].fillna(0).astype(np.int64)
    columns = [*KEYS, "count"]
    for metric in METRICS:
        columns += [metric, f"{metric}_low", f"{metric}_high"] if n_boot is not None else [metric]
    table = table[columns]
    table[list(columns[4:])] = table[list(columns[4:])].astype(float)
    return table


def subgroup_metrics(*, y_true: Any, y_pred: Any, groups: pd.DataFrame, pos_label: Any = 1,
                     n_boot: int | None = None, ci: float = 0.95, seed: int = 0) -> pd.DataFrame:
    """Error, FPR, FNR and PPV of one binary classifier on the whole set and every subgroup.

    The subgroups are, in this order: the whole set (``scope`` ``"overall"``); every value of
    every attribute alone (``"unitary"``, one attribute after the other, in column order); the
    intersections of every combination of two or more attributes (``"intersection"``, by
    increasing number of attributes), covering the full Cartesian product of the observed values.
    One fairlearn :class:`~fairlearn.metrics.MetricFrame` is built per non-empty subset of
    attributes, and one for the whole set (``2 ** A`` frames for ``A`` attributes).

    Parameters
    ----------
    y_true : array-like
        Shape ``(N,)``. True labels: ``pos_label`` and at most one other (negative) label.
    y_pred : array-like
        Shape ``(N,)``. Predicted labels, with the same two labels.
    groups : pandas.DataFrame
        ``N`` rows. One column per protected attribute (e.g. ``gender``, ``age``), any hashable values
        without missing ones; rows are matched to examples by position, not by index. A
        categorical column keeps its category order, others are sorted.
    pos_label : scalar
        The positive label, default 1.
    n_boot : int, optional
        Number of bootstrap resamples for percentile intervals; none by default.
    ci : float
        Coverage of the intervals, in ``(0, 1)``: the quantiles ``(1 - ci) / 2`` and
        ``(1 + ci) / 2`` of the resampled metric.
    seed : int
        Seed of the resampling: the same seed gives the same intervals, and every subgroup is
        measured on the same resamples.

    Returns
    -------
    pandas.DataFrame
        One row per subgroup: ``scope`` (``"overall"``, ``"unitary"`` or ``"intersection"``),
        ``attributes`` (e.g. ``"gender"``, ``"gender & age"``; ``"all"`` for the whole set),
        ``group`` (e.g. ``"male"``, ``"male & young"``; ``"all"``), ``count`` (int), then
        ``error``, ``fpr``, ``fnr``, ``ppv`` (in ``[0, 1]``, NaN where undefined: see the module
        conventions), each followed by ``<metric>_low`` and ``<metric>_high`` when ``n_boot`` is
        given. An empty intersection has ``count`` 0 and NaN metrics. ``attrs`` holds
        ``pos_label``, ``n_boot``, ``ci`` and ``seed``.

    Notes
    -----
    The bootstrap follows fairlearn's definition: the whole set is resampled with replacement
    ``n_boot`` times (not within each group, so a group's size varies between resamples and a
    small group may be missing from some), every metric is recomputed on each resample, and the
    interval is taken over the resamples in which the metric is defined. It is NaN when it is
    defined in none. The resamples are drawn and evaluated here, all at once (fairlearn's
    ``MetricFrame`` bootstrap rebuilds every frame per resample: minutes for 500 resamples).

    Examples
    --------
    >>> groups = pd.DataFrame({"gender": ["f", "f", "m", "m"], "age": ["old", "young", "old", "old"]})
    >>> table = subgroup_metrics(y_true=[1, 0, 1, 0], y_pred=[1, 1, 0, 0], groups=groups)
    >>> table["group"].tolist()
    ['all', 'f', 'm', 'old', 'young', 'f & old', 'f & young', 'm & old', 'm & young']
    >>> table["count"].tolist()
    [4, 2, 2, 3, 1, 1, 1, 2, 0]
    """
    _check_bootstrap(n_boot, ci, seed)
    y_true, y_pred = binary_labels(y_true, y_pred, pos_label)
    names, levels, codes = _attributes(groups, len(y_true))
    table = _table(y_true, y_pred, names, levels, codes, n_boot, ci, seed)
    table.attrs.update(pos_label=pos_label, n_boot=n_boot, ci=ci, seed=seed)
    return table


def member_subgroup_metrics(*, y_true: Any, preds: Any, groups: pd.DataFrame, pos_label: Any = 1) -> pd.DataFrame:
    """:func:`subgroup_metrics` of every member of a population, as one long table.

    Parameters
    ----------
    y_true : array-like
        Shape ``(N,)``. True labels.
    preds : array-like
        Shape ``(K, N)``. Labels predicted by the ``K`` members of one population (e.g. ``K`` seeds of the dense
        model, or of one compression level).
    groups : pandas.DataFrame
        ``N`` rows. Protected attributes, as in :func:`subgroup_metrics`.
    pos_label : scalar
        The positive label.

    Returns
    -------
    pandas.DataFrame
        ``member`` (``0 .. K-1``) followed by the columns of :func:`subgroup_metrics` without
        intervals; ``K`` blocks of identical row order.
    """
    y_true, preds = binary_labels(y_true, preds, pos_label, pred_name="preds")
    if preds.shape[0] == 0:
        raise ValueError(f"preds must have shape (K, N) with K >= 1 models, got {preds.shape}")
    names, levels, codes = _attributes(groups, len(y_true))
    tables = [_table(y_true, member, names, levels, codes) for member in preds]
    table = pd.concat(tables, keys=range(len(tables)), names=["member", None])
    table = table.reset_index(level=0).reset_index(drop=True)
    table.attrs.update(pos_label=pos_label, n_members=len(tables))
    return table


def population_subgroup_metrics(*, y_true: Any, preds: Any, groups: pd.DataFrame, pos_label: Any = 1) -> pd.DataFrame:
    """Mean and standard deviation of every subgroup metric over the members of a population.

    Seeds alone move a model's subgroup error rates; the spread across a population of ``K``
    models trained alike is the yardstick for the changes that compression causes
    (Hooker et al. 2020 compare populations, not single models).

    Parameters
    ----------
    y_true, preds, groups, pos_label
        As in :func:`member_subgroup_metrics`: true labels ``(N,)``, the predictions ``(K, N)``
        of the ``K`` members, the protected attributes and the positive label.

    Returns
    -------
    pandas.DataFrame
        One row per subgroup, in the order of :func:`subgroup_metrics`: ``scope``,
        ``attributes``, ``group``, ``count``, then for each metric its mean over the members
        (``error``, ``fpr``, ``fnr``, ``ppv``) and standard deviation (``error_sd``, ...,
        ``ddof=1``, NaN for ``K = 1``). Both are taken over the members on which the metric is
        defined: ``error``, ``fpr`` and ``fnr`` depend on the group only, but ``ppv`` is
        undefined for a member that predicts no positive in the group. ``attrs`` holds
        ``pos_label`` and ``n_members`` (``K``). The per-member values are
        :func:`member_subgroup_metrics`.

    Examples
    --------
    Percent change of every metric from a dense to a pruned population, per subgroup::

        keys, metrics = list(KEYS), list(METRICS)
        dense = population_subgroup_metrics(y_true=y, preds=dense_preds, groups=groups)
        pruned = population_subgroup_metrics(y_true=y, preds=pruned_preds, groups=groups)
        change = relative_change(baseline=dense.set_index(keys)[metrics], compressed=pruned.set_index(keys)[metrics])
    """
    long = member_subgroup_metrics(y_true=y_true, preds=preds, groups=groups, pos_label=pos_label)
    by_subgroup = over_members(long.set_index(["member", *KEYS]), METRICS)
    means, sds = by_subgroup.mean(), by_subgroup.std(ddof=1)
    table = long[long["member"] == 0][[*KEYS, "count"]].reset_index(drop=True)
    for metric in METRICS:
        table[metric] = means[metric].to_numpy()
        table[f"{metric}_sd"] = sds[metric].to_numpy()
    table.attrs.update(pos_label=pos_label, n_members=long.attrs["n_members"])
    return table


def subgroup_masks(groups: pd.DataFrame) -> pd.DataFrame:
    """Which examples belong to each subgroup, in the row order of :func:`subgroup_metrics`.

    Parameters
    ----------
    groups : pandas.DataFrame
        ``N`` rows, one column per protected attribute (as in :func:`subgroup_metrics`).

    Returns
    -------
    pandas.DataFrame
        Shape ``(N, G)``, bool: one column per subgroup, named by its ``group`` label (``"all"``,
        ``"male"``, ``"male & young"``, ...), empty intersections included.

    Examples
    --------
    >>> masks = subgroup_masks(pd.DataFrame({"gender": ["f", "m", "m"]}))
    >>> masks.columns.tolist(), masks["m"].tolist()
    (['all', 'f', 'm'], [False, True, True])
    """
    n = len(groups) if isinstance(groups, (pd.DataFrame, pd.Series)) else 0
    return pd.DataFrame(_masks(*_attributes(groups, n), n))


def _masks(names: list[str], levels: list[list], codes: pd.DataFrame, n: int) -> dict[str, np.ndarray]:
    """``{group label: (N,) bool}`` of every subgroup, in the row order of :func:`subgroup_metrics`."""
    columns = {OVERALL: np.ones(n, dtype=bool)}
    for order in range(1, len(names) + 1):
        for subset in itertools.combinations(range(len(names)), order):
            for cell in itertools.product(*(range(len(levels[i])) for i in subset)):
                label = " & ".join(str(levels[i][code]) for i, code in zip(subset, cell))
                columns[label] = np.logical_and.reduce([codes[f"a{i}"].to_numpy() == code
                                                        for i, code in zip(subset, cell)])
    return columns


RATES = ("error", "fpr", "fnr")
"""The metrics :func:`member_rates` computes: the rates whose denominators depend on the group only."""


def member_rates(*, y_true: Any, preds: Any, groups: pd.DataFrame, metric: str = "error", pos_label: Any = 1,
                 weights: np.ndarray | None = None) -> np.ndarray:
    """One rate of every member on every subgroup, in one pass of array arithmetic.

    The fast path behind resampling and permutation tests, which need the subgroup metrics of
    many populations: :func:`member_subgroup_metrics` builds a table per member, this builds an
    array.

    Parameters
    ----------
    y_true : array-like
        Shape ``(N,)``. True labels.
    preds : array-like
        Shape ``(K, N)``. Labels predicted by the ``K`` members.
    groups : pandas.DataFrame
        ``N`` rows of protected attributes; the subgroups are the columns of :func:`subgroup_masks`.
    metric : {"error", "fpr", "fnr"}
        The rate, as defined in the module docstring.
    pos_label : scalar
        The positive label.
    weights : numpy.ndarray, optional
        Shape ``(B, N)``. Example weights (e.g. bootstrap counts, :func:`~course_lib.analysis.bootstrap.resample_counts`), one
        row per resample.

    Returns
    -------
    numpy.ndarray
        Shape ``(K, G)``, or ``(B, K, G)`` with ``weights``: the rate in ``[0, 1]``, NaN where its
        denominator is 0.
    """
    if metric not in RATES:
        raise ValueError(f"metric must be one of {list(RATES)}, got {metric!r}")
    y, labels = binary_labels(y_true, preds, pos_label, pred_name="preds")
    masks = subgroup_masks(groups).to_numpy()
    if len(masks) != len(y):
        raise ValueError(f"groups must have one row per example ({len(y)}), got {len(masks)}")
    positive = y == 1
    if metric == "error":
        hits, eligible = labels != y, np.ones_like(positive)
    elif metric == "fpr":
        hits, eligible = (labels == 1) & ~positive, ~positive
    else:
        hits, eligible = (labels == 0) & positive, positive
    w = np.ones((1, len(y))) if weights is None else np.asarray(weights, dtype=float)
    if w.ndim != 2 or w.shape[1] != len(y):
        raise ValueError(f"weights must have shape (B, N={len(y)}), got {w.shape}")
    within = w[:, :, None] * (masks & eligible[:, None])[None]  # (B, N, G)
    with np.errstate(invalid="ignore", divide="ignore"):
        rates = np.einsum("kn,bng->bkg", hits.astype(float), within) / within.sum(1)[:, None, :]
    return rates[0] if weights is None else rates


def over_members(table: pd.DataFrame, metrics: Sequence[str]) -> DataFrameGroupBy:
    """``table`` (indexed by ``member`` and :data:`KEYS`) grouped by subgroup, in row order."""
    return table[list(metrics)].groupby(level=list(KEYS), sort=False)


__all__ = ["KEYS", "METRICS", "OVERALL", "RATES", "binary_labels", "member_rates", "member_subgroup_metrics",
           "population_subgroup_metrics", "subgroup_masks", "subgroup_metrics"]
