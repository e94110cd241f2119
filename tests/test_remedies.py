"""Remedies of Part V: the distillation loss, group re-weighting and re-sampling, group DRO, in the engine."""

from __future__ import annotations

import math
import re

import numpy as np
import pandas as pd
import pytest
import torch

from course_lib import remedies, training
from course_lib.analysis import mismatch
from course_lib.populations import population
from course_lib.training import models

BN = {"batch_norm": True, "channels": (16, 16), "hidden": 16}
RECIPE = training.TrainingRecipe(epochs=1, batch_size=32, lr_schedule="one-cycle", flip=True, crop_padding=1)


def toy_data(n: int = 128) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(0)
    x = torch.rand(n, 1, 8, 8, generator=g)
    y = (x[:, 0, :4].mean((1, 2)) > x[:, 0, 4:].mean((1, 2))).long()
    return x, y


# --------------------------------------------------------------------------- distillation loss

@pytest.mark.parametrize("temperature, alpha, gamma", [(1.0, 1.0, 0.0), (4.0, 0.9, 0.1), (2.0, 0.5, 1.0),
                                                      (4.0, 0.0, 1.0)])
def test_distillation_loss_matches_a_hand_computed_value(temperature, alpha, gamma):
    student = torch.tensor([[2.0, 0.0], [0.0, 1.0]])
    teacher = torch.tensor([[1.0, 1.0], [0.0, 3.0]])
    targets = torch.tensor([0, 0])

    def softmax(row, t):
        e = [math.exp(v / t) for v in row]
        return [v / sum(e) for v in e]

    ce = [-math.log(softmax(s, 1)[y]) for s, y in zip(student.tolist(), targets.tolist())]
    kl = [sum(p * math.log(p / q) for p, q in zip(softmax(t, temperature), softmax(s, temperature)))
          for s, t in zip(student.tolist(), teacher.tolist())]
    expected = gamma * sum(ce) / 2 + alpha * temperature**2 * sum(kl) / 2
    got = remedies.distillation_loss(student, teacher, targets, temperature=temperature, alpha=alpha, gamma=gamma)
    assert got.item() == pytest.approx(expected, rel=1e-6)


def test_no_gradient_reaches_the_teacher_and_a_student_equal_to_it_has_no_soft_loss():
    student = torch.randn(5, 3, requires_grad=True)
    teacher = torch.randn(5, 3, requires_grad=True)
    remedies.distillation_loss(student, teacher, torch.zeros(5, dtype=torch.long)).backward()
    assert teacher.grad is None and student.grad is not None
    same = torch.randn(4, 3)
    assert remedies.kd_divergence(same, same, temperature=4.0).abs().max() < 1e-6


def test_bad_distillation_arguments_are_named():
    with pytest.raises(ValueError, match="temperature"):
        remedies.Distillation(temperature=0)
    with pytest.raises(ValueError, match="alpha"):
        remedies.distillation_loss(torch.zeros(1, 2), torch.zeros(1, 2), torch.zeros(1, dtype=torch.long), alpha=-1)


# --------------------------------------------------------------------------- groups, weights and re-sampling

def test_group_codes_name_the_intersections_in_sorted_order():
    groups = pd.DataFrame({"race": ["White", "Black", "White", "Black"], "gender": ["male", "male", "female", "male"]})
    codes, names = remedies.group_codes(groups)
    assert names == ["Black & male", "White & female", "White & male"]
    assert codes.tolist() == [2, 0, 1, 0]
    assert remedies.group_codes(np.array(["b", "a", "b"]))[0].tolist() == [1, 0, 1]


def test_group_weights_give_every_group_the_same_total_weight():
    codes = np.array([0, 0, 0, 1])
    weights = remedies.group_weights(codes)
    np.testing.assert_allclose(weights, [2 / 3, 2 / 3, 2 / 3, 2.0])
    assert weights.mean() == pytest.approx(1.0)
    totals = np.bincount(codes, weights=weights)
    np.testing.assert_allclose(totals, [2.0, 2.0])


def test_balanced_indices_give_every_group_its_quota_exactly():
    codes = np.array([0] * 5 + [1] * 3 + [2])
    idx = remedies.balanced_indices(codes, seed=0, n=9)
    assert np.bincount(codes[idx]).tolist() == [3, 3, 3]
    assert sorted(idx[codes[idx] == 2].tolist()) == [8, 8, 8]  # the lone example, three times
    assert len(set(idx[codes[idx] == 0].tolist())) == 3  # a large group is drawn without repeats
    counts = np.bincount(codes[remedies.balanced_indices(codes, seed=1, n=10)])
    assert sorted(counts.tolist()) == [3, 3, 4]
    per_example = np.bincount(remedies.balanced_indices(codes, seed=2, n=20), minlength=9)
    assert per_example[:5].max() - per_example[:5].min() <= 1  # within a group, at most one more copy
    np.testing.assert_array_equal(remedies.balanced_indices(codes, seed=3), remedies.balanced_indices(codes, seed=3))


def test_bad_codes_are_named():
    with pytest.raises(ValueError, match="codes must be a non-empty 1-D array"):
        remedies.group_weights(np.array([0.5, 1.0]))
    with pytest.raises(ValueError, match="codes must be a non-empty 1-D array"):
        remedies.Reweighting(np.array([-1, 0]))


# --------------------------------------------------------------------------- group DRO

def test_group_dro_updates_its_weights_exponentially_and_weighs_the_group_losses():
    dro = remedies.GroupDRO(np.array([0, 1, 1, 2]), step_size=0.5)
    losses = torch.tensor([[1.0, 2.0, 4.0, 0.0]])  # group losses 1, 3, (absent, as the batch lacks group 2) ...
    examples = torch.tensor([[0, 1, 2, 0]])  # ... so group 0 holds losses 1 and 0: mean 0.5
    group = dro.group_losses(losses, examples)
    torch.testing.assert_close(group, torch.tensor([[0.5, 3.0, 0.0]]))
    state = dro.initial_state(1, torch.device("cpu"))
    loss = dro(losses, logits=None, examples=examples, teacher_logits=None, state=state)
    q = np.exp(0.5 * np.array([0.5, 3.0, 0.0])) / np.exp(0.5 * np.array([0.5, 3.0, 0.0])).sum()
    np.testing.assert_allclose(state.numpy()[0], q, rtol=1e-6)
    assert loss.item() == pytest.approx(float(q @ [0.5, 3.0, 0.0]), rel=1e-6)


# --------------------------------------------------------------------------- curriculum

def test_easy_examples_hold_back_the_highest_scores_later_ties_first():
    scores = np.array([0.3, 0.9, 0.1, 0.9, 0.5])
    np.testing.assert_array_equal(remedies.easy_examples(scores, hard_share=0.4), [True, False, True, False, True])
    np.testing.assert_array_equal(remedies.easy_examples(scores, hard_share=0.2), [True, True, True, False, True])
    assert remedies.easy_examples(scores, hard_share=0.0).all()


def test_the_curriculum_averages_the_easy_losses_for_its_steps_then_all_of_them():
    curriculum = remedies.Curriculum(np.array([0.0, 5.0, 1.0, 6.0]), hard_share=0.5, steps=2)
    losses = torch.tensor([[1.0, 10.0, 3.0], [7.0, 2.0, 4.0]])  # (K=2, B=3)
    examples = torch.tensor([[0, 1, 2], [3, 1, 3]])  # member 1's batch holds no easy example
    state = curriculum.initial_state(2, torch.device("cpu"))
    for _ in range(2):
        torch.testing.assert_close(curriculum(losses, logits=None, examples=examples, teacher_logits=None,
                                              state=state), torch.tensor([2.0, 0.0]))
    torch.testing.assert_close(curriculum(losses, logits=None, examples=examples, teacher_logits=None, state=state),
                               torch.tensor([14 / 3, 13 / 3]))
    assert state.item() == 3


def test_bad_curriculum_arguments_are_named():
    with pytest.raises(ValueError, match="scores must be a non-empty 1-D array of finite numbers"):
        remedies.Curriculum(np.array([0.0, np.nan]), steps=1)
    with pytest.raises(ValueError, match="hard_share"):
        remedies.Curriculum(np.zeros(3), hard_share=1.0, steps=1)
    with pytest.raises(ValueError, match="steps"):
        remedies.Curriculum(np.zeros(3), steps=0)
    with pytest.raises(ValueError, match=re.escape("scores must hold one score per training example (4), got 3")):
        remedies.Curriculum(np.zeros(3), steps=1).check(4)


# --------------------------------------------------------------------------- in the engine

def objectives(codes: np.ndarray) -> dict[str, training.Objective]:
    return {"distillation": remedies.Distillation(), "reweighting": remedies.Reweighting(codes),
            "group DRO": remedies.GroupDRO(codes, step_size=0.3),
            "curriculum": remedies.Curriculum(codes + np.arange(len(codes)) / len(codes), hard_share=0.5, steps=3)}


@pytest.mark.parametrize("name", ["distillation", "reweighting", "group DRO", "curriculum"])
def test_members_trained_with_an_objective_match_train_model_with_it(name):
    """Tolerance as for every stacked member: rtol 1e-4, atol 1e-5 on the logits."""
    x, y = toy_data()
    codes = (x[:, 0, 0, 0] > 0.7).long().numpy() + 2 * y.numpy()  # four groups of unequal sizes
    objective = objectives(codes)[name]
    dense = population.train_population((x, y), size=2, seeds=[0, 1], recipe=RECIPE, model_kwargs=BN,
                                        cache=False, progress=False)
    tuned = population.train_population((x, y), size=2, seeds=[5, 6], recipe=RECIPE, model_kwargs=BN,
                                        start=dense, objective=objective, cache=False, progress=False)
    plain = population.train_population((x, y), size=2, seeds=[5, 6], recipe=RECIPE, model_kwargs=BN,
                                        start=dense, cache=False, progress=False)
    for k, seed in enumerate(tuned.seeds):
        single = training.train_model(dense.models()[k], x, y, recipe=RECIPE, seed=seed, objective=objective,
                                      teacher=dense.models()[k])
        torch.testing.assert_close(training.predict_logits(tuned.models()[k], x),
                                   training.predict_logits(single, x), rtol=1e-4, atol=1e-5)
        assert not torch.allclose(training.predict_logits(tuned.models()[k], x),
                                  training.predict_logits(plain.models()[k], x), atol=1e-4)


def test_distillation_with_only_the_hard_term_is_plain_training():
    x, y = toy_data()
    dense = population.train_population((x, y), size=2, recipe=RECIPE, model_kwargs=BN, cache=False, progress=False)
    hard = remedies.Distillation(alpha=0.0, gamma=1.0)
    tuned, plain = (population.train_population((x, y), size=2, seeds=[5, 6], recipe=RECIPE, model_kwargs=BN,
                                                start=dense, objective=objective, cache=False, progress=False)
                    for objective in (hard, None))
    for a, b in zip(tuned.models(), plain.models()):
        torch.testing.assert_close(training.predict_logits(a, x), training.predict_logits(b, x), rtol=1e-5, atol=1e-6)


def test_the_objective_enters_the_cache_key_only_when_used():
    x, y = toy_data(64)
    dense = population.train_population((x, y), size=2, recipe=RECIPE, model_kwargs=BN, cache=False, progress=False)
    codes = y.numpy()
    configs = [population.train_population((x, y), size=2, recipe=RECIPE, model_kwargs=BN, start=dense,
                                           objective=objective, cache=False, progress=False).config
               for objective in (None, *objectives(codes).values(), remedies.GroupDRO(codes, step_size=0.1))]
    assert "objective" not in configs[0]
    keys = [str(config["objective"]) for config in configs[1:]]
    assert len(set(keys)) == len(keys)


def test_objectives_check_their_inputs():
    x, y = toy_data(64)
    with pytest.raises(ValueError, match=re.escape("objective=Distillation needs a teacher: pass start=")):
        population.train_population((x, y), size=2, recipe=RECIPE, model_kwargs=BN, objective=remedies.Distillation(),
                                    cache=False, progress=False)
    with pytest.raises(ValueError, match=re.escape("codes must hold one group per training example (64), got 3")):
        population.train_population((x, y), size=2, recipe=RECIPE, model_kwargs=BN,
                                    objective=remedies.Reweighting(np.array([0, 1, 1])), cache=False, progress=False)
    model = models.make_model(in_channels=1, num_classes=2, image_size=8, seed=0, **BN)
    with pytest.raises(TypeError, match="teacher must be a Module"):
        training.train_model(model, x, y, recipe=RECIPE, objective=remedies.Distillation())
    with pytest.raises(TypeError, match="objective must be a Objective"):
        training.train_model(model, x, y, recipe=RECIPE, objective="kd")


# --------------------------------------------------------------------------- mismatches (Joseph et al. 2020)

def test_mismatch_rates_count_disagreements_with_each_members_own_reference():
    reference = np.array([[0, 1, 1, 0], [1, 1, 1, 1]])
    compressed = np.array([[0, 0, 1, 1], [1, 1, 1, 0]])
    y = np.array([0, 1, 0, 0])
    np.testing.assert_allclose(mismatch.mismatch_rates(reference=reference, compressed=compressed), [0.5, 0.25])
    # where the reference is right: member 0 on examples 0, 1, 3 (mismatches at 1 and 3); member 1 on example 1 only
    np.testing.assert_allclose(mismatch.mismatch_rates(reference=reference, compressed=compressed, y_true=y),
                               [2 / 3, 0.0])


def test_mismatch_reduction_is_the_ratio_of_mean_rates_with_an_interval_around_it():
    rng = np.random.default_rng(0)
    reference = rng.integers(0, 2, (4, 400))
    plain = np.where(rng.random((4, 400)) < 0.2, 1 - reference, reference)
    remedied = np.where(rng.random((4, 400)) < 0.05, 1 - reference, reference)
    got = mismatch.mismatch_reduction(reference=reference, plain=plain, remedied=remedied, n_boot=200)
    expected = (plain != reference).mean() / (remedied != reference).mean()
    assert got["reduction"] == pytest.approx(expected)
    assert got["low"] < got["reduction"] < got["high"] and got["low"] > 1
    with pytest.raises(ValueError, match="compressed must have the shape of reference"):
        mismatch.mismatch_rates(reference=reference, compressed=plain[:2])


def test_mismatch_reduction_reports_the_floor_and_the_share_of_the_excess_removed():
    reference = np.zeros((2, 10), dtype=int)
    # mismatches per member out of 10: plain 5 and 3, remedied 2 and 2, floor (retraining alone) 1 and 1
    plain = np.array([[1] * 5 + [0] * 5, [1] * 3 + [0] * 7])
    remedied = np.array([[1] * 2 + [0] * 8, [0] * 8 + [1] * 2])
    floor = np.array([[0] * 9 + [1], [1] + [0] * 9])
    got = mismatch.mismatch_reduction(reference=reference, plain=plain, remedied=remedied, floor=floor, n_boot=300)
    assert got["plain (%)"] == pytest.approx(40.0) and got["remedied (%)"] == pytest.approx(20.0)
    assert got["floor (%)"] == pytest.approx(10.0) and got["reduction"] == pytest.approx(2.0)
    assert got["excess removed (%)"] == pytest.approx(100 * (40 - 20) / (40 - 10))
    assert got["excess low"] <= got["excess removed (%)"] <= got["excess high"]
    without = mismatch.mismatch_reduction(reference=reference, plain=plain, remedied=remedied, n_boot=300)
    assert "floor (%)" not in without
    np.testing.assert_array_equal(without[["low", "high"]], got[["low", "high"]])  # the same draws either way


def test_the_excess_share_leaves_out_resamples_where_plain_is_not_above_the_floor():
    reference = np.zeros((1, 4), dtype=int)
    plain = np.array([[1, 0, 0, 0]])  # 25%
    remedied = np.zeros((1, 4), dtype=int)  # 0%
    floor = np.array([[0, 1, 1, 0]])  # 50%: above plain, so the share is undefined
    got = mismatch.mismatch_reduction(reference=reference, plain=plain, remedied=remedied, floor=floor, n_boot=50)
    assert np.isnan(got["excess removed (%)"])  # no excess to remove
    # every resample where plain's share is not above the floor's is left out: those left are above it
    assert np.isnan(got["excess low"]) or got["excess low"] >= 0
