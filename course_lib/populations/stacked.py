"""Many members of one architecture as one network: grouped convolutions, batched products.

The parameters of ``K`` members are stacked along a new first axis, ``(K, *shape)``. Every
convolution then becomes one grouped convolution (``groups = K``) over the members' images side
by side in the channels, and every linear layer one batched matrix product. The forward pass of
the stack computes each member's logits on its own images, in one call per layer.

A :class:`~torch.nn.BatchNorm2d` layer stacks the same way: with the members side by side in
the channels, one ``F.batch_norm`` over ``K * C`` channels normalises every channel of every
member over that member's own batch, with its own affine parameters and its own running
statistics (buffers stacked like the parameters, ``(K, C)``, updated in place in training).
PyTorch's channels-last BatchNorm kernels on a CPU sum a channel's values in an order that
depends on where the channel falls in the SIMD registers; when every member's channel count is
a multiple of 16 (the float lanes of AVX-512; AVX2 has 8), a member's channels always start on
a register boundary and its results do not depend on its group. The course's BatchNorm models
have 16, 32 and 64 channels; with other counts a member's float rounding depends on its group.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping, Sequence

import torch
import torch.nn.functional as F
from torch import nn

STACKABLE = (nn.Conv2d, nn.BatchNorm2d, nn.Linear, nn.ReLU, nn.MaxPool2d, nn.Flatten)
"""The layer types :func:`stacked_forward` can run."""


def stackable_layers(model: nn.Module, sample: torch.Tensor) -> list[tuple[str, nn.Module]]:
    """The leaf layers of ``model`` in registration order, checked to compute its forward pass.

    Raises
    ------
    ValueError
        If ``model`` has a layer the engine cannot stack, buffers other than those of its
        BatchNorm layers, or a forward pass that :func:`stacked_forward` does not reproduce on
        ``sample`` ``(B, C, H, W)`` in eval mode.
    """
    layers = [(name, module) for name, module in model.named_modules() if not any(True for _ in module.children())]
    unsupported = sorted({type(m).__name__ for _, m in layers if not isinstance(m, STACKABLE)}
                         | {"Conv2d(padding_mode != 'zeros')" for _, m in layers
                            if isinstance(m, nn.Conv2d) and m.padding_mode != "zeros"}
                         | {"BatchNorm2d(affine=False or track_running_stats=False)" for _, m in layers
                            if isinstance(m, nn.BatchNorm2d) and not (m.affine and m.track_running_stats)})
    if unsupported:
        raise ValueError(f"model must consist of {[t.__name__ for t in STACKABLE]} layers, got {unsupported}")
    foreign = [name for name, _ in model.named_buffers()
               if not isinstance(model.get_submodule(name.rpartition(".")[0]), nn.BatchNorm2d)]
    if foreign:
        raise ValueError(f"model must have no buffers but those of its BatchNorm2d layers, got {foreign}")
    with torch.no_grad():
        one_member = {name: p.unsqueeze(0).clone() for name, p in model.state_dict(keep_vars=False).items()}
        # Fresh BatchNorm statistics (mean 0, variance 1) would hide a misplaced buffer: use others.
        generator = torch.Generator().manual_seed(0)
        for name, tensor in one_member.items():
            if name.endswith(("running_mean", "running_var")):
                tensor.copy_(torch.rand(tensor.shape, generator=generator) + name.endswith("running_var"))
        reference = copy.deepcopy(model).eval()
        reference.load_state_dict({name: t[0] for name, t in one_member.items()})
        try:
            stacked = stacked_forward(layers, one_member, sample.unsqueeze(1))[0]
        except RuntimeError:
            stacked = None
        if stacked is None or not torch.allclose(stacked, reference(sample), rtol=1e-4, atol=1e-5):
            raise ValueError("model's forward pass must be its layers applied in registration order "
                             "(Flatten between the convolutional and the linear layers)")
    return layers


def pool_before_relu(layers: Sequence[tuple[str, nn.Module]]) -> list[tuple[str, nn.Module]]:
    """``layers`` with every ``ReLU, MaxPool2d`` pair swapped.

    ReLU is monotone, so ``maxpool(relu(x)) == relu(maxpool(x))`` exactly, and so are the
    gradients (both vanish unless the window's maximum is positive); pooling first applies
    ReLU, forward and backward, to a quarter of the values.
    """
    ordered = list(layers)
    for i in range(len(ordered) - 1):
        if isinstance(ordered[i][1], nn.ReLU) and isinstance(ordered[i + 1][1], nn.MaxPool2d):
            ordered[i], ordered[i + 1] = ordered[i + 1], ordered[i]
    return ordered


def stacked_forward(layers: Sequence[tuple[str, nn.Module]], params: Mapping[str, torch.Tensor],
                     images: torch.Tensor, *, training: bool = False) -> torch.Tensor:
    """Logits of ``K`` members, each on its own images.

    Images pass the convolutional part as ``(B, K * C, H, W)`` (members side by side in the
    channels, channels-last on the CPU, where oneDNN is fastest so), through grouped
    convolutions; from the ``Flatten`` on they are ``(K, B, features)``, through batched products.

    Parameters
    ----------
    layers : sequence of tuple
        ``(name, layer)`` pairs from :func:`stackable_layers`; only the layers' hyperparameters
        are used.
    params : mapping of str to torch.Tensor
        Every entry of the model's state dict stacked over members: ``(K, *shape)``; the
        BatchNorm buffers ``running_mean``, ``running_var`` and ``num_batches_tracked`` too.
    images : torch.Tensor
        ``(B, K, C, H, W)``: ``images[:, k]`` is the batch of member ``k``.
    training : bool
        BatchNorm as in ``model.train()``: normalise by the batch's statistics and update the
        running ones in place (``num_batches_tracked`` counts the updates). Otherwise as in
        ``model.eval()``: normalise by the running statistics.

    Returns
    -------
    torch.Tensor
        ``(K, B, classes)``.
    """
    batch, members = images.shape[:2]
    h = images.flatten(1, 2)
    if h.device.type == "cpu":
        h = h.contiguous(memory_format=torch.channels_last)
    for name, layer in pool_before_relu(layers):
        weight, bias = params.get(f"{name}.weight"), params.get(f"{name}.bias")
        if isinstance(layer, nn.Conv2d):
            h = F.conv2d(h, weight.flatten(0, 1), None if bias is None else bias.flatten(), layer.stride,
                         layer.padding, layer.dilation, layer.groups * members)
        elif isinstance(layer, nn.BatchNorm2d):
            mean, var, count = (params[f"{name}.{buffer}"] for buffer in
                                ("running_mean", "running_var", "num_batches_tracked"))
            momentum = layer.momentum
            if training:
                count += 1
                momentum = 1 / float(count[0]) if momentum is None else momentum
            h = F.batch_norm(h, mean.view(-1), var.view(-1), weight.flatten(), bias.flatten(), training,
                             momentum or 0.0, layer.eps)
        elif isinstance(layer, nn.Linear):
            h = torch.bmm(h, weight.transpose(1, 2)) if bias is None else torch.baddbmm(
                bias.unsqueeze(1), h, weight.transpose(1, 2))
        elif isinstance(layer, nn.ReLU):
            h = F.relu(h)
        elif isinstance(layer, nn.MaxPool2d):
            h = F.max_pool2d(h, layer.kernel_size, layer.stride, layer.padding, layer.dilation, layer.ceil_mode)
        else:  # nn.Flatten: from members side by side in the channels to members first
            h = h.contiguous().view(batch, members, -1).transpose(0, 1)
    return h
