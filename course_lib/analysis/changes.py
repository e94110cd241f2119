"""How much did compression change each subgroup? Relative changes, their seed spread, CEV and SDE.

Hooker et al. ("Characterising bias in compressed models", arXiv:2010.03058, 2020, Table 3)
compare each compressed population with the dense one by the *relative change* (their
*normalised difference*) of every subgroup metric; Blakeney et al. ("Simon Says", arXiv:2106.07849,
2021) condense the per-class changes of FPR and FNR into two numbers, CEV and SDE. The
subgroup tables compared here come from :mod:`course_lib.analysis.subgroups`.

Conventions
-----------
* Relative changes are in percent, ``100 * (compressed - baseline) / baseline``; a zero
  baseline gives NaN *and* a warning that names the cells (:func:`relative_change`).
* Every comparison takes ``baseline=`` and ``compressed=`` by keyword, in that order.
* CEV and SDE follow the authors' notebook (halved CEV, SDE divided by ``sqrt(2)``); see
  :func:`cev` and :func:`sde`.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from ..core.validation import check_bool, check_labels, check_option
from .bootstrap import bootstrap_settings, percentile_interval, resample_counts, resample_members
from .subgroups import RATES, member_rates, population_subgroup_metrics, subgroup_masks

ZERO_BASELINE_POLICIES = ("raise", "drop")


# --------------------------------------------------------------------------- relative change

def _positions_text(positions: list, limit: int = 10) -> str:
    shown = ", ".join(repr(p) for p in positions[:limit])
    return f"[{shown}{', ...' if len(positions) > limit else ''}]"


def _like(value: Any, template: pd.Series | pd.DataFrame, name: str) -> pd.Series | pd.DataFrame:
    """``value`` (a scalar or array) broadcast to the shape and labels of ``template``."""
    if isinstance(template, pd.DataFrame):
        return pd.DataFrame(np.broadcast_to(np.asarray(value, dtype=float), template.shape),
                            index=template.index, columns=template.columns)
    array = np.asarray(value, dtype=float)
    if array.ndim > 1:
        raise ValueError(f"{name} must be a scalar or one-dimensional to go with a Series, got shape {array.shape}")
    return pd.Series(np.broadcast_to(array, template.shape), index=template.index)


def _numeric(obj: pd.Series | pd.DataFrame, name: str) -> pd.Series | pd.DataFrame:
    if isinstance(obj, pd.DataFrame):
        bad = [column for column in obj.columns if not pd.api.types.is_numeric_dtype(obj[column])]
        if bad:
            raise ValueError(f"{name} must hold numbers only, got non-numeric columns {bad}; "
                             "select the metric columns first, e.g. table[list(METRICS)]")
    elif not pd.api.types.is_numeric_dtype(obj):
        raise ValueError(f"{name} must hold numbers only, got dtype {obj.dtype}")
    return obj.astype(float)


def relative_change(*, baseline: Any, compressed: Any) -> Any:
    """Percent change from a baseline: ``100 * (compressed - baseline) / baseline``.

    The *normalised difference* of Hooker et al. 2020, Table 3: a metric that goes from 0.2 in
    the dense population to 0.3 in the compressed one has a relative change of +50.

    Parameters
    ----------
    baseline, compressed : scalar, array-like, pandas.Series or pandas.DataFrame
        Values before and after compression. Two pandas objects of the same kind are aligned on
        their labels (index, and columns for DataFrames; a label missing on one side gives NaN);
        a scalar or array is broadcast against the other operand.

    Returns
    -------
    float, numpy.ndarray, pandas.Series or pandas.DataFrame
        The relative change in percent, of the kind of the inputs (pandas if either is).

    Warns
    -----
    UserWarning
        Where ``baseline`` is 0 the relative change is undefined: the result is **NaN** there
        (never ``inf``, also when ``compressed`` is 0 too), a warning names the positions, and
        a pandas result lists them in ``result.attrs["zero_baseline"]``: index labels for a
        Series, ``(index label, column)`` pairs for a DataFrame (an empty list when there are
        none). NaN inputs give NaN silently.

    Examples
    --------
    >>> round(relative_change(baseline=0.2, compressed=0.3), 9)
    50.0
    >>> relative_change(baseline=pd.Series({"f": 0.1, "m": 0.2}), compressed=pd.Series({"f": 0.05, "m": 0.3})).round(6).tolist()
    [-50.0, 50.0]
    """
    pandas_types = (pd.Series, pd.DataFrame)
    if isinstance(compressed, pandas_types) or isinstance(baseline, pandas_types):
        if isinstance(compressed, pandas_types) and isinstance(baseline, pandas_types):
            if type(compressed) is not type(baseline):
                raise ValueError("compressed and baseline must both be Series or both be DataFrames, got "
                                 f"{type(compressed).__name__} and {type(baseline).__name__}")
            compressed, baseline = _numeric(compressed, "compressed"), _numeric(baseline, "baseline")
            compressed, baseline = compressed.align(baseline, join="outer")
        elif isinstance(compressed, pandas_types):
            compressed = _numeric(compressed, "compressed")
            baseline = _like(baseline, compressed, "baseline")
        else:
            baseline = _numeric(baseline, "baseline")
            compressed = _like(compressed, baseline, "compressed")
        zero = (baseline == 0).to_numpy()
        result = 100 * (compressed - baseline) / baseline.where(~zero)
        if isinstance(result, pd.DataFrame):
            rows, columns = np.nonzero(zero)
            positions = [(result.index[r], result.columns[c]) for r, c in zip(rows, columns)]
        else:
            positions = list(result.index[zero])
        result.attrs["zero_baseline"] = positions
    else:
        compressed, baseline = np.broadcast_arrays(np.asarray(compressed, dtype=float),
                                                   np.asarray(baseline, dtype=float))
        zero = baseline == 0
        with np.errstate(divide="ignore", invalid="ignore"):
            result = np.where(zero, np.nan, 100 * (compressed - baseline) / np.where(zero, 1.0, baseline))
        positions = [tuple(int(i) for i in p) for p in np.argwhere(zero)] if result.ndim else ([()] if zero else [])
        if result.ndim == 0:
            result = float(result)
    if positions:
        warnings.warn(f"relative_change: baseline is 0 at {len(positions)} position(s) {_positions_text(positions)}; "
                      "the relative change is undefined there and set to NaN "
                      "(pandas results list the positions in result.attrs['zero_baseline'])",
                      UserWarning, stacklevel=2)
    return result


def _quiet_relative_change(*, baseline: np.ndarray, compressed: np.ndarray) -> np.ndarray:
    """:func:`relative_change` of arrays without its zero-baseline warning (resampling loops expect NaNs there)."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="relative_change: baseline is 0", category=UserWarning)
        return relative_change(baseline=baseline, compressed=compressed)


# --------------------------------------------------------------------------- Table 3 and CEV/SDE

def bootstrap_relative_change(*, y_true: Any, baseline: Any, compressed: Any, groups: pd.DataFrame,
                              metrics: tuple[str, ...] = ("error", "fpr", "fnr"), pos_label: Any = 1,
                              paired: bool = False, n_boot: int = 2000, ci: float = 0.95, seed: int = 0) -> pd.DataFrame:
    """Table 3's normalised difference of every subgroup, with a bootstrap interval.

    Hooker et al. (2020, Table 3) report ``100 * (compressed - baseline) / baseline`` of each
    metric averaged over the members of each population. Two sources of chance move that
    number: which models were trained (the seeds) and which examples were tested. The interval
    resamples both: every resample draws the test examples with replacement (the same draw for
    both populations, which are tested on the same examples) and, independently, the members of
    each population with replacement (populations trained from disjoint seeds, as in the paper),
    or, with ``paired=True``, the pairs of members (member ``k`` of ``compressed`` made from
    member ``k`` of ``baseline``: the same draw for both).

    Parameters
    ----------
    y_true : array-like
        Shape ``(N,)``. True labels (``pos_label`` and one other).
    baseline, compressed : array-like
        Shape ``(K, N)`` and ``(K', N)``. Labels predicted by the two populations.
    groups : pandas.DataFrame
        ``N`` rows of protected attributes (:func:`~course_lib.analysis.subgroups.subgroup_masks`).
    metrics : tuple of str
        Any of ``"error"``, ``"fpr"``, ``"fnr"``.
    pos_label : scalar
        The positive label.
    paired : bool
        Resample pairs of members rather than each population's members on their own (then
        ``K' = K``).
    n_boot : int
        Number of resamples.
    ci : float
        Coverage of the percentile interval, in ``(0, 1)``.
    seed : int
        Seed of the resampling.

    Returns
    -------
    pandas.DataFrame
        Indexed by ``group``: for every metric, ``<metric>`` (the normalised difference of the
        population means, as :func:`relative_change` gives it), ``<metric>_low`` and
        ``<metric>_high`` (the interval, over the resamples in which it is defined; NaN when it
        is defined in none).
    """
    for metric in metrics:
        check_option(metric, "metrics", RATES)
    n_boot, ci, rng = bootstrap_settings(n_boot, ci, seed)
    y = np.asarray(y_true)
    sizes = [len(check_labels(p, name)) for p, name in ((baseline, "baseline"), (compressed, "compressed"))]
    if check_bool(paired, "paired") and sizes[0] != sizes[1]:
        raise ValueError(f"paired=True needs populations of the same size, got {sizes[0]} and {sizes[1]} members")
    labels = subgroup_masks(groups).columns
    draws = [np.ones((1, len(y)))]
    members = [(np.arange(sizes[0])[None], np.arange(sizes[1])[None])]
    for start in range(0, n_boot, 100):  # example weights in chunks of 100 resamples
        size = min(100, n_boot - start)
        draws.append(resample_counts(rng, len(y), size))
        first = resample_members(rng, sizes[0], size)
        members.append((first, first if paired else resample_members(rng, sizes[1], size)))
    table = {}
    for metric in metrics:
        changes = []
        for weights, picks in zip(draws, members):
            means = []
            for preds, pick in zip((baseline, compressed), picks):
                rates = member_rates(y_true=y, preds=preds, groups=groups, metric=metric, pos_label=pos_label,
                                     weights=weights)  # (B, K, G)
                with warnings.catch_warnings():  # a group undefined in a resample: NaN, left out of the interval
                    warnings.simplefilter("ignore", RuntimeWarning)
                    means.append(np.nanmean(np.take_along_axis(rates, pick[:, :, None], 1), 1))
            changes.append(_quiet_relative_change(baseline=means[0], compressed=means[1]))
        changes = np.concatenate(changes)  # (1 + n_boot, G): the observed value first
        low, high = percentile_interval(changes[1:], ci)
        table[metric], table[f"{metric}_low"], table[f"{metric}_high"] = changes[0], low, high
    return pd.DataFrame(table, index=pd.Index(labels, name="group"))


def _rates(rates: dict[str, Any]) -> pd.DataFrame:
    """The four rate vectors side by side, one row per class (or group)."""
    if all(isinstance(value, pd.Series) for value in rates.values()):
        columns = {}
        for name, value in rates.items():
            if not pd.api.types.is_numeric_dtype(value):
                raise ValueError(f"{name} must hold numbers, got dtype {value.dtype}")
            columns[name] = value.astype(float)
        table = pd.concat(columns, axis=1, join="outer")
        for name, value in rates.items():
            missing = table.index.difference(value.index)
            if len(missing):
                raise ValueError(f"{name} has no value for {list(missing)[:10]}, present in the other rates")
        return table
    arrays, index = {}, None
    for name, value in rates.items():
        if isinstance(value, pd.Series) and index is None:
            index = value.index
        array = np.asarray(value, dtype=float)
        if array.ndim != 1 or len(array) == 0:
            raise ValueError(f"{name} must have shape (C,), one rate per class or group, got {array.shape}")
        arrays[name] = array
    lengths = {name: len(array) for name, array in arrays.items()}
    if len(set(lengths.values())) > 1:
        raise ValueError(f"fpr_baseline, fnr_baseline, fpr_compressed and fnr_compressed must have the same "
                         f"length (one rate per class or group), got {lengths}")
    return pd.DataFrame(arrays, index=index)


def fpr_fnr_changes(*, fpr_baseline: Any, fnr_baseline: Any, fpr_compressed: Any, fnr_compressed: Any,
                    zero_baseline: str = "raise") -> pd.DataFrame:
    """Percent changes of the FPR and FNR of every class or group (Blakeney et al. 2021).

    ``dFPR_c = 100 * (FPR_c(compressed) - FPR_c(baseline)) / FPR_c(baseline)``, and ``dFNR_c``
    likewise: the arithmetic of :func:`relative_change`. Each class (or subgroup) is one point
    ``(dFPR_c, dFNR_c)``; an unbiased compression moves every point alike, along the diagonal
    ``dFPR = dFNR``.

    Parameters
    ----------
    fpr_baseline, fnr_baseline, fpr_compressed, fnr_compressed : array-like or pandas.Series
        Shape ``(C,)``. The rates of every class or group (one-vs-rest for a multiclass model), in ``[0, 1]`` or
        in percent (relative changes do not depend on the unit). Series are aligned on their
        index when all four are Series; otherwise values are matched by position.
    zero_baseline : {"raise", "drop"}
        What to do with a class whose baseline FPR or FNR is 0, where the relative change is
        undefined, and with a class with a NaN rate: ``"raise"`` (default) raises a ValueError
        naming the classes; ``"drop"`` leaves those classes out with a UserWarning naming them
        (possibly all of them: the result is then empty, and :func:`cev` and :func:`sde` are NaN).

    Returns
    -------
    pandas.DataFrame
        One row per class (the index of the Series, else ``0 .. C-1``) with columns ``dfpr``
        and ``dfnr``, in percent.
    """
    check_option(zero_baseline, "zero_baseline", ZERO_BASELINE_POLICIES)
    table = _rates({"fpr_baseline": fpr_baseline, "fnr_baseline": fnr_baseline,
                    "fpr_compressed": fpr_compressed, "fnr_compressed": fnr_compressed})
    problems = []
    for name in table.columns:
        nan = table.index[table[name].isna()]
        if len(nan):
            problems.append(f"{name} is NaN for {list(nan)[:10]}")
    for name in ("fpr_baseline", "fnr_baseline"):
        zero = table.index[table[name] == 0]
        if len(zero):
            problems.append(f"{name} is 0 for {list(zero)[:10]}, where the relative change is undefined")
    bad = table.isna().any(axis=1) | (table[["fpr_baseline", "fnr_baseline"]] == 0).any(axis=1)
    if problems:
        message = "; ".join(problems)
        if zero_baseline == "raise":
            raise ValueError(f"{message}. Leave these classes out, or pass zero_baseline='drop'")
        warnings.warn(f"fpr_fnr_changes: dropping {int(bad.sum())} class(es): {message}", UserWarning, stacklevel=3)
        table = table[~bad]
    return pd.DataFrame({  # no zero baseline is left, so relative_change has nothing to warn about
        "dfpr": relative_change(baseline=table["fpr_baseline"], compressed=table["fpr_compressed"]),
        "dfnr": relative_change(baseline=table["fnr_baseline"], compressed=table["fnr_compressed"]),
    }, index=table.index)


def _points(fpr_baseline: Any, fnr_baseline: Any, fpr_compressed: Any, fnr_compressed: Any,
            zero_baseline: str) -> np.ndarray:
    """The ``(C, 2)`` points ``(dFPR, dFNR)`` of :func:`fpr_fnr_changes`, as an array."""
    return fpr_fnr_changes(fpr_baseline=fpr_baseline, fnr_baseline=fnr_baseline, fpr_compressed=fpr_compressed,
                           fnr_compressed=fnr_compressed, zero_baseline=zero_baseline).to_numpy()


def cev(*, fpr_baseline: Any, fnr_baseline: Any, fpr_compressed: Any, fnr_compressed: Any,
        zero_baseline: str = "raise") -> float:
    """Combined Error Variance of Blakeney et al. 2021: how unevenly compression moved the classes.

    With the points ``p_c = (dFPR_c, dFNR_c)`` of :func:`fpr_fnr_changes` (percent), ``C``
    classes and their centroid ``m``,

    .. math::

        \\mathrm{CEV} = \\frac{1}{2C} \\sum_{c=1}^{C} \\lVert p_c - m \\rVert^2
        = \\frac{\\operatorname{var}(dFPR) + \\operatorname{var}(dFNR)}{2},

    with population variances (``ddof=0``). **Convention**: this halves the mean squared
    distance to the centroid, as the authors' notebook does; other implementations report the
    mean squared distance itself (twice this value). CEV is 0 when every class moved alike
    (all points coincide), wherever that point lies; its unit is percent squared.

    Parameters
    ----------
    fpr_baseline, fnr_baseline, fpr_compressed, fnr_compressed, zero_baseline
        As in :func:`fpr_fnr_changes` (a zero baseline rate raises by default).

    Returns
    -------
    float
    """
    points = _points(fpr_baseline, fnr_baseline, fpr_compressed, fnr_compressed, zero_baseline)
    if not len(points):
        return float("nan")
    return float(np.mean(np.sum((points - points.mean(axis=0)) ** 2, axis=1)) / 2)


def sde(*, fpr_baseline: Any, fnr_baseline: Any, fpr_compressed: Any, fnr_compressed: Any,
        zero_baseline: str = "raise") -> float:
    """Symmetric Distance Error of Blakeney et al. 2021: how far compression tilted FPR against FNR.

    With the points ``p_c = (dFPR_c, dFNR_c)`` of :func:`fpr_fnr_changes` (percent) and ``C``
    classes,

    .. math:: \\mathrm{SDE} = \\frac{1}{C} \\sum_{c=1}^{C} \\frac{\\lvert dFPR_c - dFNR_c \\rvert}{\\sqrt 2},

    the mean Euclidean distance of the points to the diagonal ``dFPR = dFNR``. **Convention**:
    the division by ``sqrt(2)`` follows the authors' notebook (it makes the value a true
    distance to the line); other implementations report the mean ``|dFPR - dFNR|`` itself
    (``sqrt(2)`` times this value). SDE is 0 when every point lies on the diagonal, i.e. when
    each class's false positives and false negatives changed by the same percentage. Its
    arguments are those of :func:`cev`; it is NaN when no class is left to measure.
    """
    points = _points(fpr_baseline, fnr_baseline, fpr_compressed, fnr_compressed, zero_baseline)
    if not len(points):
        return float("nan")
    return float(np.mean(np.abs(points[:, 0] - points[:, 1])) / math.sqrt(2))


def cev_sde(*, baseline: pd.DataFrame, compressed: pd.DataFrame, groups: Sequence[str],
            zero_baseline: str = "drop") -> dict[str, float]:
    """CEV and SDE of some subgroups, from the subgroup tables of two populations.

    Parameters
    ----------
    baseline, compressed : pandas.DataFrame
        :func:`~course_lib.analysis.subgroups.population_subgroup_metrics` of the two
        populations (mean ``fpr`` and ``fnr`` of every subgroup).
    groups : sequence of str
        The ``group`` labels to compare, e.g. the four gender-age intersections.
    zero_baseline : {"raise", "drop"}
        As in :func:`fpr_fnr_changes`; by default a group with a zero baseline rate is named in
        a warning and left out.

    Returns
    -------
    dict
        ``{"CEV": ..., "SDE": ...}`` (:func:`cev`, :func:`sde`).
    """
    if isinstance(groups, str):
        raise TypeError(f"groups must be a sequence of group labels, got the string {groups!r}")
    groups = list(groups)
    tables = {}
    for name, table in (("baseline", baseline), ("compressed", compressed)):
        indexed = table.set_index("group")
        missing = [group for group in groups if group not in indexed.index]
        if missing:
            raise ValueError(f"{name} must have a row for every group of groups, missing {missing}")
        tables[name] = indexed.loc[groups]
    rates = dict(fpr_baseline=tables["baseline"].fpr, fnr_baseline=tables["baseline"].fnr,
                 fpr_compressed=tables["compressed"].fpr, fnr_compressed=tables["compressed"].fnr,
                 zero_baseline=zero_baseline)
    return {"CEV": cev(**rates), "SDE": sde(**rates)}


def unevenness(baseline: Any, compressed: Any, *, columns: Sequence[str], groups: Sequence[str]) -> float:
    """How unevenly two populations differ across groups: the largest distance of a group's change from the whole's.

    .. math:: U = \\max_{g} \\left| \\Delta_g - \\Delta_{\\text{all}} \\right|, \\qquad
              \\Delta_g = 100 \\, \\frac{\\bar r_g^{\\text{comp}} - \\bar r_g^{\\text{base}}}{\\bar r_g^{\\text{base}}},

    with :math:`\\bar r_g` a rate averaged over the members: Table 3's normalised differences,
    and how far the most affected group strays from the aggregate. Paired with
    :func:`~course_lib.analysis.noise.control_test`, it asks whether compression moves the groups
    more unevenly than a change of seeds does, instead of reading "the largest of eight noisy
    changes is k times the aggregate" as a finding.

    Parameters
    ----------
    baseline, compressed : array-like
        Shape ``(K, G)`` and ``(K', G)``: a rate of every member on every subgroup
        (:func:`~course_lib.analysis.subgroups.member_rates`).
    columns : sequence of str
        The ``G`` subgroup labels, in column order; must include ``"all"``.
    groups : sequence of str
        The groups to compare with ``"all"``; groups with an undefined change are left out.

    Returns
    -------
    float
        ``U`` in percentage points of relative change; NaN if no group's change is defined.
    """
    base, comp = np.asarray(baseline, dtype=float), np.asarray(compressed, dtype=float)
    columns = list(columns)
    if base.ndim != 2 or comp.ndim != 2 or base.shape[1] != len(columns) or comp.shape[1] != len(columns):
        raise ValueError(f"baseline and compressed must have shape (K, G={len(columns)}), one column per label, "
                         f"got {base.shape} and {comp.shape}")
    missing = [g for g in ("all", *groups) if g not in columns]
    if missing:
        raise ValueError(f"columns must include 'all' and every group, missing {missing}")
    change = _quiet_relative_change(baseline=base.mean(0), compressed=comp.mean(0))
    distances = np.abs(change[[columns.index(g) for g in groups]] - change[columns.index("all")])
    return float(np.nanmax(distances)) if not np.isnan(distances).all() else float("nan")


def change_table(*, y_true: Any, baseline: Any, compressed: Any, groups: pd.DataFrame, metric: str = "error",
                 **kwargs: Any) -> pd.DataFrame:
    """One metric of every subgroup before and after compression, with Table 3's normalised difference.

    Parameters
    ----------
    y_true, baseline, compressed, groups
        As for :func:`bootstrap_relative_change`: true labels ``(N,)``, the two populations'
        labels ``(K, N)`` and ``(K', N)``, the protected attributes.
    metric : str
        ``"error"``, ``"fpr"`` or ``"fnr"``.
    **kwargs
        ``pos_label``, ``paired``, ``n_boot``, ``ci``, ``seed`` of :func:`bootstrap_relative_change`.

    Returns
    -------
    pandas.DataFrame
        Indexed by ``group``: ``count``, ``baseline <metric> (%)`` and ``compressed <metric> (%)``
        (the population means, in percent), ``normalised difference`` and its interval ``low``
        and ``high``.
    """
    check_option(metric, "metric", RATES)
    nd = bootstrap_relative_change(y_true=y_true, baseline=baseline, compressed=compressed, groups=groups,
                                   metrics=(metric,), **kwargs)
    pos_label = kwargs.get("pos_label", 1)
    means = [population_subgroup_metrics(y_true=y_true, preds=preds, groups=groups, pos_label=pos_label)
             .set_index("group") for preds in (baseline, compressed)]
    return pd.DataFrame({"count": means[0]["count"], f"baseline {metric} (%)": 100 * means[0][metric],
                         f"compressed {metric} (%)": 100 * means[1][metric], "normalised difference": nd[metric],
                         "low": nd[f"{metric}_low"], "high": nd[f"{metric}_high"]})


__all__ = ["ZERO_BASELINE_POLICIES", "bootstrap_relative_change", "cev", "cev_sde", "change_table", "fpr_fnr_changes",
           "relative_change", "sde", "unevenness"]
