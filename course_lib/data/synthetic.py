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

With the defaults, a :class:`~course_lib.training.models.SmallCNN` trained on the 20,000 training images
reaches 92-94% top-1 and misses 60-85% of the blond men against 20-36% of the blond women (4 epochs
of Adam at lr 1e-3, or 8 epochs at lr 3e-3; data seeds 0 and 1). Hooker et al. report 62.65%
against 19.09% for their CelebA baseline.

Two documented hard subsets follow D'souza et al. (2021, *A tale of two long tails*), each with a
ground-truth flag: **noisy** examples (a flipped label, or an image corrupted beyond recognition)
and **atypical** examples (correctly labelled but rare renderings: upside down, rotated, occluded,
or with an unusual skin colour).

Counterfactual twins
--------------------
Every random draw of the renderer (:func:`course_lib.data.faces.render`) is made for every face,
whatever its attributes; only the *use* of a draw depends on them (a woman's draw of a stubble
opacity is drawn, then multiplied by 0). So a pool rendered again from the same seed, with one
protected attribute negated, gives each face its **counterfactual twin**: the same person (hair
tone, skin, pose, background, illumination, pixel noise, rendering, label) with the other sex
(stubble and haircut) or the other age (wrinkles), something no photograph offers.
:func:`counterfactual_synthetic_celeba` returns these twins, for counterfactual data augmentation
or to measure how much a model's prediction moves with the protected attribute alone.

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

from dataclasses import asdict

import numpy as np
import pandas as pd
import torch

from ..core import cache
from ..core.validation import check_integer, check_option, check_real
from .dataset import ImageDataset, check_split, from_uint8, seeded_test_mask
from .faces import RenderOptions, render

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

PROTECTED_ATTRIBUTES = ("male", "young")
"""The protected attributes, the columns that :func:`counterfactual_synthetic_celeba` can flip."""

MIXES = ("celeba", "balanced")
"""The attribute mixes a pool can have, CelebA's or one balanced in Blond x Male (see :func:`load_synthetic_celeba`)."""


def _joint_shares(mix: str = "celeba") -> pd.Series:
    male, young = dict(CELEBA_TRAIN_COUNTS["male"]), CELEBA_TRAIN_COUNTS["young"]
    if mix == "balanced":  # each hair colour split evenly between men and women; its total kept
        for blond in (True, False):
            half = (male[(blond, True)] + male[(blond, False)]) / 2
            male[(blond, True)] = male[(blond, False)] = half
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


def load_synthetic_celeba(*, split: str = "train", seed: int = 0, n: int = 30_000,
                          test_fraction: float = 1 / 3, image_size: int = 32,
                          hair_shift: float = 0.5, hair_spread: float = 0.2,
                          pixel_noise: float = 0.1, illumination: float = 0.2,
                          beard_strength: float = 0.8, age_texture: float = 0.35,
                          noisy_rate: float = 0.02, atypical_rate: float = 0.02, mix: str = "celeba") -> ImageDataset:
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
    mix : {"celeba", "balanced"}
        ``"celeba"``: the (blond, male, young) shares of CelebA's training split
        (:data:`CELEBA_JOINT_SHARES`). ``"balanced"``: the same share of blond people, split
        evenly between men and women (and the non-blond likewise), *Young* given *Blond* as in
        CelebA: blond men are then as common as blond women, and drawn the same way as in the
        CelebA mix. The control that separates their rarity from their rendering.

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

    See Also
    --------
    counterfactual_synthetic_celeba : The same examples with one protected attribute flipped.
    """
    options = RenderOptions(image_size, hair_shift, hair_spread, pixel_noise, illumination, beard_strength,
                            age_texture, noisy_rate, atypical_rate)
    return _load_pool_split(split, seed, n, test_fraction, options, mix, flip=None)


def counterfactual_synthetic_celeba(*, flip: str = "male", split: str = "train", seed: int = 0, n: int = 30_000,
                                    test_fraction: float = 1 / 3, image_size: int = 32,
                                    hair_shift: float = 0.5, hair_spread: float = 0.2,
                                    pixel_noise: float = 0.1, illumination: float = 0.2,
                                    beard_strength: float = 0.8, age_texture: float = 0.35,
                                    noisy_rate: float = 0.02, atypical_rate: float = 0.02,
                                    mix: str = "celeba") -> ImageDataset:
    """The counterfactual twins of :func:`load_synthetic_celeba`: the same faces, one attribute flipped.

    Example ``i`` of the result is example ``i`` of ``load_synthetic_celeba(**same arguments)``
    (same split, same order) rendered with every random draw of the original (hair tone, skin,
    pose, background, clothes, illumination, pixel noise, rendering kind) and the protected
    attribute ``flip`` negated. Flipping ``"male"`` changes the stubble and the haircut (hair
    length, volume and hairline) and nothing else; flipping ``"young"`` adds or removes the
    wrinkles. The label does not change: a blond woman's twin is a blond man. Cached on disk like
    the original pool, under a key that includes ``flip``.

    Parameters
    ----------
    flip : {"male", "young"}
        The protected attribute to negate (one of :data:`PROTECTED_ATTRIBUTES`).
    split, seed, n, test_fraction, mix
        As in :func:`load_synthetic_celeba`: they select the examples whose twins are returned.
    image_size, hair_shift, hair_spread, pixel_noise, illumination
        As in :func:`load_synthetic_celeba`.
    beard_strength, age_texture, noisy_rate, atypical_rate
        As in :func:`load_synthetic_celeba`.

    Returns
    -------
    ImageDataset
        ``images`` ``(N, 3, image_size, image_size)`` float32 in [0, 1] and ``targets`` ``(N,)``,
        with ``N`` and ``targets`` those of the original split. ``attributes`` has the columns of
        :func:`load_synthetic_celeba`, equal to the original ones except ``flip``, which is
        negated; its ``example_id`` is the original one with the suffix ``"~<flip>"``
        (``"syn-000123~male"``, see :func:`flip_attribute`), so that originals and twins can be
        concatenated (:func:`course_lib.data.concat`) for counterfactual augmentation without
        clashing ids.

    Raises
    ------
    ValueError
        For an unknown ``flip`` or ``split``, or an option out of range; the message names the
        argument.

    Notes
    -----
    The twin of a twin is the original: negating the attribute again renders the original images
    exactly, because the renderer's random stream does not depend on the attributes.
    """
    check_option(flip, "flip", PROTECTED_ATTRIBUTES)
    options = RenderOptions(image_size, hair_shift, hair_spread, pixel_noise, illumination, beard_strength,
                            age_texture, noisy_rate, atypical_rate)
    return _load_pool_split(split, seed, n, test_fraction, options, mix, flip=flip)


def _load_pool_split(split: str, seed: int, n: int, test_fraction: float, options: RenderOptions, mix: str,
                     *, flip: str | None) -> ImageDataset:
    """Check the arguments, get the (cached) pool and return one split of it as an ``ImageDataset``.

    ``flip=None`` gives the pool of :func:`load_synthetic_celeba`, a protected attribute its
    counterfactual twin (see :func:`build_pool`).
    """
    check_split(split)
    check_integer(seed, "seed", low=0)
    check_integer(n, "n", low=100)
    check_real(test_fraction, "test_fraction", low=0, high=1, closed="neither")
    check_option(mix, "mix", MIXES)
    options.check()
    seed, n = int(seed), int(n)
    config = {"dataset": NAME, "format": FORMAT_VERSION, "seed": seed, "n": n, **asdict(options)}
    if mix != "celeba":  # the CelebA mix keeps the key it had before mixes existed
        config["mix"] = mix
    if flip is not None:  # the original pool keeps the key it had before counterfactuals existed
        config["flip"] = flip
    pool = cache.cached("data", config, lambda: build_pool(n, seed, options, mix, flip=flip))
    index = np.arange(n)
    if split != "all":
        test = seeded_test_mask(n, test_fraction=test_fraction, seed=seed)
        index = index[test if split == "test" else ~test]
    rows = torch.from_numpy(index)
    return from_uint8(NAME, split, pool["images"][rows], pool["targets"][rows], pool["attributes"].iloc[index],
                      CLASSES)


def build_pool(n: int, seed: int, options: RenderOptions, mix: str = "celeba", *, flip: str | None = None) -> dict:
    """Render a pool: ``{"images": uint8 (n, 3, S, S), "targets": int64 (n,), "attributes": DataFrame}``.

    With ``flip`` (one of :data:`PROTECTED_ATTRIBUTES`), the pool of counterfactual twins: the
    same attribute table and random stream, the column ``flip`` negated before rendering (see
    :func:`flip_attribute`). Uncached; :func:`load_synthetic_celeba` and
    :func:`counterfactual_synthetic_celeba` are the entry points.
    """
    rng = np.random.default_rng([seed, 0xCE1EBA])  # a stream apart from the split's default_rng(seed)
    table = _sample_attributes(n, rng, noisy_rate=options.noisy_rate, atypical_rate=options.atypical_rate,
                               shares=_joint_shares(mix))
    if flip is not None:
        table = flip_attribute(table, flip)
    images = render(table, rng, options)
    return {"images": images, "targets": torch.from_numpy(table["blond"].to_numpy(np.int64)),
            "attributes": table}


def flip_attribute(table: pd.DataFrame, flip: str) -> pd.DataFrame:
    """The attribute table of the counterfactual twins of ``table``: column ``flip`` negated.

    Parameters
    ----------
    table : pandas.DataFrame
        An attribute table of :func:`load_synthetic_celeba` (``n`` rows, indexed by ``example_id``).
    flip : {"male", "young"}
        The protected attribute to negate.

    Returns
    -------
    pandas.DataFrame
        A copy of ``table``, ``n`` rows in the same order, with ``table[flip]`` negated and the
        suffix ``"~<flip>"`` toggled on every ``example_id`` (``"syn-000123"`` becomes
        ``"syn-000123~male"``, and back); the other columns are unchanged. Flipping twice gives
        ``table`` back, and flips of different attributes commute (``"syn-000123~male~young"``).
    """
    check_option(flip, "flip", PROTECTED_ATTRIBUTES)
    twins = table.copy()
    twins[flip] = ~twins[flip]
    twins.index = pd.Index([_twin_id(example_id, flip) for example_id in table.index], name=table.index.name)
    return twins


def _twin_id(example_id: str, flip: str) -> str:
    """``example_id`` with the suffix ``"~<flip>"`` toggled, the suffixes in :data:`PROTECTED_ATTRIBUTES` order."""
    base, *flipped = example_id.split("~")
    flipped = set(flipped) ^ {flip}
    return "~".join([base, *(name for name in PROTECTED_ATTRIBUTES if name in flipped)])


def _allocate(total: int, weights: np.ndarray) -> np.ndarray:
    """Split ``total`` into integer counts proportional to ``weights`` (largest-remainder rounding)."""
    exact = total * np.asarray(weights, dtype=float) / np.sum(weights)
    counts = np.floor(exact).astype(np.int64)
    order = np.argsort(-(exact - counts), kind="stable")
    counts[order[: total - counts.sum()]] += 1
    return counts


def _sample_attributes(n: int, rng: np.random.Generator, *, noisy_rate: float, atypical_rate: float,
                       shares: pd.Series = CELEBA_JOINT_SHARES) -> pd.DataFrame:
    """The attribute table of a pool of ``n`` (see :func:`load_synthetic_celeba` for the columns)."""
    counts = _allocate(n, shares.to_numpy())
    cells = np.repeat(np.arange(len(counts)), counts)[rng.permutation(n)]
    blond, male, young = (np.array(level, dtype=bool)[cells] for level in zip(*shares.index))
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
