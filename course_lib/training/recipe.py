"""The training recipe every model of the course follows, in one object.

:func:`~course_lib.training.loop.train_model` trains one model with it and the population
engine (:mod:`course_lib.populations.engine`) trains many side by side with it; both take their
optimizer, learning-rate schedule, step count and data order from a :class:`TrainingRecipe`,
so a change to the recipe reaches both or neither.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from typing import Any

import torch
import torch.nn.functional as F

from ..core.validation import check_bool, check_integer, check_option, check_real

LR_SCHEDULES = ("constant", "cosine", "one-cycle")
"""The learning-rate schedules, ``"constant"``, ``"cosine"`` (decay from ``lr`` to 0 over all steps)
or ``"one-cycle"`` (warm up to ``lr``, then anneal far below it)."""


@dataclass(frozen=True)
class TrainingRecipe:
    """How a model is trained: Adam on the mean cross-entropy of shuffled mini-batches.

    Attributes
    ----------
    epochs : int
        Passes over the data, ``>= 0`` (0 leaves the model at its initialization).
    batch_size : int
        Examples per optimizer step, ``>= 1``; the last batch of an epoch may be smaller.
    lr : float
        Initial learning rate of Adam, ``> 0``.
    lr_schedule : {"constant", "cosine"}
        ``"cosine"`` sets the learning rate of step ``t`` (counting from 0) to
        ``lr * (1 + cos(pi * t / T)) / 2`` over the ``T`` steps of training
        (:class:`torch.optim.lr_scheduler.CosineAnnealingLR`): the last steps are small, so the
        final weights depend less on the last few batches and models trained with different
        seeds agree more. ``"one-cycle"`` is Smith and Topin's (2019) policy as
        :class:`torch.optim.lr_scheduler.OneCycleLR` implements it with its defaults: from
        ``lr / 25`` up to ``lr`` over the first 30% of the steps, then cosine annealing down to
        ``lr / 25 / 1e4`` (Adam's first moment coefficient cycles between 0.95 and 0.85 in the
        opposite direction). ``"constant"`` keeps ``lr``.
    flip : bool
        Flip every training image horizontally with probability 1/2 (faces and clothes look
        the same mirrored; digits would not).
    crop_padding : int
        ``p >= 0``: pad every training image with ``p`` zero pixels on each side, then crop it
        back to its size at a uniformly drawn offset in ``[0, 2p]`` on each axis (a shift by up
        to ``p`` pixels). The flip comes after the crop; both are drawn afresh for every image
        in every epoch from the model's data-order generator (:meth:`augmentation_draws`).
    augment_hardest : float
        In ``[0, 1]``. 0 (the default): the flips and shifts apply to every training image. Above
        0: *targeted augmentation* (D'souza et al. 2021, "A tale of two long tails"): from epoch
        ``augment_from`` on, only the share ``augment_hardest`` of the training examples on which
        the model is least sure -- the lowest maximum softmax probability (MSP), measured in eval
        mode at the end of the previous epoch -- are flipped and shifted; the others are shown
        as they are, and before ``augment_from`` none is augmented. Needs ``flip`` or
        ``crop_padding``.
    augment_from : int
        The first epoch (counting from 1) of targeted augmentation, ``>= 2`` (the MSP of an
        untrained model says nothing); used only when ``augment_hardest > 0``.
    label_smoothing : float
        In ``[0, 1)``: the cross-entropy's targets mix the true class (weight ``1 - e``) with
        the uniform distribution over classes (weight ``e``), as
        :func:`torch.nn.functional.cross_entropy` does (Szegedy et al. 2016). 0: plain
        cross-entropy.
    """

    epochs: int
    batch_size: int = 128
    lr: float = 1e-3
    lr_schedule: str = "constant"
    flip: bool = False
    crop_padding: int = 0
    label_smoothing: float = 0.0
    augment_hardest: float = 0.0
    augment_from: int = 2

    def __post_init__(self) -> None:
        object.__setattr__(self, "epochs", check_integer(self.epochs, "epochs", low=0))
        object.__setattr__(self, "batch_size", check_integer(self.batch_size, "batch_size", low=1))
        object.__setattr__(self, "lr", check_real(self.lr, "lr", low=0, closed="neither"))
        check_option(self.lr_schedule, "lr_schedule", LR_SCHEDULES)
        check_bool(self.flip, "flip")
        object.__setattr__(self, "crop_padding", check_integer(self.crop_padding, "crop_padding", low=0))
        object.__setattr__(self, "label_smoothing", check_real(self.label_smoothing, "label_smoothing", low=0.0,
                                                               high=1.0, closed="left"))
        object.__setattr__(self, "augment_hardest", check_real(self.augment_hardest, "augment_hardest", low=0.0,
                                                               high=1.0))
        object.__setattr__(self, "augment_from", check_integer(self.augment_from, "augment_from", low=2))
        if self.augment_hardest and not (self.flip or self.crop_padding):
            raise ValueError(f"augment_hardest={self.augment_hardest} needs an augmentation to target: "
                             "set flip=True or crop_padding > 0")

    @property
    def augments(self) -> bool:
        """Whether training images are flipped or shifted."""
        return self.flip or self.crop_padding > 0

    def targets_epoch(self, epoch: int) -> bool:
        """Whether epoch ``epoch`` (counting from 1) augments only the hardest examples (needs their MSP)."""
        return self.augment_hardest > 0 and epoch >= self.augment_from

    def hardest(self, msp: torch.Tensor) -> torch.Tensor:
        """The examples to augment: ``(..., N)`` bool, the ``round(augment_hardest * N)`` lowest MSPs of each row.

        ``msp`` is ``(..., N)``, each row one model's maximum softmax probability on every
        training example; ties go to the earlier example.
        """
        n = msp.shape[-1]
        chosen = torch.argsort(msp, dim=-1, stable=True)[..., :round(self.augment_hardest * n)]
        return torch.zeros_like(msp, dtype=torch.bool).scatter_(-1, chosen, True)

    def steps(self, n: int) -> int:
        """Optimizer steps of training on ``n`` examples: ``epochs * ceil(n / batch_size)``."""
        return self.epochs * math.ceil(n / self.batch_size)

    def optimizer(self, params: Iterable[torch.Tensor], *, fused: bool = False) -> torch.optim.Adam:
        """Adam over ``params`` at ``lr`` (``fused``: one kernel per step, as the engine runs it)."""
        return torch.optim.Adam(params, lr=self.lr, fused=fused or None)

    def scheduler(self, optimizer: torch.optim.Optimizer, n: int) -> torch.optim.lr_scheduler.LRScheduler:
        """The learning-rate schedule for training on ``n`` examples, stepped after every optimizer step."""
        if self.lr_schedule == "cosine":
            return torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=max(self.steps(n), 1))
        if self.lr_schedule == "one-cycle":
            return torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=self.lr, total_steps=max(self.steps(n), 2))
        return torch.optim.lr_scheduler.ConstantLR(optimizer, factor=1.0, total_iters=0)

    def loss(self, logits: torch.Tensor, targets: torch.Tensor, *, reduction: str = "mean") -> torch.Tensor:
        """The loss every model is trained on: cross-entropy of ``logits`` ``(B, C)`` against ``targets`` ``(B,)``.

        With the recipe's ``label_smoothing``. ``reduction="mean"`` (one model's batch loss) or
        ``"none"`` (one value per example, as the engine averages them per member).
        """
        return F.cross_entropy(logits, targets, reduction=reduction, label_smoothing=self.label_smoothing)

    def batch_starts(self, n: int) -> range:
        """First positions of the mini-batches of one epoch over ``n`` examples."""
        return range(0, n, self.batch_size)

    @staticmethod
    def generator(seed: int) -> torch.Generator:
        """The generator of a model's data order: one permutation per epoch, drawn from ``seed``."""
        return torch.Generator().manual_seed(seed)

    @staticmethod
    def epoch_order(n: int, generator: torch.Generator) -> torch.Tensor:
        """The order ``(n,)`` in which one epoch visits the examples."""
        return torch.randperm(n, generator=generator)

    def augmentation_draws(self, n: int, generator: torch.Generator) -> torch.Tensor:
        """The random choices of augmenting ``n`` images: ``(n, 3)`` int64 ``[flip, dy, dx]``.

        ``flip`` is 0 or 1, ``dy`` and ``dx`` the crop offsets in ``[0, 2 * crop_padding]``.
        Drawn from ``generator`` (nothing is drawn for an option that is off), so a model's
        augmentations, like its data order, depend on its seed only.
        """
        draws = torch.zeros(n, 3, dtype=torch.int64)
        if self.flip:
            draws[:, 0] = torch.randint(0, 2, (n,), generator=generator)
        if self.crop_padding:
            draws[:, 1:] = torch.randint(0, 2 * self.crop_padding + 1, (n, 2), generator=generator)
        return draws

    def only(self, draws: torch.Tensor, chosen: torch.Tensor) -> torch.Tensor:
        """``draws`` ``(..., 3)`` with every image outside ``chosen`` ``(...)`` left as it is.

        An image left alone keeps no flip and the centred crop (offset ``crop_padding``), so
        :meth:`augment` returns it unchanged; the draws are made for every image all the same,
        so the generator's stream does not depend on which images are chosen.
        """
        kept = torch.tensor([0, self.crop_padding, self.crop_padding], dtype=draws.dtype, device=draws.device)
        return torch.where(chosen.to(draws.device)[..., None], draws, kept)

    def augment(self, images: torch.Tensor, draws: torch.Tensor) -> torch.Tensor:
        """``images`` ``(..., C, H, W)`` cropped and flipped as ``draws`` ``(..., 3)`` say.

        Every image gets its own offset and flip in one gather (no loop over images): any
        leading axes, such as the ``(B, K)`` of a stacked population's batch, are flattened.
        The pixels the shift brings in are zeros.
        """
        lead, (c, h, w) = images.shape[:-3], images.shape[-3:]
        x, d = images.reshape(-1, c, h, w), draws.reshape(-1, 3).to(images.device)
        if self.crop_padding:
            p = self.crop_padding
            rows = d[:, 1, None] + torch.arange(h, device=x.device)  # (M, H) rows of the padded image
            cols = d[:, 2, None] + torch.arange(w, device=x.device)  # (M, W)
            padded = F.pad(x, (p, p, p, p))
            x = padded[torch.arange(len(x), device=x.device)[:, None, None], :, rows[:, :, None], cols[:, None, :]]
            x = x.permute(0, 3, 1, 2)  # the gather puts the channels last
        if self.flip:
            x = torch.where(d[:, 0, None, None, None].bool(), x.flip(-1), x)
        return x.reshape(*lead, c, h, w)

    def as_config(self) -> dict[str, Any]:
        """The recipe as plain values (for cache keys).

        The augmentation, label-smoothing and targeting options enter only when used: members
        trained before they existed keep their keys.
        """
        config = asdict(self)
        if not self.augments:
            del config["flip"], config["crop_padding"]
        if not self.label_smoothing:
            del config["label_smoothing"]
        if not self.augment_hardest:
            del config["augment_hardest"], config["augment_from"]
        return config
