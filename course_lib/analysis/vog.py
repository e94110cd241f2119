"""Variance of Gradients (VoG): how much an example's saliency map changes over training.

Agarwal, D'souza and Hooker ("Estimating example difficulty using variance of gradients",
CVPR 2022) score an example by the instability of the gradient of its class score with respect
to its pixels across checkpoints of one training run. For an example ``x`` of class ``y`` and
checkpoints ``t = 1..K``:

* ``S_t = dA_y / dx``: the gradient of the score ``A_y`` of class ``y``, one value per pixel
  and colour channel, averaged over the channels (shape ``(H, W)``);
* ``VoG = mean over pixels of sqrt((1/K) sum_t (S_t - mu)^2)`` with ``mu = (1/K) sum_t S_t``,
  the population standard deviation across the ``K`` checkpoints (ddof 0), averaged over the
  pixels (the paper's equations 1 to 3);
* *class-normalised* VoG: ``(VoG - m_c) / s_c`` with the mean ``m_c`` and standard deviation
  ``s_c`` (ddof 0, as ``np.std``) of the VoG of the examples of the same class ``c``, so that
  the scores of classes whose gradients are larger overall can be ranked together.

Which score
-----------
The paper and its ImageNet code differentiate the pre-softmax logit of the class (``score=
"logit"``, our default). The authors' PyTorch toy script differentiates the softmax probability
instead (``score="probability"``); for two classes that gradient is the gradient of the logit
*difference* ``z_y - z_other`` scaled by ``p_y (1 - p_y)``, so it vanishes wherever the model is
confident, right or wrong, and the probability variant mostly measures how long an example
stays uncertain. Both are offered and compared in
the chapter. The class ``y`` is the true label for training data and the predicted label for
unlabelled data: pass either as ``classes``.

What the reference code does differently
----------------------------------------
The toy script (``toy_script.py`` of ``chirag126/VOG``) never zeroes the input's gradient
between checkpoints, so its ``S_t`` are cumulative sums of the gradients so far; and it centres
every stage window (early, middle, late) with the sum over *all* checkpoints divided by the
window's count, which is not the window's mean. Neither is copied here: every ``S_t`` is the
gradient at checkpoint ``t`` alone, and the mean is the window's.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import torch

from ..core.validation import check_bool, check_integer, check_option
from ..populations import Population
from ..populations.outputs import cached_output
from ..populations.recipe import array_fingerprint
from ..populations.stacked import stacked_forward

SCORES = ("logit", "probability")
"""The class scores VoG can differentiate, the pre-softmax logit (the paper) or the softmax probability."""

STAGES = ("early", "middle", "late")
"""The stage windows of :func:`stage_windows`, the first, middle and last third of the checkpoints."""


def vog_scores(gradients: torch.Tensor | np.ndarray, labels: torch.Tensor | np.ndarray | None = None) -> np.ndarray:
    """VoG of every example from its input gradients at ``K`` checkpoints.

    Parameters
    ----------
    gradients : torch.Tensor or numpy.ndarray
        Shape ``(K, N, C, H, W)``: the gradient of each example's class score with respect to
        its input at each of ``K >= 2`` checkpoints (:func:`input_gradients`).
    labels : array-like, optional
        Shape ``(N,)``: the classes to normalise within (:func:`class_normalise`).

    Returns
    -------
    numpy.ndarray
        Shape ``(N,)``, float64: the mean over pixels of the population standard deviation
        (ddof 0) across checkpoints of the channel-averaged gradient; class-normalised when
        ``labels`` is given.
    """
    grads = torch.as_tensor(gradients, dtype=torch.float64)
    if grads.ndim != 5:
        raise ValueError(f"gradients must have shape (K, N, C, H, W), got {tuple(grads.shape)}")
    if grads.shape[0] < 2:
        raise ValueError(f"gradients must hold at least 2 checkpoints (axis 0) to vary across, got {grads.shape[0]}")
    per_pixel = grads.mean(2)  # (K, N, H, W): averaged over colour channels
    scores = per_pixel.std(0, correction=0).mean((1, 2)).numpy()
    return scores if labels is None else class_normalise(scores, labels)


def class_normalise(scores: np.ndarray, labels: torch.Tensor | np.ndarray) -> np.ndarray:
    """``(score - class mean) / class standard deviation`` (ddof 0), within each class of ``labels``.

    Parameters
    ----------
    scores : numpy.ndarray
        Shape ``(..., N)``: one score per example (and per member along leading axes).
    labels : array-like
        Shape ``(N,)``, or the shape of ``scores``: the class of each example.

    Returns
    -------
    numpy.ndarray
        Same shape as ``scores``. A class whose scores are all equal gets 0 (no spread to
        normalise by).
    """
    scores = np.asarray(scores, dtype=np.float64)
    labels = np.broadcast_to(np.asarray(labels), scores.shape) if np.ndim(labels) == 1 else np.asarray(labels)
    if labels.shape != scores.shape:
        raise ValueError(f"labels must have shape (N,) or {scores.shape}, got {labels.shape}")
    out = np.zeros_like(scores)
    for row in np.ndindex(scores.shape[:-1]):
        for label in np.unique(labels[row]):
            mask = labels[row] == label
            values = scores[row][mask]
            spread = values.std()
            out[row + (mask,)] = (values - values.mean()) / spread if spread > 0 else 0.0
    return out


def stage_windows(epochs: Sequence[int]) -> dict[str, tuple[int, ...]]:
    """The checkpoint epochs of each stage of training: early, middle and late thirds, and all of them.

    Parameters
    ----------
    epochs : sequence of int
        The checkpoint epochs, at least 6 (two per window, to have a variance).

    Returns
    -------
    dict
        ``{"early": ..., "middle": ..., "late": ..., "complete": ...}``: consecutive, sorted
        epochs; the windows split them as evenly as possible (:func:`numpy.array_split`).
    """
    chosen = sorted({check_integer(e, "epochs", low=0) for e in epochs})
    if len(chosen) < 2 * len(STAGES):
        raise ValueError(f"epochs must hold at least {2 * len(STAGES)} distinct checkpoints, got {chosen}")
    windows = np.array_split(np.asarray(chosen), len(STAGES))
    return {stage: tuple(int(e) for e in window) for stage, window in zip(STAGES, windows)} | {"complete": tuple(chosen)}


def _member_classes(classes: torch.Tensor | np.ndarray, members: int, n: int) -> torch.Tensor:
    """``classes`` as int64 ``(K, N)``: one row for every member."""
    chosen = torch.as_tensor(np.asarray(classes), dtype=torch.int64)
    if chosen.shape == (n,):
        return chosen.expand(members, n)
    if chosen.shape != (members, n):
        raise ValueError(f"classes must have shape (N,) = ({n},) or (K, N) = ({members}, {n}), got {tuple(chosen.shape)}")
    return chosen


def input_gradients(population: Population, images: torch.Tensor, classes: torch.Tensor | np.ndarray, *,
                    epoch: int | None = None, score: str = "logit", batch_size: int = 4096) -> torch.Tensor:
    """The gradient of every member's class score with respect to every input image.

    All members run side by side (the engine's stacked network, in eval mode: BatchNorm uses
    its running statistics, so an example's score depends on that example alone) and each
    batch takes one backward pass: the gradient of the sum of the batch's scores with respect
    to the images is every example's own gradient.

    Parameters
    ----------
    population : Population
        ``K`` members; ``epoch`` picks one of its checkpoints (``None``: the final weights).
    images : torch.Tensor
        ``(N, C, H, W)``.
    classes : array-like
        ``(N,)`` or ``(K, N)``: the class whose score is differentiated, for every example
        (and member): the true label, or a predicted one.
    score : {"logit", "probability"}
        The pre-softmax logit (the paper) or the softmax probability of the class.
    batch_size : int
        Image-member pairs per backward pass.

    Returns
    -------
    torch.Tensor
        ``(K, N, C, H, W)`` float32, on the CPU.
    """
    check_option(score, "score", SCORES)
    batch_size = check_integer(batch_size, "batch_size", low=1)
    members, n = len(population), len(images)
    chosen = _member_classes(classes, members, n)
    layers, params = population.stacked(images[:1], epoch=epoch)
    chunk = max(1, batch_size // members)
    out = torch.empty(members, *images.shape)
    for start in range(0, n, chunk):
        x = images[start:start + chunk].unsqueeze(1).repeat(1, members, 1, 1, 1).requires_grad_()  # (B, K, C, H, W)
        logits = stacked_forward(layers, params, x)  # (K, B, classes)
        if score == "probability":
            logits = logits.softmax(-1)
        picked = logits.gather(2, chosen[:, start:start + chunk, None])
        (grad,) = torch.autograd.grad(picked.sum(), x)
        out[:, start:start + len(x)] = grad.transpose(0, 1)
    return out


def population_vog(population: Population, images: torch.Tensor, classes: torch.Tensor | np.ndarray, *,
                   windows: Mapping[str, Sequence[int]], score: str = "logit", batch_size: int = 4096,
                   cache: bool = True) -> dict[str, np.ndarray]:
    """The VoG of every example for every member, over each window of checkpoints.

    Examples are scored in chunks: memory holds the channel-averaged gradients of one chunk at
    the checkpoints of all windows, never those of the whole set, and each checkpoint's
    gradients are computed once for all the windows that hold it.

    Parameters
    ----------
    population : Population
        Trained with ``checkpoint_epochs`` holding every epoch of ``windows``.
    images, classes, score, batch_size
        As for :func:`input_gradients`.
    windows : mapping of str to sequence of int
        Named sets of at least 2 checkpoint epochs to vary across (e.g. :func:`stage_windows`).
    cache : bool
        Store the scores in, and load them from, ``$COURSE_CACHE_DIR/outputs``
        (:func:`~course_lib.populations.outputs.cached_output`), keyed by the checkpoints'
        weights, the images, the classes, the windows, the score and ``batch_size``.

    Returns
    -------
    dict of str to numpy.ndarray
        For every window, the ``(K, N)`` unnormalised VoG (:func:`vog_scores`); normalise it
        with :func:`class_normalise`.
    """
    chosen = {name: sorted({check_integer(e, "windows", low=0) for e in epochs}) for name, epochs in windows.items()}
    for name, epochs in chosen.items():
        if len(epochs) < 2:
            raise ValueError(f"windows[{name!r}] must hold at least 2 distinct checkpoints, got {epochs}")
    needed = sorted(set().union(*chosen.values()))
    missing = [e for e in needed if any(e not in saved for saved in population.checkpoints)]
    if missing:
        raise ValueError(f"windows must hold checkpoint epochs of the population, {sorted(population.checkpoints[0])}, "
                         f"got {missing}")
    classes = _member_classes(classes, len(population), len(images))
    check_option(score, "score", SCORES)
    batch_size = check_integer(batch_size, "batch_size", low=1)

    def compute() -> dict[str, np.ndarray]:
        chunk = max(1, batch_size // len(population))
        scores = {name: np.empty((len(population), len(images))) for name in chosen}
        for start in range(0, len(images), chunk):
            part = slice(start, start + chunk)
            grads = {e: input_gradients(population, images[part], classes[:, part], epoch=e, score=score,
                                        batch_size=batch_size).mean(2, keepdim=True) for e in needed}  # (K, B, 1, H, W)
            for name, epochs in chosen.items():
                stacked = torch.stack([grads[e] for e in epochs])  # (E, K, B, 1, H, W)
                for k in range(len(population)):
                    scores[name][k, part] = vog_scores(stacked[:, k])
        return scores

    if not check_bool(cache, "cache"):
        return compute()
    states = [saved[e] for saved in population.checkpoints for e in needed]
    return cached_output(states, images, compute, batch_size=batch_size, device=torch.device("cpu"), kind="vog",
                         classes=array_fingerprint(classes, torch.empty(0, dtype=torch.int64)), windows=chosen,
                         score=score)


__all__ = ["SCORES", "STAGES", "class_normalise", "input_gradients", "population_vog", "stage_windows", "vog_scores"]
