"""The book online: one setting points it at its repository and turns on its buttons.

``make online REPOSITORY_URL=https://github.com/<owner>/<name>`` (``tools/online.py``) writes the
address into the book's ``_config.yml`` (:func:`online_config`) and a first cell into every
chapter notebook (:func:`add_setup_cell`); commit both. From then on every build of the book
(``make book``, the publishing workflow) gives every chapter page

* launch buttons for Binder and Colab (Jupyter Book makes them for pages built from notebooks,
  and only when ``repository.url`` is set), which open the chapter as committed;
* a repository and an issues button;
* the download button of the theme (the page's source, ``.ipynb`` for a chapter and ``.md``
  for a text page, and PDF), which needs no repository.

The setup cell must be in the committed notebooks because that is what the launch buttons open.
Colab starts from its own Python environment, so the cell installs ``course_lib`` from the same
repository, with the version ranges of its ``pyproject.toml`` rather than the course's full pins
(``requirements.txt`` would replace Colab's torch and Jupyter with the development stack), and
only when ``course_lib`` cannot be imported: where the course is installed (``make book``, which
executes the cell) it does nothing. Fashion-MNIST then downloads itself on first use; UTKFace
cannot be downloaded for the reader (its licence), and its loader's message says where to put a
copy and which setting (``COURSE_DATA_DIR``) points at it.

Without the setting the book has no launch buttons and no setup cell: a button pointing at no
repository helps nobody.
"""

from __future__ import annotations

import copy
import re
from typing import Any

import nbformat

BINDER_URL = "https://mybinder.org"
"""The public BinderHub the launch buttons use."""

COLAB_URL = "https://colab.research.google.com"
"""Google Colab, which opens notebooks straight from a GitHub repository."""

SETUP_TAG = "course-setup"
"""The tag of the first cell that :func:`add_setup_cell` inserts."""

_GITHUB = re.compile(r"^https://github\.com/(?P<owner>[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?)/"
                     r"(?P<name>[A-Za-z0-9._-]+?)(?:\.git)?/?$")
_BRANCH = re.compile(r"^[A-Za-z0-9._/-]+$")


def check_repository_url(url: Any) -> tuple[str, str]:
    """The ``(owner, name)`` of a GitHub repository address ``https://github.com/<owner>/<name>``.

    Binder and Colab open notebooks from public GitHub repositories, so only those are accepted.

    Raises
    ------
    ValueError
        If ``url`` is not such an address; the message shows the expected form.
    """
    match = _GITHUB.match(url) if isinstance(url, str) else None
    if match is None or match["name"] in (".", ".."):
        raise ValueError(f"repository_url must look like https://github.com/<owner>/<name> (Binder and Colab "
                         f"launch from GitHub), got {url!r}")
    return match["owner"], match["name"]


def _check_branch(branch: Any) -> str:
    if not isinstance(branch, str) or not _BRANCH.match(branch) or ".." in branch:
        raise ValueError(f"branch must be a git branch name such as 'main', got {branch!r}")
    return branch


def online_config(config: dict[str, Any], *, repository_url: str, branch: str = "main") -> dict[str, Any]:
    """A copy of the book's configuration (``_config.yml`` as a dict) pointed at a repository.

    Sets ``repository.url`` and ``repository.branch``, the Binder and Colab addresses of
    ``launch_buttons``, and turns on the repository and issues buttons. Everything else is kept.
    """
    owner, name = check_repository_url(repository_url)
    branch = _check_branch(branch)
    online = copy.deepcopy(config)
    online.setdefault("repository", {}).update({"url": f"https://github.com/{owner}/{name}", "branch": branch})
    online.setdefault("launch_buttons", {}).update({"binderhub_url": BINDER_URL, "colab_url": COLAB_URL})
    online.setdefault("html", {}).update({"use_repository_button": True, "use_issues_button": True})
    return online


def setup_cell_source(*, repository_url: str, branch: str = "main") -> str:
    """The source of a chapter's first cell: install the course where it is missing (Colab, Binder).

    It installs ``course_lib`` from ``branch`` of the repository, with the dependencies its
    ``pyproject.toml`` declares (version ranges that Colab's own packages mostly satisfy), and
    only when ``course_lib`` cannot be imported.
    """
    owner, name = check_repository_url(repository_url)
    branch = _check_branch(branch)
    return f'''# On Colab or Binder: install the course library if it is missing (where the course is
# installed, as by `make book`, this cell does nothing).
import importlib.util
import subprocess
import sys

if importlib.util.find_spec("course_lib") is None:
    subprocess.run([sys.executable, "-m", "pip", "install", "--quiet",
                    "course_lib @ git+https://github.com/{owner}/{name}@{branch}"], check=True)'''


def repository_of(config: dict[str, Any]) -> str | None:
    """The repository address a book configuration names, or ``None`` while it names none."""
    return (config.get("repository") or {}).get("url") or None


def add_setup_cell(notebook: nbformat.NotebookNode, *, repository_url: str, branch: str = "main") -> None:
    """Insert the setup cell (:func:`setup_cell_source`) as the first cell of ``notebook``, in place.

    A notebook that already has one (tagged :data:`SETUP_TAG`) has it replaced, not duplicated.
    """
    cell = nbformat.v4.new_code_cell(setup_cell_source(repository_url=repository_url, branch=branch),
                                     metadata={"tags": [SETUP_TAG]})
    cell.id = SETUP_TAG
    notebook.cells = [cell, *(c for c in notebook.cells if SETUP_TAG not in c.get("metadata", {}).get("tags", []))]


__all__ = ["BINDER_URL", "COLAB_URL", "SETUP_TAG", "add_setup_cell", "check_repository_url", "online_config",
           "repository_of", "setup_cell_source"]
