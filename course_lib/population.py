"""Populations of independently trained models, dense and compressed, trained side by side.

Hooker et al. (2019) never compare two models: they compare *populations*, many models per
compression level that differ only in their random seed. This module trains and caches them::

    pops = train_populations(train, levels=[0.0, 0.9, "int8-channel"], size=profile.population_size,
                             epochs=profile.epochs, batch_size=profile.batch_size)
    pops[0.9].predict(test.images)      # (K, N) labels, one row per member

The engine
----------
Member ``k`` of a population is what :func:`~course_lib.training.train_model` makes of
``make_model(seed=seeds[k])`` with ``seed=seeds[k]``: the same initial weights, the same data
order (a permutation per epoch drawn from a generator seeded with ``seeds[k]``), Adam with the
same learning rate, the mean cross-entropy of every batch. Sparse members are pruned during
training exactly as :func:`~course_lib.pruning.train_gradually_pruned` prunes one model: masks
from :func:`~course_lib.pruning.magnitude_masks` on the cubic schedule of
:class:`~course_lib.pruning.GradualPruning`, the masked weights ``weight_orig * weight_mask`` in
the forward pass. Members agree with those functions up to the rounding of differently
ordered float sums.

Only the arithmetic is arranged differently. The parameters of a group of members are stacked
along a new first axis and the group is trained as one network: every convolution becomes one
grouped convolution (``groups = members``), every linear layer one batched matrix product, and
the loss is the sum of the members' mean losses, whose gradient for each member's parameters
is that member's own gradient. Adam is elementwise, so Adam on the stacked tensors is Adam on
every member. Each member still sees its own batches (``images[order_k[batch]]``, gathered in
one indexing operation, never collated sample by sample). On a CPU the groups train in
parallel worker threads, one per core, each single-threaded (see :func:`_train_missing`).
``benchmarks/train_population.py`` measures the gain over a tutorial-style loop.

The cache
---------
Every member is its own entry of :mod:`course_lib.cache` (namespace ``"populations"``), keyed
by the population's complete configuration -- a SHA-256 of the training tensors, the model's
arguments, level, pruning schedule, epochs, batch size, learning rate, device type and
:data:`ENGINE_VERSION` -- plus the member's seed. Each group of members is stored as soon as
it finishes, so an interrupted run resumes with the missing members only, and populations that
share seeds share their members (a population of 10 reuses the 5 members of a population of
5). Entries are written atomically and verified on load; a damaged one is reported with a
:class:`~course_lib.cache.CacheRebuildWarning` and retrained. Checkpoints live in the entries:
a call asking for checkpoints that an entry lacks retrains that member once and stores both
sets. On a CPU a member's weights do not depend on the group it was trained in, so however a
population was assembled (resumed, grown, repaired) its members are bit for bit the same.
"""

from __future__ import annotations

import hashlib
import inspect
import math
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor, as_completed
from contextlib import contextmanager
from dataclasses import asdict, dataclass, replace
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils import prune
from tqdm.auto import tqdm

from . import pruning, quantization
from .cache import entry_path, load_cached, save_entry
from .data import ImageDataset
from .models import make_model
from .training import accuracy, check_lr_schedule, lr_scheduler, total_steps

ENGINE_VERSION = 1
"""Version of the training step; bump it when a change alters what a configuration trains."""

NAMESPACE = "populations"

Level = float | str
State = dict[str, torch.Tensor]
_Architecture = tuple[list[tuple[str, nn.Module]], list[str]]  # stackable layers, names of prunable weights
_STACKABLE = (nn.Conv2d, nn.Linear, nn.ReLU, nn.MaxPool2d, nn.Flatten)


# --------------------------------------------------------------------------- configuration

@dataclass(frozen=True)
class PruningSchedule:
    """How sparse members are pruned during training (Zhu & Gupta 2017; Hooker et al. 2019).

    The defaults and meanings are those of :func:`~course_lib.pruning.train_gradually_pruned`:
    the sparsity follows :func:`~course_lib.pruning.cubic_sparsity` between the fractions
    ``begin_fraction`` and ``end_fraction`` of all training steps, masks updated every
    ``frequency`` steps (default: about ten updates), over all layers together
    (``scope="global"``), the classifier included.
    """

    begin_fraction: float = pruning.PRUNING_WINDOW[0]
    end_fraction: float = pruning.PRUNING_WINDOW[1]
    frequency: int | None = None
    scope: str = "global"
    include_classifier: bool = True

    def gradual_pruning(self, final_sparsity: float, steps: int) -> pruning.GradualPruning:
        """The :class:`~course_lib.pruning.GradualPruning` schedule over ``steps`` training steps."""
        return pruning.gradual_schedule(final_sparsity, steps, begin_fraction=self.begin_fraction,
                                        end_fraction=self.end_fraction, frequency=self.frequency,
                                        scope=self.scope, include_classifier=self.include_classifier)


@dataclass(frozen=True)
class _Recipe:
    """Everything that determines a trained member except its seed (validated).

    ``checkpoint_epochs`` says what to keep, not what to train: it is not part of the cache key.
    """

    sparsity: float
    model_kwargs: dict[str, Any]
    epochs: int
    batch_size: int
    lr: float
    lr_schedule: str
    schedule: PruningSchedule
    checkpoint_epochs: tuple[int, ...]
    device: torch.device

    def cache_config(self, data_hash: str, seed: int | None = None) -> dict[str, Any]:
        """The complete configuration of the member trained from ``seed`` (its cache key).

        Without ``seed``: the configuration the members share.
        """
        config = {"engine": ENGINE_VERSION, "data": data_hash, "model": self.model_kwargs, "sparsity": self.sparsity,
                  "pruning": asdict(self.schedule) if self.sparsity > 0 else None, "epochs": self.epochs,
                  "batch_size": self.batch_size, "lr": self.lr, "lr_schedule": self.lr_schedule,
                  "device": self.device.type}
        return config if seed is None else {**config, "seed": seed}

    def steps(self, n: int) -> int:
        """Optimizer steps of training on ``n`` examples."""
        return total_steps(n, epochs=self.epochs, batch_size=self.batch_size)


def _check_level(level: Level) -> None:
    ok = (level in quantization.SCHEMES if isinstance(level, str)
          else isinstance(level, (int, float)) and not isinstance(level, bool) and 0.0 <= level < 1.0)
    if not ok:
        raise ValueError(f"level must be a sparsity in [0, 1) or one of the quantization schemes "
                         f"{quantization.SCHEMES}, got {level!r}")


def _check_positive(**values: float) -> None:
    for name, value in values.items():
        if not value > 0:
            raise ValueError(f"{name} must be > 0, got {value!r}")


def _seeds(size: int, seeds: Sequence[int] | None) -> tuple[int, ...]:
    if isinstance(size, bool) or not isinstance(size, int) or size < 1:
        raise ValueError(f"size must be an integer >= 1 (a population needs members), got {size!r}")
    chosen = tuple(range(size)) if seeds is None else tuple(int(s) for s in seeds)
    if len(chosen) != size or len(set(chosen)) != size:
        raise ValueError(f"seeds must hold size={size} distinct integers, got {list(chosen)}")
    return chosen


def _device(device: str | torch.device) -> torch.device:
    device = torch.device(device)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"device {str(device)!r} is not available on this machine")
    return device


def _tensors(data: ImageDataset | tuple[torch.Tensor, torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor, int]:
    """``(images, targets, num_classes)`` of an :class:`ImageDataset` or an ``(images, targets)`` pair, checked."""
    if isinstance(data, ImageDataset):
        return data.images, data.targets, len(data.classes)
    if not (isinstance(data, (tuple, list)) and len(data) == 2 and all(isinstance(t, torch.Tensor) for t in data)):
        raise TypeError("data must be an ImageDataset or an (images, targets) pair of tensors, "
                        f"got {type(data).__name__}")
    images, targets = data
    if images.ndim != 4 or not images.is_floating_point():
        raise ValueError("images must be a float tensor of shape (N, C, H, W), "
                         f"got {images.dtype} {tuple(images.shape)}")
    if targets.ndim != 1 or targets.dtype != torch.int64:
        raise ValueError(f"targets must be an int64 tensor of shape (N,), got {targets.dtype} {tuple(targets.shape)}")
    if len(images) != len(targets):
        raise ValueError(f"images and targets must have the same length, got {len(images)} and {len(targets)}")
    if images.device != targets.device:
        raise ValueError(f"images and targets must be on the same device, got {images.device} and {targets.device}")
    if len(targets) == 0:
        raise ValueError("images and targets must hold at least one example, got 0")
    return images, targets, int(targets.max()) + 1


def _model_kwargs(images: torch.Tensor, num_classes: int, model_kwargs: Mapping[str, Any] | None) -> dict[str, Any]:
    """Every argument of :func:`make_model` but the seed, defaults filled in (so they enter the cache key)."""
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


def _checkpoint_epochs(epochs: int, checkpoint_epochs: Sequence[int]) -> tuple[int, ...]:
    chosen = tuple(sorted({int(e) for e in checkpoint_epochs}))
    if chosen and not 0 <= chosen[0] <= chosen[-1] <= epochs:
        raise ValueError(f"checkpoint_epochs must lie in [0, epochs={epochs}], got {list(chosen)}")
    return chosen


def data_fingerprint(images: torch.Tensor, targets: torch.Tensor) -> str:
    """SHA-256 (hex, 32 characters) of the dtypes, shapes and bytes of ``images`` and ``targets``."""
    digest = hashlib.sha256()
    for tensor in (images, targets):
        array = tensor.detach().cpu().contiguous().numpy()
        digest.update(f"{array.dtype}{array.shape}".encode())
        digest.update(array)
    return digest.hexdigest()[:32]


# --------------------------------------------------------------------------- the stacked network

def _stackable_layers(model: nn.Module, sample: torch.Tensor) -> list[tuple[str, nn.Module]]:
    """The leaf layers of ``model`` in registration order, checked to compute its forward pass.

    Raises
    ------
    ValueError
        If ``model`` has buffers, a layer the engine cannot stack, or a forward pass that
        :func:`_stacked_forward` does not reproduce on ``sample`` ``(B, C, H, W)``.
    """
    layers = [(name, module) for name, module in model.named_modules() if not any(True for _ in module.children())]
    unsupported = sorted({type(m).__name__ for _, m in layers if not isinstance(m, _STACKABLE)}
                         | {"Conv2d(padding_mode != 'zeros')" for _, m in layers
                            if isinstance(m, nn.Conv2d) and m.padding_mode != "zeros"})
    if unsupported or any(True for _ in model.buffers()):
        raise ValueError(f"model must consist of {[t.__name__ for t in _STACKABLE]} layers without buffers, "
                         f"got {unsupported or 'buffers'}")
    with torch.no_grad():
        one_member = {name: p.unsqueeze(0) for name, p in model.named_parameters()}
        try:
            stacked = _stacked_forward(layers, one_member, sample.unsqueeze(1))[0]
        except RuntimeError:
            stacked = None
        if stacked is None or not torch.allclose(stacked, model(sample), rtol=1e-4, atol=1e-5):
            raise ValueError("model's forward pass must be its layers applied in registration order "
                             "(Flatten between the convolutional and the linear layers)")
    return layers


def _pool_before_relu(layers: Sequence[tuple[str, nn.Module]]) -> list[tuple[str, nn.Module]]:
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


def _stacked_forward(layers: Sequence[tuple[str, nn.Module]], params: Mapping[str, torch.Tensor],
                     images: torch.Tensor) -> torch.Tensor:
    """Logits of ``K`` members, each on its own images.

    Parameters
    ----------
    layers : sequence of (str, nn.Module)
        From :func:`_stackable_layers`; only their hyperparameters are used.
    params : mapping of str to torch.Tensor
        Every parameter of the model stacked over members: ``(K, *shape)``.
    images : torch.Tensor
        ``(B, K, C, H, W)``: ``images[:, k]`` is the batch of member ``k``.

    Returns
    -------
    torch.Tensor
        ``(K, B, classes)``.

    Images pass the convolutional part as ``(B, K * C, H, W)`` (members side by side in the
    channels, channels-last on the CPU, where oneDNN is fastest so), through grouped
    convolutions; from the ``Flatten`` on they are ``(K, B, features)``, through batched products.
    """
    batch, members = images.shape[:2]
    h = images.flatten(1, 2)
    if h.device.type == "cpu":
        h = h.contiguous(memory_format=torch.channels_last)
    for name, layer in _pool_before_relu(layers):
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


def _architecture(recipe: _Recipe, sample: torch.Tensor) -> _Architecture:
    """The stackable layers of the recipe's model and the names of the weights its pruning acts on.

    Raises
    ------
    ValueError
        If the model cannot be stacked (:func:`_stackable_layers`) or, for a sparse level, has
        no prunable layer (:func:`course_lib.pruning.prunable_parameters`).
    """
    model = make_model(seed=0, **recipe.model_kwargs)
    layers = _stackable_layers(model, sample)
    if recipe.sparsity == 0:
        return layers, []
    include = recipe.schedule.include_classifier
    return layers, [f"{name}.weight" for name, _ in pruning.prunable_parameters(model, include_classifier=include)]


# --------------------------------------------------------------------------- training a group of members

@dataclass
class _Group:
    """Members trained side by side: stacked parameters ``(K, ...)`` and pruning masks."""

    layers: list[tuple[str, nn.Module]]
    params: dict[str, torch.Tensor]
    prunable: list[str]
    masks: dict[str, torch.Tensor]

    @classmethod
    def build(cls, seeds: Sequence[int], recipe: _Recipe, architecture: _Architecture) -> _Group:
        """The members ``seeds`` at initialization, on ``recipe.device``."""
        layers, prunable = architecture
        members = [make_model(seed=seed, **recipe.model_kwargs) for seed in seeds]
        params = {name: torch.stack([dict(m.named_parameters())[name].detach() for m in members])
                  .to(recipe.device).requires_grad_() for name, _ in members[0].named_parameters()}
        return cls(layers, params, prunable, {})

    def effective_params(self) -> dict[str, torch.Tensor]:
        """The parameters the forward pass uses: ``weight_orig * weight_mask`` for pruned weights."""
        return {name: p * self.masks[name] if name in self.masks else p for name, p in self.params.items()}

    def logits(self, images: torch.Tensor) -> torch.Tensor:
        """``(K, B, classes)`` logits of ``images`` ``(B, K, C, H, W)``."""
        return _stacked_forward(self.layers, self.effective_params(), images)

    @torch.no_grad()
    def prune(self, sparsity: float, scope: str) -> None:
        """Every member magnitude-pruned to ``sparsity``, as :func:`pruning.prune_magnitude` prunes a model.

        New masks come from each member's effective weights and current masks; the old masks are
        folded into the weights, so weights a lower sparsity would regrow restart from zero.
        """
        new = {name: torch.empty_like(self.params[name]) for name in self.prunable}
        for k in range(len(next(iter(self.params.values())))):
            current = {name: self.masks[name][k] for name in self.masks} or None
            weights = {name: self.params[name][k] * current[name] if current else self.params[name][k]
                       for name in self.prunable}
            for name, mask in pruning.magnitude_masks(weights, sparsity, scope=scope, masks=current).items():
                new[name][k] = mask
        for name, mask in self.masks.items():
            self.params[name].mul_(mask)
        self.masks = new

    def member_state(self, k: int) -> State:
        """State dict of member ``k`` as the module trained by :mod:`course_lib.training` would have it.

        Pruned weights appear as ``<layer>.weight_orig`` and ``<layer>.weight_mask`` (the layout
        of :mod:`torch.nn.utils.prune`). Tensors are copied to the CPU.
        """
        state = {}
        for name, p in self.params.items():
            if name in self.masks:
                layer = name.removesuffix(".weight")
                state[f"{layer}.weight_orig"] = p[k].detach().cpu().clone()
                state[f"{layer}.weight_mask"] = self.masks[name][k].cpu().clone()
            else:
                state[name] = p[k].detach().cpu().clone()
        return state


@contextmanager
def _deterministic_cudnn(device: torch.device) -> Iterator[None]:
    """Deterministic cuDNN algorithms while training on a GPU (settings restored afterwards)."""
    if device.type != "cuda":
        yield
        return
    saved = torch.backends.cudnn.deterministic, torch.backends.cudnn.benchmark
    torch.backends.cudnn.deterministic, torch.backends.cudnn.benchmark = True, False
    try:
        yield
    finally:
        torch.backends.cudnn.deterministic, torch.backends.cudnn.benchmark = saved


@contextmanager
def _single_threaded_ops(device: torch.device) -> Iterator[None]:
    """One intra-op thread per worker while training on a CPU (the setting is restored afterwards)."""
    saved = torch.get_num_threads()
    if device.type == "cpu":
        torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(saved)


def _groups(seeds: Sequence[int], device: torch.device, group_size: int | None) -> list[list[int]]:
    """``seeds`` split into groups of balanced sizes, at most ``group_size`` members each.

    Default on a CPU: a group per core (``torch.get_num_threads()``), at least 2 and at most 8
    members each; on a GPU: groups of up to 32.
    """
    n = len(seeds)
    if group_size is not None:
        count = math.ceil(n / group_size)
    elif device.type == "cuda":
        count = math.ceil(n / 32)
    else:
        count = max(math.ceil(n / 8), min(torch.get_num_threads(), n // 2), 1)
    return [[int(seed) for seed in part] for part in np.array_split(np.asarray(seeds), count)]


def _train_members(images: torch.Tensor, targets: torch.Tensor, group: _Group, seeds: Sequence[int],
                   recipe: _Recipe, on_step: Callable[[], None]) -> list[dict[str, Any]]:
    """Train the members ``seeds`` of ``group`` side by side; one ``{"state_dict", "checkpoints"}`` each.

    ``images`` ``(N, C, H, W)`` and ``targets`` ``(N,)`` are on ``recipe.device``; ``on_step()``
    is called after every optimizer step (it may raise to stop the training).
    """
    # Adam of train_model, in its fused implementation: one kernel per step instead of ~8 per tensor.
    optimizer = torch.optim.Adam(group.params.values(), lr=recipe.lr, fused=True)
    n = len(targets)
    steps = recipe.steps(n)
    scheduler = lr_scheduler(optimizer, recipe.lr_schedule, steps)
    generators = [torch.Generator().manual_seed(seed) for seed in seeds]
    schedule = recipe.schedule.gradual_pruning(recipe.sparsity, steps) if recipe.sparsity > 0 else None
    checkpoints: list[dict[int, State]] = [{} for _ in seeds]

    def checkpoint(epoch: int) -> None:
        if epoch in recipe.checkpoint_epochs:
            for k, saved in enumerate(checkpoints):
                saved[epoch] = group.member_state(k)

    checkpoint(0)
    step = 0
    for epoch in range(1, recipe.epochs + 1):
        order = torch.stack([torch.randperm(n, generator=g) for g in generators], dim=1).to(recipe.device)
        for start in range(0, n, recipe.batch_size):
            batch = order[start:start + recipe.batch_size]  # (B, K): member k's examples in column k
            optimizer.zero_grad(set_to_none=True)
            logits = group.logits(images[batch])
            losses = F.cross_entropy(logits.flatten(0, 1), targets[batch].T.flatten(), reduction="none")
            losses.view(len(seeds), -1).mean(1).sum().backward()
            optimizer.step()
            scheduler.step()
            step += 1
            if schedule is not None and schedule.is_pruning_step(step):
                group.prune(schedule.sparsity_at(step), recipe.schedule.scope)
            on_step()
        checkpoint(epoch)
    return [{"state_dict": group.member_state(k), "checkpoints": checkpoints[k]} for k in range(len(seeds))]


class _Stopped(Exception):
    """Raised inside a worker when another group failed or the run was interrupted."""


def _train_missing(images: torch.Tensor, targets: torch.Tensor, seeds: Sequence[int], recipe: _Recipe,
                   architecture: _Architecture, group_size: int | None, data_hash: str | None,
                   progress: bool) -> dict[int, dict[str, Any]]:
    """Train ``seeds`` in groups (:func:`_groups`), each stored when done unless ``data_hash`` is None.

    On a CPU the groups are spread over worker threads, one per core, each running its group
    single-threaded: no core waits for another (one small model split over two cores spends
    much of its time in such waits, all of it when other programs compete for the cores). A
    member's result is then the same in any group of two or more (a group of one takes another
    code path in oneDNN), so a group of one is trained beside a copy of its member: however a
    population was assembled (resumed, grown, repaired), not a bit of it changes. On a GPU one
    worker trains the groups in turn, with deterministic cuDNN algorithms; there, bit-identity
    across different groupings is not guaranteed. An exception (or an interruption) stops every
    worker at its next step; the groups finished by then stay stored.
    """
    chunks = _groups(seeds, recipe.device, group_size)
    trained_seeds = [chunk * 2 if len(chunk) == 1 else chunk for chunk in chunks]
    workers = 1 if recipe.device.type == "cuda" else min(len(chunks), torch.get_num_threads())
    x, y = images.to(recipe.device), targets.to(recipe.device)
    stop, lock, trained = threading.Event(), threading.Lock(), {}
    steps = recipe.steps(len(y))
    with (tqdm(total=steps * len(chunks), unit="step", disable=not progress,
               desc=f"training {len(seeds)} members (level {recipe.sparsity:g})") as bar,
          _deterministic_cudnn(recipe.device), _single_threaded_ops(recipe.device),
          ThreadPoolExecutor(workers, thread_name_prefix="population") as pool):
        # Built here, not in the workers: make_model seeds the global random generator.
        groups = [_Group.build(chunk, recipe, architecture) for chunk in trained_seeds]

        def on_step() -> None:
            if stop.is_set():
                raise _Stopped
            with lock:
                bar.update(1)

        futures = {pool.submit(_train_members, x, y, group, padded, recipe, on_step): chunk
                   for group, padded, chunk in zip(groups, trained_seeds, chunks)}
        try:
            for future in as_completed(futures):
                for seed, member in zip(futures[future], future.result()):
                    if data_hash is not None:
                        config = recipe.cache_config(data_hash, seed)
                        save_entry(entry_path(NAMESPACE, config), member, config=config)
                    trained[seed] = member
        except BaseException:
            stop.set()
            pool.shutdown(cancel_futures=True)
            raise
    return trained


# --------------------------------------------------------------------------- populations

def _effective_state(state: State) -> State:
    """The parameters a member's forward pass uses: ``weight_orig * weight_mask`` for pruned layers."""
    effective = {}
    for name, tensor in state.items():
        if name.endswith(".weight_orig"):
            layer = name.removesuffix(".weight_orig")
            effective[f"{layer}.weight"] = tensor * state[f"{layer}.weight_mask"]
        elif not name.endswith(".weight_mask"):
            effective[name] = tensor
    return effective


def _build_model(model_kwargs: Mapping[str, Any], state: State) -> nn.Module:
    """A :func:`make_model` network holding ``state`` (pruning masks re-attached), in eval mode."""
    model = make_model(seed=0, **model_kwargs)
    for name, module in model.named_modules():
        if f"{name}.weight_mask" in state:
            prune.identity(module, "weight")
    model.load_state_dict(state)
    return model.eval()


@dataclass(frozen=True, eq=False)
class Population:
    """``K`` models that differ only in their seed, trained at one compression level.

    Attributes
    ----------
    level : float or str
        Sparsity in ``[0, 1)`` (``0.0``: the dense baseline) or a quantization scheme of
        :data:`course_lib.quantization.SCHEMES`.
    seeds : tuple of int
        ``(K,)``: member ``k`` was initialised and shuffled with ``seeds[k]``.
    model_kwargs : dict
        Arguments of :func:`~course_lib.models.make_model` (without the seed).
    state_dicts : tuple of dict
        ``(K,)`` final state dicts; pruned members keep ``weight_orig`` and ``weight_mask``.
    checkpoints : tuple of dict
        ``checkpoints[k][e]``: state dict of member ``k`` after ``e`` epochs (``0``: at
        initialization), for the epochs asked for with ``checkpoint_epochs``.
    config : dict
        The configuration shared by the members (their cache key without the seed).
    """

    level: Level
    seeds: tuple[int, ...]
    model_kwargs: dict[str, Any]
    state_dicts: tuple[State, ...]
    checkpoints: tuple[dict[int, State], ...]
    config: dict[str, Any]

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

        Pruned members carry their masks (:func:`course_lib.pruning.sparsity` reads them).
        """
        return [_build_model(self.model_kwargs, state) for state in self._states(epoch)]

    def logits(self, images: torch.Tensor, *, epoch: int | None = None, batch_size: int = 8192,
               device: str | torch.device = "cpu", progress: bool = False) -> torch.Tensor:
        """Logits ``(K, N, classes)`` of every member on ``images`` ``(N, C, H, W)``, on the CPU.

        All members run side by side through the engine's stacked forward pass (grouped
        convolutions, batched products), about twice as fast on a CPU as one member after the
        other, with the same logits up to float rounding (tested). ``batch_size`` counts
        image-member pairs per forward pass.
        """
        if images.ndim != 4:
            raise ValueError(f"images must have shape (N, C, H, W), got {tuple(images.shape)}")
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        states = self._states(epoch)
        if not len(images):
            return torch.empty(len(self), 0, self.model_kwargs["num_classes"])
        device = _device(device)
        effective = [_effective_state(state) for state in states]
        params = {name: torch.stack([e[name] for e in effective]).to(device) for name in effective[0]}
        layers = _stackable_layers(make_model(seed=0, **self.model_kwargs), images[:1].cpu())
        chunk = max(1, batch_size // len(self))
        starts = tqdm(range(0, len(images), chunk), desc="batches", disable=not progress, leave=False)
        with torch.no_grad():
            parts = [_stacked_forward(layers, params, images[i:i + chunk].to(device).unsqueeze(1)
                                      .expand(-1, len(self), -1, -1, -1)).cpu() for i in starts]
        return torch.cat(parts, dim=1)

    def predict(self, images: torch.Tensor, **kwargs: Any) -> torch.Tensor:
        """Predicted labels ``(K, N)`` (int64); ``kwargs`` as for :meth:`logits`."""
        return self.logits(images, **kwargs).argmax(-1)

    def accuracies(self, data: ImageDataset | torch.Tensor, targets: torch.Tensor | None = None,
                   **kwargs: Any) -> np.ndarray:
        """Top-1 accuracy ``(K,)`` of every member on an :class:`ImageDataset` or on ``images, targets``."""
        images, targets = (data.images, data.targets) if isinstance(data, ImageDataset) else (data, targets)
        if targets is None:
            raise ValueError("targets must be given with images (or pass an ImageDataset)")
        return np.array([accuracy(p, targets) for p in self.predict(images, **kwargs)])

    def sparsities(self) -> np.ndarray:
        """Fraction ``(K,)`` of the prunable weights each member's masks remove (0 for dense members)."""
        include = (self.config.get("pruning") or {}).get("include_classifier", True)
        return np.array([pruning.sparsity(m, include_classifier=include) for m in self.models()])


def quantize_population(population: Population, scheme: str) -> Population:
    """Every member (and checkpoint) of ``population`` through :func:`course_lib.quantization.quantize_model`.

    Parameters
    ----------
    population : Population
        Dense or pruned, not already quantized.
    scheme : str
        One of :data:`course_lib.quantization.SCHEMES`.

    Returns
    -------
    Population
        Same seeds, ``level=scheme``, plain (mask-free) state dicts; cheap, so never cached.
    """
    if "quantization" in population.config:
        raise ValueError(f"population must not be quantized already, got level {population.level!r}")

    def quantized(state: State) -> State:
        return quantization.quantize_model(_build_model(population.model_kwargs, state), scheme).state_dict()

    return Population(scheme, population.seeds, population.model_kwargs,
                      tuple(quantized(s) for s in population.state_dicts),
                      tuple({e: quantized(s) for e, s in saved.items()} for saved in population.checkpoints),
                      {**population.config, "quantization": scheme})


def train_population(data: ImageDataset | tuple[torch.Tensor, torch.Tensor], *, level: Level = 0.0, size: int,
                     epochs: int, batch_size: int = 128, lr: float = 1e-3, lr_schedule: str = "constant",
                     seeds: Sequence[int] | None = None,
                     model_kwargs: Mapping[str, Any] | None = None, schedule: PruningSchedule = PruningSchedule(),
                     checkpoint_epochs: Sequence[int] = (), group_size: int | None = None,
                     device: str | torch.device = "cpu", progress: bool = True, cache: bool = True) -> Population:
    """Train (or load from the cache) ``size`` models that differ only in their seed.

    Parameters
    ----------
    data : ImageDataset or (torch.Tensor, torch.Tensor)
        Training images ``(N, C, H, W)`` and int64 labels ``(N,)``, on one device.
    level : float or str
        Sparsity in ``[0, 1)``, reached by gradual magnitude pruning during training
        (``0.0``: dense), or a quantization scheme of :data:`course_lib.quantization.SCHEMES`:
        the dense population of the same configuration, quantized after training.
    size : int
        Number of members ``K`` (Hooker et al. use 30; see ``Profile.population_size``).
    epochs, batch_size, lr, lr_schedule : int, int, float, str
        The recipe of :func:`~course_lib.training.train_model` (Adam, cross-entropy, the learning
        rate constant or decayed to 0 along a cosine).
    seeds : sequence of int, optional
        One distinct seed per member (initialization and data order); default ``range(size)``.
        Populations of different levels with the same seeds are paired member by member.
    model_kwargs : mapping, optional
        Arguments of :func:`~course_lib.models.make_model` besides ``seed``; ``in_channels``,
        ``image_size`` and ``num_classes`` default to those of ``data`` (for tensors,
        ``num_classes = max(targets) + 1``).
    schedule : PruningSchedule
        How sparse levels are pruned; ignored for dense and quantized levels.
    checkpoint_epochs : sequence of int
        Epochs in ``[0, epochs]`` after which every member's state dict is kept (for VoG);
        ``0`` is the initialization. Not part of the cache key: a cached member that lacks one
        of them is retrained (to the same weights) and stored with the old and new checkpoints.
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
    _check_level(level)
    if isinstance(level, str):
        dense = train_population(data, level=0.0, size=size, epochs=epochs, batch_size=batch_size, lr=lr,
                                 lr_schedule=lr_schedule, seeds=seeds, model_kwargs=model_kwargs,
                                 checkpoint_epochs=checkpoint_epochs, group_size=group_size, device=device,
                                 progress=progress, cache=cache)
        return quantize_population(dense, level)
    seeds = _seeds(size, seeds)
    images, targets, num_classes = _tensors(data)
    if isinstance(epochs, bool) or not isinstance(epochs, int) or epochs < 1:
        raise ValueError(f"epochs must be an integer >= 1, got {epochs!r}")
    _check_positive(batch_size=batch_size, lr=lr)
    check_lr_schedule(lr_schedule)
    if group_size is not None:
        _check_positive(group_size=group_size)
    recipe = _Recipe(float(level), _model_kwargs(images, num_classes, model_kwargs), epochs, int(batch_size),
                     float(lr), lr_schedule, schedule, _checkpoint_epochs(epochs, checkpoint_epochs), _device(device))
    architecture = _architecture(recipe, images[:1].cpu())  # a bad model or schedule fails now, not midway
    if recipe.sparsity > 0:
        recipe.schedule.gradual_pruning(recipe.sparsity, recipe.steps(len(targets)))
    data_hash = data_fingerprint(images, targets)
    stored = {seed: load_cached(NAMESPACE, recipe.cache_config(data_hash, seed)) if cache else None
              for seed in seeds}
    wanted = set(recipe.checkpoint_epochs)
    missing = [seed for seed, member in stored.items() if member is None or not wanted <= member["checkpoints"].keys()]
    if missing:  # members stored without some wanted checkpoint are retrained to keep both sets
        kept = wanted.union(*(stored[seed]["checkpoints"] for seed in missing if stored[seed] is not None))
        stored |= _train_missing(images, targets, missing, replace(recipe, checkpoint_epochs=tuple(sorted(kept))),
                                 architecture, group_size, data_hash if cache else None, progress)
    config = recipe.cache_config(data_hash)
    return Population(recipe.sparsity, seeds, recipe.model_kwargs,
                      tuple(stored[seed]["state_dict"] for seed in seeds),
                      tuple({e: stored[seed]["checkpoints"][e] for e in recipe.checkpoint_epochs} for seed in seeds),
                      config)


def train_populations(data: ImageDataset | tuple[torch.Tensor, torch.Tensor], *, levels: Sequence[Level],
                      progress: bool = True, **kwargs: Any) -> dict[Level, Population]:
    """One :func:`train_population` per level, all with the same seeds and recipe (``kwargs``).

    A quantization level listed after ``0.0`` quantizes that dense population directly.

    Returns
    -------
    dict
        ``{level: Population}`` in the order of ``levels``; members with the same index are
        paired (same seed, hence same initialization and data order).
    """
    if not levels:
        raise ValueError("levels must hold at least one level, got none")
    for level in levels:
        _check_level(level)
    populations: dict[Level, Population] = {}
    for level in tqdm(levels, desc="levels", disable=not progress):
        if isinstance(level, str) and 0.0 in populations:
            populations[level] = quantize_population(populations[0.0], level)
        else:
            populations[level] = train_population(data, level=level, progress=progress, **kwargs)
    return populations
