"""The population engine: members trained side by side, each exactly as it would be alone.

Member ``k`` of a population is what :func:`~course_lib.training.loop.train_model` makes of
``make_model(seed=seeds[k])`` (or of the model it starts from: a trained one to fine-tune, another
seed's initialisation) with ``seed=seeds[k]`` (or the member's own data-order seed) and the population's
:class:`~course_lib.training.recipe.TrainingRecipe`: the same initial weights, the same data
order, the same optimizer and learning-rate schedule (both taken from the recipe), the mean
cross-entropy of every batch, or the recipe's
:class:`~course_lib.training.objective.Objective` (a remedy of Part V; a teacher it needs is the
member's start, frozen, in eval mode). Sparse members are pruned during training exactly as
:func:`~course_lib.compression.pruning.train_gradually_pruned` prunes one model: on the cubic
schedule of its :class:`~course_lib.compression.pruning.PruningSchedule`, with masks from
:func:`~course_lib.compression.masks.replace_masks`, the masked weights
``weight * mask`` in the forward pass; BatchNorm layers normalise each member's batch by its
own statistics and keep its own running averages; the recipe's flips and shifts are drawn
from each member's own generator. Members agree with those functions up to the rounding of
differently ordered float sums.

Only the arithmetic is arranged differently. The members of a group are stacked
(:mod:`~course_lib.populations.stacked`) and trained as one network: the loss is the sum of
the members' mean losses, whose gradient for each member's parameters is that member's own
gradient. Adam is elementwise, so Adam on the stacked tensors is Adam on every member. Each
member still sees its own batches (``images[order_k[batch]]``, gathered in one indexing
operation, never collated sample by sample). On a CPU the groups train in parallel worker
threads, one per core, each single-threaded (see :func:`train_missing`).
``benchmarks/train_population.py`` measures the gain over a tutorial-style loop.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor, as_completed
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import nn
from tqdm.auto import tqdm

from ..compression.masks import State, masked_state, prunable_parameters, replace_masks
from ..core.cache import entry_path, save_entry
from ..training import TrainingRecipe, make_model
from .recipe import MemberRecipe
from .stacked import stackable_layers, stacked_forward

NAMESPACE = "populations"
"""The cache namespace of trained members."""

Architecture = tuple[list[tuple[str, nn.Module]], list[str]]
"""The stackable layers of a model and the names of the weights its pruning acts on."""


def architecture(recipe: MemberRecipe, sample: torch.Tensor) -> Architecture:
    """The stackable layers of the recipe's model and the names of the weights its pruning acts on.

    Raises
    ------
    ValueError
        If the model cannot be stacked (:func:`~course_lib.populations.stacked.stackable_layers`)
        or, for a sparse level, has no prunable layer
        (:func:`~course_lib.compression.masks.prunable_parameters`).
    """
    model = make_model(seed=0, **recipe.model_kwargs)
    layers = stackable_layers(model, sample)
    if recipe.sparsity == 0:
        return layers, []
    include = recipe.schedule.include_classifier
    return layers, [f"{name}.weight" for name, _ in prunable_parameters(model, include_classifier=include)]


@dataclass
class Group:
    """Members trained side by side: stacked parameters and buffers ``(K, ...)``, and pruning masks.

    The buffers are the BatchNorm running statistics; they are never pruned (nor are the
    BatchNorm affine parameters: pruning acts on Conv and Linear weights only, the usual
    convention), and the optimizer never sees them.
    """

    layers: list[tuple[str, nn.Module]]
    params: dict[str, torch.Tensor]
    buffers: dict[str, torch.Tensor]
    prunable: list[str]
    masks: dict[str, torch.Tensor]

    @classmethod
    def build(cls, seeds: Sequence[int], recipe: MemberRecipe, architecture: Architecture) -> Group:
        """The members ``seeds`` at initialization (or at their ``recipe.starts``), on ``recipe.device``.

        With ``recipe.fixed_masks`` the members start with those masks, which no step changes.
        """
        layers, prunable = architecture
        members = [make_model(seed=seed, **recipe.model_kwargs) for seed in seeds]
        if recipe.starts is not None:
            for seed, member in zip(seeds, members):
                member.load_state_dict(recipe.starts[seed])

        def stacked(tensors: Callable[[nn.Module], Iterator[tuple[str, torch.Tensor]]]) -> dict[str, torch.Tensor]:
            return {name: torch.stack([dict(tensors(m))[name].detach() for m in members]).to(recipe.device)
                    for name, _ in tensors(members[0])}

        params = {name: p.requires_grad_() for name, p in stacked(nn.Module.named_parameters).items()}
        fixed = {} if recipe.fixed_masks is None else {
            name: torch.stack([recipe.fixed_masks[seed][name] for seed in seeds]).to(recipe.device)
            for name in recipe.fixed_masks[seeds[0]]}
        return cls(layers, params, stacked(nn.Module.named_buffers), prunable, fixed)

    def __len__(self) -> int:
        return len(next(iter(self.params.values())))

    def effective_params(self) -> dict[str, torch.Tensor]:
        """The parameters the forward pass uses: ``weight * mask`` for pruned weights."""
        return {name: p * self.masks[name] if name in self.masks else p for name, p in self.params.items()}

    def logits(self, images: torch.Tensor) -> torch.Tensor:
        """``(K, B, classes)`` training-mode logits of ``images`` ``(B, K, C, H, W)`` (BatchNorm statistics updated)."""
        return stacked_forward(self.layers, self.effective_params() | self.buffers, images, training=True)

    @torch.no_grad()
    def prune(self, sparsity: float, scope: str) -> None:
        """Every member magnitude-pruned to ``sparsity`` by :func:`~course_lib.compression.masks.replace_masks`."""
        new = {name: torch.empty_like(self.params[name]) for name in self.prunable}
        for k in range(len(self)):
            weights = {name: self.params[name][k] for name in self.prunable}
            current = {name: mask[k] for name, mask in self.masks.items()}
            for name, mask in replace_masks(weights, current, sparsity, scope=scope).items():
                new[name][k] = mask
        self.masks = new

    @torch.no_grad()
    def targeted(self, images: torch.Tensor, training: TrainingRecipe, epoch: int,
                 chunk: int = 2048) -> torch.Tensor | None:
        """The examples each member augments in epoch ``epoch``, ``(K, N)`` bool; ``None``: all of them.

        Under targeted augmentation (:attr:`~course_lib.training.recipe.TrainingRecipe.augment_hardest`)
        the lowest-MSP share of ``images`` ``(N, C, H, W)`` by each member's own eval-mode
        predictions, as :func:`~course_lib.training.loop.train_model` selects them.
        """
        if not training.augment_hardest:
            return None
        if not training.targets_epoch(epoch):
            return torch.zeros(len(self), len(images), dtype=torch.bool, device=images.device)
        state = self.effective_params() | self.buffers
        logits = torch.cat([stacked_forward(self.layers, state, part[:, None].expand(-1, len(self), -1, -1, -1),
                                            training=False)
                            for part in images.split(chunk)], dim=1)  # (K, N, classes)
        return training.hardest(torch.softmax(logits, dim=-1).amax(-1))

    def frozen(self) -> FrozenGroup:
        """The members as they are now, frozen: the teacher of a distillation that starts from them."""
        return FrozenGroup(self.layers, {name: t.detach().clone() for name, t in
                                     (self.effective_params() | self.buffers).items()})

    def member_state(self, k: int) -> State:
        """State dict of member ``k`` as a model trained alone has it (:func:`~course_lib.compression.masks.masked_state`)."""
        return masked_state({name: p[k] for name, p in (self.params | self.buffers).items()},
                            {name: mask[k] for name, mask in self.masks.items()})


@dataclass
class FrozenGroup:
    """Stacked members whose weights no longer change: a teacher, run in eval mode without gradients."""

    layers: list[tuple[str, nn.Module]]
    state: dict[str, torch.Tensor]

    @torch.no_grad()
    def logits(self, images: torch.Tensor) -> torch.Tensor:
        """``(K, B, classes)`` eval-mode logits of ``images`` ``(B, K, C, H, W)``."""
        return stacked_forward(self.layers, self.state, images, training=False)


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


def groups(seeds: Sequence[int], device: torch.device, group_size: int | None) -> list[list[int]]:
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


def _train_members(images: torch.Tensor, targets: torch.Tensor, group: Group, seeds: Sequence[int],
                   recipe: MemberRecipe, on_step: Callable[[], None]) -> list[dict[str, Any]]:
    """Train the members ``seeds`` of ``group`` side by side; one ``{"state_dict", "checkpoints"}`` each.

    ``images`` ``(N, C, H, W)`` and ``targets`` ``(N,)`` are on ``recipe.device``; ``on_step()``
    is called after every optimizer step (it may raise to stop the training).
    """
    # The recipe's Adam, in its fused implementation: one kernel per step instead of ~8 per tensor.
    training = recipe.training
    optimizer = training.optimizer(group.params.values(), fused=True)
    n = len(targets)
    steps = recipe.steps(n)
    scheduler = training.scheduler(optimizer, n)
    generators = [training.generator(recipe.order_seed(seed)) for seed in seeds]
    schedule = recipe.schedule.gradual_pruning(recipe.sparsity, steps) if recipe.scheduled else None
    checkpoints: list[dict[int, State]] = [{} for _ in seeds]
    objective = recipe.objective
    state = None if objective is None else objective.initial_state(len(seeds), recipe.device)
    teacher = group.frozen() if objective is not None and objective.uses_teacher else None

    def checkpoint(epoch: int) -> None:
        if epoch in recipe.checkpoint_epochs:
            for k, saved in enumerate(checkpoints):
                saved[epoch] = group.member_state(k)

    checkpoint(0)
    step = 0
    for epoch in range(1, training.epochs + 1):
        chosen = group.targeted(images, training, epoch)  # (K, N) or None
        order = torch.stack([training.epoch_order(n, g) for g in generators], dim=1).to(recipe.device)
        for start in training.batch_starts(n):
            batch = order[start:start + training.batch_size]  # (B, K): member k's examples in column k
            inputs = images[batch]
            if training.augments:  # each member's draws from its own generator, applied in one gather
                draws = torch.stack([training.augmentation_draws(len(batch), g) for g in generators], dim=1)
                if chosen is not None:  # targeted augmentation: member k augments its chosen examples only
                    draws = training.only(draws, torch.gather(chosen, 1, batch.T).T)
                inputs = training.augment(inputs, draws)
            optimizer.zero_grad(set_to_none=True)
            logits = group.logits(inputs)
            losses = training.loss(logits.flatten(0, 1), targets[batch].T.flatten(), reduction="none")
            losses = losses.view(len(seeds), -1)  # (K, B)
            if objective is None:
                losses.mean(1).sum().backward()
            else:
                taught = teacher.logits(inputs) if teacher is not None else None
                losses = objective(losses, logits=logits, examples=batch.T, teacher_logits=taught, state=state)
                losses.sum().backward()
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


def train_missing(images: torch.Tensor, targets: torch.Tensor, seeds: Sequence[int], recipe: MemberRecipe,
                   architecture: Architecture, group_size: int | None, data_hash: str | None,
                   progress: bool) -> dict[int, dict[str, Any]]:
    """Train ``seeds`` in groups (:func:`groups`), each stored when done unless ``data_hash`` is None.

    On a CPU the groups are spread over worker threads, one per core, each running its group
    single-threaded: no core waits for another (one small model split over two cores spends
    much of its time in such waits, all of it when other programs compete for the cores). A
    member's result is then the same in any group of two or more (a group of one takes another
    code path in oneDNN), so a group of one is trained beside a copy of its member: however a
    population was assembled (resumed, grown, repaired), not a bit of it changes. (With
    BatchNorm this needs channel counts that are multiples of 16: see
    :mod:`~course_lib.populations.stacked`.) On a GPU one
    worker trains the groups in turn, with deterministic cuDNN algorithms; there, bit-identity
    across different groupings is not guaranteed. An exception (or an interruption) stops every
    worker at its next step; the groups finished by then stay stored.
    """
    chunks = groups(seeds, recipe.device, group_size)
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
        built = [Group.build(chunk, recipe, architecture) for chunk in trained_seeds]

        def on_step() -> None:
            if stop.is_set():
                raise _Stopped
            with lock:
                bar.update(1)

        futures = {pool.submit(_train_members, x, y, group, padded, recipe, on_step): chunk
                   for group, padded, chunk in zip(built, trained_seeds, chunks)}
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
