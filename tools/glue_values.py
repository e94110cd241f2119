"""The values an executed book glues into its prose, to check that a change preserves them.

    python tools/glue_values.py _build/book-src > before.json     # executed book, old code
    python tools/glue_values.py _build/book-src --diff before.json  # executed book, new code

prints every ``myst_nb.glue`` value of the executed chapters under a folder as JSON
(``{"<chapter>::<name>": "<text>"}``), or, with ``--diff``, the names whose value differs from
an earlier listing (exit status 1 when any does). A behaviour-preserving refactoring executes
the book before and after it (``tools/execute.py``, empty ``COURSE_CACHE_DIR`` both times) and
diffs the two listings.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import nbformat


def glue_values(book: Path) -> dict[str, str]:
    """``{"<chapter>::<name>": text}`` of every glued value of the executed notebooks in ``book/chapters``."""
    values = {}
    for path in sorted((book / "chapters").glob("*.ipynb")):
        for cell in nbformat.read(path, as_version=4).cells:
            for output in cell.get("outputs", []):
                scrap = output.get("metadata", {}).get("scrapbook")
                if scrap:  # papermill stores glued data under its own prefix, e.g. application/papermill.record/
                    data, prefix = output.get("data", {}), scrap.get("mime_prefix", "")
                    text = data.get(f"{prefix}text/markdown", data.get(f"{prefix}text/plain"))
                    if text is None:
                        raise ValueError(f"{path.name}: glued value {scrap['name']!r} has no text "
                                         f"(data keys {sorted(data)})")
                    values[f"{path.stem}::{scrap['name']}"] = text
    return values


def differences(before: dict[str, str], after: dict[str, str]) -> list[str]:
    """One line per name that is missing on one side or glues another value."""
    lines = [f"only before: {name}" for name in sorted(before.keys() - after.keys())]
    lines += [f"only after: {name}" for name in sorted(after.keys() - before.keys())]
    lines += [f"{name}: {before[name]!r} -> {after[name]!r}" for name in sorted(before.keys() & after.keys())
              if before[name] != after[name]]
    return lines


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("book", type=Path, help="folder of an executed book (e.g. _build/book-src)")
    parser.add_argument("--diff", type=Path, help="an earlier listing to compare with")
    args = parser.parse_args(argv)
    values = glue_values(args.book)
    if args.diff is None:
        json.dump(values, sys.stdout, indent=1, sort_keys=True)
        print()
        return 0
    lines = differences(json.loads(args.diff.read_text()), values)
    print("\n".join(lines) if lines else f"all {len(values)} glued values are the same")
    return 1 if lines else 0


if __name__ == "__main__":
    sys.exit(main())
