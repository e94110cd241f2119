"""Point the book at its repository: launch buttons on every chapter, a setup cell for Colab.

    python tools/online.py --repository https://github.com/<owner>/<name> [--branch main]

(``make online REPOSITORY_URL=...``) writes the repository into ``_config.yml`` (comments and
layout kept) and puts the setup cell first in every chapter notebook of ``chapters/``
(:mod:`course_lib.book.online`); running it again replaces, never duplicates. Commit both: the
launch buttons open the notebooks as committed.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import nbformat
from ruamel.yaml import YAML

from course_lib.book import online

ROOT = Path(__file__).resolve().parent.parent


def point_at(root: Path, *, repository: str, branch: str = "main") -> list[Path]:
    """Write the online settings into the book at ``root``; return the notebooks given a setup cell."""
    yaml = YAML()
    yaml.preserve_quotes = True
    yaml.indent(mapping=2, sequence=4, offset=2)
    config_path = root / "_config.yml"
    config = yaml.load(config_path.read_text())
    updated = online.online_config(config, repository_url=repository, branch=branch)
    with open(config_path, "w") as fh:
        yaml.dump(updated, fh)
    notebooks = sorted((root / "chapters").glob("*.ipynb"))
    for path in notebooks:
        nb = nbformat.read(path, as_version=4)
        online.add_setup_cell(nb, repository_url=repository, branch=branch)
        nbformat.write(nb, path)
    return notebooks


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repository", required=True, help="https://github.com/<owner>/<name>")
    parser.add_argument("--branch", default="main", help="the branch the launch buttons open (default: main)")
    args = parser.parse_args(argv)
    try:
        notebooks = point_at(ROOT, repository=args.repository, branch=args.branch)
    except ValueError as error:
        parser.error(str(error))
    print(f"_config.yml points at {args.repository} ({args.branch}); setup cell in {len(notebooks)} notebooks. "
          "Commit both.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
