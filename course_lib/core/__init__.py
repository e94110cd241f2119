"""Infrastructure every layer uses: settings, the cache, the run profiles, argument checks.

=========================================  =====================================================
module                                     what
=========================================  =====================================================
:mod:`~course_lib.core.config`             where data are read and caches kept
:mod:`~course_lib.core.cache`              verified, atomically written cache entries
:mod:`~course_lib.core.profiles`           the ``smoke``, ``course`` and ``full`` profiles
:mod:`~course_lib.core.validation`         argument checks with one shape of error message
=========================================  =====================================================
"""
