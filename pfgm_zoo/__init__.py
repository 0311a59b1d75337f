"""Shipped checkpoints: EMA weights (safetensors, the resolved run config in their metadata) and the
manifest that says how each was made and what it scores.

``pfgm-sample checkpoint=zoo:NAME`` resolves NAME here. The manifest (``manifest.json``) is written
only by ``scripts/build_zoo.py``, which trains the entry with the project's own training command,
evaluates it with ``pfgm-eval`` and records the file's sha256; nothing in it is typed by hand.
``specs.json`` holds what to build: each entry's recipe and overrides, and optionally sampler settings
measured better on the trained weights than the ones the weights carry (a refined sampler needs no
retraining); the manifest records them as ``sampler_overrides``, and loading ``zoo:NAME`` applies them.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

__all__ = ["ZOO_DIR", "PREFIX", "is_zoo", "manifest", "specs", "resolve", "sampler_overrides", "describe", "main"]

ZOO_DIR = Path(__file__).resolve().parent
PREFIX = "zoo:"


def is_zoo(spec: Any) -> bool:
    return isinstance(spec, str) and spec.startswith(PREFIX)


def _read(name: str) -> dict[str, Any]:
    p = ZOO_DIR / name
    return json.loads(p.read_text()) if p.exists() else {}


def manifest() -> dict[str, dict[str, Any]]:
    """{entry name: its manifest record} (empty when nothing has been built)."""
    return dict(_read("manifest.json").get("entries", {}))


def specs() -> dict[str, dict[str, Any]]:
    """{entry name: {"recipe": ..., "overrides": [...]}}: what scripts/build_zoo.py builds."""
    return dict(_read("specs.json").get("entries", {}))


def resolve(spec: str) -> Path:
    """``zoo:NAME`` (or NAME) → the entry's weights file. Unknown names list the available ones."""
    name = spec[len(PREFIX) :] if is_zoo(spec) else spec
    entries = manifest()
    if name not in entries:
        have = ", ".join(sorted(entries)) or "none built yet (see scripts/build_zoo.py)"
        raise FileNotFoundError(f"no zoo entry {name!r}; available: {have}")
    path = ZOO_DIR / entries[name]["file"]
    if not path.is_file():
        raise FileNotFoundError(f"zoo entry {name!r} lists {path}, which is missing from this installation")
    return path


def sampler_overrides(spec: str) -> dict[str, Any]:
    """The sampler settings ``zoo:NAME``'s metrics were measured with, beyond those inside its weights file."""
    name = spec[len(PREFIX) :] if is_zoo(spec) else spec
    return dict(manifest().get(name, {}).get("sampler_overrides") or {})


def describe() -> list[str]:
    """One line per entry: name, recipe, D, steps and its headline metrics."""
    lines = []
    for name, e in sorted(manifest().items()):
        metrics = e.get("metrics", {})
        shown = ", ".join(
            f"{k} {v:.3g}" for k, v in metrics.items() if isinstance(v, (int, float)) and k in e.get("headline", [])
        )
        lines.append(f"zoo:{name:<22} recipe={e['recipe']:<16} D={e['D']:<6} steps={e['steps']:<6} {shown}")
    return lines


def main() -> None:
    """pfgm-zoo: list the shipped checkpoints with their metrics."""
    lines = describe()
    print("\n".join(lines) if lines else "no zoo entries built yet (python scripts/build_zoo.py NAME)")
    print("\nuse: pfgm-sample checkpoint=zoo:NAME num_samples=64 out=samples/   (details: pfgm_zoo/manifest.json)")
