"""Class-level impact: normalised recall and Welch t-tests (hand-made predictions, scipy cross-check)."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats as scipy_stats

from course_lib.analysis.class_impact import class_impact, impact_counts, normalized_recall, welch_t_test

TARGETS = np.array([0, 0, 1, 1])


def test_normalized_recall_subtracts_the_population_mean_top1():
    preds = np.array([[0, 0, 1, 0],     # recall (1, 0.5), top-1 0.75
                      [0, 1, 1, 1]])    # recall (0.5, 1), top-1 0.75
    assert normalized_recall(preds, TARGETS, 3)[:, :2].tolist() == [[0.25, -0.25], [-0.25, 0.25]]
    assert np.isnan(normalized_recall(preds, TARGETS, 3)[:, 2]).all()   # class 2 absent


def test_normalized_recall_uses_the_population_mean_not_each_models_own():
    preds = np.array([[0, 0, 1, 1],     # top-1 1.0
                      [1, 1, 0, 0]])    # top-1 0.0 -> population mean 0.5
    assert normalized_recall(preds, TARGETS, 2).tolist() == [[0.5, 0.5], [-0.5, -0.5]]


@pytest.mark.filterwarnings("ignore:Precision loss occurred")  # scipy, on nearly constant samples
@settings(max_examples=40, deadline=None)
@given(st.lists(st.floats(-1, 1), min_size=2, max_size=12), st.lists(st.floats(-1, 1), min_size=2, max_size=12))
def test_welch_matches_scipy(a, b):
    a, b = np.array(a), np.array(b)
    if a.var() + b.var() < 1e-12:
        return
    t, p = welch_t_test(a, b)
    expected = scipy_stats.ttest_ind(a, b, equal_var=False)
    assert t == pytest.approx(expected.statistic, rel=1e-9, abs=1e-9)
    assert p == pytest.approx(expected.pvalue, rel=1e-9, abs=1e-12)


def test_welch_exact_value_and_constant_samples():
    t, p = welch_t_test([1.0, 2.0, 3.0], [4.0, 5.0, 6.0])   # se = sqrt(1/3 + 1/3), dof = 4
    assert t == pytest.approx(-3 / np.sqrt(2 / 3))
    assert p == pytest.approx(2 * scipy_stats.t.sf(3 / np.sqrt(2 / 3), 4))
    assert all(np.isnan(welch_t_test([1, 1], [1, 1])))
    with pytest.raises(ValueError, match=r"a must have shape \(n,\) or \(n, m\) with n >= 2 values"):
        welch_t_test([1.0], [1.0, 2.0])


def test_welch_tests_every_column_and_guards_only_constant_pairs():
    a = np.array([[1.0, 1.0, 0.0], [2.0, 1.0, 0.0], [3.0, 1.0, 0.0]])
    b = np.array([[4.0, 2.0, 0.0], [5.0, 2.0, 0.0], [6.0, 2.0, 0.0]])
    t, p = welch_t_test(a, b)
    assert t.shape == p.shape == (3,)
    assert t[0] == pytest.approx(-3 / np.sqrt(2 / 3)) and p[0] == pytest.approx(2 * scipy_stats.t.sf(3 / np.sqrt(2 / 3), 4))
    # both samples constant: no variance to test against, whether the means differ (scipy: -inf, p = 0) or not
    assert np.isnan(t[1:]).all() and np.isnan(p[1:]).all()
    with pytest.raises(ValueError, match="a and b must have the same number of columns"):
        welch_t_test(a, b[:, :2])


def _population(recall_by_class: list[list[float]], per_class: int = 20) -> tuple[np.ndarray, np.ndarray]:
    """Predictions of models whose recall of each class is given exactly (wrong answers -> next class)."""
    classes = len(recall_by_class[0])
    targets = np.repeat(np.arange(classes), per_class)
    preds = np.tile(targets, (len(recall_by_class), 1))
    for k, recalls in enumerate(recall_by_class):
        for c, r in enumerate(recalls):
            wrong = per_class - round(r * per_class)
            preds[k, c * per_class: c * per_class + wrong] = (c + 1) % classes
    return preds, targets


def test_class_impact_flags_the_class_that_loses_more_than_top1():
    dense, targets = _population([[0.9, 0.9, 0.9], [0.95, 0.9, 0.85], [0.9, 0.85, 0.95], [0.85, 0.95, 0.9]])
    pruned, _ = _population([[0.5, 0.95, 0.95], [0.55, 0.9, 1.0], [0.5, 1.0, 0.9], [0.45, 0.95, 0.95]])
    table = class_impact(baseline=dense, compressed=pruned, targets=targets, classes=["cat", "dog", "eel"])
    assert list(table.index) == ["cat", "dog", "eel"]
    assert list(table.columns) == ["baseline", "compressed", "change", "t", "p", "p_adjusted", "significant"]
    r_dense = normalized_recall(dense, targets, 3)
    r_pruned = normalized_recall(pruned, targets, 3)
    expected = scipy_stats.ttest_ind(r_pruned[:, 0], r_dense[:, 0], equal_var=False)
    assert table.loc["cat", "t"] == pytest.approx(expected.statistic)
    assert table.loc["cat", "p"] == pytest.approx(expected.pvalue)
    assert table.loc["cat", "change"] == pytest.approx(r_pruned[:, 0].mean() - r_dense[:, 0].mean())
    assert table.loc["cat", "t"] < 0 and table.loc["cat", "significant"]
    assert table.attrs["n_significant"] == table["significant"].sum()
    assert (table["p_adjusted"] == table["p"]).all()


def test_benjamini_hochberg_is_optional_and_never_lowers_p():
    rng = np.random.default_rng(0)
    dense = rng.integers(0, 4, size=(5, 400))
    pruned = rng.integers(0, 4, size=(5, 400))
    targets = rng.integers(0, 4, size=400)
    plain = class_impact(baseline=dense, compressed=pruned, targets=targets)
    bh = class_impact(baseline=dense, compressed=pruned, targets=targets, correction="bh")
    assert (bh["p_adjusted"] >= plain["p"] - 1e-15).all()
    assert np.allclose(bh["p_adjusted"], scipy_stats.false_discovery_control(plain["p"]))
    assert bh.attrs["correction"] == "bh" and bh.attrs["n_significant"] <= plain.attrs["n_significant"]


def test_identical_populations_change_nothing():
    preds = np.array([[0, 0, 1, 1], [0, 0, 1, 1]])
    table = class_impact(baseline=preds, compressed=preds, targets=TARGETS)
    assert table["change"].tolist() == [0.0, 0.0]
    assert table["p"].isna().all() and not table["significant"].any()


@pytest.mark.parametrize("kwargs, message", [
    ({"alpha": 1.5}, "alpha must be a real number in \\(0, 1\\), got 1.5"),
    ({"correction": "bonferroni"}, "correction must be one of \\[None, 'bh'\\], got 'bonferroni'"),
])
def test_class_impact_validates(kwargs, message):
    with pytest.raises(ValueError, match=message):
        class_impact(baseline=np.zeros((2, 4), dtype=int), compressed=np.zeros((2, 4), dtype=int), targets=TARGETS, **kwargs)


def test_impact_counts_split_losers_and_winners():
    dense, targets = _population([[0.9, 0.9, 0.9], [0.95, 0.9, 0.85], [0.9, 0.85, 0.95], [0.85, 0.95, 0.9]])
    pruned, _ = _population([[0.5, 0.95, 0.95], [0.55, 0.9, 1.0], [0.5, 1.0, 0.9], [0.45, 0.95, 0.95]])
    counts = impact_counts(baseline=dense, compressed={0.9: pruned, 0.0: dense}, targets=targets)
    table = class_impact(baseline=dense, compressed=pruned, targets=targets)
    assert counts.loc[0.9, "impacted"] == table.attrs["n_significant"]
    assert counts.loc[0.9, "hurt"] == 1
    assert counts.loc[0.9, "mean loss of hurt"] == pytest.approx(-table.loc[0, "change"])
    assert counts.loc[0.0].tolist()[:3] == [0, 0, 0]
