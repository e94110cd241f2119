"""The experimental set-ups the chapters share: which data, which populations, under a profile.

Chapters that study the same populations call the same function here, so they ask the cache
for the same configuration and a population trained by one chapter is loaded, never retrained,
by the next ("train once, analyse many times")::

    P = book.start(profile)
    train, test = experiments.fashion_mnist(P)
    pops = experiments.populations(P, train, levels=[0.0, 0.9])
    control = experiments.control(P, train)

The design of every comparison
------------------------------
As in Hooker et al. (2019, 2020), populations are trained independently: three disjoint
families of seeds (:func:`seeds`) give the *baseline* dense population, the *compressed*
populations (every sparsity level, and the dense members that quantization starts from) and a
*control* population, dense again. The control is the noise baseline of every finding
(:mod:`course_lib.analysis.noise`): whatever the baseline and the control disagree on, seeds
alone produced. Compressed members are not paired with baseline members, so the tests that
compare the two are tests for independent samples.

The face models are the exception (:func:`finetuned_populations`). They are the costliest of the
course, so their compressed members are made from the baseline's by a short fine-tuning
during which they are pruned, and their control is the same fine-tuning without the pruning:
every comparison of faces is *paired*, member by member, and its tests are the paired ones.

Sparse networks trained from scratch (:func:`scratch_population`) take a fourth family of seeds,
*scratch*, and the masks of the compressed population of their level: member ``k`` shares its
mask with compressed member ``k``, so comparisons with pruning are paired by mask; their noise
baseline is :func:`control` at the same sparsity, pruned from the control family.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from dataclasses import replace

import numpy as np
import pandas as pd
import torch

from .. import data, remedies
from ..core.profiles import Profile, get_profile
from ..data import ImageDataset
from ..data.synthetic import counterfactual_synthetic_celeba
from ..data.utkface import MalformedNameWarning
from ..core.validation import check_bool, check_option, check_real
from ..populations import Level, Population, check_level, quantize_population, train_population
from ..training import Objective, TrainingRecipe

SEED_FAMILIES = {"baseline": 0, "compressed": 1_000, "control": 2_000, "scratch": 3_000, "randomness": 4_000}
"""The first seed of each family of populations (before the profile's ``seed_offset``)."""

MODELS: dict[str, dict] = {"synthetic-celeba": {"channels": (8, 16), "hidden": 32},
                           "utkface": {"channels": (16, 32, 64), "hidden": 128, "batch_norm": True}}
"""Arguments of :func:`~course_lib.training.models.make_model` by dataset, where they differ from its defaults.

The synthetic set is easy for the default network: dense, it reaches the ceiling its label
noise allows, and even 99% sparsity changes fewer modal labels than twice what a change of
seeds does. Half the width reaches the same dense top-1 but no longer has capacity to spare,
so that high sparsity bites while top-1 barely moves: the regime the papers study.

Real faces need more: three Conv-BatchNorm-ReLU-MaxPool blocks. With the recipe of
:data:`RECIPES` they are gender classifiers of the accuracy a small CNN reaches on 32-pixel
faces (the chapters report it), not the under-trained models of a plain recipe.
"""

RECIPES: dict[str, dict] = {"utkface": {"lr_schedule": "one-cycle", "flip": True, "crop_padding": 2}}
"""Options of the :class:`~course_lib.training.recipe.TrainingRecipe` by dataset, where they differ from the profile's.

Faces are trained with random horizontal flips and shifts of up to 2 pixels (a face mirrored is
still a face of the same gender), the one-cycle schedule, and the profile's ``face_epochs``.
"""


def recipe(profile: str | Profile, dataset: str | None = None) -> TrainingRecipe:
    """The :class:`~course_lib.training.recipe.TrainingRecipe` of a profile for ``dataset``.

    The profile's epochs, batch size, lr and schedule, with the dataset's :data:`RECIPES`
    options; faces (UTKFace) train for the profile's ``face_epochs``.
    """
    profile = get_profile(profile)
    options = {"epochs": profile.epochs, "batch_size": profile.batch_size, "lr": profile.lr,
               "lr_schedule": profile.lr_schedule}
    if dataset == "utkface":
        options["epochs"] = profile.face_epochs
    return TrainingRecipe(**options | RECIPES.get(dataset, {}))


def finetune_recipe(profile: str | Profile) -> TrainingRecipe:
    """The recipe of a profile with its ``finetune_epochs`` (fine-tuning after one-shot pruning)."""
    return replace(recipe(profile), epochs=get_profile(profile).finetune_epochs)


def seeds(profile: str | Profile, family: str) -> tuple[int, ...]:
    """The ``population_size`` seeds of a family of :data:`SEED_FAMILIES` (``"baseline"``, ``"control"``, ...).

    ``10_000 * seed_offset + SEED_FAMILIES[family] + k`` for member ``k``: the families never
    share a seed, whatever the population size up to 1,000.

    Examples
    --------
    >>> seeds("smoke", "control")
    (2000, 2001)
    """
    profile = get_profile(profile)
    first = 10_000 * profile.seed_offset + SEED_FAMILIES[check_option(family, "family", list(SEED_FAMILIES))]
    return tuple(range(first, first + profile.population_size))


def fashion_mnist(profile: str | Profile) -> tuple[ImageDataset, ImageDataset]:
    """The Fashion-MNIST train and test sets of a profile.

    ``n_train`` and ``n_test`` examples, drawn with the profile's ``data_seed`` and stratified
    by class, from the official splits (the whole splits when the profile says ``None``).
    """
    profile = get_profile(profile)
    train = data.load("fashion-mnist", split="train").sample(profile.n_train, seed=profile.data_seed)
    test = data.load("fashion-mnist", split="test").sample(profile.n_test, seed=profile.data_seed)
    return train, test


def synthetic_celeba(profile: str | Profile, *, mix: str = "celeba") -> tuple[ImageDataset, ImageDataset]:
    """The synthetic CelebA-like train and test sets of a profile (target: Blond).

    ``synthetic_n`` examples are generated from the profile's ``data_seed``, two thirds for
    training and one third for testing, all of them used: its rare groups (Blond males are 0.8%
    of the data) need every example. ``mix="balanced"`` renders the Blond x Male balanced pool of
    :func:`~course_lib.data.synthetic.load_synthetic_celeba` instead.
    """
    profile = get_profile(profile)
    load = {"n": profile.synthetic_n, "image_size": 32, "seed": profile.data_seed, "mix": mix}
    return (data.load("synthetic-celeba", split="train", **load),
            data.load("synthetic-celeba", split="test", **load))


def utkface(profile: str | Profile) -> tuple[ImageDataset, ImageDataset]:
    """The UTKFace train and test sets of a profile (target: gender), at ``image_size`` pixels.

    The official-layout folder has no split; :func:`~course_lib.data.load` draws one from the
    profile's ``data_seed``, from which ``face_n_train`` and ``n_test`` examples are drawn as
    for :func:`fashion_mnist` (stratified by gender). Under ``course`` both splits are kept
    whole: the classifiers need every training face, and the rarest race-gender-age groups
    every test face.
    """
    profile = get_profile(profile)
    with warnings.catch_warnings():  # the 3 files with malformed names are reported in the data cards
        warnings.simplefilter("ignore", MalformedNameWarning)
        train = data.load("utkface", split="train", image_size=profile.image_size, seed=profile.data_seed)
        test = data.load("utkface", split="test", image_size=profile.image_size, seed=profile.data_seed)
    return (train.sample(profile.face_n_train, seed=profile.data_seed),
            test.sample(profile.n_test, seed=profile.data_seed))


def _population(profile: Profile, train: ImageDataset, level: Level, member_seeds: Sequence[int],
                progress: bool, checkpoints: bool = False) -> Population:
    training = recipe(profile, train.name)
    return train_population(train, level=level, size=len(member_seeds), seeds=member_seeds, recipe=training,
                            model_kwargs=MODELS.get(train.name),
                            checkpoint_epochs=range(training.epochs + 1) if checkpoints else (),
                            device=profile.torch_device, progress=progress)


def populations(profile: str | Profile, train: ImageDataset, *, levels: Sequence[Level], with_control: bool = False,
                checkpoints: bool = False, progress: bool = False) -> dict[Level, Population]:
    """The populations of a profile at every level: ``population_size`` models each.

    Level ``0.0`` is the *baseline* family of seeds; every other level, the *compressed* family
    (:func:`seeds`). The network is :data:`MODELS`'s for the dataset. Sparse levels by gradual
    magnitude pruning during training, quantization schemes by quantizing the compressed
    family's dense members. Trained with the profile's :func:`recipe` on its device by
    :func:`~course_lib.populations.population.train_population`, or loaded from the cache.

    ``with_control=True`` trains the :func:`control` population together with the baseline, in
    one call of the engine (the same members as apart, bit for bit on a CPU: a member does not
    depend on its group). On 2 cores the 10 members of the two then train as two groups of 5,
    where each population alone would train as groups of 3 and 2, one core idle a third of the time.
    It needs level ``0.0`` among ``levels``.

    ``checkpoints=True`` keeps every member's weights after every epoch (``0``: the
    initialisation). Checkpoints are not part of the cache key: members cached without them are
    retrained, to the same weights, and stored with them.
    """
    profile = get_profile(profile)
    levels = [check_level(level, "levels") for level in levels]
    if check_bool(with_control, "with_control") and 0.0 not in levels:
        raise ValueError(f"with_control=True trains the control beside the baseline, so levels must hold 0.0, "
                         f"got {levels}")
    check_bool(checkpoints, "checkpoints")
    if with_control:
        _population(profile, train, 0.0, seeds(profile, "baseline") + seeds(profile, "control"), progress)
    return {level: _population(profile, train, level, seeds(profile, "baseline" if level == 0.0 else "compressed"),
                               progress, checkpoints)
            for level in levels}


def finetuned_populations(profile: str | Profile, train: ImageDataset, *, levels: Sequence[Level],
                          progress: bool = False) -> dict[Level, Population]:
    """Populations made from the members of the baseline population: the paired design.

    Each sparse level fine-tunes every baseline member (:func:`populations` at level ``0.0``)
    for the profile's ``face_finetune_epochs`` with :func:`recipe`'s options, pruning it
    gradually to that sparsity over the fine-tuning (Zhu & Gupta 2017 prune trained models this
    way). Level ``0.0`` is the same fine-tuning without pruning: the *control* of the paired
    design, what the fine-tuning alone changes. Both use the *compressed* family of seeds for
    the data order and augmentation, so within a pair pruning is the only difference. A
    quantization scheme quantizes the baseline members themselves (it needs no training).
    Member ``k`` of every population returned is paired with member ``k`` of the baseline:
    compare them with ``paired=True``.

    It needs level ``0.0`` among ``levels``: a comparison without its control is not made.
    """
    profile = get_profile(profile)
    levels = [check_level(level, "levels") for level in levels]
    if 0.0 not in levels:
        raise ValueError(f"levels must hold 0.0 (the fine-tuned control), got {levels}")
    baseline = populations(profile, train, levels=[0.0], progress=progress)[0.0]
    made = {}
    for level in levels:
        if isinstance(level, str):
            made[level] = quantize_population(baseline, level)
        else:
            made[level] = _finetuned(profile, train, baseline, level, progress=progress)
    return made


def _finetuned(profile: Profile, data: ImageDataset, baseline: Population, level: float, *,
               objective: Objective | None = None, progress: bool) -> Population:
    """Every baseline member fine-tuned on ``data`` and pruned gradually to ``level``: the paired design's one recipe."""
    tuning = replace(recipe(profile, data.name), epochs=profile.face_finetune_epochs)
    return train_population(data, level=level, size=len(baseline), seeds=seeds(profile, "compressed"), recipe=tuning,
                            model_kwargs=MODELS.get(data.name), start=baseline, objective=objective,
                            device=profile.torch_device, progress=progress)


REMEDIES = ("pruning", "distillation", "re-weighting", "re-sampling", "group DRO")
"""The ways :func:`remedied_populations` makes a compressed population: plain pruning and four remedies."""

GROUP_DRO_STEP_SIZE = 0.05
"""Step size of the group weights of :class:`~course_lib.remedies.group_dro.GroupDRO` on faces.

Sagawa et al. (2020) train for dozens of epochs at 0.01; a fine-tuning of a few epochs needs a
larger step for the weights to move at all: over ``T`` steps, a group whose loss stays ``d``
above another's gains a factor ``exp(eta * d * T)`` on it."""


def remedy_groups(train: ImageDataset) -> pd.DataFrame:
    """The groups the face remedies balance: race and gender (the target), one row per training face."""
    return train.attributes[["race", "gender"]].reset_index(drop=True)


def remedied_populations(profile: str | Profile, train: ImageDataset, *, level: float,
                         methods: Sequence[str] = REMEDIES, progress: bool = False) -> dict[str, Population]:
    """Compressed populations made with and without a remedy, all paired with the baseline.

    Every method fine-tunes each baseline member (:func:`populations` at level ``0.0``) exactly as
    :func:`finetuned_populations` does at ``level`` -- the same epochs, recipe, data order and
    gradual pruning -- and changes one thing:

    ``"pruning"``
        Nothing: plain pruning, the population of :func:`finetuned_populations` (loaded, not retrained).
    ``"distillation"``
        The loss is :class:`~course_lib.remedies.distillation.Distillation` (``T = 4``,
        ``alpha = 0.9``, ``gamma = 0.1``), the teacher being the member's own dense start, as in
        Blakeney et al.'s code (the student is a copy of the teacher, pruned while it distils).
    ``"re-weighting"``
        The loss weighs each face by the inverse of its race-gender group's size
        (:class:`~course_lib.remedies.rebalancing.Reweighting`).
    ``"re-sampling"``
        The fine-tuning set is a group-balanced re-sample of the training set, as many faces as
        before (:func:`~course_lib.remedies.rebalancing.balanced_indices`, seeded with the
        profile's ``data_seed``).
    ``"group DRO"``
        The loss is :class:`~course_lib.remedies.group_dro.GroupDRO` over the race-gender
        groups, step size :data:`GROUP_DRO_STEP_SIZE`.

    Member ``k`` of every population returned is paired with member ``k`` of the baseline (and
    of each other): compare them with ``paired=True``.
    """
    profile = get_profile(profile)
    level = check_real(level, "level", low=0, high=1, closed="neither")
    for method in methods:
        check_option(method, "methods", REMEDIES)
    baseline = populations(profile, train, levels=[0.0], progress=progress)[0.0]
    codes, _ = remedies.group_codes(remedy_groups(train))
    made = {}
    for method in methods:
        data, objective = train, None
        if method == "distillation":
            objective = remedies.Distillation()
        elif method == "re-weighting":
            objective = remedies.Reweighting(codes)
        elif method == "group DRO":
            objective = remedies.GroupDRO(codes, step_size=GROUP_DRO_STEP_SIZE)
        elif method == "re-sampling":
            data = train.subset(remedies.balanced_indices(codes, seed=profile.data_seed))
        made[method] = _finetuned(profile, data, baseline, level, objective=objective, progress=progress)
    return made


def counterfactual_substituted(profile: str | Profile) -> ImageDataset:
    """The synthetic training set of a profile, each face replaced by its twin of the other sex with probability 1/2.

    *Counterfactual data substitution* (Maudslay et al. 2019 substitute gendered words in text
    this way): each face of :func:`synthetic_celeba`'s training set is kept, or swapped for its
    counterfactual twin with ``male`` negated
    (:func:`~course_lib.data.synthetic.counterfactual_synthetic_celeba`: the same hair, label and
    everything else), by a fair coin drawn from the profile's ``data_seed``. Sex then no longer
    predicts *Blond* in the training data, and the set keeps its size, so a population trained on
    it costs what one trained on the original does.
    """
    profile = get_profile(profile)
    train, _ = synthetic_celeba(profile)
    twins = counterfactual_synthetic_celeba(flip="male", split="train", n=profile.synthetic_n, image_size=32,
                                            seed=profile.data_seed)
    swap = np.random.default_rng([profile.data_seed, 0xC0F]).random(len(train)) < 0.5
    chosen = torch.from_numpy(swap)
    attributes = pd.concat([train.attributes[~swap], twins.attributes[swap]]).iloc[
        np.argsort(np.concatenate([np.flatnonzero(~swap), np.flatnonzero(swap)]), kind="stable")]
    return ImageDataset(train.name, "train", torch.where(chosen[:, None, None, None], twins.images, train.images),
                        train.targets, attributes, train.classes)


def counterfactual_populations(profile: str | Profile, *, levels: Sequence[float],
                               progress: bool = False) -> dict[float, Population]:
    """Populations trained like :func:`populations` but on :func:`counterfactual_substituted` data.

    Level ``0.0`` from the *baseline* family of seeds, sparse levels from the *compressed* family,
    each by gradual magnitude pruning during training: the counterparts, member by member in
    seeds (not in data), of :func:`populations` on the plain synthetic set.
    """
    profile = get_profile(profile)
    substituted = counterfactual_substituted(profile)
    return {level: _population(profile, substituted, check_level(level, "levels"),
                               seeds(profile, "baseline" if level == 0.0 else "compressed"), progress)
            for level in levels}


def vog_population(profile: str | Profile, train: ImageDataset, *, progress: bool = False) -> tuple[ImageDataset, Population]:
    """The population whose checkpoints Variance of Gradients reads, and the examples it was trained on.

    ``vog_n_train`` examples drawn (stratified by class) from ``train`` with the profile's
    ``data_seed``; the baseline family of seeds and :data:`MODELS`'s network; the profile's
    recipe for ``vog_epochs`` epochs at a constant learning rate (as the authors' toy script
    trains), with a checkpoint after every epoch: a long run, so that the checkpoints span early
    and late training, on few examples, so that scoring all of them stays cheap.
    """
    profile = get_profile(profile)
    examples = train.sample(profile.vog_n_train, seed=profile.data_seed)
    tuning = replace(recipe(profile, train.name), epochs=profile.vog_epochs, lr_schedule="constant")
    return examples, train_population(examples, level=0.0, size=profile.population_size,
                                      seeds=seeds(profile, "baseline"), recipe=tuning,
                                      model_kwargs=MODELS.get(train.name),
                                      checkpoint_epochs=range(profile.vog_epochs + 1),
                                      device=profile.torch_device, progress=progress)


TARGETED_SHARE = 0.2
"""The share of training examples that targeted augmentation flips and shifts each epoch (D'souza et al. 2021)."""


def targeted_vog_population(profile: str | Profile, train: ImageDataset, *,
                            progress: bool = False) -> tuple[ImageDataset, Population]:
    """:func:`vog_population` again, with targeted augmentation: the same examples, seeds and checkpoints.

    From the second epoch on, each member flips and shifts (by up to 2 pixels) the
    :data:`TARGETED_SHARE` of the training examples with its lowest maximum softmax probability
    after the previous epoch (:class:`~course_lib.training.recipe.TrainingRecipe`'s
    ``augment_hardest``), as D'souza et al. (2021) intervene on their uncertain examples. Member
    ``k`` shares its seed, data and order with member ``k`` of :func:`vog_population`: they are
    paired, and the augmentation is the only difference.
    """
    profile = get_profile(profile)
    examples, plain = vog_population(profile, train, progress=progress)
    tuning = replace(recipe(profile, train.name), epochs=profile.vog_epochs, lr_schedule="constant", flip=True,
                     crop_padding=2, augment_hardest=TARGETED_SHARE)
    return examples, train_population(examples, level=0.0, size=profile.population_size,
                                      seeds=plain.seeds, recipe=tuning, model_kwargs=MODELS.get(train.name),
                                      checkpoint_epochs=range(profile.vog_epochs + 1),
                                      device=profile.torch_device, progress=progress)


def control(profile: str | Profile, train: ImageDataset, *, level: float = 0.0, progress: bool = False) -> Population:
    """The control population: trained like the population of ``level`` from the *control* family of seeds.

    What it disagrees on with the population of ``level`` (:func:`populations`), seeds alone
    produced (:mod:`course_lib.analysis.noise`). Level ``0.0`` (the default) is the dense
    control of every chapter; a sparse level is the noise baseline of comparisons between sparse
    populations (:func:`scratch_population`).
    """
    profile = get_profile(profile)
    level = check_level(level, "level")
    if isinstance(level, str):
        raise ValueError(f"level must be a sparsity (a quantized control is the dense one quantized), got {level!r}")
    return _population(profile, train, level, seeds(profile, "control"), progress)


SCRATCH_ARMS = ("dense", "layer-scaled", "unit-scaled", "lottery")
"""How a sparse network trained from scratch starts (:func:`scratch_population`)."""


def scratch_population(profile: str | Profile, train: ImageDataset, *, level: float, arm: str,
                       objective: Objective | None = None, progress: bool = False) -> Population:
    """Sparse networks trained from scratch with the masks of the pruned population of ``level``.

    Evci et al. (2022, "Gradient flow in sparse neural networks and how lottery tickets win")
    compare a pruned solution with networks that keep its mask from the first step. Member ``k``
    takes the final mask of member ``k`` of :func:`populations` at ``level`` (gradual magnitude
    pruning during training) and keeps it fixed while it trains with the profile's
    :func:`recipe` from:

    * ``"dense"``, ``"layer-scaled"``, ``"unit-scaled"``: a fresh initialisation and data order
      (the *scratch* family of seeds), its kept weights drawn as
      :func:`~course_lib.compression.sparse_init.initialise_sparse` says;
    * ``"lottery"``: the pruned member's own initial weights and data order (its seed), masked:
      the rewinding of Frankle and Carbin (2019).

    A checkpoint is kept after every epoch. ``objective`` (e.g. a
    :class:`~course_lib.remedies.curriculum.Curriculum`) replaces the mean cross-entropy; members trained
    with and without it share seeds, masks and initial weights, so they are paired.
    """
    profile = get_profile(profile)
    check_option(arm, "arm", SCRATCH_ARMS)
    pruned = populations(profile, train, levels=[level], progress=progress)[level]
    lottery = arm == "lottery"
    training = recipe(profile, train.name)
    return train_population(train, level=level, size=len(pruned),
                            seeds=pruned.seeds if lottery else seeds(profile, "scratch"),
                            recipe=training, model_kwargs=MODELS.get(train.name),
                            masks_from=pruned, sparse_init="dense" if lottery else arm, objective=objective,
                            checkpoint_epochs=range(training.epochs + 1), device=profile.torch_device,
                            progress=progress)


RANDOMNESS_ARMS = ("init", "order", "kernels", "all")
"""What varies between the members of :func:`randomness_population` (Zhuang et al. 2021's four arms)."""


def randomness_population(profile: str | Profile, train: ImageDataset, *, arm: str, progress: bool = False) -> Population:
    """Dense members that differ in one source of randomness only: Zhuang, Zhang, Song and Hooker (2021).

    The *randomness* family of seeds names the members; what they differ in is the ``arm``:

    * ``"init"``: the initialisation (member ``k`` starts from seed ``k`` of the family), the
      data order and augmentation shared (those of the family's first seed);
    * ``"order"``: the data order and the augmentation draws (one stream), the initialisation shared;
    * ``"kernels"``: neither, so only the nondeterminism of the numerical kernels could tell
      them apart (Zhuang et al. compare separate runs on nondeterministic GPU kernels). The
      engine's kernels are deterministic (on a GPU it asks cuDNN for deterministic algorithms)
      and its members train in one stacked network, so these members are identical *by
      construction*: the arm says what this engine removes, it measures nothing;
    * ``"all"``: both, as every other population of the course (it is one: the same cache entry).

    The network is :data:`MODELS`'s for the dataset, trained with the profile's :func:`recipe`.
    """
    profile = get_profile(profile)
    check_option(arm, "arm", RANDOMNESS_ARMS)
    members = seeds(profile, "randomness")
    shared = [members[0]] * len(members)
    return train_population(train, level=0.0, size=len(members), seeds=members, recipe=recipe(profile, train.name),
                            model_kwargs=MODELS.get(train.name),
                            init_seeds=None if arm in ("init", "all") else shared,
                            order_seeds=None if arm in ("order", "all") else shared,
                            device=profile.torch_device, progress=progress)
