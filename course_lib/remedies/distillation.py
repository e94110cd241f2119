"""Knowledge distillation during pruning: the student learns the teacher's outputs as well as the labels.

Hinton et al. (2015) train a student on the teacher's softened outputs; Blakeney et al. (2021,
"Simon Says") prune a copy of the teacher *while* distilling it, and find that the pruned
students disagree less with their teachers and carry less of the compression bias that plain
pruning adds. Their loss (the ``KD`` option of their public code, ``codestar12/pruning-distilation-bias``,
``distiller_zoo/KD.py`` and ``train_student.py``) is the one below, with temperature ``T = 4``
and, in their example script, ``gamma = 0.1`` and ``alpha = 0.9``. Their headline method adds
hint losses on intermediate features; the course keeps to the output term.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F

from ..core.validation import check_real
from ..training import Objective


def kd_divergence(student_logits: torch.Tensor, teacher_logits: torch.Tensor, *, temperature: float) -> torch.Tensor:
    """``KL(softmax(teacher / T) || softmax(student / T))`` per example: ``(..., C)`` logits to ``(...)``.

    No gradient reaches the teacher.
    """
    teacher = F.log_softmax(teacher_logits.detach() / temperature, dim=-1)
    student = F.log_softmax(student_logits / temperature, dim=-1)
    return (teacher.exp() * (teacher - student)).sum(-1)


def distillation_loss(student_logits: torch.Tensor, teacher_logits: torch.Tensor, targets: torch.Tensor, *,
                      temperature: float = 4.0, alpha: float = 0.9, gamma: float = 0.1) -> torch.Tensor:
    """The distillation loss of one batch, a scalar.

    ``gamma * CE(targets, student) + alpha * T**2 * KL(softmax(teacher / T) || softmax(student / T))``,
    both terms averaged over the batch (Hinton et al. 2015; the ``T**2`` keeps the gradient of
    the soft term on the scale of the hard one as ``T`` grows). No gradient reaches the teacher.

    Parameters
    ----------
    student_logits, teacher_logits : torch.Tensor
        ``(B, C)`` logits.
    targets : torch.Tensor
        ``(B,)`` int64 labels.
    temperature, alpha, gamma : float
        ``T > 0``; the weights ``alpha, gamma >= 0`` of the soft and the hard term.
    """
    check_real(temperature, "temperature", low=0, closed="neither")
    check_real(alpha, "alpha", low=0)
    check_real(gamma, "gamma", low=0)
    hard = F.cross_entropy(student_logits, targets)
    soft = kd_divergence(student_logits, teacher_logits, temperature=temperature).mean()
    return gamma * hard + alpha * temperature**2 * soft


class Distillation(Objective):
    """:func:`distillation_loss` as the objective of a population; the teacher is each member's start.

    The hard term is the recipe's cross-entropy (with its label smoothing, if any), so with
    ``alpha = 0, gamma = 1`` a member trains exactly as without the objective.

    Parameters
    ----------
    temperature, alpha, gamma : float
        As for :func:`distillation_loss`; defaults: the reference code's example (``T = 4``,
        ``alpha = 0.9``, ``gamma = 0.1``).
    """

    uses_teacher = True

    def __init__(self, *, temperature: float = 4.0, alpha: float = 0.9, gamma: float = 0.1) -> None:
        self.temperature = check_real(temperature, "temperature", low=0, closed="neither")
        self.alpha = check_real(alpha, "alpha", low=0)
        self.gamma = check_real(gamma, "gamma", low=0)

    def as_config(self) -> dict[str, Any]:
        """``{"name": "distillation", "temperature", "alpha", "gamma"}``."""
        return {"name": "distillation", "temperature": self.temperature, "alpha": self.alpha, "gamma": self.gamma}

    def __call__(self, losses: torch.Tensor, *, logits: torch.Tensor, examples: torch.Tensor,
                 teacher_logits: torch.Tensor | None, state: torch.Tensor | None) -> torch.Tensor:
        """``gamma * mean CE + alpha * T**2 * mean KL`` of each member's batch, ``(K,)``."""
        soft = kd_divergence(logits, teacher_logits, temperature=self.temperature)  # (K, B)
        return self.gamma * losses.mean(1) + self.alpha * self.temperature**2 * soft.mean(1)
