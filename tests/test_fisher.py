"""fisher_trace against a brute-force loop over examples and classes; population_fisher over checkpoints."""

from __future__ import annotations

import re

import pandas as pd
import pytest
import torch
from torch import nn

from course_lib.analysis import fisher
from course_lib import training
from course_lib.compression import masks
from course_lib.populations import population
from course_lib.training import models


def _brute_force(model: nn.Module, images: torch.Tensor, targets: torch.Tensor | None = None) -> float:
    """One backward pass per (example, class): the definition, term by term."""
    model.eval()
    total = 0.0
    for i, x in enumerate(images):
        classes = range(model(x[None]).shape[1]) if targets is None else [int(targets[i])]
        for y in classes:
            model.zero_grad()
            log_p = torch.log_softmax(model(x[None]), dim=1)[0, y]
            log_p.backward()
            squared = sum(float(p.grad.pow(2).sum()) for p in model.parameters() if p.grad is not None)
            total += squared * (float(log_p.detach().exp()) if targets is None else 1.0)
    return total / len(images)


def _mlp() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(3, 4), nn.Tanh(), nn.Linear(4, 3))


IMAGES = torch.randn(5, 3, generator=torch.Generator().manual_seed(1))
TARGETS = torch.tensor([0, 2, 1, 1, 0])


@pytest.mark.parametrize("batch_size", [1, 2, 32])
def test_the_true_fisher_equals_the_sum_over_examples_and_classes(batch_size):
    model = _mlp()
    assert fisher.fisher_trace(model, IMAGES, batch_size=batch_size) == pytest.approx(_brute_force(model, IMAGES),
                                                                                       rel=1e-5)


def test_the_empirical_fisher_uses_the_true_labels():
    model = _mlp()
    assert fisher.fisher_trace(model, IMAGES, TARGETS, empirical=True) == pytest.approx(
        _brute_force(model, IMAGES, TARGETS), rel=1e-5)


def test_a_pruned_model_counts_only_its_kept_weights():
    model = _mlp()
    masks.set_mask(model[0], torch.tensor([[1, 0, 1], [0, 1, 0], [1, 1, 1], [0, 0, 1]], dtype=torch.bool))
    # the brute force differentiates weight_orig, whose gradient the mask zeroes where it prunes
    assert fisher.fisher_trace(model, IMAGES) == pytest.approx(_brute_force(model, IMAGES), rel=1e-5)
    assert hasattr(model[0], "weight_mask")  # the model itself is left pruned


def test_a_batchnorm_cnn_is_evaluated_with_its_running_statistics():
    model = models.make_model(in_channels=1, num_classes=3, image_size=8, seed=0, channels=(2, 2), hidden=4,
                              batch_norm=True)
    model.train()
    model(torch.randn(8, 1, 8, 8))  # move the running statistics away from their initial values
    images = torch.randn(3, 1, 8, 8, generator=torch.Generator().manual_seed(2))
    assert fisher.fisher_trace(model, images) == pytest.approx(_brute_force(model, images), rel=1e-4)


def test_the_contributions_are_each_examples_term_and_average_to_the_trace():
    model = _mlp()
    terms = fisher.fisher_contributions(model, IMAGES, batch_size=2)
    assert terms.shape == (len(IMAGES),)
    for i in range(len(IMAGES)):
        assert float(terms[i]) == pytest.approx(_brute_force(model, IMAGES[i:i + 1]), rel=1e-5)
    assert fisher.fisher_trace(model, IMAGES) == pytest.approx(float(terms.double().mean()), rel=1e-6)


def test_missing_labels_and_empty_batches_are_refused():
    with pytest.raises(ValueError, match="targets must be the"):
        fisher.fisher_trace(_mlp(), IMAGES, empirical=True)
    with pytest.raises(ValueError, match="images must be a non-empty batch"):
        fisher.fisher_trace(_mlp(), IMAGES[:0])


def test_population_fisher_measures_each_member_at_each_checkpoint_and_caches_it():
    x = torch.randn(64, 1, 8, 8, generator=torch.Generator().manual_seed(0))
    y = (x.mean((1, 2, 3)) > 0).long()
    pop = population.train_population((x, y), size=2, seeds=[3, 4], recipe=training.TrainingRecipe(epochs=2),
                                      checkpoint_epochs=(0, 2), progress=False)
    table = fisher.population_fisher(pop, x[:6], epochs=[2, 0], members=1)
    assert table[["member", "seed", "epoch"]].values.tolist() == [[0, 3, 0], [0, 3, 2]]
    for epoch, value in zip((0, 2), table.fisher):
        assert value == pytest.approx(fisher.fisher_trace(pop.models(epoch=epoch)[0], x[:6]), rel=1e-6)
    pd.testing.assert_frame_equal(fisher.population_fisher(pop, x[:6], epochs=[0, 2], members=1), table)
    assert len(fisher.population_fisher(pop, x[:6], epochs=[2], cache=False)) == 2
    with pytest.raises(ValueError, match=re.escape("epochs must be checkpoint epochs of the population, [0, 2], got [1]")):
        fisher.population_fisher(pop, x[:6], epochs=[1])
    with pytest.raises(ValueError, match="members"):
        fisher.population_fisher(pop, x[:6], epochs=[0], members=3)
