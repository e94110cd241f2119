"""BatchNorm members and per-member augmentation in the population engine."""

from __future__ import annotations

import re

import pytest
import torch
from torch import nn

from course_lib import training
from course_lib.compression import masks as mask_layout
from course_lib.compression import pruning, quantization
from course_lib.populations import population
from course_lib.populations import recipe as member_recipe
from course_lib.training import models

AUGMENTED = training.TrainingRecipe(epochs=2, batch_size=32, lr_schedule="one-cycle", flip=True, crop_padding=2)
BN = {"batch_norm": True, "channels": (16, 16), "hidden": 16}  # multiples of the vector width: see stacked


def toy_data(n: int = 192) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(0)
    x = torch.rand(n, 1, 8, 8, generator=g)
    y = (x[:, 0, :4].mean((1, 2)) > x[:, 0, 4:].mean((1, 2))).long()
    return x, y


def alone(seed: int, x: torch.Tensor, y: torch.Tensor, recipe: training.TrainingRecipe) -> nn.Module:
    return training.train_model(models.make_model(in_channels=1, num_classes=2, image_size=8, seed=seed, **BN),
                                x, y, recipe=recipe, seed=seed)


# --------------------------------------------------------------------------- augmentation

def test_a_crop_shifts_by_the_offset_minus_the_padding_with_zeros_brought_in():
    recipe = training.TrainingRecipe(epochs=1, crop_padding=1)
    image = torch.arange(1.0, 10.0).view(1, 1, 3, 3)
    draws = torch.tensor([[0, 0, 2]])  # no flip, row offset 0 (down by 1), column offset 2 (left by 1)
    expected = torch.tensor([[0.0, 0, 0], [2, 3, 0], [5, 6, 0]])
    assert torch.equal(recipe.augment(image, draws)[0, 0], expected)
    assert torch.equal(recipe.augment(image, torch.tensor([[0, 1, 1]])), image)  # the centred crop


def test_a_flip_mirrors_the_columns_and_only_where_drawn():
    recipe = training.TrainingRecipe(epochs=1, flip=True)
    images = torch.arange(8.0).view(2, 1, 2, 2)
    out = recipe.augment(images, torch.tensor([[1, 0, 0], [0, 0, 0]]))
    assert torch.equal(out[0, 0], torch.tensor([[1.0, 0], [3, 2]])) and torch.equal(out[1], images[1])


def test_augment_keeps_leading_axes_and_treats_every_image_on_its_own():
    recipe = training.TrainingRecipe(epochs=1, flip=True, crop_padding=2)
    x = torch.rand(5, 3, 2, 6, 6)  # (B, K, C, H, W), as a stacked batch
    draws = torch.stack([recipe.augmentation_draws(5, torch.Generator().manual_seed(k)) for k in range(3)], dim=1)
    out = recipe.augment(x, draws)
    assert out.shape == x.shape
    for b in range(5):
        for k in range(3):
            assert torch.equal(out[b, k], recipe.augment(x[b, k][None], draws[b, k][None])[0])


def test_draws_are_fixed_by_the_seed_differ_across_seeds_and_lie_in_range():
    recipe = training.TrainingRecipe(epochs=1, flip=True, crop_padding=3)
    first, again, other = (recipe.augmentation_draws(500, torch.Generator().manual_seed(s)) for s in (1, 1, 2))
    assert torch.equal(first, again) and not torch.equal(first, other)
    assert set(first[:, 0].tolist()) == {0, 1} and first[:, 1:].min() == 0 and first[:, 1:].max() == 6
    assert torch.equal(training.TrainingRecipe(epochs=1).augmentation_draws(4, torch.Generator()),
                       torch.zeros(4, 3, dtype=torch.int64))


def test_bad_augmentation_options_are_named():
    with pytest.raises(ValueError, match="crop_padding must be an integer >= 0, got -1"):
        training.TrainingRecipe(epochs=1, crop_padding=-1)
    with pytest.raises(TypeError, match="flip must be True or False, got .yes."):
        training.TrainingRecipe(epochs=1, flip="yes")


# --------------------------------------------------------------------------- stacked BatchNorm members

def test_batch_norm_members_with_augmentation_match_train_model():
    """Tolerance: rtol 1e-4, atol 1e-5 on the logits, as for the members without BatchNorm."""
    x, y = toy_data()
    pop = population.train_population((x, y), size=3, seeds=[4, 5, 6], recipe=AUGMENTED, model_kwargs=BN,
                                      cache=False, progress=False)
    for seed, member, state in zip(pop.seeds, pop.models(), pop.state_dicts):
        single = alone(seed, x, y, AUGMENTED)
        torch.testing.assert_close(training.predict_logits(member, x), training.predict_logits(single, x),
                                   rtol=1e-4, atol=1e-5)
        expected = single.state_dict()
        for name in ("features.1.running_mean", "features.1.running_var", "features.5.running_var"):
            torch.testing.assert_close(state[name], expected[name], rtol=1e-4, atol=1e-5)
        assert int(state["features.1.num_batches_tracked"]) == AUGMENTED.steps(len(y)) == 12


def test_pruned_batch_norm_members_match_and_their_batch_norm_is_never_masked():
    x, y = toy_data()
    pop = population.train_population((x, y), level=0.8, size=2, recipe=AUGMENTED, model_kwargs=BN,
                                      cache=False, progress=False)
    single = pruning.train_gradually_pruned(
        models.make_model(in_channels=1, num_classes=2, image_size=8, seed=1, **BN), x, y, final_sparsity=0.8,
        recipe=AUGMENTED, seed=1)
    member = pop.models()[1]
    torch.testing.assert_close(training.predict_logits(member, x), training.predict_logits(single, x),
                               rtol=1e-4, atol=1e-5)
    masked = sorted(name for name in pop.state_dicts[1] if name.endswith("_mask"))
    assert masked == ["classifier.weight_mask", "features.0.weight_mask", "features.4.weight_mask",
                      "hidden.1.weight_mask"]
    assert all(not isinstance(module, nn.BatchNorm2d) for _, module in mask_layout.prunable_parameters(member))


def test_batch_norm_uses_batch_statistics_in_training_and_running_ones_in_eval():
    x, y = toy_data()
    pop = population.train_population((x, y), size=2, recipe=AUGMENTED, model_kwargs=BN, cache=False, progress=False)
    member = pop.models()[0]
    assert not member.training
    eval_logits = training.predict_logits(member, x)
    torch.testing.assert_close(pop.logits(x, cache=False)[0], eval_logits, rtol=1e-5, atol=1e-6)
    assert not torch.allclose(member.train()(x).detach(), eval_logits, atol=1e-3)


def test_quantization_keeps_batch_norm_in_float():
    x, y = toy_data()
    pop = population.train_population((x, y), level="int8-tensor", size=2, recipe=AUGMENTED, model_kwargs=BN,
                                      progress=False, cache=False)
    dense = population.train_population((x, y), size=2, recipe=AUGMENTED, model_kwargs=BN, progress=False,
                                        cache=False)
    for name in ("features.1.weight", "features.1.bias", "features.1.running_mean", "features.1.running_var"):
        assert torch.equal(pop.state_dicts[0][name], dense.state_dicts[0][name])
    assert not torch.equal(pop.state_dicts[0]["features.0.weight"], dense.state_dicts[0]["features.0.weight"])
    quantized = quantization.quantize_model(dense.models()[0], "int8-tensor").state_dict()
    assert torch.equal(quantized["features.1.running_var"], dense.state_dicts[0]["features.1.running_var"])


def test_cumulative_batch_norm_averages_match_torch():
    """``momentum=None`` (a cumulative average over the batches seen) in the stacked forward pass."""
    from course_lib.populations import stacked
    model = nn.Sequential(nn.Conv2d(1, 16, 3, padding=1), nn.BatchNorm2d(16, momentum=None), nn.Flatten(),
                          nn.Linear(16 * 64, 2))
    layers = stacked.stackable_layers(model, torch.rand(2, 1, 8, 8))
    assert model.training  # the check ran on a copy
    params = {name: t.detach().unsqueeze(0).clone() for name, t in model.state_dict().items()}
    batches = [torch.rand(4, 1, 8, 8, generator=torch.Generator().manual_seed(b)) for b in range(3)]
    model.train()
    for batch in batches:
        expected = model(batch)
        got = stacked.stacked_forward(layers, params, batch.unsqueeze(1), training=True)[0]
        torch.testing.assert_close(got, expected, rtol=1e-5, atol=1e-6)
    for name in ("1.running_mean", "1.running_var", "1.num_batches_tracked"):
        torch.testing.assert_close(params[name][0], model.state_dict()[name])


def test_the_key_holds_batch_norm_and_augmentation_only_when_used():
    x, y = toy_data(16)
    kwargs = member_recipe.full_model_kwargs(x, 2, None)
    plain = training.TrainingRecipe(epochs=1)
    member = member_recipe.MemberRecipe(0.0, kwargs, plain, pruning.PruningSchedule(), (), torch.device("cpu"))
    config = member.cache_config("hash", 0)
    assert "batch_norm" not in config["model"] and "flip" not in config and "crop_padding" not in config
    with_bn = member_recipe.MemberRecipe(0.0, {**kwargs, "batch_norm": True}, AUGMENTED, pruning.PruningSchedule(),
                                         (), torch.device("cpu")).cache_config("hash", 0)
    assert with_bn["model"]["batch_norm"] is True and with_bn["flip"] is True and with_bn["crop_padding"] == 2


def test_unstackable_batch_norm_is_refused():
    from course_lib.populations import stacked
    model = nn.Sequential(nn.Conv2d(1, 2, 3), nn.BatchNorm2d(2, affine=False), nn.Flatten(), nn.Linear(72, 2))
    with pytest.raises(ValueError, match=re.escape("BatchNorm2d(affine=False or track_running_stats=False)")):
        stacked.stackable_layers(model, torch.rand(2, 1, 8, 8))
    model = nn.Sequential(nn.Flatten(), nn.Linear(64, 2))
    model.register_buffer("scale", torch.ones(1))
    with pytest.raises(ValueError, match=re.escape("no buffers but those of its BatchNorm2d layers, got ['scale']")):
        stacked.stackable_layers(model, torch.rand(2, 1, 8, 8))


def test_a_batch_norm_member_does_not_depend_on_its_group():
    x, y = toy_data()
    kwargs = {"recipe": AUGMENTED, "model_kwargs": BN, "cache": False, "progress": False}
    pairs = population.train_population((x, y), size=2, seeds=[3, 4], group_size=2, **kwargs)
    five = population.train_population((x, y), size=5, seeds=[0, 1, 2, 3, 4], group_size=5, **kwargs)
    for k, seed in enumerate((3, 4)):
        state, other = pairs.state_dicts[k], five.state_dicts[five.seeds.index(seed)]
        assert all(torch.equal(state[name], other[name]) for name in state)


# --------------------------------------------------------------------------- fine-tuning from trained members

FINETUNE = training.TrainingRecipe(epochs=1, batch_size=32, lr_schedule="one-cycle", flip=True, crop_padding=1)


def test_members_fine_tuned_from_a_start_match_train_model_from_its_weights():
    """Tolerance as above; a sparse level prunes the trained member gradually during the fine-tuning."""
    x, y = toy_data()
    dense = population.train_population((x, y), size=2, seeds=[0, 1], recipe=AUGMENTED, model_kwargs=BN,
                                        cache=False, progress=False)
    for level in (0.0, 0.8):
        tuned = population.train_population((x, y), level=level, size=2, seeds=[7, 8], recipe=FINETUNE,
                                            model_kwargs=BN, start=dense, checkpoint_epochs=[0], cache=False,
                                            progress=False)
        for k, seed in enumerate(tuned.seeds):
            torch.testing.assert_close(tuned.checkpoints[k][0], dense.state_dicts[k])  # it starts there
            model = dense.models()[k]
            single = (training.train_model(model, x, y, recipe=FINETUNE, seed=seed) if level == 0.0 else
                      pruning.train_gradually_pruned(model, x, y, final_sparsity=level, recipe=FINETUNE, seed=seed))
            torch.testing.assert_close(training.predict_logits(tuned.models()[k], x),
                                       training.predict_logits(single, x), rtol=1e-4, atol=1e-5)
        assert tuned.sparsities() == pytest.approx([level, level], abs=0.01)


def test_the_start_enters_the_key_member_by_member(tmp_path, monkeypatch):
    monkeypatch.setenv("COURSE_CACHE_DIR", str(tmp_path))
    x, y = toy_data(64)
    dense = population.train_population((x, y), size=2, recipe=FINETUNE, model_kwargs=BN, progress=False)
    swapped = population.Population(0.0, dense.seeds, dense.model_kwargs, dense.state_dicts[::-1],
                                    dense.checkpoints, dense.config)
    tuned, other = (population.train_population((x, y), size=2, recipe=FINETUNE, model_kwargs=BN, start=start,
                                                progress=False) for start in (dense, swapped))
    assert tuned.config["start"] != other.config["start"] and "start" not in dense.config
    assert not torch.equal(tuned.state_dicts[0]["classifier.weight"], other.state_dicts[0]["classifier.weight"])
    # the same start again: the same keys, so the members are loaded, bit for bit
    again = population.train_population((x, y), size=2, recipe=FINETUNE, model_kwargs=BN, start=dense,
                                        progress=False)
    assert all(torch.equal(a, b) for a, b in zip(again.state_dicts[1].values(), tuned.state_dicts[1].values()))


def test_a_bad_start_is_named():
    x, y = toy_data(64)
    dense = population.train_population((x, y), size=2, recipe=FINETUNE, model_kwargs=BN, cache=False,
                                        progress=False)
    kwargs = {"recipe": FINETUNE, "model_kwargs": BN, "cache": False, "progress": False}
    with pytest.raises(ValueError, match=re.escape("start must have one member per seed, got 2 members for 3")):
        population.train_population((x, y), size=3, start=dense, **kwargs)
    with pytest.raises(ValueError, match="start must be a dense population"):
        population.train_population((x, y), size=2, start=population.quantize_population(dense, "int8-tensor"),
                                    **kwargs)
    with pytest.raises(ValueError, match="start must hold the model trained here"):
        population.train_population((x, y), size=2, start=dense, **kwargs | {"model_kwargs": {**BN, "hidden": 32}})
    with pytest.raises(TypeError, match="start"):
        population.train_population((x, y), size=2, start=dense.state_dicts, **kwargs)


# --------------------------------------------------------------------------- targeted augmentation

TARGETED = training.TrainingRecipe(epochs=3, batch_size=32, lr_schedule="one-cycle", flip=True, crop_padding=1,
                                   augment_hardest=0.3, augment_from=2)


def test_the_hardest_are_the_lowest_msps_with_ties_to_the_earlier_example():
    recipe = training.TrainingRecipe(epochs=1, flip=True, augment_hardest=0.5)
    msp = torch.tensor([[0.9, 0.2, 0.5, 0.2], [0.1, 0.8, 0.7, 0.3]])
    assert recipe.hardest(msp).tolist() == [[False, True, False, True], [True, False, False, True]]
    assert training.TrainingRecipe(epochs=1, flip=True, augment_hardest=1.0).hardest(msp).all()


def test_an_image_left_out_of_the_targeted_set_is_shown_unchanged():
    recipe = training.TrainingRecipe(epochs=1, flip=True, crop_padding=2, augment_hardest=0.5)
    images = torch.rand(3, 1, 5, 5)
    draws = torch.tensor([[1, 0, 4], [1, 4, 0], [0, 1, 3]])
    kept = recipe.only(draws, torch.tensor([True, False, False]))
    assert kept.tolist() == [[1, 0, 4], [0, 2, 2], [0, 2, 2]]
    out = recipe.augment(images, kept)
    assert torch.equal(out[1:], images[1:]) and not torch.equal(out[0], images[0])


def test_targeting_is_checked_and_keyed_only_when_used():
    with pytest.raises(ValueError, match="augment_hardest=0.2 needs an augmentation to target"):
        training.TrainingRecipe(epochs=1, augment_hardest=0.2)
    with pytest.raises(ValueError, match="augment_from"):
        training.TrainingRecipe(epochs=1, flip=True, augment_hardest=0.2, augment_from=1)
    assert "augment_hardest" not in training.TrainingRecipe(epochs=1, flip=True).as_config()
    assert TARGETED.as_config()["augment_hardest"] == 0.3 and TARGETED.as_config()["augment_from"] == 2
    assert [TARGETED.targets_epoch(e) for e in (1, 2, 3)] == [False, True, True]


def test_before_the_first_targeted_epoch_nothing_is_augmented():
    x, y = toy_data(64)
    waiting = training.TrainingRecipe(epochs=1, batch_size=32, flip=True, crop_padding=1, augment_hardest=0.5)
    plain = training.TrainingRecipe(epochs=1, batch_size=32)
    a, b = (alone(3, x, y, recipe) for recipe in (waiting, plain))
    torch.testing.assert_close(training.predict_logits(a, x), training.predict_logits(b, x), rtol=0, atol=0)


def test_members_with_targeted_augmentation_match_train_model_and_differ_from_full_augmentation():
    """Tolerance as for every stacked member (rtol 1e-4, atol 1e-5 on the logits)."""
    x, y = toy_data()
    pop = population.train_population((x, y), size=2, seeds=[4, 5], recipe=TARGETED, model_kwargs=BN, cache=False,
                                      progress=False)
    full = dict(TARGETED.as_config())
    del full["augment_hardest"], full["augment_from"]
    everything = training.TrainingRecipe(**full)
    for k, seed in enumerate(pop.seeds):
        single = alone(seed, x, y, TARGETED)
        torch.testing.assert_close(training.predict_logits(pop.models()[k], x), training.predict_logits(single, x),
                                   rtol=1e-4, atol=1e-5)
        other = alone(seed, x, y, everything)
        assert not torch.allclose(training.predict_logits(single, x), training.predict_logits(other, x), atol=1e-4)
