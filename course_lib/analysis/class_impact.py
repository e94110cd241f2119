"""Which classes does compression hurt more than it hurts the model as a whole?

Hooker et al., "What do compressed deep neural networks forget?" (arXiv:1911.05248, v3),
Section 3.1. For every model ``m`` of a population and every class ``c`` the *normalised
recall* is

.. math:: r_c(m) - \\bar a,

the recall of class ``c`` minus the mean top-1 accuracy :math:`\\bar a` of the population ``m``
belongs to. Subtracting the population's overall accuracy asks whether a class changes *more
than the model does*: under the null hypothesis a class loses exactly what top-1 loses. The
dense and the compressed population's normalised recalls of a class are compared with Welch's
two-sided t-test (unequal variances), as in the paper's code, which fits populations trained
independently (the paper's design, and the course's); for members that are paired (int8 copies
of the dense members) the paired t-test fits instead. A class is *significantly impacted* when
the p-value falls below the significance level, optionally after the Benjamini-Hochberg
correction for testing every class at once (our addition; the paper does not correct).
:func:`impact_counts` sets each count beside a control population's
(:mod:`~course_lib.analysis.noise`).
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd
import torch
from scipy import stats as _scipy_stats

from ..core.validation import check_bool, check_labels, check_mapping, check_option, check_real
from ..training import accuracy, recall_per_class
from .noise import control_test

ArrayLike = np.ndarray | torch.Tensor
CORRECTIONS = (None, "bh")


def normalized_recall(preds: ArrayLike, targets: ArrayLike, num_classes: int) -> np.ndarray:
    """Per-class recall of every member minus the population's mean top-1 accuracy.

    Parameters
    ----------
    preds : array-like
        Shape ``(K, N)``. Labels predicted by the ``K`` members of one population.
    targets : array-like
        Shape ``(N,)``. True labels.
    num_classes : int
        Number of classes ``C``.

    Returns
    -------
    numpy.ndarray
        Shape ``(K, C)``. ``recall[k, c] - mean_k(top1[k])``; NaN for a class absent from ``targets``.
    """
    preds = check_labels(preds, "preds")
    targets = check_labels(targets, "targets", ndim=1, n=preds.shape[1])
    return recall_per_class(preds, targets, num_classes) - accuracy(preds, targets).mean()


def welch_t_test(a: ArrayLike, b: ArrayLike) -> tuple[np.ndarray, np.ndarray]:
    """Welch's two-sided t-tests of equal means, column by column (:func:`scipy.stats.ttest_ind`).

    .. math::

        t = \\frac{\\bar a - \\bar b}{\\sqrt{s_a^2/n_a + s_b^2/n_b}}, \\qquad
        \\nu = \\frac{(s_a^2/n_a + s_b^2/n_b)^2}{\\frac{(s_a^2/n_a)^2}{n_a - 1} + \\frac{(s_b^2/n_b)^2}{n_b - 1}}

    with sample variances :math:`s^2` (``ddof=1``) and the p-value ``2 * P(T_nu > |t|)``.

    Parameters
    ----------
    a, b : array-like
        Shape ``(n_a, m)`` and ``(n_b, m)``: ``m`` pairs of samples (one column each), at least
        two values per sample; one-dimensional inputs are a single pair.

    Returns
    -------
    tuple of numpy.ndarray
        ``t`` (positive where ``a`` has the larger mean, scipy's sign convention) and the
        two-sided ``p``, shape ``(m,)`` (scalars for one-dimensional inputs). Both are NaN where
        both samples are constant: there is no variance to test against (scipy would report an
        infinite t and ``p = 0``).

    Notes
    -----
    scipy sums in another order than the formula above written out column by column, so its
    values can differ from such a loop in the last digits (about ``1e-13`` relative with 30
    members); a class whose ``p`` lies that close to ``alpha`` is undecided either way.
    """
    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    for name, x in (("a", a), ("b", b)):
        if x.ndim not in (1, 2) or len(x) < 2:
            raise ValueError(f"{name} must have shape (n,) or (n, m) with n >= 2 values per sample, got {x.shape}")
    if a.shape[1:] != b.shape[1:]:
        raise ValueError(f"a and b must have the same number of columns, got shapes {a.shape} and {b.shape}")
    with warnings.catch_warnings():  # scipy's warning about constant samples: handled below
        warnings.simplefilter("ignore", RuntimeWarning)
        result = _scipy_stats.ttest_ind(a, b, axis=0, equal_var=False)
    constant = a.var(axis=0, ddof=1) / len(a) + b.var(axis=0, ddof=1) / len(b) == 0
    t = np.where(constant, np.nan, result.statistic)
    p = np.where(constant, np.nan, result.pvalue)
    return (t, p) if a.ndim == 2 else (float(t), float(p))


def paired_t_test(a: ArrayLike, b: ArrayLike) -> tuple[np.ndarray, np.ndarray]:
    """Paired two-sided t-tests of equal means, column by column (:func:`scipy.stats.ttest_rel`).

    .. math:: t = \\frac{\\bar d}{s_d / \\sqrt{n}}, \\qquad d_i = a_i - b_i, \\qquad \\nu = n - 1,

    for samples whose rows are paired: member ``i`` of a compressed population made from member
    ``i`` of the dense one (the int8 weights of the same network).

    Parameters
    ----------
    a, b : array-like
        Shape ``(n, m)`` each, ``n >= 2`` pairs per column; one-dimensional inputs are one column.

    Returns
    -------
    tuple of numpy.ndarray
        ``t`` (positive where ``a`` has the larger mean) and the two-sided ``p``, shape ``(m,)``
        (scalars for one-dimensional inputs); NaN where the differences are constant.
    """
    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    if a.ndim not in (1, 2) or len(a) < 2:
        raise ValueError(f"a must have shape (n,) or (n, m) with n >= 2 pairs, got {a.shape}")
    if a.shape != b.shape:
        raise ValueError(f"a and b must have the same shape (paired rows), got {a.shape} and {b.shape}")
    with warnings.catch_warnings():  # scipy's warning about constant differences: handled below
        warnings.simplefilter("ignore", RuntimeWarning)
        result = _scipy_stats.ttest_rel(a, b, axis=0)
    constant = (a - b).var(axis=0, ddof=1) == 0
    t = np.where(constant, np.nan, result.statistic)
    p = np.where(constant, np.nan, result.pvalue)
    return (t, p) if a.ndim == 2 else (float(t), float(p))


def class_impact(*, baseline: ArrayLike, compressed: ArrayLike, targets: ArrayLike,
                 classes: Sequence[str] | None = None, alpha: float = 0.05,
                 correction: str | None = None, paired: bool = False) -> pd.DataFrame:
    """Per-class t-tests between a dense and a compressed population (Hooker et al. 2019).

    Parameters
    ----------
    baseline : array-like
        Shape ``(K, N)``. Labels predicted by the dense population on the test set.
    compressed : array-like
        Shape ``(K', N)``. Labels predicted by the compressed population on the same examples.
    targets : array-like
        Shape ``(N,)``. True labels.
    classes : sequence of str, optional
        Class names (the index of the result); default ``0 .. C-1`` with ``C = max label + 1``.
    alpha : float
        Significance level, in ``(0, 1)``.
    correction : {None, "bh"}
        ``"bh"`` applies the Benjamini-Hochberg false-discovery-rate correction across classes
        before comparing with ``alpha`` (:func:`scipy.stats.false_discovery_control`).
    paired : bool
        ``False`` (independent populations, as the paper trains them): Welch's test,
        :func:`welch_t_test`. ``True``: member ``k`` of ``compressed`` is paired with member
        ``k`` of ``baseline`` (same size ``K``): the paired test, :func:`paired_t_test`.

    Returns
    -------
    pandas.DataFrame
        One row per class: ``baseline`` and ``compressed`` (mean normalised recall of each
        population, :func:`normalized_recall`), ``change`` (compressed minus baseline: negative
        means the class lost more than top-1 did), ``t`` (positive when the
        class gained), ``p``, ``p_adjusted`` (equal to ``p``
        without correction) and ``significant`` (``p_adjusted < alpha``; never for a NaN p).
        ``attrs`` holds ``alpha``, ``correction``, ``paired`` and ``n_significant``.
    """
    check_bool(paired, "paired")
    alpha = check_real(alpha, "alpha", low=0.0, high=1.0, closed="neither")
    check_option(correction, "correction", CORRECTIONS)
    base, comp = check_labels(baseline, "baseline"), check_labels(compressed, "compressed")
    targets = check_labels(targets, "targets", ndim=1, n=base.shape[1])
    if comp.shape[1] != base.shape[1]:
        raise ValueError(f"compressed must have shape (K, N={base.shape[1]}), like baseline, got {comp.shape}")
    if classes is not None and len(classes) == 0:
        raise ValueError("classes must name at least one class, got none")
    num_classes = len(classes) if classes is not None else int(max(targets.max(), base.max(), comp.max())) + 1
    names = list(classes) if classes is not None else list(range(num_classes))
    r_base = normalized_recall(base, targets, num_classes)
    r_comp = normalized_recall(comp, targets, num_classes)
    if paired and r_comp.shape != r_base.shape:
        raise ValueError(f"paired=True needs populations of the same size, got {len(r_base)} and {len(r_comp)} members")
    t, p = paired_t_test(r_comp, r_base) if paired else welch_t_test(r_comp, r_base)
    table = pd.DataFrame({
        "baseline": r_base.mean(axis=0),
        "compressed": r_comp.mean(axis=0),
        "t": t,
        "p": p,
    }, index=pd.Index(names, name="class"))
    table.insert(2, "change", table["compressed"] - table["baseline"])
    table["p_adjusted"] = table["p"]
    tested = table["p"].notna()
    if correction == "bh" and tested.any():
        table.loc[tested, "p_adjusted"] = _scipy_stats.false_discovery_control(table.loc[tested, "p"])
    table["significant"] = (table["p_adjusted"] < alpha).fillna(False).astype(bool)
    table.attrs.update(alpha=alpha, correction=correction, paired=paired, n_significant=int(table["significant"].sum()))
    return table


def impact_counts(*, baseline: ArrayLike, compressed: Mapping[object, ArrayLike], targets: ArrayLike,
                  control: ArrayLike | None = None, n_resamples: int = 10_000, seed: int = 0,
                  **kwargs) -> pd.DataFrame:
    """The number of significantly impacted classes at every compression level.

    Parameters
    ----------
    baseline : array-like
        Shape ``(K, N)``. Labels predicted by the dense population.
    compressed : mapping
        Shape ``(K', N)``. Labels predicted by each compressed population, by level.
    targets : array-like
        Shape ``(N,)``. True labels.
    control : array-like, optional
        Shape ``(K_0, N)``. Labels predicted by a control population (dense, other seeds): its
        count of "impacted" classes is what seeds alone produce, and
        :func:`~course_lib.analysis.noise.control_test` tests each level's count against it.
    n_resamples, seed
        As for :func:`~course_lib.analysis.noise.control_test`.
    **kwargs
        ``classes``, ``alpha``, ``correction``, ``paired`` of :func:`class_impact`.

    Returns
    -------
    pandas.DataFrame
        One row per level: ``impacted`` (significant classes), ``hurt`` and ``helped`` (those
        whose normalised recall fell or rose), ``mean loss of hurt`` and ``mean gain of helped``
        (mean ``|change|`` of each set, NaN when empty); with ``control``, also ``noise
        impacted`` (the control's count), ``p vs noise`` (one-sided permutation p-value) and
        ``p vs noise, adjusted`` (Benjamini-Hochberg across the levels).
    """
    check_mapping(compressed, "compressed", of="levels to predictions")

    def n_significant(reference: np.ndarray, other: np.ndarray) -> float:
        return class_impact(baseline=reference, compressed=other, targets=targets, **kwargs).attrs["n_significant"]

    rows = {}
    for level, preds in compressed.items():
        table = class_impact(baseline=baseline, compressed=preds, targets=targets, **kwargs)
        significant = table[table["significant"]]
        hurt, helped = significant[significant["change"] < 0], significant[significant["change"] > 0]
        rows[level] = {"impacted": len(significant), "hurt": len(hurt), "helped": len(helped),
                       "mean loss of hurt": -hurt["change"].mean(),  # NaN when empty
                       "mean gain of helped": helped["change"].mean()}
        if control is not None:
            test = control_test(n_significant, baseline=check_labels(baseline, "baseline"),
                                compressed=check_labels(preds, "compressed"), control=check_labels(control, "control"),
                                n_resamples=n_resamples, seed=seed)
            rows[level] |= {"noise impacted": int(test["control"]), "p vs noise": test["p"]}
    table = pd.DataFrame.from_dict(rows, orient="index").rename_axis("level")
    if control is not None:
        table["p vs noise, adjusted"] = _scipy_stats.false_discovery_control(table["p vs noise"].to_numpy())
    return table
