"""Common image corruptions at five severities, after Hendrycks & Dietterich (2019).

Hendrycks & Dietterich, "Benchmarking Neural Network Robustness to Common Corruptions and
Perturbations" (ICLR 2019), corrupt every test image with 15 (plus 4 held-out) corruptions at
five severities: ImageNet-C, CIFAR-10-C. Our images are small -- 28x28 with one channel
(Fashion-MNIST) to 32x32 with three (CIFAR-10) -- so the severities are those of the authors'
CIFAR-10-C generation script, ``ImageNet-C/create_c/make_cifar_c.py`` in
``github.com/hendrycks/robustness``, not the larger ImageNet-C ones. Five corruptions are
implemented, all definitions on images in ``[0, 1]``, output clamped to ``[0, 1]``:

``"gaussian_noise"``
    ``x + sigma * z``, ``z`` standard normal, independent for every pixel and channel.
``"gaussian_blur"``
    Convolution of every channel with a Gaussian of standard deviation ``sigma`` pixels,
    truncated at ``round(4 sigma)`` pixels, image borders extended with their edge pixels
    (``skimage.filters.gaussian``'s defaults, ``mode="nearest"``, ``truncate=4``, as the script
    uses it). One of the four held-out corruptions of the paper.
``"contrast"``
    ``(x - m) * c + m``, ``m`` the mean of each channel of each image.
``"brightness"``
    ``c`` added to the value channel of HSV (then clipped to 1), hue and saturation kept.
    For one channel this is ``min(x + c, 1)``; for RGB it is the closed form of the HSV round
    trip: every pixel scaled by ``V' / V``, ``V = max(r, g, b)``, ``V' = min(V + c, 1)`` (a
    black pixel becomes gray ``c``).
``"jpeg"``
    Round trip through a baseline JPEG file of quality ``q``: the image is rounded to uint8,
    encoded and decoded with :func:`torchvision.io.encode_jpeg` / :func:`~torchvision.io.decode_jpeg`
    (libjpeg-turbo, 4:2:0 chroma subsampling for RGB), and divided by 255 again.

========================  ========================================  ============================
corruption                parameter                                 severities 1 to 5
========================  ========================================  ============================
``"gaussian_noise"``      noise standard deviation ``sigma``        0.04, 0.06, 0.08, 0.09, 0.10
``"gaussian_blur"``       blur standard deviation ``sigma`` (px)    0.4, 0.6, 0.7, 0.8, 1.0
``"contrast"``            contrast factor ``c``                     0.75, 0.5, 0.4, 0.3, 0.15
``"brightness"``          shift ``c`` of the HSV value              0.05, 0.1, 0.15, 0.2, 0.3
``"jpeg"``                JPEG quality ``q``                        80, 65, 58, 50, 40
========================  ========================================  ============================

Where we deviate from the script
--------------------------------
* The script stores every corrupted image as uint8 (``np.uint8`` of ``255 x``, which
  truncates); here noise, blur, contrast and brightness stay float32, and only the JPEG
  corruption is quantized to 8 bits (by rounding, before encoding).
* The noise is drawn from a ``torch.Generator`` seeded with ``seed``, not from NumPy's global
  generator: reproducible bit for bit on a given device, and the same standard normal draw
  ``z`` serves all five severities (only ``sigma`` changes), so severity curves are not blurred
  by resampling.
* One-channel images are corrupted as such, where the script sees RGB images. For noise, blur
  and contrast this makes no difference; brightness on a gray pixel is the same either way
  (its saturation is 0). Grayscale JPEG stores one component instead of a luma and two constant
  chroma components.
* Contrast uses the per-channel mean, as the script does. ``torchvision``'s ``adjust_contrast``
  blends with the mean of the *grayscale* image instead (the same for one channel, not for
  RGB), and its ``adjust_brightness`` *multiplies* by a factor, so neither is used. Its
  ``gaussian_noise`` draws from the global generator, so it is not used either.

The JPEG round trip of :func:`torchvision.io.encode_jpeg` and :func:`~torchvision.io.decode_jpeg`
gives the same bytes as PIL's, which the script uses (checked in ``tests/test_corruptions.py``).
These two functions are deprecated since torchvision 0.29 (in favour of TorchCodec); the
warning is silenced here.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterable, Mapping
from types import MappingProxyType
from typing import TYPE_CHECKING

import pandas as pd
import torch
import torch.nn.functional as F
from scipy import stats as _scipy_stats
from torchvision.io import ImageReadMode, decode_jpeg, encode_jpeg
from torchvision.transforms.v2 import functional as TF
from tqdm.auto import tqdm

from ..core.validation import check_images, check_integer, check_option, check_real
from .class_impact import welch_t_test

if TYPE_CHECKING:
    from ..data import ImageDataset
    from ..populations import Population

CORRUPTIONS: tuple[str, ...] = ("gaussian_noise", "gaussian_blur", "contrast", "brightness", "jpeg")
"""The corruptions, described in the module docstring."""
SEVERITIES: tuple[int, ...] = (1, 2, 3, 4, 5)
"""Severity levels, from mild to strong."""
SEVERITY_PARAMETERS: Mapping[str, tuple[float, ...]] = MappingProxyType({
    "gaussian_noise": (0.04, 0.06, 0.08, 0.09, 0.10),  # noise standard deviation
    "gaussian_blur": (0.4, 0.6, 0.7, 0.8, 1.0),  # blur standard deviation, in pixels
    "contrast": (0.75, 0.5, 0.4, 0.3, 0.15),  # factor of the deviations from the channel mean
    "brightness": (0.05, 0.1, 0.15, 0.2, 0.3),  # shift of the HSV value
    "jpeg": (80, 65, 58, 50, 40),  # JPEG quality
})
"""``SEVERITY_PARAMETERS[corruption][severity - 1]``: the parameter of ``make_cifar_c.py``."""
CLEAN = "none"
"""The ``corruption`` of the uncorrupted images in :func:`evaluate_corruptions` (severity 0)."""
BLUR_TRUNCATE = 4.0
"""The blur kernel reaches ``round(BLUR_TRUNCATE * sigma)`` pixels (scipy's ``truncate``)."""


def _check_setting(corruption: str, severity: int) -> None:
    check_option(corruption, "corruption", CORRUPTIONS)
    check_integer(severity, "severity")
    check_option(severity, "severity", SEVERITIES)


def _check_images(images: torch.Tensor) -> None:
    check_images(images)
    if images.shape[1] not in (1, 3):
        raise ValueError(f"images must have 1 or 3 channels, got {images.shape[1]}")
    if images.dtype != torch.float32:
        raise ValueError(f"images must be float32 in [0, 1], got {images.dtype}")
    if images.numel():
        low, high = (float(v) for v in torch.aminmax(images))
        if not (low >= 0.0 and high <= 1.0):  # also catches NaN
            raise ValueError(f"images must lie in [0, 1], got values in [{low}, {high}]")


def _gaussian_noise(images: torch.Tensor, sigma: float, seed: int) -> torch.Tensor:
    generator = torch.Generator(device=images.device).manual_seed(seed)
    noise = torch.randn(images.shape, generator=generator, dtype=images.dtype, device=images.device)
    return images + sigma * noise


def _kernel_radius(sigma: float) -> int:
    """Half-width of the blur kernel for ``sigma``: scipy's ``int(truncate * sigma + 0.5)``."""
    return int(BLUR_TRUNCATE * sigma + 0.5)


def _gaussian_blur(images: torch.Tensor, sigma: float) -> torch.Tensor:
    # torchvision pads with "reflect"; padding with the edge pixels first (and cropping after)
    # gives the "nearest" borders of skimage/scipy, which the kernel never sees past.
    radius = _kernel_radius(sigma)
    padded = F.pad(images, [radius] * 4, mode="replicate")
    size = 2 * radius + 1
    # As one image of N * C channels, torchvision's per-channel (grouped) convolution is a
    # depthwise one, several times faster on a CPU than N single-channel images.
    n, c, height, width = padded.shape
    blurred = TF.gaussian_blur(padded.reshape(1, n * c, height, width), kernel_size=[size, size], sigma=[sigma, sigma])
    return blurred.reshape(n, c, height, width)[..., radius:height - radius, radius:width - radius]


def _contrast(images: torch.Tensor, factor: float) -> torch.Tensor:
    means = images.mean(dim=(-2, -1), keepdim=True)
    return (images - means) * factor + means


def _brightness(images: torch.Tensor, shift: float) -> torch.Tensor:
    value = images.amax(dim=1, keepdim=True)
    brighter = (value + shift).clamp(max=1.0)
    # x / V is exactly 1 for the brightest channel, so that channel becomes exactly V'.
    return torch.where(value > 0, images / torch.where(value > 0, value, 1.0) * brighter, brighter)


def _jpeg(images: torch.Tensor, quality: int) -> torch.Tensor:
    pixels = (images * 255).round().to(device="cpu", dtype=torch.uint8)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # torchvision.io's image codecs (0.29)
        decoded = decode_jpeg(encode_jpeg(list(pixels), quality=int(quality)), mode=ImageReadMode.UNCHANGED)
    return (torch.stack(decoded).to(images.device, torch.float32) / 255).reshape(images.shape)


def corrupt(images: torch.Tensor, *, corruption: str, severity: int, seed: int = 0) -> torch.Tensor:
    """``images`` under ``corruption`` at ``severity`` (see the module docstring).

    Parameters
    ----------
    images : torch.Tensor
        ``(N, C, H, W)`` float32 in ``[0, 1]``, ``C`` in ``{1, 3}``, on any device (the JPEG
        round trip runs on the CPU). Left untouched.
    corruption : str
        One of :data:`CORRUPTIONS`.
    severity : int
        One of :data:`SEVERITIES` (1 to 5); the parameter is
        ``SEVERITY_PARAMETERS[corruption][severity - 1]``.
    seed : int
        Seed of the ``torch.Generator`` that draws the Gaussian noise (other corruptions are
        deterministic). The global random state is never used. The same seed, shape and device
        give bit-identical noise, and the same ``z`` at every severity.

    Returns
    -------
    torch.Tensor
        A new ``(N, C, H, W)`` float32 tensor in ``[0, 1]`` on the device of ``images``.
    """
    _check_setting(corruption, severity)
    _check_images(images)
    if images.numel() == 0:
        return images.clone()
    parameter = SEVERITY_PARAMETERS[corruption][severity - 1]
    if corruption == "gaussian_noise":
        out = _gaussian_noise(images, parameter, seed)
    elif corruption == "gaussian_blur":
        out = _gaussian_blur(images, parameter)
    elif corruption == "contrast":
        out = _contrast(images, parameter)
    elif corruption == "brightness":
        out = _brightness(images, parameter)
    else:
        out = _jpeg(images, parameter)
    return out.clamp_(0.0, 1.0)


def evaluate_corruptions(populations: Mapping[str | float, Population], data: ImageDataset, *,
                         corruptions: Iterable[str] = CORRUPTIONS, severities: Iterable[int] = SEVERITIES,
                         seed: int = 0, batch_size: int = 8192, progress: bool = False) -> pd.DataFrame:
    """Top-1 accuracy of every member of every population on clean and corrupted ``data``.

    Each corrupted copy of ``data.images`` is made once (with :func:`corrupt`) and shared by all
    populations, so every population sees exactly the same corrupted images.

    Parameters
    ----------
    populations : mapping of str or float to Population
        E.g. the output of :func:`~course_lib.populations.population.train_populations`; keys are used as
        the ``population`` column.
    data : ImageDataset
        Images ``(N, C, H, W)`` in ``[0, 1]`` and their targets ``(N,)``, e.g. the test split.
    corruptions : iterable of str
        Corruptions of :data:`CORRUPTIONS` to evaluate, in this order.
    severities : iterable of int
        Severities of :data:`SEVERITIES`, evaluated for every corruption.
    seed : int
        Seed of the Gaussian noise (see :func:`corrupt`).
    batch_size : int
        Image-member pairs per forward pass (:meth:`~course_lib.populations.population.Population.logits`).
    progress : bool
        Show a progress bar over the ``1 + corruptions x severities`` settings.

    Returns
    -------
    pandas.DataFrame
        Tidy, one row per population, setting and member:
        ``population`` (the mapping key), ``corruption`` (``"none"`` for the clean images),
        ``severity`` (``0`` for the clean images), ``member`` (index ``k`` in the population)
        and ``accuracy`` (top-1, in ``[0, 1]``). That is
        ``(1 + len(corruptions) * len(severities)) * K * len(populations)`` rows, clean first.
    """
    corruptions, severities = tuple(corruptions), tuple(severities)
    for corruption in corruptions:
        for severity in severities:
            _check_setting(corruption, severity)
    if not populations:
        raise ValueError("populations must hold at least one population, got none")
    batch_size = check_integer(batch_size, "batch_size", low=1)
    _check_images(data.images)
    settings = [(CLEAN, 0)] + [(c, s) for c in corruptions for s in severities]
    rows = []
    for corruption, severity in tqdm(settings, desc="corruptions", disable=not progress, leave=False):
        images = data.images if corruption == CLEAN else corrupt(data.images, corruption=corruption,
                                                                  severity=severity, seed=seed)
        for key, population in populations.items():
            accuracies = population.accuracies(images, data.targets, batch_size=batch_size)
            rows.extend({"population": key, "corruption": corruption, "severity": severity,
                         "member": member, "accuracy": float(acc)} for member, acc in enumerate(accuracies))
    frame = pd.DataFrame(rows, columns=["population", "corruption", "severity", "member", "accuracy"])
    return frame.astype({"severity": "int64", "member": "int64", "accuracy": "float64"})


def accuracy_drops(results: pd.DataFrame) -> pd.DataFrame:
    """How far every member falls from its clean accuracy under every corruption.

    Parameters
    ----------
    results : pandas.DataFrame
        :func:`evaluate_corruptions`.

    Returns
    -------
    pandas.DataFrame
        The corrupted rows of ``results`` with a column ``drop (points)``: the member's clean
        accuracy minus its accuracy under the setting, in percentage points.
    """
    missing = [c for c in ("population", "corruption", "severity", "member", "accuracy") if c not in results]
    if missing:
        raise ValueError(f"results must be an evaluate_corruptions table, missing columns {missing}")
    clean = results[results.corruption == CLEAN].set_index(["population", "member"])["accuracy"]
    corrupted = results[results.corruption != CLEAN].copy()
    corrupted["drop (points)"] = 100 * (corrupted.set_index(["population", "member"]).index.map(clean)
                                        - corrupted["accuracy"])
    return corrupted


def drop_impact(drops: pd.DataFrame, *, baseline: str, compressed: str, alpha: float = 0.05,
                correction: str | None = "bh") -> pd.DataFrame:
    """Does the compressed population fall further than the dense one under each corruption?

    The robustness counterpart of :func:`~course_lib.analysis.class_impact.class_impact`: for
    every corruption and severity, the members' drops of the two populations are compared with
    Welch's two-sided t-test (:func:`~course_lib.analysis.class_impact.welch_t_test`).

    Parameters
    ----------
    drops : pandas.DataFrame
        :func:`accuracy_drops`.
    baseline, compressed : str
        The ``population`` names of the dense and the compressed population.
    alpha : float
        Significance level, in ``(0, 1)``.
    correction : {"bh", None}
        ``"bh"``: the Benjamini-Hochberg correction across the corruptions of each severity (the
        tests a sentence like "3 of 5 corruptions at severity 5" counts); ``None``: none.

    Returns
    -------
    pandas.DataFrame
        Indexed by ``(corruption, severity)``: ``baseline drop`` and ``compressed drop`` (mean
        drops, points), ``extra drop`` (compressed minus baseline), ``p``, ``p_adjusted`` and
        ``significant`` (``p_adjusted < alpha``; never for a NaN p).
    """
    alpha = check_real(alpha, "alpha", low=0.0, high=1.0, closed="neither")
    check_option(correction, "correction", ("bh", None))
    for name, value in (("baseline", baseline), ("compressed", compressed)):
        check_option(value, name, list(pd.unique(drops["population"])))
    rows = []
    for (corruption, severity), group in drops.groupby(["corruption", "severity"]):
        by_population = group.set_index("population")["drop (points)"]
        dense, pruned = by_population[baseline].to_numpy(), by_population[compressed].to_numpy()
        _, p = welch_t_test(pruned, dense)
        rows.append({"corruption": corruption, "severity": severity, "baseline drop": dense.mean(),
                     "compressed drop": pruned.mean(), "extra drop": pruned.mean() - dense.mean(),
                     "p": p})
    table = pd.DataFrame(rows).set_index(["corruption", "severity"])
    table["p_adjusted"] = table["p"]
    if correction == "bh":
        for severity, group in table.groupby(level="severity"):
            tested = group["p"].dropna()
            if len(tested):
                table.loc[tested.index, "p_adjusted"] = _scipy_stats.false_discovery_control(tested.to_numpy())
    table["significant"] = (table["p_adjusted"] < alpha).fillna(False).astype(bool)
    return table
