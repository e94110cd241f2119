"""Post-training weight quantization written with plain tensor operations.

Schemes
-------
``"float32"``
    The reference: weights unchanged.
``"float16"``
    Every weight rounded to the nearest IEEE half-precision number: ``w.half().float()``.
``"int8-tensor"`` / ``"int8-channel"``
    Symmetric linear int8 quantization with one scale per weight tensor, or one per output
    channel (axis 0 of Conv and Linear weights): ``scale = max|w| / 127``,
    ``q = clamp(round(w / scale), -127, 127)``, ``w_hat = q * scale``. The grid is symmetric
    around 0 (``-128`` unused, zero point 0), as for TensorFlow Lite's int8 weights, so zero
    weights -- the pruned ones -- stay exactly zero. Rounding is half-to-even (``torch.round``).

What this is and is not
-----------------------
Hooker et al. (2019; version 3 of the paper adds quantization) quantize trained models after
training with TensorFlow Lite. Here quantization is *simulated* and *weight-only*: Conv and
Linear weights go through the quantize-dequantize round trip and are stored back in float32,
so the quantized model runs on any CPU through the same prediction code, and its errors are
exactly those of the rounded weights. Biases stay float32 (TFLite keeps int32 biases at scale
``input_scale * weight_scale``, an error far below that of the weights), and activations stay
float32: unlike TFLite's full-integer quantization there is no activation rounding and no
calibration data, so the int8 results here isolate, and slightly understate, the effect of a
full integer pipeline. BatchNorm layers (their affine parameters and running statistics) stay
float32 and are not folded into the convolution before it: TFLite folds them first, so its
scales see the folded weights, and per-tensor int8 of a folded convolution can round
differently from the unfolded one quantized here.
"""

from __future__ import annotations

import torch
from torch import nn

from ..core.validation import check_integer, check_option
from .masks import export_pruned, prunable_parameters

SCHEMES = ("float32", "float16", "int8-tensor", "int8-channel")
"""The quantization schemes, described above, from the reference to the coarsest."""


def _along(scale: torch.Tensor, ndim: int, axis: int) -> torch.Tensor:
    """``scale`` (a scalar or ``(C,)``) reshaped to broadcast along ``axis`` of an ``ndim``-D tensor."""
    return scale.reshape([-1 if dim == axis % ndim else 1 for dim in range(ndim)])


def quantize_symmetric(w: torch.Tensor, *, per_channel: bool, axis: int = 0,
                       bits: int = 8) -> tuple[torch.Tensor, torch.Tensor]:
    """Symmetric ``bits``-bit quantization of ``w`` (int8 by default).

    Parameters
    ----------
    w : torch.Tensor
        Float tensor, e.g. a Conv weight ``(out, in, kh, kw)`` or Linear weight ``(out, in)``.
    per_channel : bool
        One scale per slice along ``axis`` (``True``) or one for the whole tensor.
    axis : int
        The channel axis (0 = output channels of Conv and Linear weights); ignored per tensor.
    bits : int
        Bit width, from 2 to 8 (the codes are stored as ``int8``): the grid is the integers of ``[-L, L]`` with
        ``L = 2 ** (bits - 1) - 1`` (127 for int8, 7 for 4 bits), its most negative code unused.

    Returns
    -------
    q : torch.Tensor
        ``int8``, shaped like ``w``: ``clamp(round(w / scale), -L, L)``.
    scale : torch.Tensor
        ``float32``: shape ``()`` per tensor, ``(w.shape[axis],)`` per channel;
        ``max|w| / L`` over the tensor or channel. An all-zero tensor or channel gets scale
        0 and ``q = 0`` (the division is guarded), so it dequantizes to exact zeros.
    """
    levels = 2 ** (check_integer(bits, "bits", low=2, high=8) - 1) - 1
    w = w.detach().float()
    magnitude = w.abs()
    if per_channel:
        amax = magnitude.movedim(axis, 0).reshape(w.shape[axis], -1).amax(dim=1)
    else:
        amax = magnitude.amax()
    scale = amax / levels
    divisor = _along(torch.where(scale > 0, scale, 1.0), w.dim(), axis)
    q = torch.round(w / divisor).clamp(-levels, levels).to(torch.int8)
    return q, scale


def dequantize(q: torch.Tensor, scale: torch.Tensor, axis: int = 0) -> torch.Tensor:
    """``q * scale`` in float32, ``scale`` broadcast along ``axis`` (inverse of :func:`quantize_symmetric`)."""
    return q.float() * _along(scale, q.dim(), axis)


def encode(w: torch.Tensor, scheme: str) -> tuple[torch.Tensor, ...]:
    """The arrays that store ``w`` under ``scheme``: ``(w,)``, ``(w16,)`` or ``(q, scale)``."""
    check_option(scheme, "scheme", SCHEMES)
    if scheme == "float32":
        return (w,)
    if scheme == "float16":
        return (w.half(),)
    return quantize_symmetric(w, per_channel=scheme == "int8-channel")


def _decode(parts: tuple[torch.Tensor, ...]) -> torch.Tensor:
    """Float32 weights back from :func:`encode`'s arrays."""
    return parts[0].float() if len(parts) == 1 else dequantize(*parts)


def quantize_model(model: nn.Module, scheme: str) -> nn.Module:
    """A copy of ``model`` whose Conv/Linear weights went through ``scheme``'s round trip.

    Parameters
    ----------
    model : nn.Module
        Dense or pruned (masks are folded in first with :func:`~course_lib.compression.masks.export_pruned`,
        and zeros survive quantization). Left untouched.
    scheme : {"float32", "float16", "int8-tensor", "int8-channel"}
        See the module docstring. Biases and activations stay float32.

    Returns
    -------
    nn.Module
        Same architecture, float32 weights restricted to the scheme's grid, usable with
        :func:`~course_lib.training.loop.predict_logits` like any model.
    """
    check_option(scheme, "scheme", SCHEMES)
    quantized = export_pruned(model)
    with torch.no_grad():
        for _, module in prunable_parameters(quantized):
            module.weight.copy_(_decode(encode(module.weight, scheme)))
    return quantized
