"""Data remedies by group: re-weight the examples, or re-sample them, so that every group counts alike.

When a group is rare in the training data, the loss hardly notices its errors, and pruning,
which keeps what the loss needs most, is free to give them up (Hooker et al. 2020, Sec. 5).
The oldest remedies change what the loss sees: weight each example by the inverse of its
group's size (*re-weighting*), or draw a training set in which every group is equally
frequent (*re-sampling*). Both need the group of every training example, which real datasets
often lack; UTKFace labels race and gender, the groups of the chapters' audits.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import torch

from ..core.validation import check_integer
from ..populations.recipe import array_fingerprint
from ..training import Objective


def group_codes(groups: pd.DataFrame | pd.Series | np.ndarray) -> tuple[np.ndarray, list[str]]:
    """The joint group of every example as an integer code, and the names of the codes.

    Parameters
    ----------
    groups : pandas.DataFrame, pandas.Series or numpy.ndarray
        One row per example: a column per attribute (the joint group is their intersection,
        named ``"White & male"``), or one label per example.

    Returns
    -------
    codes : numpy.ndarray
        ``(N,)`` int64 in ``[0, G)``, numbered in the sorted order of the names.
    names : list of str
        The ``G`` group names.
    """
    if isinstance(groups, pd.DataFrame):
        if groups.shape[1] == 0:
            raise ValueError("groups must have at least one column, got none")
        labels = groups.astype(str).agg(" & ".join, axis=1).to_numpy()
    else:
        labels = np.asarray(groups).astype(str)
        if labels.ndim != 1:
            raise ValueError(f"groups must be a DataFrame or one label per example (1-D), got shape {labels.shape}")
    if len(labels) == 0:
        raise ValueError("groups must hold at least one example, got 0")
    names, codes = np.unique(labels, return_inverse=True)
    return codes.astype(np.int64), [str(name) for name in names]


def group_weights(codes: np.ndarray) -> np.ndarray:
    """``(N,)`` weights ``N / (G * n_g)`` for an example of group ``g``: every group weighs ``N / G`` in all.

    The weights average 1 over the training set, so the weighted loss keeps the scale of the plain one.
    """
    codes = check_codes(codes)
    counts = np.bincount(codes)
    present = np.count_nonzero(counts)
    return len(codes) / (present * counts[codes])


def balanced_indices(codes: np.ndarray, *, seed: int, n: int | None = None) -> np.ndarray:
    """Positions of a group-balanced training set of ``n`` examples (default: as many as there are).

    Every group gets ``n // G`` examples, ``n // G + 1`` for ``n % G`` of them (chosen by the
    seed). A group of ``m`` examples that gets ``c`` is repeated whole ``c // m`` times, plus
    ``c % m`` of its examples drawn without replacement: within a group, no example appears
    more than once more than another. Sorted.
    """
    codes = check_codes(codes)
    n = len(codes) if n is None else check_integer(n, "n", low=1)
    rng = np.random.default_rng(check_integer(seed, "seed", low=0))
    members = [np.flatnonzero(codes == g) for g in np.unique(codes)]
    quota = np.full(len(members), n // len(members))
    quota[rng.permutation(len(members))[:n % len(members)]] += 1
    chosen = [np.concatenate([np.tile(m, c // len(m)), rng.permutation(m)[:c % len(m)]])
              for m, c in zip(members, quota)]
    return np.sort(np.concatenate(chosen))


def check_codes(codes: Any) -> np.ndarray:
    """``codes`` as int64, checked to be a non-empty 1-D array of non-negative integers."""
    codes = np.asarray(codes)
    if codes.ndim != 1 or len(codes) == 0 or not np.issubdtype(codes.dtype, np.integer) or codes.min() < 0:
        raise ValueError(f"codes must be a non-empty 1-D array of non-negative integers (group_codes), "
                         f"got {codes.dtype} of shape {codes.shape}")
    return codes.astype(np.int64)


class GroupObjective(Objective):
    """An objective that reads the group of every training example from ``codes`` ``(N,)``."""

    def __init__(self, codes: np.ndarray) -> None:
        self.codes = check_codes(codes)

    def check(self, n: int) -> None:
        """Raise ``ValueError`` unless there is one group code per training example."""
        if n != len(self.codes):
            raise ValueError(f"codes must hold one group per training example ({n}), got {len(self.codes)}")


class Reweighting(GroupObjective):
    """Each example's cross-entropy weighted by :func:`group_weights`; each member's batch mean.

    Parameters
    ----------
    codes : numpy.ndarray
        ``(N,)`` the group of every training example (:func:`group_codes`).
    """

    def __init__(self, codes: np.ndarray) -> None:
        super().__init__(codes)
        self.weights = torch.as_tensor(group_weights(self.codes), dtype=torch.float32)

    def as_config(self) -> dict[str, Any]:
        """``{"name": "reweighting", "groups": <fingerprint of the codes>}``."""
        return {"name": "reweighting", "groups": array_fingerprint(self.codes)}

    def __call__(self, losses: torch.Tensor, *, logits: torch.Tensor, examples: torch.Tensor,
                 teacher_logits: torch.Tensor | None, state: torch.Tensor | None) -> torch.Tensor:
        """``mean_b(w[examples] * losses)`` per member, ``(K,)``."""
        return (self.weights.to(losses.device)[examples] * losses).mean(1)
