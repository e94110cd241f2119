"""The trace of the Fisher information of a model's predictive distribution.

For a classifier with parameters :math:`\\theta` and a fixed batch of ``N`` inputs,

.. math::

    \\operatorname{tr} F = \\frac{1}{N} \\sum_{x} \\sum_{y} p_\\theta(y \\mid x)\\,
        \\lVert \\nabla_\\theta \\log p_\\theta(y \\mid x) \\rVert^2 ,

the expected squared norm of the score under the model's own predictions ("true" Fisher,
exact over the ``C`` classes). The *empirical* Fisher replaces the sum over ``y`` by the true
label of each input: :math:`\\frac{1}{N}\\sum_x \\lVert \\nabla_\\theta \\log p_\\theta(y_x \\mid x)
\\rVert^2`. The essay "The price of sparsity" proposes it as a lens on why sparse networks
trained from scratch generalise worse than pruned ones (Evci et al. 2022 study their gradient
flow); Kunstner, Balles and Hennig (2019) explain why the two Fishers differ.

Per-example, per-class gradients come from :mod:`torch.func` (``vmap`` over the examples of
``jacrev`` over the classes), in chunks of ``batch_size`` examples. A pruned model (masks of
:mod:`torch.nn.utils.prune`) is differentiated with respect to its *kept* weights only: the
gradient of a pruned weight is not a parameter of the sparse network, and is left out.
:func:`population_fisher` follows the trace over the checkpoints of a population's members and
caches it with the population's outputs.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
import torch
from torch import nn
from torch.func import functional_call, jacrev, vmap

from ..compression import masks as mask_layout
from ..core.validation import check_bool, check_integer
from ..populations import Population
from ..populations.outputs import cached_output


def _parameters_and_masks(model: nn.Module) -> tuple[nn.Module, dict[str, torch.Tensor], dict[str, torch.Tensor]]:
    """A mask-free copy of ``model`` in eval mode, its parameters, and the masks of the pruned ones."""
    pruned = {f"{name}.weight": mask.bool() for name, mask in mask_layout.current_masks(dict(model.named_modules())).items()}
    plain = mask_layout.export_pruned(model).eval()
    params = {name: p.detach() for name, p in plain.named_parameters()}
    return plain, params, pruned


def fisher_contributions(model: nn.Module, images: torch.Tensor, targets: torch.Tensor | None = None, *,
                         empirical: bool = False, batch_size: int = 32) -> torch.Tensor:
    """Each input's term of the Fisher trace: ``sum_y p(y|x) ||grad log p(y|x)||^2`` (see the module docstring).

    Parameters
    ----------
    model : torch.nn.Module
        A classifier returning logits ``(N, C)``; evaluated in eval mode (BatchNorm uses its
        running statistics), on a copy: ``model`` is not changed.
    images : torch.Tensor
        Shape ``(N, ...)``.
    targets : torch.Tensor, optional
        Shape ``(N,)``, int64: needed for the empirical Fisher only.
    empirical : bool
        Use the true label of each input instead of the expectation over the model's predictions.
    batch_size : int
        Examples per chunk of per-example gradients (memory grows as ``batch_size * C * P``).

    Returns
    -------
    torch.Tensor
        Shape ``(N,)``, float: their mean is :func:`fisher_trace`.
    """
    check_bool(empirical, "empirical")
    batch_size = check_integer(batch_size, "batch_size", low=1)
    if images.dim() < 2 or len(images) == 0:
        raise ValueError(f"images must be a non-empty batch (N, ...), got shape {tuple(images.shape)}")
    if empirical and (targets is None or targets.shape != (len(images),)):
        raise ValueError(f"targets must be the (N={len(images)},) labels for the empirical Fisher, got "
                         f"{None if targets is None else tuple(targets.shape)}")
    plain, params, pruned = _parameters_and_masks(model)
    buffers = dict(plain.named_buffers())

    def log_probs(p: dict[str, torch.Tensor], x: torch.Tensor) -> torch.Tensor:
        return torch.log_softmax(functional_call(plain, (p, buffers), (x.unsqueeze(0),)), dim=-1)[0]

    per_example = vmap(jacrev(log_probs), in_dims=(None, 0))  # {name: (B, C, *shape)}
    terms = []
    for start in range(0, len(images), batch_size):
        x = images[start:start + batch_size]
        jacobians = per_example(params, x)
        squared = sum((j * pruned[name] if name in pruned else j).flatten(2).pow(2).sum(-1)
                      for name, j in jacobians.items())  # (B, C)
        with torch.no_grad():
            if empirical:
                terms.append(squared.gather(1, targets[start:start + batch_size, None])[:, 0])
            else:
                probs = torch.softmax(functional_call(plain, (params, buffers), (x,)), dim=-1)
                terms.append((probs * squared).sum(1))
    return torch.cat(terms).detach()


def fisher_trace(model: nn.Module, images: torch.Tensor, targets: torch.Tensor | None = None, *,
                 empirical: bool = False, batch_size: int = 32) -> float:
    """The trace of the Fisher information of ``model`` on ``images``: the mean of :func:`fisher_contributions`.

    Parameters and conventions as for :func:`fisher_contributions`.

    Returns
    -------
    float
    """
    return float(fisher_contributions(model, images, targets, empirical=empirical, batch_size=batch_size)
                 .double().mean())


def population_fisher(population: Population, images: torch.Tensor, *, epochs: Sequence[int], members: int | None = None,
                      batch_size: int = 32, cache: bool = True) -> pd.DataFrame:
    """The Fisher trace of members of ``population`` on ``images`` at checkpoints: how it moves over training.

    Parameters
    ----------
    population : Population
        Trained with ``checkpoint_epochs`` holding ``epochs``.
    images : torch.Tensor
        Shape ``(N, ...)``, the fixed batch (the same for every member and checkpoint).
    epochs : sequence of int
        The checkpoints to measure.
    members : int, optional
        Measure the first ``members`` members only (the trace costs one backward pass per
        example and class); default all.
    batch_size : int
        As for :func:`fisher_contributions`.
    cache : bool
        Store the traces in, and load them from, ``$COURSE_CACHE_DIR/outputs``
        (:func:`~course_lib.populations.outputs.cached_output`), keyed by the checkpoints'
        weights, the images and ``batch_size``.

    Returns
    -------
    pandas.DataFrame
        One row per member and epoch: ``member`` (its index), ``seed``, ``epoch``, ``fisher``.
    """
    check_bool(cache, "cache")
    members = len(population) if members is None else check_integer(members, "members", low=1, high=len(population))
    epochs = sorted({check_integer(e, "epochs", low=0) for e in epochs})
    saved = population.checkpoints[:members]
    if missing := [e for e in epochs if any(e not in checkpoints for checkpoints in saved)]:
        raise ValueError(f"epochs must be checkpoint epochs of the population, {sorted(saved[0])}, got {missing}")

    def compute() -> np.ndarray:
        return np.array([[fisher_trace(model, images, batch_size=batch_size)
                          for model in population.models(epoch=e)[:members]] for e in epochs])  # (E, members)

    traces = (cached_output([checkpoints[e] for e in epochs for checkpoints in saved], images, compute, batch_size=batch_size,
                            device=torch.device("cpu"), kind="fisher-trace", epochs=epochs, members=members)
              if cache else compute())
    return pd.DataFrame([{"member": k, "seed": population.seeds[k], "epoch": e, "fisher": float(traces[i, k])}
                         for i, e in enumerate(epochs) for k in range(members)])


__all__ = ["fisher_contributions", "fisher_trace", "population_fisher"]
