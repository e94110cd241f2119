"""Unstructured magnitude pruning, the gradual schedule of Zhu & Gupta (2017), and storage.

Definitions used throughout
---------------------------
*Prunable layers* are the ``Conv1d``/``Conv2d``/``Conv3d`` and ``Linear`` modules; only their
``weight`` is pruned (biases stay dense: they are a tiny fraction of the parameters).

A *mask* is a boolean tensor shaped like a weight, ``True`` where the weight is kept. The
*sparsity* of a set of weights is the fraction of mask entries that are ``False``.

*Magnitude pruning* at sparsity ``s`` removes the ``k = round(s * n)`` weights of smallest
absolute value among ``n`` candidates (Python's ``round``, as :mod:`torch.nn.utils.prune` does),
either over all prunable layers together (``scope="global"``) or separately inside every layer
(``scope="layer"``, ``round(s * n_layer)`` per layer). Global scope lets layers end up with
different sparsities: large, redundant layers lose more.

*Gradual pruning* (Zhu & Gupta 2017, the method Hooker et al. 2019 use to build their pruned
populations) raises the sparsity during training along the cubic schedule of
:func:`cubic_sparsity`, recomputing the masks from the current weights every few steps, so the
network recovers from each small removal before the next one.

Masks live in the ``weight_mask`` buffers of :mod:`torch.nn.utils.prune`: a pruned module keeps
its dense ``weight_orig`` parameter, and a forward pre-hook computes
``weight = weight_orig * weight_mask`` before every forward pass. Sparsity is therefore always
read from the masks (``weight_orig`` stays dense). :func:`export_pruned` folds the masks in.

The single core :func:`magnitude_masks` works on plain tensors, so the ``nn.Module`` functions
here and the population engine (:mod:`course_lib.population`) prune identically.
"""

from __future__ import annotations

import copy
import io
import warnings
from collections.abc import Callable, Mapping, Sequence

import numpy as np
import pandas as pd
import torch
from torch import nn
from torch.nn.utils import prune

from .training import total_steps, train_model

PRUNABLE_TYPES: tuple[type[nn.Module], ...] = (nn.Conv1d, nn.Conv2d, nn.Conv3d, nn.Linear)
CLASSIFIER_NAME = "classifier"
SCOPES = ("global", "layer")


# --------------------------------------------------------------------------- validation

def _check_sparsity(value: float, name: str = "sparsity") -> None:
    if not 0.0 <= value < 1.0:  # also rejects nan
        raise ValueError(f"{name} must be in [0, 1), got {value!r}")


def _check_scope(scope: str) -> None:
    if scope not in SCOPES:
        raise ValueError(f"scope must be one of {SCOPES}, got {scope!r}")


def _check_schedule(final_sparsity: float, begin_step: int, end_step: int, initial_sparsity: float) -> None:
    _check_sparsity(final_sparsity, "final_sparsity")
    _check_sparsity(initial_sparsity, "initial_sparsity")
    if initial_sparsity > final_sparsity:
        raise ValueError(f"initial_sparsity must be <= final_sparsity, got {initial_sparsity!r} > {final_sparsity!r}")
    if begin_step < 0:
        raise ValueError(f"begin_step must be >= 0, got {begin_step!r}")
    if end_step <= begin_step:
        raise ValueError(f"end_step must be > begin_step, got end_step={end_step!r} and begin_step={begin_step!r}")


# --------------------------------------------------------------------------- masks on tensors

def magnitude_masks(weights: Mapping[str, torch.Tensor], sparsity: float, *, scope: str = "global",
                    masks: Mapping[str, torch.Tensor] | None = None) -> dict[str, torch.Tensor]:
    """Boolean keep-masks that remove the smallest-magnitude weights (a pure function).

    Parameters
    ----------
    weights : mapping of str to torch.Tensor
        Named weight tensors of any shapes, all on one device. Pass the *effective* weights
        (masks already applied): weights that are already zero then rank first, which makes
        repeated pruning at a non-decreasing sparsity monotone.
    sparsity : float
        Fraction of weights to remove, in ``[0, 1)``.
    scope : {"global", "layer"}
        ``"global"``: exactly ``round(sparsity * n)`` weights removed among all ``n`` weights
        together. ``"layer"``: ``round(sparsity * n_l)`` removed in every tensor of ``n_l``.
    masks : mapping of str to torch.Tensor, optional
        Current masks (for any subset of the names; ``False`` or ``0`` = pruned). Their pruned
        entries rank below every other entry, even below exact zeros of ``weights``, so that
        for a non-decreasing sparsity the new masks are nested in these: pruned stays pruned.

    Returns
    -------
    dict of str to torch.Tensor
        A ``bool`` mask per name, shaped and placed like its weight, ``True`` = kept.

    Notes
    -----
    Ties are broken deterministically, identically on CPU and GPU: entries are ordered by a
    stable sort on the score ``|w|`` (``-1`` for entries pruned in ``masks``), so among equal
    scores the earlier entry is removed first -- earlier in the order of ``weights``, then in
    row-major (flattened) order inside a tensor.
    """
    _check_sparsity(sparsity)
    _check_scope(scope)
    if not weights:
        raise ValueError("weights must hold at least one tensor")
    masks = masks or {}
    scores = {name: _scores(w, masks.get(name)) for name, w in weights.items()}
    if scope == "layer":
        return {name: _keep_largest(score, sparsity) for name, score in scores.items()}
    keep = _keep_largest(torch.cat([score.flatten() for score in scores.values()]), sparsity)
    parts = keep.split([score.numel() for score in scores.values()])
    return {name: part.view(score.shape) for (name, score), part in zip(scores.items(), parts)}


def _scores(weight: torch.Tensor, mask: torch.Tensor | None) -> torch.Tensor:
    """``|weight|``, with ``-1`` where ``mask`` already prunes (so those rank first)."""
    score = weight.detach().abs()
    return score if mask is None else torch.where(mask.bool(), score, -1.0)


def _keep_largest(scores: torch.Tensor, sparsity: float) -> torch.Tensor:
    """Bool mask of ``scores``' shape, ``False`` at its ``round(sparsity * n)`` smallest entries."""
    keep = torch.ones(scores.numel(), dtype=torch.bool, device=scores.device)
    keep[torch.argsort(scores.flatten(), stable=True)[:round(sparsity * scores.numel())]] = False
    return keep.view(scores.shape)


# --------------------------------------------------------------------------- masks on modules

def prunable_parameters(model: nn.Module, *, include_classifier: bool = True) -> list[tuple[str, nn.Module]]:
    """The layers whose ``weight`` pruning acts on, as ``(qualified name, module)`` pairs.

    Parameters
    ----------
    model : nn.Module
        Any model; its ``Conv1d``/``Conv2d``/``Conv3d``/``Linear`` modules are returned in
        registration order.
    include_classifier : bool
        Default ``True``: every layer is pruned, the output layer included -- the uniform
        reading of Zhu & Gupta (2017) that this course follows. Implementations differ here
        (many spare the small first or last layer); with ``False`` the layer named
        ``classifier`` (the last layer of :class:`~course_lib.models.SmallCNN`) stays dense.

    Raises
    ------
    ValueError
        If ``model`` has no prunable layer left, or if ``include_classifier=False`` but no
        layer is named ``classifier``.
    """
    layers = [(name, module) for name, module in model.named_modules() if isinstance(module, PRUNABLE_TYPES)]
    if layers and not include_classifier:
        if CLASSIFIER_NAME not in {name for name, _ in layers}:
            raise ValueError(f"include_classifier=False needs a layer named {CLASSIFIER_NAME!r}, "
                             f"found {[name for name, _ in layers]}")
        layers = [(name, module) for name, module in layers if name != CLASSIFIER_NAME]
    if not layers:
        raise ValueError("model has no prunable layers (Conv or Linear)")
    return layers


def _pruned_names(module: nn.Module) -> list[str]:
    """Names of the tensors of ``module`` that carry a :mod:`torch.nn.utils.prune` mask."""
    return [name.removesuffix("_mask") for name, _ in module.named_buffers(recurse=False) if name.endswith("_mask")]


@torch.no_grad()
def _apply_masks(module: nn.Module) -> None:
    """Recompute ``weight = weight_orig * weight_mask`` now, as the pruning hook does before a forward.

    Outside autograd: the result is a leaf, so the module can be deep-copied even right after
    a training forward pass (a graph-carrying ``weight`` cannot).
    """
    for name in _pruned_names(module):
        setattr(module, name, getattr(module, f"{name}_orig") * getattr(module, f"{name}_mask"))


def _effective_weight(module: nn.Module) -> torch.Tensor:
    """The weight the next forward pass uses, detached.

    Read from ``weight_orig * weight_mask`` rather than ``weight``, which is stale between an
    optimizer step and the next forward pass (when ``on_step`` hooks run).
    """
    if hasattr(module, "weight_mask"):
        return (module.weight_orig * module.weight_mask).detach()
    return module.weight.detach()


def effective_weights(model: nn.Module, *, include_classifier: bool = True) -> dict[str, torch.Tensor]:
    """Detached prunable weights with their masks applied, keyed by layer name (see :func:`prunable_parameters`)."""
    return {name: _effective_weight(module)
            for name, module in prunable_parameters(model, include_classifier=include_classifier)}


@torch.no_grad()
def _set_mask(module: nn.Module, mask: torch.Tensor) -> None:
    """Make ``mask`` the one effective mask of ``module.weight`` (never a stack of masks).

    A dense module gets a ``weight_mask`` through :func:`torch.nn.utils.prune.custom_from_mask`
    (which re-registers the same parameter object as ``weight_orig``, so an optimizer holding it
    keeps training it). A pruned module has its old mask folded into ``weight_orig`` (so weights
    that a lower sparsity regrows restart from zero) and its ``weight_mask`` overwritten in place.
    """
    if not hasattr(module, "weight_mask"):
        prune.custom_from_mask(module, "weight", mask)
        return
    module.weight_orig.mul_(module.weight_mask)
    module.weight_mask.copy_(mask)
    _apply_masks(module)


def prune_magnitude(model: nn.Module, sparsity: float, *, scope: str = "global",
                    include_classifier: bool = True) -> nn.Module:
    """Magnitude-prune ``model`` in place to ``sparsity``; return it.

    Masks are computed by :func:`magnitude_masks` from the current effective weights (ranking
    already-pruned weights first) and installed as ``weight_mask`` buffers. Pruning an already
    pruned model replaces its masks: afterwards the effective mask is exactly the new one, so
    :func:`sparsity` equals ``round(sparsity * n) / n`` (global scope), whatever came before.

    Parameters
    ----------
    model : nn.Module
        Pruned or not; trained or not.
    sparsity : float
        Fraction of the prunable weights to remove, in ``[0, 1)``.
    scope : {"global", "layer"}
        See :func:`magnitude_masks`.
    include_classifier : bool
        See :func:`prunable_parameters`.
    """
    layers = dict(prunable_parameters(model, include_classifier=include_classifier))
    current = {name: module.weight_mask for name, module in layers.items() if hasattr(module, "weight_mask")}
    masks = magnitude_masks({name: _effective_weight(module) for name, module in layers.items()}, sparsity,
                            scope=scope, masks=current)
    for name, module in layers.items():
        _set_mask(module, masks[name])
    return model


def layer_sparsity(model: nn.Module, *, include_classifier: bool = True) -> pd.DataFrame:
    """Per-layer sparsity, read from the masks.

    Returns
    -------
    pandas.DataFrame
        One row per prunable layer with columns ``name``, ``params`` (weights in the layer),
        ``zeros`` (weights its mask removes; 0 for a layer without a mask) and
        ``sparsity = zeros / params``.
    """
    rows = []
    for name, module in prunable_parameters(model, include_classifier=include_classifier):
        params = module.weight.numel()
        zeros = int((module.weight_mask == 0).sum()) if hasattr(module, "weight_mask") else 0
        rows.append({"name": name, "params": params, "zeros": zeros, "sparsity": zeros / params})
    return pd.DataFrame(rows)


def sparsity(model: nn.Module, *, include_classifier: bool = True) -> float:
    """Fraction of prunable weights removed by the masks, over all prunable layers together.

    Layers without a mask count as dense, so an unpruned model has sparsity 0. Measured from
    the ``weight_mask`` buffers only, never from ``weight_orig`` (which stays dense).
    """
    table = layer_sparsity(model, include_classifier=include_classifier)
    return float(table["zeros"].sum() / table["params"].sum())


# --------------------------------------------------------------------------- gradual pruning

def cubic_sparsity(step: int, final_sparsity: float, begin_step: int, end_step: int,
                   initial_sparsity: float = 0.0) -> float:
    r"""Target sparsity at ``step`` on the cubic schedule of Zhu & Gupta (2017), eq. (1).

    .. math::

        s_t = s_f + (s_i - s_f) \left(1 - \frac{t - t_0}{t_{end} - t_0}\right)^3
        \quad \text{for } t_0 \le t \le t_{end},

    equal to ``s_i`` before ``t_0 = begin_step`` and to ``s_f`` after ``t_end = end_step``.
    Sparsity rises fast at first, while many redundant weights exist, then ever more slowly.

    Parameters
    ----------
    step : int
        Training step ``t``.
    final_sparsity, initial_sparsity : float
        ``s_f`` and ``s_i``, in ``[0, 1)`` with ``s_i <= s_f``.
    begin_step, end_step : int
        The pruning window, ``0 <= begin_step < end_step``.
    """
    _check_schedule(final_sparsity, begin_step, end_step, initial_sparsity)
    if step <= begin_step:
        return float(initial_sparsity)
    if step >= end_step:
        return float(final_sparsity)
    remaining = 1.0 - (step - begin_step) / (end_step - begin_step)
    return final_sparsity + (initial_sparsity - final_sparsity) * remaining ** 3


class GradualPruning:
    r"""An ``on_step`` hook for :func:`~course_lib.training.train_model` that prunes along the cubic schedule.

    At every pruning step -- ``begin_step + j * frequency`` up to ``end_step``, and ``end_step``
    itself -- the model is magnitude-pruned (:func:`prune_magnitude`) to
    ``cubic_sparsity(step, ...)``. Masks stay fixed in between and after ``end_step``, so a
    model trained past ``end_step`` ends at exactly ``final_sparsity`` (Zhu & Gupta 2017).

    Parameters
    ----------
    final_sparsity : float
        Sparsity reached at ``end_step``, in ``[0, 1)``.
    begin_step, end_step : int
        The pruning window, in optimizer steps (``train_model`` counts them from 1).
    frequency : int, optional
        Steps between two mask updates (Zhu & Gupta's :math:`\Delta t`); by default a tenth of
        the window (at least 1), i.e. about ten updates.
    initial_sparsity : float
        Sparsity at ``begin_step``.
    scope, include_classifier
        As in :func:`prune_magnitude`.

    Attributes
    ----------
    history : list of tuple
        ``(step, target sparsity)``, an ``(int, float)`` pair, of every mask update performed so far.
    """

    def __init__(self, final_sparsity: float, begin_step: int, end_step: int, *, frequency: int | None = None,
                 initial_sparsity: float = 0.0, scope: str = "global", include_classifier: bool = True) -> None:
        _check_schedule(final_sparsity, begin_step, end_step, initial_sparsity)
        _check_scope(scope)
        frequency = max(1, (end_step - begin_step) // 10) if frequency is None else frequency
        if frequency < 1:
            raise ValueError(f"frequency must be >= 1, got {frequency!r}")
        self.final_sparsity, self.initial_sparsity = final_sparsity, initial_sparsity
        self.begin_step, self.end_step, self.frequency = begin_step, end_step, frequency
        self.scope, self.include_classifier = scope, include_classifier
        self.history: list[tuple[int, float]] = []

    def sparsity_at(self, step: int) -> float:
        """The scheduled sparsity at ``step`` (:func:`cubic_sparsity`)."""
        return cubic_sparsity(step, self.final_sparsity, self.begin_step, self.end_step, self.initial_sparsity)

    def is_pruning_step(self, step: int) -> bool:
        """Whether the masks are updated after ``step``: ``begin_step + j * frequency`` or ``end_step``."""
        return self.begin_step <= step <= self.end_step and (
            (step - self.begin_step) % self.frequency == 0 or step == self.end_step)

    def __call__(self, step: int, model: nn.Module) -> None:
        if self.is_pruning_step(step):
            target = self.sparsity_at(step)
            prune_magnitude(model, target, scope=self.scope, include_classifier=self.include_classifier)
            self.history.append((step, target))


PRUNING_WINDOW = (0.1, 0.5)
"""The default pruning window, in fractions of all training steps. Pruning starts after 10% of
the steps and reaches the final sparsity at half of them. The second half lets the sparse network
recover while the cosine-decayed learning rate (:func:`course_lib.training.lr_scheduler`) is
still large. A window closing at 80% of training, as we first used, left our 99%-sparse
Fashion-MNIST populations far less accurate under the ``course`` profile."""


def gradual_schedule(final_sparsity: float, steps: int, *, begin_fraction: float, end_fraction: float,
                     frequency: int | None = None, scope: str = "global",
                     include_classifier: bool = True) -> GradualPruning:
    """The :class:`GradualPruning` schedule that prunes between two fractions of ``steps`` training steps.

    Pruning starts at step ``round(begin_fraction * steps)`` and reaches ``final_sparsity`` at
    step ``round(end_fraction * steps)``.

    Raises
    ------
    ValueError
        If the fractions do not satisfy ``0 <= begin_fraction < end_fraction <= 1``, or if
        ``steps`` is too small for the window to hold at least one step.
    """
    if not 0.0 <= begin_fraction < end_fraction <= 1.0:
        raise ValueError("begin_fraction and end_fraction must satisfy 0 <= begin_fraction < end_fraction <= 1, "
                         f"got {begin_fraction!r} and {end_fraction!r}")
    begin_step, end_step = round(begin_fraction * steps), round(end_fraction * steps)
    if end_step <= begin_step:
        raise ValueError(f"{steps} training steps are too few for a pruning window between "
                         f"begin_fraction={begin_fraction!r} and end_fraction={end_fraction!r}")
    return GradualPruning(final_sparsity, begin_step, end_step, frequency=frequency, scope=scope,
                          include_classifier=include_classifier)


def train_gradually_pruned(model: nn.Module, images: torch.Tensor, targets: torch.Tensor, *,
                           final_sparsity: float, epochs: int, batch_size: int, seed: int,
                           begin_fraction: float = PRUNING_WINDOW[0], end_fraction: float = PRUNING_WINDOW[1],
                           frequency: int | None = None,
                           scope: str = "global", include_classifier: bool = True, **train_kwargs) -> nn.Module:
    """Train ``model`` from its current weights while pruning it gradually to ``final_sparsity``.

    The pruning window spans the fractions ``[begin_fraction, end_fraction]`` of the
    ``epochs * ceil(N / batch_size)`` optimizer steps: dense training first, so that magnitudes
    mean something, and a final stretch at ``final_sparsity`` to recover (Zhu & Gupta 2017).
    The returned model (trained in place, masks still attached) has exactly ``final_sparsity``,
    up to the rounding ``round(final_sparsity * n) / n``.

    Parameters
    ----------
    images, targets : torch.Tensor
        ``(N, C, H, W)`` images and ``(N,)`` labels, as for :func:`~course_lib.training.train_model`.
    final_sparsity : float
        In ``[0, 1)``.
    epochs, batch_size, seed
        Passed to :func:`~course_lib.training.train_model`.
    begin_fraction, end_fraction : float
        Window bounds as fractions of the training steps, ``0 <= begin < end <= 1``.
    frequency, scope, include_classifier
        As in :class:`GradualPruning`.
    **train_kwargs
        Further arguments of :func:`~course_lib.training.train_model` (``lr``, ``device``...).
    """
    steps = total_steps(len(targets), epochs=epochs, batch_size=batch_size)
    schedule = gradual_schedule(final_sparsity, steps, begin_fraction=begin_fraction, end_fraction=end_fraction,
                                frequency=frequency, scope=scope, include_classifier=include_classifier)
    return train_model(model, images, targets, epochs=epochs, batch_size=batch_size, seed=seed,
                       on_step=schedule, **train_kwargs)


def one_shot_prune_finetune(model: nn.Module, images: torch.Tensor, targets: torch.Tensor, *, sparsity: float,
                            epochs: int, scope: str = "global", include_classifier: bool = True,
                            **train_kwargs) -> nn.Module:
    """Prune a trained ``model`` once to ``sparsity``, then fine-tune it with the masks fixed.

    The contrast to :func:`train_gradually_pruned`: all weights go at once, and only the
    survivors are retrained (pruned weights get zero gradient, so they stay zero).
    ``**train_kwargs`` go to :func:`~course_lib.training.train_model`. Returns ``model``.
    """
    prune_magnitude(model, sparsity, scope=scope, include_classifier=include_classifier)
    return train_model(model, images, targets, epochs=epochs, **train_kwargs)


# --------------------------------------------------------------------------- export and storage

def export_pruned(model: nn.Module) -> nn.Module:
    """A deep copy of ``model`` with every mask folded in (:func:`torch.nn.utils.prune.remove`).

    The copy has plain ``weight`` parameters with zeros where the masks pruned, no
    ``weight_orig``/``weight_mask`` and no pruning hooks; ``model`` is left pruned.
    """
    for module in model.modules():
        _apply_masks(module)
    exported = copy.deepcopy(model)
    for module in exported.modules():
        for name in _pruned_names(module):
            prune.remove(module, name)
    return exported


def serialized_size(encoded: Mapping[str, Sequence[torch.Tensor]]) -> dict[str, int]:
    """Size of tensors stored with :func:`torch.save`, measured by serializing them into memory.

    Parameters
    ----------
    encoded : mapping of str to sequence of torch.Tensor
        The arrays that store each layer in some format.

    Returns
    -------
    dict
        ``bytes``: length of the real ``torch.save`` file (zip container and per-tensor records
        included, about 1 kB plus some hundred bytes per tensor); ``payload_bytes``: the bytes
        of the arrays themselves (``numel * element_size``), what a lean format would need.
    """
    buffer = io.BytesIO()
    # Clones get compact storages: torch.save writes the whole storage behind a view.
    torch.save({name: [part.clone() for part in parts] for name, parts in encoded.items()}, buffer)
    payload = sum(part.numel() * part.element_size() for parts in encoded.values() for part in parts)
    return {"bytes": buffer.getbuffer().nbytes, "payload_bytes": payload}


def _coo(weight: torch.Tensor) -> tuple[torch.Tensor, ...]:
    """COO via ``to_sparse()``: int64 indices ``(ndim, nnz)`` and values ``(nnz,)``."""
    sparse = weight.to_sparse()
    return sparse.indices(), sparse.values()


def _csr(weight: torch.Tensor) -> tuple[torch.Tensor, ...]:
    """CSR via ``to_sparse_csr()`` of the weight as ``(out, fan_in)``: int64 row pointers
    ``(out + 1,)`` and column indices ``(nnz,)``, values ``(nnz,)``."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="Sparse CSR tensor support is in beta")
        sparse = weight.reshape(weight.shape[0], -1).to_sparse_csr()
    return sparse.crow_indices(), sparse.col_indices(), sparse.values()


def _bitmask(weight: torch.Tensor) -> tuple[torch.Tensor, ...]:
    """One bit per weight (``uint8``, ``ceil(n / 8)`` bytes) and the nonzero values ``(nnz,)``."""
    flat = weight.flatten()
    return torch.from_numpy(np.packbits(flat.ne(0).numpy())), flat[flat.ne(0)]


SPARSE_FORMATS: dict[str, Callable[[torch.Tensor], tuple[torch.Tensor, ...]]] = {
    "dense": lambda weight: (weight,),
    "coo": _coo,
    "csr": _csr,
    "bitmask": _bitmask,
}


def storage_bytes(model: nn.Module) -> pd.DataFrame:
    """Real storage of the prunable weights (masks applied) in dense and sparse formats.

    Every format is serialized with :func:`torch.save` into memory and measured
    (:func:`serialized_size`). Unstructured sparsity only saves storage when few weights
    remain: COO costs ``4 + 8 * ndim`` bytes per nonzero float32 weight, CSR about 12, against
    4 per weight dense; a bitmask pays 1 bit per weight plus 4 bytes per nonzero.

    Returns
    -------
    pandas.DataFrame
        Index ``format`` (``dense`` float32, ``coo``, ``csr``, ``bitmask``); columns ``bytes``
        (serialized), ``payload_bytes`` (arrays only) and ``vs_dense`` (``bytes`` relative to
        the dense file). Biases and other parameters, identical in every format, are left out.
    """
    weights = {name: weight.cpu() for name, weight in effective_weights(model).items()}
    table = pd.DataFrame.from_dict(
        {fmt: serialized_size({name: encode(weight) for name, weight in weights.items()})
         for fmt, encode in SPARSE_FORMATS.items()}, orient="index")
    table.index.name = "format"
    table["vs_dense"] = table["bytes"] / table.loc["dense", "bytes"]
    return table
