"""The one shape every dataset of the course comes in."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
import torch

from ..core.validation import check_integer, check_option, check_real

SPLITS = ("train", "test", "all")
"""The splits every loader accepts; ``"all"`` is every example, train then test."""


def check_split(split: str) -> str:
    """Return ``split`` if it is ``"train"``, ``"test"`` or ``"all"``; raise ``ValueError`` otherwise."""
    return check_option(split, "split", SPLITS)


@dataclass(frozen=True, eq=False)
class ImageDataset:
    """Images, integer targets and a per-example attribute table.

    Attributes
    ----------
    name : str
        Dataset name as given to :func:`course_lib.data.load`.
    split : str
        ``"train"``, ``"test"`` or ``"all"``.
    images : torch.Tensor
        Shape ``(N, C, H, W)``, ``float32`` in ``[0, 1]``.
    targets : torch.Tensor
        Shape ``(N,)``, ``int64`` class indices into ``classes``.
    attributes : pandas.DataFrame
        One row per example, in the order of ``images``, indexed by a stable string
        ``example_id`` that survives subsetting.
    classes : tuple of str
        Class names; ``targets`` index into it.
    """

    name: str
    split: str
    images: torch.Tensor
    targets: torch.Tensor
    attributes: pd.DataFrame
    classes: tuple[str, ...]

    def __post_init__(self) -> None:
        n = self.images.shape[0]
        if self.images.ndim != 4:
            raise ValueError(f"images must have shape (N, C, H, W), got {tuple(self.images.shape)}")
        if self.images.dtype != torch.float32:
            raise ValueError(f"images must be float32 in [0, 1], got {self.images.dtype}")
        if self.targets.shape != (n,) or self.targets.dtype != torch.int64:
            raise ValueError(f"targets must be int64 of shape ({n},), got {self.targets.dtype} {tuple(self.targets.shape)}")
        if len(self.attributes) != n:
            raise ValueError(f"attributes must have one row per image ({n}), got {len(self.attributes)}")
        if n and (int(self.targets.min()) < 0 or int(self.targets.max()) >= len(self.classes)):
            raise ValueError(f"targets must lie in [0, {len(self.classes)}), the indices of classes")

    def __len__(self) -> int:
        return self.images.shape[0]

    def __repr__(self) -> str:
        c, h, w = self.images.shape[1:]
        return (f"ImageDataset(name={self.name!r}, split={self.split!r}, n={len(self)}, "
                f"image=({c}, {h}, {w}), classes={len(self.classes)})")

    @property
    def example_ids(self) -> pd.Index:
        """The stable ids of the examples, in order."""
        return self.attributes.index

    def subset(self, indices: Sequence[int] | np.ndarray | torch.Tensor) -> ImageDataset:
        """The examples at positions ``indices`` (ids, attributes and order preserved)."""
        idx = torch.as_tensor(np.asarray(indices, dtype=np.int64))
        return ImageDataset(self.name, self.split, self.images[idx], self.targets[idx],
                            self.attributes.iloc[idx.numpy()], self.classes)

    def sample(self, n: int | None, *, seed: int = 0, stratify: bool = True) -> ImageDataset:
        """``n`` examples drawn without replacement, reproducibly from ``seed``.

        With ``stratify=True`` every class keeps its share (rounded, remainders to the largest
        classes), so a small profile still sees every class. ``n=None`` or ``n >= len(self)``
        returns the dataset unchanged.
        """
        n = check_integer(n, "n", low=1, optional=True)
        seed = check_integer(seed, "seed", low=0)
        if n is None or n >= len(self):
            return self
        rng = np.random.default_rng(seed)
        targets = self.targets.numpy()
        if not stratify:
            chosen = rng.choice(len(self), size=n, replace=False)
        else:
            counts = np.bincount(targets, minlength=len(self.classes))
            quota = np.floor(counts * n / len(self)).astype(int)
            order = np.argsort(-(counts * n / len(self) - quota), kind="stable")
            quota[order[: n - quota.sum()]] += 1
            chosen = np.concatenate([rng.choice(np.flatnonzero(targets == c), size=q, replace=False)
                                     for c, q in enumerate(quota) if q])
        return self.subset(np.sort(chosen))


def concat(parts: Sequence[ImageDataset], *, split: str = "all") -> ImageDataset:
    """Concatenate datasets that share name and classes (used for ``split="all"``)."""
    first = parts[0]
    if any(p.classes != first.classes for p in parts):
        raise ValueError("datasets to concatenate must share their classes")
    return ImageDataset(first.name, split, torch.cat([p.images for p in parts]),
                        torch.cat([p.targets for p in parts]),
                        pd.concat([p.attributes for p in parts]), first.classes)


def from_uint8(name: str, split: str, images: torch.Tensor, targets: torch.Tensor,
               attributes: pd.DataFrame, classes: Sequence[str]) -> ImageDataset:
    """Build an :class:`ImageDataset` from ``uint8`` images of shape ``(N, C, H, W)``."""
    if images.dtype != torch.uint8:
        raise ValueError(f"images must be uint8, got {images.dtype}")
    return ImageDataset(name, split, images.float().div_(255.0), targets.long(), attributes, tuple(classes))


def seeded_test_mask(n: int, *, test_fraction: float, seed: int) -> np.ndarray:
    """Boolean mask of length ``n`` choosing ``round(test_fraction * n)`` test examples from ``seed``.

    Used by datasets without an official split (synthetic, UTKFace): the split is a pure
    function of ``(n, test_fraction, seed)``.
    """
    check_real(test_fraction, "test_fraction", low=0, high=1, closed="neither")
    mask = np.zeros(n, dtype=bool)
    mask[np.random.default_rng(seed).permutation(n)[: round(test_fraction * n)]] = True
    return mask
