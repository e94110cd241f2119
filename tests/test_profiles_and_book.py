from __future__ import annotations

import subprocess
import sys

import pandas as pd
import pytest
import torch

from course_lib import book
from course_lib.core import profiles


def test_three_profiles_grow_in_scale():
    smoke, course, full = (profiles.get_profile(n) for n in ("smoke", "course", "full"))
    assert smoke.n_train < course.n_train and full.n_train is None
    assert smoke.population_size < course.population_size < full.population_size == 30
    assert all(0 <= s < 1 for p in (smoke, course, full) for s in p.sparsities)
    assert not smoke.check_claims and course.check_claims and full.check_claims


def test_faces_get_their_own_recipe_epochs_and_levels():
    from course_lib.book import experiments
    for name in ("smoke", "course", "full"):
        profile = profiles.get_profile(name)
        plain, faces = experiments.recipe(profile), experiments.recipe(profile, "utkface")
        assert (plain.epochs, plain.flip, plain.crop_padding) == (profile.epochs, False, 0)
        assert (faces.epochs, faces.lr_schedule, faces.flip, faces.crop_padding) == (
            profile.face_epochs, "one-cycle", True, 2)
        assert profile.face_levels[0] == 0.0 and 0.95 in profile.face_levels
    assert experiments.MODELS["utkface"]["batch_norm"] is True
    assert profiles.get_profile("course").face_n_train is None  # the whole training split
    assert set(profiles.get_profile("course").face_levels) < set(profiles.get_profile("full").face_levels)
    with pytest.raises(ValueError, match=r"levels must hold 0.0, got \[0.9\]"):
        experiments.populations("smoke", None, levels=[0.9], with_control=True)


def test_unknown_profile_names_the_choices():
    with pytest.raises(ValueError, match=r"profile must be one of \['course', 'full', 'smoke'\], got 'fast'"):
        profiles.get_profile("fast")


def test_full_profile_uses_the_gpu_when_there_is_one():
    full = profiles.get_profile("full")
    assert full.torch_device.type == ("cuda" if torch.cuda.is_available() else "cpu")
    assert profiles.get_profile("smoke").torch_device == torch.device("cpu")


def test_check_claim_raises_only_when_the_profile_checks_claims():
    assert book.check_claim("smoke", False, "x") is False
    assert book.check_claim("course", True, "x") is True
    with pytest.raises(AssertionError, match="The data no longer support the claim: PIE accuracy is low"):
        book.check_claim("course", False, "PIE accuracy is low")


def test_importing_the_package_does_no_heavy_work():
    code = ("import sys, course_lib; heavy = {'torch', 'pandas', 'torchvision', 'matplotlib'} & set(sys.modules);"
            "print(sorted(heavy))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_finetuned_populations_are_paired_with_the_baseline(tmp_path, monkeypatch):
    from course_lib.book import experiments
    from course_lib.data import ImageDataset
    from course_lib.populations import quantize_population
    monkeypatch.setenv("COURSE_CACHE_DIR", str(tmp_path))
    g = torch.Generator().manual_seed(0)
    n = 640  # a few batches of the smoke profile: room for a pruning window
    train = ImageDataset("toy", "train", torch.rand(n, 1, 8, 8, generator=g), torch.arange(n) % 2,
                         pd.DataFrame(index=[str(i) for i in range(n)]), ("a", "b"))
    made = experiments.finetuned_populations("smoke", train, levels=[0.0, 0.5, "int8-tensor"])
    baseline = experiments.populations("smoke", train, levels=[0.0])[0.0]
    smoke = profiles.get_profile("smoke")
    for level in (0.0, 0.5):
        assert made[level].seeds == experiments.seeds(smoke, "compressed")
        assert made[level].config["epochs"] == smoke.face_finetune_epochs
    assert made[0.0].config["start"] == made[0.5].config["start"]  # the same starts, hence pairs
    assert made[0.5].sparsities() == pytest.approx([0.5] * smoke.population_size, abs=0.02)
    expected = quantize_population(baseline, "int8-tensor")
    assert all(torch.equal(a, b) for s, t in zip(made["int8-tensor"].state_dicts, expected.state_dicts)
               for a, b in zip(s.values(), t.values()))
    with pytest.raises(ValueError, match=r"levels must hold 0.0 \(the fine-tuned control\), got \[0.5\]"):
        experiments.finetuned_populations("smoke", train, levels=[0.5])


def test_every_profile_compares_plain_pruning_with_remedies_and_full_runs_them_all():
    from course_lib.book import experiments
    for name in ("smoke", "course", "full"):
        chosen = profiles.get_profile(name).face_remedies
        assert chosen[0] == "pruning" and set(chosen) <= set(experiments.REMEDIES) and len(chosen) >= 3
    assert profiles.get_profile("full").face_remedies == experiments.REMEDIES
    assert profiles.get_profile("smoke").face_remedies == experiments.REMEDIES
    with pytest.raises(ValueError, match="methods must be one of"):
        experiments.remedied_populations("smoke", None, level=0.95, methods=["dropout"])
