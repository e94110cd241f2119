"""The book runs without the optional data: sections that need a missing dataset become a note."""

from __future__ import annotations

import csv
import os
import re
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

from course_lib.book.optional_data import TAG_PREFIX, SkippedSection, note, required_dataset, skip_unavailable
from course_lib.data.availability import available, missing_data

from conftest import REPO, shared_data_dir

UTKFACE_CHAPTERS = ["02_shortcut_learning", "03_measuring_disparate_harm", "09_compression_amplifies_bias",
                    "10_cie_auditing", "appendix_data_cards"]


def _notebook(*cells: tuple[str, str, list[str]]) -> nbformat.NotebookNode:
    """A notebook of ``(kind, source, tags)`` cells."""
    made = []
    for kind, source, tags in cells:
        cell = nbformat.v4.new_markdown_cell(source) if kind == "md" else nbformat.v4.new_code_cell(source)
        cell.metadata["tags"] = tags
        made.append(cell)
    return nbformat.v4.new_notebook(cells=made)


PAGE = _notebook(
    ("md", "# Chapter", []),
    ("code", "x = 1", []),
    ("md", "Before.\n\n## Real faces\n\nText.", ["requires-utkface"]),
    ("code", "faces = load()", ["requires-utkface"]),
    ("code", "check(faces)", ["remove-cell", "requires-utkface"]),
    ("md", "## Summary", []),
    ("code", "cifar = load()", ["requires-cifar10"]),
    ("code", "more = load()", ["requires-utkface"]),
)


def test_runs_of_cells_needing_missing_data_become_one_note_each():
    nb = nbformat.from_dict(PAGE)
    asked = []

    def available(dataset: str) -> bool:
        asked.append(dataset)
        return dataset != "utkface"

    skipped = skip_unavailable(nb, available=available)
    assert asked == ["utkface", "cifar10"]  # once per dataset
    assert skipped == [SkippedSection("utkface", "Real faces", 3), SkippedSection("utkface", "Summary", 1)]
    assert [c.source for c in nb.cells] == ["# Chapter", "x = 1", note(skipped[0]), "## Summary", "cifar = load()",
                                            note(skipped[1])]
    assert nb.cells[2].cell_type == "markdown" and "id" in nb.cells[2]
    nbformat.validate(nb)


def test_the_note_says_what_is_left_out_and_how_to_get_the_data():
    text = note(SkippedSection("utkface", "Real faces", 3))
    assert text.startswith("```{admonition} Not run here: utkface is not in the data folder\n:class: warning\n")
    assert "In the section *Real faces*, the part that needs the `utkface` dataset was left out" in text
    assert "the rest of the page ran as usual" in text and "none of its claims were checked" in text
    assert "https://susanqq.github.io/UTKFace/" in text and "non-commercial research and education only" in text
    assert "/" + "tmp" not in text and str(REPO) not in text  # no local path in a published page


def test_a_page_that_needs_the_data_throughout_says_so():
    nb = _notebook(("md", "# Faces\n\nOverview.", []), ("code", "profile = 'course'", ["parameters"]),
                   ("code", "faces = load()", ["requires-utkface"]), ("md", "## Results", ["requires-utkface"]),
                   ("md", "## References", []))
    (skipped,) = skip_unavailable(nb, available=lambda dataset: False)
    assert skipped == SkippedSection("utkface", "Results", 2, whole_page=True)
    assert "This page needs the `utkface` dataset throughout" in nb.cells[2].source
    assert "ran as usual" not in nb.cells[2].source


def test_nothing_changes_when_the_data_are_there():
    nb = nbformat.from_dict(PAGE)
    assert skip_unavailable(nb, available=lambda dataset: True) == []
    assert nb == nbformat.from_dict(PAGE)


def test_tags_must_name_a_dataset():
    assert required_dataset(nbformat.v4.new_code_cell("x", metadata={"tags": ["remove-cell"]})) is None
    with pytest.raises(ValueError, match=r"^requires-<dataset> must name one of \['fashion-mnist'"):
        required_dataset(nbformat.v4.new_code_cell("x", metadata={"tags": [f"{TAG_PREFIX}mnist"]}))
    with pytest.raises(ValueError, match="^a cell must require at most one dataset"):
        required_dataset(nbformat.v4.new_code_cell("x", metadata={"tags": ["requires-utkface", "requires-celeba"]}))


def test_availability_looks_for_the_files_only(tmp_path: Path):
    assert available("synthetic-celeba", root=tmp_path)
    message = missing_data("utkface", root=tmp_path)
    assert message.startswith(f"UTKFace not found in {tmp_path}") and "https://susanqq.github.io/UTKFace/" in message
    assert "non-commercial research and education only" in message
    (tmp_path / "UTKFace").mkdir()
    assert available("utkface", root=tmp_path)
    assert not available("fashion-mnist", root=tmp_path)  # never downloads
    with pytest.raises(ValueError, match=r"^name must be one of"):
        available("mnist")


def test_every_chapter_that_loads_utkface_marks_those_cells():
    for path in sorted((REPO / "chapters").glob("*.ipynb")):
        for cell in nbformat.read(path, as_version=4).cells:
            if cell.cell_type == "code" and "utkface(" in cell.source.replace('"utkface"', "utkface("):
                assert required_dataset(cell) == "utkface", f"{path.name}: a cell loads UTKFace without the tag"


@pytest.mark.slow
def test_the_utkface_chapters_run_without_utkface(tmp_path: Path):
    shared = shared_data_dir()
    if shared is None:
        pytest.skip("Fashion-MNIST not found: set COURSE_DATA_DIR to the course's data folder")
    data = tmp_path / "data"
    data.mkdir()
    (data / "FashionMNIST").symlink_to(shared / "FashionMNIST", target_is_directory=True)
    out = tmp_path / "book"
    env = {**os.environ, "COURSE_DATA_DIR": str(data), "COURSE_CACHE_DIR": str(tmp_path / "cache")}
    run = subprocess.run([sys.executable, str(REPO / "tools" / "execute.py"), "--profile", "smoke", "--out", str(out),
                          *UTKFACE_CHAPTERS], env=env, capture_output=True, text=True, timeout=1500)
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    assert "Left out because utkface is not in the data folder" in run.stdout
    for name in UTKFACE_CHAPTERS:
        nb = nbformat.read(out / "chapters" / f"{name}.ipynb", as_version=4)
        notes = [c for c in nb.cells if c.cell_type == "markdown" and "Not run here: utkface" in c.source]
        assert notes, f"{name}: no note where the UTKFace section was"
        assert not any(required_dataset(c) for c in nb.cells), f"{name}: a UTKFace cell was executed"
        assert not any(o.get("output_type") == "error" for c in nb.cells if c.cell_type == "code" for o in c.outputs)
    assert (out / "skipped.txt").read_text() == run.stdout[run.stdout.index("Left out because"):]


def test_the_readme_states_the_cold_build_time_of_timings_csv():
    with open(REPO / "timings.csv", newline="") as fh:
        seconds = sum(int(row["seconds"]) for row in csv.DictReader(fh) if row["profile"] == "course")
    stated = re.search(r"took (\d+) minutes on a 2-core", (REPO / "README.md").read_text())
    assert stated and int(stated.group(1)) == round(seconds / 60), "update the README's cold build time"
