"""How often does each claim of the book hold? Re-execute the chapters with other seeds.

    python tools/claims.py --out _build/claims --table claims.csv 0:0 1:1 2:2

Every chapter asserts its qualitative sentences with :func:`course_lib.book.check_claim`. This
tool executes every chapter under the ``course`` profile once per run ``DATA_SEED:SEED_OFFSET``
(the chapters' ``data_seed`` and ``seed_offset`` parameters: other Fashion-MNIST and UTKFace
samples, another synthetic set, other population seeds), with ``COURSE_CLAIMS_RECORD`` set so
that each claim is recorded instead of raising, and writes the table the instructors page
shows: each claim, the runs it was checked in and the runs it held in. ``0:0`` is the
published book; trained populations are cached, so it costs little after ``make book``.

A chapter that fails for another reason than a claim is reported, and appears in the table as
the claim "the chapter executes" not holding in that run; the claims it did not reach count as
not checked in that run. ``make claims`` runs it (``CLAIM_RUNS`` sets the runs); it is not part
of ``make test``: each new run trains every population again (about 20 minutes on 2 cores).
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import sys
from pathlib import Path

from papermill.exceptions import PapermillExecutionError

sys.path.insert(0, str(Path(__file__).resolve().parent))
from execute import execute, leave_out_missing_data, stage  # noqa: E402

FIELDS = ("chapter", "claim", "runs checked", "runs held")
EXECUTES = "the chapter executes"


def parse_run(text: str) -> tuple[int, int]:
    """``"1:2"`` as ``(data_seed, seed_offset)``."""
    try:
        data_seed, seed_offset = (int(part) for part in text.split(":"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"a run must be DATA_SEED:SEED_OFFSET with two integers, got {text!r}")
    if data_seed < 0 or seed_offset < 0:
        raise argparse.ArgumentTypeError(f"seeds must be >= 0, got {text!r}")
    return data_seed, seed_offset


def run(out: Path, data_seed: int, seed_offset: int, chapters: list[str]) -> dict[str, list[dict]]:
    """Execute the book once with these seeds; the claims recorded by each chapter."""
    folder = out / f"data{data_seed}-offset{seed_offset}"
    notebooks = [nb for nb in stage(folder) if not chapters or nb.stem in chapters]
    recorded = {}
    for notebook in notebooks:
        log = folder / f"{notebook.stem}.claims.jsonl"
        log.unlink(missing_ok=True)
        leave_out_missing_data(notebook)
        print(f"[claims {data_seed}:{seed_offset}] executing {notebook.stem} ...", flush=True)
        os.environ["COURSE_CLAIMS_RECORD"] = str(log)
        executed = True
        try:
            seconds = execute(notebook, "course", data_seed=data_seed, seed_offset=seed_offset)
            print(f"[claims {data_seed}:{seed_offset}]   done in {seconds:.0f} s", flush=True)
        except PapermillExecutionError as error:
            print(f"[claims {data_seed}:{seed_offset}]   FAILED ({error.ename}: {error.evalue})", flush=True)
            executed = False
        finally:
            del os.environ["COURSE_CLAIMS_RECORD"]
        lines = log.read_text().splitlines() if log.exists() else []
        recorded[notebook.stem] = [{"claim": EXECUTES, "holds": executed}, *(json.loads(line) for line in lines)]
    return recorded


def table(runs: list[dict[str, list[dict]]]) -> list[dict]:
    """One row per (chapter, claim): in how many runs it was checked, and in how many it held."""
    rows: dict[tuple[str, str], dict] = {}
    for recorded in runs:
        for chapter, claims in recorded.items():
            for claim in claims:
                row = rows.setdefault((chapter, claim["claim"]), {"chapter": chapter, "claim": claim["claim"],
                                                                   "runs checked": 0, "runs held": 0})
                row["runs checked"] += 1
                row["runs held"] += int(claim["holds"])
    return sorted(rows.values(), key=lambda r: (r["chapter"], r["claim"]))


def merge(old: list[dict], new: list[dict], chapters: list[str]) -> list[dict]:
    """The rows of ``new`` for the re-checked ``chapters``, with the rows of ``old`` for every other chapter."""
    kept = [row for row in old if row["chapter"] not in chapters]
    return sorted(kept + new, key=lambda r: (r["chapter"], r["claim"]))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("runs", nargs="+", type=parse_run, help="DATA_SEED:SEED_OFFSET, e.g. 0:0 1:1 2:2")
    parser.add_argument("--out", type=Path, default=Path("_build/claims"), help="folder for the executed copies")
    parser.add_argument("--table", type=Path, default=Path("claims.csv"), help="CSV table to write")
    parser.add_argument("--chapters", nargs="*", default=[],
                        help="only these chapters (names without .ipynb); the table keeps its rows of the others")
    args = parser.parse_args(argv)
    results = [run(args.out.resolve(), data_seed, seed_offset, args.chapters) for data_seed, seed_offset in args.runs]
    rows = table(results)
    if args.chapters and args.table.exists():
        with open(args.table, newline="") as fh:
            rows = merge(list(csv.DictReader(fh)), rows, args.chapters)
    with open(args.table, "w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=FIELDS)
        writer.writeheader()
        writer.writerows(rows)
    weak = [row for row in rows if row["runs held"] < row["runs checked"]]
    print(f"{len(rows)} claims over {len(args.runs)} runs; {len(weak)} held in fewer than all the runs they were checked in:")
    for row in weak:
        print(f"  {row['chapter']}: {row['claim']} ({row['runs held']} of {row['runs checked']})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
