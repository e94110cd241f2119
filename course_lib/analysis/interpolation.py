"""Loss and accuracy along the straight line between two solutions.

For two networks of the same architecture with parameters :math:`\\theta_0` and :math:`\\theta_1`,
the *linear path* is :math:`\\theta(\\alpha) = (1 - \\alpha)\\,\\theta_0 + \\alpha\\,\\theta_1`;
a barrier of loss along it says that the two solutions lie in different basins (Goodfellow,
Vinyals and Saxe 2015; Frankle et al. 2020). Evci et al. (2022) walk the paths from a sparse
initialisation and from a sparse-from-scratch solution to a pruned-and-fine-tuned one.

Pruned models enter with their effective weights (masks folded in, zeros where pruned), so a
point of the path is sparse where both ends are. Every floating-point entry of the state dicts
is interpolated, BatchNorm running statistics included (some studies recompute them at every
point instead: not done here); integer buffers come from the end. All points are evaluated in
one batched pass per chunk of examples (``torch.func.vmap`` over the stacked parameters).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
import torch
from torch import nn

from ..compression import masks as mask_layout
from ..core.validation import check_integer
from ..populations.stacked import stackable_layers, stacked_forward


def _state(model: nn.Module) -> dict[str, torch.Tensor]:
    return {name: t.detach() for name, t in mask_layout.effective_state(model.state_dict()).items()}


def linear_path(start: nn.Module, end: nn.Module, images: torch.Tensor, targets: torch.Tensor, *,
                alphas: Sequence[float] = tuple(np.linspace(0, 1, 11)), batch_size: int = 1000) -> pd.DataFrame:
    """Mean cross-entropy and accuracy of the models ``(1 - alpha) start + alpha end``.

    Parameters
    ----------
    start, end : torch.nn.Module
        Two models of the same architecture (pruned or not), of the layer types the population
        engine stacks (:data:`~course_lib.populations.stacked.STACKABLE`); evaluated in eval mode.
    images : torch.Tensor
        Shape ``(N, ...)``.
    targets : torch.Tensor
        Shape ``(N,)``, int64.
    alphas : sequence of float
        The points of the path; 0 is ``start`` and 1 is ``end`` (values outside ``[0, 1]``
        extrapolate).
    batch_size : int
        Examples per batched forward pass of all the points.

    Returns
    -------
    pandas.DataFrame
        One row per alpha: ``alpha``, ``loss`` (mean cross-entropy), ``accuracy`` (in ``[0, 1]``).
    """
    batch_size = check_integer(batch_size, "batch_size", low=1)
    if len(alphas) == 0:
        raise ValueError("alphas must hold at least one point, got none")
    if targets.shape != (len(images),) or len(images) == 0:
        raise ValueError(f"targets must have shape (N,) for N = len(images) > 0, got {tuple(targets.shape)} "
                         f"for {len(images)} images")
    first, last = _state(start), _state(end)
    if first.keys() != last.keys() or any(first[k].shape != last[k].shape for k in first):
        raise ValueError("start and end must be models of the same architecture (same state dict names and shapes)")
    weights = torch.tensor([float(a) for a in alphas])
    path = {}
    for name, tensor in last.items():
        shape = (-1,) + (1,) * tensor.dim()
        path[name] = ((1 - weights.reshape(shape)) * first[name] + weights.reshape(shape) * tensor
                      if tensor.is_floating_point() else tensor.expand(len(weights), *tensor.shape))
    layers = stackable_layers(mask_layout.export_pruned(end).eval(), images[:1])
    loss, right = torch.zeros(len(weights)), torch.zeros(len(weights))
    with torch.no_grad():
        for begin in range(0, len(images), batch_size):
            x, y = images[begin:begin + batch_size], targets[begin:begin + batch_size]
            out = stacked_forward(layers, path, x.unsqueeze(1).expand(-1, len(weights), *x.shape[1:]))  # (A, B, C)
            loss += torch.nn.functional.cross_entropy(out.flatten(0, 1), y.repeat(len(weights)),
                                                      reduction="none").reshape(len(weights), -1).sum(1)
            right += (out.argmax(-1) == y).sum(1)
    return pd.DataFrame({"alpha": weights.numpy().astype(float), "loss": (loss / len(images)).numpy().astype(float),
                         "accuracy": (right / len(images)).numpy().astype(float)})


__all__ = ["linear_path"]
