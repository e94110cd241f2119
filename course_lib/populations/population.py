"""Populations of independently trained models, dense and compressed.

Hooker et al. (2019) never compare two models: they compare *populations*, many models per
compression level that differ only in their random seed. This module trains and caches them::

    recipe = TrainingRecipe(epochs=5, batch_size=128, lr=3e-3, lr_schedule="cosine")
    pops = train_populations(train, levels=[0.0, 0.9, "int8-channel"], size=5, recipe=recipe)
    pops[0.9].predict(test.images)      # (K, N) labels, one row per member

Members are trained side by side by the engine (:mod:`~course_lib.populations.engine`), each
exactly as :func:`~course_lib.training.loop.train_model` would train it alone.

The cache
---------
Every member is its own entry of :mod:`course_lib.core.cache` (namespace ``"populations"``),
keyed by the population's complete configuration
(:meth:`~course_lib.populations.recipe.MemberRecipe.cache_config`: a SHA-256 of the training
tensors, the model's arguments, level, pruning schedule, training recipe, device type and engine
version) plus the member's seed. Each group of members is stored as soon as it finishes, so an
interrupted run resumes with the missing members only, and populations that share seeds share
their members (a population of 10 reuses the 5 members of a population of 5). Entries are
written atomically and verified on load; a damaged one is reported with a
:class:`~course_lib.core.cache.CacheRebuildWarning` and retrained. Checkpoints live in the
entries: a call asking for checkpoints that an entry lacks retrains that member once and stores
both sets. On a CPU a member's weights do not depend on the group it was trained in, so however
a population was assembled (resumed, grown, repaired) its members are bit for bit the same.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
import torch
from torch import nn
from tqdm.auto import tqdm

from ..compression.masks import State, effective_state, export_pruned, load_masked_state, state_masks
from ..compression.pruning import PruningSchedule
from ..compression.pruning import sparsity as mask_sparsity
from ..compression.quantization import SCHEMES, quantize_model
from ..compression.sparse_init import INITS, initialise_sparse
from ..core.cache import load_cached
from ..core.validation import check_bool, check_device, check_images, check_instance, check_integer, check_option
from ..data import ImageDataset
from ..training import Objective, TrainingRecipe, accuracy, make_model
from .engine import NAMESPACE, architecture, train_missing
from .levels import Level, check_level
from .outputs import cached_logits
from .recipe import (MemberRecipe, check_checkpoint_epochs, check_seeds, data_fingerprint, full_model_kwargs,
                     training_tensors)
from .stacked import stackable_layers, stacked_forward


def _build_model(model_kwargs: Mapping[str, Any], state: State) -> nn.Module:
    """A :func:`~course_lib.training.models.make_model` network holding ``state``, in eval mode."""
    return load_masked_state(make_model(seed=0, **model_kwargs), state)


@dataclass(frozen=True, eq=False)
class Population:
    """``K`` models that differ only in their seed, trained at one compression level.

    Attributes
    ----------
    level : float or str
        Sparsity in ``[0, 1)`` (``0.0``: the dense baseline) or a quantization scheme of
        :data:`~course_lib.compression.quantization.SCHEMES`.
    seeds : tuple of int
        ``(K,)``: member ``k`` was initialised and shuffled with ``seeds[k]``, unless the
        population was trained with ``init_seeds`` or ``order_seeds`` (:func:`train_population`;
        ``config`` records them).
    model_kwargs : dict
        Arguments of :func:`~course_lib.training.models.make_model` (without the seed).
    state_dicts : tuple of dict
        ``(K,)`` final state dicts; pruned members keep their masks in the layout of
        :mod:`course_lib.compression.masks`.
    checkpoints : tuple of dict
        ``checkpoints[k][e]``: state dict of member ``k`` after ``e`` epochs (``0``: at
        initialization), for the epochs asked for with ``checkpoint_epochs``.
    config : dict
        The configuration shared by the members (their cache key without the seed; a quantized
        population keeps that of the dense members it was made from).
    pruning : PruningSchedule or None
        How the members were pruned; ``None`` for dense members (and quantized dense ones).
    quantization : str or None
        The quantization scheme applied after training, or ``None``.
    """

    level: Level
    seeds: tuple[int, ...]
    model_kwargs: dict[str, Any]
    state_dicts: tuple[State, ...]
    checkpoints: tuple[dict[int, State], ...]
    config: dict[str, Any]
    pruning: PruningSchedule | None = None
    quantization: str | None = None

    def __len__(self) -> int:
        return len(self.seeds)

    def __repr__(self) -> str:
        return f"Population(level={self.level!r}, size={len(self)}, seeds={list(self.seeds)})"

    def _states(self, epoch: int | None) -> tuple[State, ...]:
        """The members' final state dicts, or those checkpointed after ``epoch`` epochs."""
        if epoch is None:
            return self.state_dicts
        if any(epoch not in saved for saved in self.checkpoints):
            raise ValueError(f"epoch must be one of the checkpoint epochs {sorted(self.checkpoints[0])}, got {epoch!r}")
        return tuple(saved[epoch] for saved in self.checkpoints)

    def models(self, *, epoch: int | None = None) -> list[nn.Module]:
        """``K`` fresh ``nn.Module`` members in eval mode: final, or as checkpointed after ``epoch`` epochs.

        Pruned members carry their masks (:func:`~course_lib.compression.pruning.sparsity` reads them).
        """
        return [_build_model(self.model_kwargs, state) for state in self._states(epoch)]

    def logits(self, images: torch.Tensor, *, epoch: int | None = None, batch_size: int = 8192,
               device: str | torch.device = "cpu", progress: bool = False, cache: bool = True) -> torch.Tensor:
        """Logits ``(K, N, classes)`` of every member on ``images`` ``(N, C, H, W)``, on the CPU.

        All members run side by side through the engine's stacked forward pass (grouped
        convolutions, batched products), about twice as fast on a CPU as one member after the
        other, with the same logits up to float rounding (tested). ``batch_size`` counts
        image-member pairs per forward pass. With ``cache`` the logits are stored in, and on the
        next call loaded from, ``$COURSE_CACHE_DIR/outputs`` (:mod:`~course_lib.populations.outputs`).
        """
        check_images(images)
        batch_size = check_integer(batch_size, "batch_size", low=1)
        check_bool(progress, "progress")
        states = self._states(epoch)
        if not len(images):
            return torch.empty(len(self), 0, self.model_kwargs["num_classes"])
        device = check_device(device)

        def compute() -> torch.Tensor:
            layers, params = self.stacked(images[:1], epoch=epoch, device=device)
            chunk = max(1, batch_size // len(self))
            starts = tqdm(range(0, len(images), chunk), desc="batches", disable=not progress, leave=False)
            with torch.no_grad():
                parts = [stacked_forward(layers, params, images[i:i + chunk].to(device).unsqueeze(1)
                                          .expand(-1, len(self), -1, -1, -1)).cpu() for i in starts]
            return torch.cat(parts, dim=1)

        if not check_bool(cache, "cache"):
            return compute()
        return cached_logits(states, images, compute, batch_size=batch_size, device=device)

    def stacked(self, sample: torch.Tensor, *, epoch: int | None = None,
                device: str | torch.device = "cpu") -> tuple[list[tuple[str, nn.Module]], dict[str, torch.Tensor]]:
        """The members as one network for :func:`~course_lib.populations.stacked.stacked_forward` (eval mode).

        ``sample`` is one image ``(1, C, H, W)`` to trace the layers with; returns the layers and
        the members' effective parameters (masks applied) and buffers stacked ``(K, ...)`` on ``device``.
        """
        effective = [effective_state(state) for state in self._states(epoch)]
        params = {name: torch.stack([e[name] for e in effective]).to(check_device(device)) for name in effective[0]}
        return stackable_layers(make_model(seed=0, **self.model_kwargs), sample.cpu()), params

    def predict(self, images: torch.Tensor, **kwargs: Any) -> torch.Tensor:
        """Predicted labels ``(K, N)`` (int64); ``kwargs`` as for :meth:`logits`."""
        return self.logits(images, **kwargs).argmax(-1)

    def accuracies(self, data: ImageDataset | torch.Tensor, targets: torch.Tensor | None = None,
                   **kwargs: Any) -> np.ndarray:
        """Top-1 accuracy ``(K,)`` of every member on an :class:`~course_lib.data.ImageDataset` or on ``images, targets``."""
        images, targets = (data.images, data.targets) if isinstance(data, ImageDataset) else (data, targets)
        if targets is None:
            raise ValueError("targets must be given with images (or pass an ImageDataset), got None")
        return accuracy(self.predict(images, **kwargs), targets)

    def sparsities(self) -> np.ndarray:
        """Fraction ``(K,)`` of the prunable weights each member's masks remove (0 for dense members)."""
        include = self.pruning.include_classifier if self.pruning is not None else True
        return np.array([mask_sparsity(m, include_classifier=include) for m in self.models()])


def quantize_population(population: Population, scheme: str) -> Population:
    """Every member (and checkpoint) of ``population`` through :func:`~course_lib.compression.quantization.quantize_model`.

    Parameters
    ----------
    population : Population
        Dense or pruned, not already quantized.
    scheme : str
        One of :data:`~course_lib.compression.quantization.SCHEMES`.

    Returns
    -------
    Population
        Same seeds, ``level=scheme``, plain (mask-free) state dicts; cheap, so never cached.
    """
    if population.quantization is not None:
        raise ValueError(f"population must not be quantized already, got level {population.level!r}")
    check_option(scheme, "scheme", SCHEMES)

    def quantized(state: State) -> State:
        return quantize_model(_build_model(population.model_kwargs, state), scheme).state_dict()

    return replace(population, level=scheme, state_dicts=tuple(quantized(s) for s in population.state_dicts),
                   checkpoints=tuple({e: quantized(s) for e, s in saved.items()} for saved in population.checkpoints),
                   quantization=scheme)


def train_population(data: ImageDataset | tuple[torch.Tensor, torch.Tensor], *, level: Level = 0.0, size: int,
                     recipe: TrainingRecipe, seeds: Sequence[int] | None = None,
                     model_kwargs: Mapping[str, Any] | None = None, schedule: PruningSchedule = PruningSchedule(),
                     checkpoint_epochs: Sequence[int] = (), group_size: int | None = None, start: Population | None = None,
                     objective: Objective | None = None, masks_from: Population | None = None,
                     sparse_init: str = "dense", init_seeds: Sequence[int] | None = None,
                     order_seeds: Sequence[int] | None = None, device: str | torch.device = "cpu",
                     progress: bool = True, cache: bool = True) -> Population:
    """Train (or load from the cache) ``size`` models that differ only in their seed.

    Parameters
    ----------
    data : ImageDataset or (torch.Tensor, torch.Tensor)
        Training images ``(N, C, H, W)`` and int64 labels ``(N,)``, on one device.
    level : float or str
        Sparsity in ``[0, 1)``, reached by gradual magnitude pruning during training
        (``0.0``: dense), or a quantization scheme of
        :data:`~course_lib.compression.quantization.SCHEMES`: the dense population of the same
        configuration, quantized after training.
    size : int
        Number of members ``K`` (Hooker et al. 2019 use 30 on ImageNet; see
        ``Profile.population_size``).
    recipe : TrainingRecipe
        Epochs, batch size, learning rate and its schedule, as for
        :func:`~course_lib.training.loop.train_model`.
    seeds : sequence of int, optional
        One distinct seed per member (initialization and data order); default ``range(size)``.
        Populations of different levels trained with the same seeds share their members'
        initialization and data order; the book trains each family of populations from seeds of
        its own (:func:`course_lib.book.experiments.seeds`).
    model_kwargs : mapping, optional
        Arguments of :func:`~course_lib.training.models.make_model` besides ``seed``;
        ``in_channels``, ``image_size`` and ``num_classes`` default to those of ``data`` (for
        tensors, ``num_classes = max(targets) + 1``).
    schedule : PruningSchedule
        How sparse levels are pruned; ignored for dense and quantized levels.
    checkpoint_epochs : sequence of int
        Epochs in ``[0, epochs]`` after which every member's state dict is kept (for VoG);
        ``0`` is the initialization. Not part of the cache key: a cached member that lacks one
        of them is retrained (to the same weights) and stored with the old and new checkpoints.
    start : Population, optional
        Fine-tune instead of training from scratch: member ``k`` starts from the final weights
        and BatchNorm statistics of member ``k`` of ``start``, a dense population of the same
        model and size (not quantized), with a fresh optimizer and learning-rate schedule;
        ``seeds[k]`` still draws its data order and augmentation. A sparse level then prunes
        the trained model gradually over the fine-tuning, as Zhu & Gupta (2017) prune trained
        models. The starting weights are part of the cache key. Members are *paired* with
        ``start``'s: compare them with paired statistics.
    objective : Objective, optional
        What every member minimises instead of the recipe's mean cross-entropy (a remedy of
        :mod:`course_lib.remedies`); part of the cache key. One that
        :attr:`~course_lib.training.objective.Objective.uses_teacher` (distillation) needs
        ``start``: member ``k``'s teacher is member ``k`` of ``start``, frozen.
    masks_from : Population, optional
        Train sparse *from scratch with a fixed mask* (Evci et al. 2022's ``Init-S -> Sol-S``)
        instead of pruning gradually: member ``k`` takes the final masks of member ``k`` of
        ``masks_from`` (a pruned population of the same model and size, e.g. the pruned
        solutions), starts from ``make_model(seed=seeds[k])`` re-initialised for those masks by
        ``sparse_init``, and keeps the masks through training. ``level`` must be
        ``masks_from``'s. The masks and the initial weights are part of the cache key. With
        ``seeds=masks_from.seeds`` and ``sparse_init="dense"``, each member restarts from the
        initial weights of the member whose mask it takes (rewinding to initialisation, the
        start of a lottery ticket).
    sparse_init : {"dense", "layer-scaled", "unit-scaled"}
        How the kept weights are initialised under ``masks_from``
        (:func:`~course_lib.compression.sparse_init.initialise_sparse`; the unit-scaled draws
        use a generator seeded with the member's seed).
    init_seeds : sequence of int, optional
        Member ``k`` starts from ``make_model(seed=init_seeds[k])`` instead of its own seed's
        initialisation; several members may share one (the arms of Zhuang et al. 2021, whose
        members differ in their data order only). Part of the cache key; not with ``start`` or
        ``masks_from``.
    order_seeds : sequence of int, optional
        Member ``k`` draws its data order and augmentation from ``order_seeds[k]`` instead of
        its own seed; several members may share one. Part of the cache key. ``seeds`` still
        name the members (and key the cache), so they stay distinct.
    group_size : int, optional
        Members stacked into one network (and stored together). Default: on a GPU all of them
        (up to 32); on a CPU ``ceil(K / torch.get_num_threads())`` (up to 8), so that every core
        trains a group of its own. Only the float rounding of a member depends on its group.
    device : str or torch.device
        Where to train; the data are moved there.
    progress : bool
        Show a progress bar over the training steps.
    cache : bool
        Load finished members from, and store new ones in, ``$COURSE_CACHE_DIR/populations``.

    Returns
    -------
    Population
        Its members in the order of ``seeds``.
    """
    level = check_level(level)
    if isinstance(level, str):
        dense = train_population(data, level=0.0, size=size, recipe=recipe, seeds=seeds, model_kwargs=model_kwargs,
                                 checkpoint_epochs=checkpoint_epochs, group_size=group_size, start=start,
                                 objective=objective, init_seeds=init_seeds, order_seeds=order_seeds,
                                 device=device, progress=progress, cache=cache)
        return quantize_population(dense, level)
    seeds = check_seeds(size, seeds)
    images, targets, num_classes = training_tensors(data)
    check_instance(recipe, "recipe", TrainingRecipe)
    check_integer(recipe.epochs, "recipe.epochs", low=1)
    check_integer(group_size, "group_size", low=1, optional=True)
    check_bool(progress, "progress")
    check_bool(cache, "cache")
    if objective is not None:
        check_instance(objective, "objective", Objective).check(len(targets))
        if objective.uses_teacher and start is None:
            raise ValueError(f"objective={type(objective).__name__} needs a teacher: pass start=, the population "
                             "whose members teach (and start) the new ones")
    kwargs = full_model_kwargs(images, num_classes, model_kwargs)
    if init_seeds is not None and (start is not None or masks_from is not None):
        raise ValueError("init_seeds= sets where the members start: pass it without start= or masks_from=")
    starts, fixed_masks = None if start is None else _starts(start, seeds, kwargs), None
    if masks_from is not None:
        if start is not None:
            raise ValueError("pass start= (fine-tune a trained population) or masks_from= (train sparse from "
                             "scratch), not both")
        starts, fixed_masks = _sparse_starts(masks_from, seeds, kwargs, level, sparse_init)
    if init_seeds is not None:
        starts = {seed: make_model(seed=init, **kwargs).state_dict()
                  for seed, init in zip(seeds, _seeds_per_member(init_seeds, "init_seeds", len(seeds)))}
    orders = None if order_seeds is None else dict(zip(seeds, _seeds_per_member(order_seeds, "order_seeds", len(seeds))))
    member = MemberRecipe(level, kwargs, recipe, schedule, check_checkpoint_epochs(recipe.epochs, checkpoint_epochs),
                          check_device(device), starts, objective, fixed_masks, orders)
    layout = architecture(member, images[:1].cpu())  # a bad model or schedule fails now, not midway
    if member.scheduled:
        member.schedule.gradual_pruning(member.sparsity, member.steps(len(targets)))
    data_hash = data_fingerprint(images, targets)
    stored = {seed: load_cached(NAMESPACE, member.cache_config(data_hash, seed)) if cache else None
              for seed in seeds}
    wanted = set(member.checkpoint_epochs)
    missing = [seed for seed, entry in stored.items() if entry is None or not wanted <= entry["checkpoints"].keys()]
    if missing:  # members stored without some wanted checkpoint are retrained to keep both sets
        kept = wanted.union(*(stored[seed]["checkpoints"] for seed in missing if stored[seed] is not None))
        stored |= train_missing(images, targets, missing, replace(member, checkpoint_epochs=tuple(sorted(kept))),
                                layout, group_size, data_hash if cache else None, progress)
    return Population(member.sparsity, seeds, member.model_kwargs,
                      tuple(stored[seed]["state_dict"] for seed in seeds),
                      tuple({e: stored[seed]["checkpoints"][e] for e in member.checkpoint_epochs} for seed in seeds),
                      member.cache_config(data_hash), pruning=schedule if member.scheduled else None)


def _seeds_per_member(values: Sequence[int], name: str, size: int) -> list[int]:
    """One non-negative integer seed per member (repeats allowed), checked."""
    chosen = [check_integer(v, name, low=0) for v in values]
    if len(chosen) != size:
        raise ValueError(f"{name} must hold one seed per member ({size}), got {len(chosen)}")
    return chosen


def _sparse_starts(masks_from: Population, seeds: Sequence[int], model_kwargs: Mapping[str, Any], level: Level,
                   init: str) -> tuple[dict[int, State], dict[int, State]]:
    """Each seed's sparse initial state (dense layout, zeros where pruned) and its fixed masks."""
    check_instance(masks_from, "masks_from", Population)
    check_option(init, "sparse_init", INITS)
    if masks_from.quantization is not None or masks_from.level != level or level == 0.0:
        raise ValueError(f"masks_from must be a pruned population of the level trained here ({level!r}), "
                         f"got level {masks_from.level!r}")
    if len(masks_from) != len(seeds):
        raise ValueError(f"masks_from must have one member per seed, got {len(masks_from)} members for {len(seeds)} seeds")
    if masks_from.model_kwargs != model_kwargs:
        raise ValueError(f"masks_from must hold the model trained here, {model_kwargs}, got {masks_from.model_kwargs}")
    starts, fixed = {}, {}
    for seed, state in zip(seeds, masks_from.state_dicts):
        layer_masks = state_masks(state)
        model = initialise_sparse(make_model(seed=seed, **model_kwargs), layer_masks, init=init,
                                  generator=torch.Generator().manual_seed(seed))
        starts[seed] = export_pruned(model).state_dict()
        fixed[seed] = {f"{name}.weight": mask for name, mask in layer_masks.items()}
    return starts, fixed


def _starts(start: Population, seeds: Sequence[int], model_kwargs: Mapping[str, Any]) -> dict[int, State]:
    """The state dict each seed's member starts from: ``start``'s members in order, checked."""
    check_instance(start, "start", Population)
    if start.level != 0.0 or start.quantization is not None:
        raise ValueError(f"start must be a dense population (level 0.0, not quantized), got level {start.level!r}")
    if len(start) != len(seeds):
        raise ValueError(f"start must have one member per seed, got {len(start)} members for {len(seeds)} seeds")
    if start.model_kwargs != model_kwargs:
        raise ValueError(f"start must hold the model trained here, {model_kwargs}, got {start.model_kwargs}")
    return dict(zip(seeds, start.state_dicts))


def train_populations(data: ImageDataset | tuple[torch.Tensor, torch.Tensor], *, levels: Sequence[Level],
                      progress: bool = True, **kwargs: Any) -> dict[Level, Population]:
    """One :func:`train_population` per level, all with the same seeds and recipe (``kwargs``).

    A quantization level listed after ``0.0`` quantizes that dense population directly.

    Returns
    -------
    dict
        ``{level: Population}`` in the order of ``levels``; members with the same index share
        their seed, hence their initialization and data order. For independent populations, as
        the papers train them, call :func:`train_population` with disjoint ``seeds`` instead.
    """
    if not levels:
        raise ValueError("levels must hold at least one level, got none")
    for level in levels:
        check_level(level, "levels")
    populations: dict[Level, Population] = {}
    for level in tqdm(levels, desc="levels", disable=not progress):
        if isinstance(level, str) and 0.0 in populations:
            populations[level] = quantize_population(populations[0.0], level)
        else:
            populations[level] = train_population(data, level=level, progress=progress, **kwargs)
    return populations


def predict_all(populations: Mapping[Level, Population], images: torch.Tensor, **kwargs: Any) -> dict[Level, np.ndarray]:
    """The labels ``(K, N)`` every population predicts on ``images``, as NumPy arrays, by level.

    ``kwargs`` as for :meth:`Population.logits`.
    """
    return {level: population.predict(images, **kwargs).numpy() for level, population in populations.items()}
