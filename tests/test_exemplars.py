"""PIE / CIE: modal labels, masks, accuracies on subsets, enrichment (hand-made predictions)."""

import numpy as np
import pandas as pd
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from course_lib.analysis.exemplars import disagreement_score, enrichment, modal_labels, pie_mask, pie_masks, subset_accuracies, without_pies

# 4 models x 6 examples. Columns: unanimous 0; majority 1; tie 0/2 (-> 0); tie 1/2 (-> 1);
# three-way 3/1/1 split... ; label 4 alone.
DENSE = np.array([[0, 1, 0, 1, 3, 4],
                  [0, 1, 2, 2, 3, 4],
                  [0, 1, 0, 1, 1, 4],
                  [0, 2, 2, 2, 2, 4]])


def test_modal_labels_ties_go_to_the_smallest_label():
    assert modal_labels(DENSE).tolist() == [0, 1, 0, 1, 3, 4]


def test_modal_labels_accept_torch_and_a_single_model():
    assert modal_labels(torch.tensor([[2, 0, 1]])).tolist() == [2, 0, 1]


@settings(max_examples=50, deadline=None)
@given(hnp.arrays(np.int64, st.tuples(st.integers(1, 7), st.integers(1, 20)), elements=st.integers(0, 5)))
def test_modal_label_is_a_most_frequent_label_and_the_smallest_such(preds):
    modal = modal_labels(preds)
    for i in range(preds.shape[1]):
        counts = np.bincount(preds[:, i], minlength=6)
        assert counts[modal[i]] == counts.max()
        assert modal[i] == np.flatnonzero(counts == counts.max())[0]


@pytest.mark.parametrize("bad, error, message", [
    (np.zeros(3, dtype=int), ValueError, "shape \\(K, N\\)"),
    (np.zeros((0, 3), dtype=int), ValueError, "K >= 1"),
    (np.zeros((2, 3)), TypeError, "integer class labels"),
    (-np.ones((2, 3), dtype=int), ValueError, ">= 0"),
])
def test_bad_predictions_are_named(bad, error, message):
    with pytest.raises(error, match=f"preds must .*{message}|preds must hold.*{message}"):
        modal_labels(bad)


def test_pie_mask_compares_modal_labels_and_ignores_the_truth():
    pruned = np.array([[0, 2, 2, 1, 3, 4],
                       [0, 2, 2, 1, 1, 4],
                       [0, 1, 2, 1, 1, 0]])   # modal: 0, 2, 2, 1, 1, 4
    assert pie_mask(baseline=DENSE, compressed=pruned).tolist() == [False, True, True, False, True, False]


def test_pie_mask_needs_the_same_examples():
    with pytest.raises(ValueError, match="compressed must have shape \\(K, N=6\\)"):
        pie_mask(baseline=DENSE, compressed=np.zeros((2, 2), dtype=int))


def test_pie_masks_keep_one_column_per_level():
    masks = pie_masks(baseline=DENSE, compressed={0.5: DENSE[:3], 0.9: np.zeros((3, 6), dtype=int)})
    assert list(masks.columns) == [0.5, 0.9]
    assert masks[0.5].tolist() == [False] * 6          # modal of the first three rows: 0 1 0 1 3 4
    assert masks[0.9].tolist() == [False, True, False, True, True, True]


TARGETS = np.array([0, 1, 2, 1, 3, 0])
MASK = np.array([False, True, True, False, True, False])


def test_subset_accuracies_exact():
    table = subset_accuracies({"dense": DENSE}, TARGETS, MASK)
    # per-model correctness on DENSE: rows -> [1,1,0,1,1,0], [1,1,1,0,1,0], [1,1,0,1,0,0], [1,0,1,0,0,0]
    pie = np.array([[1, 0, 1], [1, 1, 1], [1, 0, 0], [0, 1, 0]]).mean(axis=1)      # examples 1, 2, 4
    rest = np.array([[1, 1, 0], [1, 0, 0], [1, 1, 0], [1, 0, 0]]).mean(axis=1)     # examples 0, 3, 5
    everything = np.array([4, 4, 3, 2]) / 6
    assert table.loc[("dense", "PIE"), "n"] == 3 and table.loc[("dense", "all"), "n"] == 6
    for subset, member_acc in (("PIE", pie), ("non-PIE", rest), ("all", everything)):
        assert table.loc[("dense", subset), "mean"] == pytest.approx(member_acc.mean())
        assert table.loc[("dense", subset), "sd"] == pytest.approx(member_acc.std(ddof=1))


def test_subset_accuracies_of_an_empty_subset_and_a_single_model():
    table = subset_accuracies({"one": DENSE[:1]}, TARGETS, np.zeros(6, dtype=bool))
    assert np.isnan(table.loc[("one", "PIE"), "mean"]) and table.loc[("one", "PIE"), "n"] == 0
    assert np.isnan(table.loc[("one", "all"), "sd"])
    assert table.loc[("one", "all"), "mean"] == pytest.approx(4 / 6)


@pytest.mark.parametrize("kwargs, message", [
    ({"targets": np.zeros(5, dtype=int)}, "targets must have shape \\(N=6,\\)"),
    ({"mask": np.zeros(6, dtype=int)}, "mask must be a boolean array of shape \\(6,\\)"),
])
def test_subset_accuracies_validate(kwargs, message):
    args = {"targets": TARGETS, "mask": MASK, **kwargs}
    with pytest.raises(ValueError, match=message):
        subset_accuracies({"dense": DENSE}, args["targets"], args["mask"])


def test_removing_pies_exact_gain():
    masks = pd.DataFrame({0.9: MASK, 0.99: np.zeros(6, dtype=bool)})
    table = without_pies({"dense": DENSE}, TARGETS, masks)
    rest = np.array([2, 1, 2, 1]) / 3
    assert table.loc[("dense", 0.9), "removed"] == 3
    assert table.loc[("dense", 0.9), "without PIEs"] == pytest.approx(rest.mean())
    assert table.loc[("dense", 0.9), "gain"] == pytest.approx(rest.mean() - 13 / 24)
    assert table.loc[("dense", 0.99), "gain"] == 0


def test_enrichment_exact():
    attributes = pd.DataFrame({"atypical": [True, True, False, False, False, False],
                               "group": ["a", "a", "b", "b", "b", "c"]})
    mask = np.array([True, False, True, False, False, False])
    table = enrichment(mask, attributes)
    assert list(table.index) == ["atypical", "group=a", "group=b", "group=c"]
    row = table.loc["atypical"]
    assert (row["flagged"], row["flagged PIEs"]) == (2, 1)
    assert row["base rate"] == pytest.approx(1 / 3)
    assert row["share of PIEs"] == pytest.approx(1 / 2)
    assert row["recall"] == pytest.approx(1 / 2)
    assert row["enrichment"] == pytest.approx(1.5)
    assert table.loc["group=c", "enrichment"] == 0
    assert table.loc["group=b", "recall"] == pytest.approx(1 / 3)


def test_enrichment_without_pies_or_flags_is_nan_not_an_error():
    attributes = pd.DataFrame({"rare": [False] * 4})
    none = enrichment(np.zeros(4, dtype=bool), attributes)
    assert np.isnan(none.loc["rare", "share of PIEs"]) and np.isnan(none.loc["rare", "enrichment"])
    some = enrichment(np.array([True, False, False, False]), attributes)
    assert np.isnan(some.loc["rare", "recall"]) and np.isnan(some.loc["rare", "enrichment"])


def test_enrichment_needs_one_row_per_example():
    with pytest.raises(ValueError, match="one row per example \\(3\\)"):
        enrichment(np.zeros(3, dtype=bool), pd.DataFrame({"x": [True, False]}))


def test_disagreement_score_exact():
    # two classes; the baseline is sure of class 0 on example 0, split on example 1
    big = 50.0
    baseline = np.array([[[big, 0.0], [0.0, 0.0]],
                         [[big, 0.0], [0.0, 0.0]]])
    compressed = np.array([[[0.0, big], [np.log(3.0), 0.0]]])   # sure of 1; 3:1 for class 0
    scores = disagreement_score(baseline=baseline, compressed=compressed)
    assert scores[0] == pytest.approx(2.0)
    assert scores[1] == pytest.approx(abs(0.5 - 0.75) + abs(0.5 - 0.25))
    assert disagreement_score(baseline=baseline, compressed=baseline).tolist() == [0.0, 0.0]


@settings(max_examples=30, deadline=None)
@given(hnp.arrays(np.float64, (3, 4, 5), elements=st.floats(-20, 20)),
       hnp.arrays(np.float64, (2, 4, 5), elements=st.floats(-20, 20)))
def test_disagreement_score_lies_in_0_2_and_is_symmetric(a, b):
    s = disagreement_score(baseline=a, compressed=b)
    assert s.shape == (4,) and (s >= 0).all() and (s <= 2 + 1e-12).all()
    assert np.allclose(s, disagreement_score(baseline=b, compressed=a))


def test_disagreement_score_validates():
    with pytest.raises(ValueError, match="baseline must have shape \\(K, N, C\\)"):
        disagreement_score(baseline=np.zeros((2, 3)), compressed=np.zeros((1, 2, 3)))
    with pytest.raises(ValueError, match="compressed must cover the examples and classes of baseline"):
        disagreement_score(baseline=np.zeros((1, 2, 3)), compressed=np.zeros((1, 2, 4)))
