"""tools/claims.py and the claim recording of book.check_claim: how often each claim holds."""

from __future__ import annotations

import argparse
import importlib.util
import json
import sys

import pytest

from conftest import REPO
from course_lib import book

sys.path.insert(0, str(REPO / "tools"))
_spec = importlib.util.spec_from_file_location("claims", REPO / "tools" / "claims.py")
claims = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(claims)


def test_check_claim_records_instead_of_raising(tmp_path, monkeypatch):
    log = tmp_path / "claims.jsonl"
    monkeypatch.setenv("COURSE_CLAIMS_RECORD", str(log))
    assert book.check_claim("course", False, "a false claim") is False
    assert book.check_claim("course", True, "a true claim") is True
    assert [json.loads(line) for line in log.read_text().splitlines()] == [
        {"claim": "a false claim", "holds": False}, {"claim": "a true claim", "holds": True}]


def test_check_claim_raises_under_course_without_recording(monkeypatch):
    monkeypatch.delenv("COURSE_CLAIMS_RECORD", raising=False)
    with pytest.raises(AssertionError, match="no longer support the claim: a false claim"):
        book.check_claim("course", False, "a false claim")
    assert book.check_claim("smoke", False, "a false claim") is False


def test_table_counts_runs_checked_and_held():
    runs = [{"ch1": [{"claim": "a", "holds": True}, {"claim": "b", "holds": False}]},
            {"ch1": [{"claim": "a", "holds": True}], "ch2": [{"claim": "a", "holds": False}]}]
    assert claims.table(runs) == [
        {"chapter": "ch1", "claim": "a", "runs checked": 2, "runs held": 2},
        {"chapter": "ch1", "claim": "b", "runs checked": 1, "runs held": 0},
        {"chapter": "ch2", "claim": "a", "runs checked": 1, "runs held": 0}]


def test_parse_run():
    assert claims.parse_run("1:2") == (1, 2)
    for bad in ("1", "a:b", "1:-1"):
        with pytest.raises(argparse.ArgumentTypeError, match="DATA_SEED:SEED_OFFSET|must be >= 0"):
            claims.parse_run(bad)


def written_claims(source: str) -> list[str]:
    """The literal claim texts of the ``check_claim(profile, condition, claim)`` calls in ``source``.

    Read from the syntax tree, so a claim split over adjacent string literals is one text; a
    claim built at run time (an f-string) is left to the claims tool, which records it as run.
    """
    import ast

    texts = []
    for node in ast.walk(ast.parse(source)):
        if (isinstance(node, ast.Call) and getattr(node.func, "attr", getattr(node.func, "id", None)) == "check_claim"
                and len(node.args) == 3 and isinstance(node.args[2], ast.Constant)):
            texts.append(node.args[2].value)
    return texts


def test_written_claims_joins_adjacent_literals_and_skips_f_strings():
    source = 'book.check_claim(P, x > 1,\n                 "one part "\n                 "and another")\n' \
             'book.check_claim(P, y, f"built {y}")\ncheck_claim(P, z, "plain")\nbook.glue("a", b, ".1f")\n'
    assert written_claims(source) == ["one part and another", "plain"]


def test_the_published_table_covers_every_claim_of_the_chapters():
    """claims.csv lists every check_claim of the chapters, and none held in fewer than all its runs."""
    import csv

    import nbformat

    with open(REPO / "claims.csv", newline="") as fh:
        rows = list(csv.DictReader(fh))
    listed = {(row["chapter"], row["claim"]) for row in rows}
    for path in sorted((REPO / "chapters").glob("*.ipynb")):
        cells = [c.source for c in nbformat.read(path, as_version=4).cells if c.cell_type == "code"]
        for claim in written_claims("\n".join(cells)):
            assert (path.stem, claim) in listed, f"{path.stem}: claim not in claims.csv: {claim!r}"
    assert all(int(row["runs held"]) == int(row["runs checked"]) for row in rows), \
        [row for row in rows if row["runs held"] != row["runs checked"]]
    assert min(int(row["runs checked"]) for row in rows) >= 3


def test_merge_replaces_the_rechecked_chapters_only():
    old = [{"chapter": "ch1", "claim": "a", "runs checked": "3", "runs held": "2"},
           {"chapter": "ch2", "claim": "b", "runs checked": "3", "runs held": "3"}]
    new = [{"chapter": "ch1", "claim": "a2", "runs checked": 3, "runs held": 3}]
    assert claims.merge(old, new, ["ch1"]) == [new[0], old[1]]
