from __future__ import annotations

import colorsys
import io

import numpy as np
import pandas as pd
import pytest
import torch
from scipy import stats as scipy_stats
from torchvision.transforms.v2 import functional as TF

from course_lib.analysis import robustness
from course_lib.populations import population
from course_lib.training import TrainingRecipe
from course_lib.analysis.robustness import CORRUPTIONS, SEVERITIES, SEVERITY_PARAMETERS, corrupt
from course_lib.data import ImageDataset

SETTINGS = [(c, s) for c in CORRUPTIONS for s in SEVERITIES]


def natural_images(n: int = 32, channels: int = 1, size: int = 28, seed: int = 0) -> torch.Tensor:
    """Smooth random images in [0, 1] with edges and flat areas, like small photos."""
    g = torch.Generator().manual_seed(seed)
    coarse = torch.rand(n, channels, size // 4, size // 4, generator=g)
    smooth = torch.nn.functional.interpolate(coarse, size=(size, size), mode="bilinear", align_corners=False)
    fine = torch.rand(n, channels, size, size, generator=g)
    return (0.8 * smooth + 0.2 * fine).clamp(0, 1)


def one_pixel_row(values, channels: int = 1) -> torch.Tensor:
    """A ``(1, C, 1, W)`` image from ``values`` (a list per channel for C > 1)."""
    return torch.tensor(values, dtype=torch.float32).reshape(1, channels, 1, -1)


# --------------------------------------------------------------------------- constants

def test_constants_are_those_of_make_cifar_c():
    assert CORRUPTIONS == ("gaussian_noise", "gaussian_blur", "contrast", "brightness", "jpeg")
    assert SEVERITIES == (1, 2, 3, 4, 5)
    assert dict(SEVERITY_PARAMETERS) == {
        "gaussian_noise": (0.04, 0.06, 0.08, 0.09, 0.10),
        "gaussian_blur": (0.4, 0.6, 0.7, 0.8, 1.0),
        "contrast": (0.75, 0.5, 0.4, 0.3, 0.15),
        "brightness": (0.05, 0.1, 0.15, 0.2, 0.3),
        "jpeg": (80, 65, 58, 50, 40),
    }
    with pytest.raises(TypeError):
        SEVERITY_PARAMETERS["jpeg"] = (1, 2, 3, 4, 5)  # read-only


# --------------------------------------------------------------------------- hand-made expectations

@pytest.mark.parametrize("severity", SEVERITIES)
def test_brightness_of_a_gray_image_adds_the_shift_exactly(severity):
    gray = torch.full((2, 1, 4, 4), 0.5)
    shift = SEVERITY_PARAMETERS["brightness"][severity - 1]
    out = corrupt(gray, corruption="brightness", severity=severity)
    assert torch.equal(out, gray + shift)
    bright = torch.full((1, 1, 2, 2), 0.9)  # 0.9 + 0.3 is clipped, like V in the script
    assert torch.equal(corrupt(bright, corruption="brightness", severity=5), torch.ones(1, 1, 2, 2))


def test_brightness_of_rgb_pixels_is_the_hsv_value_shift():
    image = one_pixel_row([[0.2, 0.0, 0.3], [0.4, 0.0, 0.3], [0.8, 0.0, 0.3]], channels=3)
    out = corrupt(image, corruption="brightness", severity=2)  # V += 0.1
    expected = [[0.225, 0.1, 0.4], [0.45, 0.1, 0.4], [0.9, 0.1, 0.4]]  # scaled by 0.9 / 0.8; black -> gray
    torch.testing.assert_close(out.reshape(3, 3), torch.tensor(expected), rtol=0, atol=1e-6)

    pixels = natural_images(n=4, channels=3, size=8)
    for severity in SEVERITIES:
        shift = SEVERITY_PARAMETERS["brightness"][severity - 1]
        out = corrupt(pixels, corruption="brightness", severity=severity)
        for rgb, got in zip(pixels.permute(0, 2, 3, 1).reshape(-1, 3).tolist(),
                            out.permute(0, 2, 3, 1).reshape(-1, 3).tolist()):
            h, s, v = colorsys.rgb_to_hsv(*rgb)
            assert got == pytest.approx(colorsys.hsv_to_rgb(h, s, min(v + shift, 1.0)), abs=1e-6)


def test_contrast_blends_with_the_mean_of_each_channel():
    out = corrupt(one_pixel_row([0.2, 0.6]), corruption="contrast", severity=1)  # mean 0.4, c = 0.75
    assert out.flatten().tolist() == pytest.approx([0.25, 0.55])
    rgb = one_pixel_row([[0.0, 1.0], [0.2, 0.4], [0.5, 0.5]], channels=3)
    out = corrupt(rgb, corruption="contrast", severity=5)  # c = 0.15, means 0.5, 0.3, 0.5
    expected = torch.tensor([[0.425, 0.575], [0.285, 0.315], [0.5, 0.5]])
    torch.testing.assert_close(out.reshape(3, 2), expected, rtol=0, atol=1e-6)
    gray = natural_images(8)
    for severity in SEVERITIES:  # one channel: what torchvision's adjust_contrast does too
        factor = SEVERITY_PARAMETERS["contrast"][severity - 1]
        torch.testing.assert_close(corrupt(gray, corruption="contrast", severity=severity),
                                   TF.adjust_contrast(gray, factor), rtol=0, atol=1e-6)


def test_blur_matches_scipy_gaussian_filter_with_nearest_borders():
    ndimage = pytest.importorskip("scipy.ndimage")
    images = natural_images(n=3, channels=3, size=12)
    for severity in SEVERITIES:
        sigma = SEVERITY_PARAMETERS["gaussian_blur"][severity - 1]
        expected = ndimage.gaussian_filter(images.double().numpy(), sigma=(0, 0, sigma, sigma),
                                           mode="nearest", truncate=4.0)  # skimage.filters.gaussian's defaults
        out = corrupt(images, corruption="gaussian_blur", severity=severity)
        np.testing.assert_allclose(out.numpy(), expected, atol=1e-6)
    flat = torch.full((1, 1, 5, 5), 0.3)
    torch.testing.assert_close(corrupt(flat, corruption="gaussian_blur", severity=5), flat)


@pytest.mark.parametrize("channels", [1, 3])
def test_jpeg_is_the_pil_round_trip_of_the_uint8_image(channels):
    from PIL import Image

    images = natural_images(n=4, channels=channels, size=32)
    pixels = (images * 255).round().to(torch.uint8)
    for severity in (1, 5):
        quality = SEVERITY_PARAMETERS["jpeg"][severity - 1]
        out = corrupt(images, corruption="jpeg", severity=severity)
        for image, got in zip(pixels.numpy(), out):
            buffer = io.BytesIO()
            pil = Image.fromarray(image[0] if channels == 1 else image.transpose(1, 2, 0))
            pil.save(buffer, "JPEG", quality=quality)  # as make_cifar_c.py does
            decoded = np.asarray(Image.open(buffer)).reshape(32, 32, channels).transpose(2, 0, 1)
            assert np.array_equal((got * 255).round().to(torch.uint8).numpy(), decoded)
            assert torch.equal(got, torch.from_numpy(decoded.copy()).float() / 255)


def test_noise_has_the_severity_standard_deviation_on_mid_gray():
    gray = torch.full((16, 1, 28, 28), 0.5)  # 0.5 +- 5 sigma stays inside [0, 1]: no clamping
    for severity in SEVERITIES:
        sigma = SEVERITY_PARAMETERS["gaussian_noise"][severity - 1]
        noise = corrupt(gray, corruption="gaussian_noise", severity=severity) - 0.5
        assert noise.std().item() == pytest.approx(sigma, rel=0.03)
        assert abs(noise.mean().item()) < 3 * sigma / noise.numel() ** 0.5 + 1e-6
    low = corrupt(gray, corruption="gaussian_noise", severity=1, seed=3) - 0.5
    high = corrupt(gray, corruption="gaussian_noise", severity=5, seed=3) - 0.5
    torch.testing.assert_close(high, low * (0.10 / 0.04))  # one draw z serves every severity


# --------------------------------------------------------------------------- general properties

@pytest.mark.parametrize("channels,size", [(1, 28), (3, 32)])
def test_shape_dtype_range_and_input_untouched(channels, size):
    images = natural_images(n=6, channels=channels, size=size)
    images[0] = 0.0
    images[1] = 1.0
    saved = images.clone()
    for corruption, severity in SETTINGS:
        out = corrupt(images, corruption=corruption, severity=severity)
        assert out.shape == images.shape and out.dtype == torch.float32
        assert out.min() >= 0 and out.max() <= 1, (corruption, severity)
        assert out.data_ptr() != images.data_ptr()
        assert torch.equal(images, saved), (corruption, severity)


def test_results_are_clamped_to_the_unit_interval():
    black, white = torch.zeros(4, 1, 8, 8), torch.ones(4, 1, 8, 8)
    for image in (black, white):
        out = corrupt(image, corruption="gaussian_noise", severity=5)
        assert out.min() >= 0 and out.max() <= 1
        assert (out == image).float().mean() > 0.3  # half the noise is clipped away
    assert torch.equal(corrupt(white, corruption="brightness", severity=5), white)
    assert torch.equal(corrupt(black, corruption="brightness", severity=5), torch.full_like(black, 0.3))


def test_noise_is_reproducible_from_its_seed_and_leaves_the_global_rng_alone():
    images = natural_images(8)
    state = torch.get_rng_state()
    first = corrupt(images, corruption="gaussian_noise", severity=3, seed=7)
    assert torch.equal(first, corrupt(images, corruption="gaussian_noise", severity=3, seed=7))
    assert not torch.equal(first, corrupt(images, corruption="gaussian_noise", severity=3, seed=8))
    for corruption, severity in SETTINGS:
        corrupt(images, corruption=corruption, severity=severity)
    assert torch.equal(torch.get_rng_state(), state)
    for corruption in CORRUPTIONS[1:]:  # deterministic: the seed does not matter
        assert torch.equal(corrupt(images, corruption=corruption, severity=2, seed=0),
                           corrupt(images, corruption=corruption, severity=2, seed=1))


@pytest.mark.parametrize("channels", [1, 3])
@pytest.mark.parametrize("corruption", CORRUPTIONS)
def test_distance_from_the_clean_images_grows_with_severity(corruption, channels):
    images = natural_images(n=32, channels=channels, size=28 if channels == 1 else 32)
    distances = [(corrupt(images, corruption=corruption, severity=s) - images).abs().mean().item()
                 for s in SEVERITIES]
    assert distances[0] > 0
    assert all(a < b for a, b in zip(distances, distances[1:])), distances


def test_empty_batch():
    empty = torch.zeros(0, 3, 32, 32)
    for corruption in CORRUPTIONS:
        assert corrupt(empty, corruption=corruption, severity=1).shape == (0, 3, 32, 32)


# --------------------------------------------------------------------------- validation

@pytest.mark.parametrize("kwargs,message", [
    ({"corruption": "fog", "severity": 1}, r"corruption must be one of \['gaussian_noise', .*'jpeg'\], got 'fog'"),
    ({"corruption": "contrast", "severity": 0}, r"severity must be one of \[1, 2, 3, 4, 5\], got 0"),
    ({"corruption": "contrast", "severity": 6}, r"severity must be one of \[1, 2, 3, 4, 5\], got 6"),
])
def test_bad_settings_are_rejected(kwargs, message):
    with pytest.raises(ValueError, match=message):
        corrupt(torch.zeros(1, 1, 4, 4), **kwargs)


@pytest.mark.parametrize("severity", [True, 5.0])
def test_a_severity_that_is_no_integer_is_a_type_error(severity):
    with pytest.raises(TypeError, match=f"severity must be an integer, got {severity!r}"):
        corrupt(torch.zeros(1, 1, 4, 4), corruption="contrast", severity=severity)


@pytest.mark.parametrize("images,message", [
    (torch.zeros(1, 4, 4), r"images must be a float tensor of shape \(N, C, H, W\), got torch.float32 \(1, 4, 4\)"),
    (torch.zeros(1, 2, 4, 4), r"images must have 1 or 3 channels, got 2"),
    (torch.zeros(1, 1, 4, 4, dtype=torch.float64), r"images must be float32 in \[0, 1\], got torch.float64"),
    (torch.zeros(1, 1, 4, 4, dtype=torch.uint8), r"images must be a float tensor of shape \(N, C, H, W\), got torch.uint8"),
    (torch.full((1, 1, 4, 4), 1.5), r"images must lie in \[0, 1\], got values in \[1.5, 1.5\]"),
    (torch.full((1, 1, 4, 4), -0.5), r"images must lie in \[0, 1\], got values in \[-0.5, -0.5\]"),
    (torch.full((1, 1, 4, 4), float("nan")), r"images must lie in \[0, 1\]"),
])
def test_bad_images_are_rejected(images, message):
    with pytest.raises(ValueError, match=message):
        corrupt(images, corruption="contrast", severity=1)


# --------------------------------------------------------------------------- evaluate_corruptions

@pytest.fixture
def one_thread():
    """Tiny forward passes: one thread is fastest, and immune to busy neighbours."""
    saved = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(saved)


@pytest.fixture(scope="module")
def toy():
    g = torch.Generator().manual_seed(0)
    x = torch.rand(96, 1, 8, 8, generator=g)
    y = (x[:, 0, :4].mean((1, 2)) > x[:, 0, 4:].mean((1, 2))).long()
    attributes = pd.DataFrame(index=pd.Index([f"toy-{i}" for i in range(len(y))], name="example_id"))
    dataset = ImageDataset("toy", "test", x, y, attributes, ("top", "bottom"))
    dense = population.train_population(dataset, size=2, recipe=TrainingRecipe(epochs=1, batch_size=32), cache=False, progress=False)
    return dataset, {0.0: dense, "float16": population.quantize_population(dense, "float16")}


def test_evaluate_corruptions_table(toy, monkeypatch, one_thread):
    dataset, pops = toy
    made = []
    original = robustness.corrupt
    monkeypatch.setattr(robustness, "corrupt", lambda images, **kw: made.append(kw) or original(images, **kw))
    table = robustness.evaluate_corruptions(pops, dataset, seed=3)
    assert list(table.columns) == ["population", "corruption", "severity", "member", "accuracy"]
    assert len(table) == (1 + len(CORRUPTIONS) * len(SEVERITIES)) * 2 * 2
    assert len(made) == len(CORRUPTIONS) * len(SEVERITIES)  # each corrupted copy made once for both populations
    assert table["population"].unique().tolist() == [0.0, "float16"]
    assert table.groupby(["corruption", "severity"]).size().eq(4).all()
    assert table["accuracy"].between(0, 1).all()
    clean = table[table["corruption"] == "none"]
    assert clean["severity"].eq(0).all() and (table["severity"] == 0).sum() == 4
    for key, pop in pops.items():
        rows = clean[clean["population"] == key].sort_values("member")
        assert rows["member"].tolist() == [0, 1]
        np.testing.assert_array_equal(rows["accuracy"].to_numpy(), pop.accuracies(dataset))
        noisy = corrupt(dataset.images, corruption="gaussian_noise", severity=4, seed=3)
        rows = table.query("corruption == 'gaussian_noise' and severity == 4")
        rows = rows[rows["population"] == key]
        np.testing.assert_array_equal(rows.sort_values("member")["accuracy"].to_numpy(),
                                      pop.accuracies(noisy, dataset.targets))


def test_evaluate_corruptions_subset_and_validation(toy, one_thread):
    dataset, pops = toy
    table = robustness.evaluate_corruptions({"dense": pops[0.0]}, dataset, corruptions=["contrast", "jpeg"],
                                             severities=[1, 5], batch_size=16)
    assert len(table) == (1 + 2 * 2) * 2
    assert table[["corruption", "severity"]].drop_duplicates().values.tolist() == [
        ["none", 0], ["contrast", 1], ["contrast", 5], ["jpeg", 1], ["jpeg", 5]]
    with pytest.raises(ValueError, match="corruption must be one of"):
        robustness.evaluate_corruptions(pops, dataset, corruptions=["snow"])
    with pytest.raises(ValueError, match="severity must be one of"):
        robustness.evaluate_corruptions(pops, dataset, severities=[0])
    with pytest.raises(ValueError, match="populations must hold at least one population, got none"):
        robustness.evaluate_corruptions({}, dataset)


def _results() -> pd.DataFrame:
    """A hand-made evaluate_corruptions table: two populations of three members, one corruption."""
    rows = []
    clean = {"dense": [0.90, 0.80, 0.85], "pruned": [0.90, 0.80, 0.85]}
    corrupted = {"dense": [0.80, 0.70, 0.80], "pruned": [0.60, 0.55, 0.60]}
    for name in clean:
        for setting, accuracies in (("none", clean[name]), ("contrast", corrupted[name])):
            for member, acc in enumerate(accuracies):
                rows.append({"population": name, "corruption": setting, "severity": 0 if setting == "none" else 5,
                             "member": member, "accuracy": acc})
    return pd.DataFrame(rows)


def test_accuracy_drops_are_each_members_own_clean_minus_corrupted():
    drops = robustness.accuracy_drops(_results())
    assert (drops.corruption == "contrast").all() and len(drops) == 6
    assert drops.set_index(["population", "member"])["drop (points)"].round(9).to_dict() == {
        ("dense", 0): 10.0, ("dense", 1): 10.0, ("dense", 2): 5.0,
        ("pruned", 0): 30.0, ("pruned", 1): 25.0, ("pruned", 2): 25.0}
    with pytest.raises(ValueError, match=r"results must be an evaluate_corruptions table, missing columns \['accuracy'\]"):
        robustness.accuracy_drops(_results().drop(columns="accuracy"))


def test_drop_impact_is_a_welch_test_per_setting():
    drops = robustness.accuracy_drops(_results())
    table = robustness.drop_impact(drops, baseline="dense", compressed="pruned")
    row = table.loc[("contrast", 5)]
    assert row["baseline drop"] == pytest.approx(25 / 3) and row["compressed drop"] == pytest.approx(80 / 3)
    assert row["extra drop"] == pytest.approx(55 / 3)
    expected = scipy_stats.ttest_ind([30, 25, 25], [10, 10, 5], equal_var=False).pvalue
    assert row["p"] == pytest.approx(expected) and row["significant"] == (expected < 0.05)
    with pytest.raises(ValueError, match=r"compressed must be one of \['dense', 'pruned'\], got 'int8'"):
        robustness.drop_impact(drops, baseline="dense", compressed="int8")


def test_drop_impact_corrects_across_the_corruptions_of_a_severity():
    rows = []
    for corruption, pruned in (("contrast", [30, 25, 26]), ("blur", [12, 9, 7])):
        for name, values in (("dense", [10, 11, 5]), ("pruned", pruned)):
            rows += [{"population": name, "corruption": corruption, "severity": 5, "member": k, "drop (points)": v}
                     for k, v in enumerate(values)]
    drops = pd.DataFrame(rows)
    table = robustness.drop_impact(drops, baseline="dense", compressed="pruned")
    raw = robustness.drop_impact(drops, baseline="dense", compressed="pruned", correction=None)
    assert np.allclose(table["p_adjusted"], scipy_stats.false_discovery_control(table["p"]))
    assert raw["p_adjusted"].equals(raw["p"])
