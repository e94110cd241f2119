"""top1_gap: the difference of mean top-1 and its interval over members and examples."""

from __future__ import annotations

import re

import numpy as np
import pytest
from scipy import stats

from course_lib.analysis.top1_gap import top1_gap

Y = np.array([0, 1, 2, 1])


def test_the_gap_is_the_difference_of_the_member_means_in_points():
    first = np.array([[0, 1, 2, 1], [0, 1, 0, 0]])  # 100% and 50%
    second = np.array([[0, 0, 0, 0], [1, 1, 1, 1], [0, 1, 2, 0]])  # 25%, 50%, 75%
    gap = top1_gap(y_true=Y, first=first, second=second, n_boot=200)
    assert gap["first"] == pytest.approx(75.0) and gap["second"] == pytest.approx(50.0)
    assert gap["gap"] == pytest.approx(25.0)
    assert -100 <= gap["low"] <= gap["gap"] <= gap["high"] <= 100


def test_paired_members_that_differ_by_the_same_examples_give_a_point_interval():
    # every member of first is right everywhere, its partner wrong everywhere: whatever is drawn, 100 points
    first = np.tile(Y, (3, 1))
    second = (first + 1) % 3
    gap = top1_gap(y_true=Y, first=first, second=second, paired=True, n_boot=100)
    assert (gap["gap"], gap["low"], gap["high"]) == (100.0, 100.0, 100.0)


def test_pairing_narrows_the_interval_when_partners_move_together():
    rng = np.random.default_rng(0)
    y = rng.integers(0, 2, 400)
    skill = rng.random((6, 1)) < 0.5  # half the members are strong, whichever population they are in
    base = np.where(rng.random((6, 400)) < np.where(skill, 0.95, 0.6), y, 1 - y)
    better = np.where(rng.random((6, 400)) < 0.1, y, base)  # a small, consistent improvement
    paired = top1_gap(y_true=y, first=better, second=base, paired=True)
    unpaired = top1_gap(y_true=y, first=better, second=base, paired=False)
    assert paired["gap"] == unpaired["gap"]
    assert paired["high"] - paired["low"] < (unpaired["high"] - unpaired["low"]) / 3
    assert paired["low"] > 0
    members = [(m == y).mean(1) for m in (better, base)]
    assert paired["p"] == pytest.approx(stats.ttest_rel(*members).pvalue)
    assert unpaired["p"] == pytest.approx(stats.ttest_ind(*members, equal_var=False).pvalue)
    assert paired["p"] < unpaired["p"]


def test_bad_inputs_are_named():
    with pytest.raises(ValueError, match=re.escape("paired=True needs populations of the same size, got 1 and 2")):
        top1_gap(y_true=Y, first=Y[None], second=np.stack([Y, Y]), paired=True)
    with pytest.raises(ValueError, match="second"):
        top1_gap(y_true=Y, first=Y[None], second=Y[None, :3])
    with pytest.raises(ValueError, match="n_boot"):
        top1_gap(y_true=Y, first=Y[None], second=Y[None], n_boot=0)
