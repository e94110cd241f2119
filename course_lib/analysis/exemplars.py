"""Pruning Identified Exemplars (PIE), and Compression Identified Exemplars (CIE).

Definitions follow Hooker et al., "What do compressed deep neural networks forget?"
(arXiv:1911.05248, v3, which adds quantization). A population of ``K`` models is trained per
compression level (:mod:`course_lib.populations`); its *modal label* for an example is the
label most of its members predict. An example is a **PIE** at a sparsity level when the modal
label of the pruned population differs from the modal label of the dense population; the same
test with a quantized population gives a **CIE**. The true label plays no part: a PIE is an
example on which compression changes the population's answer, right or wrong.

One mask per compression level: PIEs at 90% and at 99% sparsity are different sets and are
never pooled.

Conventions
-----------
* Ties in the modal label go to the **smallest** class index (:func:`scipy.stats.mode`). The
  paper's code took the largest. Ties need not come from an even population size: with
  ``K = 5`` and three labels a 2-2-1 split is a tie, so the two conventions can disagree on a
  handful of examples.
* Accuracies are computed per member and then summarised over the population (mean and
  standard deviation across members), as the paper reports them.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd
import torch
from scipy import stats as _scipy_stats

from ..core.validation import check_labels, check_mapping, check_mask, check_real
from ..training import accuracy

ArrayLike = np.ndarray | torch.Tensor


def modal_labels(preds: ArrayLike) -> np.ndarray:
    """The most frequent label of every example across a population.

    Parameters
    ----------
    preds : array-like
        Shape ``(K, N)``. Predicted labels of ``K`` models on ``N`` examples.

    Returns
    -------
    numpy.ndarray
        Shape ``(N,)``. The modal label; a tie between labels goes to the smallest class index (the paper's
        code took the largest).

    Examples
    --------
    >>> modal_labels([[0, 1, 2], [1, 1, 0], [1, 2, 0], [0, 2, 2]]).tolist()
    [0, 1, 0]
    """
    preds = check_labels(preds, "preds")
    return _scipy_stats.mode(preds, axis=0).mode.astype(np.int64)


def pie_mask(*, baseline: ArrayLike, compressed: ArrayLike) -> np.ndarray:
    """Which examples are PIEs (CIEs) of one compressed population against the dense one.

    Parameters
    ----------
    baseline : array-like
        Shape ``(K, N)``. Labels predicted by the dense population.
    compressed : array-like
        Shape ``(K', N)``. Labels predicted by the population at one compression level (``K'``
        may differ from ``K``).

    Returns
    -------
    numpy.ndarray
        Shape ``(N,)``. ``modal_labels(compressed) != modal_labels(baseline)``; the true label
        plays no part.
    """
    base = check_labels(baseline, "baseline")
    comp = check_labels(compressed, "compressed", n=base.shape[1])
    return modal_labels(base) != modal_labels(comp)


def pie_masks(*, baseline: ArrayLike, compressed: Mapping[object, ArrayLike]) -> pd.DataFrame:
    """One PIE mask per compression level, as the columns of a boolean DataFrame.

    Parameters
    ----------
    baseline, compressed
        The dense population's labels ``(K, N)``, and a mapping from each compression level to
        its population's labels ``(K', N)``.

    Returns
    -------
    pandas.DataFrame
        Shape ``(N, levels)``. Column ``level`` is :func:`pie_mask` of that level; levels are
        never pooled.
    """
    check_mapping(compressed, "compressed", of="levels to predictions")
    return pd.DataFrame({level: pie_mask(baseline=baseline, compressed=preds) for level, preds in compressed.items()})


def subset_accuracies(preds: Mapping[object, ArrayLike], targets: ArrayLike, mask: ArrayLike) -> pd.DataFrame:
    """Top-1 accuracy of every population on the PIEs, the other examples, and all of them.

    Parameters
    ----------
    preds : mapping
        Shape ``(K, N)``. E.g. ``{"dense": ..., "pruned 90%": ...}``.
    targets : array-like
        Shape ``(N,)``. True labels.
    mask : array-like
        Shape ``(N,)``. The PIE mask (:func:`pie_mask`).

    Returns
    -------
    pandas.DataFrame
        Index ``(population, subset)`` with subsets ``"PIE"``, ``"non-PIE"``, ``"all"``; columns
        ``n`` (examples in the subset), ``mean`` and ``sd`` (over members; ``sd`` is NaN for a
        population of one) of the members' accuracies, in ``[0, 1]``. An empty subset has
        ``mean`` NaN.
    """
    rows = []
    for name, population_preds in preds.items():
        labels = check_labels(population_preds, f"preds[{name!r}]")
        y = check_labels(targets, "targets", ndim=1, n=labels.shape[1])
        pie = check_mask(mask, "mask", n=labels.shape[1])
        for subset, keep in (("PIE", pie), ("non-PIE", ~pie), ("all", np.ones_like(pie))):
            member_acc = accuracy(labels[:, keep], y[keep])
            rows.append({"population": name, "subset": subset, "n": int(keep.sum()),
                         "mean": float(np.mean(member_acc)),
                         "sd": float(np.std(member_acc, ddof=1)) if len(labels) > 1 else float("nan")})
    return pd.DataFrame(rows).set_index(["population", "subset"])


def without_pies(preds: Mapping[object, ArrayLike], targets: ArrayLike,
                 masks: pd.DataFrame | Mapping[object, ArrayLike]) -> pd.DataFrame:
    """The effect of removing each level's PIEs from the test set, for every population.

    Parameters
    ----------
    preds : mapping
        Shape ``(K, N)``. Predicted labels of the populations to evaluate.
    targets : array-like
        Shape ``(N,)``. True labels.
    masks : DataFrame or mapping
        Shape ``(N,)``. PIE masks, e.g. :func:`pie_masks`.

    Returns
    -------
    pandas.DataFrame
        One row per (population, level): ``removed`` (PIEs of that level), ``all`` (mean member
        accuracy on the whole test set), ``without PIEs`` (on the test set less those PIEs) and
        ``gain`` (the difference), accuracies in ``[0, 1]``.
    """
    rows = []
    for level, mask in masks.items():
        acc = subset_accuracies(preds, targets, np.asarray(mask))["mean"].unstack("subset")
        for name in preds:
            rows.append({"population": name, "level": level, "removed": int(np.sum(mask)),
                         "all": acc.loc[name, "all"], "without PIEs": acc.loc[name, "non-PIE"]})
    out = pd.DataFrame(rows).set_index(["population", "level"])
    out["gain"] = out["without PIEs"] - out["all"]
    return out


def _flags(attributes: pd.DataFrame, n: int) -> pd.DataFrame:
    """Boolean columns: boolean attributes as they are, other columns one-hot (``column=value``)."""
    if not isinstance(attributes, pd.DataFrame):
        raise TypeError(f"attributes must be a pandas DataFrame with one row per example, got {type(attributes).__name__}")
    if len(attributes) != n:
        raise ValueError(f"attributes must have one row per example ({n}), got {len(attributes)}")
    flags = {}
    for column in attributes.columns:
        values = attributes[column]
        if pd.api.types.is_bool_dtype(values):
            flags[str(column)] = values.to_numpy(dtype=bool)
        else:
            for value in sorted(values.dropna().unique(), key=str):
                flags[f"{column}={value}"] = (values == value).to_numpy(dtype=bool)
    return pd.DataFrame(flags, index=attributes.index)


def enrichment(mask: ArrayLike, attributes: pd.DataFrame, *, ci: float = 0.95) -> pd.DataFrame:
    """How much more often flagged examples appear among the PIEs than in the data.

    For a flag ``f`` (an atypical rendering, a flipped label, membership of a subgroup):

    * ``base rate`` = share of all examples with ``f``;
    * ``share of PIEs`` = share of the PIEs with ``f`` (the *precision* of PIE as a detector of
      ``f``);
    * ``recall`` = share of the examples with ``f`` that are PIEs;
    * ``enrichment`` = ``share of PIEs / base rate``: 1 means PIEs carry ``f`` as often as any
      example, 5 means five times as often.

    A flag carried by a dozen PIEs gives an enrichment that a handful of examples can double,
    so every enrichment comes with an exact (Clopper-Pearson) interval: the binomial interval
    of ``share of PIEs`` (``flagged PIEs`` out of the PIEs) divided by the base rate.

    Parameters
    ----------
    mask : array-like
        Shape ``(N,)``. The PIE (or CIE) mask.
    attributes : pandas.DataFrame
        ``N`` rows. Boolean columns are used as flags; any other column is split into one flag per value,
        named ``"column=value"``.
    ci : float
        Coverage of the interval, in ``(0, 1)``.

    Returns
    -------
    pandas.DataFrame
        One row per flag: ``flagged`` (count), ``flagged PIEs`` (count), ``base rate``,
        ``share of PIEs``, ``recall``, ``enrichment``, ``low`` and ``high`` (the interval of the
        enrichment). With no PIE, ``share of PIEs``, ``enrichment`` and its interval are NaN; a
        flag no example carries has ``recall``, ``enrichment`` and its interval NaN.
    """
    ci = check_real(ci, "ci", low=0.0, high=1.0, closed="neither")
    pie = np.asarray(mask)
    flags = _flags(attributes, len(pie))
    pie = check_mask(pie, "mask", n=len(flags))
    flagged = flags.sum()
    flagged_pies = flags[pie].sum()
    with np.errstate(invalid="ignore", divide="ignore"):
        table = pd.DataFrame({
            "flagged": flagged.astype(int),
            "flagged PIEs": flagged_pies.astype(int),
            "base rate": flagged / len(pie) if len(pie) else np.nan,
            "share of PIEs": flagged_pies / pie.sum() if pie.any() else np.nan,
            "recall": flagged_pies / flagged.where(flagged > 0),
        })
    base_rate = table["base rate"].where(table["base rate"] > 0)
    table["enrichment"] = table["share of PIEs"] / base_rate
    n_pies = int(pie.sum())
    bounds = [_scipy_stats.binomtest(int(k), n_pies).proportion_ci(ci, method="exact") if n_pies else (np.nan, np.nan)
              for k in table["flagged PIEs"]]
    table["low"] = [low for low, _ in bounds] / base_rate
    table["high"] = [high for _, high in bounds] / base_rate
    return table.rename_axis("flag")


def disagreement_score(*, baseline: ArrayLike, compressed: ArrayLike) -> np.ndarray:
    """A continuous score of how differently two populations see every example.

    Our own construction, not the paper's: the L1 distance between the populations' mean
    softmax outputs,

    .. math:: s(x) = \\sum_c \\left| \\bar p_{\\text{base}}(c \\mid x) - \\bar p_{\\text{comp}}(c \\mid x) \\right|,

    where :math:`\\bar p` averages the members' softmax probabilities. It lies in ``[0, 2]``:
    0 when the populations agree exactly, 2 when they put all their mass on different labels.
    Unlike the binary PIE/CIE mask it ranks every example, which an auditor can use to review
    the most affected ones first.

    Parameters
    ----------
    baseline : array-like
        Shape ``(K, N, C)``. Logits of the dense population (``Population.logits``).
    compressed : array-like
        Shape ``(K', N, C)``. Logits of the compressed population on the same examples.

    Returns
    -------
    numpy.ndarray
        Shape ``(N,)``: the score of every example.
    """
    base = torch.as_tensor(np.asarray(baseline), dtype=torch.float64)
    comp = torch.as_tensor(np.asarray(compressed), dtype=torch.float64)
    for name, logits in (("baseline", base), ("compressed", comp)):
        if logits.ndim != 3 or logits.shape[0] == 0:
            raise ValueError(f"{name} must have shape (K, N, C) with K >= 1 members, got {tuple(logits.shape)}")
    if base.shape[1:] != comp.shape[1:]:
        raise ValueError("compressed must cover the examples and classes of baseline, "
                         f"got (N, C) = {tuple(comp.shape[1:])} and {tuple(base.shape[1:])}")
    mean_base, mean_comp = base.softmax(-1).mean(0), comp.softmax(-1).mean(0)
    return (mean_base - mean_comp).abs().sum(-1).numpy()
