"""Argument checks: one module, one message shape, used by every public function.

The checks themselves are tested on hand-made values; then every public function that takes
an integer, an option or an array is given a bad one (a bool or a float for an integer, an
unknown option, an array of the wrong shape) and must raise a ``TypeError`` or ``ValueError``
whose message starts with the argument's name.
"""

from __future__ import annotations

import re
from collections.abc import Callable

import numpy as np
import pandas as pd
import pytest
import torch

from course_lib import data
from course_lib.analysis import changes, class_impact, exemplars, noise, robustness, subgroups
from course_lib.book import experiments, plots
from course_lib.compression import masks, pruning, quantization, storage
from course_lib.core import profiles
from course_lib.core.validation import (check_bool, check_images, check_integer, check_labels, check_mask,
                                        check_option, check_real)
from course_lib.data import groups as data_groups
from course_lib.data import images
from course_lib.data.dataset import ImageDataset
from course_lib.populations import level_label, population
from course_lib.training import TrainingRecipe, accuracy, make_model, predict_logits, recall_per_class, train_model

# --------------------------------------------------------------------------- the checks themselves


def test_check_integer_accepts_numpy_integers_and_rejects_bools_and_floats():
    assert check_integer(np.int64(5), "k", low=1) == 5 and type(check_integer(np.int64(5), "k")) is int
    assert check_integer(None, "k", optional=True) is None
    with pytest.raises(TypeError, match=re.escape("k must be an integer, got True (bool)")):
        check_integer(True, "k")
    with pytest.raises(TypeError, match=re.escape("k must be an integer, got 5.0")):
        check_integer(5.0, "k")
    with pytest.raises(TypeError, match=re.escape("k must be an integer or None, got '5'")):
        check_integer("5", "k", optional=True)
    with pytest.raises(ValueError, match=re.escape("k must be an integer in [1, 3], got 4")):
        check_integer(4, "k", low=1, high=3)
    with pytest.raises(ValueError, match=re.escape("k must be an integer >= 1, got 0")):
        check_integer(0, "k", low=1)


def test_check_real_ranges_and_nan():
    assert check_real(np.float32(0.5), "p", low=0, high=1) == 0.5
    assert check_real(3, "x") == 3.0
    with pytest.raises(ValueError, match=re.escape("p must be a real number in [0, 1), got 1.0")):
        check_real(1.0, "p", low=0, high=1, closed="left")
    with pytest.raises(ValueError, match=re.escape("p must be a real number in (0, 1), got 0")):
        check_real(0, "p", low=0, high=1, closed="neither")
    with pytest.raises(ValueError, match=re.escape("p must be a real number > 0, got nan")):
        check_real(float("nan"), "p", low=0, closed="neither")
    with pytest.raises(TypeError, match=re.escape("p must be a real number, got False (bool)")):
        check_real(False, "p")


def test_check_option_bool_labels_mask_images():
    assert check_option("a", "mode", ("a", "b")) == "a"
    with pytest.raises(ValueError, match=re.escape("mode must be one of ['a', 'b'], got 'c'")):
        check_option("c", "mode", ("a", "b"))
    with pytest.raises(ValueError, match=re.escape("mode must be one of ['a', 'b'], got ['a'] (list)")):
        check_option(["a"], "mode", ("a", "b"))
    assert check_bool(np.bool_(True), "flag") is True
    with pytest.raises(TypeError, match=re.escape("flag must be True or False, got 1")):
        check_bool(1, "flag")
    assert check_labels([[0, 1], [1, 1]], "preds").dtype == np.int64
    with pytest.raises(ValueError, match=re.escape("preds must have shape (K, N=3) with K >= 1 members, got (2, 2)")):
        check_labels([[0, 1], [1, 1]], "preds", n=3)
    with pytest.raises(ValueError, match=re.escape("targets must have shape (N,), got (2, 2)")):
        check_labels([[0, 1], [1, 1]], "targets", ndim=1)
    with pytest.raises(ValueError, match=re.escape("mask must be a boolean array of shape (2,), got int64 (2,)")):
        check_mask(np.array([0, 1]), "mask", n=2)
    with pytest.raises(TypeError, match=re.escape("images must be a torch.Tensor of shape (N, C, H, W)")):
        check_images(np.zeros((1, 1, 2, 2)))


# --------------------------------------------------------------------------- every public function

X = torch.rand(16, 1, 8, 8, generator=torch.Generator().manual_seed(0))
Y = (X[:, 0, :4].mean((1, 2)) > X[:, 0, 4:].mean((1, 2))).long()
PREDS = np.array([[0, 1, 1, 0, 1, 0], [0, 1, 0, 0, 1, 1]])
TARGETS = np.array([0, 1, 1, 0, 0, 1])
GROUPS = pd.DataFrame({"gender": ["f", "m"] * 3})
RECIPE = TrainingRecipe(epochs=1, batch_size=8)
MODEL_ARGS = {"in_channels": 1, "num_classes": 2, "image_size": 8}


def _model() -> torch.nn.Module:
    return make_model(seed=0, **MODEL_ARGS)


@pytest.fixture(scope="module")
def tiny_population() -> population.Population:
    return population.train_population((X, Y), size=2, recipe=RECIPE, cache=False, progress=False)


def _dataset() -> ImageDataset:
    attributes = pd.DataFrame(index=pd.Index([f"toy-{i}" for i in range(len(Y))], name="example_id"))
    return ImageDataset("toy", "train", X, Y, attributes, ("left", "right"))


# Each case: (argument name, call with that argument set to the bad value). ``BAD`` is replaced per kind.
INTEGER_ARGUMENTS: list[tuple[str, Callable[[object], object]]] = [
    ("num_classes", lambda bad: make_model(in_channels=1, num_classes=bad, image_size=8, seed=0)),
    ("seed", lambda bad: make_model(seed=bad, **MODEL_ARGS)),
    ("epochs", lambda bad: TrainingRecipe(epochs=bad)),
    ("batch_size", lambda bad: TrainingRecipe(epochs=1, batch_size=bad)),
    ("seed", lambda bad: train_model(_model(), X, Y, recipe=RECIPE, seed=bad)),
    ("batch_size", lambda bad: predict_logits(_model(), X, batch_size=bad)),
    ("num_classes", lambda bad: recall_per_class(PREDS, TARGETS, bad)),
    ("begin_step", lambda bad: pruning.GradualPruning(0.5, bad, 10)),
    ("end_step", lambda bad: pruning.cubic_sparsity(3, 0.5, 0, bad)),
    ("steps", lambda bad: pruning.gradual_schedule(0.5, bad, begin_fraction=0.1, end_fraction=0.5)),
    ("frequency", lambda bad: pruning.PruningSchedule(frequency=bad)),
    ("size", lambda bad: population.train_population((X, Y), size=bad, recipe=RECIPE, cache=False)),
    ("group_size", lambda bad: population.train_population((X, Y), size=2, recipe=RECIPE, group_size=bad,
                                                           cache=False)),
    ("seeds", lambda bad: population.train_population((X, Y), size=1, seeds=[bad], recipe=RECIPE, cache=False)),
    ("checkpoint_epochs", lambda bad: population.train_population((X, Y), size=1, recipe=RECIPE,
                                                                  checkpoint_epochs=[bad], cache=False)),
    ("n_boot", lambda bad: subgroups.subgroup_metrics(y_true=TARGETS, y_pred=PREDS[0], groups=GROUPS, n_boot=bad)),
    ("seed", lambda bad: subgroups.subgroup_metrics(y_true=TARGETS, y_pred=PREDS[0], groups=GROUPS, seed=bad)),
    ("severity", lambda bad: robustness.corrupt(X, corruption="contrast", severity=bad)),
    ("batch_size", lambda bad: robustness.evaluate_corruptions({"dense": None}, _dataset(), batch_size=bad)),
    ("seed", lambda bad: data.load("synthetic-celeba", seed=bad)),
    ("n", lambda bad: _dataset().sample(bad)),
    ("image_size", lambda bad: images.check_image_size(bad, native=200)),
    ("n", lambda bad: data.load("synthetic-celeba", n=bad)),
]

OPTION_ARGUMENTS: list[tuple[str, Callable[[], object]]] = [
    ("lr_schedule", lambda: TrainingRecipe(epochs=1, lr_schedule="step")),
    ("scope", lambda: masks.magnitude_masks({"w": torch.ones(3)}, 0.5, scope="row")),
    ("scope", lambda: pruning.prune_magnitude(_model(), 0.5, scope="row")),
    ("scope", lambda: pruning.PruningSchedule(scope="row")),
    ("scheme", lambda: quantization.quantize_model(_model(), "int4")),
    ("scheme", lambda: storage.quantized_storage_bytes(_model(), "int4")),
    ("level", lambda: population.train_population((X, Y), level="int4", size=1, recipe=RECIPE, cache=False)),
    ("level", lambda: level_label("int4")),
    ("corruption", lambda: robustness.corrupt(X, corruption="snow", severity=1)),
    ("severity", lambda: robustness.corrupt(X, corruption="contrast", severity=6)),
    ("correction", lambda: class_impact.class_impact(baseline=PREDS, compressed=PREDS, targets=TARGETS,
                                                     correction="bonferroni")),
    ("zero_baseline", lambda: changes.fpr_fnr_changes(fpr_baseline=[0.1], fnr_baseline=[0.1], fpr_compressed=[0.2],
                                                      fnr_compressed=[0.2], zero_baseline="ignore")),
    ("metrics", lambda: changes.bootstrap_relative_change(y_true=TARGETS, baseline=PREDS, compressed=PREDS,
                                                          groups=GROUPS, metrics=("accuracy",))),
    ("metric", lambda: changes.change_table(y_true=TARGETS, baseline=PREDS, compressed=PREDS, groups=GROUPS,
                                            metric="ppv")),
    ("alternative", lambda: noise.control_test(lambda b, x: 0.0, baseline=PREDS, compressed=PREDS, control=PREDS,
                                               alternative="bigger")),
    ("family", lambda: experiments.seeds("smoke", "treatment")),
    ("name", lambda: data.load("mnist")),
    ("split", lambda: data.load("fashion-mnist", split="val")),
    ("profile", lambda: profiles.get_profile("fast")),
    ("profile", lambda: experiments.recipe("fast")),
]

SHAPE_ARGUMENTS: list[tuple[str, Callable[[], object]]] = [
    ("preds", lambda: exemplars.modal_labels(TARGETS)),
    ("compressed", lambda: exemplars.pie_mask(baseline=PREDS, compressed=PREDS[:, :4])),
    ("baseline", lambda: exemplars.pie_masks(baseline=TARGETS, compressed={0.5: PREDS})),
    ("targets", lambda: class_impact.class_impact(baseline=PREDS, compressed=PREDS, targets=TARGETS[:4])),
    ("targets", lambda: class_impact.normalized_recall(PREDS, TARGETS[:4], 2)),
    ("a", lambda: class_impact.welch_t_test(np.zeros((2, 2, 2)), np.zeros((2, 2)))),
    ("a and b", lambda: class_impact.paired_t_test(np.zeros((3, 2)), np.zeros((2, 2)))),
    ("control", lambda: noise.exemplar_counts(baseline=PREDS, compressed={0.9: PREDS}, control=PREDS[:, :4])),
    ("compressed and control", lambda: noise.control_test(lambda b, x: 0.0, baseline=PREDS, compressed=PREDS,
                                                          control=PREDS[:, :4])),
    ("targets", lambda: accuracy(PREDS, TARGETS[:4])),
    ("targets", lambda: recall_per_class(PREDS[0], TARGETS[:4], 2)),
    ("mask", lambda: exemplars.subset_accuracies({"dense": PREDS}, TARGETS, np.ones(4, dtype=bool))),
    ("attributes", lambda: exemplars.enrichment(np.ones(4, dtype=bool), pd.DataFrame({"f": [True] * 6}))),
    ("baseline", lambda: exemplars.disagreement_score(baseline=PREDS, compressed=PREDS)),
    ("y_pred", lambda: subgroups.subgroup_metrics(y_true=TARGETS, y_pred=PREDS, groups=GROUPS)),
    ("preds", lambda: subgroups.member_subgroup_metrics(y_true=TARGETS, preds=PREDS[0], groups=GROUPS)),
    ("images", lambda: train_model(_model(), X[0], Y, recipe=RECIPE)),
    ("targets", lambda: train_model(_model(), X, Y[:4], recipe=RECIPE)),
    ("images", lambda: predict_logits(_model(), X[0])),
    ("images", lambda: robustness.corrupt(X[0], corruption="contrast", severity=1)),
    ("images", lambda: plots.show_images(X[0])),
    ("targets", lambda: population.train_population((X, Y[:, None]), size=1, recipe=RECIPE, cache=False)),
]


def _names_the_argument(excinfo: pytest.ExceptionInfo, name: str) -> None:
    message = str(excinfo.value)
    assert message.startswith(f"{name} must"), message


@pytest.mark.parametrize("name, call", INTEGER_ARGUMENTS, ids=[f"{n}-{i}" for i, (n, _) in enumerate(INTEGER_ARGUMENTS)])
def test_a_bool_for_an_integer_is_a_type_error_naming_the_argument(name, call):
    with pytest.raises(TypeError) as excinfo:
        call(True)
    _names_the_argument(excinfo, name)


@pytest.mark.parametrize("name, call", INTEGER_ARGUMENTS, ids=[f"{n}-{i}" for i, (n, _) in enumerate(INTEGER_ARGUMENTS)])
def test_a_float_for_an_integer_is_a_type_error_naming_the_argument(name, call):
    with pytest.raises(TypeError) as excinfo:
        call(2.0)
    _names_the_argument(excinfo, name)


@pytest.mark.parametrize("name, call", OPTION_ARGUMENTS, ids=[f"{n}-{i}" for i, (n, _) in enumerate(OPTION_ARGUMENTS)])
def test_an_unknown_option_is_a_value_error_naming_the_argument_and_the_choices(name, call):
    with pytest.raises(ValueError) as excinfo:
        call()
    _names_the_argument(excinfo, name)
    assert "must be one of" in str(excinfo.value)


@pytest.mark.parametrize("name, call", SHAPE_ARGUMENTS, ids=[f"{n}-{i}" for i, (n, _) in enumerate(SHAPE_ARGUMENTS)])
def test_a_wrong_shape_is_a_value_error_naming_the_argument(name, call):
    with pytest.raises(ValueError) as excinfo:
        call()
    _names_the_argument(excinfo, name)


def test_population_methods_check_their_arguments(tiny_population):
    with pytest.raises(TypeError, match="^batch_size must be an integer"):
        tiny_population.logits(X, batch_size=True)
    with pytest.raises(ValueError, match=r"^images must be a float tensor of shape \(N, C, H, W\)"):
        tiny_population.predict(X[0])
    with pytest.raises(ValueError, match="^scheme must be one of"):
        population.quantize_population(tiny_population, "int4")


def test_group_helpers_name_missing_columns():
    with pytest.raises(ValueError, match=re.escape("attributes must have the columns ['male', 'young'], missing ['young']")):
        data_groups.gender_age(pd.DataFrame({"male": [True]}))
    with pytest.raises(TypeError, match="^attributes must be a pandas DataFrame"):
        data_groups.hair_gender(np.zeros(3))


@pytest.mark.parametrize("call", [
    lambda: class_impact.impact_counts(baseline=PREDS, compressed=PREDS, targets=TARGETS),
    lambda: exemplars.pie_masks(baseline=PREDS, compressed=PREDS),
])
def test_a_comparison_over_levels_needs_a_mapping(call):
    with pytest.raises(TypeError, match=r"^compressed must be a mapping of levels to predictions, got array\("):
        call()
