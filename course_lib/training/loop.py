"""Training and inference of one model, on tensors already in memory.

The loop indexes a seeded permutation of the whole training tensor (no ``DataLoader``, no
per-sample collation): with data this small, that is both the simplest and the fastest way.
The population engine (:mod:`course_lib.populations.engine`) follows the same
:class:`~course_lib.training.recipe.TrainingRecipe`.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn
from tqdm.auto import tqdm

from ..core.validation import check_bool, check_device, check_images, check_instance, check_integer, check_targets
from .objective import Objective
from .recipe import TrainingRecipe


def train_model(model: nn.Module, images: torch.Tensor, targets: torch.Tensor, *, recipe: TrainingRecipe,
                seed: int = 0, device: str | torch.device = "cpu", progress: bool = False,
                on_step: Callable[[int, nn.Module], None] | None = None,
                on_epoch_end: Callable[[int, nn.Module], None] | None = None,
                objective: Objective | None = None, teacher: nn.Module | None = None) -> nn.Module:
    """Train ``model`` by ``recipe``; return it (trained in place, in eval mode).

    Parameters
    ----------
    model : nn.Module
        Maps ``(B, C, H, W)`` images to ``(B, classes)`` logits. Pruning masks, if any, stay applied.
    images, targets : torch.Tensor
        ``(N, C, H, W)`` float images and ``(N,)`` int64 labels.
    recipe : TrainingRecipe
        Epochs, batch size, learning rate and its schedule.
    seed : int
        Seed of the data order: each epoch visits the examples in a fresh permutation drawn
        from a generator seeded with ``seed``, which also draws the recipe's augmentations.
    device : str or torch.device
        Where to train.
    progress : bool
        Show a progress bar over the epochs.
    on_step : callable, optional
        Called as ``on_step(step, model)`` after every optimizer step, ``step`` counting from 1
        across epochs (gradual pruning updates its masks here).
    on_epoch_end : callable, optional
        Called as ``on_epoch_end(epoch, model)`` after every epoch (checkpoints for VoG).
    objective : Objective, optional
        What to minimise instead of the recipe's mean cross-entropy (the remedies of
        :mod:`course_lib.remedies`); it receives the recipe's per-example cross-entropy.
    teacher : nn.Module, optional
        The frozen model whose logits (in eval mode, on the same augmented inputs) an objective
        that :attr:`~course_lib.training.objective.Objective.uses_teacher` needs; required then.
    """
    check_instance(recipe, "recipe", TrainingRecipe)
    check_images(images)
    check_targets(targets, n=len(images))
    seed = check_integer(seed, "seed", low=0)
    device = check_device(device)
    check_bool(progress, "progress")
    if objective is not None:
        check_instance(objective, "objective", Objective).check(len(images))
    if objective is not None and objective.uses_teacher:
        check_instance(teacher, "teacher", nn.Module)
        teacher.to(device).eval()
    model.to(device).train()
    x, y = images.to(device), targets.to(device)
    optimizer = recipe.optimizer(model.parameters())
    scheduler = recipe.scheduler(optimizer, len(y))
    generator = recipe.generator(seed)
    state = None if objective is None else objective.initial_state(1, device)
    step = 0
    for epoch in tqdm(range(recipe.epochs), desc="epochs", disable=not progress, leave=False):
        chosen = _targeted(model, x, recipe, epoch + 1)
        order = recipe.epoch_order(len(y), generator).to(device)
        for start in recipe.batch_starts(len(y)):
            batch = order[start:start + recipe.batch_size]
            inputs = x[batch]
            if recipe.augments:
                draws = recipe.augmentation_draws(len(batch), generator)
                inputs = recipe.augment(inputs, draws if chosen is None else recipe.only(draws, chosen[batch]))
            optimizer.zero_grad(set_to_none=True)
            logits = model(inputs)
            if objective is None:
                loss = recipe.loss(logits, y[batch])
            else:
                with torch.no_grad():
                    taught = teacher(inputs)[None] if objective.uses_teacher else None
                losses = recipe.loss(logits, y[batch], reduction="none")[None]
                loss = objective(losses, logits=logits[None], examples=batch[None], teacher_logits=taught,
                                 state=state)[0]
            loss.backward()
            optimizer.step()
            scheduler.step()
            step += 1
            if on_step is not None:
                on_step(step, model)
        if on_epoch_end is not None:
            on_epoch_end(epoch, model)
    return model.eval()


def _targeted(model: nn.Module, images: torch.Tensor, recipe: TrainingRecipe, epoch: int) -> torch.Tensor | None:
    """The examples epoch ``epoch`` augments under targeted augmentation, ``(N,)`` bool; ``None``: all."""
    if not recipe.augment_hardest:
        return None
    if not recipe.targets_epoch(epoch):
        return torch.zeros(len(images), dtype=torch.bool, device=images.device)
    msp = torch.softmax(predict_logits(model, images), dim=1).amax(1)
    model.train()
    return recipe.hardest(msp).to(images.device)


@torch.no_grad()
def predict_logits(model: nn.Module, images: torch.Tensor, *, batch_size: int = 2048,
                   device: str | torch.device | None = None) -> torch.Tensor:
    """Logits ``(N, classes)`` of ``model`` on ``images`` ``(N, C, H, W)``, on the CPU."""
    check_images(images)
    batch_size = check_integer(batch_size, "batch_size", low=1)
    device = check_device(device) if device is not None else next(model.parameters()).device
    model.to(device).eval()
    return torch.cat([model(images[i:i + batch_size].to(device)).cpu()
                      for i in range(0, len(images), batch_size)]) if len(images) else torch.empty(0)
