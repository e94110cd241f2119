"""Many members of one architecture as one network: grouped convolutions, batched products.

The parameters of ``K`` members are stacked along a new first axis, ``(K, *shape)``. Every
convolution then becomes one grouped convolution (``groups = K``) over the members' images side
by side in the channels, and every linear layer one batched matrix product. The forward pass of
the stack computes each member's logits on its own images, in one call per layer.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import torch
import torch.nn.functional as F
from torch import nn

STACKABLE = (nn.Conv2d, nn.Linear, nn.ReLU, nn.MaxPool2d, nn.Flatten)
"""The layer types :func:`stacked_forward` can run."""


def stackable_layers(model: nn.Module, sample: torch.Tensor) -> list[tuple[str, nn.Module]]:
    """The leaf layers of ``model`` in registration order, checked to compute its forward pass.

    Raises
    ------
    ValueError
        If ``model`` has buffers, a layer the engine cannot stack, or a forward pass that
        :func:`stacked_forward` does not reproduce on ``sample`` ``(B, C, H, W)``.
    """
    layers = [(name, module) for name, module in model.named_modules() if not any(True for _ in module.children())]
    unsupported = sorted({type(m).__name__ for _, m in layers if not isinstance(m, STACKABLE)}
                         | {"Conv2d(padding_mode != 'zeros')" for _, m in layers
                            if isinstance(m, nn.Conv2d) and m.padding_mode != "zeros"})
    if unsupported or any(True for _ in model.buffers()):
        raise ValueError(f"model must consist of {[t.__name__ for t in STACKABLE]} layers without buffers, "
                         f"got {unsupported or 'buffers'}")
    with torch.no_grad():
        one_member = {name: p.unsqueeze(0) for name, p in model.named_parameters()}
        try:
            stacked = stacked_forward(layers, one_member, sample.unsqueeze(1))[0]
        except RuntimeError:
            stacked = None
        if stacked is None or not torch.allclose(stacked, model(sample), rtol=1e-4, atol=1e-5):
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
                     images: torch.Tensor) -> torch.Tensor:
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
        Every parameter of the model stacked over members: ``(K, *shape)``.
    images : torch.Tensor
        ``(B, K, C, H, W)``: ``images[:, k]`` is the batch of member ``k``.

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
