"""Subgroup audits: error/FPR/FNR/PPV per subgroup, populations, relative change, CEV and SDE."""

import math
import warnings

import numpy as np
import pandas as pd
import pytest
from fairlearn.metrics import MetricFrame, count, false_negative_rate, false_positive_rate
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.metrics import accuracy_score, precision_score

from course_lib.analysis.changes import (bootstrap_relative_change, cev, cev_sde, change_table, fpr_fnr_changes,
                                        relative_change, sde, unevenness)
from course_lib.analysis.subgroups import (KEYS, METRICS, member_rates, member_subgroup_metrics, population_subgroup_metrics,
                                          subgroup_masks, subgroup_metrics)

# 16 examples, hand-made confusion table per intersection (there is no old male):
#   female & young (5): y 1 1 0 0 0 / pred 1 0 0 1 0 -> TP 1, FN 1, TN 2, FP 1
#   female & old   (4): y 1 1 1 1   / pred 1 1 0 0   -> TP 2, FN 2, no negatives
#   male & young   (7): y 1 1 1 0 0 0 0 / pred 1 1 1 1 1 0 0 -> TP 3, FN 0, TN 2, FP 2
_CELLS = [("female", "young", [1, 1, 0, 0, 0], [1, 0, 0, 1, 0]),
          ("female", "old", [1, 1, 1, 1], [1, 1, 0, 0]),
          ("male", "young", [1, 1, 1, 0, 0, 0, 0], [1, 1, 1, 1, 1, 0, 0])]
_ROWS = [(g, a, t, p) for g, a, ts, ps in _CELLS for t, p in zip(ts, ps)]
_ORDER = np.random.default_rng(3).permutation(len(_ROWS))     # rows are matched by position, any order
GROUPS = pd.DataFrame([_ROWS[i][:2] for i in _ORDER], columns=["gender", "age"])
Y = np.array([_ROWS[i][2] for i in _ORDER])
PRED = np.array([_ROWS[i][3] for i in _ORDER])

NAN = math.nan
# (scope, attributes, group): (count, error, fpr, fnr, ppv), from TP/FN/TN/FP summed by hand
EXPECTED = {
    ("overall", "all", "all"): (16, 6 / 16, 3 / 7, 3 / 9, 6 / 9),        # TP 6, FN 3, TN 4, FP 3
    ("unitary", "gender", "female"): (9, 4 / 9, 1 / 3, 3 / 6, 3 / 4),    # TP 3, FN 3, TN 2, FP 1
    ("unitary", "gender", "male"): (7, 2 / 7, 2 / 4, 0 / 3, 3 / 5),
    ("unitary", "age", "old"): (4, 2 / 4, NAN, 2 / 4, 2 / 2),
    ("unitary", "age", "young"): (12, 4 / 12, 3 / 7, 1 / 5, 4 / 7),      # TP 4, FN 1, TN 4, FP 3
    ("intersection", "gender & age", "female & old"): (4, 2 / 4, NAN, 2 / 4, 2 / 2),
    ("intersection", "gender & age", "female & young"): (5, 2 / 5, 1 / 3, 1 / 2, 1 / 2),
    ("intersection", "gender & age", "male & old"): (0, NAN, NAN, NAN, NAN),
    ("intersection", "gender & age", "male & young"): (7, 2 / 7, 2 / 4, 0 / 3, 3 / 5),
}


def _assert_row(row: pd.Series, expected: tuple) -> None:
    assert row["count"] == expected[0]
    for metric, value in zip(METRICS, expected[1:]):
        if math.isnan(value):
            assert math.isnan(row[metric]), metric
        else:
            assert row[metric] == pytest.approx(value), metric


@pytest.mark.filterwarnings("error")
def test_subgroup_metrics_exact_on_a_hand_made_table():
    table = subgroup_metrics(y_true=Y, y_pred=PRED, groups=GROUPS)
    assert list(table.columns) == [*KEYS, "count", *METRICS]
    assert [tuple(key) for key in table[list(KEYS)].to_numpy()] == list(EXPECTED)
    for (_, row), expected in zip(table.iterrows(), EXPECTED.values()):
        _assert_row(row, expected)
    assert table["count"].dtype == np.int64
    assert table.attrs["n_boot"] is None and table.attrs["pos_label"] == 1


def test_the_empty_intersection_is_reported_not_dropped():
    table = subgroup_metrics(y_true=Y, y_pred=PRED, groups=GROUPS)
    empty = table[table["count"] == 0]
    assert empty["group"].tolist() == ["male & old"]
    assert empty[list(METRICS)].isna().all(axis=None)


@pytest.mark.filterwarnings("error")
def test_undefined_rates_are_nan_without_warnings():
    groups = pd.DataFrame({"g": ["a", "a", "b", "b"]})
    table = subgroup_metrics(y_true=[0, 0, 1, 0], y_pred=[0, 0, 0, 1], groups=groups).set_index("group")
    assert np.isnan(table.loc["a", "fnr"]) and np.isnan(table.loc["a", "ppv"])   # no positive, none predicted
    assert table.loc["a", "fpr"] == 0 and table.loc["a", "error"] == 0
    assert table.loc["b", "fpr"] == 1 and table.loc["b", "fnr"] == 1 and table.loc["b", "ppv"] == 0


def test_other_labels_categorical_order_and_awkward_column_names():
    # Columns named like fairlearn's own ("y_true") or not strings at all, a categorical order.
    groups = pd.DataFrame({"y_true": pd.Categorical(["z", "a", "z", "a"], categories=["z", "a", "unused"]),
                           7: [True, False, False, False]})
    table = subgroup_metrics(y_true=["yes", "no", "no", "yes"], y_pred=["yes", "yes", "no", "no"],
                             groups=groups, pos_label="yes")
    assert table["attributes"].tolist()[1:] == ["y_true"] * 2 + ["7"] * 2 + ["y_true & 7"] * 4
    assert table["group"].tolist()[1:5] == ["z", "a", "False", "True"]    # unused category left out
    by_group = table.set_index("group")
    assert by_group.loc["z", "fnr"] == 0 and by_group.loc["a", "fnr"] == 1
    assert by_group.loc["a & True", "count"] == 0 and by_group.loc["z & True", "count"] == 1


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_agreement_with_fairlearn_metrics(seed):
    rng = np.random.default_rng(seed)
    n = 40
    groups = pd.DataFrame({"a": rng.choice(["p", "q"], n), "b": rng.choice(["r", "s", "t"], n),
                           "c": rng.choice(["u", "v"], n, p=[0.9, 0.1])})
    y = rng.integers(0, 2, n)
    pred = np.where(rng.random(n) < 0.7, y, 1 - y)
    ours = subgroup_metrics(y_true=y, y_pred=pred, groups=groups).set_index(["attributes", "group"])
    metrics = {"count": count, "accuracy": accuracy_score, "fpr": false_positive_rate, "fnr": false_negative_rate,
               "ppv": lambda t, p: precision_score(t, p, zero_division=np.nan)}
    for columns in (["a"], ["b"], ["a", "b"], ["a", "b", "c"]):
        frame = MetricFrame(metrics=metrics, y_true=y, y_pred=pred, sensitive_features=groups[columns])
        for values, theirs in frame.by_group.iterrows():
            values = values if isinstance(values, tuple) else (values,)
            mine = ours.loc[(" & ".join(columns), " & ".join(values))]
            if np.isnan(theirs["count"]):                       # fairlearn: NaN row for an empty cell
                assert mine["count"] == 0 and mine[list(METRICS)].isna().all()
                continue
            cell = (groups[columns].to_numpy() == np.array(values, dtype=object)).all(axis=1)
            assert mine["count"] == theirs["count"]
            assert mine["error"] == pytest.approx(1 - theirs["accuracy"])
            assert mine["ppv"] == pytest.approx(theirs["ppv"], nan_ok=True)
            for rate, denominator in (("fpr", (y[cell] == 0).sum()), ("fnr", (y[cell] == 1).sum())):
                if denominator:
                    assert mine[rate] == pytest.approx(theirs[rate])
                else:       # fairlearn (through scikit-learn's confusion_matrix) reports 0, we report NaN
                    assert np.isnan(mine[rate]) and theirs[rate] == 0
    overall = MetricFrame(metrics=metrics, y_true=y, y_pred=pred, sensitive_features=groups["a"]).overall
    assert ours.loc[("all", "all"), "fpr"] == pytest.approx(overall["fpr"])
    assert ours.loc[("all", "all"), "error"] == pytest.approx(1 - overall["accuracy"])


def _noisy(n: int = 300, seed: int = 0) -> tuple[np.ndarray, np.ndarray, pd.DataFrame]:
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 2, n)
    return y, np.where(rng.random(n) < 0.8, y, 1 - y), pd.DataFrame({"g": rng.choice(["a", "b"], n)})


@pytest.mark.filterwarnings("error")
def test_bootstrap_intervals_are_seeded_ordered_and_bracket_the_estimate():
    y, pred, groups = _noisy()
    first = subgroup_metrics(y_true=y, y_pred=pred, groups=groups, n_boot=20, ci=0.9, seed=4)
    assert list(first.columns) == [*KEYS, "count"] + [f"{m}{s}" for m in METRICS for s in ("", "_low", "_high")]
    pd.testing.assert_frame_equal(first, subgroup_metrics(y_true=y, y_pred=pred, groups=groups,
                                                          n_boot=20, ci=0.9, seed=4))
    other = subgroup_metrics(y_true=y, y_pred=pred, groups=groups, n_boot=20, ci=0.9, seed=5)
    assert not first["error_low"].equals(other["error_low"])
    pd.testing.assert_frame_equal(first[[*KEYS, "count", *METRICS]], other[[*KEYS, "count", *METRICS]])
    for metric in METRICS:
        low, point, high = first[f"{metric}_low"], first[metric], first[f"{metric}_high"]
        assert ((low <= point) & (point <= high)).all(), metric
        assert (low < high).all() and low.between(0, 1).all() and high.between(0, 1).all()
    assert first.attrs["n_boot"] == 20 and first.attrs["ci"] == 0.9


def test_bootstrap_of_an_empty_intersection_is_nan():
    table = subgroup_metrics(y_true=Y, y_pred=PRED, groups=GROUPS, n_boot=20)
    empty = table.set_index("group").loc["male & old"]
    assert empty["count"] == 0 and empty.drop(["scope", "attributes", "count"]).isna().all()
    old = table.set_index("group").loc["old"]
    assert np.isnan(old["fpr_low"]) and np.isnan(old["fpr_high"])            # no negative in any resample


@pytest.mark.parametrize("kwargs, error, message", [
    ({"n_boot": 0}, ValueError, "n_boot must be an integer >= 1"),
    ({"n_boot": 2.5}, TypeError, "n_boot must be an integer or None"),
    ({"n_boot": 10, "ci": 1.0}, ValueError, "ci must be a real number in \\(0, 1\\)"),
    ({"seed": -1}, ValueError, "seed must be an integer >= 0"),
])
def test_bootstrap_arguments_are_validated(kwargs, error, message):
    with pytest.raises(error, match=message):
        subgroup_metrics(y_true=Y, y_pred=PRED, groups=GROUPS, **kwargs)


@pytest.mark.parametrize("kwargs, message", [
    ({"y_true": [0, 1, 2] * 5 + [0]}, "y_true must be binary: pos_label=1 and at most one other label, got 2"),
    ({"y_pred": np.r_[PRED[:-1], 3]}, "y_pred must be binary"),
    ({"y_pred": np.where(PRED == 0, 2, 1)}, "y_true and y_pred must share one negative label .* got \\[0, 2\\]"),
    ({"y_true": Y.reshape(4, 4)}, "y_true must have shape \\(N,\\)"),
    ({"y_pred": PRED[:15]}, "y_pred must have shape \\(N,\\) with N=16"),
    ({"groups": GROUPS.iloc[:15]}, "groups must have one row per example \\(16\\), got 15"),
    ({"groups": GROUPS.iloc[:, :0]}, "groups must have at least one column"),
    ({"groups": GROUPS.assign(age=GROUPS["age"].where(GROUPS.index > 0))},
     "groups must not contain missing values, got 1 in column 'age'"),
    ({"groups": GROUPS.set_axis(["x", "x"], axis=1)}, "groups must have distinct column names"),
])
def test_inputs_are_validated_by_name(kwargs, message):
    args = {"y_true": Y, "y_pred": PRED, "groups": GROUPS, **kwargs}
    with pytest.raises(ValueError, match=message):
        subgroup_metrics(**args)


def test_groups_that_are_no_dataframe_are_a_type_error():
    with pytest.raises(TypeError, match="^groups must be a pandas DataFrame with one column per attribute, got ndarray$"):
        subgroup_metrics(y_true=Y, y_pred=PRED, groups=GROUPS.to_numpy())


# --------------------------------------------------------------------------- populations

ALL_RIGHT, ALL_POSITIVE = Y.copy(), np.ones_like(Y)


def test_population_mean_and_sd_exact():
    table = population_subgroup_metrics(y_true=Y, preds=np.stack([PRED, ALL_RIGHT, ALL_POSITIVE]), groups=GROUPS)
    assert list(table.columns) == [*KEYS, "count"] + [f"{m}{s}" for m in METRICS for s in ("", "_sd")]
    assert table.attrs["n_members"] == 3
    overall = table.iloc[0]
    members = {"error": [6 / 16, 0, 7 / 16], "fpr": [3 / 7, 0, 1], "fnr": [3 / 9, 0, 0], "ppv": [6 / 9, 1, 9 / 16]}
    assert overall["count"] == 16
    for metric, values in members.items():
        assert overall[metric] == pytest.approx(np.mean(values))
        assert overall[f"{metric}_sd"] == pytest.approx(np.std(values, ddof=1))
    female_young = table.set_index("group").loc["female & young"]          # errors 2/5, 0, 3/5
    assert female_young["error"] == pytest.approx(1 / 3)
    assert female_young["error_sd"] == pytest.approx(np.std([0.4, 0, 0.6], ddof=1))
    empty = table.set_index("group").loc["male & old"]
    assert empty["count"] == 0 and empty[[f"{m}{s}" for m in METRICS for s in ("", "_sd")]].isna().all()


def test_population_of_one_has_nan_sd_and_ppv_averages_defined_members():
    one = population_subgroup_metrics(y_true=Y, preds=PRED[None], groups=GROUPS)
    assert one[[f"{m}_sd" for m in METRICS]].isna().all(axis=None)
    pd.testing.assert_frame_equal(one[[*KEYS, "count", *METRICS]],
                                  subgroup_metrics(y_true=Y, y_pred=PRED, groups=GROUPS), check_like=True)
    # the second member predicts no positive: its PPV is undefined and left out of mean and sd
    two = population_subgroup_metrics(y_true=Y, preds=np.stack([PRED, np.zeros_like(Y)]), groups=GROUPS)
    assert two.loc[0, "ppv"] == pytest.approx(6 / 9) and np.isnan(two.loc[0, "ppv_sd"])
    assert two.loc[0, "fnr"] == pytest.approx((3 / 9 + 1) / 2)


def test_member_table_keeps_every_member():
    preds = np.stack([PRED, ALL_RIGHT, ALL_POSITIVE])
    long = member_subgroup_metrics(y_true=Y, preds=preds, groups=GROUPS)
    assert list(long.columns) == ["member", *KEYS, "count", *METRICS]
    assert long["member"].tolist() == [0] * 9 + [1] * 9 + [2] * 9
    second = long[long["member"] == 2].drop(columns="member").reset_index(drop=True)
    pd.testing.assert_frame_equal(second, subgroup_metrics(y_true=Y, y_pred=ALL_POSITIVE, groups=GROUPS),
                                  check_like=True)


@pytest.mark.parametrize("preds, message", [
    (PRED, "preds must have shape \\(K, N\\) with N=16"),
    (np.zeros((0, 16), dtype=int), "K >= 1"),
    (np.stack([PRED, PRED + 2]), "preds must be binary"),
])
def test_population_validates_preds(preds, message):
    with pytest.raises(ValueError, match=message):
        population_subgroup_metrics(y_true=Y, preds=preds, groups=GROUPS)


# --------------------------------------------------------------------------- relative change

def test_relative_change_hand_made():
    assert relative_change(compressed=0.3, baseline=0.2) == pytest.approx(50.0)
    assert relative_change(compressed=0.05, baseline=0.1) == pytest.approx(-50.0)
    assert relative_change(compressed=np.array([0.3, 0.05]), baseline=np.array([0.2, 0.1])) == pytest.approx([50.0, -50.0])
    series = relative_change(compressed=pd.Series({"male": 0.05, "female": 0.3}), baseline=pd.Series({"female": 0.2, "male": 0.1}))
    assert series.to_dict() == pytest.approx({"female": 50.0, "male": -50.0})
    assert series.attrs["zero_baseline"] == []
    frame = relative_change(compressed=pd.DataFrame({"fpr": [0.3], "fnr": [0.1]}), baseline=pd.DataFrame({"fnr": [0.4], "fpr": [0.2]}))
    assert frame.loc[0, "fpr"] == pytest.approx(50.0) and frame.loc[0, "fnr"] == pytest.approx(-75.0)
    assert relative_change(compressed=pd.Series([0.3, 0.1]), baseline=0.2).tolist() == pytest.approx([50.0, -50.0])


def test_relative_change_of_a_zero_baseline_warns_is_nan_and_is_listed():
    compressed = pd.DataFrame({"fpr": [0.1, 0.0], "fnr": [0.2, 0.3]}, index=["female", "male"])
    baseline = pd.DataFrame({"fpr": [0.0, 0.0], "fnr": [0.1, 0.3]}, index=["female", "male"])
    listed = "baseline is 0 at 2 position\\(s\\) \\[\\('female', 'fpr'\\), \\('male', 'fpr'\\)\\]"
    with pytest.warns(UserWarning, match=listed):
        result = relative_change(compressed=compressed, baseline=baseline)
    assert result["fpr"].isna().all() and not np.isinf(result.to_numpy()).any()   # 0 -> 0.1 and 0 -> 0 alike
    assert result["fnr"].tolist() == pytest.approx([100.0, 0.0])
    assert result.attrs["zero_baseline"] == [("female", "fpr"), ("male", "fpr")]
    with pytest.warns(UserWarning, match="baseline is 0 at 1 position"):
        series = relative_change(compressed=pd.Series({"a": 0.1, "b": 0.2}), baseline=pd.Series({"a": 0.0, "b": 0.1}))
    assert series.attrs["zero_baseline"] == ["a"] and np.isnan(series["a"])
    with pytest.warns(UserWarning, match="baseline is 0"):
        assert math.isnan(relative_change(compressed=0.0, baseline=0.0))


def test_relative_change_of_nan_is_silent():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        result = relative_change(compressed=pd.Series([np.nan, 0.2]), baseline=pd.Series([0.1, np.nan]))
    assert result.isna().all() and result.attrs["zero_baseline"] == []


@settings(max_examples=50, deadline=None)
@given(st.lists(st.floats(0.001, 1), min_size=1, max_size=8), st.floats(-99, 500))
def test_relative_change_inverts_a_percent_change(baseline, percent):
    baseline = pd.Series(baseline)
    result = relative_change(compressed=baseline * (1 + percent / 100), baseline=baseline)
    assert result.to_numpy() == pytest.approx(np.full(len(baseline), percent), abs=1e-9 * max(1, abs(percent)))


def test_relative_change_validates():
    table = subgroup_metrics(y_true=Y, y_pred=PRED, groups=GROUPS)
    with pytest.raises(ValueError, match="compressed must hold numbers only, got non-numeric columns \\['scope'"):
        relative_change(compressed=table, baseline=table)
    with pytest.raises(ValueError, match="both be Series or both be DataFrames"):
        relative_change(compressed=table["error"], baseline=table[["error"]])


# --------------------------------------------------------------------------- CEV and SDE

def _rates(dfpr, dfnr, fpr_baseline=(0.1, 0.2, 0.05), fnr_baseline=(0.2, 0.1, 0.4)):
    """Baseline and compressed rates whose percent changes are exactly (dfpr, dfnr)."""
    n = len(dfpr)
    fpr_b, fnr_b = np.array(fpr_baseline[:n]), np.array(fnr_baseline[:n])
    return {"fpr_baseline": fpr_b, "fnr_baseline": fnr_b,
            "fpr_compressed": fpr_b * (1 + np.array(dfpr) / 100), "fnr_compressed": fnr_b * (1 + np.array(dfnr) / 100)}


def test_fpr_fnr_changes_are_percent_changes_aligned_on_the_index():
    changes = fpr_fnr_changes(fpr_baseline=pd.Series({"cat": 0.1, "dog": 0.2}),
                              fnr_baseline=pd.Series({"dog": 0.1, "cat": 0.2}),
                              fpr_compressed=pd.Series({"cat": 0.11, "dog": 0.26}),
                              fnr_compressed=pd.Series({"cat": 0.26, "dog": 0.11}))
    assert list(changes.columns) == ["dfpr", "dfnr"]
    assert changes.loc["cat"].tolist() == pytest.approx([10, 30])
    assert changes.loc["dog"].tolist() == pytest.approx([30, 10])


def test_cev_and_sde_on_the_diagonal():
    rates = _rates([10, 30], [10, 30])           # centroid (20, 20); squared distances 200 and 200
    assert cev(**rates) == pytest.approx((200 + 200) / 2 / 2)
    assert sde(**rates) == pytest.approx(0, abs=1e-9)


def test_cev_and_sde_off_the_diagonal():
    rates = _rates([10, 30], [30, 10])           # centroid (20, 20); |dFPR - dFNR| = 20 for both
    assert cev(**rates) == pytest.approx(100)
    assert sde(**rates) == pytest.approx(20 / math.sqrt(2))
    rates = _rates([0, 30, 0], [0, 0, 30])       # centroid (10, 10); squared distances 200, 500, 500
    assert cev(**rates) == pytest.approx((200 + 500 + 500) / 3 / 2)
    assert sde(**rates) == pytest.approx((0 + 30 + 30) / 3 / math.sqrt(2))
    one = _rates([10], [40])                     # one class: no spread, but 30 points off the diagonal
    assert cev(**one) == 0 and sde(**one) == pytest.approx(30 / math.sqrt(2))


@settings(max_examples=50, deadline=None)
@given(st.lists(st.tuples(st.floats(0.01, 1), st.floats(0.01, 1)), min_size=1, max_size=10), st.floats(-90, 300))
def test_a_uniform_change_has_no_cev_and_no_sde(baselines, percent):
    fpr_b, fnr_b = np.array(baselines).T
    factor = 1 + percent / 100
    rates = {"fpr_baseline": fpr_b, "fnr_baseline": fnr_b, "fpr_compressed": fpr_b * factor,
             "fnr_compressed": fnr_b * factor}
    scale = max(1.0, abs(percent))
    assert cev(**rates) == pytest.approx(0, abs=1e-18 * scale ** 2 + 1e-18)
    assert sde(**rates) == pytest.approx(0, abs=1e-9 * scale)


def test_cev_is_the_mean_of_the_two_population_variances():
    rng = np.random.default_rng(0)
    rates = {name: rng.uniform(0.05, 0.5, 6) for name in ("fpr_baseline", "fnr_baseline", "fpr_compressed",
                                                         "fnr_compressed")}
    changes = fpr_fnr_changes(**rates)
    assert cev(**rates) == pytest.approx((changes["dfpr"].var(ddof=0) + changes["dfnr"].var(ddof=0)) / 2)
    assert sde(**rates) == pytest.approx((changes["dfpr"] - changes["dfnr"]).abs().mean() / math.sqrt(2))


def test_a_zero_baseline_rate_raises_or_is_dropped_with_a_warning():
    rates = _rates([10, 30, 50], [10, 30, 0])
    rates["fpr_baseline"] = np.array([0.1, 0.0, 0.05])
    with pytest.raises(ValueError, match="fpr_baseline is 0 for \\[1\\].*zero_baseline='drop'"):
        cev(**rates)
    with pytest.warns(UserWarning, match="dropping 1 class"):
        assert sde(**rates, zero_baseline="drop") == pytest.approx((0 + 50) / 2 / math.sqrt(2))
    rates["fnr_compressed"] = np.array([0.22, np.nan, 0.4])
    with pytest.raises(ValueError, match="fnr_compressed is NaN for \\[1\\]"):
        sde(**rates)
    rates["fpr_baseline"] = np.zeros(3)
    with pytest.warns(UserWarning, match="dropping 3 class"):
        assert np.isnan(cev(**rates, zero_baseline="drop"))
    with pytest.warns(UserWarning, match="dropping 3 class"):
        assert np.isnan(sde(**rates, zero_baseline="drop"))


@pytest.mark.parametrize("change, message", [
    ({"fpr_compressed": [0.1, 0.2]}, "must have the same length"),
    ({"fnr_baseline": [[0.1, 0.2, 0.3]]}, "fnr_baseline must have shape \\(C,\\)"),
    ({"zero_baseline": "ignore"}, "zero_baseline must be one of \\['raise', 'drop'\\]"),
])
def test_cev_inputs_are_validated(change, message):
    with pytest.raises(ValueError, match=message):
        cev(**{**_rates([10, 20, 30], [10, 20, 30]), **change})


def test_missing_class_in_a_series_is_named():
    rates = {name: pd.Series(values, index=["a", "b", "c"]) for name, values in _rates([1, 2, 3], [1, 2, 3]).items()}
    rates["fnr_compressed"] = rates["fnr_compressed"].drop("b")
    with pytest.raises(ValueError, match="fnr_compressed has no value for \\['b'\\]"):
        cev(**rates)


def test_bootstrap_relative_change_point_estimate_is_the_change_of_population_means():
    groups = pd.DataFrame({"g": ["a", "a", "b", "b"]})
    y = [1, 0, 1, 0]
    dense, pruned = [[1, 0, 1, 1], [1, 1, 1, 0]], [[0, 0, 1, 1], [1, 1, 0, 1]]
    table = bootstrap_relative_change(y_true=y, baseline=dense, compressed=pruned, groups=groups, n_boot=200)
    # errors: dense members (all 1/4, a 0, b 1/2) and (all 1/4, a 1/2, b 0); pruned (1/2, 1/2, 1/2) and (3/4, 1/2, 1)
    assert table.index.tolist() == ["all", "a", "b"]
    assert table.loc["all", "error"] == pytest.approx(100 * (5 / 8 - 1 / 4) / (1 / 4))
    assert table.loc["b", "error"] == pytest.approx(200.0)
    # FNR of group a: no dense member misses its one positive, so no relative change exists
    assert np.isnan(table.loc["a", "fnr"])
    assert (table["error_low"] <= table["error"]).all() and (table["error"] <= table["error_high"]).all()


def test_bootstrap_relative_change_interval_is_a_point_without_chance():
    # identical members, and in group b the same predictions before and after: every resample changes nothing
    groups = pd.DataFrame({"g": ["a"] * 4 + ["b"] * 4})
    y = [1, 1, 0, 0] * 2
    dense = [[1, 0, 0, 0, 1, 0, 0, 0]] * 3
    pruned = [[0, 0, 0, 0, 1, 0, 0, 0]] * 2
    table = bootstrap_relative_change(y_true=y, baseline=dense, compressed=pruned, groups=groups, metrics=("fnr",),
                                      n_boot=50)
    assert table.loc["a", "fnr"] == pytest.approx(100.0)   # 1/2 -> 1
    assert table.loc["b", "fnr"] == pytest.approx(0.0)
    assert table.loc["b", ["fnr_low", "fnr_high"]].tolist() == pytest.approx([0.0, 0.0], abs=1e-9)
    assert table.loc["a", "fnr_low"] <= 100.0 <= table.loc["a", "fnr_high"]


def test_bootstrap_relative_change_is_seeded():
    groups = pd.DataFrame({"g": ["a", "b"] * 10})
    rng = np.random.default_rng(0)
    y, dense, pruned = rng.integers(0, 2, 20), rng.integers(0, 2, (5, 20)), rng.integers(0, 2, (5, 20))
    run = [bootstrap_relative_change(y_true=y, baseline=dense, compressed=pruned, groups=groups, n_boot=100, seed=s)
           for s in (3, 3, 4)]
    assert run[0].equals(run[1]) and not run[0].equals(run[2])


def test_paired_bootstrap_draws_the_same_members_on_both_sides():
    # member k of pruned errs exactly where member k of dense does, plus on example 0: paired, every
    # resample of pairs changes the error by the same 1/8 of the examples (each resample keeps all 8 examples' weight)
    groups = pd.DataFrame({"g": ["a"] * 8})
    y = np.zeros(8, dtype=int)
    dense = np.zeros((4, 8), dtype=int)
    dense[np.arange(4), np.arange(4) + 4] = 1  # member k errs on example 4 + k
    pruned = dense.copy()
    pruned[:, 0] = 1
    paired = bootstrap_relative_change(y_true=y, baseline=dense, compressed=pruned, groups=groups, metrics=("error",),
                                       paired=True, n_boot=200)
    unpaired = bootstrap_relative_change(y_true=y, baseline=dense, compressed=pruned, groups=groups, metrics=("error",),
                                         n_boot=200)
    assert paired.loc["a", "error"] == unpaired.loc["a", "error"] == pytest.approx(100.0)
    width = (paired.error_high - paired.error_low).iloc[0]
    assert width < (unpaired.error_high - unpaired.error_low).iloc[0]
    with pytest.raises(ValueError, match="paired=True needs populations of the same size, got 4 and 3"):
        bootstrap_relative_change(y_true=y, baseline=dense, compressed=pruned[:3], groups=groups, paired=True)


def test_change_table_has_both_means_and_the_normalised_difference():
    groups = pd.DataFrame({"g": ["a", "a", "b", "b"]})
    y = [1, 0, 1, 0]
    table = change_table(y_true=y, baseline=[[1, 0, 1, 1], [1, 1, 1, 0]], compressed=[[0, 0, 1, 1], [1, 1, 0, 1]],
                         groups=groups, metric="error", n_boot=100)
    assert table["count"].tolist() == [4, 2, 2]
    assert table["baseline error (%)"].tolist() == pytest.approx([25.0, 25.0, 25.0])
    assert table["compressed error (%)"].tolist() == pytest.approx([62.5, 50.0, 75.0])
    assert table.loc["all", "normalised difference"] == pytest.approx(150.0)
    assert table.loc["b", "normalised difference"] == pytest.approx(200.0)
    assert list(table.columns[-2:]) == ["low", "high"]


def test_subgroup_masks_follow_the_rows_of_subgroup_metrics():
    groups = pd.DataFrame({"gender": ["f", "f", "m", "m"], "age": ["old", "young", "old", "old"]})
    masks = subgroup_masks(groups)
    table = subgroup_metrics(y_true=[1, 0, 1, 0], y_pred=[1, 1, 0, 0], groups=groups)
    assert masks.columns.tolist() == table["group"].tolist()
    assert masks.sum().tolist() == table["count"].tolist()
    assert masks["f & young"].tolist() == [False, True, False, False]


def test_cev_sde_of_groups_equals_cev_and_sde_of_their_rates():
    baseline = pd.DataFrame({"group": ["all", "x", "y"], "fpr": [0.2, 0.1, 0.3], "fnr": [0.2, 0.2, 0.2]})
    compressed = pd.DataFrame({"group": ["all", "x", "y"], "fpr": [0.3, 0.2, 0.3], "fnr": [0.3, 0.2, 0.4]})
    result = cev_sde(baseline=baseline, compressed=compressed, groups=["x", "y"])
    # points (dFPR, dFNR): x (100, 0), y (0, 100); centroid (50, 50)
    assert result["CEV"] == pytest.approx((2 * 2500 + 2 * 2500) / 2 / 2)
    assert result["SDE"] == pytest.approx(100 / math.sqrt(2))
    with pytest.raises(ValueError, match=r"compressed must have a row for every group of groups, missing \['z'\]"):
        cev_sde(baseline=baseline.assign(group=["all", "x", "z"]), compressed=compressed, groups=["x", "z"])


@settings(max_examples=25, deadline=None)
@given(st.integers(0, 2**32 - 1))
def test_member_rates_equal_the_member_tables(seed):
    rng = np.random.default_rng(seed)
    groups = pd.DataFrame({"gender": rng.choice(["f", "m"], 30), "age": rng.choice(["old", "young"], 30)})
    y, preds = rng.integers(0, 2, 30), rng.integers(0, 2, (3, 30))
    table = member_subgroup_metrics(y_true=y, preds=preds, groups=groups)
    for metric in ("error", "fpr", "fnr"):
        rates = member_rates(y_true=y, preds=preds, groups=groups, metric=metric)
        expected = table.pivot(index="member", columns="group", values=metric)[subgroup_masks(groups).columns]
        assert np.allclose(rates, expected.to_numpy(), equal_nan=True)


def test_member_rates_with_weights_counts_each_example_that_often():
    groups = pd.DataFrame({"g": ["a", "a", "b"]})
    rates = member_rates(y_true=[1, 0, 1], preds=[[0, 0, 1]], groups=groups, weights=np.array([[3, 1, 0], [1, 1, 1]]))
    assert rates.shape == (2, 1, 3)
    assert rates[0, 0].tolist()[:2] == [0.75, 0.75] and np.isnan(rates[0, 0, 2])
    assert rates[1, 0].tolist() == pytest.approx([1 / 3, 0.5, 0.0])
    with pytest.raises(ValueError, match="metric must be one of"):
        member_rates(y_true=[1, 0, 1], preds=[[0, 0, 1]], groups=groups, metric="ppv")


def test_unevenness_is_the_largest_distance_from_the_aggregate_change():
    columns = ["all", "a", "b", "c"]
    baseline = np.array([[0.1, 0.2, 0.1, 0.0], [0.1, 0.2, 0.1, 0.0]])
    compressed = np.array([[0.12, 0.2, 0.2, 0.1]])
    # changes: all +20%, a 0%, b +100%, c undefined (zero baseline)
    assert unevenness(baseline, compressed, columns=columns, groups=["a", "b", "c"]) == pytest.approx(80.0)
    assert unevenness(baseline, compressed, columns=columns, groups=["a"]) == pytest.approx(20.0)
    assert np.isnan(unevenness(baseline, compressed, columns=columns, groups=["c"]))
    with pytest.raises(ValueError, match=r"missing \['d'\]"):
        unevenness(baseline, compressed, columns=columns, groups=["d"])


def test_bootstrap_equals_recomputing_every_metric_on_every_resample():
    y, pred, groups = _noisy(120, seed=3)
    table = subgroup_metrics(y_true=y, y_pred=pred, groups=groups, n_boot=30, ci=0.8, seed=7).set_index("group")
    rng = np.random.default_rng(7)
    draws = [rng.integers(0, len(y), len(y)) for _ in range(30)]  # as resample_counts draws them
    for name, mask in (("all", np.ones(len(y), bool)), ("a", groups.g.to_numpy() == "a")):
        values = []
        for idx in draws:
            t, p = y[idx][mask[idx]], pred[idx][mask[idx]]
            values.append([(t != p).mean(), (p[t == 0] == 1).mean(), (p[t == 1] == 0).mean(), (t[p == 1] == 1).mean()])
        low, high = np.quantile(np.array(values), [0.1, 0.9], axis=0)
        for m, metric in enumerate(METRICS):
            assert table.loc[name, f"{metric}_low"] == pytest.approx(low[m], abs=1e-12)
            assert table.loc[name, f"{metric}_high"] == pytest.approx(high[m], abs=1e-12)
