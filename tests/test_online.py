"""The online edition: the repository setting, the Colab setup cell, the buttons in the built HTML, the workflow."""

import ast
import importlib.util
import shutil
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest
import yaml

from conftest import build_book, keep_one_chapter
from course_lib.book import online

REPO = Path(__file__).resolve().parent.parent
URL = "https://github.com/course-authors/compression-forgets"
sys.path.insert(0, str(REPO / "tools"))
import execute  # noqa: E402
import online as online_tool  # noqa: E402  (tools/online.py)


@pytest.mark.parametrize("url", [URL, URL + "/", URL + ".git", "https://github.com/a-b/c.d_e"])
def test_repository_urls_of_github_are_accepted(url):
    owner, name = online.check_repository_url(url)
    assert owner in ("course-authors", "a-b") and name in ("compression-forgets", "c.d_e")


@pytest.mark.parametrize("url", ["", "github.com/a/b", "http://github.com/a/b", "https://gitlab.com/a/b",
                                 "https://github.com/a", "https://github.com/a/b/c", "https://github.com/a/..",
                                 None, 3])
def test_other_repository_urls_are_refused_with_the_expected_form(url):
    with pytest.raises(ValueError, match=r"repository_url must look like https://github.com/<owner>/<name>"):
        online.check_repository_url(url)


def test_online_config_names_the_repository_and_turns_on_the_buttons_without_touching_the_rest():
    config = yaml.safe_load((REPO / "_config.yml").read_text())
    before = yaml.safe_dump(config)
    got = online.online_config(config, repository_url=URL + ".git", branch="book")
    assert yaml.safe_dump(config) == before  # the input is not modified
    assert got["repository"] == {**config["repository"], "url": URL, "branch": "book"}
    assert got["launch_buttons"]["binderhub_url"] == "https://mybinder.org"
    assert got["launch_buttons"]["colab_url"] == "https://colab.research.google.com"
    assert got["html"]["use_repository_button"] and got["html"]["use_issues_button"]
    assert got["sphinx"] == config["sphinx"] and got["title"] == config["title"]
    with pytest.raises(ValueError, match="branch must be a git branch name"):
        online.online_config(config, repository_url=URL, branch="a b")


def test_the_source_config_has_no_repository_so_no_button_points_at_nobody():
    config = yaml.safe_load((REPO / "_config.yml").read_text())
    assert config["repository"]["url"] == "" and config["launch_buttons"]["colab_url"] == ""


def _run_setup_cell(monkeypatch, *, installed: bool) -> list[list[str]]:
    calls = []
    monkeypatch.setattr(subprocess, "run", lambda command, check: calls.append(command))
    if not installed:
        real = importlib.util.find_spec
        monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "course_lib" else real(name, *a))
    exec(compile(online.setup_cell_source(repository_url=URL, branch="main"), "setup", "exec"), {})
    return calls


def test_the_setup_cell_does_nothing_where_the_course_is_installed(monkeypatch):
    assert _run_setup_cell(monkeypatch, installed=True) == []


def test_the_setup_cell_installs_the_library_from_the_repository_where_it_is_missing(monkeypatch):
    calls = _run_setup_cell(monkeypatch, installed=False)
    assert calls == [[sys.executable, "-m", "pip", "install", "--quiet", f"course_lib @ git+{URL}@main"]]


def test_add_setup_cell_puts_one_setup_cell_first():
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("profile = 'course'", metadata={"tags": ["parameters"]})])
    online.add_setup_cell(nb, repository_url=URL)
    online.add_setup_cell(nb, repository_url=URL)  # again: replaced, not duplicated
    assert [c.metadata.get("tags") for c in nb.cells] == [[online.SETUP_TAG], ["parameters"]]
    ast.parse(nb.cells[0].source)
    nbformat.validate(nb)


def _copy_of_the_book(tmp_path):
    root = tmp_path / "book"
    execute.stage(root)  # the book's sources: _config.yml, chapters/, ...
    return root


def test_make_online_writes_the_setting_and_the_setup_cells_keeping_the_config_comments(tmp_path):
    root = _copy_of_the_book(tmp_path)
    before = (root / "_config.yml").read_text()
    notebooks = online_tool.point_at(root, repository=URL, branch="main")
    text = (root / "_config.yml").read_text()
    config = yaml.safe_load(text)
    assert online.repository_of(config) == URL and config["launch_buttons"]["colab_url"]
    assert "# Launch buttons." in text and "# Book configuration" in text  # comments kept
    assert yaml.safe_load(before)["sphinx"] == config["sphinx"]
    online_tool.point_at(root, repository=URL, branch="main")  # again: nothing doubles
    for path in notebooks:
        cells = nbformat.read(path, 4).cells
        assert online.SETUP_TAG in cells[0].metadata["tags"]
        assert sum(online.SETUP_TAG in c.metadata.get("tags", []) for c in cells) == 1
    with pytest.raises(SystemExit):
        online_tool.main(["--repository", "https://gitlab.com/a/b"])


def test_the_committed_chapters_carry_a_setup_cell_exactly_when_the_config_names_a_repository():
    """The launch buttons open the committed notebooks: they must install the course on Colab."""
    url = online.repository_of(yaml.safe_load((REPO / "_config.yml").read_text()))
    for path in sorted((REPO / "chapters").glob("*.ipynb")):
        first = nbformat.read(path, 4).cells[0]
        has_cell = online.SETUP_TAG in first.metadata.get("tags", [])
        assert has_cell == (url is not None), f"{path.name}: run `make online REPOSITORY_URL=...` again"
        if url is not None:
            assert first.source == online.setup_cell_source(repository_url=url,
                                                            branch=yaml.safe_load((REPO / "_config.yml").read_text())["repository"]["branch"])


@pytest.mark.slow
def test_every_chapter_page_of_the_online_build_has_launch_and_download_buttons(tmp_path):
    """Build a two-page book (a text page and a chapter) with the real configuration and read its HTML."""
    src = tmp_path / "src"
    execute.stage(src)
    online_tool.point_at(src, repository=URL)
    chapter = "01_top1_hides_what_pruning_breaks"
    keep_one_chapter(src, chapter)
    html = build_book(src, tmp_path / "out")
    page = (html / "chapters" / f"{chapter}.html").read_text()
    assert f"https://mybinder.org/v2/gh/course-authors/compression-forgets/main?urlpath=" in page
    assert f"https://colab.research.google.com/github/course-authors/compression-forgets/blob/main/chapters/{chapter}.ipynb" in page
    assert f"_sources/chapters/{chapter}.ipynb" in page  # the download button's .ipynb
    intro = (html / "intro.html").read_text()
    assert "_sources/intro.md" in intro  # a text page downloads as .md


def test_the_publishing_workflow_runs_the_readme_commands():
    workflow = yaml.safe_load((REPO / ".github" / "workflows" / "book.yml").read_text())
    steps = [step.get("run", "") for step in workflow["jobs"]["build"]["steps"]]
    readme = (REPO / "README.md").read_text()
    assert "make test" in steps and "make test" in readme
    assert "make book" in steps and "make book" in readme
    assert "make online REPOSITORY_URL=" in readme


def test_the_publishing_workflow_passes_the_schema_of_github_workflows():
    checker = shutil.which("check-jsonschema", path=str(Path(sys.executable).parent))
    assert checker, "check-jsonschema is part of the course environment (requirements.txt)"
    result = subprocess.run([checker, "--builtin-schema", "vendor.github-workflows",
                             str(REPO / ".github" / "workflows" / "book.yml")], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr
