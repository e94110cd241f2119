"""Average precision and precision at k of auditing scores."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.metrics import average_precision_score

from course_lib.analysis import ranking


def test_average_precision_by_hand_and_as_sklearn_computes_it():
    # ranking: flagged, not, flagged, not -> precisions at the flagged ones 1 and 2/3
    table = ranking.average_precision([0.9, 0.8, 0.7, 0.1], [True, False, True, False], n_boot=10)
    assert table["ap"] == pytest.approx((1 + 2 / 3) / 2) and table["base_rate"] == 0.5
    rng = np.random.default_rng(0)
    scores, flags = rng.random((3, 200)), rng.random(200) < 0.1
    expected = np.mean([average_precision_score(flags, s) for s in scores])
    assert ranking.average_precision(scores, flags, n_boot=10)["ap"] == pytest.approx(expected)


def test_the_interval_brackets_the_estimate_is_seeded_and_is_a_point_without_chance():
    rng = np.random.default_rng(1)
    scores, flags = rng.random((4, 300)), rng.random(300) < 0.2
    table = ranking.average_precision(scores, flags, n_boot=300, seed=3)
    assert table["low"] <= table["ap"] <= table["high"]
    assert table.equals(ranking.average_precision(scores, flags, n_boot=300, seed=3))
    perfect = ranking.average_precision(np.stack([flags.astype(float)] * 2), flags, n_boot=50)
    assert perfect[["ap", "low", "high"]].tolist() == [1.0, 1.0, 1.0]


def test_precision_at_k_averages_over_members():
    scores = np.array([[3.0, 2.0, 1.0, 0.0], [0.0, 1.0, 2.0, 3.0]])
    flags = np.array([True, False, False, True])
    assert ranking.precision_at_k(scores, flags, 1) == 1.0
    assert ranking.precision_at_k(scores, flags, 2) == 0.5


def test_bad_ranking_inputs_are_named():
    with pytest.raises(ValueError, match=r"flags must have shape \(N,\) = \(3,\), got \(2,\)"):
        ranking.average_precision([1.0, 2.0, 3.0], [True, False])
    with pytest.raises(ValueError, match="flags must mark at least one example"):
        ranking.average_precision([1.0, 2.0], [False, False])
    with pytest.raises(ValueError, match="k"):
        ranking.precision_at_k([1.0, 2.0], [True, False], 3)


def test_the_paired_difference_of_two_rankings():
    flags = np.array([True, False, True, False])
    a, b = np.array([[0.9, 0.8, 0.7, 0.1]]), np.array([[0.1, 0.9, 0.8, 0.2]])
    # a: AP (1 + 2/3) / 2; b ranks 1 (not), 2 (flagged), 3 (not), 0 (flagged): (1/2 + 2/4) / 2
    table = ranking.average_precision_difference(a, b, flags, n_boot=50)
    assert table["difference"] == pytest.approx((1 + 2 / 3) / 2 - 0.5)
    same = ranking.average_precision_difference(a, a, flags, n_boot=50)
    assert same.tolist() == [0.0, 0.0, 0.0]  # a ranking against itself: no chance at all
    with pytest.raises(ValueError, match="scores and other must have the same shape"):
        ranking.average_precision_difference(a, b[:, :3], flags)
