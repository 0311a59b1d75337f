"""pfgm-bench: train one recipe for several D and score them side by side, in one run.

    pfgm-bench recipe=digits Ds=[128,inf] num_samples=1000 out=benchmarks/results/digits.json
    pfgm-bench recipe=molecules Ds=[inf,2048,128] trainer.max_steps=4000

Each D trains into run_root/<recipe>-D<D> (resumed if present, so an interrupted benchmark
continues), then samples num_samples at the sampler's settings and reports the modality's
metrics, the NFE and the wall times. The sampler is this run's ``sampler`` section (the recipe's
plus overrides), also for a reused run trained when the recipe sampled differently.
Results: JSON (atomic) plus a Markdown table on stdout.
"""

from __future__ import annotations

import json
import math
import sys
import time
from pathlib import Path
from typing import Any

from pfgm.core.atomic import atomic_write_bytes
from pfgm.core.distributed import cleanup, init_distributed

from pfgm.core.config import parse_D

from .build import plain
from .cli import apply_group_choices, print_catalogue, run_hydra, user_errors
from .sample import generate_from_checkpoint
from .train import run_training
from .validate import TRAIN_KEYS, check_bench

__all__ = ["run_bench", "main"]


def _label(D: float) -> str:
    return "inf" if math.isinf(D) else f"{D:g}"


def run_bench(c: dict[str, Any]) -> dict[str, Any]:
    mode = check_bench(c)  # the whole config, before any training
    dist = init_distributed(c.get("trainer", {}).get("device", "auto"))
    recipe = c.get("recipe_name") or c.get("modality", {}).get("name", "run")
    rows = []
    for D_raw in c["Ds"]:
        D = parse_D(D_raw)
        run_dir = Path(c["run_root"]) / f"{recipe}-D{_label(D)}"
        cfg = {k: v for k, v in c.items() if k in TRAIN_KEYS}
        cfg["pfgm"] = dict(c["pfgm"], D=D_raw)
        cfg["run_dir"] = str(run_dir)
        # continue or reuse a run only if it was trained with these settings (else a ValueError naming
        # the fields): a reused checkpoint is never reported as settings it was not trained with
        cfg["resume"] = mode
        out = run_training(cfg, dist)
        train_s = out.get("train_seconds")  # over every invocation, also for a run reused as it was
        t1 = time.perf_counter()
        sc = {
            "checkpoint": str(run_dir),
            "num_samples": c["num_samples"],
            "seed": c["seed"],
            "device": c["trainer"]["device"],
            "sampler": dict(c.get("sampler") or {}),
            "progress": c["trainer"].get("progress", True),
        }
        modality, objects, info, samples = generate_from_checkpoint(sc, dist)
        sample_s = time.perf_counter() - t1
        ev = modality.evaluate(objects, samples) if dist.is_main else None
        metrics = ev.metrics if ev is not None else {}
        rows.append(
            {
                "D": _label(D),
                "train_seconds": train_s,
                "sample_seconds": sample_s,
                "nfe": info.get("nfe_per_sample"),
                "solver": info["solver"],
                "steps": info["steps"],
                "max_steps": c["trainer"]["max_steps"],
                "num_samples": c["num_samples"],
                **metrics,
                **({"notes": list(ev.notes)} if ev is not None and ev.notes else {}),
            }
        )
    report = {"recipe": recipe, "rows": rows}
    if dist.is_main:
        if c.get("out"):
            atomic_write_bytes(Path(c["out"]), json.dumps(report, indent=2, default=str).encode())
        keys = [k for k in rows[0] if k not in ("solver", "max_steps", "notes")]
        print("| " + " | ".join(keys) + " |")
        print("|" + "---|" * len(keys))
        for r in rows:
            print("| " + " | ".join(f"{r[k]:.4g}" if isinstance(r[k], float) else str(r[k]) for k in keys) + " |")
    return report


#: subcommands: pfgm-bench <name> [overrides] → (config name, runner); no name is the side-by-side table
SUBCOMMANDS = {"sweep": "sweep", "advise": "advise"}


def _hydra_main(command: str | None) -> None:
    import hydra
    from hydra.core.hydra_config import HydraConfig

    config_name = SUBCOMMANDS.get(command, "bench") if command else "bench"
    label = f"pfgm-bench {command}" if command else "pfgm-bench"

    @hydra.main(version_base="1.3", config_path="pkg://pfgm.configs", config_name=config_name)
    def app(cfg) -> None:
        apply_group_choices(cfg, HydraConfig.get().overrides.task, config_name)  # pfgm=edm wins over the recipe
        with user_errors(label):
            c = plain(cfg)
        if not c.get("modality"):
            print_catalogue()
            return
        c["recipe_name"] = HydraConfig.get().runtime.choices.get("recipe")
        with user_errors(label):
            try:
                if command == "sweep":
                    from .sweep import run_sweep

                    run_sweep(c)
                elif command == "advise":
                    from .advise import advise

                    advise(c, init_distributed(c.get("trainer", {}).get("device", "auto")))
                else:
                    run_bench(c)
            finally:
                cleanup()

    run_hydra(label, app)


def main() -> None:
    command = None
    if len(sys.argv) > 1 and sys.argv[1] in SUBCOMMANDS:
        command = sys.argv.pop(1)
    _hydra_main(command)


if __name__ == "__main__":
    main()
