"""DP-SGD through Opacus: refusals, determinism, the accountant's epsilon, private populations."""

from __future__ import annotations

import math
import re

import pytest
import torch

from course_lib.populations import private as private_population
from course_lib.training import TrainingRecipe, make_model, predict_logits
from course_lib.training import private

RECIPE = TrainingRecipe(epochs=2, batch_size=32, lr=3e-3)
MODEL = {"in_channels": 1, "num_classes": 2, "image_size": 8}


def toy_data(n: int = 192) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(0)
    x = torch.rand(n, 1, 8, 8, generator=g)
    return x, (x[:, 0, :4].mean((1, 2)) > x[:, 0, 4:].mean((1, 2))).long()


def test_a_batchnorm_model_is_refused_with_the_reason_and_the_fix():
    with pytest.raises(ValueError, match=r"(?s)BatchNorm cannot support training with differential privacy.*"
                                         r"make_model\(batch_norm=False\).*GroupNorm"):
        private.check_private_model(make_model(seed=0, batch_norm=True, **MODEL))
    x, y = toy_data()
    with pytest.raises(ValueError, match="Opacus refuses it"):
        private_population.train_private_population((x, y), size=2, recipe=RECIPE, cache=False, progress=False,
                                                    privacy=private.PrivacySettings(noise_multiplier=1.0),
                                                    model_kwargs={"batch_norm": True})


def test_bad_settings_are_named():
    for kwargs, name in (({"noise_multiplier": 0.0}, "noise_multiplier"), ({"noise_multiplier": 1.0, "max_grad_norm": 0.0},
                         "max_grad_norm"), ({"noise_multiplier": 1.0, "delta": 1.0}, "delta")):
        with pytest.raises(ValueError, match=name):
            private.PrivacySettings(**kwargs)
    x, y = toy_data()
    with pytest.raises(ValueError, match="augment_hardest must be 0"):
        private.train_private(make_model(seed=0, **MODEL), x, y, privacy=private.PrivacySettings(noise_multiplier=1.0),
                              recipe=TrainingRecipe(epochs=1, flip=True, augment_hardest=0.5))


def test_the_same_seed_trains_the_same_model_and_another_seed_another():
    x, y = toy_data()
    settings = private.PrivacySettings(noise_multiplier=1.0)
    runs = [private.train_private(make_model(seed=0, **MODEL), x, y, recipe=RECIPE, privacy=settings, seed=s)
            for s in (3, 3, 4)]
    same = [torch.equal(a, b) for a, b in zip(runs[0][0].state_dict().values(), runs[1][0].state_dict().values())]
    assert all(same)
    assert not torch.equal(predict_logits(runs[0][0], x), predict_logits(runs[2][0], x))
    assert not any(hasattr(p, "grad_sample") for p in runs[0][0].parameters())  # Opacus' traces are removed
    assert not any(m._forward_hooks or m._backward_hooks or m._forward_pre_hooks for m in runs[0][0].modules())


@pytest.mark.parametrize("n, sigma", [(192, 0.8), (93 * 2, 2.0)])  # 93 batches: Opacus would make 92
def test_epsilon_is_the_accountants_for_the_steps_actually_taken(n, sigma, monkeypatch):
    from opacus import PrivacyEngine
    from opacus.accountants import RDPAccountant

    x, y = toy_data(n)
    recipe = TrainingRecipe(epochs=2, batch_size=2 if n == 186 else 32, lr=3e-3)
    engines = []
    original = PrivacyEngine.make_private

    def spy(self, **kwargs):
        engines.append(self)
        return original(self, **kwargs)

    monkeypatch.setattr(PrivacyEngine, "make_private", spy)
    settings = private.PrivacySettings(noise_multiplier=sigma, delta=1e-3)
    _, epsilon = private.train_private(make_model(seed=0, **MODEL), x, y, recipe=recipe, privacy=settings)
    batches = math.ceil(n / recipe.batch_size)
    history = engines[0].accountant.history  # [(noise multiplier, sampling rate, steps)] as the run went
    assert sum(taken for _, _, taken in history) == recipe.epochs * batches == recipe.steps(n)  # every step taken
    accountant = RDPAccountant()
    accountant.history.append((sigma, 1 / batches, recipe.epochs * batches))
    assert epsilon == pytest.approx(accountant.get_epsilon(delta=1e-3), rel=1e-9)
    followed = engines[0].get_epsilon(1e-3)  # the accountant that followed the run
    if n == 186:  # Opacus takes its rate from its own (one short) batch count: a slightly larger, safe epsilon
        assert epsilon < followed < 1.02 * epsilon
    else:
        assert followed == pytest.approx(epsilon, rel=1e-9)


def test_more_noise_spends_less_privacy():
    x, y = toy_data()
    epsilons = [private.train_private(make_model(seed=0, **MODEL), x, y, recipe=RECIPE,
                                      privacy=private.PrivacySettings(noise_multiplier=s))[1] for s in (0.7, 1.5)]
    assert epsilons[0] > epsilons[1] > 0


def test_a_private_population_is_its_members_trained_alone_each_with_its_epsilon_and_is_cached(monkeypatch):
    x, y = toy_data()
    settings = private.PrivacySettings(noise_multiplier=1.2)
    pop, epsilon = private_population.train_private_population((x, y), size=2, seeds=[5, 6], recipe=RECIPE,
                                                               privacy=settings, progress=False)
    assert pop.level == 0.0 and pop.seeds == (5, 6) and epsilon == private.privacy_spent(settings, n=len(y), recipe=RECIPE)
    for seed, member in zip(pop.seeds, pop.models()):
        alone, spent = private.train_private(make_model(seed=seed, **MODEL), x, y, recipe=RECIPE, privacy=settings,
                                             seed=seed)
        torch.testing.assert_close(predict_logits(member, x), predict_logits(alone, x), rtol=0, atol=0)
        assert spent == epsilon
    monkeypatch.setattr(private_population, "train_private", lambda *a, **k: pytest.fail("retrained a cached member"))
    again, _ = private_population.train_private_population((x, y), size=2, seeds=[5, 6], recipe=RECIPE,
                                                           privacy=settings, progress=False)
    for a, b in zip(pop.state_dicts, again.state_dicts):
        assert all(torch.equal(a[name], b[name]) for name in a)
    # delta changes the epsilon reported, not the members: still loaded from the cache
    _, looser = private_population.train_private_population((x, y), size=2, seeds=[5, 6], recipe=RECIPE,
                                                            privacy=private.PrivacySettings(noise_multiplier=1.2,
                                                                                            delta=1e-2),
                                                            progress=False)
    assert looser < epsilon
    assert re.fullmatch(r"\d+\.\d+\.\d+", pop.config["opacus"])
