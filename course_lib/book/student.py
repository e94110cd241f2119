"""The classroom edition: chapters as otter-grader master notebooks, and chapters without solutions.

An exercise whose solution is executed code is *gated* in its chapter (``exercise-start`` /
``exercise-end`` and ``solution-start`` / ``solution-end`` of sphinx-exercise): a markdown cell
that ends with the ``solution-start`` fence, the solution's code cells, and a markdown cell whose
text before the ``solution-end`` fence interprets what the code printed.
:func:`master_notebook` turns a chapter into a master notebook of otter-grader 7 ("Otter
Assign" format: ``# BEGIN QUESTION``, ``# BEGIN SOLUTION``, ``# BEGIN TESTS`` raw cells), in
which

- a function that the solution passes to a self-check (``selfcheck.check_*(fn)``) keeps its
  signature and docstring, and its body becomes ``raise NotImplementedError`` in the student copy;
- the rest of the solution's code (the experiment that uses the function) becomes ``...`` and
  the interpretation is removed;
- every case of the self-check becomes a test worth one point
  (:func:`~course_lib.book.selfcheck.assert_case`), so a half-done function earns part of the
  points;
- a gated solution without a self-check (an experiment to run and interpret) becomes a
  manually graded question;
- prose solutions (the ``{solution}`` directive) are removed.

``otter assign`` then writes the student notebook and the autograder (``tools/student.py``).
:func:`without_solutions` removes the same material from an executed chapter, for the book
variant with solutions hidden.
"""

from __future__ import annotations

import ast
import copy
import re
from dataclasses import dataclass

import nbformat
import yaml

from . import selfcheck

_FENCE = re.compile(r"^(?P<ticks>`{3,})\{(?P<name>solution|solution-start|solution-end)\}(?P<arg>[^\n]*)\n"
                    r".*?^(?P=ticks)[ \t]*(?:\n|\Z)", re.M | re.S)
_PROFILE_LINE = re.compile(r"^profile\s*=\s*(['\"])[a-z]+\1", re.M)


@dataclass(frozen=True)
class GatedSolution:
    """A gated solution of a chapter: cells ``start`` (its fence) to ``end`` (its closing fence).

    Attributes
    ----------
    label
        The exercise's label, e.g. ``"ch11-vog-by-hand"``.
    start, end
        Indices of the markdown cells holding the ``solution-start`` and ``solution-end`` fences;
        the solution's code cells lie strictly between them.
    """

    label: str
    start: int
    end: int

    @property
    def question(self) -> str:
        """The question's name for otter-grader (a Python identifier)."""
        return self.label.replace("-", "_")


def _fences(text: str, name: str) -> list[re.Match]:
    return [m for m in _FENCE.finditer(text) if m["name"] == name]


def gated_solutions(nb: nbformat.NotebookNode) -> list[GatedSolution]:
    """The gated solutions of ``nb``, in order.

    Raises
    ------
    ValueError
        if a ``solution-start`` fence has no ``solution-end`` after it, or fences are nested.
    """
    found, open_at, label = [], None, None
    for i, cell in enumerate(nb.cells):
        if cell.cell_type != "markdown":
            continue
        for match in sorted(_fences(cell.source, "solution-start") + _fences(cell.source, "solution-end"),
                            key=lambda m: m.start()):
            if match["name"] == "solution-start":
                if open_at is not None:
                    raise ValueError(f"cell {i}: solution-start of {match['arg'].strip()!r} inside {label!r}")
                open_at, label = i, match["arg"].strip()
            else:
                if open_at is None:
                    raise ValueError(f"cell {i}: solution-end without a solution-start")
                found.append(GatedSolution(label, open_at, i))
                open_at = None
    if open_at is not None:
        raise ValueError(f"cell {open_at}: solution-start of {label!r} has no solution-end")
    return found


def checked_functions(source: str) -> list[tuple[str, str]]:
    """``(check, function)`` for every ``selfcheck.check_*(function)`` call in ``source``, in order."""
    calls = []
    for node in ast.walk(ast.parse(source)):
        if (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
                and isinstance(node.func.value, ast.Name) and node.func.value.id == "selfcheck"
                and node.func.attr.startswith("check_") and node.args and isinstance(node.args[0], ast.Name)):
            calls.append((node.lineno, node.func.attr, node.args[0].id))
    return [(check, function) for _, check, function in sorted(calls)]


def _is_check_call(statement: ast.stmt) -> bool:
    return isinstance(statement, ast.Expr) and bool(checked_functions(ast.unparse(statement)))


def mark_solution(source: str, *, label: str) -> str:
    """Mark the solution in a gated code cell with otter-grader's solution and prompt comments.

    The body of every function passed to a self-check becomes, in the student copy,
    ``raise NotImplementedError`` (its signature and docstring stay); the statements after the
    last self-check call, or the whole cell where there is none, become ``...``.
    """
    lines = source.split("\n")
    statements = ast.parse(source).body
    checked = {function for _, function in checked_functions(source)}
    edits: list[tuple[int, int, str, list[str]]] = []  # (first line, last line, indent, prompt)
    calls = [k for k, statement in enumerate(statements) if _is_check_call(statement)]
    rest = statements[calls[-1] + 1:] if calls else statements
    if rest:
        edits.append((rest[0].lineno - 1, rest[-1].end_lineno - 1, "", []))
    for statement in statements:
        if isinstance(statement, ast.FunctionDef) and statement.name in checked:
            body = statement.body
            if isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant) and len(body) > 1:
                body = body[1:]  # keep the docstring: it states what to write
            indent = " " * body[0].col_offset
            message = f"exercise {label}: write {statement.name}"
            edits.append((body[0].lineno - 1, body[-1].end_lineno - 1, indent,
                          [f'{indent}""" # BEGIN PROMPT', f"{indent}raise NotImplementedError({message!r})",
                           f'{indent}""" # END PROMPT']))
    for first, last, indent, prompt in sorted(edits, reverse=True):
        begin = f"{indent}# BEGIN SOLUTION NO PROMPT" if prompt else f"{indent}# BEGIN SOLUTION"
        lines[first:last + 1] = [begin, *lines[first:last + 1], f"{indent}# END SOLUTION", *prompt]
    return "\n".join(lines)


def question_tests(source: str) -> list[str]:
    """The otter test cells of a solution cell: one per case of each self-check it calls, one point each."""
    tests = []
    for check, function in checked_functions(source):
        for case in selfcheck.case_names(getattr(selfcheck, check)):
            tests.append('""" # BEGIN TEST CONFIG\npoints: 1\n""" # END TEST CONFIG\n'
                         "from course_lib.book import selfcheck\n"
                         f"selfcheck.assert_case(selfcheck.{check}, {function!r}, {case!r}, globals())")
    return tests


def without_prose_solutions(text: str) -> str:
    """``text`` without its ``{solution}`` directives (prose solutions)."""
    return _FENCE.sub(lambda m: "" if m["name"] == "solution" else m[0], text)


def _split_end(text: str) -> tuple[str, str]:
    """The text of a ``solution-end`` cell before its fence (the solution's) and after it."""
    fence = _fences(text, "solution-end")[0]
    return text[:fence.start()].strip(), text[fence.end():].strip()


def _without_start(text: str) -> str:
    return _FENCE.sub(lambda m: "" if m["name"] == "solution-start" else m[0], text).rstrip()


def set_profile(nb: nbformat.NotebookNode, profile: str) -> None:
    """Set the literal ``profile = "..."`` of the notebook's ``parameters`` cell to ``profile``, in place."""
    for cell in nb.cells:
        if "parameters" in cell.metadata.get("tags", []):
            if not _PROFILE_LINE.search(cell.source):
                raise ValueError("the parameters cell has no literal `profile = \"...\"` line")
            cell.source = _PROFILE_LINE.sub(f"profile = {profile!r}".replace("'", '"'), cell.source, count=1)
            return
    raise ValueError("the notebook has no cell tagged 'parameters'")


def assignment_config(name: str) -> dict:
    """The ``# ASSIGNMENT CONFIG`` of a chapter: tests in the autograder, no PDF, no export cell."""
    return {"name": name, "init_cell": True, "check_all_cell": False, "export_cell": False,
            "run_tests": False, "generate": True, "requirements": None, "suppress_no_tests_warning": True}


def _raw(text: str) -> nbformat.NotebookNode:
    return nbformat.v4.new_raw_cell(text)


def _question(gated: GatedSolution, code: list[nbformat.NotebookNode], interpretation: str) -> list[nbformat.NotebookNode]:
    tests = [t for cell in code for t in question_tests(cell.source)]
    config = {"name": gated.question} if tests else {"name": gated.question, "manual": True, "points": 1}
    cells = [_raw("# BEGIN QUESTION\n" + yaml.safe_dump(config, sort_keys=False)), _raw("# BEGIN SOLUTION")]
    for cell in code:
        cell = copy.deepcopy(cell)
        if cell.cell_type == "code":
            cell.source = mark_solution(cell.source, label=gated.label)
            cell.outputs, cell.execution_count = [], None
        cells.append(cell)
    if interpretation:
        cells.append(nbformat.v4.new_markdown_cell(interpretation))
    cells.append(_raw("# END SOLUTION"))
    if tests:
        cells += [_raw("# BEGIN TESTS"), *[nbformat.v4.new_code_cell(t) for t in tests], _raw("# END TESTS")]
    cells.append(_raw("# END QUESTION"))
    return cells


def master_notebook(nb: nbformat.NotebookNode, *, name: str, profile: str) -> nbformat.NotebookNode:
    """The otter-grader master notebook of a chapter, run under ``profile`` (see the module's docstring)."""
    master = copy.deepcopy(nb)
    set_profile(master, profile)
    gated = {g.start: g for g in gated_solutions(master)}
    cells = [_raw("# ASSIGNMENT CONFIG\n" + yaml.safe_dump(assignment_config(name), sort_keys=False))]
    i = 0
    while i < len(master.cells):
        cell = master.cells[i]
        if cell.cell_type == "markdown":
            cell.source = without_prose_solutions(cell.source)
        if i in gated:
            g = gated[i]
            cell.source = _without_start(cell.source)
            interpretation, after = _split_end(master.cells[g.end].source)
            cells += [cell, *_question(g, master.cells[i + 1:g.end], interpretation)]
            if after:
                cells.append(nbformat.v4.new_markdown_cell(after))
            i = g.end + 1
            continue
        cells.append(cell)
        i += 1
    master.cells = cells
    return master


def without_solutions(nb: nbformat.NotebookNode) -> nbformat.NotebookNode:
    """A copy of ``nb`` without its solutions, prose and gated (code, outputs and interpretation)."""
    nb = copy.deepcopy(nb)
    gated = {g.start: g for g in gated_solutions(nb)}
    cells, i = [], 0
    while i < len(nb.cells):
        cell = nb.cells[i]
        if cell.cell_type == "markdown":
            cell.source = without_prose_solutions(cell.source)
        if i in gated:
            cell.source = _without_start(cell.source)
            cells.append(cell)
            after = _split_end(nb.cells[gated[i].end].source)[1]
            if after:
                end = copy.deepcopy(nb.cells[gated[i].end])
                end.source = after
                cells.append(end)
            i = gated[i].end + 1
            continue
        cells.append(cell)
        i += 1
    nb.cells = cells
    return nb


__all__ = ["GatedSolution", "assignment_config", "checked_functions", "gated_solutions", "mark_solution",
           "master_notebook", "question_tests", "set_profile", "without_prose_solutions", "without_solutions"]
