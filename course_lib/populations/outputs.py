"""A cache of what populations output: re-executing an analysis does not recompute inference.

Training a population is cached by :mod:`course_lib.populations.population`; its outputs are
cached here, in the ``"outputs"`` namespace of :mod:`course_lib.core.cache`, so that an analysis
chapter run a second time (or by the next chapter) loads the logits it computed before. An
entry is keyed by everything the logits depend on -- the members' weights themselves
(a SHA-256 of every tensor of their state dicts), the images (their SHA-256), the batch size of
the forward pass and the device type, which both change float rounding, and the engine's
version -- and is verified on load like every cache entry: a damaged one is reported with a
:class:`~course_lib.core.cache.CacheRebuildWarning` and recomputed.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import torch

from ..compression.masks import State
from ..core.cache import cached
from .recipe import ENGINE_VERSION, array_fingerprint, weights_fingerprint

NAMESPACE = "outputs"
"""The cache namespace of population outputs (trained members live in ``"populations"``)."""


def outputs_config(states: Sequence[State], images: torch.Tensor, *, batch_size: int, device: torch.device,
                   kind: str = "logits", **options: Any) -> dict[str, Any]:
    """The cache key of an output ``kind`` of the members ``states`` on ``images`` (with its ``options``)."""
    empty = torch.empty(0, dtype=torch.int64)
    return {"output": kind, "engine": ENGINE_VERSION, "weights": weights_fingerprint(states),
            "images": array_fingerprint(images, empty), "batch_size": batch_size, "device": device.type, **options}


def cached_output(states: Sequence[State], images: torch.Tensor, compute: Callable[[], Any], *, batch_size: int,
                  device: torch.device, kind: str, **options: Any) -> Any:
    """``compute()``, an output ``kind`` of ``states`` on ``images``, or its stored copy.

    ``options`` (plain values) are everything else the output depends on, e.g. the classes
    and checkpoint windows of a VoG score (:func:`course_lib.analysis.vog.population_vog`).
    """
    config = outputs_config(states, images, batch_size=batch_size, device=device, kind=kind, **options)
    return cached(NAMESPACE, config, compute)


def cached_logits(states: Sequence[State], images: torch.Tensor, compute: Callable[[], torch.Tensor], *,
                  batch_size: int, device: torch.device) -> torch.Tensor:
    """``compute()``, the logits ``(K, N, classes)`` of ``states`` on ``images``, or their stored copy."""
    return cached_output(states, images, compute, batch_size=batch_size, device=device, kind="logits")
