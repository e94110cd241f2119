"""Synthetic CelebA: procedural faces whose (Blond, Male, Young) mix mirrors CelebA's long tail.

Hooker et al. (2020, *Characterising bias in compressed models*) train CelebA (Liu et al., 2015)
models to predict *Blond_Hair* and measure the harm of compression on the groups defined by the
protected attributes *Male* and *Young*. The group that pays is the rarest one: blond men, 0.85% of
CelebA's training split. This module renders small RGB faces whose attributes follow the same joint
distribution, so that the course can reproduce the setting in seconds on a laptop:

* the **target** cue, hair colour, is deliberately hard to read: a modest shift of a hair tone
  that varies from person to person, under illumination changes and pixel noise. As in CelebA's
  photographs, men wear short hair (a thin cap and a high hairline) and women longer hair, so a
  man's hair colour is read from fewer pixels;
* the **spurious** cue, sex, is easy to read (stubble on every male face, and the haircut), and it
  predicts the target: 24% of women but 2% of men are blond. A model learns the shortcut
  "woman, so perhaps blond; man, so not blond" and misses blond men first;
* *Young* is the absence of a line texture (wrinkles) that old faces carry.

With the defaults, a :class:`~course_lib.models.SmallCNN` trained on the 20,000 training images
reaches 92-94% top-1 and misses 60-85% of the blond men against 20-36% of the blond women (4 epochs
of Adam at lr 1e-3, or 8 epochs at lr 3e-3; data seeds 0 and 1). Hooker et al. report 62.65%
against 19.09% for their CelebA baseline.

Two documented hard subsets follow D'souza et al. (2021, *A tale of two long tails*), each with a
ground-truth flag: **noisy** examples (a flipped label, or an image corrupted beyond recognition)
and **atypical** examples (correctly labelled but rare renderings: upside down, rotated, occluded,
or with an unusual skin colour).

Joint distribution
------------------
CelebA's training split gives two 2x2 tables (:data:`CELEBA_TRAIN_COUNTS`): Blond x Male and
Blond x Young. Both are matched exactly by assuming that *Young is independent of Male given
Blond*: ``P(blond, male, young) = P(blond, male) * P(young | blond)``. The eight cells
(:data:`CELEBA_JOINT_SHARES`) receive exact counts by largest-remainder rounding, then the pool is
shuffled, so the shares of a synthetic pool equal CelebA's to within ``1 / n``.

References
----------
Hooker, S., Moorosi, N., Clark, G., Bengio, S. and Denton, E. (2020). Characterising bias in
compressed models. arXiv:2010.03058.

D'souza, D., Nussbaum, Z., Agarwal, C. and Hooker, S. (2021). A tale of two long tails.
arXiv:2107.13098.

Liu, Z., Luo, P., Wang, X. and Tang, X. (2015). Deep learning face attributes in the wild. ICCV.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
import pandas as pd
import torch

from ..core import cache
from .dataset import ImageDataset, check_split, from_uint8, seeded_test_mask

NAME = "synthetic-celeba"
"""The dataset's name in :func:`course_lib.data.load`."""

CLASSES = ("not blond", "blond")
"""Class names; the target is 1 for blond."""

FORMAT_VERSION = 3
"""Version of the renderer, part of the cache key (raise it whenever the drawing changes)."""

CELEBA_TRAIN_COUNTS: dict[str, dict[tuple[bool, bool], int]] = {
    "male": {(True, True): 1_387, (True, False): 22_880, (False, True): 66_874, (False, False): 71_629},
    "young": {(True, True): 20_230, (True, False): 4_037, (False, True): 106_558, (False, False): 31_945},
}
"""Counts in CelebA's training split (162,770 images, as reported by Hooker et al., 2020), keyed
by protected attribute, then by ``(blond, male)`` or ``(blond, young)``."""

NOISY_KINDS = ("label-flipped", "corrupted")
"""The kinds of noisy examples, as named in the ``rendering`` column of :func:`load_synthetic_celeba`."""

ATYPICAL_KINDS = ("upside-down", "rotated", "occluded", "recoloured")
"""The kinds of atypical examples, as named in the ``rendering`` column of :func:`load_synthetic_celeba`."""

RENDERINGS = ("typical", *NOISY_KINDS, *ATYPICAL_KINDS)
"""The categories of the ``rendering`` column, in order."""

# Colours (RGB in [0, 1]) of the renderer.
_DARK_HAIR = np.array([0.10, 0.07, 0.05], dtype=np.float32)
_BLOND_HAIR = np.array([0.93, 0.80, 0.48], dtype=np.float32)
_LIGHT_SKIN = np.array([0.96, 0.82, 0.72], dtype=np.float32)
_DARK_SKIN = np.array([0.36, 0.23, 0.16], dtype=np.float32)
_STUBBLE = np.array([0.16, 0.13, 0.11], dtype=np.float32)
_EYES = np.array([0.08, 0.06, 0.06], dtype=np.float32)
_LIPS = np.array([0.62, 0.26, 0.28], dtype=np.float32)
_NON_BLOND_TONE = 0.2  # mean hair tone of non-blond people on the dark (0) to blond (1) axis
_UNUSUAL_SKIN = np.array([[0.30, 0.75, 0.35], [0.30, 0.45, 0.90], [0.62, 0.35, 0.80]], dtype=np.float32)
_WRINKLE_PERIOD = 0.19  # in the [-1, 1] image coordinates: 3 pixels at 32x32
_CHUNK = 256  # images rendered at once


def _is_int(value: object) -> bool:
    return isinstance(value, (int, np.integer)) and not isinstance(value, bool)


def _joint_shares() -> pd.Series:
    male, young = CELEBA_TRAIN_COUNTS["male"], CELEBA_TRAIN_COUNTS["young"]
    total = sum(male.values())
    cells = {}
    for blond in (True, False):
        blond_total = male[(blond, True)] + male[(blond, False)]
        for is_male in (True, False):
            for is_young in (True, False):
                cells[(blond, is_male, is_young)] = (male[(blond, is_male)] / total
                                                     * young[(blond, is_young)] / blond_total)
    index = pd.MultiIndex.from_tuples(list(cells), names=["blond", "male", "young"])
    return pd.Series(list(cells.values()), index=index, name="share")


CELEBA_JOINT_SHARES: pd.Series = _joint_shares()
"""Share of each (blond, male, young) cell, assuming Young independent of Male given Blond.

Sums to 1; its Blond x Male and Blond x Young margins equal those of :data:`CELEBA_TRAIN_COUNTS`
(``CELEBA_JOINT_SHARES.groupby(level=["blond", "male"]).sum()``).

:meta hide-value:
"""


@dataclass(frozen=True)
class RenderOptions:
    """The settings of a pool besides its size and seed (see :func:`load_synthetic_celeba`)."""

    image_size: int
    hair_shift: float
    hair_spread: float
    pixel_noise: float
    illumination: float
    beard_strength: float
    age_texture: float
    noisy_rate: float
    atypical_rate: float

    def check(self) -> None:
        """Raise ``ValueError``, naming the option, if one is out of range."""
        if not _is_int(self.image_size) or self.image_size < 16:
            raise ValueError(f"image_size must be an integer >= 16, got {self.image_size!r}")
        for name in ("hair_shift", "hair_spread", "pixel_noise", "beard_strength", "age_texture"):
            value = getattr(self, name)
            if not np.isfinite(value) or value < 0:
                raise ValueError(f"{name} must be a finite number >= 0, got {value!r}")
        if not 0 <= self.illumination < 1:
            raise ValueError(f"illumination must lie in [0, 1), got {self.illumination!r}")
        for name in ("noisy_rate", "atypical_rate"):
            value = getattr(self, name)
            if not 0 <= value < 0.5:
                raise ValueError(f"{name} must lie in [0, 0.5), got {value!r}")


def load_synthetic_celeba(*, split: str = "train", seed: int = 0, n: int = 30_000,
                          test_fraction: float = 1 / 3, image_size: int = 32,
                          hair_shift: float = 0.5, hair_spread: float = 0.2,
                          pixel_noise: float = 0.1, illumination: float = 0.2,
                          beard_strength: float = 0.8, age_texture: float = 0.35,
                          noisy_rate: float = 0.02, atypical_rate: float = 0.02) -> ImageDataset:
    """Synthetic CelebA faces, ``(N, 3, image_size, image_size)``, target *Blond*.

    One pool of ``n`` examples is rendered from ``seed`` (and cached on disk under
    ``$COURSE_CACHE_DIR``), then split by :func:`~course_lib.data.dataset.seeded_test_mask`.
    The same arguments always give identical images and tables.

    Parameters
    ----------
    split : {"train", "test", "all"}
        Which part of the pool (``"all"``: the whole pool, in pool order).
    seed : int
        Seed (>= 0) of the attributes, the rendering and the split.
    n : int
        Size of the pool (>= 100). The default, with ``test_fraction=1/3``, gives the 20,000
        training and 10,000 test examples of the ``course`` profile.
    test_fraction : float
        Share of the pool held out as the test split, in (0, 1).
    image_size : int
        Side of the square images (>= 16); the drawing is resolution-independent.
    hair_shift : float
        Difference between the mean hair tones of blond and non-blond people (the target cue).
        The tone runs from dark brown (0) to blond (1); non-blond people average 0.2, and tones
        beyond [0, 1] extend the colour line (clipped by the image range).
    hair_spread : float
        Standard deviation of the (Gaussian) hair tone within each class; ``hair_shift /
        hair_spread`` is the separability of the target cue before illumination and pixel noise.
    pixel_noise : float
        Standard deviation of the Gaussian noise added to every pixel and channel.
    illumination : float
        Half-width of the uniform global brightness factor, ``1 +- illumination``; in [0, 1).
    beard_strength : float
        Opacity of the stubble on male faces (scaled by a per-face factor in [0.6, 1]). The
        spurious cue: 0 removes it, 1 makes it opaque.
    age_texture : float
        Depth of the horizontal line texture (wrinkles) on old faces (scaled per face by a
        factor in [0.7, 1]).
    noisy_rate, atypical_rate : float
        Shares of noisy and of atypical examples, each in [0, 0.5); the counts are
        ``round(rate * n)`` and the two subsets are disjoint.

    Returns
    -------
    ImageDataset
        ``images`` ``(N, 3, image_size, image_size)`` float32 in [0, 1]; ``targets`` ``(N,)`` with
        classes ``("not blond", "blond")``; ``attributes`` indexed by ``example_id``
        (``"syn-000123"``, the position in the pool, the same for every split) with columns

        ``blond`` (bool)
            The label, equal to ``targets``. It differs from ``true_blond`` on label-flipped
            examples.
        ``male``, ``young`` (bool)
            The protected attributes, always correct.
        ``true_blond`` (bool)
            The hair actually drawn.
        ``noisy`` (bool)
            A noisy example: ``label_flipped``, or an image corrupted by heavy uniform noise.
        ``label_flipped`` (bool)
            ``blond != true_blond``.
        ``atypical`` (bool)
            A rare but correctly labelled rendering (never also noisy).
        ``rendering`` (categorical)
            ``"typical"``, one of :data:`NOISY_KINDS` or one of :data:`ATYPICAL_KINDS`.

    Notes
    -----
    *Shares.* The true attribute cells follow :data:`CELEBA_JOINT_SHARES` up to rounding (exact
    largest-remainder counts, then a shuffle).

    *Noisy examples.* In every (male, young) group, a share ``noisy_rate`` of the blond examples
    get the label "not blond", and as many non-blond examples of the same group get the label
    "blond" (``2 * round(noisy_rate * n_blond)`` flips in all, shared between the groups by
    largest remainders). Flipping in pairs keeps the label shares equal to the true ones: uniform
    flips would bury the 0.85% of blond men under mislabelled non-blond men, and make their
    error rate a measure of label noise rather than of the model. Corrupted images (correct label,
    every pixel mixed with uniform noise of weight 0.6 to 0.85) complete the noisy subset to
    ``round(noisy_rate * n)`` examples.

    *Atypical examples.* ``round(atypical_rate * n)`` of the other examples, drawn uniformly, each
    of a kind drawn uniformly from :data:`ATYPICAL_KINDS`: rotated by 180 degrees, rotated by
    90 degrees either way, a band of random colour across the eyes or the mouth, or a green, blue
    or purple skin.

    Raises
    ------
    ValueError
        For an unknown ``split`` or an option out of range; the message names the argument.
    """
    check_split(split)
    if not _is_int(seed) or seed < 0:
        raise ValueError(f"seed must be an integer >= 0, got {seed!r}")
    if not _is_int(n) or n < 100:
        raise ValueError(f"n must be an integer >= 100, got {n!r}")
    if not 0 < test_fraction < 1:
        raise ValueError(f"test_fraction must lie in (0, 1), got {test_fraction!r}")
    options = RenderOptions(image_size, hair_shift, hair_spread, pixel_noise, illumination, beard_strength,
                            age_texture, noisy_rate, atypical_rate)
    options.check()
    seed, n = int(seed), int(n)
    config = {"dataset": NAME, "format": FORMAT_VERSION, "seed": seed, "n": n, **asdict(options)}
    pool = cache.cached("data", config, lambda: build_pool(n, seed, options))
    index = np.arange(n)
    if split != "all":
        test = seeded_test_mask(n, test_fraction=test_fraction, seed=seed)
        index = index[test if split == "test" else ~test]
    rows = torch.from_numpy(index)
    return from_uint8(NAME, split, pool["images"][rows], pool["targets"][rows], pool["attributes"].iloc[index],
                      CLASSES)


def build_pool(n: int, seed: int, options: RenderOptions) -> dict:
    """Render a pool: ``{"images": uint8 (n, 3, S, S), "targets": int64 (n,), "attributes": DataFrame}``.

    Uncached; :func:`load_synthetic_celeba` is the entry point.
    """
    rng = np.random.default_rng([seed, 0xCE1EBA])  # a stream apart from the split's default_rng(seed)
    table = _sample_attributes(n, rng, noisy_rate=options.noisy_rate, atypical_rate=options.atypical_rate)
    images = _render(table, rng, options)
    return {"images": images, "targets": torch.from_numpy(table["blond"].to_numpy(np.int64)),
            "attributes": table}


def _allocate(total: int, weights: np.ndarray) -> np.ndarray:
    """Split ``total`` into integer counts proportional to ``weights`` (largest-remainder rounding)."""
    exact = total * np.asarray(weights, dtype=float) / np.sum(weights)
    counts = np.floor(exact).astype(np.int64)
    order = np.argsort(-(exact - counts), kind="stable")
    counts[order[: total - counts.sum()]] += 1
    return counts


def _sample_attributes(n: int, rng: np.random.Generator, *, noisy_rate: float,
                       atypical_rate: float) -> pd.DataFrame:
    """The attribute table of a pool of ``n`` (see :func:`load_synthetic_celeba` for the columns)."""
    counts = _allocate(n, CELEBA_JOINT_SHARES.to_numpy())
    cells = np.repeat(np.arange(len(counts)), counts)[rng.permutation(n)]
    blond, male, young = (np.array(level, dtype=bool)[cells] for level in zip(*CELEBA_JOINT_SHARES.index))
    flipped = _paired_flips(blond, 2 * male + young, round(noisy_rate * blond.sum()), rng)
    n_corrupted, n_atypical = round(noisy_rate * n) - flipped.sum(), round(atypical_rate * n)
    others = rng.permutation(np.flatnonzero(~flipped))
    codes = np.zeros(n, dtype=np.int64)  # positions in RENDERINGS
    codes[flipped] = RENDERINGS.index("label-flipped")
    codes[others[:n_corrupted]] = RENDERINGS.index("corrupted")
    codes[others[n_corrupted:n_corrupted + n_atypical]] = (RENDERINGS.index(ATYPICAL_KINDS[0])
                                                          + rng.integers(len(ATYPICAL_KINDS), size=n_atypical))
    rendering = pd.Categorical.from_codes(codes, categories=list(RENDERINGS))
    return pd.DataFrame({
        "blond": blond ^ flipped, "male": male, "young": young, "true_blond": blond,
        "noisy": rendering.isin(NOISY_KINDS), "label_flipped": flipped,
        "atypical": rendering.isin(ATYPICAL_KINDS), "rendering": rendering,
    }, index=pd.Index([f"syn-{i:06d}" for i in range(n)], name="example_id"))


def _paired_flips(blond: np.ndarray, group: np.ndarray, pairs: int, rng: np.random.Generator) -> np.ndarray:
    """Mask of ``2 * pairs`` label flips: in each group, as many blond as non-blond examples.

    ``pairs`` is shared between the groups in proportion to their blond examples; the flipped
    examples of a group are drawn uniformly from ``rng`` (so flips are spread over the whole pool).
    """
    flipped = np.zeros(len(blond), dtype=bool)
    groups = np.unique(group)
    per_group = _allocate(pairs, [np.sum(blond & (group == g)) for g in groups])
    for g, k in zip(groups, per_group):
        for side in (blond, ~blond):
            flipped[rng.choice(np.flatnonzero(side & (group == g)), size=k, replace=False)] = True
    return flipped


def _render(table: pd.DataFrame, rng: np.random.Generator, options: RenderOptions) -> torch.Tensor:
    """Draw the faces of ``table`` (needs ``true_blond``, ``male``, ``young`` and ``rendering``).

    Returns ``uint8`` images ``(len(table), 3, S, S)`` with ``S = options.image_size``.
    """
    params = _appearance(table, rng, options)
    size = options.image_size
    images = np.empty((len(table), 3, size, size), dtype=np.uint8)
    for start in range(0, len(table), _CHUNK):
        chunk = {key: value[start:start + _CHUNK] for key, value in params.items()}
        images[start:start + _CHUNK] = _draw(chunk, options, rng)
    return torch.from_numpy(images)


def _appearance(table: pd.DataFrame, rng: np.random.Generator, options: RenderOptions) -> dict[str, np.ndarray]:
    """Per-face parameters of the drawing: float32 arrays ``(n,)``, or ``(n, 3)`` for colours."""
    n = len(table)
    kind, male = table["rendering"].to_numpy(), table["male"].to_numpy()

    def uniform(low: float, high: float, *shape: int) -> np.ndarray:
        return rng.uniform(low, high, size=(n, *shape)).astype(np.float32)

    def cool(colours: np.ndarray) -> np.ndarray:  # blue >= red, unlike hair and skin
        colours[:, [0, 2]] = np.sort(colours[:, [0, 2]], axis=1)
        return colours

    def lerp(a: np.ndarray, b: np.ndarray, t: np.ndarray) -> np.ndarray:
        return (a + (b - a) * t[:, None]).astype(np.float32)

    tone = (_NON_BLOND_TONE + options.hair_shift * table["true_blond"].to_numpy()
            + options.hair_spread * rng.standard_normal(n))
    skin = lerp(_LIGHT_SKIN, _DARK_SKIN, uniform(0, 1)) + uniform(-0.03, 0.03, 3)
    recoloured = kind == "recoloured"
    skin[recoloured] = _UNUSUAL_SKIN[rng.integers(len(_UNUSUAL_SKIN), size=recoloured.sum())]
    rx = uniform(0.40, 0.52)
    params = {
        "cx": uniform(-0.12, 0.12), "cy": uniform(-0.02, 0.18), "rx": rx, "ry": rx * uniform(1.15, 1.4),
        "hair": lerp(_DARK_HAIR, _BLOND_HAIR, tone) + uniform(-0.04, 0.04, 3),
        "hair_length": np.where(male, uniform(-0.3, 0.1), uniform(0.0, 1.0)),
        "hair_volume": np.where(male, uniform(0.3, 0.6), uniform(0.8, 1.2)),
        "fringe": np.where(male, uniform(0.6, 0.8), uniform(0.35, 0.65)),
        "skin": skin, "background": cool(uniform(0.05, 0.95, 3)), "gradient": uniform(-0.3, 0.3),
        "clothes": cool(uniform(0.05, 0.95, 3)),
        "beard": options.beard_strength * male * uniform(0.6, 1.0),
        "wrinkles": options.age_texture * ~table["young"].to_numpy() * uniform(0.7, 1.0),
        "gain": 1 + uniform(-options.illumination, options.illumination),
        "occluder": kind == "occluded",
        "occluder_y": rng.choice(np.float32([-0.12, 0.45]), size=n), "occluder_colour": uniform(0.0, 1.0, 3),
        "corruption": np.where(kind == "corrupted", uniform(0.6, 0.85), 0),
        "turns": np.select([kind == "upside-down", kind == "rotated"], [2, 1 + 2 * rng.integers(2, size=n)], 0),
    }
    return {key: value.astype(np.float32) for key, value in params.items()}


def _draw(p: dict[str, np.ndarray], options: RenderOptions, rng: np.random.Generator) -> np.ndarray:
    """Render one chunk of faces from their parameters ``p`` (see :func:`_appearance`).

    Returns ``uint8`` images ``(B, 3, S, S)``. Coordinates run over [-1, 1], ``y`` downwards.
    """
    size = options.image_size
    pixel = 2 / size
    axis = np.linspace(-1 + pixel / 2, 1 - pixel / 2, size, dtype=np.float32)
    ys, xs = axis.reshape(1, size, 1), axis.reshape(1, 1, size)

    def soft(signed: np.ndarray) -> np.ndarray:  # 1 inside (signed > 0), 0 outside, a 1-pixel ramp
        return np.clip(signed * np.float32(1 / pixel) + 0.5, 0, 1)

    def ellipse(cx, cy, rx, ry) -> np.ndarray:
        dist = np.sqrt(((xs - cx) / rx) ** 2 + ((ys - cy) / ry) ** 2)
        return soft((1 - dist) * np.minimum(rx, ry))

    def paint(image: np.ndarray, colour: np.ndarray, mask: np.ndarray) -> None:  # in place, no temporaries
        np.subtract(colour.reshape(-1, 3, 1, 1), image, out=scratch)
        np.multiply(scratch, mask[:, None], out=scratch)
        image += scratch

    cx, cy, rx, ry, fringe, beard, wrinkles, gain, occluder, occluder_y, corruption = (
        p[key].reshape(-1, 1, 1) for key in ("cx", "cy", "rx", "ry", "fringe", "beard", "wrinkles", "gain",
                                             "occluder", "occluder_y", "corruption"))
    image = p["background"].reshape(-1, 3, 1, 1) * (1 + p["gradient"].reshape(-1, 1, 1, 1) * ys[:, None])
    image = np.repeat(image, size, axis=3)
    scratch = np.empty_like(image)
    paint(image, p["clothes"], ellipse(cx, 1.05, 1.7 * rx, 0.45))
    hair_length = cy + p["hair_length"].reshape(-1, 1, 1) * ry
    volume = p["hair_volume"].reshape(-1, 1, 1)
    paint(image, p["hair"], ellipse(cx, cy - 0.1 * ry, (1 + 0.25 * volume) * rx, (1 + 0.15 * volume) * ry)
          * soft(hair_length - ys))
    face = ellipse(cx, cy, rx, ry)
    paint(image, p["skin"], face)
    lines = 0.5 + 0.5 * np.cos(2 * np.pi * (ys - cy) / _WRINKLE_PERIOD)
    cheeks = face * soft(ys - (cy - fringe * ry)) * soft(cy + 0.3 * ry - ys)
    image *= (1 - wrinkles * lines * cheeks)[:, None]
    paint(image, _STUBBLE, beard * face * soft(ys - (cy + 0.2 * ry)))
    paint(image, p["hair"], face * soft(cy - fringe * ry - ys))
    eyes = [ellipse(cx + side * 0.38 * rx, cy - 0.1 * ry, 0.08, 0.06) for side in (-1, 1)]
    paint(image, _EYES, np.maximum(*eyes))
    paint(image, _LIPS, ellipse(cx, cy + 0.5 * ry, 0.3 * rx, 0.07))
    paint(image, p["occluder_colour"], occluder * face * soft(0.2 * ry - np.abs(ys - cy - occluder_y * ry)))
    image *= gain[:, None]
    image += options.pixel_noise * rng.standard_normal(image.shape, dtype=np.float32)
    corrupted = p["corruption"] > 0
    image[corrupted] += ((rng.random((corrupted.sum(), *image.shape[1:]), dtype=np.float32) - image[corrupted])
                         * corruption[corrupted, None])
    for k in (1, 2, 3):
        turned = p["turns"] == k
        image[turned] = np.rot90(image[turned], k, axes=(2, 3))
    return np.rint(np.clip(image, 0, 1) * 255).astype(np.uint8)
