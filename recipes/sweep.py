"""pfgm-bench sweep: what D buys. D × training seed × sampler × error injection α × weight bits.

    pfgm-bench sweep recipe=digits 'ladder=[1,4,16,64,512,inf]' 'seeds=[0,1,2]'
    pfgm-bench sweep recipe=molecules trainer.max_steps=4000 num_samples=500

Each (D, seed) trains into ``run_root/<recipe>-D<D>-s<seed>`` (continued if interrupted, reused
if finished with the same config), then every cell of ``cells`` samples ``num_samples`` and scores
them with the modality's own metrics (their pfgm-eval names). A cell is one sampler setting:
solver and steps, α (x += α·σ·ε before each step, PFGM++'s error-injection study) and bits
(per-tensor min–max weight quantization, :mod:`pfgm_core.quantize`; the quantized weights are
written as an export beside the run, so their digest is the file's).

One JSON object per cell is appended to ``out`` (JSON lines, flat keys: recipe, D, N, seed, solver,
nfe, alpha, bits, n_samples, then the metrics); a cell already recorded there is skipped, so an
interrupted sweep continues, and several processes may write one file (each append is locked).
On a cluster, split the ladder over jobs with Hydra's multirun:
``pfgm-bench sweep --multirun hydra/launcher=submitit_slurm recipe=digits ladder=[1],[16],[inf] seeds=[0],[1],[2]``.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import math
import sys
import time
from pathlib import Path
from typing import Any

import torch

from pfgm.core.config import format_D, parse_D
from pfgm.core.distributed import init_distributed
from pfgm.core.errors import ConfigError, DataError
from pfgm.core.quantize import quantized_state_dict
from pfgm.core.weights import export_weights

from .build import load_checkpoint, make_modality
from .likelihood import LikelihoodOptions, held_out_likelihood
from .sample import generate_from_checkpoint
from .train import run_training
from .validate import TRAIN_KEYS

__all__ = [
    "run_sweep",
    "append_record",
    "D_value",
    "data_dimension",
    "default_ladder",
    "parse_ladder",
    "parse_cells",
    "cell_id",
    "read_records",
]

#: identity of a record: a cell with these values is not sampled again
ID_KEYS = ("recipe", "D", "seed", "max_steps", "solver", "steps", "alpha", "bits", "n_samples", "sample_seed")


def data_dimension(dataset: Any, limit: int = 2048) -> dict[str, float]:
    """N of a data set: the real entries per item (mask sum, or x's size). For masked data the
    median N_i, with its 10th and 90th percentiles as the spread."""
    n = min(len(dataset), limit)
    if hasattr(dataset, "take"):
        batch = dataset.take(torch.arange(n))
        x, mask = batch.x, batch.mask
        sizes = (
            (mask != 0).flatten(1).sum(1).double()
            if mask is not None
            else torch.full((n,), float(x[0].numel()), dtype=torch.float64)
        )
    else:
        items = [
            dataset.item(i, i) if hasattr(dataset, "item") and not hasattr(dataset, "__getitem__") else dataset[i]
            for i in range(n)
        ]
        sizes = torch.tensor(
            [float((it.mask != 0).sum()) if it.mask is not None else float(it.x.numel()) for it in items], dtype=torch.float64
        )
    q = torch.quantile(sizes, torch.tensor([0.1, 0.5, 0.9], dtype=torch.float64)).tolist()
    return {"N": round(q[1]), "N_p10": round(q[0]), "N_p90": round(q[2])}


def default_ladder(N: int) -> list[float]:
    """D ∈ {1, N/64, N/8, N, 8N, ∞}, rounded to whole numbers ≥ 1, duplicates dropped."""
    out: list[float] = []
    for D in (1.0, N / 64, N / 8, float(N), 8.0 * N):
        D = float(max(1, round(D)))
        if D not in out:
            out.append(D)
    return out + [math.inf]


def parse_ladder(ladder: Any) -> list[float]:
    if not isinstance(ladder, list) or not ladder:
        raise ConfigError(f"ladder must be a non-empty list of D such as [1,16,inf], got {ladder!r}")
    out = []
    for i, D in enumerate(ladder):
        try:
            out.append(parse_D(D))
        except ValueError as e:
            raise ConfigError(f"ladder[{i}]={D!r}: {e}") from None
    return out


def parse_cells(cells: Any) -> list[dict[str, Any]]:
    """Each cell: {solver, steps, alpha (default 0), bits (default null = the float weights)}."""
    if not isinstance(cells, list) or not cells:
        raise ConfigError(f"cells must be a non-empty list of {{solver, steps, alpha, bits}}, got {cells!r}")
    out = []
    for i, c in enumerate(cells):
        if not isinstance(c, dict):
            raise ConfigError(f"cells[{i}] must be a mapping such as {{solver: heun, steps: 18}}, got {c!r}")
        unknown = sorted(set(c) - {"solver", "steps", "alpha", "bits"})
        if unknown:
            raise ConfigError(f"cells[{i}]: unknown key(s) {', '.join(unknown)}; known: solver, steps, alpha, bits")
        steps, alpha, bits = c.get("steps", 18), c.get("alpha", 0.0), c.get("bits")
        if isinstance(steps, bool) or not isinstance(steps, int) or steps < 1:
            raise ConfigError(f"cells[{i}].steps must be a whole number ≥ 1, got {steps!r}")
        if isinstance(alpha, bool) or not isinstance(alpha, (int, float)) or not (0 <= alpha < math.inf):
            raise ConfigError(f"cells[{i}].alpha must be a finite number ≥ 0, got {alpha!r}")
        if bits is not None and (isinstance(bits, bool) or not isinstance(bits, int) or not 2 <= bits <= 16):
            raise ConfigError(f"cells[{i}].bits must be a whole number in [2, 16] (or null for the float weights), got {bits!r}")
        out.append({"solver": str(c.get("solver", "heun")), "steps": steps, "alpha": float(alpha), "bits": bits})
    return out


def D_value(D: float) -> int | float | str:
    """D as a record holds it: "inf", or the number (a whole number without ".0")."""
    return "inf" if math.isinf(D) else (int(D) if float(D).is_integer() else D)


def cell_id(record: dict[str, Any]) -> tuple:
    return tuple(json.dumps(record.get(k)) for k in ID_KEYS)


def read_records(path: Path) -> list[dict[str, Any]]:
    """The records of a sweep file; a torn last line (a killed writer) is ignored, any other bad line is an error."""
    if not path.exists():
        return []
    lines = path.read_text(encoding="utf-8").splitlines()
    out = []
    for i, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            out.append(json.loads(line))
        except json.JSONDecodeError as e:
            if i == len(lines):
                print(f"pfgm-bench sweep: {path}:{i}: an unfinished last line is ignored", file=sys.stderr)
                continue
            raise DataError(f"{path}:{i}: not a JSON record ({e.msg})") from None
    return out


@contextlib.contextmanager
def _locked(path: Path):
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path.with_name(path.name + ".lock"), "w") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def append_record(path: Path, record: dict[str, Any]) -> None:
    """Append one record under the file's lock. A torn last line (a writer killed mid-line) is cut
    off first: its cell is not done, and a half record left inside the file would make it unreadable."""
    line = json.dumps(record, default=str, allow_nan=True) + "\n"
    with _locked(path):
        with open(path, "a+b") as fh:
            end = fh.seek(0, 2)
            if end > 0:
                fh.seek(end - 1)
                if fh.read(1) != b"\n":
                    fh.seek(0)
                    fh.truncate(fh.read().rfind(b"\n") + 1)
            fh.write(line.encode("utf-8"))
            fh.flush()


def _quantized_export(run_dir: Path, bits: int) -> Path:
    path = run_dir / f"ema-{bits}bit.safetensors"
    if not path.exists():
        _, den, config = load_checkpoint(run_dir)
        export_weights(path, quantized_state_dict(den, bits), config, {"quantized_bits": bits})
    return path


def run_sweep(c: dict[str, Any]) -> list[dict[str, Any]]:
    """Train the ladder × seeds and score every cell; returns the records written by this call."""
    recipe = c.get("recipe_name") or (c.get("modality") or {}).get("name", "run")
    cells = parse_cells(c.get("cells"))
    seeds = c.get("seeds")
    if not isinstance(seeds, list) or not seeds or any(isinstance(s, bool) or not isinstance(s, int) or s < 0 for s in seeds):
        raise ConfigError(f"seeds must be a non-empty list of whole numbers ≥ 0, got {seeds!r}")
    n_samples = c.get("num_samples")
    if isinstance(n_samples, bool) or not isinstance(n_samples, int) or n_samples < 2:
        raise ConfigError(f"num_samples must be a whole number ≥ 2, got {n_samples!r}")
    modality = make_modality(c["modality"])
    dims = data_dimension(modality.dataset("train"))
    ladder = parse_ladder(c["ladder"]) if c.get("ladder") is not None else default_ladder(dims["N"])
    out = Path(c["out"])
    done = {cell_id(r) for r in read_records(out)}
    dist = init_distributed(c.get("trainer", {}).get("device", "auto"))
    max_steps = int(c["trainer"]["max_steps"])
    sample_seed = int(c.get("sample_seed", 0))
    # the held-out likelihood is one more cell per trained run: solver "likelihood", steps = ODE steps
    lik_cell = None
    if c.get("likelihood_samples", 0) != 0:  # 0 = off
        lik = LikelihoodOptions(num_items=c["likelihood_samples"], steps=c.get("likelihood_steps", 32))
        lik_cell = {
            "solver": "likelihood",
            "steps": lik.steps,
            "alpha": 0.0,
            "bits": None,
            "n_samples": lik.num_items,
            "sample_seed": sample_seed,
        }
    written = []
    print(
        f"pfgm-bench sweep: {recipe} | N = {dims['N']} (10–90%: {dims['N_p10']}–{dims['N_p90']}) | "
        f"D ∈ {[D_value(D) for D in ladder]} | seeds {seeds} | {len(cells)} cells | {out}",
        file=sys.stderr,
    )
    for seed in seeds:
        for D in ladder:
            base = {
                "recipe": recipe,
                "D": D_value(D),
                "N": dims["N"],
                "N_p10": dims["N_p10"],
                "N_p90": dims["N_p90"],
                "D_over_N": "inf" if math.isinf(D) else D / dims["N"],
                "seed": seed,
                "max_steps": max_steps,
            }
            todo = [
                cell
                for cell in cells
                if cell_id({**base, **cell, "n_samples": n_samples, "sample_seed": sample_seed}) not in done
            ]
            if not todo and (lik_cell is None or cell_id({**base, **lik_cell}) in done):
                continue
            run_dir = Path(c["run_root"]) / f"{recipe}-D{D_value(D)}-s{seed}"
            cfg = {k: v for k, v in c.items() if k in TRAIN_KEYS}
            cfg.update(
                pfgm=dict(c["pfgm"], D=format_D(D)), trainer=dict(c["trainer"], seed=seed), run_dir=str(run_dir), resume="auto"
            )
            cfg["preview_samples"] = 0
            trained = run_training(cfg, dist)
            if trained["step"] < max_steps:  # stop_after ended this invocation early: sample when it is done
                print(
                    f"pfgm-bench sweep: {run_dir} stopped at step {trained['step']} of {max_steps}; run again to continue",
                    file=sys.stderr,
                )
                return written
            for cell in todo:
                ckpt = run_dir if cell["bits"] is None else _quantized_export(run_dir, cell["bits"])
                sc = {
                    "checkpoint": str(ckpt),
                    "num_samples": n_samples,
                    "seed": sample_seed,
                    "device": c["trainer"]["device"],
                    "sampler": {
                        **(c.get("sampler") or {}),
                        "solver": cell["solver"],
                        "steps": cell["steps"],
                        "alpha": cell["alpha"],
                    },
                    "progress": c["trainer"].get("progress", True),
                }
                t0 = time.perf_counter()
                mod, objects, info, samples = generate_from_checkpoint(sc, dist)
                sample_s = time.perf_counter() - t0
                ev = mod.evaluate(objects, samples)
                invalid = sum(o is None for o in objects)
                record = {
                    **base,
                    **cell,
                    "nfe": info.get("nfe_per_sample"),
                    "n_samples": n_samples,
                    "sample_seed": sample_seed,
                    "invalid": invalid,
                    **ev.metrics,
                    "train_seconds": trained.get("train_seconds"),
                    "sample_seconds": round(sample_s, 3),
                }
                if dist.is_main:
                    append_record(out, record)
                done.add(cell_id(record))
                written.append(record)
                shown = ", ".join(f"{k} {v:.4g}" for k, v in ev.metrics.items() if isinstance(v, float))[:160]
                print(
                    f"pfgm-bench sweep: D={D_value(D)} seed {seed} {cell['solver']} {cell['steps']} α={cell['alpha']:g} "
                    f"bits={cell['bits']}: {shown}",
                    file=sys.stderr,
                )
            if lik_cell is not None and cell_id({**base, **lik_cell}) not in done:
                record = {**base, **lik_cell, **_likelihood_record(run_dir, lik_cell, dist)}
                if dist.is_main:
                    append_record(out, record)
                done.add(cell_id(record))
                written.append(record)
                print(
                    f"pfgm-bench sweep: D={D_value(D)} seed {seed} likelihood: {record['bits_per_dim']:.4f} "
                    f"± {record['bits_per_dim_se']:.4f} bits/dim",
                    file=sys.stderr,
                )
    return written


def _likelihood_record(run_dir: Path, cell: dict[str, Any], dist: Any) -> dict[str, Any]:
    ckpt = load_checkpoint(run_dir, dist.device)
    t0 = time.perf_counter()
    lik = held_out_likelihood(
        ckpt.modality,
        ckpt.denoiser,
        ckpt.pfgm,
        ckpt.pfgm.D,
        LikelihoodOptions(num_items=cell["n_samples"], steps=cell["steps"]),
        seed=cell["sample_seed"],
        device=dist.device,
    )
    return {"nfe": lik.pop("likelihood_nfe"), **lik, "sample_seconds": round(time.perf_counter() - t0, 3)}
