"""Shared fixtures: every test gets its own empty cache folder."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parent.parent


@pytest.fixture(autouse=True)
def _isolated_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Point ``COURSE_CACHE_DIR`` at a fresh temporary folder for each test."""
    cache = tmp_path / "course-cache"
    monkeypatch.setenv("COURSE_CACHE_DIR", str(cache))
    return cache


def shared_data_dir() -> Path | None:
    """The real datasets (``COURSE_DATA_DIR`` or ``../shared/data``), or None when absent."""
    candidates = [os.environ.get("COURSE_DATA_DIR"), REPO.parent / "shared" / "data"]
    for candidate in candidates:
        if candidate and (Path(candidate) / "FashionMNIST" / "raw").is_dir():
            return Path(candidate)
    return None


def keep_one_chapter(src: Path, chapter: str) -> None:
    """Reduce the staged book in ``src`` to its root page and ``chapter``, in place."""
    for path in (src / "chapters").iterdir():
        if path.stem != chapter:
            shutil.rmtree(path) if path.is_dir() else path.unlink()
    (src / "_toc.yml").write_text(yaml.safe_dump({"format": "jb-book", "root": "intro",
                                                  "chapters": [{"file": f"chapters/{chapter}"}]}))


def build_book(src: Path, out: Path) -> Path:
    """``jupyter-book build`` of ``src`` into ``out`` (asserting it succeeds); return the HTML folder."""
    build = subprocess.run([str(Path(sys.executable).parent / "jupyter-book"), "build", str(src), "--path-output",
                            str(out)], capture_output=True, text=True)
    assert build.returncode == 0, build.stdout[-3000:] + build.stderr[-3000:]
    return out / "_build" / "html"
