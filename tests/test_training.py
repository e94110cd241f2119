from __future__ import annotations

import numpy as np
import pytest
import torch

from course_lib import training
from course_lib.training import models


def toy_data(n: int = 256):
    g = torch.Generator().manual_seed(0)
    x = torch.rand(n, 1, 8, 8, generator=g)
    y = (x[:, 0, :4].mean((1, 2)) > x[:, 0, 4:].mean((1, 2))).long()
    return x, y


def test_same_seed_same_model_bit_for_bit():
    x, y = toy_data()
    runs = [training.train_model(models.make_model(in_channels=1, num_classes=2, image_size=8, seed=3), x, y,
                                 recipe=training.TrainingRecipe(epochs=2, batch_size=32), seed=3) for _ in range(2)]
    assert torch.equal(training.predict_logits(runs[0], x), training.predict_logits(runs[1], x))


def test_training_learns_an_easy_rule():
    x, y = toy_data(512)
    model = training.train_model(models.make_model(in_channels=1, num_classes=2, image_size=8, seed=0), x, y,
                                 recipe=training.TrainingRecipe(epochs=15, batch_size=32, lr=3e-3), seed=0)
    assert training.accuracy(training.predict_logits(model, x).argmax(1), y) > 0.9


def test_hooks_are_called_with_step_and_epoch_counts():
    x, y = toy_data(100)
    steps, epochs = [], []
    training.train_model(models.make_model(in_channels=1, num_classes=2, image_size=8, seed=0), x, y, recipe=training.TrainingRecipe(epochs=2, batch_size=32), on_step=lambda s, m: steps.append(s), on_epoch_end=lambda e, m: epochs.append(e))
    assert steps == list(range(1, 9)) and epochs == [0, 1]


def test_cosine_schedule_decays_the_learning_rate_to_zero_over_all_steps():
    model = models.make_model(in_channels=1, num_classes=2, image_size=8, seed=0)
    optimizer_lrs = []
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    # 8 steps: 4 epochs of 2 batches over 8 examples
    scheduler = training.TrainingRecipe(epochs=4, batch_size=4, lr=0.1, lr_schedule="cosine").scheduler(optimizer, 8)
    for step in range(8):
        optimizer_lrs.append(optimizer.param_groups[0]["lr"])
        optimizer.step()
        scheduler.step()
    expected = [0.1 * (1 + np.cos(np.pi * t / 8)) / 2 for t in range(8)]
    assert optimizer_lrs == pytest.approx(expected)
    assert optimizer.param_groups[0]["lr"] == pytest.approx(0.0, abs=1e-12)
    constant = torch.optim.SGD(model.parameters(), lr=0.1)
    flat = training.TrainingRecipe(epochs=4, batch_size=4, lr=0.1).scheduler(constant, 8)
    for _ in range(3):
        constant.step()
        flat.step()
    assert constant.param_groups[0]["lr"] == 0.1


def test_schedules_change_the_model():
    x, y = toy_data(100)
    trained = {schedule: training.train_model(models.make_model(in_channels=1, num_classes=2, image_size=8, seed=0),
                                              x, y, recipe=training.TrainingRecipe(epochs=2, batch_size=32, lr_schedule=schedule))
               for schedule in training.LR_SCHEDULES}
    logits = [training.predict_logits(trained[s], x) for s in training.LR_SCHEDULES]
    assert not any(torch.equal(a, b) for i, a in enumerate(logits) for b in logits[i + 1:])


def test_one_cycle_warms_up_to_lr_at_30_percent_then_anneals_far_below_it():
    model = models.make_model(in_channels=1, num_classes=2, image_size=8, seed=0)
    optimizer = torch.optim.Adam(model.parameters(), lr=0.1)
    scheduler = training.TrainingRecipe(epochs=10, batch_size=1, lr=0.1, lr_schedule="one-cycle").scheduler(optimizer, 10)
    lrs = []
    for _ in range(100):
        lrs.append(optimizer.param_groups[0]["lr"])
        optimizer.step()
        scheduler.step()
    assert lrs[0] == pytest.approx(0.1 / 25) and max(lrs) == pytest.approx(0.1) and int(np.argmax(lrs)) in (29, 30)
    assert lrs[-1] < 1e-5 and optimizer.param_groups[0]["betas"][0] == pytest.approx(0.95, abs=1e-3)


def test_accuracy_and_recall_per_class_exact():
    preds, targets = np.array([0, 1, 1, 2, 0]), np.array([0, 1, 2, 2, 1])
    assert training.accuracy(preds, targets) == pytest.approx(0.6)
    assert np.allclose(training.recall_per_class(preds, targets, 4), [1.0, 0.5, 0.5, np.nan], equal_nan=True)
    with pytest.raises(ValueError, match=r"targets must have shape \(N=2,\), got \(3,\)"):
        training.accuracy(np.zeros(2, dtype=int), np.zeros(3, dtype=int))


def test_accuracy_and_recall_of_a_population_are_those_of_its_members():
    preds = np.array([[0, 1, 1, 2, 0], [0, 1, 2, 2, 1]])
    targets = np.array([0, 1, 2, 2, 1])
    assert training.accuracy(preds, targets).tolist() == pytest.approx([0.6, 1.0])
    recall = training.recall_per_class(preds, targets, 3)
    assert recall.shape == (2, 3)
    assert np.allclose(recall[0], training.recall_per_class(preds[0], targets, 3))
    assert recall[1].tolist() == [1.0, 1.0, 1.0]
    assert np.isnan(training.accuracy(preds[:, :0], targets[:0])).all()


def test_bad_arguments_name_themselves():
    x, y = toy_data(10)
    model = models.make_model(in_channels=1, num_classes=2, image_size=8, seed=0)
    with pytest.raises(ValueError, match=r"targets must be an int64 tensor of shape \(10,\), one label per image"):
        training.train_model(model, x, y[:9], recipe=training.TrainingRecipe(epochs=1))
    with pytest.raises(ValueError, match="lr_schedule must be one of \\['constant', 'cosine', 'one-cycle'\\], got 'step'"):
        training.TrainingRecipe(epochs=1, lr_schedule="step")
    with pytest.raises(ValueError, match="epochs must be an integer >= 0, got -1"):
        training.TrainingRecipe(epochs=-1)
    with pytest.raises(ValueError, match="image_size must be divisible by 4, got 10"):
        models.SmallCNN(1, 2, 10)


def test_label_smoothing_mixes_the_targets_with_the_uniform_distribution_and_keys_only_when_used():
    logits = torch.tensor([[2.0, 0.0], [0.0, 1.0]])
    targets = torch.tensor([0, 0])
    smoothed = training.TrainingRecipe(epochs=1, label_smoothing=0.2)
    log_p = logits.log_softmax(1)
    expected = -(0.9 * log_p[:, 0] + 0.1 * log_p[:, 1])  # targets 1 - 0.2 + 0.2 / 2 and 0.2 / 2
    torch.testing.assert_close(smoothed.loss(logits, targets, reduction="none"), expected)
    assert smoothed.as_config()["label_smoothing"] == 0.2
    assert "label_smoothing" not in training.TrainingRecipe(epochs=1).as_config()
    with pytest.raises(ValueError, match="label_smoothing"):
        training.TrainingRecipe(epochs=1, label_smoothing=1.0)


def test_population_members_with_label_smoothing_match_train_model():
    from course_lib.populations import population
    g = torch.Generator().manual_seed(0)
    x = torch.rand(96, 1, 8, 8, generator=g)
    y = (x[:, 0, :4].mean((1, 2)) > 0.5).long()
    recipe = training.TrainingRecipe(epochs=2, batch_size=32, label_smoothing=0.1)
    pop = population.train_population((x, y), size=2, seeds=[3, 4], recipe=recipe, cache=False, progress=False)
    single = training.train_model(models.make_model(in_channels=1, num_classes=2, image_size=8, seed=4), x, y,
                                  recipe=recipe, seed=4)
    torch.testing.assert_close(training.predict_logits(pop.models()[1], x), training.predict_logits(single, x),
                               rtol=1e-4, atol=1e-5)
