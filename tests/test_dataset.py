from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch

from course_lib import data
from course_lib.data.dataset import ImageDataset, concat, seeded_test_mask


def make(n: int = 10, classes: int = 2) -> ImageDataset:
    ids = pd.Index([f"ex-{i}" for i in range(n)], name="example_id")
    return ImageDataset("toy", "train", torch.rand(n, 1, 4, 4), torch.arange(n) % classes,
                        pd.DataFrame({"i": range(n)}, index=ids), tuple(f"c{c}" for c in range(classes)))


def test_shape_is_validated():
    with pytest.raises(ValueError, match=r"images must have shape \(N, C, H, W\), got \(3, 4, 4\)"):
        ImageDataset("t", "train", torch.rand(3, 4, 4), torch.zeros(3, dtype=torch.long), pd.DataFrame(index=range(3)), ("a",))
    with pytest.raises(ValueError, match=r"attributes must have one row per image \(3\), got 2"):
        ImageDataset("t", "train", torch.rand(3, 1, 4, 4), torch.zeros(3, dtype=torch.long), pd.DataFrame(index=range(2)), ("a",))
    with pytest.raises(ValueError, match=r"targets must lie in \[0, 1\)"):
        ImageDataset("t", "train", torch.rand(3, 1, 4, 4), torch.ones(3, dtype=torch.long), pd.DataFrame(index=range(3)), ("a",))


def test_subset_keeps_ids_and_order():
    ds = make().subset([7, 2])
    assert list(ds.example_ids) == ["ex-7", "ex-2"]
    assert ds.targets.tolist() == [1, 0]


def test_stratified_sample_keeps_class_shares_and_is_seeded():
    ds = make(n=100, classes=4)
    s = ds.sample(20, seed=3)
    assert len(s) == 20 and s.targets.bincount().tolist() == [5, 5, 5, 5]
    assert list(s.example_ids) == list(ds.sample(20, seed=3).example_ids)
    assert list(s.example_ids) != list(ds.sample(20, seed=4).example_ids)
    assert ds.sample(None) is ds and ds.sample(1000) is ds
    with pytest.raises(ValueError, match="n must be an integer >= 1, got 0"):
        ds.sample(0)


def test_concat_and_seeded_split():
    both = concat([make(3), make(2)])
    assert len(both) == 5 and both.split == "all"
    mask = seeded_test_mask(10, test_fraction=0.3, seed=1)
    assert mask.sum() == 3 and np.array_equal(mask, seeded_test_mask(10, test_fraction=0.3, seed=1))
    with pytest.raises(ValueError, match=r"test_fraction must be a real number in \(0, 1\), got 1.5"):
        seeded_test_mask(10, test_fraction=1.5, seed=0)


def test_load_validates_name_and_split():
    with pytest.raises(ValueError, match=r"name must be one of \['fashion-mnist', .*\], got 'mnist'"):
        data.load("mnist")
    with pytest.raises(ValueError, match=r"split must be one of \['train', 'test', 'all'\], got 'valid'"):
        data.load("fashion-mnist", split="valid")
