"""The arms of Zhuang et al. (2021): each changes only the source of randomness it names."""

from __future__ import annotations

import pytest
import torch

from course_lib.book import experiments
from course_lib.compression import masks


@pytest.fixture(scope="module")
def arms(tmp_path_factory):
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("COURSE_CACHE_DIR", str(tmp_path_factory.mktemp("cache")))
        train, _ = experiments.synthetic_celeba("smoke")
        return {arm: experiments.randomness_population("smoke", train, arm=arm) for arm in experiments.RANDOMNESS_ARMS}


def _same(a: dict, b: dict) -> bool:
    return all(torch.equal(a[name], b[name]) for name in a)


def test_every_arm_is_named_by_the_randomness_family(arms):
    for population in arms.values():
        assert population.seeds == experiments.seeds("smoke", "randomness") and population.level == 0.0


def test_the_order_and_kernel_arms_share_their_initialisation_and_the_init_arm_its_data_order(arms):
    order, kernels, init = arms["order"], arms["kernels"], arms["init"]
    assert order.config["start"] == kernels.config["start"] and "start" not in init.config
    assert init.config["order_seed"] == kernels.config["order_seed"] == [order.seeds[0]] * len(order)
    assert "order_seed" not in order.config
    assert "start" not in arms["all"].config and "order_seed" not in arms["all"].config  # a plain population


def test_members_of_the_kernels_arm_are_identical_and_of_the_others_differ(arms):
    first, second = arms["kernels"].state_dicts
    assert _same(first, second)
    for arm in ("init", "order", "all"):
        a, b = arms[arm].state_dicts
        assert not _same(masks.effective_state(a), masks.effective_state(b)), arm


def test_a_bad_arm_is_named():
    train, _ = experiments.synthetic_celeba("smoke")
    with pytest.raises(ValueError, match="arm"):
        experiments.randomness_population("smoke", train, arm="dropout")
