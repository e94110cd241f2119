"""Stage the book sources and execute every chapter notebook with papermill.

    python tools/execute.py --profile course --out _build/book-src

copies the book (``_config.yml``, ``_toc.yml``, ``references.bib``, ``intro.md``,
``timings.csv`` and ``chapters/``) into ``--out`` and executes each notebook there in place, with
``profile`` injected into its ``parameters`` cell. The sources in ``chapters/`` are never
modified. Sections that need a dataset missing from ``$COURSE_DATA_DIR`` (cells tagged
``requires-<dataset>``) are replaced by a note before execution
(:mod:`course_lib.book.optional_data`); the run ends with a summary of what was left out, also
written to ``<out>/skipped.txt``. With ``--record timings.csv`` the seconds each chapter took
replace its rows in the table the introduction shows (``make timings``). Positional arguments restrict the
run to some chapters (e.g. ``01_top1_hides_what_pruning_breaks``).
"""

from __future__ import annotations

import argparse
import csv
import os
import platform
import shutil
import sys
import time
from datetime import date
from pathlib import Path

import nbformat
import papermill as pm

from course_lib.book.optional_data import SkippedSection, skip_unavailable

ROOT = Path(__file__).resolve().parent.parent
BOOK_FILES = ("_config.yml", "_toc.yml", "references.bib", "intro.md", "timings.csv", "claims.csv")
FIELDS = ("chapter", "profile", "seconds", "machine", "date")
BOOK_DIRS = ("chapters",)


def stage(out: Path) -> list[Path]:
    """Copy the book sources into ``out`` (replacing it); return the staged notebooks."""
    if out.exists():
        shutil.rmtree(out)
    out.mkdir(parents=True)
    for name in BOOK_FILES:
        shutil.copy2(ROOT / name, out / name)
    for name in BOOK_DIRS:
        shutil.copytree(ROOT / name, out / name, ignore=shutil.ignore_patterns(".ipynb_checkpoints", "__pycache__"))
    return sorted(out.glob("chapters/**/*.ipynb"))


def leave_out_missing_data(notebook: Path) -> list[SkippedSection]:
    """Replace the sections of ``notebook`` whose data are missing by notes, in place; return them."""
    nb = nbformat.read(notebook, as_version=4)
    skipped = skip_unavailable(nb)
    if skipped:
        nbformat.write(nb, notebook)
    return skipped


def summary(skipped: dict[str, list[SkippedSection]]) -> str:
    """What was left out of the executed book and why, one line per section."""
    lines = [f"  {name}: {s.section or 'part of the page'} ({s.cells} cells) needs {s.dataset}"
             for name, sections in skipped.items() for s in sections]
    if not lines:
        return "Nothing was left out: every dataset the chapters use was found.\n"
    missing = sorted({s.dataset for sections in skipped.values() for s in sections})
    return (f"Left out because {', '.join(missing)} {'is' if len(missing) == 1 else 'are'} not in the data folder "
            f"(each page shows a note saying how to get the data):\n" + "\n".join(lines) + "\n")


def execute(notebook: Path, profile: str, **parameters: int) -> float:
    """Execute ``notebook`` in place under ``profile``; return the wall time in seconds.

    ``parameters`` (``data_seed``, ``seed_offset``) are injected with the profile. The page
    then shows papermill's injected cell (the parameters actually used) and hides the source's
    default ``parameters`` cell.
    """
    start = time.perf_counter()
    pm.execute_notebook(notebook, notebook, parameters={"profile": profile, **parameters}, cwd=notebook.parent,
                        kernel_name="python3", progress_bar=False, log_output=False)
    seconds = time.perf_counter() - start
    nb = nbformat.read(notebook, as_version=4)
    for cell in nb.cells:
        tags = cell.metadata.setdefault("tags", [])
        if "parameters" in tags and "remove-cell" not in tags:
            tags.append("remove-cell")
    nbformat.write(nb, notebook)
    return seconds


def cpu_model() -> str:
    """The CPU's model name as the kernel reports it (``/proc/cpuinfo``), else the architecture."""
    try:
        with open("/proc/cpuinfo") as fh:
            for line in fh:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return f"{platform.machine()} CPU"


def machine() -> str:
    """A short description of this machine: CPU model and cores, and the GPU if torch sees one.

    Machines of the same size differ in speed (the same cold book took 1.4 times longer on one
    2-core machine than on another), so the model name goes into every row of ``timings.csv``.
    """
    import torch

    gpu = f", {torch.cuda.get_device_name()}" if torch.cuda.is_available() else ""
    return f"{cpu_model()}, {os.cpu_count()} cores{gpu}"


def record(path: Path, rows: list[dict]) -> None:
    """Replace the rows of the (chapter, profile) pairs in ``rows`` in the CSV table at ``path``."""
    measured = {(row["chapter"], row["profile"]) for row in rows}
    kept = []
    if path.exists():
        with open(path, newline="") as fh:
            kept = [row for row in csv.DictReader(fh) if (row["chapter"], row["profile"]) not in measured]
    order = {"smoke": 0, "course": 1, "full": 2}
    merged = sorted(kept + rows, key=lambda r: (r["chapter"], order[r["profile"]]))
    with open(path, "w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=FIELDS)
        writer.writeheader()
        writer.writerows(merged)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--profile", choices=("smoke", "course", "full"), required=True)
    parser.add_argument("--out", type=Path, required=True, help="folder for the staged, executed book")
    parser.add_argument("--record", type=Path, help="CSV table of timings to update with this run")
    parser.add_argument("chapters", nargs="*", help="execute only these chapters (notebook names without .ipynb)")
    args = parser.parse_args(argv)
    notebooks = stage(args.out.resolve())
    if args.chapters:
        unknown = set(args.chapters) - {nb.stem for nb in notebooks}
        if unknown:
            parser.error(f"unknown chapters: {sorted(unknown)}; choose from {[nb.stem for nb in notebooks]}")
        notebooks = [nb for nb in notebooks if nb.stem in args.chapters]
    rows, today, where = [], date.today().isoformat(), machine()
    skipped = {}
    for nb in notebooks:
        print(f"[{args.profile}] executing {nb.relative_to(args.out.resolve())} ...", flush=True)
        left_out = leave_out_missing_data(nb)
        if left_out:
            skipped[nb.stem] = left_out
        seconds = execute(nb, args.profile)
        print(f"[{args.profile}]   done in {seconds:.1f} s", flush=True)
        rows.append({"chapter": nb.stem, "profile": args.profile, "seconds": f"{seconds:.0f}",
                     "machine": where, "date": today})
    if args.record:
        record(args.record, rows)
    report = summary(skipped)
    (args.out / "skipped.txt").write_text(report)
    print(report, end="", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
