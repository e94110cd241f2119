"""Sparse initialisations for training from scratch with a fixed mask (Evci et al. 2022; rigl_tf2/init_utils.py)."""

from __future__ import annotations

import pytest
import torch

from course_lib.compression import masks, sparse_init
from course_lib.training import models

MASK = torch.tensor([[1, 1, 0, 0], [1, 0, 0, 0], [0, 0, 0, 0]], dtype=torch.bool)  # (out 3, in 4)


@pytest.mark.parametrize("mode, expected", [
    ("fanin", [[1 / 2, 1 / 2, 0, 0], [1, 0, 0, 0], [0, 0, 0, 0]]),  # fan-in of the rows: 2, 1, 0
    ("fanout", [[1 / 2, 1, 0, 0], [1 / 2, 0, 0, 0], [0, 0, 0, 0]]),  # fan-out of the columns: 2, 1, 0, 0
    ("fanavg", [[1 / 2, 2 / 3, 0, 0], [2 / 3, 0, 0, 0], [0, 0, 0, 0]]),
])
def test_unit_variances_count_the_kept_connections_of_both_units(mode, expected):
    expected = torch.tensor(expected)
    assert torch.allclose(sparse_init.unit_variances(MASK, mode=mode, scale=1.0), expected)
    assert torch.allclose(sparse_init.unit_variances(MASK, mode=mode, scale=2.0), 2 * expected)


def test_convolution_fans_sum_over_the_kernel():
    mask = torch.zeros(2, 3, 2, 2, dtype=torch.bool)
    mask[0, 0] = True  # output 0 keeps the four kernel taps of input 0
    mask[0, 1, 0, 0] = True
    mask[1, 1, 1, 1] = True
    variance = sparse_init.unit_variances(mask, mode="fanin")
    assert variance[0, 0, 0, 0] == pytest.approx(1 / 5) and variance[1, 1, 1, 1] == pytest.approx(1.0)
    out = sparse_init.unit_variances(mask, mode="fanout")
    assert out[0, 0, 0, 0] == pytest.approx(1 / 4) and out[0, 1, 0, 0] == pytest.approx(1 / 2)
    assert (variance[~mask] == 0).all()


@pytest.mark.parametrize("distribution", sparse_init.DISTRIBUTIONS)
def test_unit_scaled_weights_have_the_variance_of_the_formula(distribution):
    generator = torch.Generator().manual_seed(0)
    draws = torch.stack([sparse_init.unit_scaled_weight(MASK, distribution=distribution, generator=generator)
                         for _ in range(20_000)])
    expected = sparse_init.unit_variances(MASK)
    assert torch.allclose(draws.var(0), expected, rtol=0.05, atol=1e-12)
    assert torch.allclose(draws.mean(0), torch.zeros_like(expected), atol=0.02)
    assert (draws[:, ~MASK] == 0).all()


def test_layer_scaled_weights_are_a_dense_draw_over_the_root_density():
    density = MASK.float().mean()  # 3 of 12
    dense = sparse_init.unit_scaled_weight(torch.ones(3, 4, dtype=torch.bool), generator=torch.Generator().manual_seed(2))
    layer = sparse_init.layer_scaled_weight(MASK, generator=torch.Generator().manual_seed(2))
    assert torch.equal(layer, dense * MASK / density.sqrt())
    # the dense draw's variance is 1 / fan_avg of the layer's shape: (3 + 4) / 2 for every weight
    draws = torch.stack([sparse_init.layer_scaled_weight(MASK, distribution="normal", generator=torch.Generator().manual_seed(s))
                         for s in range(20_000)])
    assert torch.allclose(draws[:, MASK].var(0), torch.full((int(MASK.sum()),), 1 / 3.5 / density), rtol=0.05)
    with pytest.raises(ValueError, match="at least one weight"):
        sparse_init.layer_scaled_weight(torch.zeros(3, 4, dtype=torch.bool))


def _model():
    return models.make_model(in_channels=1, num_classes=3, image_size=8, seed=0, channels=(4, 4), hidden=8)


def _masks(model):
    return masks.magnitude_masks(masks.effective_weights(model), 0.8, scope="layer")


@pytest.mark.parametrize("init", sparse_init.INITS)
def test_a_sparse_start_keeps_pruned_weights_exactly_zero_through_training(init):
    model = _model()
    layer_masks = _masks(model)
    sparse_init.initialise_sparse(model, layer_masks, init=init, generator=torch.Generator().manual_seed(1))
    optimizer = torch.optim.SGD(model.parameters(), lr=0.5, momentum=0.9, weight_decay=1e-3)
    images, targets = torch.randn(16, 1, 8, 8), torch.randint(0, 3, (16,))
    for _ in range(5):
        optimizer.zero_grad()
        torch.nn.functional.cross_entropy(model(images), targets).backward()
        for name, module in masks.prunable_parameters(model):
            assert (module.weight_orig.grad[~layer_masks[name]] == 0).all()  # gradients included
        optimizer.step()
    for name, weight in masks.effective_weights(model).items():
        assert (weight[~layer_masks[name]] == 0).all() and weight[layer_masks[name]].abs().sum() > 0


def test_the_three_initialisations_differ_as_documented():
    dense_weights = masks.effective_weights(_model())
    layer_masks = _masks(_model())
    started = {init: masks.effective_weights(sparse_init.initialise_sparse(
        _model(), layer_masks, init=init, generator=torch.Generator().manual_seed(1))) for init in sparse_init.INITS}
    for name, mask in layer_masks.items():
        assert torch.equal(started["dense"][name], dense_weights[name] * mask)
        assert not torch.equal(started["layer-scaled"][name], started["dense"][name] / mask.float().mean().sqrt())
        assert (started["layer-scaled"][name][~mask] == 0).all()
        assert not torch.equal(started["unit-scaled"][name], started["dense"][name])


def test_bad_masks_and_options_are_refused_with_the_argument_named():
    model = _model()
    with pytest.raises(ValueError, match="layer_masks must name prunable layers"):
        sparse_init.initialise_sparse(model, {"nope": MASK}, init="dense")
    name = next(iter(_masks(model)))
    with pytest.raises(ValueError, match=rf"layer_masks\['{name}'\] must have the shape"):
        sparse_init.initialise_sparse(model, {name: MASK}, init="dense")
    with pytest.raises(ValueError, match="init must be one of"):
        sparse_init.initialise_sparse(model, {}, init="kaiming")
    with pytest.raises(ValueError, match="mode must be one of"):
        sparse_init.unit_variances(MASK, mode="fan_in")
