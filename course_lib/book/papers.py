"""Numbers the papers report, transcribed once, with their source, for side-by-side comparisons.

The chapters never present a number of ours as the paper's: they glue the paper's numbers from
here, next to what the course's code measured, and say where the two differ.
"""

from __future__ import annotations

import pandas as pd

TABLE3_COLUMNS = ("aggregate", "M", "F", "Y", "O", "MY", "MO", "FY", "FO")
"""Columns of :func:`hooker2020_table3`: all test images, Male, not Male, Young, not Young, and
their intersections."""

TABLE3_GROUPS = {"aggregate": "all", "M": "male", "F": "female", "Y": "young", "O": "old",
                 "MY": "male & young", "MO": "male & old", "FY": "female & young", "FO": "female & old"}
"""Table 3's column names mapped to the ``group`` labels of :func:`course_lib.analysis.subgroups.subgroup_metrics`
for a ``groups`` table with columns ``gender`` (``male``/``female``) and ``age`` (``young``/``old``)."""

_TABLE3 = {
    "baseline error": (5.30, 2.37, 7.15, 5.17, 5.73, 2.28, 2.50, 5.17, 5.73),
    "baseline FPR": (2.73, 0.93, 4.12, 2.59, 3.18, 0.81, 1.12, 2.59, 3.18),
    "baseline FNR": (22.03, 62.65, 19.09, 21.35, 24.47, 60.45, 66.87, 21.35, 24.47),
    "95% pruning, normalised difference of error": (24.63, 24.49, 24.67, 20.64, 35.84, 7.96, 49.12, 20.64, 35.84),
    "95% pruning, normalised difference of FPR": (12.72, 49.54, 6.32, 3.35, 36.02, 5.37, 101.88, 3.35, 36.02),
    "95% pruning, normalised difference of FNR": (34.22, 8.41, 40.30, 33.83, 35.39, 9.21, 6.98, 33.83, 35.39),
}


def hooker2020_table3() -> pd.DataFrame:
    """Table 3 of Hooker, Moorosi, Clark, Bengio and Denton (2020), as shown in the authors' slides.

    CelebA, target *Blond*, ResNet-18 populations (averages over 10 models): baseline error,
    false positive and false negative rates in percent, then the normalised difference
    ``100 * (pruned - baseline) / baseline`` at 95% sparsity, per subgroup.

    The ``FY`` and ``FO`` columns repeat ``Y`` and ``O`` exactly in every row, in the paper's
    table itself, not only in the slides (the intersections cannot all equal the marginals while
    ``MY`` and ``MO`` differ from them); the values are reproduced as published, and the chapters
    that display them say so.

    Returns
    -------
    pandas.DataFrame
        Six rows (the metrics above), columns :data:`TABLE3_COLUMNS`, values in percent.
    """
    return pd.DataFrame.from_dict(_TABLE3, orient="index", columns=list(TABLE3_COLUMNS))



GENDER_SHADES_ERROR = {"lighter-skinned men": 0.8, "darker-skinned women": 34.7}
"""The extremes of Buolamwini and Gebru (2018, *Gender Shades*): the lowest error rate (percent)
of the three commercial classifiers on lighter-skinned men (at most 0.8%) and the highest on
darker-skinned women (up to 34.7%), from the paper's abstract."""


JOSEPH2020_MISMATCH_REDUCTION = {"all test examples": 4.1, "where the reference is right": 5.7}
"""The headline of Joseph et al. (2020, *Going Beyond Classification Accuracy Metrics in Model
Compression*, abstract of arXiv:2012.01604v2): their distillation-inspired loss cuts the number of
*prediction mismatches* between the compressed and the reference model by up to 4.1x, and by up
to 5.7x among the examples the reference model gets right. These are mismatches with one
reference model, not Hooker et al.'s PIEs (which compare the modal labels of two populations)."""

