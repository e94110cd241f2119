"""Tests of the synthetic CelebA loader (:mod:`course_lib.data.synthetic`)."""

from __future__ import annotations

import re

import numpy as np
import pandas as pd
import pytest
import torch

from course_lib import data
from course_lib.data import synthetic
from course_lib.data.synthetic import CELEBA_JOINT_SHARES, CELEBA_TRAIN_COUNTS, load_synthetic_celeba
from course_lib.training import make_model
from course_lib.training import TrainingRecipe, accuracy, predict_logits, train_model

SMALL = 2_000


@pytest.fixture
def cache_dir(_isolated_cache):
    """The test's own empty ``COURSE_CACHE_DIR`` (set by ``conftest.py`` for every test)."""
    return _isolated_cache


def shares(table: pd.DataFrame, by: list[str]) -> pd.Series:
    return table.groupby(by).size() / len(table)


def test_reference_shares_match_both_celeba_tables():
    assert CELEBA_JOINT_SHARES.sum() == pytest.approx(1)
    for attribute, counts in CELEBA_TRAIN_COUNTS.items():
        total = sum(counts.values())
        margin = CELEBA_JOINT_SHARES.groupby(level=["blond", attribute]).sum()
        for cell, count in counts.items():
            assert margin[cell] == pytest.approx(count / total, abs=1e-12)


def test_subgroup_shares_match_celeba_at_20000():
    ds = load_synthetic_celeba(split="all", n=20_000)
    table = ds.attributes
    assert len(ds) == 20_000
    for attribute, published in (("male", [0.440, 0.411, 0.141, 0.008]), ("young", [0.196, 0.655, 0.025, 0.124])):
        expected = CELEBA_JOINT_SHARES.groupby(level=["blond", attribute]).sum()
        for label in ("blond", "true_blond"):
            got = shares(table, [label, attribute]).rename_axis(expected.index.names)
            assert (got - expected).abs().max() < 0.01
            np.testing.assert_allclose(got.to_numpy(), published, atol=0.001)  # the shares of the issue
    joint = shares(table, ["true_blond", "male", "young"]).rename_axis(CELEBA_JOINT_SHARES.index.names)
    assert (joint - CELEBA_JOINT_SHARES).abs().max() <= 1 / 20_000  # exact counts, up to rounding


def test_balanced_mix_splits_each_hair_colour_evenly_between_men_and_women():
    table = load_synthetic_celeba(split="all", n=4_000, mix="balanced").attributes
    blond_share = CELEBA_JOINT_SHARES.groupby(level="blond").sum()[True]
    cells = table.groupby(["true_blond", "male"]).size() / len(table)
    assert cells[(True, True)] == pytest.approx(blond_share / 2, abs=1 / 4_000)
    assert cells[(True, False)] == pytest.approx(blond_share / 2, abs=1 / 4_000)
    assert cells[(False, True)] == pytest.approx((1 - blond_share) / 2, abs=1 / 4_000)
    young_given_blond = table[table.true_blond].young.mean()
    expected = CELEBA_TRAIN_COUNTS["young"][(True, True)] / (CELEBA_TRAIN_COUNTS["young"][(True, True)]
                                                           + CELEBA_TRAIN_COUNTS["young"][(True, False)])
    assert young_given_blond == pytest.approx(expected, abs=0.01)
    with pytest.raises(ValueError, match="mix must be one of"):
        load_synthetic_celeba(n=SMALL, mix="uniform")


def test_dataset_shape_and_columns():
    ds = data.load("synthetic-celeba", split="train", n=SMALL)
    assert ds.images.shape == (round(SMALL * 2 / 3), 3, 32, 32)
    assert ds.images.dtype == torch.float32 and 0 <= ds.images.min() and ds.images.max() <= 1
    assert ds.classes == ("not blond", "blond")
    assert list(ds.attributes.columns) == ["blond", "male", "young", "true_blond", "noisy", "label_flipped",
                                           "atypical", "rendering"]
    bools = ds.attributes.drop(columns="rendering")
    assert (bools.dtypes == bool).all()
    assert torch.equal(ds.targets, torch.from_numpy(ds.attributes["blond"].to_numpy(np.int64)))
    assert ds.example_ids.name == "example_id" and ds.example_ids.str.fullmatch(r"syn-\d{6}").all()
    assert load_synthetic_celeba(split="all", n=SMALL, image_size=48).images.shape[1:] == (3, 48, 48)


def test_same_seed_renders_identical_data(cache_dir, monkeypatch, tmp_path):
    first = load_synthetic_celeba(split="all", n=SMALL, seed=3)
    monkeypatch.setenv("COURSE_CACHE_DIR", str(tmp_path / "other-cache"))  # render again, not a cache hit
    second = load_synthetic_celeba(split="all", n=SMALL, seed=3)
    assert torch.equal(first.images, second.images)
    assert torch.equal(first.targets, second.targets)
    pd.testing.assert_frame_equal(first.attributes, second.attributes)


def test_different_seeds_differ():
    a = load_synthetic_celeba(split="all", n=SMALL, seed=0)
    b = load_synthetic_celeba(split="all", n=SMALL, seed=1)
    assert not torch.equal(a.images, b.images)
    assert not a.attributes["blond"].equals(b.attributes["blond"])
    assert a.example_ids.equals(b.example_ids)  # ids name positions in the pool


def test_options_change_the_rendering_not_the_attributes():
    a = load_synthetic_celeba(split="all", n=SMALL)
    b = load_synthetic_celeba(split="all", n=SMALL, hair_shift=0.9, pixel_noise=0.0)
    pd.testing.assert_frame_equal(a.attributes, b.attributes)
    assert not torch.equal(a.images, b.images)


@pytest.mark.parametrize(("noisy_rate", "atypical_rate"), [(0.02, 0.02), (0.1, 0.05), (0.0, 0.0)])
def test_hard_subsets_have_the_requested_rates(noisy_rate, atypical_rate):
    n = 5_000
    table = load_synthetic_celeba(split="all", n=n, noisy_rate=noisy_rate, atypical_rate=atypical_rate).attributes
    assert table["noisy"].sum() == round(noisy_rate * n)
    assert table["atypical"].sum() == round(atypical_rate * n)
    assert not (table["noisy"] & table["atypical"]).any()
    assert table["label_flipped"].equals(table["blond"] != table["true_blond"])
    assert not (table["label_flipped"] & ~table["noisy"]).any()
    kinds = table["rendering"].astype(str)
    assert kinds[table["noisy"]].isin(synthetic.NOISY_KINDS).all()
    assert kinds[table["atypical"]].isin(synthetic.ATYPICAL_KINDS).all()
    assert (kinds[~table["noisy"] & ~table["atypical"]] == "typical").all()
    assert (kinds == "label-flipped").equals(table["label_flipped"])
    # flips come in pairs within each (male, young) group: label counts equal true counts
    by_label = table.groupby(["blond", "male", "young"]).size()
    by_truth = table.groupby(["true_blond", "male", "young"]).size().rename_axis(by_label.index.names)
    pd.testing.assert_series_equal(by_label, by_truth)
    if noisy_rate:
        assert table["label_flipped"].any() and (kinds == "corrupted").any()
    if atypical_rate >= 0.05:
        assert set(kinds[table["atypical"]]) == set(synthetic.ATYPICAL_KINDS)


def test_train_and_test_are_disjoint_and_make_up_all():
    full = load_synthetic_celeba(split="all", n=SMALL)
    train = load_synthetic_celeba(split="train", n=SMALL)
    test = load_synthetic_celeba(split="test", n=SMALL, test_fraction=1 / 3)
    assert train.split == "train" and test.split == "test" and full.split == "all"
    assert len(test) == round(SMALL / 3) and len(train) + len(test) == SMALL
    assert not set(train.example_ids) & set(test.example_ids)
    assert set(train.example_ids) | set(test.example_ids) == set(full.example_ids)
    positions = full.example_ids.get_indexer(test.example_ids)
    assert torch.equal(full.images[positions], test.images)
    assert len(load_synthetic_celeba(split="test", n=SMALL, test_fraction=0.2)) == 400


def test_second_call_reads_the_cache(cache_dir, monkeypatch):
    first = load_synthetic_celeba(split="train", n=SMALL)
    assert len(list((cache_dir / "data").glob("*.pt"))) == 1

    def fail(*args, **kwargs):
        raise AssertionError("the pool was rendered again instead of read from the cache")

    monkeypatch.setattr(synthetic, "build_pool", fail)
    second = load_synthetic_celeba(split="train", n=SMALL)
    assert torch.equal(first.images, second.images)
    load_synthetic_celeba(split="test", n=SMALL)  # the split does not key the cache
    with pytest.raises(AssertionError, match="rendered again"):
        load_synthetic_celeba(split="train", n=SMALL, pixel_noise=0.05)  # a strength does


@pytest.mark.parametrize(("options", "message"), [
    ({"split": "val"}, "split must be one of ['train', 'test', 'all'], got 'val'"),
    ({"seed": -1}, "seed must be an integer >= 0, got -1"),
    ({"n": 99}, "n must be an integer >= 100, got 99"),
    ({"test_fraction": 1.0}, "test_fraction must be a real number in (0, 1), got 1.0"),
    ({"image_size": 8}, "image_size must be an integer >= 16, got 8"),
    ({"hair_shift": -0.1}, "hair_shift must be a real number in [0, inf), got -0.1"),
    ({"hair_spread": float("nan")}, "hair_spread must be a real number in [0, inf), got nan"),
    ({"pixel_noise": -1}, "pixel_noise must be a real number in [0, inf), got -1"),
    ({"beard_strength": -0.5}, "beard_strength must be a real number in [0, inf), got -0.5"),
    ({"age_texture": -0.5}, "age_texture must be a real number in [0, inf), got -0.5"),
    ({"illumination": 1.0}, "illumination must be a real number in [0, 1), got 1.0"),
    ({"noisy_rate": 0.5}, "noisy_rate must be a real number in [0, 0.5), got 0.5"),
    ({"atypical_rate": -0.01}, "atypical_rate must be a real number in [0, 0.5), got -0.01"),
])
def test_invalid_options_are_named(options, message):
    with pytest.raises(ValueError, match=f"^{re.escape(message)}$"):
        load_synthetic_celeba(**{"n": SMALL, **options})


@pytest.mark.parametrize(("options", "message"), [
    ({"n": 1000.0}, "n must be an integer, got 1000.0"),
    ({"seed": True}, "seed must be an integer, got True (bool)"),
    ({"image_size": 32.0}, "image_size must be an integer, got 32.0"),
])
def test_options_of_the_wrong_type_are_named(options, message):
    with pytest.raises(TypeError, match=f"^{re.escape(message)}$"):
        load_synthetic_celeba(**{"n": SMALL, **options})


@pytest.mark.slow
def test_small_cnn_takes_the_shortcut():
    """The calibration claim: high accuracy, yet blond men are missed far more often than blond women."""
    train, test = load_synthetic_celeba(split="train"), load_synthetic_celeba(split="test")
    model = make_model(in_channels=3, num_classes=2, image_size=32, seed=0)
    train_model(model, train.images, train.targets, recipe=TrainingRecipe(epochs=4), seed=0)
    preds = predict_logits(model, test.images).argmax(1).numpy()
    blond, male = test.attributes["blond"].to_numpy(), test.attributes["male"].to_numpy()
    top1 = accuracy(preds, test.targets)
    fnr_men, fnr_women = 1 - preds[blond & male].mean(), 1 - preds[blond & ~male].mean()
    summary = f"top-1 {top1:.3f}, FNR blond men {fnr_men:.3f}, FNR blond women {fnr_women:.3f}"
    assert top1 > 0.90, summary
    assert fnr_men > 2 * fnr_women and fnr_men - fnr_women > 0.30, summary
