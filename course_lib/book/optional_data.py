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
from ..data.availability import HOW_TO_GET, available

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
    whole_page : bool
        Whether nothing else on the page needed executing (every code cell but the
        parameters was left out).
    """

    dataset: str
    section: str
    cells: int
    whole_page: bool = False


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
    """The MyST admonition that stands in for a skipped section (no local paths: pages get published)."""
    if skipped.whole_page:
        what = (f"This page needs the `{skipped.dataset}` dataset throughout, which was not found when "
                f"it was executed, so only its overview is shown")
    else:
        where = f"In the section *{skipped.section}*, the" if skipped.section else "The"
        what = (f"{where} part that needs the `{skipped.dataset}` dataset was left out, because the data "
                f"were not found when this page was executed; the rest of the page ran as usual")
    return (f"```{{admonition}} Not run here: {skipped.dataset} is not in the data folder\n"
            f":class: warning\n\n"
            f"{what}. The figures, tables and numbers of what was left out are not shown, and none of "
            f"its claims were checked. To see them, put the data in place and execute the page again "
            f"(`make book`). {HOW_TO_GET.get(skipped.dataset, '')}\n```")


def skip_unavailable(notebook: nbformat.NotebookNode, *,
                     available: Callable[[str], bool] = available) -> list[SkippedSection]:
    """Replace, in place, every run of cells that needs a missing dataset by one note.

    Parameters
    ----------
    notebook : nbformat.NotebookNode
        A chapter, version 4.
    available : callable
        ``available(dataset)`` says whether ``dataset`` can be loaded (default
        :func:`~course_lib.data.availability.available`, which looks in ``$COURSE_DATA_DIR``).
        It is asked once per dataset.

    Returns
    -------
    list of SkippedSection
        One per note inserted, in page order; empty when every dataset the chapter needs is there.
    """
    present: dict[str, bool] = {}
    runs: list[tuple[list[nbformat.NotebookNode], str, str]] = []  # (cells, dataset, section) of every run
    cells: list[nbformat.NotebookNode | int] = []  # kept cells, and the index in runs of each note
    run: list[nbformat.NotebookNode] = []
    run_dataset = None

    def headings(some: list[nbformat.NotebookNode]) -> list[str]:
        return [m.group("title") for c in some if c.cell_type == "markdown" for m in _HEADING.finditer(c.source)]

    def close_run() -> None:
        if run:
            kept = [c for c in cells if not isinstance(c, int)]
            titles = headings(run) or headings(kept)[-1:] or [""]
            cells.append(len(runs))
            runs.append((list(run), run_dataset, titles[0]))
            run.clear()

    for cell in notebook.cells:
        dataset = required_dataset(cell)
        if dataset is not None and dataset not in present:
            present[dataset] = available(dataset)
        if dataset is not None and not present[dataset]:
            if dataset != run_dataset:
                close_run()
            run.append(cell)
            run_dataset = dataset
            continue
        close_run()
        run_dataset = None
        cells.append(cell)
    close_run()
    executed = [c for c in cells if not isinstance(c, int) and c.cell_type == "code"
                and "parameters" not in c.get("metadata", {}).get("tags", [])]
    skipped = [SkippedSection(dataset, section, len(some), whole_page=not executed) for some, dataset, section in runs]
    notebook.cells = [nbformat.v4.new_markdown_cell(note(skipped[c])) if isinstance(c, int) else c for c in cells]
    return skipped
