"""Remedies: training that makes compression forget less, and forget less unfairly.

=============================================  =================================================
module                                         what
=============================================  =================================================
:mod:`~course_lib.remedies.distillation`       pruning while distilling the dense model (Blakeney et al. 2021)
:mod:`~course_lib.remedies.rebalancing`        group re-weighting and re-sampling of the training set
:mod:`~course_lib.remedies.group_dro`          the worst-group objective of Sagawa et al. (2020)
:mod:`~course_lib.remedies.curriculum`         easy examples first, for sparse training from scratch
=============================================  =================================================

Each remedy is an :class:`~course_lib.training.objective.Objective` (or a training set) that
the population engine trains with, so remedied populations are cached, paired and compared
exactly like the populations of Parts II-IV.
"""

from .curriculum import Curriculum, easy_examples
from .distillation import Distillation, distillation_loss, kd_divergence
from .group_dro import GroupDRO
from .rebalancing import Reweighting, balanced_indices, group_codes, group_weights

__all__ = ["Curriculum", "Distillation", "GroupDRO", "Reweighting", "balanced_indices", "distillation_loss", "easy_examples", "group_codes",
           "group_weights", "kd_divergence"]
