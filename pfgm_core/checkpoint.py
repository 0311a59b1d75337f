"""Checkpoints that are safe to load: atomic writes, resumable training state, EMA weight exports.

Two kinds of file, both of which can be loaded without running code from them:

* Training state ``run_dir/checkpoints/state-{step:09d}.pt``: a ``torch.save`` of plain types only
  (tensors, dict/list/tuple/str/int/float/bool/None), read back with ``torch.load(weights_only=True)``.
  Written atomically (temp file in the same directory, fsync, ``os.replace``) so that a crash or a
  ``kill -9`` mid-write leaves either the previous file or the new one, never a partial checkpoint.
* Weights ``run_dir/ema.safetensors``: a safetensors file whose metadata carries
  ``format = "pfgm-weights-v1"``, the resolved run config (JSON) and any extra metadata (JSON).

Every failure to read a file raises :class:`CheckpointError` with one line naming the path and the problem.
"""

from __future__ import annotations

import json
import os
import pickle
import pickletools
import random
import re
import secrets
import sys
import warnings
import zipfile
from collections import OrderedDict
from pathlib import Path
from typing import Any, Callable, Mapping

import torch

__all__ = [
    "CheckpointError",
    "STATE_FORMAT",
    "WEIGHTS_FORMAT",
    "EMA_WEIGHTS_NAME",
    "CHECKPOINT_DIR",
    "atomic_write_bytes",
    "atomic_torch_save",
    "check_plain",
    "save_state",
    "list_states",
    "latest_state_path",
    "load_state",
    "rng_state",
    "set_rng_state",
    "export_weights",
    "load_weights",
    "resolve_checkpoint",
]

STATE_FORMAT = "pfgm-state-v1"
WEIGHTS_FORMAT = "pfgm-weights-v1"
EMA_WEIGHTS_NAME = "ema.safetensors"
CHECKPOINT_DIR = "checkpoints"

# Finished checkpoints only; temp files are ".state-....pt.<random>.tmp" and never match.
_STATE_RE = re.compile(r"^state-(\d{9,})\.pt$")
_TMP_SUFFIX = ".tmp"


class CheckpointError(Exception):
    """A checkpoint or weights file is missing, corrupt, foreign or unsafe. The message names the path."""

    def __init__(self, path: str | os.PathLike[str], problem: str) -> None:
        self.path = Path(path)
        self.problem = problem
        super().__init__(f"{self.path}: {problem}")


# --------------------------------------------------------------------------------------------------
# Atomic writes
# --------------------------------------------------------------------------------------------------


def _fsync_dir(directory: Path) -> None:
    """Persist a rename: on POSIX the directory entry itself must be synced. Best effort elsewhere."""
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def _make_temp(path: Path) -> tuple[int, str]:
    """Create an exclusive temp file next to ``path``: ``.<name>.<random>.tmp``.

    Not ``tempfile.mkstemp``: that creates mode 0600, and the rename would then leave checkpoints unreadable
    to the group; ``os.open(..., 0o666)`` lets the umask decide, like a plain ``open``.
    """
    while True:
        tmp = path.parent / f".{path.name}.{secrets.token_hex(6)}{_TMP_SUFFIX}"
        try:
            return os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0), 0o666), str(tmp)
        except FileExistsError:
            continue


def _atomic_write(path: str | os.PathLike[str], write: Callable[[Any], None]) -> Path:
    """Call ``write(fileobj)`` on a temp file next to ``path``, fsync it and rename it over ``path``.

    The temp file lives in the same directory so that ``os.replace`` is an atomic rename on one file
    system; its name starts with "." and ends with ".tmp" so no reader mistakes it for a checkpoint.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = _make_temp(path)
    try:
        with os.fdopen(fd, "wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        # Also on KeyboardInterrupt: leave the old file untouched and no temp litter behind.
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise
    _fsync_dir(path.parent)
    return path


def atomic_write_bytes(path: str | os.PathLike[str], data: bytes) -> Path:
    """Write ``data`` to ``path`` atomically: readers see the old content or all of the new, never a part."""
    return _atomic_write(path, lambda f: f.write(data))


def atomic_torch_save(obj: Any, path: str | os.PathLike[str]) -> Path:
    """``torch.save(obj, path)`` atomically (temp file in the same directory, fsync, ``os.replace``)."""
    return _atomic_write(path, lambda f: torch.save(obj, f))


# --------------------------------------------------------------------------------------------------
# Plain-type check (what torch.load(weights_only=True) can read back)
# --------------------------------------------------------------------------------------------------

_PLAIN_SCALARS = (str, bytes, int, float, complex, bool, type(None), torch.dtype, torch.device, torch.Size)


def check_plain(obj: Any, where: str = "state") -> None:
    """Raise ``TypeError`` naming the offending key if ``obj`` holds anything but plain types.

    Allowed: tensors, dict/OrderedDict with plain keys, list, tuple, str, bytes, int, float, bool, None,
    torch.dtype/device/Size. This is checked at save time so that a non-loadable object (an OmegaConf
    config, a numpy scalar, a module) fails when it is written, not hours later when a resume needs it.
    """
    if isinstance(obj, torch.Tensor):
        if type(obj) not in (torch.Tensor, torch.nn.Parameter):
            raise TypeError(f"{where}: tensor subclass {type(obj).__qualname__} is not loadable with weights_only=True")
        return
    if isinstance(obj, _PLAIN_SCALARS):
        # Exact types only: a subclass (an IntEnum, numpy.float64 is a float subclass) would be pickled by class.
        if type(obj) not in _PLAIN_SCALARS:
            raise TypeError(
                f"{where}: {type(obj).__module__}.{type(obj).__qualname__} is a subclass of a plain type; "
                "convert it (e.g. float(x), int(x), str(x)) before saving"
            )
        return
    if type(obj) in (dict, OrderedDict):
        for k, v in obj.items():
            check_plain(k, f"{where} key {k!r}")
            check_plain(v, f"{where}[{k!r}]")
        return
    if type(obj) in (list, tuple):
        for i, v in enumerate(obj):
            check_plain(v, f"{where}[{i}]")
        return
    raise TypeError(
        f"{where}: {type(obj).__module__}.{type(obj).__qualname__} is not a plain type; checkpoints may hold only "
        "tensors and dict/list/tuple/str/int/float/bool/None (convert configs with OmegaConf.to_container, "
        "numpy values with .tolist()/torch.from_numpy)"
    )


# --------------------------------------------------------------------------------------------------
# Training state
# --------------------------------------------------------------------------------------------------


def _state_step(path: Path) -> int | None:
    m = _STATE_RE.match(path.name)
    return int(m.group(1)) if m else None


def list_states(run_dir: str | os.PathLike[str]) -> list[Path]:
    """Finished state files of a run, oldest first (by step). Temp files are ignored.

    ``run_dir`` may also be the ``checkpoints`` directory itself.
    """
    run_dir = Path(run_dir)
    ckpt_dir = run_dir / CHECKPOINT_DIR
    if not ckpt_dir.is_dir():
        if run_dir.name == CHECKPOINT_DIR and run_dir.is_dir():
            ckpt_dir = run_dir
        else:
            return []
    found = [(s, p) for p in ckpt_dir.iterdir() if (s := _state_step(p)) is not None and p.is_file()]
    return [p for _, p in sorted(found)]


def latest_state_path(run_dir: str | os.PathLike[str]) -> Path | None:
    """The state file with the highest step in ``run_dir/checkpoints``, or None when there is none."""
    states = list_states(run_dir)
    return states[-1] if states else None


def save_state(run_dir: str | os.PathLike[str], step: int, state: dict[str, Any], keep_last: int | None = 3) -> Path:
    """Write ``run_dir/checkpoints/state-{step:09d}.pt`` atomically and prune older states.

    Args:
        run_dir: the run directory (``checkpoints/`` is created inside it).
        step: training step; names the file and is stored as ``state["step"]`` (which, if given, must agree).
        state: plain types only (see :func:`check_plain`), e.g. ``{"model": ..., "ema": ..., "optimizer": ...,
            "cur_nimg": int, "rng": rng_state(), "config": dict}``. Not modified; a shallow copy gets
            ``"format": "pfgm-state-v1"``.
        keep_last: keep this many newest states (older ones are deleted); None or <= 0 keeps all.

    Call on rank 0 only.
    """
    if step < 0:
        raise ValueError(f"save_state: step must be >= 0, got {step}")
    run_dir = Path(run_dir)
    ckpt_dir = run_dir / CHECKPOINT_DIR
    ckpt_dir.mkdir(parents=True, exist_ok=True)
    payload = dict(state)
    payload["format"] = STATE_FORMAT
    if "step" in payload and payload["step"] != step:
        raise ValueError(f"save_state: state['step']={payload['step']!r} disagrees with step={step}")
    payload["step"] = int(step)
    check_plain(payload)

    # Temp files left by a killed writer are garbage: only one process (rank 0) writes a run dir.
    for p in ckpt_dir.glob(".state-*" + _TMP_SUFFIX):
        try:
            p.unlink()
        except OSError:
            pass

    path = atomic_torch_save(payload, ckpt_dir / f"state-{int(step):09d}.pt")

    if keep_last is not None and keep_last > 0:
        for old in list_states(run_dir)[:-keep_last]:
            if old != path:
                try:
                    old.unlink()
                except FileNotFoundError:
                    pass
    return path


_CODE_OPCODES = {"GLOBAL", "STACK_GLOBAL", "INST", "OBJ", "REDUCE", "NEWOBJ", "NEWOBJ_EX", "BUILD", "EXT1", "EXT2", "EXT4"}


def _pickle_imports_code(data: bytes) -> bool | None:
    """Statically scan a pickle stream (nothing is executed). True if it imports/calls objects,
    False if it is a well-formed pickle that does not, None if it does not parse as a pickle."""
    try:
        ops = {op.name for op, _, _ in pickletools.genops(data)}
    except Exception:
        return None
    return bool(ops & _CODE_OPCODES)


def _classify_refusal(path: Path) -> str | None:
    """Tell "would run code" from "corrupt" after weights_only refused a file, without unpickling it.

    For torch zip checkpoints torch's message already names the disallowed GLOBAL. A plain pickle is
    reported as "Unsupported operand 149" (protocol 4's FRAME opcode) before the malicious GLOBAL is even
    reached, exactly like random bytes are, so scan the stream statically: only a well-formed pickle that
    imports or calls objects counts as "code".
    """
    try:
        if zipfile.is_zipfile(path):
            return None
        data = path.read_bytes()
    except Exception:
        return None
    return "code" if _pickle_imports_code(data) else None


def load_state(path: str | os.PathLike[str]) -> dict[str, Any]:
    """Load a training state written by :func:`save_state` (on CPU, ``weights_only=True``).

    Raises:
        CheckpointError: missing file, corrupt/truncated file, a pickle that would execute code
            (refused, never run), or a foreign file (no or unknown ``"format"``).
    """
    path = Path(path)
    if not path.exists():
        raise CheckpointError(path, "no such checkpoint file")
    if path.is_dir():
        raise CheckpointError(path, "is a directory, expected a state-*.pt file (use resolve_checkpoint for run dirs)")
    if path.stat().st_size == 0:
        raise CheckpointError(path, "checkpoint file is empty (corrupt or truncated)")
    if _looks_like_safetensors(path):
        raise CheckpointError(path, "is a safetensors weights file, not a training state (use load_weights)")
    try:
        with warnings.catch_warnings():
            # torch warns about pickle protocols it did not write itself; the error below says more.
            warnings.filterwarnings("ignore", message="Detected pickle protocol")
            obj = torch.load(path, map_location="cpu", weights_only=True)
    except (pickle.UnpicklingError, RuntimeError) as e:
        msg = str(e)
        if "GLOBAL" in msg or _classify_refusal(path) == "code":
            raise CheckpointError(
                path,
                "refused to load: the file contains pickled objects that would execute code when loaded "
                "(weights_only=True rejected it); it was not written by pfgm's save_state",
            ) from None
        raise CheckpointError(path, f"corrupt or truncated checkpoint, or not a torch file ({_first_line(msg)})") from None
    except Exception as e:  # EOFError, zipfile errors, OSError, ...
        raise CheckpointError(path, f"corrupt or truncated checkpoint ({type(e).__name__}: {_first_line(str(e))})") from None
    if not isinstance(obj, dict) or "format" not in obj:
        raise CheckpointError(path, f"not a pfgm training state (no 'format' key; expected {STATE_FORMAT!r})")
    if obj["format"] != STATE_FORMAT:
        raise CheckpointError(path, f"unknown checkpoint format {obj['format']!r} (expected {STATE_FORMAT!r})")
    return obj


def _first_line(msg: str, limit: int = 200) -> str:
    line = next((ln.strip() for ln in msg.splitlines() if ln.strip()), "")
    return line[:limit] if line else "no details"


# --------------------------------------------------------------------------------------------------
# RNG state as plain types
# --------------------------------------------------------------------------------------------------


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
            keys = s["keys"].numpy().astype(np.uint32) if isinstance(s["keys"], torch.Tensor) else np.asarray(s["keys"], np.uint32)
            np.random.set_state((s["name"], keys, int(s["pos"]), int(s["has_gauss"]), float(s["cached_gaussian"])))
    if generators and "generators" in state:
        for k, g in generators.items():
            if k in state["generators"]:
                g.set_state(state["generators"][k].cpu())


# --------------------------------------------------------------------------------------------------
# Weights export (safetensors)
# --------------------------------------------------------------------------------------------------


def _looks_like_safetensors(path: Path) -> bool:
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
    metadata = {"format": WEIGHTS_FORMAT, "config": _json_dumps(config, "config")}
    for k, v in (meta or {}).items():
        if k in ("format", "config"):
            raise ValueError(f"export_weights: meta key {k!r} is reserved")
        metadata[str(k)] = _json_dumps(v, f"meta[{k!r}]")

    # safetensors serialises to bytes; the shared atomic writer then fsyncs and renames them into place.
    return _atomic_write(path, lambda f: f.write(save(tensors, metadata=metadata)))


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
        raise CheckpointError(path, f"corrupt or truncated, or not a safetensors file ({_first_line(str(e))})") from None
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
        if k in ("format", "config"):
            continue
        try:
            meta[k] = json.loads(v)
        except json.JSONDecodeError:
            meta[k] = v
    try:
        state_dict = load_file(str(path), device="cpu")
    except Exception as e:
        raise CheckpointError(path, f"corrupt or truncated tensor data ({_first_line(str(e))})") from None
    return state_dict, config, meta


# --------------------------------------------------------------------------------------------------
# Resolving what the user pointed at
# --------------------------------------------------------------------------------------------------


def resolve_checkpoint(path: str | os.PathLike[str]) -> Path:
    """Turn a user-given ``checkpoint=`` into a file.

    * a run directory → its ``ema.safetensors``; if there is none, its latest ``checkpoints/state-*.pt``;
    * a ``checkpoints/`` directory → its latest state;
    * a ``.safetensors`` or ``.pt`` file → itself.

    The file is not opened: use :func:`load_weights` (``.safetensors``) or :func:`load_state` (``.pt``).
    """
    path = Path(path)
    if not path.exists():
        raise CheckpointError(path, "no such file or run directory")
    if path.is_dir():
        ema = path / EMA_WEIGHTS_NAME
        if ema.is_file():
            return ema
        latest = latest_state_path(path)
        if latest is not None:
            return latest
        raise CheckpointError(
            path, f"directory holds neither {EMA_WEIGHTS_NAME} nor {CHECKPOINT_DIR}/state-*.pt; is it a run directory?"
        )
    if path.suffix in (".safetensors", ".pt"):
        return path
    raise CheckpointError(path, "unrecognised checkpoint file; expected a run directory, a .safetensors or a .pt file")
