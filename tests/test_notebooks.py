"""Static checks of the book sources: every chapter is executable by papermill and checked by nbval."""

from __future__ import annotations

import ast
from pathlib import Path

import nbformat
import pytest
import yaml

REPO = Path(__file__).resolve().parent.parent
CHAPTERS = sorted((REPO / "chapters").glob("*.ipynb"))


def toc_files() -> list[str]:
    toc = yaml.safe_load((REPO / "_toc.yml").read_text())
    files = [toc["root"]]
    for part in toc["parts"]:
        files += [chapter["file"] for chapter in part["chapters"]]
    return files


def test_toc_lists_exactly_the_written_pages():
    listed = set(toc_files())
    for entry in listed:
        assert any((REPO / f"{entry}{ext}").is_file() for ext in (".md", ".ipynb")), f"{entry} is in _toc.yml but missing"
    pages = {str(p.relative_to(REPO).with_suffix("")) for p in (REPO / "chapters").glob("*") if p.suffix in (".md", ".ipynb")}
    assert pages <= listed, f"pages not in _toc.yml: {sorted(pages - listed)}"


@pytest.mark.parametrize("path", CHAPTERS, ids=lambda p: p.name)
def test_chapter_has_one_literal_parameters_cell(path: Path):
    nb = nbformat.read(path, as_version=4)
    tagged = [c for c in nb.cells if "parameters" in c.metadata.get("tags", [])]
    assert len(tagged) == 1, "exactly one cell must be tagged 'parameters'"
    tree = ast.parse(tagged[0].source)
    assigned = {}
    for node in tree.body:
        assert isinstance(node, ast.Assign) and isinstance(node.value, ast.Constant), \
            "the parameters cell holds literal assignments only"
        assigned[node.targets[0].id] = node.value.value
    assert assigned.get("profile") == "course"


@pytest.mark.parametrize("path", CHAPTERS, ids=lambda p: p.name)
def test_chapter_is_committed_clean_and_checked_by_nbval(path: Path):
    nb = nbformat.read(path, as_version=4)
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert all(not c.outputs and c.execution_count is None for c in code), "commit chapters without outputs"
    assert any("nbval-check-output" in c.metadata.get("tags", []) for c in code), \
        "at least one cell must be tagged 'nbval-check-output' so nbval compares a real output"
    assert nb.metadata.get("kernelspec", {}).get("name") == "python3"
