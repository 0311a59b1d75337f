"""The reliability harness: a toy modality that trains in milliseconds per step, and the faults the
reliability campaign injects with it: kill -9 at random points of a training, a full disk during a
checkpoint write, bad input to every file loader, wrong values for every config key, crafted checkpoints.

``benchmarks/reliability.py`` runs these with many trials and writes docs/reliability.md; the tests
(tests/test_reliability_*.py, tests/test_fuzz_inputs.py, tests/test_init_from.py) run the same functions
with few, so the page's table is the harness's own results. Importing this module registers the toy
modality as ``reliability_toy``; a child process registers it the same way (:func:`cli_command`).
A new file loader joins the fuzz campaign with one line in :data:`LOADERS`.
"""

from __future__ import annotations

import contextlib
import dataclasses
import errno
import io
import json
import os
import random
import signal
import struct
import subprocess
import sys
import tempfile
import time
import warnings
import zipfile
from pathlib import Path
from typing import Any, Callable

import torch
from torch import nn

from pfgm.core.checkpoint import list_states, load_latest_state
from pfgm.core.errors import PfgmError
from pfgm.modalities.base import Encoded, EncodedDataset, Modality, register_modality

# ------------------------------------------------------------------------------------------------
# A tiny modality: 64 vectors of 8 numbers and an MLP, so a trial costs milliseconds per step


@register_modality("reliability_toy")
class ToyModality(Modality):
    """Fixed random vectors (a function of ``seed``); the backbone is a two-layer MLP."""

    def __init__(self, n: int = 64, dim: int = 8, seed: int = 0):
        self.n, self.dim, self.seed = n, dim, seed

    def dataset(self, split: str = "train") -> EncodedDataset:
        g = torch.Generator().manual_seed(self.seed + (split == "test"))
        return EncodedDataset(torch.randn(self.n, self.dim, generator=g) * 0.5)

    def backbone(self, hidden: int = 32) -> nn.Module:
        return _MLP(self.dim, hidden)

    def blank(self, num: int, generator: torch.Generator) -> Encoded:
        return Encoded(torch.zeros(num, self.dim))

    def decode(self, x, mask=None, cond=None) -> list:
        return list(x)

    def write(self, objects, out: Path) -> list[Path]:
        from pfgm.core.atomic import atomic_write_bytes

        out = Path(out)
        target = out / "samples.json" if out.suffix == "" else out
        atomic_write_bytes(target, json.dumps([o.tolist() for o in objects]).encode())
        return [target]


class _MLP(nn.Module):
    def __init__(self, dim: int, hidden: int):
        super().__init__()
        self.net = nn.Sequential(nn.Linear(dim + 1, hidden), nn.SiLU(), nn.Dropout(0.1), nn.Linear(hidden, dim))

    def forward(self, x, c_noise, cond=None, mask=None):
        return self.net(torch.cat([x, c_noise[:, None].to(x.dtype)], dim=1))


def toy_config(run_dir: Path | str, resume: Any = False, **trainer: Any) -> dict[str, Any]:
    """A full run config for the toy modality (what pfgm-train would compose)."""
    t = dict(
        max_steps=12,
        batch_size=8,
        lr=1e-3,
        warmup_steps=2,
        seed=0,
        device="cpu",
        log_every=1,
        ckpt_every=3,
        keep_last=2,
        preview_every=0,
        progress=False,
    )
    t.update(trainer)
    return {
        "run_dir": str(run_dir),
        "resume": resume,
        "modality": {"name": "reliability_toy", "n": 64, "dim": 8, "seed": 0},
        "backbone": {"hidden": 32},
        "pfgm": {"D": 16, "sigma_data": 0.5},
        "sampler": {"steps": 2},
        "trainer": t,
        "preview_samples": 0,
    }


def final_tensors(run_dir: Path) -> dict[str, torch.Tensor]:
    """Every tensor of the newest state (model, EMA, optimizer moments), flattened by key."""
    found = load_latest_state(run_dir)
    assert found is not None, f"{run_dir} has no checkpoint"
    out: dict[str, torch.Tensor] = {}

    def walk(v: Any, key: str) -> None:
        if isinstance(v, torch.Tensor):
            out[key] = v
        elif isinstance(v, dict):
            for k, x in v.items():
                walk(x, f"{key}.{k}")
        elif isinstance(v, (list, tuple)):
            for i, x in enumerate(v):
                walk(x, f"{key}[{i}]")

    state = found[1]
    for part in ("model", "ema", "optimizer"):
        walk(state[part], part)
    out["step"] = torch.tensor(int(state["step"]))
    return out


def identical(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor]) -> bool:
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def _quiet_train(cfg: dict[str, Any]) -> dict[str, Any]:
    from pfgm.recipes.train import run_training

    with open(os.devnull, "w") as null, contextlib.redirect_stderr(null), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return run_training(cfg)


# ------------------------------------------------------------------------------------------------
# kill -9 at a random point: during a step, a checkpoint write, the EMA export, or at a random time

PHASES = ("step", "checkpoint_write", "ema_export", "timer")


def _arm(phase: str, target: int) -> None:
    """In the child: SIGKILL itself at the target-th event of ``phase`` (no cleanup runs, like kill -9)."""
    import pfgm.core.atomic as atomic
    from pfgm.core.loss import PFGMLoss

    count = [0]

    def hit() -> None:
        count[0] += 1
        if count[0] == target:
            os.kill(os.getpid(), signal.SIGKILL)

    if phase == "step":  # inside the step: after the loss, before backward and the optimizer
        orig = PFGMLoss.__call__

        def call(self, *a, **k):
            out = orig(self, *a, **k)
            hit()
            return out

        PFGMLoss.__call__ = call  # type: ignore[method-assign]
    elif phase == "checkpoint_write":  # between two chunks torch writes into the temp file
        orig_w = atomic._Recording.write

        def write(self, data):
            n = orig_w(self, data)
            hit()
            return n

        atomic._Recording.write = write  # type: ignore[method-assign]
    elif phase == "ema_export":  # the export's temp file complete, before or after its rename
        orig_r = os.replace

        def replace(src, dst, *a, **k):
            before = str(dst).endswith("ema.safetensors") and target % 2 == 0
            if before:
                hit()
            r = orig_r(src, dst, *a, **k)
            if str(dst).endswith("ema.safetensors") and not before:
                hit()
            return r

        atomic.os.replace = replace  # type: ignore[assignment]


#: measured by reference_run: write calls torch makes into state files, and the run's wall time
_REFERENCE: dict[str, float] = {"writes": 0, "seconds": 1.0}


_PACE = 0.02  # seconds added to each step of a timer trial, so a random kill time can land anywhere in the run


def _pace() -> None:
    """Slow each step down (the arithmetic is unchanged): the run then lasts long enough to be hit at random."""
    from pfgm.core.loss import PFGMLoss

    orig = PFGMLoss.__call__

    def call(self, *a, **k):
        time.sleep(_PACE)
        return orig(self, *a, **k)

    PFGMLoss.__call__ = call  # type: ignore[method-assign]


def _events(phase: str, steps: int, ckpt_every: int) -> int:
    """How many events of ``phase`` an uninterrupted run has (the range a target is drawn from)."""
    saves = steps // ckpt_every + (steps % ckpt_every != 0)
    if phase == "step":
        return steps
    if phase == "ema_export":
        return saves
    return max(1, int(_REFERENCE["writes"]))


def kill_trial(
    trial: int, root: Path, reference: dict[str, torch.Tensor], steps: int = 12, ckpt_every: int = 3
) -> dict[str, Any]:
    """One trial: train in a forked child, kill -9 it at a random point, resume to the end in this
    process; the result must equal the uninterrupted ``reference`` bit for bit."""
    rng = random.Random(1000 + trial)
    phase = PHASES[trial % len(PHASES)]
    target = rng.randint(1, _events(phase, steps, ckpt_every))
    run = root / f"kill-{trial:03d}"
    cfg = toy_config(run, resume=False, max_steps=steps, ckpt_every=ckpt_every)
    delay = rng.uniform(0.0, steps * _PACE + 0.2)
    pid = os.fork()
    if pid == 0:  # the child trains and, armed, dies mid-way
        code = 0
        try:
            torch.set_num_threads(1)
            _arm(phase, target) if phase != "timer" else _pace()
            _quiet_train(cfg)
        except BaseException:
            code = 1
        os._exit(code)
    if phase == "timer":
        time.sleep(delay)
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    _, status = os.waitpid(pid, 0)  # reaped: the lock's pid is then gone, as after a real crash
    killed = os.WIFSIGNALED(status) and os.WTERMSIG(status) == signal.SIGKILL
    states = list_states(run)
    last_complete = int(states[-1].name[6:15]) if states else 0
    row = {
        "trial": trial,
        "phase": phase,
        "target": target if phase != "timer" else round(delay, 3),
        "killed": killed,
        "resumed_from": last_complete,
        "error": None,
        "identical": False,
    }
    try:
        out = _quiet_train({**cfg, "resume": "auto"})
        row["resumed_at"] = out.get("resumed_at") or 0
        row["identical"] = identical(final_tensors(run), reference)
        if row["resumed_at"] != last_complete:
            row["error"] = f"resumed at step {row['resumed_at']}, but the last complete checkpoint is step {last_complete}"
    except Exception as e:  # recorded, not raised: the table counts it
        row["error"] = f"{type(e).__name__}: {e}"
    return row


def reference_run(root: Path, steps: int = 12, ckpt_every: int = 3) -> dict[str, torch.Tensor]:
    import pfgm.core.atomic as atomic

    run = root / "reference"
    orig = atomic._Recording.write
    count = [0]

    def write(self, data):
        count[0] += 1
        return orig(self, data)

    atomic._Recording.write = write  # type: ignore[method-assign]
    try:
        out = _quiet_train(toy_config(run, max_steps=steps, ckpt_every=ckpt_every))
    finally:
        atomic._Recording.write = orig  # type: ignore[method-assign]
    _REFERENCE.update(writes=count[0], seconds=out["seconds"] + 0.05)  # the loop's time, plus the child's set-up
    return final_tensors(run)


# ------------------------------------------------------------------------------------------------
# A full disk during a checkpoint write


@contextlib.contextmanager
def small_disk(size_kb: int = 512):
    """A size-limited tmpfs when this process may mount one (root in a container that allows it);
    else None (the caller then simulates a full disk with a write that raises ENOSPC)."""
    d = Path(tempfile.mkdtemp(prefix="pfgm-tmpfs-"))
    mounted = False
    if os.geteuid() == 0:
        mounted = (
            subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size_kb}k", "tmpfs", str(d)], capture_output=True).returncode
            == 0
        )
    try:
        yield d if mounted else None
    finally:
        if mounted:
            subprocess.run(["umount", str(d)], capture_output=True)
        with contextlib.suppress(OSError):
            d.rmdir()


def disk_full_trial(root: Path) -> dict[str, Any]:
    """Train, fill the disk after the first checkpoint, train on: a clear ENOSPC naming the file, the
    previous checkpoint intact and loadable, no temp litter."""
    import pfgm.core.trainer as trainer_mod

    with small_disk() as disk:
        how = "tmpfs" if disk is not None else "simulated ENOSPC"
        run = (disk if disk is not None else root) / "full"
        saves = [0]
        orig_save = trainer_mod.Trainer.save

        def save(self):
            saves[0] += 1
            if saves[0] == 2:  # the first checkpoint is written; the disk fills just before the second
                _fill(run.parent, disk is not None)
            orig_save(self)

        trainer_mod.Trainer.save = save  # type: ignore[method-assign]
        err: BaseException | None = None
        try:
            _quiet_train(toy_config(run, max_steps=9, ckpt_every=3))
        except BaseException as e:
            err = e
        finally:
            trainer_mod.Trainer.save = orig_save  # type: ignore[method-assign]
            _unfill(run.parent)
        found = load_latest_state(run)
        litter = [p.name for p in (run / "checkpoints").iterdir() if p.name.endswith(".tmp")]
        return {
            "how": how,
            "error": None if err is None else f"{type(err).__name__}: {err}",
            "errno": getattr(err, "errno", None),
            "names_file": bool(getattr(err, "filename", None)),
            "previous_step": None if found is None else int(found[1]["step"]),
            "litter": litter,
        }


_FILLER = "filler.bin"
_orig_write: list[Any] = []


def _fill(folder: Path, real: bool) -> None:
    if real:
        with open(folder / _FILLER, "wb") as f, contextlib.suppress(OSError):
            while True:
                f.write(b"\0" * 65536)
                f.flush()
    else:
        import pfgm.core.atomic as atomic

        _orig_write.append(atomic._Recording.write)

        def full(self, data):
            self.error = OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
            raise self.error

        atomic._Recording.write = full  # type: ignore[method-assign]


def _unfill(folder: Path) -> None:
    with contextlib.suppress(OSError):
        (folder / _FILLER).unlink()
    if _orig_write:
        import pfgm.core.atomic as atomic

        atomic._Recording.write = _orig_write.pop()  # type: ignore[method-assign]


# ------------------------------------------------------------------------------------------------
# Bad input: every loader gets malformed, truncated, huge, empty and wrong-type files


@dataclasses.dataclass
class Loader:
    """A file loader under fuzz: ``load(path)`` reads one file (or, with ``folder``, a folder holding
    it); ``valid`` is a well-formed file to truncate and mutate; ``needs`` modules skip it when absent."""

    name: str
    suffix: str
    load: Callable[[Path], Any]
    valid: bytes
    needs: tuple[str, ...] = ()
    folder: bool = False


def _png() -> bytes:
    import numpy as np
    from PIL import Image

    buf = io.BytesIO()
    Image.fromarray(np.arange(64, dtype=np.uint8).reshape(8, 8)).save(buf, format="PNG")
    return buf.getvalue()


def _wav() -> bytes:
    n, rate = 800, 8000
    data = struct.pack(f"<{n}h", *[(i * 37) % 2000 - 1000 for i in range(n)])
    return (
        b"RIFF"
        + struct.pack("<I", 36 + len(data))
        + b"WAVEfmt "
        + struct.pack("<IHHIIHH", 16, 1, 1, rate, 2 * rate, 2, 16)
        + b"data"
        + struct.pack("<I", len(data))
        + data
    )


def _images(p: Path) -> Any:
    from pfgm.modalities.images.data import load_image_folder

    return load_image_folder(p.parent, image_size=8)


def _smiles(p: Path) -> Any:
    from pfgm.modalities.molecules.molecule_sources import load_smiles_file

    return load_smiles_file(p)


def _sdf(p: Path) -> Any:
    from pfgm.modalities.molecules.molecule_sources import load_sdf

    return load_sdf(p)


def _graphs(p: Path) -> Any:
    from pfgm.modalities.graphs.graph_sources import community_small_file

    return community_small_file(str(p))


def _sequences(fmt: str, kind: str = "protein", gap: bool = False) -> Callable[[Path], Any]:
    def load(p: Path) -> Any:
        from pfgm.modalities.sequences.alphabet import Alphabet
        from pfgm.modalities.sequences.parsers import read_sequences

        return read_sequences(p, Alphabet(kind, gap=gap), format=fmt)

    return load


def _wav_file(p: Path) -> Any:
    from pfgm.modalities.audio.io import read_audio

    return read_audio(p)


def _state(p: Path) -> Any:
    from pfgm.core.checkpoint import load_state

    return load_state(p)


def _weights(p: Path) -> Any:
    from pfgm.core.weights import load_weights

    return load_weights(p)


_SDF = (
    b"ethanol\n  RDKit          2D\n\n  3  2  0  0  0  0  0  0  0  0999 V2000\n"
    b"    0.0000    0.0000    0.0000 C   0  0\n    1.2990    0.7500    0.0000 C   0  0\n"
    b"    2.5981   -0.0000    0.0000 O   0  0\n  1  2  1  0\n  2  3  1  0\nM  END\n$$$$\n"
)
_STOCKHOLM = b"# STOCKHOLM 1.0\nseq1 ACDE-FGHIK\nseq2 ACDEWFGHIK\n//\n"

#: every file loader of the toolkit; a new loader joins the campaign with one line here
LOADERS: list[Loader] = [
    Loader("image folder (PNG)", ".png", _images, b"", needs=("PIL",), folder=True),
    Loader("SMILES file", ".smi", _smiles, b"CCO\nc1ccccc1O\nCC(=O)Nc1ccc(O)cc1\n", needs=("rdkit",)),
    Loader("SMILES CSV", ".csv", _smiles, b"smiles,name\nCCO,ethanol\nc1ccccc1,benzene\n", needs=("rdkit",)),
    Loader("SDF", ".sdf", _sdf, _SDF, needs=("rdkit",)),
    Loader("graph spec (community-small)", ".txt", _graphs, b"# two graphs\n12:0-6,1-7\n14:2-9\n", needs=("networkx",)),
    Loader("FASTA", ".fasta", _sequences("fasta"), b">a\nACDEFGHIK\n>b\nMKTAYIAKQR\n", needs=("Bio",)),
    Loader("Stockholm", ".sto", _sequences("stockholm", gap=True), _STOCKHOLM, needs=("Bio",)),
    Loader("sequence CSV", ".csv", _sequences("csv"), b"sequence\nACDEFGHIK\nMKTAYIAKQR\n", needs=("Bio",)),
    Loader("WAV", ".wav", _wav_file, b"", needs=("soundfile",)),
    Loader("training state (.pt)", ".pt", _state, b""),
    Loader("weights (.safetensors)", ".safetensors", _weights, b"", needs=("safetensors",)),
]


def valid_bytes(loader: Loader) -> bytes:
    if loader.valid:
        return loader.valid
    if loader.suffix == ".png":
        return _png()
    if loader.suffix == ".wav":
        return _wav()
    if loader.suffix == ".pt":
        from pfgm.core.checkpoint import save_state

        with tempfile.TemporaryDirectory() as d:
            return save_state(d, 1, {"model": {"w": torch.ones(3)}}, keep_last=0).read_bytes()
    if loader.suffix == ".safetensors":
        from pfgm.core.weights import export_weights

        with tempfile.TemporaryDirectory() as d:
            return export_weights(Path(d) / "w.safetensors", {"w": torch.ones(3)}, {"a": 1}).read_bytes()
    raise ValueError(loader.name)


def available(loader: Loader) -> str | None:
    """None if the loader can run here, else why not (a missing optional package)."""
    import importlib.util

    missing = [m for m in loader.needs if importlib.util.find_spec(m) is None]
    return f"needs {', '.join(missing)}" if missing else None


def project_errors() -> tuple[type[BaseException], ...]:
    from pfgm.recipes.cli import USER_ERRORS

    return USER_ERRORS


#: the kinds of bad input, each a function of (valid bytes, random) → bytes
def _truncated(v: bytes, r: random.Random) -> bytes:
    return v[: r.randint(0, max(0, len(v) - 1))]


def _flipped(v: bytes, r: random.Random) -> bytes:
    b = bytearray(v or b"x")
    for _ in range(r.randint(1, 8)):
        b[r.randrange(len(b))] = r.randrange(256)
    return bytes(b)


def _huge(v: bytes, r: random.Random) -> bytes:
    return v + b"C" * (200_000 + r.randint(0, 1000)) + b"\n"


KINDS: dict[str, Callable[[bytes, random.Random], bytes]] = {
    "empty": lambda v, r: b"",
    "truncated": _truncated,
    "bit flips": _flipped,
    "random bytes": lambda v, r: bytes(r.randrange(256) for _ in range(r.randint(1, 512))),
    "huge line": _huge,
    "wrong type (PNG bytes)": lambda v, r: _png(),
    "wrong type (NUL/UTF-16)": lambda v, r: "ACDE\nCCO\n".encode("utf-16"),
}


def feed(loader: Loader, data: bytes, where: Path, time_limit: float = 20.0) -> tuple[str, str]:
    """Load ``data`` as a file of ``loader``'s kind → (outcome, detail). Outcomes: "ok" (loaded),
    "clean" (the project's own error, one line naming the file), "unclear" (our error type without the
    file's name, or several lines), "traceback" (any other exception), "slow" (over ``time_limit``)."""
    where.mkdir(parents=True, exist_ok=True)
    for p in where.iterdir():
        p.unlink()
    path = where / f"input{loader.suffix}"
    path.write_bytes(data)
    t0 = time.perf_counter()
    try:
        with warnings.catch_warnings(), open(os.devnull, "w") as null, contextlib.redirect_stderr(null):
            warnings.simplefilter("ignore")
            loader.load(path)
        outcome, detail = "ok", ""
    except project_errors() as e:
        msg = str(e)
        good = "\n" not in msg.strip() and (path.name in msg or str(where) in msg)
        outcome, detail = ("clean" if good else "unclear"), f"{type(e).__name__}: {msg[:300]}"
    except Exception as e:
        outcome, detail = "traceback", f"{type(e).__module__}.{type(e).__name__}: {str(e)[:300]}"
    if time.perf_counter() - t0 > time_limit:
        outcome = "slow"
    return outcome, detail


def fuzz_loader(loader: Loader, examples: int, root: Path, seed: int = 0) -> dict[str, Any]:
    """``examples`` bad inputs spread over KINDS → counts by outcome and the first bad details."""
    r = random.Random(seed)
    v = valid_bytes(loader)
    counts: dict[str, int] = {}
    bad: list[str] = []
    kinds = list(KINDS.items())
    for i in range(examples):
        kind, make = kinds[i % len(kinds)]
        outcome, detail = feed(loader, make(v, r), root / "fuzz")
        counts[outcome] = counts.get(outcome, 0) + 1
        if outcome not in ("ok", "clean") and len(bad) < 3:
            bad.append(f"{kind}: {detail}")
    return {"loader": loader.name, "counts": counts, "bad": bad}


# ------------------------------------------------------------------------------------------------
# Config entry points: wrong types and ranges in every section

#: (override as a user types it, the key the error must name)
BAD_OVERRIDES: list[tuple[dict[str, Any], str]] = [
    ({"trainer": {"batch_size": 0}}, "trainer.batch_size"),
    ({"trainer": {"max_steps": -1}}, "trainer.max_steps"),
    ({"trainer": {"max_steps": "abc"}}, "trainer.max_steps"),
    ({"trainer": {"lr": "abc"}}, "trainer.lr"),
    ({"trainer": {"bf16": "maybe"}}, "trainer.bf16"),
    ({"trainer": {"grad_accum": 0}}, "trainer.grad_accum"),
    ({"trainer": {"log_every": 0}}, "trainer.log_every"),
    ({"trainer": {"beta2": 1.5}}, "trainer.beta2"),
    ({"trainer": {"lr_decay": "linear"}}, "trainer.lr_decay"),
    ({"trainer": {"seed": 1.5}}, "trainer.seed"),
    ({"trainer": {"max_stepz": 3}}, "trainer.max_stepz"),
    ({"pfgm": {"DD": 3}}, "pfgm.DD"),
    ({"pfgm": {"D": 0}}, "D"),
    ({"pfgm": {"sigma_min": "x"}}, "pfgm.sigma_min"),
    ({"sampler": {"stepz": 3}}, "sampler.stepz"),
    ({"sampler": {"steps": 0}}, "sampler.steps"),
    ({"run_dir": ""}, "run_dir"),
    ({"resume": "maybe"}, "resume"),
    ({"foo": 3}, "foo"),
    ({"preview_samples": -1}, "preview_samples"),
    ({"trainer": {"progress": "yes"}}, "trainer.progress"),
]


def _merge(base: dict[str, Any], over: dict[str, Any]) -> dict[str, Any]:
    out = json.loads(json.dumps(base))
    for k, v in over.items():
        if isinstance(v, dict) and isinstance(out.get(k), dict):
            out[k].update(v)
        else:
            out[k] = v
    return out


def config_case(over: dict[str, Any], key: str) -> tuple[str, str]:
    """check_train on the toy config with ``over`` merged in → ("clean", msg) if refused naming ``key``."""
    from pfgm.recipes.validate import check_train

    try:
        check_train(_merge(toy_config("/nonexistent/run"), over))
    except PfgmError as e:
        msg = str(e)
        return ("clean" if key in msg and "\n" not in msg else "unclear"), msg
    except Exception as e:
        return "traceback", f"{type(e).__name__}: {e}"
    return "accepted", ""


#: the wrong-ish values a config key is tried with
CONFIG_VALUES = [0, -1, -1e9, 1e30, 0.5, "abc", "", True, [1], {"a": 1}, None, float("nan"), float("inf")]


def config_keys() -> dict[str, list[str]]:
    """Every key of the trainer, pfgm and sampler sections (the dataclasses' fields)."""
    from pfgm.core.config import PFGMConfig
    from pfgm.core.generate import SAMPLER_KEYS
    from pfgm.core.trainer import TrainerConfig

    return {
        "trainer": [f.name for f in dataclasses.fields(TrainerConfig)],
        "pfgm": [f.name for f in dataclasses.fields(PFGMConfig)],
        "sampler": list(SAMPLER_KEYS),
    }


def random_config_case(r: random.Random) -> tuple[str, str]:
    """A random key of trainer/pfgm/sampler set to a random wrong-ish value: refused naming the key, or accepted."""
    section = r.choice(["trainer", "pfgm", "sampler"])
    key = r.choice(config_keys()[section])
    value = r.choice(CONFIG_VALUES)
    outcome, msg = config_case({section: {key: value}}, key)
    return outcome, f"{section}.{key}={value!r}: {msg}"


def every_config_case() -> list[tuple[str, str]]:
    """Every key of trainer/pfgm/sampler × every value of CONFIG_VALUES (the random cases' whole space)."""
    out = []
    for section, keys in config_keys().items():
        for key in keys:
            for value in CONFIG_VALUES:
                outcome, msg = config_case({section: {key: value}}, key)
                out.append((outcome, f"{section}.{key}={value!r}: {msg}"))
    return out


# ------------------------------------------------------------------------------------------------
# Checkpoint attacks: each must be refused before anything in it runs


class _Evil:
    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def attack_files(d: Path) -> dict[str, Path]:
    """Crafted checkpoints: code-running pickles (plain and in torch's zip), a zip bomb, safetensors
    whose header lies, and a run whose config names os.system as a _target_."""
    import pickle

    from pfgm.core.weights import export_weights

    marker = d / "PWNED"
    out: dict[str, Path] = {}
    out["pickle calling os.system (.pt)"] = d / "evil.pt"
    out["pickle calling os.system (.pt)"].write_bytes(pickle.dumps({"format": "pfgm-state-v1", "x": _Evil(marker)}))
    p = d / "evil_zip.pt"
    torch.save({"format": "pfgm-state-v1", "x": _Evil(marker)}, p)
    out["torch zip with os.system pickle"] = p
    bomb = d / "bomb.pt"
    with zipfile.ZipFile(bomb, "w", compression=zipfile.ZIP_DEFLATED) as z:
        z.writestr("archive/data.pkl", pickle.dumps({"format": "pfgm-state-v1"}))
        z.writestr("archive/data/0", b"\0" * 50_000_000)  # 50 MB that deflates to ~50 kB
    out["zip bomb (.pt, 50 MB deflated member)"] = bomb
    good = export_weights(d / "good.safetensors", {"w": torch.ones(4)}, {"a": 1})
    raw = good.read_bytes()
    n = int.from_bytes(raw[:8], "little")
    header = json.loads(raw[8 : 8 + n])
    for name, edit in {
        "safetensors header length beyond the file": lambda h, b: (2**40).to_bytes(8, "little") + b[8:],
        "safetensors tensor offsets beyond the data": lambda h, b: _rehead(b, h, "w", offsets=[0, 10**9]),
        "safetensors shape larger than its bytes": lambda h, b: _rehead(b, h, "w", shape=[10**6]),
        "safetensors dtype lies": lambda h, b: _rehead(b, h, "w", dtype="F64"),
    }.items():
        f = d / (name.replace(" ", "_") + ".safetensors")
        f.write_bytes(edit(header, raw))
        out[name] = f
    run = d / "target_run"
    run.mkdir()
    cfg = toy_config(run)
    cfg["modality"] = {"_target_": "os.system", "command": f"touch {marker}"}
    export_weights(run / "ema.safetensors", {"w": torch.ones(1)}, {**cfg, "backbone": {}, "pfgm": {"D": 16}})
    out["config _target_: os.system"] = run
    return out


def _rehead(raw: bytes, header: dict, key: str, **change: Any) -> bytes:
    n = int.from_bytes(raw[:8], "little")
    h = json.loads(json.dumps(header))
    h[key].update({("data_offsets" if k == "offsets" else k): v for k, v in change.items()})
    hb = json.dumps(h).encode()
    hb += b" " * ((8 - len(hb) % 8) % 8)
    return len(hb).to_bytes(8, "little") + hb + raw[8 + n :]


def attack_case(path: Path) -> tuple[str, str]:
    """Load through what pfgm-sample uses → ("refused", message) if the project's own error (a CheckpointError)
    stopped it and nothing ran (the marker file was not created)."""
    from pfgm.recipes.build import load_checkpoint

    marker = path.parent / "PWNED"
    try:
        load_checkpoint(path)
        outcome, msg = "loaded", ""
    except PfgmError as e:
        outcome, msg = "refused", str(e)
    except Exception as e:
        outcome, msg = "traceback", f"{type(e).__module__}.{type(e).__name__}: {e}"
    if marker.exists():
        marker.unlink()
        outcome = "CODE RAN"
    return outcome, msg


# ------------------------------------------------------------------------------------------------
# The command line with the toy modality

#: pfgm-train's overrides for the toy modality (no recipe file)
TOY_TRAIN = [
    "+modality.name=reliability_toy",
    "+modality.n=64",
    "+modality.dim=8",
    "+backbone.hidden=32",
    "pfgm.sigma_data=0.5",
    "trainer.batch_size=8",
    "trainer.progress=false",
    "trainer.preview_every=0",
    "preview_samples=0",
    "sampler.steps=2",
    "trainer.ckpt_every=3",
    "trainer.warmup_steps=0",
]


#: the console scripts whose ``main()`` :func:`cli_command` runs, by the name a user types
APPS = {
    "train": "pfgm.recipes.train",
    "sample": "pfgm.recipes.sample",
    "eval": "pfgm.recipes.evaluate",
    "bench": "pfgm.recipes.bench",
}


def cli_command(app: str, *args: str) -> list[str]:
    """The command line of ``pfgm-<app> args...`` in a fresh interpreter, with the toy modality registered."""
    code = f"import sys; import pfgm.reliability; sys.argv=['pfgm-{app}', *sys.argv[1:]]; from {APPS[app]} import main; main()"
    return [sys.executable, "-c", code, *args]
