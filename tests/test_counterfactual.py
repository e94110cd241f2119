"""Tests of the counterfactual twins of the synthetic CelebA faces (:func:`counterfactual_synthetic_celeba`)."""

from __future__ import annotations

import hashlib
import re

import numpy as np
import pandas as pd
import pytest
import torch

from course_lib import data
from course_lib.data import synthetic
from course_lib.data.faces import RenderOptions
from course_lib.data.synthetic import counterfactual_synthetic_celeba, flip_attribute, load_synthetic_celeba

N = 300
HARD = {"noisy_rate": 0.1, "atypical_rate": 0.2}  # every kind of rendering, in a small pool
DEFAULT_OPTIONS = RenderOptions(image_size=32, hair_shift=0.5, hair_spread=0.2, pixel_noise=0.1, illumination=0.2,
                                beard_strength=0.8, age_texture=0.35, noisy_rate=0.02, atypical_rate=0.02)

# The widest reach of what each flip changes, in the [-1, 1] coordinates of faces._draw: the face
# centre |cx| <= 0.12 and half-width rx <= 0.52 (faces._appearance). Flipping "male" changes the
# hair ellipse (half-width (1 + 0.25 * hair_volume) * rx, hair_volume <= 1.2) and, inside the
# face, the hairline and the stubble; flipping "young" the wrinkles, inside the face. A soft mask
# reaches half a pixel beyond its ellipse. Pixels farther from the centre line are identical.
REACH = {"male": 0.12 + (1 + 0.25 * 1.2) * 0.52, "young": 0.12 + 0.52}


def as_uint8(images: torch.Tensor) -> np.ndarray:
    """The rendered bytes back from the float images of an ``ImageDataset``."""
    return (images * 255).round().to(torch.uint8).numpy()


@pytest.mark.parametrize("flip", synthetic.PROTECTED_ATTRIBUTES)
@pytest.mark.parametrize("split", ["train", "test"])
def test_the_twin_differs_only_in_the_flipped_column(flip, split):
    original = load_synthetic_celeba(split=split, n=N, seed=1)
    twin = counterfactual_synthetic_celeba(flip=flip, split=split, n=N, seed=1)
    assert (twin.name, twin.split, twin.classes) == (original.name, original.split, original.classes)
    assert twin.images.shape == original.images.shape
    assert torch.equal(twin.targets, original.targets)
    assert list(twin.example_ids) == [f"{example_id}~{flip}" for example_id in original.example_ids]
    assert twin.example_ids.name == "example_id"
    assert (twin.attributes[flip].to_numpy() == ~original.attributes[flip].to_numpy()).all()
    others = [column for column in original.attributes.columns if column != flip]
    assert list(twin.attributes.columns) == list(original.attributes.columns)
    pd.testing.assert_frame_equal(twin.attributes[others].reset_index(drop=True),
                                  original.attributes[others].reset_index(drop=True))
    assert twin.attributes[flip].dtype == bool


@pytest.mark.parametrize("flip", synthetic.PROTECTED_ATTRIBUTES)
def test_the_pixels_differ_only_where_the_flipped_attribute_is_drawn(flip):
    original = load_synthetic_celeba(split="all", n=N, **HARD)
    twin = counterfactual_synthetic_celeba(flip=flip, split="all", n=N, **HARD)
    a, b = as_uint8(original.images), as_uint8(twin.images)
    assert (a != b).any(axis=(1, 2, 3)).all(), "every face must change"
    size = a.shape[-1]
    pixel = 2 / size
    axis = np.linspace(-1 + pixel / 2, 1 - pixel / 2, size)
    far = np.abs(axis) > REACH[flip] + pixel / 2 + 1e-6  # symmetric, so rotations map it onto itself
    assert far.sum() >= 4
    rotated = (original.attributes["rendering"] == "rotated").to_numpy()  # a quarter turn: columns become rows
    kinds = set(original.attributes["rendering"])
    assert {"typical", "rotated", "upside-down", "occluded", "recoloured", "corrupted"} <= kinds
    assert np.array_equal(a[~rotated][..., far], b[~rotated][..., far])
    assert np.array_equal(a[rotated][:, :, far, :], b[rotated][:, :, far, :])
    assert not np.array_equal(a[..., ~far], b[..., ~far])


@pytest.mark.parametrize("flip", synthetic.PROTECTED_ATTRIBUTES)
def test_the_twin_of_the_twin_is_the_original(flip, monkeypatch):
    original = synthetic.build_pool(N, 2, DEFAULT_OPTIONS)
    once = synthetic.flip_attribute
    monkeypatch.setattr(synthetic, "flip_attribute", lambda table, name: once(once(table, name), name))
    twice = synthetic.build_pool(N, 2, DEFAULT_OPTIONS, flip=flip)  # rendered from the twin's table, flipped back
    assert torch.equal(twice["images"], original["images"])
    assert torch.equal(twice["targets"], original["targets"])
    pd.testing.assert_frame_equal(twice["attributes"], original["attributes"])


def test_flips_are_involutions_and_commute():
    table = load_synthetic_celeba(split="all", n=N).attributes
    pd.testing.assert_frame_equal(flip_attribute(flip_attribute(table, "male"), "male"), table)
    both = flip_attribute(flip_attribute(table, "male"), "young")
    pd.testing.assert_frame_equal(both, flip_attribute(flip_attribute(table, "young"), "male"))
    assert both.index[0] == "syn-000000~male~young"
    assert table.index[0] == "syn-000000"  # the input is not modified


def test_twins_concatenate_with_their_originals():
    original = load_synthetic_celeba(split="train", n=N)
    twin = counterfactual_synthetic_celeba(flip="male", split="train", n=N)
    augmented = data.concat([original, twin], split="train")
    assert len(augmented) == 2 * len(original)
    assert augmented.example_ids.is_unique
    assert augmented.attributes["male"].mean() == pytest.approx(0.5)


def test_the_twins_have_their_own_cache_entry(_isolated_cache, monkeypatch):
    original = load_synthetic_celeba(split="all", n=N)
    twin = counterfactual_synthetic_celeba(flip="male", split="all", n=N)
    assert len(list(_isolated_cache.rglob("*.*"))) == 2
    monkeypatch.setattr(synthetic, "build_pool", lambda *args, **kwargs: pytest.fail("rebuilt a cached pool"))
    assert torch.equal(counterfactual_synthetic_celeba(flip="male", split="all", n=N).images, twin.images)
    assert torch.equal(load_synthetic_celeba(split="all", n=N).images, original.images)
    assert not torch.equal(twin.images, original.images)


@pytest.mark.parametrize(("flip", "error", "message"), [
    ("blond", ValueError, "flip must be one of ['male', 'young'], got 'blond'"),
    ("Male", ValueError, "flip must be one of ['male', 'young'], got 'Male'"),
    (None, ValueError, "flip must be one of ['male', 'young'], got None (NoneType)"),
])
def test_a_bad_flip_is_named(flip, error, message):
    with pytest.raises(error, match=f"^{re.escape(message)}$"):
        counterfactual_synthetic_celeba(flip=flip, n=N)
    with pytest.raises(error, match=f"^{re.escape(message)}$"):
        flip_attribute(load_synthetic_celeba(split="all", n=N).attributes, flip)


def test_other_options_are_checked_as_by_load_synthetic_celeba():
    with pytest.raises(ValueError, match=re.escape("split must be one of ['train', 'test', 'all'], got 'val'")):
        counterfactual_synthetic_celeba(split="val", n=N)
    with pytest.raises(ValueError, match=re.escape("pixel_noise must be a real number in [0, inf), got -1")):
        counterfactual_synthetic_celeba(pixel_noise=-1, n=N)


def test_the_original_pool_is_unchanged():
    """The pool of seed 0, n=300, byte for byte as rendered before counterfactuals existed."""
    pool = synthetic.build_pool(N, 0, DEFAULT_OPTIONS)
    table = pool["attributes"]
    digest = hashlib.sha256()
    digest.update(pool["images"].numpy().tobytes())
    digest.update(pool["targets"].numpy().tobytes())
    digest.update("\n".join(table.index).encode())
    digest.update(table.drop(columns="rendering").to_numpy(bool).tobytes())
    digest.update(table["rendering"].cat.codes.to_numpy(np.int8).tobytes())
    assert digest.hexdigest() == "c68b287c786a761f8621f724ab1639c8f941d4d0eb73abd48c3668cfcd4142b1"
    loaded = load_synthetic_celeba(split="all", n=N)
    assert np.array_equal(as_uint8(loaded.images), pool["images"].numpy())


def test_counterfactual_substitution_swaps_about_half_the_faces_for_their_twins(tmp_path, monkeypatch):
    """Each face of the smoke training set is kept or replaced by its twin; sex is flipped exactly where swapped."""
    monkeypatch.setenv("COURSE_CACHE_DIR", str(tmp_path))
    from course_lib.book import experiments

    train, _ = experiments.synthetic_celeba("smoke")
    substituted = experiments.counterfactual_substituted("smoke")
    swapped = substituted.attributes.index.str.endswith("~male")
    assert 0.45 < swapped.mean() < 0.55
    assert torch.equal(substituted.targets, train.targets)
    assert (substituted.attributes.male.to_numpy() == (train.attributes.male.to_numpy() ^ swapped)).all()
    assert torch.equal(substituted.images[~swapped], train.images[~swapped])
    assert not torch.equal(substituted.images[swapped], train.images[swapped])
    again = experiments.counterfactual_substituted("smoke")
    assert torch.equal(again.images, substituted.images)
