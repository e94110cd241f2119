"""Populations trained with differential privacy: each member alone, with its own accounting.

The engine of :mod:`~course_lib.populations.engine` stacks members into one network; clipping
the gradients of that network would bound each *example's* influence on all the members
together, and the privacy accountant would describe no single model. A private population is
therefore trained member by member with :func:`~course_lib.training.private.train_private`
(DP-SGD through Opacus), each member from its own seed, and cached. The privacy every member
spends is the same: it depends on the settings, the data size and the recipe only
(:func:`~course_lib.training.private.privacy_spent`). Its members otherwise follow the course's conventions: member ``k``
starts from ``make_model(seed=seeds[k])``, so a private population and a plain one trained from
the same seeds share their initialisations.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import torch
from tqdm.auto import tqdm

from ..core.cache import cached
from ..core.validation import check_bool, check_instance
from ..data import ImageDataset
from ..training import TrainingRecipe, make_model
from ..training.private import PrivacySettings, check_private_model, privacy_spent, train_private
from .population import Population
from .recipe import check_seeds, data_fingerprint, full_model_kwargs, training_tensors

NAMESPACE = "private"
"""The cache namespace of private members."""

PRIVATE_VERSION = 1
"""Version of :func:`~course_lib.training.private.train_private`; bump it when a change alters what it trains."""


def train_private_population(data: ImageDataset | tuple[torch.Tensor, torch.Tensor], *, size: int,
                             recipe: TrainingRecipe, privacy: PrivacySettings, seeds: Sequence[int] | None = None,
                             model_kwargs: Mapping[str, Any] | None = None, progress: bool = True,
                             cache: bool = True) -> tuple[Population, float]:
    """Train (or load) ``size`` dense members with DP-SGD, and the epsilon each of them spent.

    Parameters
    ----------
    data : ImageDataset or (torch.Tensor, torch.Tensor)
        Training images ``(N, C, H, W)`` and int64 labels ``(N,)``.
    size, seeds, model_kwargs
        As for :func:`~course_lib.populations.population.train_population`; the model must pass
        :func:`~course_lib.training.private.check_private_model` (no BatchNorm).
    recipe : TrainingRecipe
        As for :func:`~course_lib.training.private.train_private`.
    privacy : PrivacySettings
        The noise multiplier, clipping norm and delta, the same for every member.
    progress : bool
        A progress bar over the members.
    cache : bool
        Load members from, and store new ones in, ``$COURSE_CACHE_DIR/private``, keyed by the
        data, the model, the recipe, the noise and clipping norm (``delta`` changes the epsilon
        reported, not the training), :data:`PRIVATE_VERSION`, Opacus' version and the seed.

    Returns
    -------
    population : Population
        Level ``0.0``, its members in the order of ``seeds``.
    epsilon : float
        What each member's training spent, at ``privacy.delta``.
    """
    import opacus

    seeds = check_seeds(size, seeds)
    images, targets, num_classes = training_tensors(data)
    check_instance(recipe, "recipe", TrainingRecipe)
    check_instance(privacy, "privacy", PrivacySettings)
    check_bool(progress, "progress")
    check_bool(cache, "cache")
    kwargs = full_model_kwargs(images, num_classes, model_kwargs)
    check_private_model(make_model(seed=seeds[0], **kwargs))  # a model Opacus refuses fails now, not midway
    images, targets = images.cpu(), targets.cpu()
    epsilon = privacy_spent(privacy, n=len(targets), recipe=recipe)
    training = {name: value for name, value in privacy.as_config().items() if name != "delta"}
    shared = {"private": PRIVATE_VERSION, "data": data_fingerprint(images, targets), "model": kwargs,
              **recipe.as_config(), "privacy": training, "opacus": opacus.__version__}

    def member(seed: int) -> dict[str, Any]:
        model, _ = train_private(make_model(seed=seed, **kwargs), images, targets, recipe=recipe, privacy=privacy,
                                 seed=seed)
        return {"state_dict": {name: t.detach().clone() for name, t in model.state_dict().items()}}

    trained = [cached(NAMESPACE, {**shared, "seed": seed}, lambda seed=seed: member(seed)) if cache else member(seed)
               for seed in tqdm(seeds, desc="private members", disable=not progress)]
    population = Population(0.0, seeds, kwargs, tuple(m["state_dict"] for m in trained),
                            tuple({} for _ in seeds), shared)
    return population, epsilon


__all__ = ["NAMESPACE", "train_private_population"]
