"""Analysis: what compression changed, for which classes, examples and people.

=============================================  =================================================
module                                         what
=============================================  =================================================
:mod:`~course_lib.analysis.class_impact`       per-class t-tests (Hooker et al. 2019, Sec. 3.1)
:mod:`~course_lib.analysis.exemplars`          PIE/CIE, their accuracies and enrichments
:mod:`~course_lib.analysis.subgroups`          subgroup audits: error, FPR, FNR, PPV per group
:mod:`~course_lib.analysis.changes`            relative changes, Table 3, CEV and SDE
:mod:`~course_lib.analysis.robustness`         corruptions and the accuracy they cost
:mod:`~course_lib.analysis.noise`              what seeds alone produce: controls, permutation tests
:mod:`~course_lib.analysis.bootstrap`          intervals over members and examples, resampled together
:mod:`~course_lib.analysis.vog`                Variance of Gradients (Agarwal et al. 2022)
:mod:`~course_lib.analysis.learning_speed`     MSP and learning speed over checkpoints (D'souza et al. 2021)
:mod:`~course_lib.analysis.ranking`            how well a score ranks flagged examples first (AP)
:mod:`~course_lib.analysis.mismatch`           mismatches with the reference model (Joseph et al. 2020)
:mod:`~course_lib.analysis.fisher`             the trace of the Fisher information on a batch
:mod:`~course_lib.analysis.interpolation`      loss and accuracy along the line between two solutions
:mod:`~course_lib.analysis.top1_gap`           the top-1 gap between two populations, with its interval
=============================================  =================================================
"""
