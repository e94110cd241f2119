"""Shared fixtures: every test gets its own empty cache folder."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

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
