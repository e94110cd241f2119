"""Unstructured magnitude pruning and the gradual schedule of Zhu & Gupta (2017).

*Magnitude pruning* removes the weights of smallest absolute value, over all prunable layers
together or inside every layer (:func:`~course_lib.compression.masks.magnitude_masks` defines
both). *Gradual pruning* (Zhu & Gupta 2017, the method Hooker et al. 2019 use to build their
pruned populations) raises the sparsity during training along the cubic schedule of
:func:`cubic_sparsity`, recomputing the masks from the current weights every few steps, so the
network recovers from each small removal before the next one. :class:`PruningSchedule` says
when; :class:`GradualPruning` does it to one model during
:func:`~course_lib.training.loop.train_model`, and the population engine does it to stacked
members with the same masks (:func:`~course_lib.compression.masks.replace_masks`).

Sparsity is always read from the masks, never from the weights (``weight_orig`` stays dense).
"""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd
import torch
from torch import nn

from ..core.validation import check_bool, check_integer, check_option, check_real
from ..training import TrainingRecipe, train_model
from .masks import SCOPES, check_sparsity, current_masks, prunable_parameters, replace_masks, set_mask


def _check_schedule(final_sparsity: float, begin_step: int, end_step: int, initial_sparsity: float) -> None:
    check_sparsity(final_sparsity, "final_sparsity")
    check_sparsity(initial_sparsity, "initial_sparsity")
    check_integer(begin_step, "begin_step", low=0)
    check_integer(end_step, "end_step", low=0)
    if initial_sparsity > final_sparsity:
        raise ValueError(f"initial_sparsity must be <= final_sparsity, got {initial_sparsity!r} > {final_sparsity!r}")
    if end_step <= begin_step:
        raise ValueError(f"end_step must be > begin_step, got end_step={end_step!r} and begin_step={begin_step!r}")


def _check_window(begin_fraction: float, end_fraction: float) -> None:
    """The pruning window, as fractions of training: ``0 <= begin_fraction < end_fraction <= 1``."""
    check_real(begin_fraction, "begin_fraction", low=0.0, high=1.0)
    check_real(end_fraction, "end_fraction", low=0.0, high=1.0)
    if not begin_fraction < end_fraction:
        raise ValueError(f"begin_fraction must be < end_fraction, got {begin_fraction!r} and {end_fraction!r}")


# --------------------------------------------------------------------------- pruning a model

def prune_magnitude(model: nn.Module, sparsity: float, *, scope: str = "global",
                    include_classifier: bool = True) -> nn.Module:
    """Magnitude-prune ``model`` in place to ``sparsity``; return it.

    Masks are computed by :func:`~course_lib.compression.masks.magnitude_masks` from the current effective weights (ranking
    already-pruned weights first) and installed as ``weight_mask`` buffers. Pruning an already
    pruned model replaces its masks: afterwards the effective mask is exactly the new one, so
    :func:`sparsity` equals ``round(sparsity * n) / n`` (global scope), whatever came before.

    Parameters
    ----------
    model : nn.Module
        Pruned or not; trained or not.
    sparsity : float
        Fraction of the prunable weights to remove, in ``[0, 1)``.
    scope : {"global", "layer"}
        See :func:`~course_lib.compression.masks.magnitude_masks`.
    include_classifier : bool
        See :func:`~course_lib.compression.masks.prunable_parameters`.
    """
    layers = dict(prunable_parameters(model, include_classifier=include_classifier))
    current = current_masks(layers)
    weights = {name: module.weight_orig if name in current else module.weight for name, module in layers.items()}
    masks = replace_masks(weights, current, sparsity, scope=scope)
    for name, module in layers.items():
        set_mask(module, masks[name])
    return model


def layer_sparsity(model: nn.Module, *, include_classifier: bool = True) -> pd.DataFrame:
    """Per-layer sparsity, read from the masks.

    Returns
    -------
    pandas.DataFrame
        One row per prunable layer with columns ``name``, ``params`` (weights in the layer),
        ``zeros`` (weights its mask removes; 0 for a layer without a mask) and
        ``sparsity = zeros / params``.
    """
    rows = []
    for name, module in prunable_parameters(model, include_classifier=include_classifier):
        params = module.weight.numel()
        zeros = int((module.weight_mask == 0).sum()) if hasattr(module, "weight_mask") else 0
        rows.append({"name": name, "params": params, "zeros": zeros, "sparsity": zeros / params})
    return pd.DataFrame(rows)


def sparsity(model: nn.Module, *, include_classifier: bool = True) -> float:
    """Fraction of prunable weights removed by the masks, over all prunable layers together.

    Layers without a mask count as dense, so an unpruned model has sparsity 0. Measured from
    the ``weight_mask`` buffers only, never from ``weight_orig`` (which stays dense).
    """
    table = layer_sparsity(model, include_classifier=include_classifier)
    return float(table["zeros"].sum() / table["params"].sum())


# --------------------------------------------------------------------------- gradual pruning


def cubic_sparsity(step: int, final_sparsity: float, begin_step: int, end_step: int,
                   initial_sparsity: float = 0.0) -> float:
    r"""Target sparsity at ``step`` on the cubic schedule of Zhu & Gupta (2017), eq. (1).

    .. math::

        s_t = s_f + (s_i - s_f) \left(1 - \frac{t - t_0}{t_{end} - t_0}\right)^3
        \quad \text{for } t_0 \le t \le t_{end},

    equal to ``s_i`` before ``t_0 = begin_step`` and to ``s_f`` after ``t_end = end_step``.
    Sparsity rises fast at first, while many redundant weights exist, then ever more slowly.

    Parameters
    ----------
    step : int
        Training step ``t``.
    final_sparsity, initial_sparsity : float
        ``s_f`` and ``s_i``, in ``[0, 1)`` with ``s_i <= s_f``.
    begin_step, end_step : int
        The pruning window, ``0 <= begin_step < end_step``.
    """
    _check_schedule(final_sparsity, begin_step, end_step, initial_sparsity)
    if step <= begin_step:
        return float(initial_sparsity)
    if step >= end_step:
        return float(final_sparsity)
    remaining = 1.0 - (step - begin_step) / (end_step - begin_step)
    return final_sparsity + (initial_sparsity - final_sparsity) * remaining ** 3


class GradualPruning:
    r"""An ``on_step`` hook for :func:`~course_lib.training.loop.train_model` that prunes along the cubic schedule.

    At every pruning step -- ``begin_step + j * frequency`` up to ``end_step``, and ``end_step``
    itself -- the model is magnitude-pruned (:func:`prune_magnitude`) to
    ``cubic_sparsity(step, ...)``. Masks stay fixed in between and after ``end_step``, so a
    model trained past ``end_step`` ends at exactly ``final_sparsity`` (Zhu & Gupta 2017).

    Parameters
    ----------
    final_sparsity : float
        Sparsity reached at ``end_step``, in ``[0, 1)``.
    begin_step, end_step : int
        The pruning window, in optimizer steps (``train_model`` counts them from 1).
    frequency : int, optional
        Steps between two mask updates (Zhu & Gupta's :math:`\Delta t`); by default a tenth of
        the window (at least 1), i.e. about ten updates.
    initial_sparsity : float
        Sparsity at ``begin_step``.
    scope, include_classifier
        As in :func:`prune_magnitude`.

    Attributes
    ----------
    history : list of tuple
        ``(step, target sparsity)``, an ``(int, float)`` pair, of every mask update performed so far.
    """

    def __init__(self, final_sparsity: float, begin_step: int, end_step: int, *, frequency: int | None = None,
                 initial_sparsity: float = 0.0, scope: str = "global", include_classifier: bool = True) -> None:
        _check_schedule(final_sparsity, begin_step, end_step, initial_sparsity)
        check_option(scope, "scope", SCOPES)
        check_bool(include_classifier, "include_classifier")
        frequency = max(1, (end_step - begin_step) // 10) if frequency is None else frequency
        check_integer(frequency, "frequency", low=1)
        self.final_sparsity, self.initial_sparsity = final_sparsity, initial_sparsity
        self.begin_step, self.end_step, self.frequency = begin_step, end_step, frequency
        self.scope, self.include_classifier = scope, include_classifier
        self.history: list[tuple[int, float]] = []

    def sparsity_at(self, step: int) -> float:
        """The scheduled sparsity at ``step`` (:func:`cubic_sparsity`)."""
        return cubic_sparsity(step, self.final_sparsity, self.begin_step, self.end_step, self.initial_sparsity)

    def is_pruning_step(self, step: int) -> bool:
        """Whether the masks are updated after ``step``: ``begin_step + j * frequency`` or ``end_step``."""
        return self.begin_step <= step <= self.end_step and (
            (step - self.begin_step) % self.frequency == 0 or step == self.end_step)

    def __call__(self, step: int, model: nn.Module) -> None:
        if self.is_pruning_step(step):
            target = self.sparsity_at(step)
            prune_magnitude(model, target, scope=self.scope, include_classifier=self.include_classifier)
            self.history.append((step, target))


PRUNING_WINDOW = (0.1, 0.5)
"""The default pruning window, in fractions of all training steps. Pruning starts after 10% of
the steps and reaches the final sparsity at half of them. The second half lets the sparse network
recover while the cosine-decayed learning rate (:class:`~course_lib.training.recipe.TrainingRecipe`) is
still large. A window closing at 80% of training, as we first used, left our 99%-sparse
Fashion-MNIST populations far less accurate under the ``course`` profile."""


def gradual_schedule(final_sparsity: float, steps: int, *, begin_fraction: float, end_fraction: float,
                     frequency: int | None = None, scope: str = "global",
                     include_classifier: bool = True) -> GradualPruning:
    """The :class:`GradualPruning` schedule that prunes between two fractions of ``steps`` training steps.

    Pruning starts at step ``round(begin_fraction * steps)`` and reaches ``final_sparsity`` at
    step ``round(end_fraction * steps)``.

    Raises
    ------
    ValueError
        If the fractions do not satisfy ``0 <= begin_fraction < end_fraction <= 1``, or if
        ``steps`` is too small for the window to hold at least one step.
    """
    check_integer(steps, "steps", low=0)
    _check_window(begin_fraction, end_fraction)
    begin_step, end_step = round(begin_fraction * steps), round(end_fraction * steps)
    if end_step <= begin_step:
        raise ValueError(f"{steps} training steps are too few for a pruning window between "
                         f"begin_fraction={begin_fraction!r} and end_fraction={end_fraction!r}")
    return GradualPruning(final_sparsity, begin_step, end_step, frequency=frequency, scope=scope,
                          include_classifier=include_classifier)



@dataclass(frozen=True)
class PruningSchedule:
    """When and how a model is pruned during training (Zhu & Gupta 2017; Hooker et al. 2019).

    The sparsity follows :func:`cubic_sparsity` between the fractions ``begin_fraction`` and
    ``end_fraction`` of all training steps (default :data:`PRUNING_WINDOW`), masks updated every
    ``frequency`` steps (default: about ten updates), over all layers together
    (``scope="global"``) or inside each (``"layer"``), the classifier included or not (see
    :func:`~course_lib.compression.masks.prunable_parameters`).
    """

    begin_fraction: float = PRUNING_WINDOW[0]
    end_fraction: float = PRUNING_WINDOW[1]
    frequency: int | None = None
    scope: str = "global"
    include_classifier: bool = True

    def __post_init__(self) -> None:
        _check_window(self.begin_fraction, self.end_fraction)
        for name in ("begin_fraction", "end_fraction"):  # 0 and 0.0 must key the cache alike
            object.__setattr__(self, name, float(getattr(self, name)))
        check_integer(self.frequency, "frequency", low=1, optional=True)
        check_option(self.scope, "scope", SCOPES)
        check_bool(self.include_classifier, "include_classifier")

    def gradual_pruning(self, final_sparsity: float, steps: int) -> GradualPruning:
        """The :class:`GradualPruning` hook that reaches ``final_sparsity`` over ``steps`` training steps."""
        return gradual_schedule(final_sparsity, steps, begin_fraction=self.begin_fraction,
                                end_fraction=self.end_fraction, frequency=self.frequency,
                                scope=self.scope, include_classifier=self.include_classifier)


def train_gradually_pruned(model: nn.Module, images: torch.Tensor, targets: torch.Tensor, *,
                           final_sparsity: float, recipe: TrainingRecipe, seed: int,
                           schedule: PruningSchedule = PruningSchedule(), **train_kwargs) -> nn.Module:
    """Train ``model`` from its current weights while pruning it gradually to ``final_sparsity``.

    The pruning window spans the fractions ``[begin_fraction, end_fraction]`` of the
    ``recipe.steps(N)`` optimizer steps: dense training first, so that magnitudes mean
    something, and a final stretch at ``final_sparsity`` to recover (Zhu & Gupta 2017). The
    returned model (trained in place, masks still attached) has exactly ``final_sparsity``, up
    to the rounding ``round(final_sparsity * n) / n``.

    Parameters
    ----------
    images, targets : torch.Tensor
        ``(N, C, H, W)`` images and ``(N,)`` labels, as for :func:`~course_lib.training.loop.train_model`.
    final_sparsity : float
        In ``[0, 1)``.
    recipe, seed
        Passed to :func:`~course_lib.training.loop.train_model`.
    schedule : PruningSchedule
        The window, frequency, scope and classifier convention.
    **train_kwargs
        Further arguments of :func:`~course_lib.training.loop.train_model` (``device``...).
    """
    hook = schedule.gradual_pruning(final_sparsity, recipe.steps(len(targets)))
    return train_model(model, images, targets, recipe=recipe, seed=seed, on_step=hook, **train_kwargs)


def one_shot_prune_finetune(model: nn.Module, images: torch.Tensor, targets: torch.Tensor, *, sparsity: float,
                            recipe: TrainingRecipe, scope: str = "global", include_classifier: bool = True,
                            **train_kwargs) -> nn.Module:
    """Prune a trained ``model`` once to ``sparsity``, then fine-tune it by ``recipe`` with the masks fixed.

    The contrast to :func:`train_gradually_pruned`: all weights go at once, and only the
    survivors are retrained (pruned weights get zero gradient, so they stay zero).
    ``**train_kwargs`` go to :func:`~course_lib.training.loop.train_model`. Returns ``model``.
    """
    prune_magnitude(model, sparsity, scope=scope, include_classifier=include_classifier)
    return train_model(model, images, targets, recipe=recipe, **train_kwargs)
