"""Differentially private training: DP-SGD with Opacus, one model at a time, with the privacy it spends.

DP-SGD (Abadi et al. 2016) bounds what a trained model can reveal about any one training example:
every step clips each example's gradient to the norm ``max_grad_norm`` ``C``, sums the clipped
gradients of a batch drawn by Poisson sampling, and adds Gaussian noise of standard deviation
``noise_multiplier * C`` before the optimizer uses them. An accountant turns the noise, the
sampling rate and the number of steps into a guarantee: the training is
``(epsilon, delta)``-differentially private. Bagdasaryan, Poursaeed and Shmatikov (2019,
"Differential privacy has disparate impact on model accuracy") found that its cost in accuracy
falls hardest on the underrepresented groups of the data, UTKFace's among them.

The course uses Opacus (its ``PrivacyEngine``, with the PRV accountant it uses by
default). Per-example gradients rule out layers that mix the examples of a batch: Opacus refuses
BatchNorm, whose usual replacement is GroupNorm (:func:`check_private_model` says so). The
population engine stacks members into one network, so its clipping would bound the members
together, not each member's examples: each private member is trained here alone, with its own
accounting (:func:`~course_lib.populations.private.train_private_population` trains and caches
a population of them).
"""

from __future__ import annotations

import warnings
from dataclasses import asdict, dataclass
from typing import Any

import torch
from torch import nn

from ..core.validation import check_instance, check_integer, check_real
from .recipe import TrainingRecipe


@dataclass(frozen=True)
class PrivacySettings:
    """How DP-SGD trains: the noise, the clipping norm and the ``delta`` of the guarantee.

    Attributes
    ----------
    noise_multiplier : float
        ``sigma >= 0``: the noise's standard deviation in units of ``max_grad_norm`` (0: clipping
        without noise, no privacy).
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
        check_real(self.noise_multiplier, "noise_multiplier", low=0.0)
        check_real(self.max_grad_norm, "max_grad_norm", low=0.0, closed="neither")
        check_real(self.delta, "delta", low=0.0, high=1.0, closed="neither")

    def as_config(self) -> dict[str, Any]:
        """The settings as plain values (part of a private member's cache key)."""
        return {name: float(value) for name, value in asdict(self).items()}


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
        Epochs, batch size (the *expected* size of a Poisson batch), optimizer, schedule and
        augmentation, as for :func:`~course_lib.training.loop.train_model`; the schedule counts
        ``ceil(N / batch_size)`` steps per epoch. Targeted augmentation is not supported.
    privacy : PrivacySettings
    seed : int
        Seeds the Poisson sampling, the noise and the augmentation draws: the same seed trains
        the same model on the same machine.

    Returns
    -------
    model : torch.nn.Module
        The trained model (the one passed in, unwrapped), in eval mode.
    epsilon : float
        The privacy spent, by the accountant, at ``privacy.delta``.
    """
    from opacus import PrivacyEngine
    from torch.utils.data import DataLoader, TensorDataset

    check_private_model(model)
    check_instance(recipe, "recipe", TrainingRecipe)
    check_instance(privacy, "privacy", PrivacySettings)
    seed = check_integer(seed, "seed", low=0)
    if recipe.augment_hardest:
        raise ValueError("recipe.augment_hardest must be 0: targeted augmentation is not part of private training")
    model.train()
    optimizer = recipe.optimizer(model.parameters())
    loader = DataLoader(TensorDataset(images, targets), batch_size=recipe.batch_size,
                        generator=torch.Generator().manual_seed(seed))
    with warnings.catch_warnings():
        # Opacus warns that its RNG is not cryptographically secure (secure_mode=False): a choice, for
        # seeded, reproducible runs; and that the first layer's backward hook sees no input gradient.
        warnings.filterwarnings("ignore", message="Secure RNG turned off")
        warnings.filterwarnings("ignore", message="Full backward hook is firing")
        engine = PrivacyEngine(secure_mode=False)
        private, optimizer, loader = engine.make_private(
            module=model, optimizer=optimizer, data_loader=loader, noise_multiplier=privacy.noise_multiplier,
            max_grad_norm=privacy.max_grad_norm, poisson_sampling=True,
            noise_generator=torch.Generator().manual_seed(seed + 1))
        scheduler = recipe.scheduler(optimizer.original_optimizer, len(targets))
        augmentation = recipe.generator(seed)
        for _ in range(recipe.epochs):
            for x, y in loader:
                if recipe.augments:
                    x = recipe.augment(x, recipe.augmentation_draws(len(x), augmentation))
                optimizer.zero_grad(set_to_none=True)
                recipe.loss(private(x), y).backward()
                optimizer.step()
                scheduler.step()
    private._close()  # removes Opacus's hooks and per-example gradients from the model
    return model.eval(), float(engine.get_epsilon(privacy.delta))


__all__ = ["PrivacySettings", "check_private_model", "train_private"]
