"""Figures shared by the chapters: image galleries and per-class comparisons."""

from __future__ import annotations

from collections.abc import Sequence

import matplotlib.pyplot as plt
import pandas as pd
import seaborn as sns
import torch

from ..core.validation import check_images


def show_images(images: torch.Tensor, *, titles: Sequence[str] | None = None, ncols: int = 8,
                size: float = 1.3) -> plt.Figure:
    """A gallery of images ``(N, C, H, W)`` in ``[0, 1]`` (grey when ``C == 1``), one title each."""
    check_images(images)
    if titles is not None and len(titles) != len(images):
        raise ValueError(f"titles must have one entry per image ({len(images)}), got {len(titles)}")
    n = len(images)
    nrows = max(1, -(-n // ncols))
    fig, axes = plt.subplots(nrows, ncols, figsize=(size * ncols, size * nrows * (1.35 if titles else 1)),
                             squeeze=False)
    for i, ax in enumerate(axes.flat):
        ax.axis("off")
        if i >= n:
            continue
        img = images[i].detach().cpu().permute(1, 2, 0).clamp(0, 1).numpy()
        ax.imshow(img[..., 0] if img.shape[-1] == 1 else img, cmap="gray" if img.shape[-1] == 1 else None,
                  vmin=0, vmax=1)
        if titles is not None:
            ax.set_title(titles[i], fontsize=8)
    fig.tight_layout()
    return fig


def class_change_barplot(change: pd.Series, *, reference: float, reference_label: str,
                         ylabel: str = "change in accuracy (percentage points)") -> plt.Axes:
    """Bars of a per-class change (index: class names), with a dashed line at ``reference``."""
    order = change.sort_values().index
    ax = sns.barplot(x=change.index, y=change.values, order=order, hue=change.index, palette="vlag_r",
                     hue_order=order, legend=False)
    ax.axhline(reference, color="black", linestyle="--", linewidth=1, label=reference_label)
    ax.axhline(0, color="grey", linewidth=0.8)
    ax.set(xlabel="", ylabel=ylabel)
    ax.tick_params(axis="x", rotation=45)
    ax.legend(loc="upper left")
    return ax


def interval_plot(table: pd.DataFrame, *, x: str, y: str, hue: str, low: str = "low", high: str = "high",
                  reference: float | None = 0.0) -> plt.Axes:
    """Points with their intervals: one column of points per ``x`` value, one colour per ``hue`` value.

    ``table`` has one row per (``x``, ``hue``) pair with the estimate ``y`` and its interval
    ``low``, ``high`` (e.g. :func:`~course_lib.analysis.changes.bootstrap_relative_change`).
    A horizontal line marks ``reference`` unless it is None.
    """
    missing = [c for c in (x, y, hue, low, high) if c not in table]
    if missing:
        raise ValueError(f"table must have columns {[x, y, hue, low, high]}, missing {missing}")
    xs, hues = list(pd.unique(table[x])), list(pd.unique(table[hue]))
    width = 0.8 / max(len(hues), 1)
    palette = sns.color_palette(n_colors=len(hues))
    fig, ax = plt.subplots(figsize=(max(6.0, 1.4 * len(xs)), 4.0))
    for j, (name, color) in enumerate(zip(hues, palette)):
        rows = table[table[hue] == name].set_index(x).reindex(xs)
        positions = [i - 0.4 + width * (j + 0.5) for i in range(len(xs))]
        errors = [rows[y] - rows[low], rows[high] - rows[y]]
        ax.errorbar(positions, rows[y], yerr=errors, fmt="o", color=color, label=str(name), capsize=3)
    if reference is not None:
        ax.axhline(reference, color="black", linewidth=0.8)
    ax.set_xticks(range(len(xs)), [str(v) for v in xs])
    ax.set(xlabel=x, ylabel=y)
    ax.legend(title=hue, fontsize=8, bbox_to_anchor=(1.01, 1), loc="upper left")
    return ax
