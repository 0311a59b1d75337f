"""pfgm-bench advise: which D to train a recipe with, from a short pilot and the data's dimension.

    pfgm-bench advise recipe=digits                    # best quality at the recipe's sampler
    pfgm-bench advise recipe=molecules goal=few_step   # heun 5 steps (9 NFE)
    pfgm-bench advise recipe=cdr3 goal=robust pilot=zoo:cdr3-Dinf

The estimation-error argument of PFGM++ (Xu et al. 2023, §4), measured: a pilot trained at D = ∞
for 8% of the recipe's steps samples with the goal's sampler, and every denoiser call records
how noisy its state is against what σ says, log ρ = log(‖x − D(x, σ)‖ / (σ√N)). Training at D puts
the states in a shell whose spread grows as D falls (:mod:`pfgm_core.shell`); the advice is the
largest D whose shell reaches the sampler's states (its 90% quantile ≥ the states' 99% quantile),
since a smaller D spends the network on a heavier tail than sampling needs (D < 2 is never advised). The last line printed is
JSON: {"D": number or "inf", "why": "..."}; a record also goes to ``out``. Calls below
``sigma_floor``·σ_data are not counted: there a state's value is decided and ρ measures the
denoiser's rounding.
"""

from __future__ import annotations

import json
import math
import sys
import time
from pathlib import Path
from typing import Any

import torch

from pfgm.core.errors import ConfigError
from pfgm.core.generate import generate
from pfgm.core.shell import candidate_Ds, covering_D, shell_quantiles, visited_log_ratio

from .build import load_checkpoint
from .sample import _generation
from .sweep import D_value, append_record, data_dimension, parse_ladder
from .train import run_training
from .validate import TRAIN_KEYS

__all__ = ["GOALS", "advise", "goal_sampler"]

#: goal → what the sampler does differently from the recipe's own
GOALS = {
    "quality": "the recipe's sampler",
    "few_step": "heun, 5 steps (9 NFE)",
    "robust": "the recipe's sampler with errors injected (x += α·σ·ε per step)",
}


def goal_sampler(goal: str, sampler: dict[str, Any], alpha: float) -> dict[str, Any]:
    """The sampler section the pilot is probed with for ``goal``."""
    if goal not in GOALS:
        raise ConfigError(f"goal must be one of {', '.join(GOALS)}; got {goal!r}")
    if goal == "few_step":
        return {**sampler, "solver": "heun", "steps": 5}
    if goal == "robust":
        return {**sampler, "alpha": alpha}
    return dict(sampler)


def _check(c: dict[str, Any]) -> None:
    """Every setting, before the pilot trains."""
    if c.get("goal") not in GOALS:
        raise ConfigError(f"goal must be one of {', '.join(GOALS)}; got {c.get('goal')!r}")
    for key, lo in (("num_samples", 16), ("pilot_steps", 1)):
        v = c.get(key)
        if v is not None and (isinstance(v, bool) or not isinstance(v, int) or v < lo):
            raise ConfigError(f"{key} must be a whole number ≥ {lo}, got {v!r}")
    f = c.get("pilot_fraction")
    if isinstance(f, bool) or not isinstance(f, (int, float)) or not 0 < f <= 1:
        raise ConfigError(f"pilot_fraction must be a number in (0, 1], got {f!r}")
    a = c.get("alpha")
    if isinstance(a, bool) or not isinstance(a, (int, float)) or not 0 < a < 10:
        raise ConfigError(f"alpha (the robust goal's error scale) must be a number in (0, 10), got {a!r}")
    fl = c.get("sigma_floor")
    if isinstance(fl, bool) or not isinstance(fl, (int, float)) or not 0 <= fl < 10:
        raise ConfigError(f"sigma_floor (in units of sigma_data) must be a number in [0, 10), got {fl!r}")
    lv = c.get("level")
    if isinstance(lv, bool) or not isinstance(lv, (int, float)) or not 0.5 <= lv < 1:
        raise ConfigError(f"level (the shell quantile that must reach the states) must be in [0.5, 1), got {lv!r}")


def _pilot(c: dict[str, Any], recipe: str, dist: Any) -> tuple[str, int, float]:
    """(checkpoint, pilot steps, pilot training seconds): the user's pilot, or a D = ∞ run trained here."""
    if c.get("pilot"):
        return str(c["pilot"]), 0, 0.0
    steps = c.get("pilot_steps") or max(1, round(float(c["pilot_fraction"]) * int(c["trainer"]["max_steps"])))
    run_dir = Path(c["run_root"]) / f"{recipe}-pilot-Dinf-{steps}"
    cfg = {k: v for k, v in c.items() if k in TRAIN_KEYS}
    cfg.update(
        pfgm=dict(c["pfgm"], D="inf"),
        trainer=dict(c["trainer"], max_steps=steps),
        run_dir=str(run_dir),
        resume="auto",
        preview_samples=0,
    )
    out = run_training(cfg, dist)
    if out["step"] < steps:
        raise RuntimeError(f"the pilot {run_dir} stopped at step {out['step']} of {steps}; run advise again to continue")
    return str(run_dir), steps, float(out.get("train_seconds") or 0.0)


def advise(c: dict[str, Any], dist: Any) -> dict[str, Any]:
    """Run the advisor for one recipe config; returns the record (also printed and appended to ``out``)."""
    _check(c)
    recipe = c.get("recipe_name") or (c.get("modality") or {}).get("name", "run")
    goal = c.get("goal", "quality")
    candidates = parse_ladder(c["candidates"]) if c.get("candidates") is not None else None
    if candidates is not None and not any(d >= 2 for d in candidates):  # before the pilot trains
        raise ConfigError(f"candidates must hold a D ≥ 2 (D = 1 is never advised), got {c['candidates']!r}")
    ckpt, pilot_steps, pilot_s = _pilot(c, recipe, dist)
    t0 = time.perf_counter()
    loaded = load_checkpoint(ckpt, dist.device)
    dims = data_dimension(loaded.modality.dataset("train"))
    N = float(dims["N"])
    sampler = goal_sampler(goal, dict(c.get("sampler") or {}), float(c["alpha"]))
    sc = {
        "num_samples": int(c["num_samples"]),
        "seed": int(c.get("seed", 0)),
        "sampler": sampler,
        "progress": c["trainer"].get("progress", True),
    }
    args, kw, info = _generation(sc, dist, *loaded, loaded.pfgm)
    # below a tenth of σ_data (by default) a state's value is decided: there ρ measures how the denoiser
    # rounds (a categorical head's softmax is never exactly one-hot), not where the trajectory went
    floor = float(c["sigma_floor"]) * float(loaded.pfgm.sigma_data)
    seen = visited_log_ratio(args[0], lambda wrapped: generate(wrapped, *args[1:], **kw), sigma_min=floor)
    per_step = torch.quantile(seen["log_ratio"], 0.99, dim=1)
    worst = int(per_step.argmax())
    visited = float(per_step[worst])
    level = float(c["level"])
    D = covering_D(N, visited, level, candidates)
    ladder = sorted(candidates or candidate_Ds(N))
    gaussian = shell_quantiles(N, math.inf, (level,))[0]
    reach = shell_quantiles(N, D, (level,))[0]
    larger = [d for d in ladder if d > D]
    probe_s = time.perf_counter() - t0
    why = (
        f"N = {dims['N']}: the {goal} sampler ({info['solver']} {info['steps']} steps"
        + (f", α = {sampler['alpha']:g}" if sampler.get("alpha") else "")
        + f") visits states with log ρ up to {visited:.3f} (99%, σ = {float(seen['sigma'][worst]):.3g}); "
        + (
            f"the D = ∞ shell reaches {gaussian:.3f}"
            if math.isinf(D)
            else f"the Gaussian shell reaches {gaussian:.3f}, D = {D_value(D)} reaches {reach:.3f}"
            + (f" and D = {D_value(larger[0])} only {shell_quantiles(N, larger[0], (level,))[0]:.3f}" if larger else "")
        )
        + f" ({level:.0%} quantile)"
    )
    if reach < visited:
        why += "; no candidate reaches the states: the smallest is advised, and the pilot may be too short"
    record = {
        "recipe": recipe,
        "goal": goal,
        "D": D_value(D),
        "N": dims["N"],
        "N_p10": dims["N_p10"],
        "N_p90": dims["N_p90"],
        "D_over_N": "inf" if math.isinf(D) else D / N,
        "visited_log_ratio": visited,
        "shell_level": level,
        "sigma_floor": floor,
        "shell_reach": reach,
        "gaussian_reach": gaussian,
        "pilot": ckpt,
        "pilot_steps": pilot_steps,
        "recipe_steps": int(c["trainer"]["max_steps"]),
        "pilot_seconds": round(pilot_s, 3),
        "probe_seconds": round(probe_s, 3),
        # the advice's cost against the recipe's whole training at the pilot's measured rate
        "cost_fraction": (
            round((pilot_s + probe_s) / (pilot_s / pilot_steps * int(c["trainer"]["max_steps"])), 4)
            if pilot_steps and pilot_s > 0
            else None
        ),
        "solver": info["solver"],
        "steps": info["steps"],
        "alpha": float(sampler.get("alpha") or 0.0),
        "num_samples": sc["num_samples"],
        "candidates": [D_value(d) for d in ladder],
        "why": why,
    }
    if dist.is_main:
        print(
            f"pfgm-bench advise: {recipe} | goal {goal} ({GOALS[goal]}) | N = {dims['N']} "
            f"(10–90%: {dims['N_p10']}–{dims['N_p90']})",
            file=sys.stderr,
        )
        print(
            f"  pilot: {ckpt}"
            + (
                f" ({pilot_steps} of the recipe's {record['recipe_steps']} steps, {pilot_s:.0f} s; "
                f"probe {probe_s:.0f} s; {record['cost_fraction']:.0%} of the recipe's training)"
                if record["cost_fraction"] is not None
                else f" (probe {probe_s:.0f} s)"
            ),
            file=sys.stderr,
        )
        by_sigma: dict[float, float] = {}
        for s, q in zip(seen["sigma"].tolist(), per_step.tolist()):
            by_sigma[s] = max(q, by_sigma.get(s, -math.inf))
        shown = sorted(by_sigma.items(), reverse=True)
        print(
            "  log ρ (99%) per σ: " + ", ".join(f"{s:.3g}: {q:.3f}" for s, q in shown[:: max(1, len(shown) // 10)]),
            file=sys.stderr,
        )
        print(
            "  shell reach per D: " + ", ".join(f"{D_value(d)}: {shell_quantiles(N, d, (level,))[0]:.3f}" for d in ladder),
            file=sys.stderr,
        )
        if c.get("out"):
            append_record(Path(c["out"]), record)
        print(json.dumps({"D": record["D"], "why": why}, ensure_ascii=False))
    return record
