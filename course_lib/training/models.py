"""The small convolutional networks the course trains by the hundred."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from ..core.validation import check_bool, check_integer


class SmallCNN(nn.Module):
    """Conv-ReLU-MaxPool blocks (Conv-BatchNorm-ReLU-MaxPool with ``batch_norm``), then a hidden fully connected layer and a linear classifier.

    Input ``(N, in_channels, image_size, image_size)``, output logits ``(N, num_classes)``.
    The last layer is called ``classifier`` so that pruning can include or exclude it by name.

    Parameters
    ----------
    in_channels : int
        1 for grey images, 3 for RGB.
    num_classes : int
        Size of the output layer.
    image_size : int
        Side of the square input; must be divisible by ``2 ** len(channels)``.
    channels : sequence of int
        Output channels of each 3x3 convolution block (each halves the resolution).
    hidden : int
        Width of the hidden fully connected layer.
    batch_norm : bool
        Put a :class:`~torch.nn.BatchNorm2d` (Ioffe and Szegedy, 2015) after every convolution,
        which then has no bias (the normalization's shift replaces it).
    """

    def __init__(self, in_channels: int, num_classes: int, image_size: int,
                 channels: Sequence[int] = (16, 32), hidden: int = 64, batch_norm: bool = False) -> None:
        super().__init__()
        if image_size % (2 ** len(channels)):
            raise ValueError(f"image_size must be divisible by {2 ** len(channels)}, got {image_size}")
        blocks, c_in = [], in_channels
        for c_out in channels:
            blocks += [nn.Conv2d(c_in, c_out, 3, padding=1, bias=not batch_norm),
                       *([nn.BatchNorm2d(c_out)] if batch_norm else []), nn.ReLU(), nn.MaxPool2d(2)]
            c_in = c_out
        self.features = nn.Sequential(*blocks)
        side = image_size // 2 ** len(channels)
        self.hidden = nn.Sequential(nn.Flatten(), nn.Linear(c_in * side * side, hidden), nn.ReLU())
        self.classifier = nn.Linear(hidden, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.hidden(self.features(x)))


def make_model(*, in_channels: int, num_classes: int, image_size: int, seed: int,
               channels: Sequence[int] = (16, 32), hidden: int = 64, batch_norm: bool = False) -> SmallCNN:
    """A :class:`SmallCNN` whose initial weights depend only on ``seed`` (global RNG untouched)."""
    for name, value in (("in_channels", in_channels), ("num_classes", num_classes), ("image_size", image_size),
                        ("hidden", hidden), *((f"channels[{i}]", c) for i, c in enumerate(channels))):
        check_integer(value, name, low=1)
    seed = check_integer(seed, "seed", low=0)
    check_bool(batch_norm, "batch_norm")
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return SmallCNN(in_channels, num_classes, image_size, channels=channels, hidden=hidden, batch_norm=batch_norm)
