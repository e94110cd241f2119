"""Training: the models, the recipe they are trained by, the training loop, and the metrics.

===========================================  ==================================================
module                                       what
===========================================  ==================================================
:mod:`~course_lib.training.models`           the small CNNs, initialised from a seed
:mod:`~course_lib.training.recipe`           :class:`~course_lib.training.recipe.TrainingRecipe`
:mod:`~course_lib.training.objective`        :class:`~course_lib.training.objective.Objective`, what a remedy minimises
:mod:`~course_lib.training.loop`             :func:`~course_lib.training.loop.train_model`, ``predict_logits``
:mod:`~course_lib.training.metrics`          :func:`~course_lib.training.metrics.accuracy`, ``recall_per_class``
:mod:`~course_lib.training.private`          DP-SGD with Opacus, and the privacy it spends
===========================================  ==================================================
"""

from .loop import predict_logits, train_model
from .metrics import accuracy, recall_per_class
from .models import SmallCNN, make_model
from .objective import Objective
from .recipe import LR_SCHEDULES, TrainingRecipe

__all__ = ["LR_SCHEDULES", "Objective", "SmallCNN", "TrainingRecipe", "accuracy", "make_model", "predict_logits",
           "recall_per_class", "train_model"]
