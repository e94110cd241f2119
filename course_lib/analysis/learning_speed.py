"""How fast each example is learnt: the softmax outputs of a population over its checkpoints.

D'souza, Nussbaum, Agarwal and Hooker ("A tale of two long tails", 2021) separate two sources
of uncertainty by the course of training rather than by its end: *atypical* examples (rare but
correctly labelled) are learnt late and can be learnt with more data, *noisy* examples
(mislabelled) are not learnt until the network memorises them. They track the maximum softmax
probability (MSP) of every example over training. Two trajectories are computed here, for
every member and checkpoint:

* the **MSP**, ``max_c p(c | x)``: label-free, low where the model is uncertain; a mislabelled
  example the model classifies confidently as its (true, unlabelled) class has a *high* MSP;
* the **probability of the label**, ``p(y | x)``: low until the example is fitted, whatever
  the reason.

The **learning speed** of an example is the mean of the label's probability over the
checkpoints (the area under its learning curve, in ``[0, 1]``): 1 for an example fitted from the
first checkpoint on, 0 for one never fitted. :func:`accuracy_over_training` follows the accuracy
of each kind or group of examples over the checkpoints: which are learnt last, and what a model
stopped early costs them (the lecture's third design choice beyond compression).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
import torch

from ..core.validation import check_integer
from ..populations import Population
from .bootstrap import bootstrap_settings, mean_over_picked, members_and_examples, percentile_interval


def checkpoint_probabilities(population: Population, images: torch.Tensor, *, epochs: Sequence[int]) -> np.ndarray:
    """The softmax outputs of every member at every checkpoint.

    Parameters
    ----------
    population : Population
        ``K`` members trained with ``checkpoint_epochs`` holding ``epochs``.
    images : torch.Tensor
        ``(N, C, H, W)``.
    epochs : sequence of int
        The checkpoints, in the order wanted.

    Returns
    -------
    numpy.ndarray
        ``(E, K, N, classes)`` float32: the probabilities at checkpoint ``epochs[e]``
        (:meth:`~course_lib.populations.population.Population.logits`, cached).
    """
    chosen = [check_integer(e, "epochs", low=0) for e in epochs]
    if not chosen:
        raise ValueError("epochs must hold at least one checkpoint, got none")
    return np.stack([population.logits(images, epoch=e).softmax(-1).numpy() for e in chosen])


def max_softmax_probability(probabilities: np.ndarray) -> np.ndarray:
    """MSP ``(...)`` of probabilities ``(..., classes)``: the largest class probability."""
    return np.asarray(probabilities).max(-1)


def label_probability(probabilities: np.ndarray, labels: np.ndarray | torch.Tensor) -> np.ndarray:
    """``p(label | x)`` ``(..., N)`` of probabilities ``(..., N, classes)`` and labels ``(N,)``."""
    probs = np.asarray(probabilities)
    labels = np.asarray(labels)
    if labels.shape != probs.shape[-2:-1]:
        raise ValueError(f"labels must have shape (N,) = ({probs.shape[-2]},), got {labels.shape}")
    index = np.broadcast_to(labels[:, None], probs.shape[:-1] + (1,))
    return np.take_along_axis(probs, index, -1)[..., 0]


def learning_speed(probabilities: np.ndarray, labels: np.ndarray | torch.Tensor) -> np.ndarray:
    """Mean over checkpoints of the label's probability: ``(K, N)`` from ``(E, K, N, classes)``.

    The area under each example's learning curve (D'souza et al. 2021 rank examples by how
    fast they are learnt): high for examples learnt early, low for those learnt late or never.
    """
    probs = np.asarray(probabilities)
    if probs.ndim != 4:
        raise ValueError(f"probabilities must have shape (E, K, N, classes), got {probs.shape}")
    return label_probability(probs, labels).mean(0)


def paired_speed_change(*, before: np.ndarray, after: np.ndarray, kinds: np.ndarray, n_boot: int = 1000,
                        ci: float = 0.95, seed: int = 0) -> pd.DataFrame:
    """How an intervention changed the learning speed of each kind of example, with bootstrap intervals.

    Parameters
    ----------
    before, after : numpy.ndarray
        ``(K, N)`` :func:`learning_speed` of the same ``K`` members (paired: member ``k`` of
        ``after`` differs from member ``k`` of ``before`` by the intervention only) on the same
        ``N`` examples.
    kinds : numpy.ndarray
        ``(N,)`` the kind of every example (e.g. ``"typical"``, ``"atypical"``).
    n_boot, ci, seed
        Bootstrap resamples (members and, within each kind, examples, drawn together), coverage
        of the percentile interval, seed.

    Returns
    -------
    pandas.DataFrame
        One row per kind: ``count``, ``before`` and ``after`` (mean speeds), ``change``
        (``after - before``, averaged over members and examples), ``low`` and ``high``.
    """
    before, after = np.asarray(before, dtype=float), np.asarray(after, dtype=float)
    if before.ndim != 2 or before.shape != after.shape:
        raise ValueError(f"before and after must be (K, N) arrays of the same shape, got {before.shape} and {after.shape}")
    kinds = np.asarray(kinds)
    if kinds.shape != before.shape[1:]:
        raise ValueError(f"kinds must have shape (N,) = ({before.shape[1]},), got {kinds.shape}")
    n_boot, ci, rng = bootstrap_settings(n_boot, ci, seed)
    members = len(before)
    diff = after - before
    rows = {}
    for kind in pd.unique(kinds):
        columns = np.flatnonzero(kinds == kind)
        per_member = diff[:, columns]  # (K, n_kind)
        weights, picks = members_and_examples(rng, members=members, n=len(columns), size=n_boot)
        resampled = mean_over_picked(weights @ per_member.T / len(columns), picks)  # (B, K) -> (B,)
        low, high = percentile_interval(resampled, ci)
        rows[kind] = {"count": len(columns), "before": before[:, columns].mean(), "after": after[:, columns].mean(),
                      "change": per_member.mean(), "low": low, "high": high}
    return pd.DataFrame.from_dict(rows, orient="index").rename_axis("kind")


def accuracy_over_training(*, probabilities: np.ndarray, labels: np.ndarray | torch.Tensor, kinds: np.ndarray,
                           epochs: Sequence[int], n_boot: int = 1000, ci: float = 0.95, seed: int = 0) -> pd.DataFrame:
    """Accuracy of each kind of example at every checkpoint, with intervals over members and examples.

    Parameters
    ----------
    probabilities : numpy.ndarray
        ``(E, K, N, classes)`` from :func:`checkpoint_probabilities`.
    labels : numpy.ndarray or torch.Tensor
        ``(N,)`` the labels accuracy is measured against.
    kinds : numpy.ndarray
        ``(N,)`` the kind or group of every example (e.g. ``"atypical"``, ``"Blond male"``).
    epochs : sequence of int
        The ``E`` checkpoint epochs, in the order of ``probabilities``.
    n_boot, ci, seed
        Bootstrap resamples (members and, within each kind, examples, drawn together; the same
        draws at every checkpoint, so that the curves of one kind are comparable), coverage of
        the percentile interval, seed.

    Returns
    -------
    pandas.DataFrame
        One row per checkpoint and kind: ``epoch``, ``kind``, ``count``, ``accuracy`` (the mean
        over members, in ``[0, 1]``), ``low``, ``high``.
    """
    probs = np.asarray(probabilities)
    epochs = [check_integer(e, "epochs", low=0) for e in epochs]
    if probs.ndim != 4 or len(epochs) != len(probs):
        raise ValueError(f"probabilities must have shape (E, K, N, classes) with E = len(epochs) = {len(epochs)}, "
                         f"got {probs.shape}")
    labels = np.asarray(labels)
    kinds = np.asarray(kinds)
    if labels.shape != (probs.shape[2],) or kinds.shape != labels.shape:
        raise ValueError(f"labels and kinds must have shape (N,) = ({probs.shape[2]},), got {labels.shape} and "
                         f"{kinds.shape}")
    n_boot, ci, rng = bootstrap_settings(n_boot, ci, seed)
    correct = (probs.argmax(-1) == labels).astype(float)  # (E, K, N)
    rows = []
    for kind in pd.unique(kinds):
        columns = np.flatnonzero(kinds == kind)
        weights, picks = members_and_examples(rng, members=probs.shape[1], n=len(columns), size=n_boot)
        for epoch, per_member in zip(epochs, correct[:, :, columns]):
            resampled = mean_over_picked(weights @ per_member.T / len(columns), picks)
            low, high = percentile_interval(resampled, ci)
            rows.append({"epoch": int(epoch), "kind": kind, "count": len(columns), "accuracy": per_member.mean(),
                         "low": low, "high": high})
    return pd.DataFrame(rows)


__all__ = ["accuracy_over_training", "checkpoint_probabilities", "label_probability", "learning_speed",
           "max_softmax_probability", "paired_speed_change"]
