from __future__ import annotations

import warnings
from pathlib import Path

import pytest
import torch

from course_lib.core import cache


def test_config_key_ignores_key_order_and_tuple_vs_list():
    assert cache.config_key({"a": 1, "b": (1, 2)}) == cache.config_key({"b": [1, 2], "a": 1})
    assert cache.config_key({"a": 1}) != cache.config_key({"a": 2})


def test_config_must_be_json():
    with pytest.raises(TypeError, match="config must hold only JSON values"):
        cache.config_key({"a": object()})
    with pytest.raises(TypeError, match="config must be a mapping, got list"):
        cache.config_key([1, 2])


def test_cached_builds_once_then_loads(tmp_path: Path):
    calls = []

    def build():
        calls.append(1)
        return {"x": torch.arange(5)}

    first = cache.cached("ns", {"k": 1}, build, root=tmp_path)
    second = cache.cached("ns", {"k": 1}, build, root=tmp_path)
    assert len(calls) == 1
    assert torch.equal(first["x"], second["x"])
    assert not list((tmp_path / "ns").glob("*.tmp")), "no temporary file is left behind"


@pytest.mark.parametrize("damage", ["truncate", "flip", "garbage"])
def test_damaged_entry_is_reported_and_rebuilt(tmp_path: Path, damage: str):
    config = {"k": damage}
    cache.cached("ns", config, lambda: torch.ones(100), root=tmp_path)
    path = cache.entry_path("ns", config, root=tmp_path)
    data = bytearray(path.read_bytes())
    if damage == "truncate":
        data = data[: len(data) // 2]
    elif damage == "flip":
        data[-10] ^= 0xFF
    else:
        data = bytearray(b"not a cache file")
    path.write_bytes(bytes(data))
    with pytest.warns(cache.CacheRebuildWarning, match="damaged cache entry, rebuilding it"):
        rebuilt = cache.cached("ns", config, lambda: torch.full((100,), 2.0), root=tmp_path)
    assert torch.equal(rebuilt, torch.full((100,), 2.0))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert torch.equal(cache.cached("ns", config, lambda: None, root=tmp_path), rebuilt)


def test_entry_from_another_configuration_is_refused(tmp_path: Path):
    path = tmp_path / "entry.pt"
    cache.save_entry(path, 1, config={"k": 1})
    assert cache.load_entry(path, config={"k": 1}) == 1
    with pytest.raises(cache.CacheCorruptedError, match="built from a different configuration"):
        cache.load_entry(path, config={"k": 2})


def test_default_root_is_the_cache_dir_setting(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("COURSE_CACHE_DIR", str(tmp_path / "here"))
    assert cache.entry_path("ns", {"k": 1}).parent == (tmp_path / "here" / "ns").resolve()
