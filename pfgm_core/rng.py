"""Global RNG states as plain types, so a training state that holds them loads with ``weights_only=True``."""

from __future__ import annotations

import random
import sys
from typing import Any, Mapping

import torch

__all__ = ["rng_state", "set_rng_state"]


def _to_lists(x: Any) -> Any:
    return [_to_lists(v) for v in x] if isinstance(x, (tuple, list)) else x


def _to_tuples(x: Any) -> Any:
    return tuple(_to_tuples(v) for v in x) if isinstance(x, (tuple, list)) else x


def rng_state(generators: Mapping[str, torch.Generator] | None = None) -> dict[str, Any]:
    """Capture global RNG states as plain types (loadable with ``weights_only=True``).

    Returns ``{"torch": uint8 tensor, "cuda": [uint8 tensor per device] (only when CUDA is available),
    "python": random.getstate() with tuples as lists, "numpy": {...} (only if numpy is already imported),
    "generators": {name: uint8 tensor} (only for the ``generators`` passed)}``.
    numpy is never imported here: it is not a core dependency.
    """
    state: dict[str, Any] = {"torch": torch.get_rng_state(), "python": _to_lists(random.getstate())}
    if torch.cuda.is_available():
        state["cuda"] = list(torch.cuda.get_rng_state_all())
    np = sys.modules.get("numpy")
    if np is not None:
        name, keys, pos, has_gauss, cached = np.random.get_state()
        state["numpy"] = {
            "name": str(name),
            "keys": torch.from_numpy(keys.astype("int64")),  # uint32 values fit exactly in int64
            "pos": int(pos),
            "has_gauss": int(has_gauss),
            "cached_gaussian": float(cached),
        }
    if generators:
        state["generators"] = {k: g.get_state() for k, g in generators.items()}
    return state


def set_rng_state(state: Mapping[str, Any], generators: Mapping[str, torch.Generator] | None = None) -> None:
    """Restore RNG states captured by :func:`rng_state`. Missing entries are left alone; CUDA states
    are restored for as many devices as both the state and this machine have."""
    if "torch" in state:
        torch.set_rng_state(state["torch"].cpu())
    if "python" in state:
        random.setstate(_to_tuples(state["python"]))
    if "cuda" in state and torch.cuda.is_available():
        for i, s in enumerate(state["cuda"][: torch.cuda.device_count()]):
            torch.cuda.set_rng_state(s.cpu(), i)
    if "numpy" in state:
        try:
            import numpy as np
        except ImportError:
            np = None
        if np is not None:
            s = state["numpy"]
            keys = (
                s["keys"].numpy().astype(np.uint32) if isinstance(s["keys"], torch.Tensor) else np.asarray(s["keys"], np.uint32)
            )
            np.random.set_state((s["name"], keys, int(s["pos"]), int(s["has_gauss"]), float(s["cached_gaussian"])))
    if generators and "generators" in state:
        for k, g in generators.items():
            if k in state["generators"]:
                g.set_state(state["generators"][k].cpu())
