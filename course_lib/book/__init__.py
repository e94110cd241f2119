"""The book layer: what chapters call on top of the library.

==========================================  ====================================================
module                                      what
==========================================  ====================================================
:mod:`~course_lib.book.chapter`             ``start``, ``glue``, ``check_claim``
:mod:`~course_lib.book.experiments`         the data, recipes and populations chapters share
:mod:`~course_lib.book.plots`               image galleries and per-class comparisons
:mod:`~course_lib.book.papers`              numbers the papers report, transcribed
:mod:`~course_lib.book.optional_data`       notes in place of sections whose data are missing
:mod:`~course_lib.book.online`              the online edition: repository, launch buttons, setup cell
:mod:`~course_lib.book.selfcheck`           self-checks of the implementation exercises
:mod:`~course_lib.book.student`             the classroom edition: otter-grader masters, no-solution copies
==========================================  ====================================================

``from course_lib import book`` gives the chapter helpers directly (``book.start(profile)``).
"""

from .chapter import check_claim, glue, start

__all__ = ["check_claim", "glue", "start"]
