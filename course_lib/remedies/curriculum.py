"""A curriculum: the easy examples first, then all of them.

The essay "The price of sparsity" (in the course's sources) asks whether a sparse network
trained from scratch would generalise better if it saw the data of low Fisher information
first, as curriculum learning orders examples from easy to hard (Bengio et al. 2009; Hacohen and
Weinshall 2019 score the examples with a network trained beforehand, "curriculum by transfer").
:class:`Curriculum` is the simplest such schedule: for the first ``steps`` optimizer steps,
the examples scored hardest weigh nothing, so every batch trains on its easy examples only;
afterwards every example weighs alike, as in plain training. The order of the batches is
the recipe's, so a member trained with the curriculum and one trained without, from the same
seed, see the same batches: they are paired.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from ..core.validation import check_integer, check_real
from ..populations.recipe import array_fingerprint
from ..training import Objective


def easy_examples(scores: np.ndarray, *, hard_share: float) -> np.ndarray:
    """``(N,)`` bool: all but the ``round(hard_share * N)`` highest scores (ties: the later example is harder).

    Parameters
    ----------
    scores : numpy.ndarray
        ``(N,)`` finite hardness scores (higher: harder), e.g. per-example Fisher information or
        ``1 - MSP`` of a trained model.
    hard_share : float
        In ``[0, 1)``: the share of examples held back.
    """
    scores = np.asarray(scores, dtype=np.float64)
    if scores.ndim != 1 or len(scores) == 0 or not np.isfinite(scores).all():
        raise ValueError(f"scores must be a non-empty 1-D array of finite numbers, got shape {scores.shape}")
    hard_share = check_real(hard_share, "hard_share", low=0.0, high=1.0, closed="left")
    order = np.argsort(scores, kind="stable")
    easy = np.zeros(len(scores), dtype=bool)
    easy[order[:len(scores) - round(hard_share * len(scores))]] = True
    return easy


class Curriculum(Objective):
    """Mean cross-entropy over the batch's easy examples for ``steps`` steps, over all of them afterwards.

    Parameters
    ----------
    scores : numpy.ndarray
        ``(N,)`` a hardness score per training example (higher: harder).
    hard_share : float
        In ``[0, 1)``: the share of the training examples with the highest scores left out of
        the first ``steps`` steps (:func:`easy_examples`).
    steps : int
        ``>= 1``: how many optimizer steps the curriculum lasts (e.g. the steps of the first epoch).

    Notes
    -----
    A batch without an easy example contributes a zero loss during the curriculum. The step
    count is the objective's state, one per training run.
    """

    def __init__(self, scores: np.ndarray, *, hard_share: float = 0.5, steps: int) -> None:
        self.easy = easy_examples(scores, hard_share=hard_share)
        self.hard_share = float(hard_share)
        self.steps = check_integer(steps, "steps", low=1)
        self._easy = torch.as_tensor(self.easy, dtype=torch.float32)

    def as_config(self) -> dict[str, Any]:
        """``{"name": "curriculum", "easy": <fingerprint of the easy examples>, "hard_share", "steps"}``."""
        return {"name": "curriculum", "easy": array_fingerprint(self.easy), "hard_share": self.hard_share,
                "steps": self.steps}

    def check(self, n: int) -> None:
        """Raise ``ValueError`` unless there is one score per training example."""
        if n != len(self.easy):
            raise ValueError(f"scores must hold one score per training example ({n}), got {len(self.easy)}")

    def initial_state(self, models: int, device: torch.device) -> torch.Tensor:
        """The steps taken so far: a ``(1,)`` counter."""
        return torch.zeros(1, device=device)

    def __call__(self, losses: torch.Tensor, *, logits: torch.Tensor, examples: torch.Tensor,
                 teacher_logits: torch.Tensor | None, state: torch.Tensor | None) -> torch.Tensor:
        """Each member's loss ``(K,)``: the mean over the easy examples of its batch while the curriculum lasts."""
        during = bool(state.item() < self.steps)
        state.add_(1)
        if not during:
            return losses.mean(1)
        weights = self._easy.to(losses.device)[examples]  # (K, B)
        return (weights * losses).sum(1) / weights.sum(1).clamp(min=1)
