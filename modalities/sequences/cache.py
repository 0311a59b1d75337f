"""Generated data sets cached as JSON under the toolkit's cache folder ($PFGM_CACHE or ~/.cache/pfgm).

The file name hashes the generator's name and every parameter that changes its output (seed, size,
tool version), so a changed recipe never reads a stale set; writes are atomic, so an interrupted
run never leaves half a file. An unreadable file is rebuilt.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any, Callable

from pfgm.modalities.shared.paths import cache_dir
from pfgm.core.atomic import atomic_write_text

__all__ = ["cached_json", "json_cache_path"]


def json_cache_path(name: str, key: dict[str, Any]) -> Path:
    digest = hashlib.sha256(json.dumps([name, key], sort_keys=True, default=str).encode()).hexdigest()[:12]
    return cache_dir() / f"{name}_{digest}.json"


def cached_json(name: str, key: dict[str, Any], build: Callable[[], Any]) -> Any:
    """build()'s JSON-able result, computed once per (name, key) and read back afterwards."""
    path = json_cache_path(name, key)
    if path.exists():
        try:
            return json.loads(path.read_text(encoding="utf-8"))["data"]
        except (OSError, ValueError, KeyError):
            pass  # corrupt or foreign: rebuild
    data = build()
    atomic_write_text(path, json.dumps({"name": name, "key": key, "data": data}))
    return data
