"""Fetch and verify the course's datasets: what ``make data`` runs.

    python tools/data.py [--data-dir DIR] [--cifar10] [--no-download]

downloads Fashion-MNIST (and CIFAR-10 with ``--cifar10``) into the data folder when missing,
verifies every dataset that is there, and says where to get the ones that must be downloaded
by hand (UTKFace, CelebA). One line per dataset, then a summary. The exit status is 1 only when
some dataset on disk is damaged; missing data, or a download that failed offline, is not an
error. See :mod:`course_lib.data.fetch`.
"""

from __future__ import annotations

import argparse
import sys
from collections import Counter
from collections.abc import Sequence
from pathlib import Path

from course_lib.core.config import DATA_DIR_ENV, data_dir
from course_lib.data.fetch import STATES, prepare
from course_lib.data.images import resolve_root


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command with ``argv`` (default: the command line); return the exit status."""
    parser = argparse.ArgumentParser(description="Fetch and verify the course's datasets.")
    parser.add_argument("--data-dir", type=Path, default=None,
                        help=f"data folder (default: ${DATA_DIR_ENV}, now {data_dir()})")
    parser.add_argument("--cifar10", action="store_true", help="also fetch and verify CIFAR-10 (170 MB)")
    parser.add_argument("--no-download", dest="download", action="store_false",
                        help="verify only; download nothing")
    args = parser.parse_args(argv)
    root = resolve_root(args.data_dir)
    statuses = prepare(root, cifar10=args.cifar10, download=args.download)
    for status in statuses:
        print(f"{status.dataset:<13} {status.state:<7}  {status.message}")
    counts = Counter(status.state for status in statuses)
    print(f"{root}: " + ", ".join(f"{counts[state]} {state}" for state in STATES)
          + ("; replace the damaged files named above" if counts["damaged"] else ""))
    return 1 if counts["damaged"] else 0


if __name__ == "__main__":
    sys.exit(main())
