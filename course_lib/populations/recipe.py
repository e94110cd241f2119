"""What determines a trained member of a population, checked, and its cache key.

A member is fixed by the training data, the model's arguments, the
:class:`~course_lib.training.recipe.TrainingRecipe`, the sparsity it is pruned to and the
:class:`~course_lib.compression.pruning.PruningSchedule` that prunes it, the device type, the
engine's version, the weights it starts from when it is fine-tuned from a trained model, the
objective it minimises when that is not the plain cross-entropy -- and its seed. :meth:`MemberRecipe.cache_config` writes all of them into the
member's cache key.
"""

from __future__ import annotations

import hashlib
import inspect
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import torch

from ..compression.masks import State
from ..compression.pruning import PruningSchedule
from ..core.validation import check_images, check_integer, check_targets
from ..data import ImageDataset
from ..training import Objective, TrainingRecipe, make_model

ENGINE_VERSION = 2
"""Version of the training step; bump it when a change alters what a configuration trains.

2 (2026-12-07): caches written before 2026-12-02 held face members whose keys match today's
configurations but whose weights the current engine no longer reproduces; the bump retires them.
"""


@dataclass(frozen=True)
class MemberRecipe:
    """Everything that determines a trained member except its seed (validated).

    ``checkpoint_epochs`` says what to keep, not what to train: it is not part of the cache key.
    ``starts`` maps each seed to the state dict its member starts from (fine-tuning a trained
    model); ``None``: every member starts from ``make_model(seed=seed)``. ``objective``: what
    the members minimise (:class:`~course_lib.training.objective.Objective`); ``None``: the
    recipe's mean cross-entropy. ``fixed_masks`` maps each seed to the bool masks of its
    pruned weights (``{"<layer>.weight": mask}``), held fixed through training instead of the
    gradual schedule (training sparse from scratch); ``None``: the schedule of ``sparsity``.
    ``order_seeds`` maps each seed to the seed of its data order and augmentation draws, when
    that is not the seed itself (populations whose members share their data order).
    """

    sparsity: float
    model_kwargs: dict[str, Any]
    training: TrainingRecipe
    schedule: PruningSchedule
    checkpoint_epochs: tuple[int, ...]
    device: torch.device
    starts: Mapping[int, State] | None = None
    objective: Objective | None = None
    fixed_masks: Mapping[int, State] | None = None
    order_seeds: Mapping[int, int] | None = None

    def order_seed(self, seed: int) -> int:
        """The seed of member ``seed``'s data order and augmentation draws."""
        return seed if self.order_seeds is None else self.order_seeds[seed]

    def cache_config(self, data_hash: str, seed: int | None = None) -> dict[str, Any]:
        """The complete configuration of the member trained from ``seed`` (its cache key).

        Without ``seed``: the configuration the members share.
        """
        # Options added after the first engine enter only when used, so older members keep their keys.
        model = {name: value for name, value in self.model_kwargs.items() if name != "batch_norm" or value}
        config = {"engine": ENGINE_VERSION, "data": data_hash, "model": model, "sparsity": self.sparsity,
                  "pruning": asdict(self.schedule) if self.scheduled else None, **self.training.as_config(),
                  "device": self.device.type}
        if self.fixed_masks is not None:  # the masks held fixed, of this member or of all in order
            chosen = self.fixed_masks.values() if seed is None else [self.fixed_masks[seed]]
            config["fixed_masks"] = weights_fingerprint(list(chosen))
        if self.starts is not None:  # the weights of the member's start, or of all the starts in order
            chosen = self.starts.values() if seed is None else [self.starts[seed]]
            config["start"] = weights_fingerprint(list(chosen))
        if self.objective is not None:
            config["objective"] = self.objective.as_config()
        if self.order_seeds is not None:  # the member's data-order seed, or all of them in order
            config["order_seed"] = list(self.order_seeds.values()) if seed is None else self.order_seeds[seed]
        return config if seed is None else {**config, "seed": seed}

    @property
    def scheduled(self) -> bool:
        """Whether the members are pruned gradually during training (sparse, without fixed masks)."""
        return self.sparsity > 0 and self.fixed_masks is None

    def steps(self, n: int) -> int:
        """Optimizer steps of training on ``n`` examples."""
        return self.training.steps(n)


def check_seeds(size: int, seeds: Sequence[int] | None) -> tuple[int, ...]:
    """``size`` distinct integer seeds, ``range(size)`` by default."""
    size = check_integer(size, "size", low=1)
    chosen = tuple(range(size)) if seeds is None else tuple(check_integer(s, "seeds", low=0) for s in seeds)
    if len(chosen) != size or len(set(chosen)) != size:
        raise ValueError(f"seeds must hold size={size} distinct integers, got {list(chosen)}")
    return chosen


def training_tensors(data: ImageDataset | tuple[torch.Tensor, torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor, int]:
    """``(images, targets, num_classes)`` of an :class:`~course_lib.data.ImageDataset` or an ``(images, targets)`` pair, checked."""
    if isinstance(data, ImageDataset):
        return data.images, data.targets, len(data.classes)
    if not (isinstance(data, (tuple, list)) and len(data) == 2 and all(isinstance(t, torch.Tensor) for t in data)):
        raise TypeError("data must be an ImageDataset or an (images, targets) pair of tensors, "
                        f"got {type(data).__name__}")
    images, targets = data
    check_images(images)
    check_targets(targets, n=len(images))
    if images.device != targets.device:
        raise ValueError(f"images and targets must be on the same device, got {images.device} and {targets.device}")
    if len(targets) == 0:
        raise ValueError("images and targets must hold at least one example, got 0")
    return images, targets, int(targets.max()) + 1


def full_model_kwargs(images: torch.Tensor, num_classes: int, model_kwargs: Mapping[str, Any] | None) -> dict[str, Any]:
    """Every argument of :func:`~course_lib.training.models.make_model` but the seed, defaults filled in.

    So that they all enter the cache key; ``in_channels``, ``image_size`` and ``num_classes``
    default to those of the data.
    """
    kwargs = {"in_channels": images.shape[1], "num_classes": num_classes, "image_size": images.shape[-1],
              **(model_kwargs or {})}
    if "seed" in kwargs:
        raise ValueError("model_kwargs must not hold 'seed': pass seeds instead")
    try:
        bound = inspect.signature(make_model).bind(seed=0, **kwargs)
    except TypeError as err:
        raise ValueError(f"model_kwargs must be arguments of make_model: {err}") from None
    bound.apply_defaults()
    return {name: list(value) if isinstance(value, tuple) else value
            for name, value in bound.arguments.items() if name != "seed"}


def check_checkpoint_epochs(epochs: int, checkpoint_epochs: Sequence[int]) -> tuple[int, ...]:
    """The distinct ``checkpoint_epochs``, sorted, checked to lie in ``[0, epochs]``."""
    chosen = tuple(sorted({check_integer(e, "checkpoint_epochs", low=0) for e in checkpoint_epochs}))
    if chosen and not chosen[-1] <= epochs:
        raise ValueError(f"checkpoint_epochs must lie in [0, epochs={epochs}], got {list(chosen)}")
    return chosen


def weights_fingerprint(states: Sequence[State]) -> str:
    """SHA-256 (hex, 32 characters) of the names, dtypes, shapes and values of every tensor of ``states``."""
    digest = hashlib.sha256()
    for state in states:
        for name, tensor in state.items():
            array = tensor.detach().cpu().contiguous().numpy()
            digest.update(f"{name}{array.dtype}{array.shape}".encode())
            digest.update(array)
    return digest.hexdigest()[:32]


def array_fingerprint(*arrays: torch.Tensor | np.ndarray) -> str:
    """SHA-256 (hex, 32 characters) of the dtypes, shapes and bytes of ``arrays``, in order.

    How data that are not weights (images, labels, group codes) enter a cache key.
    """
    digest = hashlib.sha256()
    for value in arrays:
        array = value.detach().cpu().contiguous().numpy() if isinstance(value, torch.Tensor) else np.ascontiguousarray(value)
        digest.update(f"{array.dtype}{array.shape}".encode())
        digest.update(array)
    return digest.hexdigest()[:32]


def data_fingerprint(images: torch.Tensor, targets: torch.Tensor) -> str:
    """The :func:`array_fingerprint` of a training set: its ``images`` and ``targets``."""
    return array_fingerprint(images, targets)
