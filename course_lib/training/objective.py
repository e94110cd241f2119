"""What a model minimises on a batch, when it is more than the recipe's mean cross-entropy.

Every model of Parts I-IV minimises the mean cross-entropy of its batch
(:meth:`~course_lib.training.recipe.TrainingRecipe.loss`). The remedies of Part V change that
loss: distillation adds a term that pulls the student towards a teacher's outputs, re-weighting
weighs each example by its group, a worst-group objective weighs whole groups. An
:class:`Objective` says how, in one place that both the single-model loop
(:func:`~course_lib.training.loop.train_model`) and the population engine
(:mod:`~course_lib.populations.engine`) call, so a member of a population still equals the same
model trained alone.

The objectives themselves live with the remedies (:mod:`course_lib.remedies`); this module
holds only the interface the training code needs.
"""

from __future__ import annotations

from typing import Any

import torch


class Objective:
    """A training loss computed from the batch's per-example cross-entropies, for ``K`` models at once.

    The training code computes, for a batch of ``B`` examples and ``K`` models (``K = 1`` for
    one model), the recipe's cross-entropy of every example, ``(K, B)``, and calls the objective
    with it; the objective returns each model's loss ``(K,)``, whose sum is differentiated.

    Subclasses implement ``__call__`` and :meth:`as_config`, and may keep state across the
    steps of one training run (:meth:`initial_state`, e.g. the group weights of group DRO).
    """

    uses_teacher: bool = False
    """Whether ``__call__`` needs the teacher's logits (the model the training starts from, frozen)."""

    def as_config(self) -> dict[str, Any]:
        """The objective as plain values: it enters the cache key of every model trained with it."""
        raise NotImplementedError

    def check(self, n: int) -> None:
        """Raise ``ValueError`` if the objective cannot train on ``n`` examples (e.g. one group label per example)."""

    def initial_state(self, models: int, device: torch.device) -> torch.Tensor | None:
        """State that the steps of one run of ``models`` models update (``None``: stateless)."""
        return None

    def __call__(self, losses: torch.Tensor, *, logits: torch.Tensor, examples: torch.Tensor,
                 teacher_logits: torch.Tensor | None, state: torch.Tensor | None) -> torch.Tensor:
        """Each model's loss ``(K,)``.

        Parameters
        ----------
        losses : torch.Tensor
            ``(K, B)`` the recipe's per-example cross-entropy of each model's batch.
        logits : torch.Tensor
            ``(K, B, classes)`` the models' logits.
        examples : torch.Tensor
            ``(K, B)`` int64 positions of the batch's examples in the training set.
        teacher_logits : torch.Tensor or None
            ``(K, B, classes)`` the frozen teacher's logits on the same inputs, when
            :attr:`uses_teacher`.
        state : torch.Tensor or None
            What :meth:`initial_state` returned, updated in place.
        """
        raise NotImplementedError
