"""Sections that need optional data, and the note that takes their place when the data are missing.

A chapter marks every cell of a section that needs a dataset the reader may lack with the tag
``requires-<dataset>`` (e.g. ``requires-utkface``): its code, its text, and the hidden cells
that glue its numbers and assert its claims. Before a chapter is executed for the book
(``tools/execute.py``), :func:`skip_unavailable` replaces every run of consecutive cells that
need a missing dataset by one note saying what the section would show and how to get the data.
The rest of the chapter, and the book, run as usual; the claims of a skipped section are
neither shown nor asserted. With every dataset present nothing changes.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

import nbformat

from ..data import DATASETS
from ..data.availability import missing_data

TAG_PREFIX = "requires-"
"""Cells tagged ``requires-<dataset>`` run only when ``<dataset>`` is in the data folder."""

_HEADING = re.compile(r"^#{1,6}\s+(?P<title>.+?)\s*$", re.MULTILINE)


@dataclass(frozen=True)
class SkippedSection:
    """A run of cells left out because a dataset is missing.

    Attributes
    ----------
    dataset : str
        The missing dataset, one of :data:`~course_lib.data.DATASETS`.
    section : str
        The first heading among the skipped cells, else the last heading before them (``""``
        when there is none).
    cells : int
        How many cells the note replaces.
    reason : str
        Why the dataset cannot be loaded (:func:`~course_lib.data.availability.missing_data`).
    """

    dataset: str
    section: str
    cells: int
    reason: str


def required_dataset(cell: nbformat.NotebookNode) -> str | None:
    """The dataset a cell needs (its ``requires-<dataset>`` tag), or ``None``.

    Raises
    ------
    ValueError
        If the tag names no dataset of :data:`~course_lib.data.DATASETS`, or a cell has two.
    """
    needed = [tag.removeprefix(TAG_PREFIX) for tag in cell.get("metadata", {}).get("tags", [])
              if tag.startswith(TAG_PREFIX)]
    if len(needed) > 1:
        raise ValueError(f"a cell must require at most one dataset, got tags {needed}")
    if needed and needed[0] not in DATASETS:
        raise ValueError(f"{TAG_PREFIX}<dataset> must name one of {list(DATASETS)}, got {needed[0]!r}")
    return needed[0] if needed else None


def note(skipped: SkippedSection) -> str:
    """The MyST admonition that stands in for a skipped section."""
    what = f"The section *{skipped.section}*" if skipped.section else "This part of the chapter"
    return (f"```{{admonition}} Not run here: {skipped.dataset} is not in the data folder\n"
            f":class: warning\n\n"
            f"{what} needs the `{skipped.dataset}` dataset, which was not found when this page was "
            f"executed, so it was left out: its figures, tables and numbers are not shown, and none "
            f"of its claims were checked. The rest of the page ran as usual. To run it, put the data "
            f"in place and execute the page again (`make book`):\n\n"
            f"{skipped.reason}\n```")


def skip_unavailable(notebook: nbformat.NotebookNode, *,
                     missing: Callable[[str], str | None] = missing_data) -> list[SkippedSection]:
    """Replace, in place, every run of cells that needs a missing dataset by one note.

    Parameters
    ----------
    notebook : nbformat.NotebookNode
        A chapter, version 4.
    missing : callable
        ``missing(dataset)`` returns why ``dataset`` cannot be loaded, or ``None`` when it can
        (default :func:`~course_lib.data.availability.missing_data`, which looks in
        ``$COURSE_DATA_DIR``). It is asked once per dataset.

    Returns
    -------
    list of SkippedSection
        One per note inserted, in page order; empty when every dataset the chapter needs is there.
    """
    reasons: dict[str, str | None] = {}
    cells, skipped = [], []
    run: list[nbformat.NotebookNode] = []
    run_dataset = None

    def headings(some: list[nbformat.NotebookNode]) -> list[str]:
        return [m.group("title") for c in some if c.cell_type == "markdown" for m in _HEADING.finditer(c.source)]

    def close_run() -> None:
        if run:
            titles = headings(run) or headings(cells)[-1:] or [""]
            section = SkippedSection(run_dataset, titles[0], len(run), reasons[run_dataset])
            skipped.append(section)
            cells.append(nbformat.v4.new_markdown_cell(note(section)))
            run.clear()

    for cell in notebook.cells:
        dataset = required_dataset(cell)
        if dataset is not None and dataset not in reasons:
            reasons[dataset] = missing(dataset)
        if dataset is not None and reasons[dataset] is not None:
            if dataset != run_dataset:
                close_run()
            run.append(cell)
            run_dataset = dataset
            continue
        close_run()
        run_dataset = None
        cells.append(cell)
    close_run()
    notebook.cells = cells
    return skipped
