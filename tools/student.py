"""The classroom edition: student notebooks, autograders and a book without solutions.

    python tools/student.py --profile course --out _build/student [--book _build/book-src] [--execute]

(``make student``) writes, for every chapter:

- ``master/<chapter>.ipynb``: the otter-grader master notebook (:mod:`course_lib.book.student`);
- ``notebooks/<chapter>.ipynb``: the student notebook written by ``otter assign`` (solution code
  replaced by stubs, outputs and interpretations removed, a ``grader.check`` cell after each
  graded exercise);
- ``autograder/<chapter>.zip``: the autograder bundle. ``otter run -a autograder/<chapter>.zip
  submission.ipynb`` grades one submission without Docker and writes ``results.json``;
- ``solutions/<chapter>.ipynb``: the instructor's copy, with solutions and tests.

The notebooks run under ``--profile``. ``--book DIR`` copies the executed book in ``DIR`` (from
``make execute``) to ``<out>/book-src`` without its solutions, ready for ``jupyter-book build``.
``--execute`` runs every student notebook (into ``executed/``) and fails unless its only errors are
``NotImplementedError`` raised in exercise cells.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import nbformat
from nbclient import NotebookClient

from course_lib.book import student
from course_lib.book.optional_data import skip_unavailable

ROOT = Path(__file__).resolve().parent.parent
ANSWER_TAG = "otter_answer_cell"  # the tag otter assign puts on the cells a student edits


def assign(chapter: Path, out: Path, *, profile: str) -> dict[str, Path]:
    """Run ``otter assign`` on the master notebook of ``chapter``; return the paths it wrote."""
    name = chapter.stem
    master = out / "master" / f"{name}.ipynb"
    master.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(student.master_notebook(nbformat.read(chapter, as_version=4), name=name, profile=profile), master)
    paths = {"master": master}
    with tempfile.TemporaryDirectory() as scratch:
        result = Path(scratch) / name
        run = subprocess.run([str(Path(sys.executable).parent / "otter"), "assign", str(master), str(result)],
                             capture_output=True, text=True)
        if run.returncode != 0:
            raise RuntimeError(f"otter assign failed on {master}:\n{run.stdout[-3000:]}{run.stderr[-3000:]}")
        for kind, source in (("notebooks", result / "student" / f"{name}.ipynb"),
                             ("solutions", result / "autograder" / f"{name}.ipynb"),
                             ("autograder", next((result / "autograder").glob(f"{name}-autograder_*.zip")))):
            target = out / kind / (f"{name}.zip" if kind == "autograder" else f"{name}.ipynb")
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(source, target)
            paths[kind] = target
    return paths


def unexpected_errors(nb: nbformat.NotebookNode) -> list[str]:
    """Errors in an executed student notebook other than ``NotImplementedError`` in an exercise cell."""
    found = []
    for i, cell in enumerate(nb.cells):
        for output in cell.get("outputs", []):
            if output.get("output_type") != "error":
                continue
            expected = output["ename"] == "NotImplementedError" and ANSWER_TAG in cell.metadata.get("tags", [])
            if not expected:
                found.append(f"cell {i}: {output['ename']}: {output['evalue']}")
    return found


def execute(notebook: Path, executed: Path, *, timeout: int = 1800) -> list[str]:
    """Run a student notebook where it lies, keeping going past errors, into ``executed``; return its unexpected errors.

    Sections whose data are missing are left out first, as ``make book`` leaves them out.
    """
    nb = nbformat.read(notebook, as_version=4)
    skip_unavailable(nb)
    NotebookClient(nb, timeout=timeout, allow_errors=True, kernel_name="python3",
                   resources={"metadata": {"path": str(notebook.parent)}}).execute()
    executed.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, executed)
    return unexpected_errors(nb)


def book_without_solutions(book: Path, out: Path) -> Path:
    """Copy the executed book in ``book`` to ``out`` with every chapter's solutions removed."""
    shutil.rmtree(out, ignore_errors=True)
    shutil.copytree(book, out)
    for path in (out / "chapters").glob("*.ipynb"):
        nbformat.write(student.without_solutions(nbformat.read(path, as_version=4)), path)
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--profile", default="course", help="the profile the student notebooks run under")
    parser.add_argument("--out", type=Path, default=ROOT / "_build" / "student")
    parser.add_argument("--book", type=Path, help="an executed book (make execute) to copy without solutions")
    parser.add_argument("--execute", action="store_true", help="run every student notebook and check its errors")
    parser.add_argument("chapters", nargs="*", help="chapter names (default: every chapter)")
    args = parser.parse_args(argv)
    chapters = sorted((ROOT / "chapters").glob("[0-9]*.ipynb"))
    if args.chapters:
        unknown = set(args.chapters) - {c.stem for c in chapters}
        if unknown:
            parser.error(f"chapters must be among {[c.stem for c in chapters]}, got {sorted(unknown)}")
        chapters = [c for c in chapters if c.stem in args.chapters]
    failures = []
    for chapter in chapters:
        paths = assign(chapter, args.out, profile=args.profile)
        line = f"{chapter.stem}: {paths['notebooks'].relative_to(args.out)}, {paths['autograder'].relative_to(args.out)}"
        if args.execute:
            errors = execute(paths["notebooks"], args.out / "executed" / paths["notebooks"].name)
            failures += [f"{chapter.stem}, {e}" for e in errors]
            line += f", executed under {args.profile}: {'ok' if not errors else f'{len(errors)} unexpected errors'}"
        print(line, flush=True)
    if args.book:
        print(f"book without solutions: {book_without_solutions(args.book, args.out / 'book-src')}")
    if failures:
        print("Unexpected errors in the student notebooks:\n  " + "\n  ".join(failures), file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
