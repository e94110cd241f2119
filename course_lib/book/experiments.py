"""The experimental set-ups the chapters share: which data, which populations, under a profile.

Chapters that study the same populations call the same function here, so they ask the cache
for the same configuration and a population trained by one chapter is loaded, never retrained,
by the next ("train once, analyse many times")::

    P = book.start(profile)
    train, test = experiments.fashion_mnist(P)
    pops = experiments.populations(P, train, levels=[0.0, 0.9])
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from dataclasses import replace

from .. import data
from ..core.profiles import Profile, get_profile
from ..data import ImageDataset
from ..data.utkface import MalformedNameWarning
from ..populations import Level, Population, train_populations
from ..training import TrainingRecipe


def recipe(profile: str | Profile) -> TrainingRecipe:
    """The :class:`~course_lib.training.recipe.TrainingRecipe` of a profile: its epochs, batch size, lr and schedule."""
    profile = get_profile(profile)
    return TrainingRecipe(epochs=profile.epochs, batch_size=profile.batch_size, lr=profile.lr,
                          lr_schedule=profile.lr_schedule)


def finetune_recipe(profile: str | Profile) -> TrainingRecipe:
    """The recipe of a profile with its ``finetune_epochs`` (fine-tuning after one-shot pruning)."""
    return replace(recipe(profile), epochs=get_profile(profile).finetune_epochs)


def fashion_mnist(profile: str | Profile) -> tuple[ImageDataset, ImageDataset]:
    """The Fashion-MNIST train and test sets of a profile.

    ``n_train`` and ``n_test`` examples, drawn with seed 0 and stratified by class, from the
    official splits (the whole splits when the profile says ``None``).
    """
    profile = get_profile(profile)
    train = data.load("fashion-mnist", split="train").sample(profile.n_train, seed=0)
    test = data.load("fashion-mnist", split="test").sample(profile.n_test, seed=0)
    return train, test


def synthetic_celeba(profile: str | Profile) -> tuple[ImageDataset, ImageDataset]:
    """The synthetic CelebA-like train and test sets of a profile (target: Blond).

    ``synthetic_n`` examples are generated with seed 0, two thirds for training and one third for
    testing, all of them used: its rare groups (Blond males are 0.8% of the data) need every
    example.
    """
    profile = get_profile(profile)
    load = {"n": profile.synthetic_n, "image_size": 32}
    return (data.load("synthetic-celeba", split="train", **load),
            data.load("synthetic-celeba", split="test", **load))


def utkface(profile: str | Profile) -> tuple[ImageDataset, ImageDataset]:
    """The UTKFace train and test sets of a profile (target: gender), at ``image_size`` pixels.

    The official-layout folder has no split; :func:`~course_lib.data.load` draws a seeded one,
    from which ``n_train`` and ``n_test`` examples are drawn as for :func:`fashion_mnist`
    (stratified by gender). Under ``course`` the whole test split is kept, so that the rarest
    race-gender-age groups keep every image.
    """
    profile = get_profile(profile)
    with warnings.catch_warnings():  # the 3 files with malformed names are reported in the data cards
        warnings.simplefilter("ignore", MalformedNameWarning)
        train = data.load("utkface", split="train", image_size=profile.image_size)
        test = data.load("utkface", split="test", image_size=profile.image_size)
    return train.sample(profile.n_train, seed=0), test.sample(profile.n_test, seed=0)


def populations(profile: str | Profile, train: ImageDataset, *, levels: Sequence[Level],
                progress: bool = False) -> dict[Level, Population]:
    """The populations of a profile at every level: ``population_size`` models each.

    Trained with the profile's :func:`recipe` on its device by
    :func:`~course_lib.populations.population.train_populations` (sparse levels by gradual
    magnitude pruning, quantization schemes by quantizing the dense members), or loaded from the
    cache.
    """
    profile = get_profile(profile)
    return train_populations(train, levels=levels, size=profile.population_size, recipe=recipe(profile),
                             device=profile.torch_device, progress=progress)
