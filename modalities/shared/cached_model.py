"""Scorer networks the toolkit trains for itself (digit classifiers for FID-style metrics), trained
once and cached.

The cache file holds a state_dict and plain numbers only and is read with
``torch.load(weights_only=True)``: a cache file can never run code. Its name hashes the network's
name and ``key`` (version, architecture, training split), so a changed recipe never loads a stale net.
An unreadable or foreign file is rebuilt rather than failing an evaluation.
"""

from __future__ import annotations

import hashlib
import json
import time
from pathlib import Path
from typing import Any, Callable

import torch
from torch import nn

from pfgm.core.atomic import atomic_torch_save

from .paths import cache_dir

__all__ = ["cached_model", "cache_path"]


def cache_path(name: str, key: dict[str, Any], root: str | Path | None = None) -> Path:
    digest = hashlib.sha256(json.dumps([name, key], sort_keys=True, default=str).encode()).hexdigest()[:12]
    return (Path(root).expanduser() if root is not None else cache_dir()) / f"{name}_{digest}.pt"


def cached_model(
    name: str,
    key: dict[str, Any],
    build: Callable[[], nn.Module],
    train: Callable[[nn.Module], dict[str, Any]],
    cache_dir: str | Path | None = None,
    retrain: bool = False,
    verbose: bool = False,
) -> tuple[nn.Module, dict[str, Any]]:
    """(model in eval mode, info) for the net ``build()`` makes and ``train(model)`` trains.

    ``train`` returns plain facts to keep beside the weights (e.g. ``{"test_accuracy": 0.98}``);
    ``info`` adds ``train_seconds`` and the cache path.
    """
    path = cache_path(name, key, cache_dir)
    if path.exists() and not retrain:
        try:
            blob = torch.load(path, map_location="cpu", weights_only=True)
            model = build()
            model.load_state_dict(blob["state_dict"])
            return model.eval(), {**blob["info"], "cache": str(path)}
        except Exception as e:  # corrupt or foreign: rebuild it
            if verbose:
                print(f"pfgm: ignoring unreadable cache {path} ({type(e).__name__}: {e})")
    t0 = time.perf_counter()
    model = build()
    info = dict(train(model) or {})
    info["train_seconds"] = round(time.perf_counter() - t0, 3)
    model.eval()
    atomic_torch_save({"state_dict": model.state_dict(), "info": info, "name": name}, path)
    if verbose:
        print(f"pfgm: trained {name} in {info['train_seconds']:.1f} s → {path}")
    return model, {**info, "cache": str(path)}
