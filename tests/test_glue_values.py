"""tools/glue_values.py: the glued values of an executed book, and their differences."""

from __future__ import annotations

import importlib.util
import json

import nbformat
import pytest

from conftest import REPO

_spec = importlib.util.spec_from_file_location("glue_values", REPO / "tools" / "glue_values.py")
glue_values = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(glue_values)


def _executed_chapter(folder, name: str, glued: dict[str, str]) -> None:
    cell = nbformat.v4.new_code_cell("glue()")
    prefix = "application/papermill.record/"  # as papermill writes myst_nb.glue outputs
    cell.outputs = [nbformat.v4.new_output("display_data",
                                           data={f"{prefix}text/markdown": text, f"{prefix}text/plain": "<Markdown>"},
                                           metadata={"scrapbook": {"name": key, "mime_prefix": prefix}})
                    for key, text in glued.items()]
    cell.outputs.append(nbformat.v4.new_output("stream", text="not glued"))
    (folder / "chapters").mkdir(parents=True, exist_ok=True)
    nbformat.write(nbformat.v4.new_notebook(cells=[cell]), folder / "chapters" / f"{name}.ipynb")


def test_the_values_of_a_real_executed_chapter_are_read():
    executed = sorted((REPO / "_build" / "smoke" / "chapters").glob("01_*.ipynb"))
    if not executed:
        pytest.skip("no executed smoke book in _build/smoke (make smoke)")
    values = glue_values.glue_values(executed[0].parent.parent)
    assert values and all(isinstance(text, str) and not text.startswith("<IPython") for text in values.values())


def test_glued_values_are_listed_and_diffed(tmp_path, capsys):
    before, after = tmp_path / "before", tmp_path / "after"
    _executed_chapter(before, "01_a", {"top1": "89.4", "worst": "Shirt"})
    _executed_chapter(after, "01_a", {"top1": "89.4", "worst": "Coat", "new": "1"})
    assert glue_values.glue_values(before) == {"01_a::top1": "89.4", "01_a::worst": "Shirt"}
    assert glue_values.differences(glue_values.glue_values(before), glue_values.glue_values(after)) == [
        "only after: 01_a::new", "01_a::worst: 'Shirt' -> 'Coat'"]
    listing = tmp_path / "before.json"
    assert glue_values.main([str(before)]) == 0
    listing.write_text(capsys.readouterr().out)
    assert json.loads(listing.read_text()) == {"01_a::top1": "89.4", "01_a::worst": "Shirt"}
    assert glue_values.main([str(before), "--diff", str(listing)]) == 0
    assert capsys.readouterr().out == "all 2 glued values are the same\n"
    assert glue_values.main([str(after), "--diff", str(listing)]) == 1
