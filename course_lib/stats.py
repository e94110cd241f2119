"""Which classes does compression hurt more than it hurts the model as a whole?

Hooker et al., "What do compressed deep neural networks forget?" (arXiv:1911.05248, v3),
Section 3.1. For every model ``m`` of a population and every class ``c`` the *normalised
recall* is

.. math:: r_c(m) - \\bar a,

the recall of class ``c`` minus the mean top-1 accuracy :math:`\\bar a` of the population ``m``
belongs to. Subtracting the population's overall accuracy asks whether a class changes *more
than the model does*: under the null hypothesis a class loses exactly what top-1 loses. The
dense and the compressed population's normalised recalls of a class are compared with Welch's
two-sided t-test (unequal variances), as in the paper's code, and a class is *significantly
impacted* when the p-value falls below the significance level, optionally after the
Benjamini-Hochberg correction for testing every class at once (our addition; the paper does
not correct).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd
import torch
from scipy import stats as _scipy_stats

from .training import per_class_accuracy

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
    preds, targets = np.asarray(preds), np.asarray(targets)
    if preds.ndim != 2 or preds.shape[0] == 0:
        raise ValueError(f"preds must have shape (K, N) with K >= 1 models, got {preds.shape}")
    if targets.shape != preds.shape[1:]:
        raise ValueError(f"targets must have shape ({preds.shape[1]},), one label per example, got {targets.shape}")
    recall = np.stack([per_class_accuracy(p, targets, num_classes) for p in preds])
    return recall - (preds == targets).mean(axis=1).mean()


def welch_t_test(a: ArrayLike, b: ArrayLike) -> tuple[float, float]:
    """Welch's two-sided t-test of equal means, without assuming equal variances.

    .. math::

        t = \\frac{\\bar a - \\bar b}{\\sqrt{s_a^2/n_a + s_b^2/n_b}}, \\qquad
        \\nu = \\frac{(s_a^2/n_a + s_b^2/n_b)^2}{\\frac{(s_a^2/n_a)^2}{n_a - 1} + \\frac{(s_b^2/n_b)^2}{n_b - 1}}

    with sample variances :math:`s^2` (``ddof=1``) and the p-value ``2 * P(T_nu > |t|)``.

    Parameters
    ----------
    a, b : array-like
        Shape ``(n_a,)`` and ``(n_b,)``. The two samples, at least two values each.

    Returns
    -------
    tuple of float
        ``t`` (positive when ``a`` has the larger mean, the sign convention of
        ``scipy.stats.ttest_ind(a, b, equal_var=False)``) and the two-sided p-value. Both are
        NaN when both samples are constant (no variance to test against).
    """
    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    for name, x in (("a", a), ("b", b)):
        if x.ndim != 1 or len(x) < 2:
            raise ValueError(f"{name} must be one-dimensional with at least 2 values, got shape {x.shape}")
    va, vb = a.var(ddof=1) / len(a), b.var(ddof=1) / len(b)
    if va + vb == 0:
        return float("nan"), float("nan")
    t = (a.mean() - b.mean()) / np.sqrt(va + vb)
    dof = (va + vb) ** 2 / (va ** 2 / (len(a) - 1) + vb ** 2 / (len(b) - 1))
    return float(t), float(2 * _scipy_stats.t.sf(abs(t), dof))


def class_impact(baseline_preds: ArrayLike, compressed_preds: ArrayLike, targets: ArrayLike, *,
                 classes: Sequence[str] | None = None, alpha: float = 0.05,
                 correction: str | None = None) -> pd.DataFrame:
    """Per-class Welch t-tests between a dense and a compressed population (Hooker et al. 2019).

    Parameters
    ----------
    baseline_preds : array-like
        Shape ``(K, N)``. Labels predicted by the dense population on the test set.
    compressed_preds : array-like
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

    Returns
    -------
    pandas.DataFrame
        One row per class: ``baseline`` and ``compressed`` (mean normalised recall of each
        population, :func:`normalized_recall`), ``change`` (compressed minus baseline: negative
        means the class lost more than top-1 did), ``t`` (positive when the
        class gained), ``p``, ``p_adjusted`` (equal to ``p``
        without correction) and ``significant`` (``p_adjusted < alpha``; never for a NaN p).
        ``attrs`` holds ``alpha``, ``correction`` and ``n_significant``.
    """
    if not 0 < alpha < 1:
        raise ValueError(f"alpha must lie in (0, 1), got {alpha!r}")
    if correction not in CORRECTIONS:
        raise ValueError(f"correction must be one of {list(CORRECTIONS)}, got {correction!r}")
    base, comp = np.asarray(baseline_preds), np.asarray(compressed_preds)
    targets = np.asarray(targets)
    num_classes = len(classes) if classes is not None else int(max(targets.max(), base.max(), comp.max())) + 1
    names = list(classes) if classes is not None else list(range(num_classes))
    r_base = normalized_recall(base, targets, num_classes)
    r_comp = normalized_recall(comp, targets, num_classes)
    tests = [welch_t_test(r_comp[:, c], r_base[:, c]) for c in range(num_classes)]
    table = pd.DataFrame({
        "baseline": r_base.mean(axis=0),
        "compressed": r_comp.mean(axis=0),
        "t": [t for t, _ in tests],
        "p": [p for _, p in tests],
    }, index=pd.Index(names, name="class"))
    table.insert(2, "change", table["compressed"] - table["baseline"])
    table["p_adjusted"] = table["p"]
    tested = table["p"].notna()
    if correction == "bh" and tested.any():
        table.loc[tested, "p_adjusted"] = _scipy_stats.false_discovery_control(table.loc[tested, "p"])
    table["significant"] = (table["p_adjusted"] < alpha).fillna(False).astype(bool)
    table.attrs.update(alpha=alpha, correction=correction, n_significant=int(table["significant"].sum()))
    return table


def impact_counts(baseline_preds: ArrayLike, compressed_preds: Mapping[object, ArrayLike], targets: ArrayLike,
                  **kwargs) -> pd.DataFrame:
    """The number of significantly impacted classes at every compression level.

    Parameters
    ----------
    baseline_preds : array-like
        Shape ``(K, N)``. Labels predicted by the dense population.
    compressed_preds : mapping
        Shape ``(K', N)``. Labels predicted by each compressed population.
    targets : array-like
        Shape ``(N,)``. True labels.
    **kwargs
        ``classes``, ``alpha``, ``correction`` of :func:`class_impact`.

    Returns
    -------
    pandas.DataFrame
        One row per level: ``impacted`` (significant classes), ``hurt`` and ``helped`` (those
        whose normalised recall fell or rose), ``mean loss of hurt`` and ``mean gain of helped``
        (mean ``|change|`` of each set, NaN when empty).
    """
    rows = {}
    for level, preds in compressed_preds.items():
        table = class_impact(baseline_preds, preds, targets, **kwargs)
        significant = table[table["significant"]]
        hurt, helped = significant[significant["change"] < 0], significant[significant["change"] > 0]
        rows[level] = {"impacted": len(significant), "hurt": len(hurt), "helped": len(helped),
                       "mean loss of hurt": -hurt["change"].mean(),  # NaN when empty
                       "mean gain of helped": helped["change"].mean()}
    return pd.DataFrame.from_dict(rows, orient="index").rename_axis("level")
