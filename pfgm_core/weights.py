"""EMA weight exports: a safetensors file with the resolved run config embedded in its metadata.

``metadata["format"] = "pfgm-weights-v1"``, ``metadata["config"]`` the run config as JSON, and any
extra entries as JSON strings. safetensors holds tensors and strings only, so loading never runs code.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any, Mapping

import torch

from .atomic import atomic_write
from .errors import CheckpointError, first_line

__all__ = [
    "WEIGHTS_FORMAT",
    "EMA_WEIGHTS_NAME",
    "DIGEST_KEY",
    "export_weights",
    "load_weights",
    "looks_like_safetensors",
    "first_nonfinite",
    "tensors_digest",
]

WEIGHTS_FORMAT = "pfgm-weights-v1"
EMA_WEIGHTS_NAME = "ema.safetensors"
#: metadata key of the sha256 over every tensor (name, dtype, shape, bytes): safetensors itself checks none
DIGEST_KEY = "tensors_sha256"


def tensors_digest(tensors: Mapping[str, torch.Tensor]) -> str:
    """sha256 over the tensors in name order: name, dtype, shape and raw bytes of each."""
    h = hashlib.sha256()
    for name in sorted(tensors):
        t = tensors[name].detach().to("cpu").contiguous()
        h.update(f"{name}|{t.dtype}|{tuple(t.shape)}|".encode())
        h.update(t.view(torch.uint8).numpy().tobytes() if t.numel() else b"")
    return h.hexdigest()


def looks_like_safetensors(path: Path) -> bool:
    """Cheap sniff: 8-byte little-endian header length, then a JSON object."""
    try:
        with open(path, "rb") as f:
            head = f.read(9)
            size = path.stat().st_size
    except OSError:
        return False
    if len(head) < 9:
        return False
    n = int.from_bytes(head[:8], "little")
    return head[8:9] == b"{" and 0 < n <= size - 8


def first_nonfinite(tensors: Mapping[str, Any], prefix: str = "") -> str | None:
    """The name of the first floating tensor (nested mappings searched in order) holding NaN or ±inf, else None."""
    for name, t in tensors.items():
        key = f"{prefix}{name}"
        if isinstance(t, Mapping):
            found = first_nonfinite(t, f"{key}.")
            if found is not None:
                return found
        elif isinstance(t, torch.Tensor) and t.is_floating_point() and not bool(torch.isfinite(t).all()):
            return key
    return None


def nonfinite_problem(name: str) -> str:
    """What a CheckpointError says of a file holding a non-finite tensor."""
    return (
        f"tensor {name} holds NaN or infinite values: the training that wrote it diverged; "
        "use an earlier checkpoint of that run (it keeps the last finite ones) or retrain with a lower trainer.lr"
    )


def export_weights(
    path: str | os.PathLike[str],
    state_dict: Mapping[str, torch.Tensor],
    config: dict[str, Any],
    meta: dict[str, Any] | None = None,
) -> Path:
    """Write a safetensors weights file with the run config embedded, atomically.

    Args:
        path: destination, conventionally ``run_dir/ema.safetensors``.
        state_dict: ``{name: tensor}`` (e.g. ``ema.model.state_dict()``); tensors are copied to CPU as
            contiguous clones, so tensors that share storage (tied weights) are stored separately.
        config: the resolved run config as plain JSON types (stored as ``metadata["config"]``).
        meta: extra JSON-serialisable entries (step, cur_nimg, modality name, ...), each stored as a JSON string.

    Note: non-finite floats (``D: inf``) are written as JSON ``Infinity``, which Python's json reads back.
    Call on rank 0 only.
    """
    from safetensors.torch import save

    path = Path(path)
    tensors: dict[str, torch.Tensor] = {}
    for k, v in state_dict.items():
        if not isinstance(v, torch.Tensor):
            raise TypeError(f"export_weights: {k!r} is {type(v).__name__}, only tensors can be exported")
        tensors[str(k)] = v.detach().to("cpu").contiguous().clone()
    metadata = {"format": WEIGHTS_FORMAT, "config": _json_dumps(config, "config"), DIGEST_KEY: tensors_digest(tensors)}
    for k, v in (meta or {}).items():
        if k in ("format", "config", DIGEST_KEY):
            raise ValueError(f"export_weights: meta key {k!r} is reserved")
        metadata[str(k)] = _json_dumps(v, f"meta[{k!r}]")

    # safetensors serialises to bytes; the shared atomic writer then fsyncs and renames them into place.
    return atomic_write(path, lambda f: f.write(save(tensors, metadata=metadata)))


def _json_dumps(obj: Any, what: str) -> str:
    try:
        return json.dumps(obj, sort_keys=True)
    except (TypeError, ValueError) as e:
        raise TypeError(
            f"export_weights: {what} is not JSON-serialisable ({e}); pass plain dict/list/str/int/float/bool/None "
            "(e.g. OmegaConf.to_container(cfg, resolve=True))"
        ) from None


def load_weights(path: str | os.PathLike[str]) -> tuple[dict[str, torch.Tensor], dict[str, Any], dict[str, Any]]:
    """Load a file written by :func:`export_weights` onto the CPU.

    Returns:
        ``(state_dict, config, meta)``: tensors by name, the embedded config dict, the extra metadata
        (JSON-decoded; a foreign non-JSON string is returned as is).

    Raises:
        CheckpointError: missing file, not a (complete) safetensors file, or no/unknown pfgm metadata.
    """
    from safetensors import safe_open
    from safetensors.torch import load_file

    path = Path(path)
    if not path.exists():
        raise CheckpointError(path, "no such weights file")
    if path.is_dir():
        raise CheckpointError(path, "is a directory, expected a .safetensors file (use resolve_checkpoint for run dirs)")
    try:
        with safe_open(str(path), framework="pt") as f:
            metadata = f.metadata()
    except Exception as e:
        raise CheckpointError(path, f"corrupt or truncated, or not a safetensors file ({first_line(str(e))})") from None
    if not metadata or "format" not in metadata:
        raise CheckpointError(path, f"safetensors file without pfgm metadata (no 'format'; expected {WEIGHTS_FORMAT!r})")
    if metadata["format"] != WEIGHTS_FORMAT:
        raise CheckpointError(path, f"unknown weights format {metadata['format']!r} (expected {WEIGHTS_FORMAT!r})")
    try:
        config = json.loads(metadata.get("config", "{}"))
    except json.JSONDecodeError as e:
        raise CheckpointError(path, f"embedded config is not valid JSON ({e})") from None
    if not isinstance(config, dict):
        raise CheckpointError(path, f"embedded config is a {type(config).__name__}, expected a JSON object")
    meta: dict[str, Any] = {}
    for k, v in metadata.items():
        if k in ("format", "config", DIGEST_KEY):
            continue
        try:
            meta[k] = json.loads(v)
        except json.JSONDecodeError:
            meta[k] = v
    try:
        state_dict = load_file(str(path), device="cpu")
    except Exception as e:
        raise CheckpointError(path, f"corrupt or truncated tensor data ({first_line(str(e))})") from None
    want = metadata.get(DIGEST_KEY)
    if want is not None and tensors_digest(state_dict) != want:  # files from before the digest have none
        raise CheckpointError(path, "tensor data does not match the digest stored at export (the file was altered or damaged)")
    bad = first_nonfinite(state_dict)
    if bad is not None:
        raise CheckpointError(path, nonfinite_problem(bad))
    return state_dict, config, meta
