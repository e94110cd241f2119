"""The populations of the price-of-sparsity chapter: scratch arms, the lottery arm, sparse controls."""

from __future__ import annotations

import pytest
import torch

from course_lib.book import experiments
from course_lib.compression import masks
from course_lib.training import models

LEVEL = 0.9


@pytest.fixture(scope="module")
def made(tmp_path_factory):
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("COURSE_CACHE_DIR", str(tmp_path_factory.mktemp("cache")))
        train, _ = experiments.synthetic_celeba("smoke")
        pruned = experiments.populations("smoke", train, levels=[LEVEL])[LEVEL]
        arms = {arm: experiments.scratch_population("smoke", train, level=LEVEL, arm=arm)
                for arm in ("unit-scaled", "lottery")}
        return pruned, arms, experiments.control("smoke", train, level=LEVEL)


def test_every_arm_keeps_the_mask_of_its_pruned_partner_from_the_first_step(made):
    pruned, arms, _ = made
    for population in arms.values():
        for k, state in enumerate(population.state_dicts):
            partner = masks.state_masks(pruned.state_dicts[k])
            for epoch, saved in population.checkpoints[k].items():
                kept = masks.state_masks(saved)
                assert kept.keys() == partner.keys()
                for name, mask in partner.items():
                    assert torch.equal(kept[name], mask), (epoch, name)
                    assert not masks.effective_state(saved)[f"{name}.weight"][~mask].any()


def test_scratch_arms_take_fresh_seeds_and_the_lottery_rewinds_to_the_pruned_members_start(made):
    pruned, arms, _ = made
    assert arms["unit-scaled"].seeds == experiments.seeds("smoke", "scratch") != pruned.seeds
    assert arms["lottery"].seeds == pruned.seeds
    for k, seed in enumerate(pruned.seeds):
        start = models.make_model(seed=seed, **pruned.model_kwargs).state_dict()
        rewound = masks.effective_state(arms["lottery"].checkpoints[k][0])
        for name, mask in masks.state_masks(pruned.state_dicts[k]).items():
            torch.testing.assert_close(rewound[f"{name}.weight"], start[f"{name}.weight"] * mask, rtol=0, atol=0)
    assert set(arms["lottery"].checkpoints[0]) == set(range(experiments.recipe("smoke").epochs + 1))


def test_a_sparse_control_is_pruned_like_the_level_from_the_control_seeds(made):
    pruned, _, control = made
    assert control.level == LEVEL and control.seeds == experiments.seeds("smoke", "control")
    assert control.sparsities() == pytest.approx(pruned.sparsities(), abs=1e-3)


def test_bad_arms_and_levels_are_named():
    train, _ = experiments.synthetic_celeba("smoke")
    with pytest.raises(ValueError, match="arm"):
        experiments.scratch_population("smoke", train, level=LEVEL, arm="random")
    with pytest.raises(ValueError, match="level must be a sparsity"):
        experiments.control("smoke", train, level="int8-tensor")


def test_checkpoints_retrain_cached_members_to_the_same_weights(tmp_path, monkeypatch):
    monkeypatch.setenv("COURSE_CACHE_DIR", str(tmp_path))
    train, _ = experiments.synthetic_celeba("smoke")
    plain = experiments.populations("smoke", train, levels=[LEVEL])[LEVEL]
    kept = experiments.populations("smoke", train, levels=[LEVEL], checkpoints=True)[LEVEL]
    assert all(set(saved) == {0, 1} for saved in kept.checkpoints) and not any(plain.checkpoints)
    for a, b in zip(plain.state_dicts, kept.state_dicts):
        for name in a:
            torch.testing.assert_close(a[name], b[name], rtol=0, atol=0)
