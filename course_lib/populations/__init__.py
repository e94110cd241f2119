"""Populations: many models per compression level, trained side by side and cached.

=============================================  =================================================
module                                         what
=============================================  =================================================
:mod:`~course_lib.populations.levels`          compression levels and their names
:mod:`~course_lib.populations.recipe`          what fixes a member, and its cache key
:mod:`~course_lib.populations.stacked`         many members as one network
:mod:`~course_lib.populations.engine`          training stacked members, each as if alone
:mod:`~course_lib.populations.population`      :class:`~course_lib.populations.population.Population`
:mod:`~course_lib.populations.outputs`         the cache of what populations output
:mod:`~course_lib.populations.private`         members trained with differential privacy, each alone
=============================================  =================================================
"""

from .levels import Level, check_level, level_label
from .population import Population, predict_all, quantize_population, train_population, train_populations

__all__ = ["Level", "Population", "check_level", "level_label", "predict_all", "quantize_population",
           "train_population", "train_populations"]
