"""linear_path against models built and evaluated one point at a time."""

from __future__ import annotations

import pytest
import torch

from course_lib.analysis import interpolation
from course_lib.compression import masks
from course_lib.training import models


def _model(seed: int, **kwargs) -> torch.nn.Module:
    return models.make_model(in_channels=1, num_classes=3, image_size=8, seed=seed, channels=(2, 3), hidden=5, **kwargs)

IMAGES = torch.randn(7, 1, 8, 8, generator=torch.Generator().manual_seed(0))
TARGETS = torch.tensor([0, 1, 2, 2, 1, 0, 0])

def _point(start, end, alpha):
    """The model at ``alpha`` built by hand from the two state dicts, and its loss and accuracy."""
    a, b = masks.effective_state(start.state_dict()), masks.effective_state(end.state_dict())
    model = masks.export_pruned(end).eval()
    model.load_state_dict({k: (1 - alpha) * a[k] + alpha * b[k] if b[k].is_floating_point() else b[k] for k in b})
    with torch.no_grad():
        out = model(IMAGES)
    return float(torch.nn.functional.cross_entropy(out, TARGETS)), float((out.argmax(1) == TARGETS).float().mean())

@pytest.mark.parametrize("kwargs", [{}, {"batch_norm": True}])
def test_every_point_of_the_path_is_the_interpolated_model(kwargs):
    start, end = _model(0, **kwargs), _model(1, **kwargs)
    if kwargs:
        end.train()
        end(torch.randn(16, 1, 8, 8))  # running statistics of the two ends differ
    path = interpolation.linear_path(start, end, IMAGES, TARGETS, alphas=[0.0, 0.3, 1.0, 1.5], batch_size=3)
    assert path.alpha.tolist() == pytest.approx([0.0, 0.3, 1.0, 1.5])
    for row in path.itertuples():
        loss, accuracy = _point(start, end, row.alpha)
        assert row.loss == pytest.approx(loss, rel=1e-5) and row.accuracy == pytest.approx(accuracy)

def test_pruned_ends_enter_with_their_masks_folded_in():
    start, end = _model(0), _model(1)
    for model in (start, end):
        for name, mask in masks.magnitude_masks(masks.effective_weights(model), 0.5, scope="layer").items():
            masks.set_mask(dict(masks.prunable_parameters(model))[name], mask)
    unpruned_end = masks.export_pruned(end)
    path = interpolation.linear_path(start, end, IMAGES, TARGETS, alphas=[0.5])
    assert path.loss.item() == pytest.approx(_point(start, end, 0.5)[0], rel=1e-5)
    assert torch.equal(masks.export_pruned(end).state_dict()["classifier.weight"],
                       unpruned_end.state_dict()["classifier.weight"])  # the ends are not modified

def test_different_architectures_and_bad_targets_are_refused():
    other = models.make_model(in_channels=1, num_classes=3, image_size=8, seed=0, channels=(2, 4), hidden=5)
    with pytest.raises(ValueError, match="same architecture"):
        interpolation.linear_path(_model(0), other, IMAGES, TARGETS)
    with pytest.raises(ValueError, match="targets must have shape"):
        interpolation.linear_path(_model(0), _model(1), IMAGES, TARGETS[:3])
    with pytest.raises(ValueError, match="alphas must hold"):
        interpolation.linear_path(_model(0), _model(1), IMAGES, TARGETS, alphas=[])
