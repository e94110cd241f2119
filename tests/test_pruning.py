from __future__ import annotations

import math

import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st
from torch import nn
from torch.nn.utils import prune

from course_lib import training
from course_lib.compression import masks as mask_layout
from course_lib.compression import pruning, storage
from course_lib.training import models

LAYERS = ["features.0", "features.3", "hidden.1", "classifier"]


def small_cnn(seed: int = 0) -> models.SmallCNN:
    return models.make_model(in_channels=1, num_classes=10, image_size=28, seed=seed)


def n_weights(model: nn.Module, include_classifier: bool = True) -> int:
    return sum(m.weight.numel() for _, m in mask_layout.prunable_parameters(model, include_classifier=include_classifier))


def toy_data(n: int = 128):
    g = torch.Generator().manual_seed(0)
    x = torch.rand(n, 1, 8, 8, generator=g)
    y = (x[:, 0, :4].mean((1, 2)) > x[:, 0, 4:].mean((1, 2))).long()
    return x, y


def toy_model(seed: int = 0) -> models.SmallCNN:
    return models.make_model(in_channels=1, num_classes=2, image_size=8, seed=seed)


def pruning_hooks(module: nn.Module) -> list:
    return [h for h in module._forward_pre_hooks.values() if isinstance(h, prune.BasePruningMethod)]


# --------------------------------------------------------------------------- cubic schedule

def test_cubic_sparsity_hand_computed_values():
    # s_t = s_f + (s_i - s_f) * (1 - (t - t0) / (end - t0)) ** 3
    assert pruning.cubic_sparsity(0, 0.8, 0, 100) == 0.0
    assert pruning.cubic_sparsity(50, 0.8, 0, 100) == pytest.approx(0.8 - 0.8 * 0.5 ** 3)  # 0.7
    assert pruning.cubic_sparsity(100, 0.8, 0, 100) == 0.8
    assert pruning.cubic_sparsity(15, 0.9, 10, 20, initial_sparsity=0.1) == pytest.approx(0.9 - 0.8 / 8)  # 0.8
    assert pruning.cubic_sparsity(12, 0.9, 10, 20, initial_sparsity=0.1) == pytest.approx(0.9 - 0.8 * 0.8 ** 3)


def test_cubic_sparsity_is_flat_outside_the_window():
    assert [pruning.cubic_sparsity(t, 0.9, 10, 20, initial_sparsity=0.2) for t in (-5, 0, 9, 10)] == [0.2] * 4
    assert [pruning.cubic_sparsity(t, 0.9, 10, 20, initial_sparsity=0.2) for t in (20, 21, 10**9)] == [0.9] * 3


@given(st.floats(0, 0.99), st.floats(0, 1), st.integers(0, 10_000), st.integers(1, 10_000),
       st.integers(-100, 25_000), st.integers(0, 5_000))
def test_cubic_sparsity_is_monotone_and_bounded(final, initial_share, begin, length, step, delta):
    initial = final * initial_share
    s = [pruning.cubic_sparsity(t, final, begin, begin + length, initial) for t in (step, step + delta)]
    assert initial <= s[0] <= s[1] <= final


@pytest.mark.parametrize(("args", "message"), [
    ((5, 1.0, 0, 10), r"final_sparsity must be a real number in \[0, 1\), got 1.0"),
    ((5, 0.5, 0, 10, -0.1), r"initial_sparsity must be a real number in \[0, 1\), got -0.1"),
    ((5, 0.5, 0, 10, 0.6), r"initial_sparsity must be <= final_sparsity, got 0.6 > 0.5"),
    ((5, 0.5, -1, 10), r"begin_step must be an integer >= 0, got -1"),
    ((5, 0.5, 10, 10), r"end_step must be > begin_step, got end_step=10 and begin_step=10"),
])
def test_cubic_sparsity_validates_arguments(args, message):
    with pytest.raises(ValueError, match=message):
        pruning.cubic_sparsity(*args)


# --------------------------------------------------------------------------- masks on tensors

def assert_smallest_removed(weights: torch.Tensor, mask: torch.Tensor) -> None:
    kept, removed = weights[mask].abs(), weights[~mask].abs()
    if len(kept) and len(removed):
        assert removed.max() <= kept.min()


def random_weights() -> dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(1)
    return {"conv": torch.randn(8, 3, 3, 3, generator=g), "fc": 0.1 * torch.randn(33, 17, generator=g),
            "out": torch.randn(5, 7, generator=g)}


@pytest.mark.parametrize("s", [0.0, 0.1, 0.5, 0.9, 0.99])
def test_global_masks_remove_exactly_round_s_n(s):
    weights = random_weights()
    masks = mask_layout.magnitude_masks(weights, s)
    n = sum(w.numel() for w in weights.values())
    assert sum(int((~m).sum()) for m in masks.values()) == round(s * n)
    assert all(m.dtype == torch.bool and m.shape == weights[k].shape for k, m in masks.items())
    assert_smallest_removed(torch.cat([w.flatten() for w in weights.values()]),
                            torch.cat([m.flatten() for m in masks.values()]))


@pytest.mark.parametrize("s", [0.0, 0.3, 0.5, 0.9, 0.99])
def test_layer_masks_remove_round_s_n_in_every_layer(s):
    weights = random_weights()
    masks = mask_layout.magnitude_masks(weights, s, scope="layer")
    for name, w in weights.items():
        assert int((~masks[name]).sum()) == round(s * w.numel())
        assert_smallest_removed(w, masks[name])
    n = sum(w.numel() for w in weights.values())
    assert abs(sum(int((~m).sum()) for m in masks.values()) - s * n) <= len(weights) / 2


def test_global_and_layer_scope_differ_on_hand_made_weights():
    weights = {"small": torch.tensor([1.0, -2.0, 3.0, -4.0]), "large": torch.tensor([[10.0, -20.0], [30.0, -40.0]])}
    global_masks = mask_layout.magnitude_masks(weights, 0.5)
    assert global_masks["small"].tolist() == [False] * 4
    assert global_masks["large"].tolist() == [[True, True], [True, True]]
    layer_masks = mask_layout.magnitude_masks(weights, 0.5, scope="layer")
    assert layer_masks["small"].tolist() == [False, False, True, True]
    assert layer_masks["large"].tolist() == [[False, False], [True, True]]


def test_ties_are_broken_by_position():
    assert mask_layout.magnitude_masks({"a": torch.ones(4)}, 0.5)["a"].tolist() == [False, False, True, True]
    masks = mask_layout.magnitude_masks({"a": torch.ones(2), "b": -torch.ones(2)}, 0.5)
    assert masks["a"].tolist() == [False, False] and masks["b"].tolist() == [True, True]
    assert mask_layout.magnitude_masks({"a": torch.tensor([-3.0, 1.0, 2.0, -0.5])}, 0.5)["a"].tolist() == [
        True, False, True, False]


def test_already_pruned_entries_rank_below_exact_zeros():
    weights = {"a": torch.tensor([0.0, 0.0, 5.0, 6.0])}
    assert mask_layout.magnitude_masks(weights, 0.25)["a"].tolist() == [False, True, True, True]
    masks = mask_layout.magnitude_masks(weights, 0.25, masks={"a": torch.tensor([1.0, 0.0, 1.0, 1.0])})
    assert masks["a"].tolist() == [True, False, True, True]


@pytest.mark.parametrize("s", [1.0, -0.1, float("nan"), 1.5])
def test_invalid_sparsity_is_rejected(s):
    with pytest.raises(ValueError, match=r"^sparsity must be a real number in \[0, 1\), got"):
        mask_layout.magnitude_masks(random_weights(), s)
    with pytest.raises(ValueError, match=r"^sparsity must be a real number in \[0, 1\), got"):
        pruning.prune_magnitude(small_cnn(), s)


def test_invalid_scope_and_empty_weights_are_rejected():
    with pytest.raises(ValueError, match=r"^scope must be one of \['global', 'layer'\], got 'local'$"):
        mask_layout.magnitude_masks(random_weights(), 0.5, scope="local")
    with pytest.raises(ValueError, match=r"^scope must be one of"):
        pruning.prune_magnitude(small_cnn(), 0.5, scope="Global")
    with pytest.raises(ValueError, match="^weights must hold at least one tensor, got none$"):
        mask_layout.magnitude_masks({}, 0.5)


# --------------------------------------------------------------------------- masks on modules

def test_prunable_parameters_of_small_cnn():
    model = small_cnn()
    assert [name for name, _ in mask_layout.prunable_parameters(model)] == LAYERS
    assert [name for name, _ in mask_layout.prunable_parameters(model, include_classifier=False)] == LAYERS[:-1]
    assert mask_layout.prunable_parameters(model)[-1][1] is model.classifier


def test_prunable_parameters_errors():
    with pytest.raises(ValueError, match=r"^model has no prunable layers \(Conv or Linear\), got only \['BatchNorm1d', 'ReLU', 'Sequential'\]$"):
        mask_layout.prunable_parameters(nn.Sequential(nn.ReLU(), nn.BatchNorm1d(3)))
    with pytest.raises(ValueError, match=r"^include_classifier=False needs a layer named 'classifier'"):
        mask_layout.prunable_parameters(nn.Sequential(nn.Linear(3, 3), nn.Linear(3, 2)), include_classifier=False)
    with pytest.raises(ValueError, match=r"^model has no prunable layers"):
        pruning.sparsity(nn.Sequential(nn.ReLU()))


@pytest.mark.parametrize("s", [0.5, 0.9, 0.99])
def test_prune_magnitude_reaches_sparsity_measured_from_masks(s):
    model = small_cnn()
    assert pruning.sparsity(model) == 0.0
    pruning.prune_magnitude(model, s)
    n = n_weights(model)
    assert pruning.sparsity(model) == round(s * n) / n
    table = pruning.layer_sparsity(model)
    assert table["name"].tolist() == LAYERS and table.columns.tolist() == ["name", "params", "zeros", "sparsity"]
    assert table["zeros"].sum() == round(s * n) and table["params"].sum() == n
    for (_, module), zeros in zip(mask_layout.prunable_parameters(model), table["zeros"]):
        assert int((module.weight_orig != 0).sum()) == module.weight_orig.numel()  # weight_orig stays dense
        assert int((module.weight == 0).sum()) == zeros


def test_prune_magnitude_can_spare_the_classifier():
    model = pruning.prune_magnitude(small_cnn(), 0.9, include_classifier=False)
    assert not hasattr(model.classifier, "weight_mask")
    n = n_weights(model, include_classifier=False)
    assert pruning.sparsity(model, include_classifier=False) == round(0.9 * n) / n
    assert pruning.sparsity(model) == round(0.9 * n) / n_weights(model)  # the dense classifier counts as dense


def test_layer_scope_on_a_model():
    model = pruning.prune_magnitude(small_cnn(), 0.7, scope="layer")
    table = pruning.layer_sparsity(model)
    assert table["zeros"].tolist() == [round(0.7 * p) for p in table["params"]]


def test_repruning_is_monotone_and_does_not_stack_masks():
    model = pruning.prune_magnitude(small_cnn(), 0.5)
    before = {name: m.weight_mask.clone() for name, m in mask_layout.prunable_parameters(model)}
    pruning.prune_magnitude(model, 0.8)
    n = n_weights(model)
    assert pruning.sparsity(model) == round(0.8 * n) / n
    for name, module in mask_layout.prunable_parameters(model):
        assert not module.weight_mask[before[name] == 0].any()  # pruned stay pruned
        assert len(pruning_hooks(module)) == 1
        assert not isinstance(pruning_hooks(module)[0], prune.PruningContainer)
        assert torch.equal(module.weight, module.weight_orig * module.weight_mask)


def test_lowering_the_sparsity_regrows_weights_from_zero():
    model = pruning.prune_magnitude(small_cnn(), 0.8)
    effective = mask_layout.effective_weights(model)
    pruning.prune_magnitude(model, 0.3)
    n = n_weights(model)
    assert pruning.sparsity(model) == round(0.3 * n) / n
    for name, module in mask_layout.prunable_parameters(model):
        assert torch.equal(module.weight, effective[name] * module.weight_mask)


def test_masks_survive_training_and_the_optimizer_keeps_the_parameter():
    x, y = toy_data()
    model = toy_model()
    parameter = model.hidden[1].weight
    pruning.prune_magnitude(model, 0.9)
    assert model.hidden[1].weight_orig is parameter
    mask = model.hidden[1].weight_mask.clone()
    trained = training.train_model(model, x, y, recipe=training.TrainingRecipe(epochs=1, batch_size=32))
    assert not trained.hidden[1].weight[mask == 0].any()
    assert pruning.sparsity(trained) == round(0.9 * n_weights(trained)) / n_weights(trained)


# --------------------------------------------------------------------------- gradual pruning

def test_gradual_pruning_follows_the_schedule():
    x, y = toy_data()  # 128 examples, batch 16: 8 steps per epoch, 16 in all
    model = toy_model()
    n = n_weights(model)
    schedule = pruning.GradualPruning(0.9, begin_step=2, end_step=11, frequency=3)
    measured = []

    def on_step(step: int, m: nn.Module) -> None:
        schedule(step, m)
        measured.append(pruning.sparsity(m))

    training.train_model(model, x, y, recipe=training.TrainingRecipe(epochs=2, batch_size=16), on_step=on_step)
    assert [step for step, _ in schedule.history] == [2, 5, 8, 11]
    assert [target for _, target in schedule.history] == [
        pruning.cubic_sparsity(t, 0.9, 2, 11) for t in (2, 5, 8, 11)]

    def last_pruning_step(t: int) -> int:
        return 11 if t >= 11 else 2 + 3 * ((t - 2) // 3)

    assert measured == [0.0] + [round(pruning.cubic_sparsity(last_pruning_step(t), 0.9, 2, 11) * n) / n
                                for t in range(2, 17)]
    assert measured[-1] == round(0.9 * n) / n


def test_gradual_pruning_default_frequency_and_validation():
    assert pruning.GradualPruning(0.5, 0, 100).frequency == 10
    assert pruning.GradualPruning(0.5, 0, 5).frequency == 1
    with pytest.raises(ValueError, match="^frequency must be an integer >= 1, got 0$"):
        pruning.GradualPruning(0.5, 0, 100, frequency=0)
    with pytest.raises(ValueError, match=r"^final_sparsity must be a real number in \[0, 1\), got 1.2$"):
        pruning.GradualPruning(1.2, 0, 100)
    with pytest.raises(ValueError, match="^scope must be one of"):
        pruning.GradualPruning(0.5, 0, 100, scope="all")


def test_train_gradually_pruned_ends_at_final_sparsity():
    x, y = toy_data()
    model = pruning.train_gradually_pruned(toy_model(), x, y, final_sparsity=0.75, recipe=training.TrainingRecipe(epochs=2, batch_size=32), seed=0)
    n = n_weights(model)
    assert pruning.sparsity(model) == round(0.75 * n) / n
    assert not model.training


def test_train_gradually_pruned_validation():
    x, y = toy_data()
    with pytest.raises(ValueError, match="^begin_fraction must be < end_fraction, got 0.5 and 0.5$"):
        pruning.PruningSchedule(begin_fraction=0.5, end_fraction=0.5)
    with pytest.raises(ValueError, match="^begin_fraction must be < end_fraction, got 0.6 and 0.5$"):
        pruning.gradual_schedule(0.5, 100, begin_fraction=0.6, end_fraction=0.5)
    with pytest.raises(ValueError, match="^0 training steps are too few for a pruning window"):
        pruning.train_gradually_pruned(toy_model(), x, y, final_sparsity=0.5, recipe=training.TrainingRecipe(epochs=0, batch_size=32), seed=0)


def test_one_shot_prune_finetune_keeps_masks_fixed():
    x, y = toy_data()
    model = toy_model()
    pruned_once = pruning.prune_magnitude(toy_model(), 0.8)
    masks = {name: m.weight_mask.clone() for name, m in mask_layout.prunable_parameters(pruned_once)}
    pruning.one_shot_prune_finetune(model, x, y, sparsity=0.8, recipe=training.TrainingRecipe(epochs=1, batch_size=32))
    for name, module in mask_layout.prunable_parameters(model):
        assert torch.equal(module.weight_mask, masks[name])
        assert not module.weight[masks[name] == 0].any()
    assert not torch.equal(model.hidden[1].weight, pruned_once.hidden[1].weight)  # survivors were trained


# --------------------------------------------------------------------------- export and storage

def test_export_pruned_folds_masks_right_after_training():
    x, y = toy_data()
    model = pruning.one_shot_prune_finetune(toy_model(), x, y, sparsity=0.6, recipe=training.TrainingRecipe(epochs=1, batch_size=32))
    exported = mask_layout.export_pruned(model)
    names = {name for name, _ in exported.named_parameters()} | {name for name, _ in exported.named_buffers()}
    assert not any(name.endswith(("_orig", "_mask")) for name in names)
    assert all(not pruning_hooks(m) for m in exported.modules())
    zeros = sum(int((m.weight == 0).sum()) for _, m in mask_layout.prunable_parameters(exported))
    assert zeros >= pruning.layer_sparsity(model)["zeros"].sum()
    assert torch.equal(training.predict_logits(exported, x), training.predict_logits(model, x))
    assert hasattr(model.classifier, "weight_mask")  # the original stays pruned


def test_storage_bytes_formats_and_payloads():
    dense_model = small_cnn()
    sparse_model = pruning.prune_magnitude(small_cnn(), 0.99)
    dense, sparse = storage.storage_bytes(dense_model), storage.storage_bytes(sparse_model)
    assert dense.index.tolist() == ["dense", "coo", "csr", "bitmask"]
    assert dense.columns.tolist() == ["bytes", "payload_bytes", "vs_dense"]
    assert (dense.loc[["coo", "csr", "bitmask"], "bytes"] > dense.loc["dense", "bytes"]).all()
    assert (sparse.loc[["coo", "csr", "bitmask"], "bytes"] < sparse.loc["dense", "bytes"] / 10).all()
    weights = mask_layout.effective_weights(sparse_model)
    nnz = {name: int(w.count_nonzero()) for name, w in weights.items()}
    assert sparse.loc["dense", "payload_bytes"] == 4 * sum(w.numel() for w in weights.values())
    assert sparse.loc["coo", "payload_bytes"] == sum(nnz[k] * (4 + 8 * w.dim()) for k, w in weights.items())
    assert sparse.loc["csr", "payload_bytes"] == sum(8 * (w.shape[0] + 1) + 12 * nnz[k] for k, w in weights.items())
    assert sparse.loc["bitmask", "payload_bytes"] == sum(math.ceil(w.numel() / 8) + 4 * nnz[k]
                                                         for k, w in weights.items())
    assert (sparse["bytes"] > sparse["payload_bytes"]).all()
    assert sparse.loc["dense", "vs_dense"] == 1.0
