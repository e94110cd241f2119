"""The three run profiles of the course.

Every chapter notebook has one ``parameters`` cell holding ``profile = "course"``; papermill
overrides it. The values live here, in one place, so that chapters and tests agree:

``smoke``
    Seconds per chapter. Used by the test suite and CI: checks that everything runs, not that
    the science holds (qualitative claims are asserted only under ``course`` and ``full``).
``course``
    The default for a reader on a 2-core laptop CPU: a few minutes per chapter, large enough
    for every claim in the text to hold.
``full``
    GPU scale: whole datasets, populations of 30 (the size Hooker et al. 2019 use on ImageNet), more epochs.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from .validation import check_option


@dataclass(frozen=True)
class Profile:
    """Parameters shared by every chapter.

    Attributes
    ----------
    name : str
        ``"smoke"``, ``"course"`` or ``"full"``.
    n_train : int or None
        Examples drawn (seeded, stratified by class where the data have classes) from the training
        split; ``None`` means the whole split.
    n_test : int or None
        The same for the test split.
    epochs : int
        Training epochs of a dense model.
    finetune_epochs : int
        Epochs of fine-tuning after one-shot pruning.
    batch_size : int
        Mini-batch size for training.
    lr : float
        Initial learning rate of Adam.
    lr_schedule : str
        ``"cosine"`` (decay to 0 over training) or ``"constant"``; see
        :class:`~course_lib.training.recipe.TrainingRecipe`. The decay makes models trained with different
        seeds agree more, which gives the population tests of Part II their power.
    population_size : int
        Models per compression level (Hooker et al. 2019 use 30 on ImageNet; Hooker et al. 2020 average 10).
    sparsities : tuple of float
        Compression levels of the sparsity sweeps, fractions of pruned weights in [0, 1).
    image_size : int
        Side length, in pixels, to which face images (UTKFace, CelebA) are resized.
    synthetic_n : int
        Examples generated for the synthetic CelebA-like set (two thirds train, one third test).
    device : str
        ``"cpu"``, or ``"auto"`` for the GPU when one is available.
    check_claims : bool
        Whether notebooks assert their qualitative claims (too few examples under ``smoke``).
    data_seed : int
        Seed of the data: the examples drawn from Fashion-MNIST and UTKFace, the synthetic set
        rendered. 0 in every profile; ``make claims`` varies it (:func:`~course_lib.book.chapter.start`).
    face_n_train : int or None
        Training examples of the face classifiers (UTKFace); ``None``: the whole training split.
    face_epochs : int
        Training epochs of the face classifiers, whose recipe (BatchNorm, flips and shifts,
        one-cycle schedule: :data:`~course_lib.book.experiments.RECIPES`) needs more of them.
    face_finetune_epochs : int
        Epochs of fine-tuning that make the compressed face models from the baseline's members
        (:func:`~course_lib.book.experiments.finetuned_populations`), and their control.
    face_levels : tuple of float or str
        The compression levels of the face populations: the face models are the costliest of
        the course, so under ``course`` only the baseline and the level the chapters read.
    face_remedies : tuple of str
        The ways of compressing faces that Part V compares
        (:data:`~course_lib.book.experiments.REMEDIES`): plain pruning and the remedies. Each
        is a fine-tuned population of its own, so under ``course`` the chapter trains the
        remedies that its conclusions need and leaves re-weighting (the twin of re-sampling) to
        ``full``; ``smoke`` runs every one, to test them all.
    vog_n_train : int or None
        Training examples of the population whose checkpoints Variance of Gradients reads
        (drawn from the synthetic training set; ``None``: all of it).
    vog_epochs : int
        Its epochs, with a checkpoint after each: long enough for the late checkpoints to fit
        the mislabelled examples, as the paper's long training does.
    seed_offset : int
        Shifts every population's seeds by ``10_000 * seed_offset``
        (:func:`~course_lib.book.experiments.seeds`); 0 in every profile, varied by ``make claims``.
    """

    name: str
    n_train: int | None
    n_test: int | None
    epochs: int
    finetune_epochs: int
    batch_size: int
    lr: float
    lr_schedule: str
    population_size: int
    sparsities: tuple[float, ...]
    image_size: int
    synthetic_n: int
    device: str
    check_claims: bool
    face_n_train: int | None
    face_epochs: int
    face_finetune_epochs: int
    face_levels: tuple[float | str, ...]
    face_remedies: tuple[str, ...]
    vog_n_train: int | None
    vog_epochs: int
    data_seed: int = 0
    seed_offset: int = 0

    @property
    def torch_device(self) -> torch.device:
        """The device to train on, the GPU under ``device="auto"`` when one is available."""
        if self.device == "auto":
            return torch.device("cuda" if torch.cuda.is_available() else "cpu")
        return torch.device(self.device)


PROFILES: dict[str, Profile] = {
    "smoke": Profile(
        name="smoke",
        n_train=1_000,
        n_test=500,
        epochs=1,
        finetune_epochs=1,
        batch_size=128,
        lr=3e-3,
        lr_schedule="cosine",
        population_size=2,
        sparsities=(0.5, 0.9, 0.95),
        image_size=32,
        synthetic_n=3_000,
        device="cpu",
        check_claims=False,
        face_n_train=1_000,
        face_epochs=1,
        face_finetune_epochs=1,
        face_levels=(0.0, 0.95),
        face_remedies=("pruning", "distillation", "re-weighting", "re-sampling", "group DRO"),
        vog_n_train=600,
        vog_epochs=6,
    ),
    "course": Profile(
        name="course",
        n_train=12_000,
        n_test=10_000,
        epochs=5,
        finetune_epochs=1,
        batch_size=128,
        lr=3e-3,
        lr_schedule="cosine",
        population_size=5,
        sparsities=(0.3, 0.5, 0.7, 0.9, 0.95, 0.99),
        image_size=32,
        synthetic_n=30_000,
        device="cpu",
        check_claims=True,
        face_n_train=None,
        face_epochs=12,
        face_finetune_epochs=3,
        face_levels=(0.0, 0.95),
        face_remedies=("pruning", "distillation", "re-sampling", "group DRO"),
        vog_n_train=6_000,
        vog_epochs=20,
    ),
    "full": Profile(
        name="full",
        n_train=None,
        n_test=None,
        epochs=15,
        finetune_epochs=3,
        batch_size=128,
        lr=3e-3,
        lr_schedule="cosine",
        population_size=30,
        sparsities=(0.3, 0.5, 0.7, 0.9, 0.95, 0.99),
        image_size=64,
        synthetic_n=90_000,
        device="auto",
        check_claims=True,
        face_n_train=None,
        face_epochs=30,
        face_finetune_epochs=6,
        face_levels=(0.0, 0.9, 0.95, 0.99, "int8-tensor"),
        face_remedies=("pruning", "distillation", "re-weighting", "re-sampling", "group DRO"),
        vog_n_train=None,
        vog_epochs=40,
    ),
}


def get_profile(profile: str | Profile) -> Profile:
    """Return the :class:`Profile` called ``profile`` (a :class:`Profile` is returned as is).

    Raises
    ------
    ValueError
        If ``profile`` is not one of ``"smoke"``, ``"course"``, ``"full"``.
    """
    if isinstance(profile, Profile):
        return profile
    return PROFILES[check_option(profile, "profile", sorted(PROFILES))]
