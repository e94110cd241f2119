"""The mask layout of pruned models: one owner for ``weight_orig`` and ``weight_mask``.

A *mask* is a boolean tensor shaped like a weight, ``True`` where the weight is kept. The
*sparsity* of a set of weights is the fraction of mask entries that are ``False``. *Prunable
layers* are the ``Conv1d``/``Conv2d``/``Conv3d`` and ``Linear`` modules; only their ``weight`` is
pruned (biases stay dense: they are a tiny fraction of the parameters).

Masks live where :mod:`torch.nn.utils.prune` keeps them: a pruned module holds its dense
``weight_orig`` parameter and a ``weight_mask`` buffer, and a forward pre-hook computes
``weight = weight_orig * weight_mask`` before every forward pass; a state dict holds
``<layer>.weight_orig`` and ``<layer>.weight_mask``. This module is the only place in the
library that reads or writes that layout -- on modules (:func:`set_mask`, :func:`export_pruned`),
on state dicts (:func:`effective_state`, :func:`masked_state`, :func:`state_masks`,
:func:`load_masked_state`) and on
plain tensors (:func:`magnitude_masks`, :func:`replace_masks`) -- so that pruning one model
(:mod:`course_lib.compression.pruning`) and pruning the stacked members of a population
(:mod:`course_lib.populations.engine`) compute the same masks the same way.

*Magnitude pruning* at sparsity ``s`` removes the ``k = round(s * n)`` weights of smallest
absolute value among ``n`` candidates (Python's ``round``, as :mod:`torch.nn.utils.prune` does),
either over all prunable layers together (``scope="global"``) or separately inside every layer
(``scope="layer"``, ``round(s * n_layer)`` per layer). Global scope lets layers end up with
different sparsities: large, redundant layers lose more.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping

import torch
from torch import nn
from torch.nn.utils import prune

from ..core.validation import check_bool, check_option, check_real

PRUNABLE_TYPES: tuple[type[nn.Module], ...] = (nn.Conv1d, nn.Conv2d, nn.Conv3d, nn.Linear)
CLASSIFIER_NAME = "classifier"
SCOPES = ("global", "layer")

State = dict[str, torch.Tensor]


def check_sparsity(value: float, name: str = "sparsity") -> float:
    """``value`` as a float, checked to be a sparsity in ``[0, 1)``."""
    return check_real(value, name, low=0.0, high=1.0, closed="left")


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
    sparsity = check_sparsity(sparsity)
    check_option(scope, "scope", SCOPES)
    if not weights:
        raise ValueError("weights must hold at least one tensor, got none")
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


@torch.no_grad()
def replace_masks(weights: Mapping[str, torch.Tensor], masks: Mapping[str, torch.Tensor], sparsity: float, *,
                  scope: str = "global") -> dict[str, torch.Tensor]:
    """Magnitude-prune one model given as tensors: new masks, old masks folded into the weights.

    The step every pruning update takes, for a module (:func:`set_mask`) and for one member of
    a stacked population alike: the new masks come from :func:`magnitude_masks` of the
    effective weights ``weight * mask`` (already-pruned weights ranking first, so masks only
    shrink while the sparsity grows); then the old masks are multiplied into ``weights`` **in
    place**, so that a weight a lower sparsity would regrow restarts from zero.

    Parameters
    ----------
    weights : mapping of str to torch.Tensor
        The dense weights (``weight_orig``) of the prunable layers, modified in place.
    masks : mapping of str to torch.Tensor
        The current masks of the pruned ones (any subset of the names; empty when dense).
    sparsity, scope
        As in :func:`magnitude_masks`.

    Returns
    -------
    dict of str to torch.Tensor
        The new ``bool`` masks, one per weight.
    """
    effective = {name: w * masks[name] if name in masks else w for name, w in weights.items()}
    new = magnitude_masks(effective, sparsity, scope=scope, masks=masks or None)
    for name, mask in masks.items():
        weights[name].mul_(mask)
    return new


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
        ``classifier`` (the last layer of :class:`~course_lib.training.models.SmallCNN`) stays dense.

    Raises
    ------
    ValueError
        If ``model`` has no prunable layer left, or if ``include_classifier=False`` but no
        layer is named ``classifier``.
    """
    check_bool(include_classifier, "include_classifier")
    layers = [(name, module) for name, module in model.named_modules() if isinstance(module, PRUNABLE_TYPES)]
    if layers and not include_classifier:
        if CLASSIFIER_NAME not in {name for name, _ in layers}:
            raise ValueError(f"include_classifier=False needs a layer named {CLASSIFIER_NAME!r}, "
                             f"found {[name for name, _ in layers]}")
        layers = [(name, module) for name, module in layers if name != CLASSIFIER_NAME]
    if not layers:
        raise ValueError("model has no prunable layers (Conv or Linear), got only "
                         f"{sorted({type(m).__name__ for m in model.modules()})}")
    return layers


def pruned_names(module: nn.Module) -> list[str]:
    """Names of the tensors of ``module`` that carry a :mod:`torch.nn.utils.prune` mask."""
    return [name.removesuffix("_mask") for name, _ in module.named_buffers(recurse=False) if name.endswith("_mask")]


def current_masks(layers: Mapping[str, nn.Module]) -> dict[str, torch.Tensor]:
    """The ``weight_mask`` of every pruned module of ``layers``, by name (dense ones left out)."""
    return {name: module.weight_mask for name, module in layers.items() if hasattr(module, "weight_mask")}


@torch.no_grad()
def apply_masks(module: nn.Module) -> None:
    """Recompute ``weight = weight_orig * weight_mask`` now, as the pruning hook does before a forward.

    Outside autograd: the result is a leaf, so the module can be deep-copied even right after
    a training forward pass (a graph-carrying ``weight`` cannot).
    """
    for name in pruned_names(module):
        setattr(module, name, getattr(module, f"{name}_orig") * getattr(module, f"{name}_mask"))


def effective_weight(module: nn.Module) -> torch.Tensor:
    """The weight the next forward pass uses, detached.

    Read from ``weight_orig * weight_mask`` rather than ``weight``, which is stale between an
    optimizer step and the next forward pass (when ``on_step`` hooks run).
    """
    if hasattr(module, "weight_mask"):
        return (module.weight_orig * module.weight_mask).detach()
    return module.weight.detach()


def effective_weights(model: nn.Module, *, include_classifier: bool = True) -> dict[str, torch.Tensor]:
    """Detached prunable weights with their masks applied, keyed by layer name (see :func:`prunable_parameters`)."""
    return {name: effective_weight(module)
            for name, module in prunable_parameters(model, include_classifier=include_classifier)}


@torch.no_grad()
def set_mask(module: nn.Module, mask: torch.Tensor) -> None:
    """Make ``mask`` the one effective mask of ``module.weight`` (never a stack of masks).

    A dense module gets a ``weight_mask`` through :func:`torch.nn.utils.prune.custom_from_mask`
    (which re-registers the same parameter object as ``weight_orig``, so an optimizer holding it
    keeps training it). A pruned module, whose old mask :func:`replace_masks` has already folded
    into ``weight_orig``, has its ``weight_mask`` overwritten in place.
    """
    if not hasattr(module, "weight_mask"):
        prune.custom_from_mask(module, "weight", mask)
        return
    module.weight_mask.copy_(mask)
    apply_masks(module)


def export_pruned(model: nn.Module) -> nn.Module:
    """A deep copy of ``model`` with every mask folded in (:func:`torch.nn.utils.prune.remove`).

    The copy has plain ``weight`` parameters with zeros where the masks pruned, no
    ``weight_orig``/``weight_mask`` and no pruning hooks; ``model`` is left pruned.
    """
    for module in model.modules():
        apply_masks(module)
    exported = copy.deepcopy(model)
    for module in exported.modules():
        for name in pruned_names(module):
            prune.remove(module, name)
    return exported


# --------------------------------------------------------------------------- masks in state dicts

def effective_state(state: State) -> State:
    """The parameters a state dict's forward pass uses: ``weight_orig * weight_mask`` for pruned layers."""
    effective = {}
    for name, tensor in state.items():
        if name.endswith(".weight_orig"):
            layer = name.removesuffix(".weight_orig")
            effective[f"{layer}.weight"] = tensor * state[f"{layer}.weight_mask"]
        elif not name.endswith(".weight_mask"):
            effective[name] = tensor
    return effective


def state_masks(state: State) -> dict[str, torch.Tensor]:
    """The bool mask of every pruned layer of a state dict, by layer name (dense layers left out)."""
    return {name.removesuffix(".weight_mask"): mask.bool() for name, mask in state.items()
            if name.endswith(".weight_mask")}


def masked_state(params: Mapping[str, torch.Tensor], masks: Mapping[str, torch.Tensor]) -> State:
    """A state dict in the layout of :mod:`torch.nn.utils.prune`, copied to the CPU.

    Parameters
    ----------
    params : mapping of str to torch.Tensor
        Every parameter of a model by its name (``"<layer>.weight"``, ``"<layer>.bias"``).
    masks : mapping of str to torch.Tensor
        The masks of the pruned weights, by the name of the weight.

    Returns
    -------
    dict of str to torch.Tensor
        Pruned weights as ``<layer>.weight_orig`` and ``<layer>.weight_mask``, the rest as they are.
    """
    state = {}
    for name, p in params.items():
        if name in masks:
            layer = name.removesuffix(".weight")
            state[f"{layer}.weight_orig"] = p.detach().cpu().clone()
            state[f"{layer}.weight_mask"] = masks[name].cpu().clone()
        else:
            state[name] = p.detach().cpu().clone()
    return state


def load_masked_state(model: nn.Module, state: State) -> nn.Module:
    """``model`` holding ``state``, its pruning masks re-attached where ``state`` has them; in eval mode."""
    for name, module in model.named_modules():
        if f"{name}.weight_mask" in state:
            prune.identity(module, "weight")
    model.load_state_dict(state)
    return model.eval()
