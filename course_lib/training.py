"""Training and evaluation of one model, on tensors already in memory.

The loop indexes a seeded permutation of the whole training tensor (no ``DataLoader``, no
per-sample collation): with data this small, that is both the simplest and the fastest way.
The population engine (:mod:`course_lib.population`) builds on the same recipe.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
import torch
from torch import nn
from tqdm.auto import tqdm

LR_SCHEDULES = ("constant", "cosine")
"""The learning-rate schedules, ``"constant"`` or ``"cosine"`` (decay from ``lr`` to 0 over all steps)."""


def total_steps(n: int, *, epochs: int, batch_size: int) -> int:
    """Optimizer steps of ``epochs`` passes over ``n`` examples: ``epochs * ceil(n / batch_size)``."""
    return epochs * math.ceil(n / batch_size)


def check_lr_schedule(schedule: str) -> None:
    """Raise a ``ValueError`` naming ``lr_schedule`` unless ``schedule`` is one of :data:`LR_SCHEDULES`."""
    if schedule not in LR_SCHEDULES:
        raise ValueError(f"lr_schedule must be one of {LR_SCHEDULES}, got {schedule!r}")


def lr_scheduler(optimizer: torch.optim.Optimizer, schedule: str,
                 total_steps: int) -> torch.optim.lr_scheduler.LRScheduler:
    """The scheduler of ``schedule`` for ``optimizer``, to be stepped after every optimizer step.

    ``"cosine"`` sets the learning rate of step ``t`` (counting from 0) to
    ``lr * (1 + cos(pi * t / total_steps)) / 2`` (:class:`torch.optim.lr_scheduler.CosineAnnealingLR`):
    the last steps take small steps, so the final weights depend less on the last few batches
    and models trained with different seeds agree more. ``"constant"`` keeps ``lr``.
    """
    check_lr_schedule(schedule)
    if schedule == "cosine":
        return torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=max(total_steps, 1))
    return torch.optim.lr_scheduler.ConstantLR(optimizer, factor=1.0, total_iters=0)


def train_model(model: nn.Module, images: torch.Tensor, targets: torch.Tensor, *, epochs: int,
                batch_size: int = 128, lr: float = 1e-3, lr_schedule: str = "constant", seed: int = 0,
                device: str | torch.device = "cpu", progress: bool = False,
                on_step: Callable[[int, nn.Module], None] | None = None,
                on_epoch_end: Callable[[int, nn.Module], None] | None = None) -> nn.Module:
    """Train ``model`` with Adam and cross-entropy; return it (trained in place).

    Parameters
    ----------
    model : nn.Module
        Maps ``(B, C, H, W)`` images to ``(B, classes)`` logits. Pruning masks, if any, stay applied.
    images, targets : torch.Tensor
        ``(N, C, H, W)`` float images and ``(N,)`` int64 labels.
    epochs : int
        Passes over the data; each uses a fresh permutation drawn from ``seed``.
    lr_schedule : str
        One of :data:`LR_SCHEDULES` (see :func:`lr_scheduler`).
    on_step : callable, optional
        Called as ``on_step(step, model)`` after every optimizer step, ``step`` counting from 1
        across epochs (gradual pruning updates its masks here).
    on_epoch_end : callable, optional
        Called as ``on_epoch_end(epoch, model)`` after every epoch (checkpoints for VoG).
    """
    if epochs < 0:
        raise ValueError(f"epochs must be >= 0, got {epochs}")
    if images.shape[0] != targets.shape[0]:
        raise ValueError(f"images and targets must have the same length, got {images.shape[0]} and {targets.shape[0]}")
    device = torch.device(device)
    model.to(device).train()
    x, y = images.to(device), targets.to(device)
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    scheduler = lr_scheduler(optimizer, lr_schedule, total_steps(len(targets), epochs=epochs, batch_size=batch_size))
    generator = torch.Generator().manual_seed(seed)
    loss_fn = nn.CrossEntropyLoss()
    step = 0
    for epoch in tqdm(range(epochs), desc="epochs", disable=not progress, leave=False):
        order = torch.randperm(len(y), generator=generator).to(device)
        for start in range(0, len(y), batch_size):
            batch = order[start:start + batch_size]
            optimizer.zero_grad(set_to_none=True)
            loss_fn(model(x[batch]), y[batch]).backward()
            optimizer.step()
            scheduler.step()
            step += 1
            if on_step is not None:
                on_step(step, model)
        if on_epoch_end is not None:
            on_epoch_end(epoch, model)
    return model.eval()


@torch.no_grad()
def predict_logits(model: nn.Module, images: torch.Tensor, *, batch_size: int = 2048,
                   device: str | torch.device | None = None) -> torch.Tensor:
    """Logits ``(N, classes)`` of ``model`` on ``images`` ``(N, C, H, W)``, on the CPU."""
    device = torch.device(device) if device is not None else next(model.parameters()).device
    model.to(device).eval()
    return torch.cat([model(images[i:i + batch_size].to(device)).cpu()
                      for i in range(0, len(images), batch_size)]) if len(images) else torch.empty(0)


def accuracy(preds: torch.Tensor | np.ndarray, targets: torch.Tensor | np.ndarray) -> float:
    """Share of ``preds == targets`` (both ``(N,)``); ``nan`` for empty inputs."""
    preds, targets = np.asarray(preds), np.asarray(targets)
    if preds.shape != targets.shape:
        raise ValueError(f"preds and targets must have the same shape, got {preds.shape} and {targets.shape}")
    return float((preds == targets).mean()) if preds.size else float("nan")


def per_class_accuracy(preds: torch.Tensor | np.ndarray, targets: torch.Tensor | np.ndarray,
                       num_classes: int) -> np.ndarray:
    """Recall of every class: ``(num_classes,)``, ``nan`` for a class absent from ``targets``."""
    preds, targets = np.asarray(preds), np.asarray(targets)
    correct = np.bincount(targets, weights=preds == targets, minlength=num_classes)
    total = np.bincount(targets, minlength=num_classes)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(total > 0, correct / np.maximum(total, 1), np.nan)
