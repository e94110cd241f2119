"""Group distributionally robust optimisation: minimise the loss of the worst group, not the average.

Sagawa et al. (2020, Algorithm 1; their code ``kohpangwei/group_DRO``, ``loss.py``) keep a
weight ``q_g`` per group. At every step they compute each group's mean loss in the batch
(0 for a group absent from it), raise the weights of the groups that do badly,
``q_g <- q_g * exp(eta * loss_g)``, renormalise, and descend on ``sum_g q_g * loss_g``: an online
approximation of minimising ``max_g loss_g``. The course follows Algorithm 1 without the
paper's group adjustments (``C = 0``) and without its strong L2 penalty.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from ..core.validation import check_real
from ..populations.recipe import array_fingerprint
from .rebalancing import GroupObjective


class GroupDRO(GroupObjective):
    """The group DRO objective of Sagawa et al. (2020), one weight vector ``q`` per member.

    Parameters
    ----------
    codes : numpy.ndarray
        ``(N,)`` the group of every training example (:func:`~course_lib.remedies.rebalancing.group_codes`).
    step_size : float
        ``eta > 0``, how fast the group weights move (their code's ``robust_step_size``, 0.01
        by default there).
    """

    def __init__(self, codes: np.ndarray, *, step_size: float = 0.01) -> None:
        super().__init__(codes)
        self.groups = int(self.codes.max()) + 1
        self.step_size = check_real(step_size, "step_size", low=0, closed="neither")
        self._codes = torch.as_tensor(self.codes)

    def as_config(self) -> dict[str, Any]:
        """``{"name": "group-dro", "groups": <fingerprint of the codes>, "step_size"}``."""
        return {"name": "group-dro", "groups": array_fingerprint(self.codes), "step_size": self.step_size}

    def initial_state(self, models: int, device: torch.device) -> torch.Tensor:
        """``(K, G)`` uniform group weights."""
        return torch.full((models, self.groups), 1 / self.groups, device=device)

    def group_losses(self, losses: torch.Tensor, examples: torch.Tensor) -> torch.Tensor:
        """``(K, G)`` each group's mean loss in each member's batch, 0 where a group is absent."""
        codes = self._codes.to(losses.device)[examples]  # (K, B)
        sums = torch.zeros(len(losses), self.groups, device=losses.device).scatter_add(1, codes, losses)
        counts = torch.zeros_like(sums).scatter_add(1, codes, torch.ones_like(losses))
        return sums / counts.clamp(min=1)

    def __call__(self, losses: torch.Tensor, *, logits: torch.Tensor, examples: torch.Tensor,
                 teacher_logits: torch.Tensor | None, state: torch.Tensor | None) -> torch.Tensor:
        """``sum_g q_g * loss_g`` per member ``(K,)``, after the exponentiated update of ``q`` (in ``state``)."""
        group = self.group_losses(losses, examples)
        state.mul_(torch.exp(self.step_size * group.detach()))
        state.div_(state.sum(1, keepdim=True))
        return (state * group).sum(1)
