"""The shared bootstrap over members and examples (course_lib.analysis.bootstrap)."""

import numpy as np
import pytest

from course_lib.analysis.bootstrap import (bootstrap_settings, mean_over_picked, members_and_examples,
                                           percentile_interval, resample_counts, resample_members)


def test_resample_counts_draws_n_examples_per_resample_from_the_generator():
    counts = resample_counts(np.random.default_rng(5), 4, 3)
    expected_rng = np.random.default_rng(5)
    expected = [np.bincount(expected_rng.integers(0, 4, 4), minlength=4) for _ in range(3)]
    assert counts.shape == (3, 4) and (counts.sum(1) == 4).all()
    assert np.array_equal(counts, np.stack(expected))


def test_members_and_examples_draws_the_examples_then_the_members():
    weights, picks = members_and_examples(np.random.default_rng(2), members=3, n=5, size=4)
    rng = np.random.default_rng(2)
    assert np.array_equal(weights, resample_counts(rng, 5, 4).astype(float))
    assert np.array_equal(picks, resample_members(rng, 3, 4))
    assert weights.dtype == np.float64 and picks.shape == (4, 3) and picks.min() >= 0 and picks.max() <= 2


def test_mean_over_picked_averages_the_drawn_members_and_skips_nans():
    per_member = np.array([[1.0, 2.0, 4.0], [1.0, np.nan, 4.0], [np.nan, np.nan, 3.0]])
    picks = np.array([[0, 0, 2], [1, 1, 2], [0, 1, 0]])
    # row 0: (1 + 1 + 4) / 3; row 1: NaN, NaN, 4 -> 4; row 2: all NaN -> NaN
    result = mean_over_picked(per_member, picks)
    assert result[:2] == pytest.approx([2.0, 4.0])
    assert np.isnan(result[2])


def test_percentile_interval_of_one_statistic_and_of_several():
    values = np.arange(101, dtype=float)  # quantiles are exact on 0..100
    assert percentile_interval(values, 0.9) == pytest.approx((5.0, 95.0))
    assert percentile_interval(np.append(values, np.nan), 0.9) == pytest.approx((5.0, 95.0))  # NaN left out
    table = np.stack([values, 2 * values, np.full(101, np.nan)], axis=1)
    low, high = percentile_interval(table, 0.5)
    assert low[:2] == pytest.approx([25.0, 50.0]) and high[:2] == pytest.approx([75.0, 150.0])
    assert np.isnan(low[2]) and np.isnan(high[2])  # never defined: NaN, no warning
    assert all(np.isnan(percentile_interval(np.full(3, np.nan), 0.95)))


@pytest.mark.parametrize("n_boot, ci, seed, match", [(0, 0.95, 0, "n_boot"), (10, 1.0, 0, "ci"), (10, 0.0, 0, "ci"),
                                                     (10, 0.95, -1, "seed")])
def test_bootstrap_settings_name_the_bad_argument(n_boot, ci, seed, match):
    with pytest.raises(ValueError, match=match):
        bootstrap_settings(n_boot, ci, seed)


def test_bootstrap_settings_seed_the_generator():
    _, _, first = bootstrap_settings(10, 0.95, 3)
    _, _, second = bootstrap_settings(10, 0.95, 3)
    assert first.integers(0, 1000) == second.integers(0, 1000)
