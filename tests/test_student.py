"""The classroom edition: master notebooks, student copies, grading with otter-grader, the book without solutions."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest
import yaml
from otter.assign.solutions import replace_solutions

from conftest import REPO, build_book, keep_one_chapter, shared_data_dir
from course_lib.book import selfcheck, student

sys.path.insert(0, str(REPO / "tools"))
import execute as execute_tool  # noqa: E402
import student as student_tool  # noqa: E402

SOLUTION = '''from course_lib.book import selfcheck


def double(x):
    """Twice ``x``."""
    y = 2 * x
    return y


selfcheck.check_vog(double)
table = double(3)
table'''


def _md(text, **kw):
    return nbformat.v4.new_markdown_cell(text, **kw)


def _chapter() -> nbformat.NotebookNode:
    """A hand-made chapter: a parameters cell, a prose solution and a gated one."""
    params = nbformat.v4.new_code_cell('profile = "course"\ndata_seed = 0', metadata={"tags": ["parameters"]})
    return nbformat.v4.new_notebook(cells=[
        params,
        _md("Text.\n\n```{exercise}\n:label: ch00-prose\n\nThink.\n```\n\n```{solution} ch00-prose\n:class: dropdown\n\n"
            "The answer.\n```\n\nMore text."),
        _md("```{exercise-start}\n:label: ch00-double\n```\n\nWrite `double`.\n\n```{exercise-end}\n```\n\n"
            "```{solution-start} ch00-double\n:class: dropdown\n```"),
        nbformat.v4.new_code_cell(SOLUTION),
        _md("It doubles.\n\n```{solution-end}\n```\n\nAfter the solution."),
        _md("## References"),
    ])


def test_gated_solutions_are_found_between_their_fences():
    assert student.gated_solutions(_chapter()) == [student.GatedSolution("ch00-double", 2, 4)]
    broken = _chapter()
    broken.cells[4].source = "It doubles."
    with pytest.raises(ValueError, match="solution-start of 'ch00-double' has no solution-end"):
        student.gated_solutions(broken)


def test_checked_functions_are_the_arguments_of_self_check_calls():
    assert student.checked_functions(SOLUTION) == [("check_vog", "double")]
    assert student.checked_functions("x = 1\nprint(x)") == []


def test_the_student_copy_keeps_the_signature_and_docstring_and_stubs_the_rest():
    marked = student.mark_solution(SOLUTION, label="ch00-double")
    assert "\n".join(replace_solutions(marked.split("\n"), "python")) == '''from course_lib.book import selfcheck


def double(x):
    """Twice ``x``."""
    raise NotImplementedError('exercise ch00-double: write double')


selfcheck.check_vog(double)
...'''
    namespace: dict = {}
    exec(marked.replace("selfcheck.check_vog(double)", ""), namespace)  # the solution still runs as written
    assert namespace["table"] == 6


def test_a_solution_without_a_self_check_becomes_an_ellipsis():
    marked = student.mark_solution("import math\nprint(math.pi)", label="ch00-run")
    assert replace_solutions(marked.split("\n"), "python") == ["..."]


def test_one_autograder_test_per_self_check_case_worth_one_point():
    tests = student.question_tests(SOLUTION)
    cases = selfcheck.case_names(selfcheck.check_vog)
    assert len(tests) == len(cases) == 3
    assert tests[0].endswith(f"selfcheck.assert_case(selfcheck.check_vog, 'double', {cases[0]!r}, globals())")
    assert "points: 1" in tests[0]


def test_the_master_notebook_wraps_the_gated_solution_in_a_question_and_drops_prose_solutions():
    master = student.master_notebook(_chapter(), name="ch00", profile="smoke")
    sources = [c.source for c in master.cells]
    assert yaml.safe_load(sources[0].removeprefix("# ASSIGNMENT CONFIG\n"))["name"] == "ch00"
    assert 'profile = "smoke"' in sources[1]
    assert "The answer." not in sources[2] and "Think." in sources[2] and "More text." in sources[2]
    assert "solution-start" not in sources[3] and "Write `double`." in sources[3]
    raws = [c.source.split("\n")[0] for c in master.cells if c.cell_type == "raw"]
    assert raws == ["# ASSIGNMENT CONFIG", "# BEGIN QUESTION", "# BEGIN SOLUTION", "# END SOLUTION",
                    "# BEGIN TESTS", "# END TESTS", "# END QUESTION"]
    assert yaml.safe_load(sources[4].removeprefix("# BEGIN QUESTION\n")) == {"name": "ch00_double"}
    assert sources[7] == "It doubles."  # the interpretation: inside the solution block, removed for students
    assert sources[-2] == "After the solution." and sources[-1] == "## References"


def test_an_experiment_without_a_self_check_is_a_manually_graded_question():
    chapter = _chapter()
    chapter.cells[3].source = "print(1)"
    master = student.master_notebook(chapter, name="ch00", profile="smoke")
    question = next(c.source for c in master.cells if c.source.startswith("# BEGIN QUESTION"))
    assert yaml.safe_load(question.removeprefix("# BEGIN QUESTION\n")) == {"name": "ch00_double", "manual": True,
                                                                           "points": 1}
    assert not any(c.source.startswith("# BEGIN TESTS") for c in master.cells)


def test_the_book_without_solutions_keeps_exercises_and_loses_every_solution():
    cells = [c.source for c in student.without_solutions(_chapter()).cells]
    text = "\n".join(cells)
    assert "Think." in text and "Write `double`." in text and "After the solution." in text
    assert "The answer." not in text and "It doubles." not in text and "def double" not in text
    assert "{solution" not in text


def test_set_profile_rewrites_the_literal_and_refuses_a_notebook_without_one():
    nb = _chapter()
    student.set_profile(nb, "smoke")
    assert nb.cells[0].source == 'profile = "smoke"\ndata_seed = 0'
    nb.cells[0].metadata["tags"] = []
    with pytest.raises(ValueError, match="no cell tagged 'parameters'"):
        student.set_profile(nb, "smoke")


CHAPTERS = sorted((REPO / "chapters").glob("[0-9]*.ipynb"))


@pytest.mark.parametrize("chapter", CHAPTERS, ids=lambda p: p.stem)
def test_every_chapter_has_exercises_of_the_three_kinds(chapter):
    """Implement (executed, self-checked), run an experiment (executed), an open question from the papers."""
    nb = nbformat.read(chapter, as_version=4)
    kinds = {"implement": [], "experiment": []}
    for gated in student.gated_solutions(nb):
        code = "\n".join(c.source for c in nb.cells[gated.start + 1:gated.end] if c.cell_type == "code")
        assert code.strip(), f"{gated.label}: a gated solution must run code"
        kinds["implement" if student.checked_functions(code) else "experiment"].append(gated.label)
        title = "Implement" if student.checked_functions(code) else "Experiment"
        assert any(f"```{{exercise-start}} {title}\n:label: {gated.label}" in c.source for c in nb.cells)
    assert kinds["implement"] and kinds["experiment"], kinds
    assert any("```{exercise} Open question\n" in c.source for c in nb.cells if c.cell_type == "markdown")


@pytest.mark.parametrize("chapter", CHAPTERS, ids=lambda p: p.stem)
def test_no_solution_is_prose_and_every_project_has_a_hint(chapter):
    """Solutions are executed code; a project (it trains beyond the book's budget) gets a hint, not a solution."""
    text = "\n".join(c.source for c in nbformat.read(chapter, as_version=4).cells if c.cell_type == "markdown")
    assert "```{solution}" not in text
    assert text.count("```{exercise} Project\n") == text.count("```{hint}\n:class: dropdown\n")


# --- grading with otter-grader, on chapter 7 under the smoke profile --------------------------------------------

needs_data = pytest.mark.skipif(shared_data_dir() is None, reason="needs Fashion-MNIST in $COURSE_DATA_DIR")
CHAPTER = REPO / "chapters" / "07_quantization.ipynb"
HALF_DONE = '''    scale = w.abs().max() / 7
    return torch.clamp(torch.round(w / scale), -7, 7), scale  # no case for an all-zero tensor'''


@pytest.fixture(scope="module")
def edition(tmp_path_factory):
    """``tools/student.py``'s output for chapter 7 under smoke, and a cache shared by the gradings."""
    out = tmp_path_factory.mktemp("student")
    return student_tool.assign(CHAPTER, out, profile="smoke"), tmp_path_factory.mktemp("cache")


def _answer(nb: nbformat.NotebookNode) -> nbformat.NotebookNode:
    """The student's cell of the implementation exercise (``quantize_4bit``)."""
    return next(c for c in nb.cells if "otter_answer_cell" in c.metadata.get("tags", [])
                and "def quantize_4bit" in c.source)


def _submission(kind: str, paths: dict[str, Path]) -> nbformat.NotebookNode:
    if kind == "reference":
        return nbformat.read(paths["solutions"], as_version=4)
    nb = nbformat.read(paths["notebooks"], as_version=4)
    answer = _answer(nb)
    stub = "    raise NotImplementedError('exercise ch07-bits: write quantize_4bit')"
    if kind == "half done":
        answer.source = answer.source.replace(stub, HALF_DONE)
    elif kind == "syntax error":
        answer.source = answer.source.replace(stub, "    return w /")
    elif kind == "deleted cell":
        nb.cells.remove(answer)
    return nb


def _grade(nb: nbformat.NotebookNode, paths: dict[str, Path], folder: Path) -> dict:
    folder.mkdir()
    submission = folder / "07_quantization.ipynb"
    nbformat.write(nb, submission)
    run = subprocess.run([str(Path(sys.executable).parent / "otter"), "run", "-a", str(paths["autograder"]),
                          "-o", str(folder), str(submission)], capture_output=True, text=True)
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    return json.loads((folder / "results.json").read_text())


@pytest.mark.slow
@needs_data
@pytest.mark.parametrize("kind, score, message", [
    ("reference", 3, None),
    ("untouched stubs", 0, "NotImplementedError: exercise ch07-bits: write quantize_4bit"),
    ("half done", 2, "case 'all zeros'"),
    ("syntax error", 0, "`quantize_4bit` is not defined: the exercise's code cell is missing or failed"),
    ("deleted cell", 0, "`quantize_4bit` is not defined: the exercise's code cell is missing or failed"),
])
def test_otter_grades_solutions_stubs_half_done_and_broken_submissions(kind, score, message, edition, tmp_path,
                                                                       monkeypatch):
    paths, cache = edition
    monkeypatch.setenv("COURSE_CACHE_DIR", str(cache))
    monkeypatch.setenv("COURSE_DATA_DIR", str(shared_data_dir()))
    results = _grade(_submission(kind, paths), paths, tmp_path / "graded")
    question = next(t for t in results["tests"] if t["name"] == "ch07_bits")
    assert question["max_score"] == 3 and question["score"] == score
    if message:
        assert message in question["output"]


@pytest.mark.slow
def test_the_student_notebook_has_stubs_and_no_solution(edition):
    paths, _ = edition
    assert {p.name for p in paths["master"].parent.parent.iterdir()} == {"master", "notebooks", "solutions", "autograder"}
    nb = nbformat.read(paths["notebooks"], as_version=4)
    text = "\n".join(c.source for c in nb.cells)
    assert "raise NotImplementedError('exercise ch07-bits: write quantize_4bit')" in text
    assert "torch.round(w / scale)" not in text  # the reference's body
    assert "4-bit keeps 15 levels per tensor" not in text  # its interpretation
    assert "{solution" not in text and not any(c.get("outputs") for c in nb.cells if c.cell_type == "code")
    assert 'grader.check("ch07_bits")' in text


@pytest.mark.slow
@needs_data
def test_a_student_notebook_runs_with_only_the_expected_failures(edition, tmp_path, monkeypatch):
    paths, cache = edition
    monkeypatch.setenv("COURSE_CACHE_DIR", str(cache))
    monkeypatch.setenv("COURSE_DATA_DIR", str(shared_data_dir()))
    assert student_tool.execute(paths["notebooks"], tmp_path / "executed.ipynb") == []
    executed = nbformat.read(tmp_path / "executed.ipynb", as_version=4)
    assert "NotImplementedError: exercise ch07-bits" in "".join(
        o.get("text", "") for o in _answer(executed).outputs)  # the self-check reports the stub


def test_unexpected_errors_are_those_outside_exercise_cells_or_of_another_kind():
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("x", metadata={"tags": ["otter_answer_cell"]}),
                                         nbformat.v4.new_code_cell("y", metadata={"tags": ["otter_answer_cell"]}),
                                         nbformat.v4.new_code_cell("z")])
    error = {"output_type": "error", "traceback": []}
    nb.cells[0].outputs = [nbformat.from_dict({**error, "ename": "NotImplementedError", "evalue": "stub"})]
    nb.cells[1].outputs = [nbformat.from_dict({**error, "ename": "NameError", "evalue": "name 'w'"})]
    nb.cells[2].outputs = [nbformat.from_dict({**error, "ename": "NotImplementedError", "evalue": "stub"})]
    assert student_tool.unexpected_errors(nb) == ["cell 1: NameError: name 'w'", "cell 2: NotImplementedError: stub"]


@pytest.mark.slow
def test_the_book_without_solutions_builds_and_shows_no_solution(tmp_path):
    """Build a one-chapter book from the staged sources without solutions and read its HTML."""
    src = tmp_path / "src"
    execute_tool.stage(src)
    chapter = "07_quantization"
    keep_one_chapter(src, chapter)
    book = student_tool.book_without_solutions(src, tmp_path / "book-src")
    page = (build_book(book, tmp_path / "out") / "chapters" / f"{chapter}.html").read_text()
    assert "Symmetric 4-bit per-tensor quantization" not in page and 'class="solution' not in page
    assert "ch07-bits" in page  # the exercise itself is there
