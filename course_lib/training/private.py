"""Differentially private training: DP-SGD with Opacus, one model at a time, with the privacy it spends.

DP-SGD (Abadi et al. 2016) bounds what a trained model can reveal about any one training example:
every step clips each example's gradient to the norm ``max_grad_norm`` ``C``, sums the clipped
gradients of a batch drawn by Poisson sampling, and adds Gaussian noise of standard deviation
``noise_multiplier * C`` before the optimizer uses them. An accountant turns the noise, the
sampling rate and the number of steps into a guarantee: the training is
``(epsilon, delta)``-differentially private. Bagdasaryan, Poursaeed and Shmatikov (2019,
"Differential privacy has disparate impact on model accuracy") found that its cost in accuracy
falls hardest on the underrepresented groups of the data, UTKFace's among them.

The course uses Opacus (its ``PrivacyEngine``) with the RDP accountant of Mironov (2017), the
moments accountant of Abadi et al.: Opacus' default PRV accountant is tighter but needs memory
that grows without bound as the noise shrinks. The privacy a training spends depends only on the
settings, the data size and the number of steps, so :func:`privacy_spent` computes it before a
single step is taken. Per-example gradients rule out layers that mix the examples of a batch: Opacus refuses
BatchNorm, whose usual replacement is GroupNorm (:func:`check_private_model` says so). The
population engine stacks members into one network, so its clipping would bound the members
together, not each member's examples: each private member is trained here alone, with its own
accounting (:func:`~course_lib.populations.private.train_private_population` trains and caches
a population of them).
"""

from __future__ import annotations

import math
import warnings
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import torch
from torch import nn

from ..core.validation import check_images, check_instance, check_integer, check_real, check_targets
from .recipe import TrainingRecipe


@dataclass(frozen=True)
class PrivacySettings:
    """How DP-SGD trains: the noise, the clipping norm and the ``delta`` of the guarantee.

    Attributes
    ----------
    noise_multiplier : float
        ``sigma > 0``: the noise's standard deviation in units of ``max_grad_norm``.
    max_grad_norm : float
        ``C > 0``: every example's gradient is clipped to this norm.
    delta : float
        In ``(0, 1)``: the probability with which the guarantee may fail; the usual choice is
        below ``1 / N`` for ``N`` training examples.
    """

    noise_multiplier: float
    max_grad_norm: float = 1.0
    delta: float = 1e-5

    def __post_init__(self) -> None:
        object.__setattr__(self, "noise_multiplier", check_real(self.noise_multiplier, "noise_multiplier", low=0.0,
                                                                closed="neither"))
        object.__setattr__(self, "max_grad_norm", check_real(self.max_grad_norm, "max_grad_norm", low=0.0,
                                                             closed="neither"))
        object.__setattr__(self, "delta", check_real(self.delta, "delta", low=0.0, high=1.0, closed="neither"))

    def as_config(self) -> dict[str, Any]:
        """The settings as plain values (part of a private member's cache key)."""
        return {name: float(value) for name, value in asdict(self).items()}


def batches_per_epoch(n: int, recipe: TrainingRecipe) -> int:
    """``ceil(n / batch_size)``: the Poisson batches of one epoch, each example drawn with probability its inverse."""
    return math.ceil(check_integer(n, "n", low=1) / recipe.batch_size)


def privacy_spent(privacy: PrivacySettings, *, n: int, recipe: TrainingRecipe) -> float:
    """The ``epsilon`` at ``privacy.delta`` of DP-SGD on ``n`` examples for ``recipe.epochs`` epochs.

    The RDP accountant's bound for ``epochs * batches_per_epoch(n)`` steps of the subsampled
    Gaussian mechanism with noise multiplier ``sigma`` and sampling rate ``1 / batches_per_epoch(n)``.
    """
    from opacus.accountants import RDPAccountant

    check_instance(privacy, "privacy", PrivacySettings)
    batches = batches_per_epoch(n, recipe)
    accountant = RDPAccountant()
    if recipe.epochs:
        accountant.history.append((privacy.noise_multiplier, 1 / batches, recipe.epochs * batches))
        return float(accountant.get_epsilon(privacy.delta))
    return 0.0


def _streams(seed: int) -> tuple[int, int, int]:
    """Independent seeds for the Poisson sampling, the noise and the augmentation of the member ``seed``."""
    return tuple(int(word) for word in np.random.SeedSequence([seed]).generate_state(3))


def check_private_model(model: nn.Module) -> nn.Module:
    """``model``, checked to be trainable with per-example gradients (Opacus's validator).

    Raises
    ------
    ValueError
        naming the layers Opacus cannot train privately (BatchNorm, above all) and the fix.
    """
    from opacus.validators import ModuleValidator

    check_instance(model, "model", nn.Module)
    errors = ModuleValidator.validate(model, strict=False)
    if errors:
        raise ValueError("model must be trainable with per-example gradients for DP-SGD, but Opacus refuses it: "
                         f"{'; '.join(str(e) for e in errors)}. Use a model without BatchNorm "
                         "(make_model(batch_norm=False)) or replace it with GroupNorm "
                         "(opacus.validators.ModuleValidator.fix)")
    return model


def train_private(model: nn.Module, images: torch.Tensor, targets: torch.Tensor, *, recipe: TrainingRecipe,
                  privacy: PrivacySettings, seed: int = 0) -> tuple[nn.Module, float]:
    """Train ``model`` with DP-SGD and return it with the ``epsilon`` its training spent.

    Parameters
    ----------
    model : torch.nn.Module
        Trained in place; it must pass :func:`check_private_model`.
    images, targets : torch.Tensor
        ``(N, C, H, W)`` and ``(N,)`` int64, on the CPU.
    recipe : TrainingRecipe
        Epochs, batch size, optimizer, schedule and augmentation, as for
        :func:`~course_lib.training.loop.train_model`. Every epoch is ``ceil(N / batch_size)``
        Poisson batches, each example in each with probability ``1 / ceil(N / batch_size)``
        (batches of about ``batch_size`` examples), and the schedule counts those steps.
        Targeted augmentation is not supported.
    privacy : PrivacySettings
    seed : int
        Seeds the Poisson sampling, the noise and the augmentation draws, three independent
        streams derived from it (``numpy.random.SeedSequence``): the same seed trains the same
        model on the same machine.

    Returns
    -------
    model : torch.nn.Module
        The trained model (the one passed in, without Opacus' hooks), in eval mode.
    epsilon : float
        :func:`privacy_spent`, computed before the training starts (so impossible settings fail
        at once). Opacus' own accountant reaches the same value, except for the ``N`` whose
        batch count its float rounding makes one short: it then assumes a sampling rate of
        ``1 / (batches - 1)`` and reports a slightly larger, still valid, epsilon (tested).
    """
    from opacus import PrivacyEngine
    from torch.utils.data import DataLoader, TensorDataset

    check_private_model(model)
    check_images(images)
    check_targets(targets, n=len(images))
    check_instance(recipe, "recipe", TrainingRecipe)
    if recipe.augment_hardest:
        raise ValueError("recipe.augment_hardest must be 0: targeted augmentation is not part of private training")
    epsilon = privacy_spent(privacy, n=len(targets), recipe=recipe)
    sampling, noise, augmentation = _streams(check_integer(seed, "seed", low=0))
    model.train()
    optimizer = recipe.optimizer(model.parameters())
    loader = DataLoader(TensorDataset(images, targets), batch_size=recipe.batch_size,
                        generator=torch.Generator().manual_seed(sampling))
    with warnings.catch_warnings():
        # Opacus warns that its RNG is not cryptographically secure (secure_mode=False): a choice, for
        # seeded, reproducible runs; and that the first layer's backward hook sees no input gradient.
        warnings.filterwarnings("ignore", message="Secure RNG turned off")
        warnings.filterwarnings("ignore", message="Full backward hook is firing")
        engine = PrivacyEngine(accountant="rdp", secure_mode=False)
        private, optimizer, loader = engine.make_private(
            module=model, optimizer=optimizer, data_loader=loader, noise_multiplier=privacy.noise_multiplier,
            max_grad_norm=privacy.max_grad_norm, poisson_sampling=True,
            noise_generator=torch.Generator().manual_seed(noise))
        # Opacus counts int(1 / sample_rate) batches per epoch, one short for some N after float rounding.
        loader.batch_sampler.steps = batches_per_epoch(len(targets), recipe)
        try:
            scheduler = recipe.scheduler(optimizer.original_optimizer, len(targets))
            draws = recipe.generator(augmentation)
            for _ in range(recipe.epochs):
                for x, y in loader:
                    if recipe.augments:
                        x = recipe.augment(x, recipe.augmentation_draws(len(x), draws))
                    optimizer.zero_grad(set_to_none=True)
                    recipe.loss(private(x), y).backward()
                    optimizer.step()
                    scheduler.step()
        finally:
            private.cleanup()  # Opacus' hooks and per-example gradients leave the model
    return model.eval(), epsilon


__all__ = ["PrivacySettings", "batches_per_epoch", "check_private_model", "privacy_spent", "train_private"]
