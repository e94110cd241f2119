"""A small on-disk cache that is safe to share between chapters.

Every entry is keyed by the SHA-256 of its complete configuration (a JSON-able mapping), written
atomically (a temporary file in the same folder, flushed, then :func:`os.replace`) and verified
on load: the file starts with a magic line and the SHA-256 of its payload, and the payload
repeats the configuration it was built from. A truncated, damaged or mismatched entry is
reported with a :class:`CacheRebuildWarning` and rebuilt, never trusted.

Entries are written with :func:`torch.save` and read back with ``weights_only=False``: only
load cache folders you wrote yourself.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import tempfile
import warnings
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, TypeVar

import torch

from .config import cache_dir

T = TypeVar("T")

MAGIC = b"COURSE-CACHE v1\n"
_DIGEST_LEN = 64  # hex characters of a SHA-256


class CacheCorruptedError(OSError):
    """A cache entry exists but fails verification (truncated, damaged or mismatched)."""


class CacheRebuildWarning(UserWarning):
    """A damaged cache entry was found and is being rebuilt."""


def canonical_config(config: Mapping[str, Any]) -> dict[str, Any]:
    """Return ``config`` as plain JSON types (tuples become lists), keys sorted.

    Raises
    ------
    TypeError
        If ``config`` holds a value JSON cannot represent.
    """
    if not isinstance(config, Mapping):
        raise TypeError(f"config must be a mapping, got {type(config).__name__}")
    try:
        return json.loads(json.dumps(config, sort_keys=True, allow_nan=False))
    except (TypeError, ValueError) as err:
        raise TypeError(f"config must hold only JSON values (str, int, float, bool, None, lists, dicts): {err}") from err


def config_key(config: Mapping[str, Any]) -> str:
    """SHA-256 (hex, first 24 characters) of the canonical JSON of ``config``."""
    text = json.dumps(canonical_config(config), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()[:24]


def entry_path(namespace: str, config: Mapping[str, Any], *, root: Path | None = None) -> Path:
    """Path of the entry for ``config`` in ``namespace`` under ``root`` (default: ``cache_dir()``)."""
    return (root or cache_dir()) / namespace / f"{config_key(config)}.pt"


def save_entry(path: Path, obj: Any, *, config: Mapping[str, Any]) -> None:
    """Write ``obj`` and its ``config`` to ``path`` atomically, with a checksum."""
    buffer = io.BytesIO()
    torch.save({"config": canonical_config(config), "payload": obj}, buffer)
    payload = buffer.getvalue()
    digest = hashlib.sha256(payload).hexdigest().encode()
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(MAGIC + digest + b"\n" + payload)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def load_entry(path: Path, *, config: Mapping[str, Any] | None = None) -> Any:
    """Read and verify the entry at ``path``; return its payload.

    Raises
    ------
    FileNotFoundError
        If there is no entry at ``path``.
    CacheCorruptedError
        If the file is truncated, its checksum does not match, or it was built from another
        configuration than ``config``.
    """
    data = Path(path).read_bytes()
    header_len = len(MAGIC) + _DIGEST_LEN + 1
    if len(data) < header_len or not data.startswith(MAGIC):
        raise CacheCorruptedError(f"{path}: not a course cache file or truncated header")
    digest, payload = data[len(MAGIC) : header_len - 1], data[header_len:]
    if hashlib.sha256(payload).hexdigest().encode() != digest:
        raise CacheCorruptedError(f"{path}: checksum mismatch (truncated or damaged)")
    try:
        entry = torch.load(io.BytesIO(payload), weights_only=False)
    except Exception as err:  # a payload with a valid checksum that cannot be read
        raise CacheCorruptedError(f"{path}: unreadable payload ({err})") from err
    if config is not None and entry.get("config") != canonical_config(config):
        raise CacheCorruptedError(f"{path}: built from a different configuration")
    return entry["payload"]


def load_cached(namespace: str, config: Mapping[str, Any], *, root: Path | None = None) -> Any | None:
    """The stored entry of ``config``, or ``None`` when there is none or it is damaged.

    A damaged entry is reported with a :class:`CacheRebuildWarning`; the caller rebuilds it.
    """
    path = entry_path(namespace, config, root=root)
    if not path.exists():
        return None
    try:
        return load_entry(path, config=config)
    except CacheCorruptedError as err:
        warnings.warn(f"damaged cache entry, rebuilding it: {err}", CacheRebuildWarning, stacklevel=3)
        return None


def cached(namespace: str, config: Mapping[str, Any], build: Callable[[], T], *, root: Path | None = None) -> T:
    """Return the cached result of ``build()`` for ``config``, building and storing it if needed.

    A damaged entry is reported with a :class:`CacheRebuildWarning`, then rebuilt and replaced.

    Returns
    -------
    object
        What ``build()`` returned, now or when the entry was stored.
    """
    stored = load_cached(namespace, config, root=root)
    if stored is not None:
        return stored
    obj = build()
    save_entry(entry_path(namespace, config, root=root), obj, config=config)
    return obj
