"""Noise baselines: member splits, the control permutation test, exemplar counts, paired tests, intervals."""

from dataclasses import replace

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from course_lib.analysis import class_impact, exemplars, noise
from course_lib.book import experiments
from course_lib.core.profiles import get_profile


def _mean_of_other(baseline: np.ndarray, other: np.ndarray) -> float:
    return float(other.mean())


def test_member_splits_enumerates_every_split_with_the_observed_one_first():
    splits = noise.member_splits(2, 2)
    assert splits.shape == (6, 4)
    assert splits[0].tolist() == [True, True, False, False]
    assert (splits.sum(1) == 2).all() and len({tuple(row) for row in splits}) == 6


def test_member_splits_samples_when_there_are_too_many():
    splits = noise.member_splits(10, 10, n_resamples=500, seed=1)
    assert splits.shape == (500, 20) and splits[0, :10].all() and not splits[0, 10:].any()
    assert (splits.sum(1) == 10).all()
    assert np.array_equal(splits, noise.member_splits(10, 10, n_resamples=500, seed=1))


def test_control_test_exact_p_values():
    # pooled members 3, 4, 0, 1; the six splits give differences 3, -1, 0, 0, 1, -3
    kwargs = {"baseline": np.zeros((2, 1)), "compressed": [[3.0], [4.0]], "control": [[0.0], [1.0]]}
    greater = noise.control_test(_mean_of_other, **kwargs)
    assert greater.to_dict() == {"compressed": 3.5, "control": 0.5, "excess": 3.0, "p": pytest.approx(1 / 6),
                                 "splits": 6}
    assert noise.control_test(_mean_of_other, alternative="two-sided", **kwargs)["p"] == pytest.approx(2 / 6)
    assert noise.control_test(_mean_of_other, alternative="less", **kwargs)["p"] == 1.0


def test_paired_splits_swap_within_pairs_only():
    splits = noise.paired_splits(3)
    assert splits.shape == (8, 6) and splits[0].tolist() == [True, True, True, False, False, False]
    assert (splits[:, :3] != splits[:, 3:]).all()  # one member of every pair in each group
    assert len({tuple(row) for row in splits}) == 8
    sampled = noise.paired_splits(12, n_resamples=100, seed=2)
    assert sampled.shape == (100, 24) and sampled[0, :12].all() and (sampled[:, :12] != sampled[:, 12:]).all()
    assert np.array_equal(sampled, noise.paired_splits(12, n_resamples=100, seed=2))


def test_paired_control_test_exact_p_values():
    # pairs (3, 0) and (4, 1): the four swaps give first-group means 3.5, 2, 1.5, 0.5 and differences 3, 0, -1, -3
    kwargs = {"baseline": np.zeros((2, 1)), "compressed": [[3.0], [4.0]], "control": [[0.0], [1.0]]}
    paired = noise.control_test(_mean_of_other, paired=True, **kwargs)
    assert paired.to_dict() == {"compressed": 3.5, "control": 0.5, "excess": 3.0, "p": 0.25, "splits": 4}
    assert noise.control_test(_mean_of_other, paired=True, alternative="two-sided", **kwargs)["p"] == 0.5
    with pytest.raises(ValueError, match="paired=True needs compressed and control of the same size, got 2 and 1"):
        noise.control_test(_mean_of_other, baseline=kwargs["baseline"], compressed=kwargs["compressed"],
                           control=[[0.0]], paired=True)
    counts = noise.exemplar_counts(baseline=[[0, 0], [0, 0]], compressed={0.9: [[1, 1], [1, 1]]},
                                   control=[[0, 0], [0, 0]], paired=True)
    assert counts.loc[0.9, ["count", "noise count"]].tolist() == [2, 0] and counts.loc[0.9, "p"] == 0.25


def test_control_test_of_exchangeable_members_is_not_significant():
    rng = np.random.default_rng(0)
    p = noise.control_test(_mean_of_other, baseline=np.zeros((5, 1)), compressed=rng.normal(size=(5, 1)),
                           control=rng.normal(size=(5, 1)))["p"]
    assert p > 0.05


def test_exemplar_counts_beside_the_control():
    baseline = [[0, 0, 0, 0]]
    table = noise.exemplar_counts(baseline=baseline, compressed={0.9: [[1, 1, 0, 0]], 0.5: [[0, 0, 0, 0]]},
                                  control=[[1, 0, 0, 0]])
    assert table["count"].tolist() == [2, 0]
    assert table["noise count"].tolist() == [1, 1]
    assert table["ratio"].tolist() == [2.0, 0.0]
    assert table["p"].tolist() == [0.5, 1.0]   # two splits of two pooled members
    assert table["p_adjusted"].tolist() == [1.0, 1.0]
    assert not table["beats noise"].any()


def test_paired_t_test_exact():
    t, p = class_impact.paired_t_test([1, 2, 3], [0, 0, 1])   # differences 1, 2, 2
    assert t == pytest.approx(5.0)
    assert p == pytest.approx(2 * stats.t.sf(5.0, df=2))
    t, p = class_impact.paired_t_test([[1, 1], [2, 2]], [[0, 0], [1, 2]])
    assert np.isnan(t[0]) and np.isnan(p[0])   # constant differences: nothing to test
    assert t[1] == pytest.approx(1.0)


def test_class_impact_paired_uses_the_paired_test():
    baseline = np.array([[0, 0, 1, 1], [0, 1, 1, 1], [0, 0, 1, 0]])
    compressed = np.array([[0, 1, 1, 1], [1, 1, 1, 1], [0, 0, 1, 1]])
    targets = np.array([0, 0, 1, 1])
    table = class_impact.class_impact(baseline=baseline, compressed=compressed, targets=targets, paired=True)
    r_base = class_impact.normalized_recall(baseline, targets, 2)
    r_comp = class_impact.normalized_recall(compressed, targets, 2)
    t, p = class_impact.paired_t_test(r_comp, r_base)
    assert np.allclose(table["t"], t, equal_nan=True) and table.attrs["paired"]
    with pytest.raises(ValueError, match="paired=True needs populations of the same size"):
        class_impact.class_impact(baseline=baseline, compressed=compressed[:2], targets=targets, paired=True)


def test_enrichment_interval_is_clopper_pearson_over_the_base_rate():
    mask = np.array([1, 1, 0, 0, 0, 0, 1, 0], dtype=bool)
    flags = pd.DataFrame({"f": [True, False, False, False, True, False, True, False]})
    row = exemplars.enrichment(mask, flags).loc["f"]
    # 2 of the 3 PIEs are flagged, base rate 3/8: the exact interval of 2/3 is (0.0943, 0.9916)
    assert row["enrichment"] == pytest.approx((2 / 3) / (3 / 8))
    assert row["low"] == pytest.approx(0.094299 / (3 / 8), rel=1e-4)
    assert row["high"] == pytest.approx(0.975 ** (1 / 3) / (3 / 8), rel=1e-6)


def test_seed_families_are_disjoint_and_shift_with_the_offset():
    assert experiments.seeds("smoke", "baseline") == (0, 1)
    assert experiments.seeds("smoke", "compressed") == (1000, 1001)
    assert experiments.seeds("smoke", "control") == (2000, 2001)
    assert experiments.seeds(replace(get_profile("smoke"), seed_offset=2), "control") == (22000, 22001)


def test_impact_counts_beside_the_control():
    rng = np.random.default_rng(0)
    targets = rng.integers(0, 3, 300)
    baseline = np.where(rng.random((5, 300)) < 0.8, targets, rng.integers(0, 3, 300))
    control = np.where(rng.random((5, 300)) < 0.8, targets, rng.integers(0, 3, 300))
    compressed = np.where(rng.random((5, 300)) < 0.6, targets, 0)   # class 0 absorbs the errors
    table = class_impact.impact_counts(baseline=baseline, compressed={0.9: compressed}, targets=targets,
                                       control=control, correction="bh")
    direct = class_impact.class_impact(baseline=baseline, compressed=control, targets=targets, correction="bh")
    assert table.loc[0.9, "noise impacted"] == direct.attrs["n_significant"] == 0
    assert table.loc[0.9, "impacted"] == 3
    assert table.loc[0.9, "p vs noise"] == pytest.approx(1 / 252)   # no other split of 10 members does as well
    assert table.loc[0.9, "p vs noise, adjusted"] == pytest.approx(1 / 252)   # one level: BH changes nothing
