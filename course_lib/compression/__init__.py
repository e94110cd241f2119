"""Compression: the mask layout, magnitude pruning, quantization, and what they save on disk.

===============================================  ===============================================
module                                           what
===============================================  ===============================================
:mod:`~course_lib.compression.masks`             the one owner of ``weight_orig``/``weight_mask``
:mod:`~course_lib.compression.pruning`           magnitude pruning, the cubic gradual schedule
:mod:`~course_lib.compression.quantization`      simulated post-training weight quantization
:mod:`~course_lib.compression.storage`           serialized sizes in dense, sparse and int8 formats
:mod:`~course_lib.compression.sparse_init`       initialising a sparse network trained from scratch
===============================================  ===============================================
"""
