from __future__ import annotations

import re
import warnings

import numpy as np
import pandas as pd
import pytest
import torch
from torch import nn

from course_lib import training
from course_lib.compression import masks as mask_layout
from course_lib.compression import pruning, quantization
from course_lib.core import cache
from course_lib.populations import engine, level_label, outputs, population
from course_lib.populations import recipe as member_recipe
from course_lib.training import models
from course_lib.data import ImageDataset

TWO_EPOCHS = training.TrainingRecipe(epochs=2, batch_size=32)
RECIPE = {"recipe": TWO_EPOCHS, "progress": False}
TRAIN_MEMBERS = engine._train_members


def toy_data(n: int = 256) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(0)
    x = torch.rand(n, 1, 8, 8, generator=g)
    y = (x[:, 0, :4].mean((1, 2)) > x[:, 0, 4:].mean((1, 2))).long()
    return x, y


@pytest.fixture(params=[1])
def cores(request):
    """``torch.set_num_threads(n)`` for the test: the engine runs one worker thread per core."""
    saved = torch.get_num_threads()
    torch.set_num_threads(request.param)
    yield request.param
    torch.set_num_threads(saved)


def entries(cache_dir) -> list:
    return sorted((cache_dir / engine.NAMESPACE).glob("*.pt"))


def count_trainings(monkeypatch: pytest.MonkeyPatch, fail_on: int | None = None) -> list[int]:
    """Record the seeds every group training receives; raise when a group holds ``fail_on``."""
    trained = []

    def spy(images, targets, group, seeds, recipe, on_step):
        if fail_on in seeds:
            raise RuntimeError("simulated interruption")
        trained.extend(dict.fromkeys(seeds))  # a group of one trains beside a copy of its member
        return TRAIN_MEMBERS(images, targets, group, seeds, recipe, on_step)

    monkeypatch.setattr(engine, "_train_members", spy)
    return trained


# --------------------------------------------------------------------------- shapes and equivalence

def test_shapes_of_predictions_logits_accuracies_and_checkpoints():
    x, y = toy_data()
    pop = population.train_population((x, y), size=3, checkpoint_epochs=[0, 2], **RECIPE)
    assert len(pop) == 3 and pop.seeds == (0, 1, 2) and pop.level == 0.0
    assert pop.logits(x[:50]).shape == (3, 50, 2)
    assert pop.predict(x[:50]).shape == (3, 50) and pop.predict(x[:50]).dtype == torch.int64
    assert pop.accuracies(x, y).shape == (3,)
    assert [sorted(saved) for saved in pop.checkpoints] == [[0, 2]] * 3
    initial = models.make_model(in_channels=1, num_classes=2, image_size=8, seed=1).state_dict()
    assert all(torch.equal(initial[n], pop.checkpoints[1][0][n]) for n in initial)
    assert len(pop.models(epoch=2)) == 3
    with pytest.raises(ValueError, match=r"epoch must be one of the checkpoint epochs \[0, 2\], got 1"):
        pop.models(epoch=1)


def test_members_match_train_model_with_their_seed():
    x, y = toy_data()
    pop = population.train_population((x, y), size=2, seeds=[5, 7], cache=False, **RECIPE)
    for seed, member in zip(pop.seeds, pop.models()):
        alone = training.train_model(models.make_model(in_channels=1, num_classes=2, image_size=8, seed=seed),
                                     x, y, recipe=training.TrainingRecipe(epochs=2, batch_size=32), seed=seed)
        torch.testing.assert_close(training.predict_logits(member, x), training.predict_logits(alone, x),
                                   rtol=1e-4, atol=1e-5)


def test_members_match_train_model_under_the_cosine_schedule():
    x, y = toy_data()
    cosine = training.TrainingRecipe(epochs=2, batch_size=32, lr_schedule="cosine")
    pop = population.train_population((x, y), size=2, seeds=[5, 7], cache=False, **{**RECIPE, "recipe": cosine})
    for seed, member in zip(pop.seeds, pop.models()):
        alone = training.train_model(models.make_model(in_channels=1, num_classes=2, image_size=8, seed=seed),
                                     x, y, recipe=cosine, seed=seed)
        torch.testing.assert_close(training.predict_logits(member, x), training.predict_logits(alone, x),
                                   rtol=1e-4, atol=1e-5)
    with pytest.raises(ValueError, match="lr_schedule must be one of"):
        training.TrainingRecipe(epochs=2, lr_schedule="linear")


def test_pruned_members_match_train_gradually_pruned_and_have_the_sparsity():
    x, y = toy_data()
    pop = population.train_population((x, y), level=0.8, size=2, cache=False, **RECIPE)
    alone = pruning.train_gradually_pruned(models.make_model(in_channels=1, num_classes=2, image_size=8, seed=1),
                                           x, y, final_sparsity=0.8, recipe=training.TrainingRecipe(epochs=2, batch_size=32), seed=1)
    member = pop.models()[1]
    torch.testing.assert_close(training.predict_logits(member, x), training.predict_logits(alone, x),
                               rtol=1e-4, atol=1e-5)
    n = sum(m.weight.numel() for _, m in mask_layout.prunable_parameters(member))
    assert np.allclose(pop.sparsities(), round(0.8 * n) / n)
    assert pruning.sparsity(member) == pytest.approx(round(0.8 * n) / n)
    assert all(torch.equal(member.state_dict()[k], alone.state_dict()[k]) for k in alone.state_dict() if "mask" in k)


def test_image_dataset_input_and_several_levels():
    x, y = toy_data()
    attributes = pd.DataFrame(index=pd.Index([f"toy-{i}" for i in range(len(y))], name="example_id"))
    dataset = ImageDataset("toy", "train", x, y, attributes, ("left", "right"))
    pops = population.train_populations(dataset, levels=[0.0, 0.5, "float16"], size=2, **RECIPE)
    assert list(pops) == [0.0, 0.5, "float16"]
    assert all(p.accuracies(dataset).shape == (2,) for p in pops.values())
    assert pops[0.5].sparsities() == pytest.approx([0.5, 0.5], abs=1e-3)


# --------------------------------------------------------------------------- cache

def test_same_configuration_twice_is_bit_identical_and_loaded_from_cache(monkeypatch, _isolated_cache):
    x, y = toy_data()
    first = population.train_population((x, y), size=3, **RECIPE)
    assert len(entries(_isolated_cache)) == 3  # one entry per member
    trained = count_trainings(monkeypatch)
    second = population.train_population((x, y), size=3, **RECIPE)
    assert trained == []
    assert torch.equal(first.logits(x), second.logits(x))
    bigger = population.train_population((x, y), size=5, **RECIPE)
    assert sorted(trained) == [3, 4]  # members are shared by seed: only the new ones train
    assert torch.equal(bigger.logits(x)[:3], first.logits(x))


def test_a_member_does_not_depend_on_its_group(monkeypatch):
    x, y = toy_data()
    together = population.train_population((x, y), size=4, group_size=4, cache=False, **RECIPE)
    apart = population.train_population((x, y), size=4, group_size=1, cache=False, **RECIPE)
    assert torch.equal(together.logits(x), apart.logits(x))


def test_the_key_covers_the_configuration(monkeypatch):
    x, y = toy_data()
    population.train_population((x, y), size=1, **RECIPE)
    trained = count_trainings(monkeypatch)
    recipes = [{"lr": 3e-3}, {"lr_schedule": "cosine"}, {"epochs": 1}, {"batch_size": 16}]
    variants = [{"recipe": training.TrainingRecipe(**{"epochs": 2, "batch_size": 32, **change})} for change in recipes]
    variants += [{"model_kwargs": {"hidden": 8}}, {"level": 0.5},
                 {"level": 0.5, "schedule": pruning.PruningSchedule(scope="layer")}]
    for change in variants:
        population.train_population((x, y), size=1, **{**RECIPE, **change})
    x2 = x.clone()
    x2[0, 0, 0, 0] += 0.5
    population.train_population((x2, y), size=1, **RECIPE)
    assert trained == [0] * (len(variants) + 1)


def test_checkpoints_missing_from_the_cache_are_added_once(monkeypatch):
    x, y = toy_data()
    first = population.train_population((x, y), size=2, checkpoint_epochs=[1], **RECIPE)
    trained = count_trainings(monkeypatch)
    second = population.train_population((x, y), size=2, checkpoint_epochs=[2], **RECIPE)
    assert sorted(trained) == [0, 1] and [list(saved) for saved in second.checkpoints] == [[2], [2]]
    assert torch.equal(first.logits(x), second.logits(x))  # retrained to the same weights
    both = population.train_population((x, y), size=2, checkpoint_epochs=[2, 1], **RECIPE)
    assert sorted(trained) == [0, 1]  # the entries now hold epochs 1 and 2
    assert torch.equal(both.logits(x, epoch=1), first.logits(x, epoch=1))


@pytest.mark.parametrize("damage", ["truncate", "flip"])
def test_damaged_entry_warns_and_is_rebuilt(damage, monkeypatch, _isolated_cache):
    x, y = toy_data()
    first = population.train_population((x, y), size=2, **RECIPE)
    path = entries(_isolated_cache)[0]
    raw = bytearray(path.read_bytes())
    if damage == "truncate":
        raw = raw[: len(raw) // 2]
    else:
        raw[-100] ^= 0xFF
    path.write_bytes(bytes(raw))
    trained = count_trainings(monkeypatch)
    with pytest.warns(cache.CacheRebuildWarning, match="checksum mismatch"):
        rebuilt = population.train_population((x, y), size=2, **RECIPE)
    assert len(trained) == 1
    assert torch.equal(first.logits(x), rebuilt.logits(x))
    with warnings.catch_warnings():
        warnings.simplefilter("error", cache.CacheRebuildWarning)
        population.train_population((x, y), size=2, **RECIPE)  # repaired: no warning


def test_interrupted_run_resumes_with_the_missing_members(monkeypatch, _isolated_cache, tmp_path, cores):
    x, y = toy_data()
    count_trainings(monkeypatch, fail_on=4)
    with pytest.raises(RuntimeError, match="simulated interruption"):
        population.train_population((x, y), size=6, group_size=2, **RECIPE)
    assert len(entries(_isolated_cache)) == 4  # the groups [0, 1] and [2, 3] were done and stored
    trained = count_trainings(monkeypatch)
    resumed = population.train_population((x, y), size=6, **RECIPE)
    assert trained == [4, 5]
    monkeypatch.setenv("COURSE_CACHE_DIR", str(tmp_path / "fresh"))
    uninterrupted = population.train_population((x, y), size=6, **RECIPE)
    assert torch.equal(resumed.logits(x), uninterrupted.logits(x))


@pytest.mark.parametrize("cores", [2], indirect=True)
def test_a_failing_group_stops_the_others(monkeypatch, _isolated_cache, cores):
    x, y = toy_data(2048)
    count_trainings(monkeypatch, fail_on=1)
    with pytest.raises(RuntimeError, match="simulated interruption"):
        population.train_population((x, y), size=2, group_size=1, recipe=training.TrainingRecipe(epochs=50, batch_size=32),
                                    progress=False)
    assert entries(_isolated_cache) == []  # member 0 was stopped at its next step, not trained to the end


def test_cache_false_neither_reads_nor_writes(_isolated_cache):
    x, y = toy_data()
    population.train_population((x, y), size=1, cache=False, **RECIPE)
    assert entries(_isolated_cache) == []


# --------------------------------------------------------------------------- quantization

def test_quantized_population_is_the_dense_one_through_quantize_model():
    x, y = toy_data()
    dense = population.train_population((x, y), size=2, **RECIPE)
    quantized = population.train_population((x, y), level="int8-channel", size=2, **RECIPE)
    assert quantized.level == "int8-channel" and quantized.seeds == dense.seeds
    expected = quantization.quantize_model(dense.models()[1], "int8-channel")
    assert torch.equal(quantized.logits(x)[1], training.predict_logits(expected, x))
    assert not torch.equal(quantized.logits(x), dense.logits(x))
    message = "population must not be quantized already, got level 'int8-channel'"
    with pytest.raises(ValueError, match=re.escape(message)):
        population.quantize_population(quantized, "float16")


# --------------------------------------------------------------------------- validation

@pytest.mark.parametrize("level", [1.0, -0.1, float("nan"), "int4", True])
def test_bad_level_is_named(level):
    x, y = toy_data(16)
    with pytest.raises((ValueError, TypeError), match=re.escape("level must be")):
        population.train_population((x, y), level=level, size=2, **RECIPE)


def test_bad_arguments_are_named():
    x, y = toy_data(16)
    cases = [
        ({"size": 0}, "size must be an integer >= 1, got 0"),
        ({"seeds": [1, 1]}, "seeds must hold size=2 distinct integers, got [1, 1]"),
        ({"recipe": training.TrainingRecipe(epochs=0)}, "recipe.epochs must be an integer >= 1, got 0"),
        ({"checkpoint_epochs": [3]}, "checkpoint_epochs must lie in [0, epochs=2], got [3]"),
    ]
    for change, message in cases:
        with pytest.raises(ValueError, match=re.escape(message)):
            population.train_population((x, y), **{"size": 2, **RECIPE, **change})
    with pytest.raises(ValueError, match=re.escape("lr must be a real number > 0, got 0.0")):
        training.TrainingRecipe(epochs=2, lr=0.0)
    with pytest.raises(ValueError, match=re.escape("scope must be one of ['global', 'layer'], got 'row'")):
        pruning.PruningSchedule(scope="row")
    with pytest.raises(ValueError, match=re.escape("targets must be an int64 tensor of shape (16,), one label per image, "
                                                   "got torch.int64 (15,)")):
        population.train_population((x, y[:15]), size=2, **RECIPE)
    with pytest.raises(ValueError, match="images and targets must be on the same device, got cpu and meta"):
        population.train_population((x, y.to("meta")), size=2, **RECIPE)
    with pytest.raises(TypeError, match="data must be an ImageDataset or an"):
        population.train_population(x, size=2, **RECIPE)
    with pytest.raises(ValueError, match=re.escape(f"scheme must be one of {list(quantization.SCHEMES)}, got 'int4'")):
        population.quantize_population(population.train_population((x, y), size=1, **RECIPE), "int4")


def test_model_without_prunable_layers_is_refused(monkeypatch):
    x, y = toy_data(16)

    def no_weights(*, in_channels: int, num_classes: int, image_size: int, seed: int) -> nn.Module:
        return nn.Sequential(nn.Flatten())

    monkeypatch.setattr(engine, "make_model", no_weights)
    monkeypatch.setattr(member_recipe, "make_model", no_weights)
    with pytest.raises(ValueError, match=re.escape("model has no prunable layers (Conv or Linear)")):
        population.train_population((x, y), level=0.5, size=2, **RECIPE)


@pytest.mark.parametrize("level", [0.0, 0.8, "int8-channel"])
def test_stacked_logits_equal_each_members_own_forward_pass(level):
    x, y = toy_data()
    pop = population.train_population((x, y), level=level, size=3, checkpoint_epochs=[1], cache=False, **RECIPE)
    for epoch in (None, 1):
        alone = torch.stack([training.predict_logits(m, x) for m in pop.models(epoch=epoch)])
        torch.testing.assert_close(pop.logits(x, epoch=epoch, batch_size=100), alone, rtol=1e-5, atol=1e-6)
    assert pop.logits(x[:0]).shape == (3, 0, 2)
    with pytest.raises(ValueError, match="batch_size must be an integer >= 1, got 0"):
        pop.logits(x, batch_size=0)


def test_predict_all_and_level_labels():
    x, y = toy_data(64)
    pops = population.train_populations((x, y), levels=[0.0, 0.5, "float16"], size=2, cache=False, **RECIPE)
    preds = population.predict_all(pops, x)
    assert list(preds) == [0.0, 0.5, "float16"]
    assert all(isinstance(p, np.ndarray) and p.shape == (2, 64) for p in preds.values())
    assert np.array_equal(preds[0.5], pops[0.5].predict(x).numpy())
    assert [level_label(level) for level in (0.0, 0.3, 0.9, 0.95, 0.99, 0.995, "int8-tensor")] == [
        "dense", "pruned 30%", "pruned 90%", "pruned 95%", "pruned 99%", "pruned 99.5%", "int8-tensor"]
    assert pops[0.5].pruning == pruning.PruningSchedule() and pops[0.0].pruning is None
    assert pops["float16"].quantization == "float16" and pops[0.5].quantization is None


# --------------------------------------------------------------------------- the cache of outputs

def output_entries(cache_dir) -> list:
    return sorted((cache_dir / outputs.NAMESPACE).glob("*.pt"))


def test_logits_are_stored_and_loaded_instead_of_recomputed(monkeypatch, _isolated_cache):
    x, y = toy_data(64)
    pop = population.train_population((x, y), size=2, **RECIPE)
    first = pop.logits(x)
    assert len(output_entries(_isolated_cache)) == 1
    monkeypatch.setattr(population, "stacked_forward", lambda *args: pytest.fail("recomputed"))
    assert torch.equal(pop.logits(x), first)
    assert torch.equal(pop.predict(x), first.argmax(-1))


def test_the_outputs_key_covers_weights_images_and_batching(_isolated_cache):
    x, y = toy_data(64)
    pops = population.train_populations((x, y), levels=[0.0, "float16"], size=2, **RECIPE)
    pops[0.0].logits(x)
    pops["float16"].logits(x)            # other weights
    pops[0.0].logits(x[:32])             # other images
    pops[0.0].logits(x, batch_size=16)   # other float rounding
    assert len(output_entries(_isolated_cache)) == 4
    pops[0.0].logits(x, cache=False)
    assert len(output_entries(_isolated_cache)) == 4


def test_a_damaged_outputs_entry_is_reported_and_recomputed(_isolated_cache):
    x, y = toy_data(64)
    pop = population.train_population((x, y), size=2, **RECIPE)
    expected = pop.logits(x)
    (entry,) = output_entries(_isolated_cache)
    data = bytearray(entry.read_bytes())
    data[-10] ^= 0xFF
    entry.write_bytes(bytes(data))
    with pytest.warns(cache.CacheRebuildWarning, match="damaged cache entry"):
        again = pop.logits(x)
    assert torch.equal(again, expected)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        pop.logits(x)  # repaired: no warning


# --------------------------------------------------------------------------- sparse from scratch with fixed masks

@pytest.mark.parametrize("init", ["dense", "unit-scaled"])
def test_members_trained_sparse_from_scratch_match_train_model_and_keep_their_masks(init):
    from course_lib.compression import sparse_init

    x, y = toy_data()
    pruned = population.train_population((x, y), level=0.5, size=2, seeds=[1, 2], cache=False, **RECIPE)
    scratch = population.train_population((x, y), level=0.5, size=2, seeds=[5, 7], masks_from=pruned,
                                          sparse_init=init, cache=False, **RECIPE)
    assert scratch.level == 0.5 and scratch.pruning is None
    for seed, member, source in zip(scratch.seeds, scratch.models(), pruned.state_dicts):
        layer_masks = {n.removesuffix(".weight_mask"): m.bool() for n, m in source.items() if n.endswith("_mask")}
        for name, module in mask_layout.prunable_parameters(member):
            assert torch.equal(module.weight_mask.bool(), layer_masks[name])  # the masks never moved
        start = sparse_init.initialise_sparse(models.make_model(in_channels=1, num_classes=2, image_size=8, seed=seed),
                                              layer_masks, init=init, generator=torch.Generator().manual_seed(seed))
        alone = training.train_model(start, x, y, recipe=TWO_EPOCHS, seed=seed)
        torch.testing.assert_close(training.predict_logits(member, x), training.predict_logits(alone, x),
                                   rtol=1e-4, atol=1e-5)


def test_fixed_masks_enter_the_cache_key_and_are_refused_with_a_start_or_another_level():
    x, y = toy_data()
    pruned = population.train_population((x, y), level=0.5, size=2, cache=False, **RECIPE)
    keys = {init: population.train_population((x, y), level=0.5, size=2, masks_from=pruned, sparse_init=init,
                                              cache=False, **RECIPE).config for init in ("dense", "layer-scaled")}
    assert keys["dense"]["fixed_masks"] == keys["layer-scaled"]["fixed_masks"]
    assert keys["dense"]["start"] != keys["layer-scaled"]["start"] and keys["dense"]["pruning"] is None
    dense = population.train_population((x, y), size=2, cache=False, **RECIPE)
    with pytest.raises(ValueError, match="not both"):
        population.train_population((x, y), level=0.5, size=2, masks_from=pruned, start=dense, cache=False, **RECIPE)
    with pytest.raises(ValueError, match=r"masks_from must be a pruned population of the level trained here \(0.9\)"):
        population.train_population((x, y), level=0.9, size=2, masks_from=pruned, cache=False, **RECIPE)
    with pytest.raises(ValueError, match="sparse_init must be one of"):
        population.train_population((x, y), level=0.5, size=2, masks_from=pruned, sparse_init="he", cache=False,
                                    **RECIPE)


# --------------------------------------------------------------------------- sources of randomness apart

def test_members_with_their_own_init_and_data_order_seeds_match_train_model():
    x, y = toy_data()
    pop = population.train_population((x, y), size=3, seeds=[10, 11, 12], init_seeds=[4, 4, 5],
                                      order_seeds=[8, 9, 8], cache=False, checkpoint_epochs=(0,), **RECIPE)
    for member, init, order in zip(pop.models(), (4, 4, 5), (8, 9, 8)):
        alone = training.train_model(models.make_model(in_channels=1, num_classes=2, image_size=8, seed=init),
                                     x, y, recipe=TWO_EPOCHS, seed=order)
        torch.testing.assert_close(training.predict_logits(member, x), training.predict_logits(alone, x),
                                   rtol=1e-4, atol=1e-5)
    first, second, third = pop.checkpoints  # members 0 and 1 start alike, member 2 elsewhere
    assert all(torch.equal(first[0][name], second[0][name]) for name in first[0])
    assert not all(torch.equal(first[0][name], third[0][name]) for name in first[0])


def test_a_shared_init_and_data_order_give_identical_members_on_a_cpu():
    x, y = toy_data()
    pop = population.train_population((x, y), size=2, seeds=[1, 2], init_seeds=[3, 3], order_seeds=[6, 6],
                                      cache=False, **RECIPE)
    a, b = pop.state_dicts
    assert all(torch.equal(a[name], b[name]) for name in a)


def test_init_and_order_seeds_enter_the_cache_key_only_when_used_and_are_checked():
    x, y = toy_data(64)
    plain, inits, orders = (population.train_population((x, y), size=2, seeds=[1, 2], cache=False, **RECIPE, **extra).config
                            for extra in ({}, {"init_seeds": [1, 1]}, {"order_seeds": [1, 1]}))
    assert "start" not in plain and "order_seed" not in plain
    assert "start" in inits and "order_seed" not in inits
    assert orders["order_seed"] == [1, 1] and "start" not in orders
    dense = population.train_population((x, y), size=2, cache=False, **RECIPE)
    with pytest.raises(ValueError, match="init_seeds= sets where the members start"):
        population.train_population((x, y), size=2, init_seeds=[0, 0], start=dense, cache=False, **RECIPE)
    with pytest.raises(ValueError, match=re.escape("order_seeds must hold one seed per member (2), got 3")):
        population.train_population((x, y), size=2, order_seeds=[0, 1, 2], cache=False, **RECIPE)


def test_a_quantized_level_passes_the_init_and_order_seeds_to_its_dense_population():
    x, y = toy_data(64)
    kwargs = {"size": 2, "seeds": [1, 2], "init_seeds": [3, 3], "order_seeds": [4, 5], "cache": False, **RECIPE}
    dense = population.train_population((x, y), **kwargs)
    quantized = population.train_population((x, y), level="int8-tensor", **kwargs)
    expected = population.quantize_population(dense, "int8-tensor")
    for a, b in zip(quantized.state_dicts, expected.state_dicts):
        assert all(torch.equal(a[name], b[name]) for name in a)
