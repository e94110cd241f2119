"""Initialising a sparse network before training it from scratch with a fixed mask.

A network trained sparse from the start (``Init-S -> Sol-S`` in Evci et al.'s notation) needs
weights for the connections its mask keeps. Evci, Ioannou, Keskin and Dauphin (2022,
"Gradient flow in sparse neural networks and how lottery tickets win") compare three choices,
implemented in their code (``google-research/rigl``, ``rigl_tf2/init_utils.py``):

``"dense"``
    the dense initialisation, masked: a unit that keeps a fraction ``d`` of its inputs starts
    with about ``d`` times the variance of its pre-activation that the dense network has;
``"layer-scaled"``
    a dense draw with the variance-scaling rule of the unit-scaled one, its fans counted over
    *all* connections (the layer's shape), divided by ``sqrt(d)``, with ``d`` the density of the
    whole layer, and masked (their ``layer_scaled_init``, which draws the dense weights with
    Keras' ``VarianceScaling``, not with the network's own default initialisation);
``"unit-scaled"``
    every kept weight drawn afresh with a variance set by the fans of the two units it joins,
    counted over the *kept* connections only (their ``unit_scaled_init``): with ``mode="fanin"``
    the variance is ``scale / fan_in`` of the output unit, ``"fanout"`` uses the fan-out of the
    input unit, ``"fanavg"`` their mean (each fan at least 1); ``"uniform"`` draws from
    ``[-sqrt(3 v), sqrt(3 v)]``, ``"normal"`` from ``N(0, v)``.

The reference code uses TensorFlow's layout (a convolution kernel ``(kh, kw, in, out)``); in
PyTorch's ``(out, in, kh, kw)`` the fan-in of output channel ``o`` is ``mask[o].sum()`` (over the
kernel as well) and the fan-out of input channel ``i`` is ``mask[:, i].sum()``, the same counts.
Its defaults are ``mode="fanavg"``, ``distribution="uniform"``, ``scale=1``; ours too.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

import torch
from torch import nn

from ..core.validation import check_option, check_real
from . import masks as mask_layout

INITS = ("dense", "layer-scaled", "unit-scaled")
MODES = ("fanin", "fanout", "fanavg")
DISTRIBUTIONS = ("uniform", "normal")


def _check_mask(mask: torch.Tensor) -> torch.Tensor:
    if mask.dim() not in (2, 3, 4, 5):
        raise ValueError(f"mask must be a Linear (out, in) or Conv (out, in, *kernel) mask, got shape {tuple(mask.shape)}")
    return mask.bool()


def unit_variances(mask: torch.Tensor, *, mode: str = "fanavg", scale: float = 1.0) -> torch.Tensor:
    """The variance of every weight under the unit-scaled initialisation, zero where ``mask`` prunes.

    Parameters
    ----------
    mask : torch.Tensor
        Bool, ``(out, in)`` or ``(out, in, *kernel)``: ``True`` where the weight is kept.
    mode : {"fanin", "fanout", "fanavg"}
    scale : float
        Positive.

    Returns
    -------
    torch.Tensor
        Float, shaped like ``mask``: ``scale / max(1, fan)`` for a kept weight, 0 elsewhere.
    """
    mask = _check_mask(mask)
    check_option(mode, "mode", MODES)
    scale = check_real(scale, "scale", low=0.0, closed="neither")
    kept = mask.float()
    fan_in = kept.flatten(1).sum(1)  # (out,): kept connections into each output unit
    fan_out = kept.transpose(0, 1).flatten(1).sum(1)  # (in,): kept connections out of each input unit
    shape = [-1, 1] + [1] * (mask.dim() - 2)
    fan_in, fan_out = fan_in.reshape(shape), fan_out.reshape([1, -1] + [1] * (mask.dim() - 2))
    fan = {"fanin": fan_in.expand_as(kept), "fanout": fan_out.expand_as(kept),
           "fanavg": (fan_in + fan_out) / 2}[mode]
    return kept * scale / fan.clamp(min=1.0)


def unit_scaled_weight(mask: torch.Tensor, *, mode: str = "fanavg", distribution: str = "uniform",
                       scale: float = 1.0, generator: torch.Generator | None = None) -> torch.Tensor:
    """Fresh weights for a masked layer, each kept weight scaled by its own units' fans.

    Zero where ``mask`` prunes; see the module docstring and :func:`unit_variances`.
    """
    check_option(distribution, "distribution", DISTRIBUTIONS)
    variance = unit_variances(mask, mode=mode, scale=scale)
    if distribution == "normal":
        noise = torch.randn(mask.shape, generator=generator)
        return noise * variance.sqrt()
    noise = torch.rand(mask.shape, generator=generator) * 2 - 1
    return noise * (3 * variance).sqrt()


def layer_scaled_weight(mask: torch.Tensor, *, mode: str = "fanavg", distribution: str = "uniform",
                        scale: float = 1.0, generator: torch.Generator | None = None) -> torch.Tensor:
    """Fresh weights for a masked layer: a dense variance-scaling draw over the root of the layer's density, masked.

    The dense draw is :func:`unit_scaled_weight` of an all-kept mask (fans counted over every
    connection), so for a dense layer the two initialisations coincide.
    """
    mask = _check_mask(mask)
    density = mask.float().mean()
    if density == 0:
        raise ValueError("mask must keep at least one weight, got an all-False mask")
    dense = unit_scaled_weight(torch.ones_like(mask), mode=mode, distribution=distribution, scale=scale,
                               generator=generator)
    return dense * mask / math.sqrt(float(density))


@torch.no_grad()
def initialise_sparse(model: nn.Module, layer_masks: Mapping[str, torch.Tensor], *, init: str,
                      mode: str = "fanavg", distribution: str = "uniform", scale: float = 1.0,
                      generator: torch.Generator | None = None) -> nn.Module:
    """Give ``model`` the masks ``layer_masks`` and initial weights for training sparse from scratch, in place.

    Parameters
    ----------
    model : torch.nn.Module
        A dense model fresh from its initialisation (e.g. :func:`~course_lib.training.models.make_model`).
    layer_masks : mapping
        ``{layer name: bool mask}`` for some prunable layers
        (:func:`~course_lib.compression.masks.prunable_parameters`), e.g. the masks of a pruned
        solution; the other layers stay dense.
    init : {"dense", "layer-scaled", "unit-scaled"}
        See the module docstring.
    mode, distribution, scale, generator
        Of the layer- and unit-scaled initialisations (ignored by ``"dense"``).

    Returns
    -------
    torch.nn.Module
        ``model``, pruned with the given masks (:func:`~course_lib.compression.masks.set_mask`).
    """
    check_option(init, "init", INITS)
    layers = dict(mask_layout.prunable_parameters(model))
    unknown = sorted(set(layer_masks) - set(layers))
    if unknown:
        raise ValueError(f"layer_masks must name prunable layers of the model ({sorted(layers)}), got {unknown}")
    for name, mask in layer_masks.items():
        module = layers[name]
        weight = mask_layout.effective_weight(module)
        if tuple(mask.shape) != tuple(weight.shape):
            raise ValueError(f"layer_masks[{name!r}] must have the shape of the weight {tuple(weight.shape)}, "
                             f"got {tuple(mask.shape)}")
        if init == "layer-scaled":
            weight = layer_scaled_weight(mask, mode=mode, distribution=distribution, scale=scale, generator=generator)
        elif init == "unit-scaled":
            weight = unit_scaled_weight(mask, mode=mode, distribution=distribution, scale=scale, generator=generator)
        target = module.weight_orig if hasattr(module, "weight_orig") else module.weight
        target.copy_(weight.to(target))
        mask_layout.set_mask(module, mask.bool().to(target.device))
    return model


__all__ = ["DISTRIBUTIONS", "INITS", "MODES", "initialise_sparse", "layer_scaled_weight", "unit_scaled_weight",
           "unit_variances"]
