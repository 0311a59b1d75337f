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

import os
import pickle
import pickletools
import re
import warnings
import zipfile
from collections import OrderedDict
from pathlib import Path
from typing import Any

import torch

from .atomic import TMP_SUFFIX, atomic_torch_save
from .errors import CheckpointError, first_line
from .run_lock import live_owner
from .weights import EMA_WEIGHTS_NAME, first_nonfinite, looks_like_safetensors, nonfinite_problem

__all__ = [
    "CheckpointError",
    "STATE_FORMAT",
    "CHECKPOINT_DIR",
    "check_plain",
    "save_state",
    "list_states",
    "latest_state_path",
    "load_state",
    "load_latest_state",
    "resolve_checkpoint",
]

STATE_FORMAT = "pfgm-state-v1"
CHECKPOINT_DIR = "checkpoints"

# Finished checkpoints only; temp files are ".state-....pt.<random>.tmp" and never match.
_STATE_RE = re.compile(r"^state-(\d{9,})\.pt$")


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


def load_latest_state(run_dir: str | os.PathLike[str]) -> tuple[Path, dict[str, Any]] | None:
    """The newest state of ``run_dir`` that loads, as (path, state); None when the run has no state file.

    A corrupt or truncated newest file (a disk fault, a copy cut short) falls back to the next older
    one that keep-last-k kept, with a warning naming each bad file. If none loads, the
    CheckpointError names them all: starting over silently would throw the run away.
    """
    states = list_states(run_dir)
    bad: list[str] = []
    for path in reversed(states):
        try:
            state = load_state(path)
        except CheckpointError as e:
            bad.append(str(e))
            continue
        for msg in bad:
            warnings.warn(f"skipping unreadable checkpoint {msg}; resuming from {path.name} instead", stacklevel=2)
        return path, state
    if bad:
        raise CheckpointError(Path(run_dir) / CHECKPOINT_DIR, f"no checkpoint loads: {'; '.join(bad)}")
    return None


def save_state(
    run_dir: str | os.PathLike[str], step: int, state: dict[str, Any], keep_last: int | None = 3, protect: Path | None = None
) -> Path:
    """Write ``run_dir/checkpoints/state-{step:09d}.pt`` atomically and prune older states.

    Args:
        run_dir: the run directory (``checkpoints/`` is created inside it).
        step: training step; names the file and is stored as ``state["step"]`` (which, if given, must agree).
        state: plain types only (see :func:`check_plain`), e.g. ``{"model": ..., "ema": ..., "optimizer": ...,
            "cur_nimg": int, "rng": rng_state(), "config": dict}``. Not modified; a shallow copy gets
            ``"format": "pfgm-state-v1"``.
        keep_last: keep this many newest states (older ones are deleted); None or <= 0 keeps all.
        protect: a state never deleted by this call's pruning (the one a resumed run started from, kept
            until that run ends well: the steps after it may be the ones that diverged).

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
    for p in ckpt_dir.glob(".state-*" + TMP_SUFFIX):
        try:
            p.unlink()
        except OSError:
            pass

    path = atomic_torch_save(payload, ckpt_dir / f"state-{int(step):09d}.pt")

    if keep_last is not None and keep_last > 0:
        for old in list_states(run_dir)[:-keep_last]:
            if old != path and (protect is None or old != Path(protect)):
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


def _check_zip_sizes(path: Path) -> None:
    """Refuse a zip whose members would inflate beyond the file (a zip bomb) before torch reads it.

    torch.save stores members uncompressed, so a genuine checkpoint's declared sizes add up to at
    most the file's size; a compressed member, or declared sizes beyond the file, is not ours.
    """
    try:
        if not zipfile.is_zipfile(path):
            return
        with zipfile.ZipFile(path) as z:
            infos = z.infolist()
    except Exception as e:  # zipfile raises many types on a mangled directory
        raise CheckpointError(path, f"corrupt zip container ({type(e).__name__}: {first_line(str(e))})") from None
    size = path.stat().st_size
    for info in infos:
        if info.compress_type != zipfile.ZIP_STORED:
            raise CheckpointError(
                path,
                f"member {info.filename!r} is compressed ({info.file_size} bytes declared); "
                "torch never compresses checkpoints: refused as a possible zip bomb",
            )
    declared = sum(i.file_size for i in infos)
    if declared > size:
        raise CheckpointError(path, f"members declare {declared} bytes in a {size}-byte file: refused as a possible zip bomb")
    try:  # torch writes a CRC-32 per member but never checks it: a flipped bit would load as a different weight
        with zipfile.ZipFile(path) as z:
            bad = z.testzip()
    except Exception as e:  # any failure to read the container back (bad flags, "encrypted" bits) is corruption
        raise CheckpointError(path, f"corrupt zip container ({type(e).__name__}: {first_line(str(e))})") from None
    if bad is not None:
        raise CheckpointError(path, f"member {bad!r} fails its CRC-32 check: the file is corrupt")


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
    if looks_like_safetensors(path):
        raise CheckpointError(path, "is a safetensors weights file, not a training state (use load_weights)")
    _check_zip_sizes(path)
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
        raise CheckpointError(path, f"corrupt or truncated checkpoint, or not a torch file ({first_line(msg)})") from None
    except Exception as e:  # EOFError, zipfile errors, OSError, ...
        raise CheckpointError(path, f"corrupt or truncated checkpoint ({type(e).__name__}: {first_line(str(e))})") from None
    if not isinstance(obj, dict) or "format" not in obj:
        raise CheckpointError(path, f"not a pfgm training state (no 'format' key; expected {STATE_FORMAT!r})")
    if obj["format"] != STATE_FORMAT:
        raise CheckpointError(path, f"unknown checkpoint format {obj['format']!r} (expected {STATE_FORMAT!r})")
    # the weights only (an optimiser's moments may legitimately hold huge values, never NaN with finite weights)
    bad = first_nonfinite({k: obj[k] for k in ("model", "ema") if isinstance(obj.get(k), dict)})
    if bad is not None:
        raise CheckpointError(path, nonfinite_problem(bad))
    return obj


# --------------------------------------------------------------------------------------------------
# Resolving what the user pointed at
# --------------------------------------------------------------------------------------------------


def resolve_checkpoint(path: str | os.PathLike[str]) -> Path:
    """Turn a user-given ``checkpoint=`` into a file.

    * a run directory → its ``ema.safetensors``; if there is none, its latest ``checkpoints/state-*.pt``;
    * a ``checkpoints/`` directory → its latest state;
    * a ``.safetensors`` or ``.pt`` file → itself.

    The file is not opened: use :func:`load_weights` (``.safetensors``) or :func:`load_state` (``.pt``).
    A run directory that a live training still holds gives a warning: its files are a mid-run export,
    and the final EMA weights are written last.
    """
    path = Path(path)
    if not path.exists():
        raise CheckpointError(path, "no such file or run directory")
    if path.is_dir():
        owner = live_owner(path)
        if owner is not None:
            warnings.warn(
                f"{path} is still being trained (pid {owner.get('pid', '?')} on {owner.get('host', '?')}, since "
                f"{owner.get('since', '?')}): using its last mid-run export, not the final weights; wait for "
                "that training to end for those",
                stacklevel=2,
            )
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
