"""Which sampler a molecules checkpoint should ship with: validity, connectivity and rings per setting.

    OMP_NUM_THREADS=1 python benchmarks/molecule_samplers.py [CHECKPOINT] [--seeds 0 1] [--arms NAME ...]
        [--out benchmarks/results/molecule_samplers.json]

CHECKPOINT defaults to zoo:molecules. Every arm sets solver, steps, σ_max, ρ and churn itself (churn on
σ ∈ [0.05, 5], γ capped at √2 − 1 as in EDM), so a row means the same whatever sampler the
checkpoint carries. 1,000 samples per arm and seed, no correction; pfgm-eval's metrics, of which the
table shows the ones the choice turns on.

Why σ_max and ρ matter here: the one-hot entries are decided at σ ≈ 0.3–2, and with EDM's σ_max = 80
and ρ = 7 only 6 of 35 Euler steps fall there. At σ = 10 the perturbation (σ·√N ≈ 300 for N ≈ 1,000
entries) still dwarfs the data (‖x‖ ≈ 16), so starting there costs nothing in prior mismatch.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

BAND = {"churn_sigma_min": 0.05, "churn_sigma_max": 5.0, "churn_noise": 1.0}  # the recipe's churn band
#: name -> sampler settings (every arm sets these five, on top of BAND)
ARMS: dict[str, dict] = {
    "euler35 (recipe)": {"solver": "euler", "steps": 35, "sigma_max": 80.0, "rho": 7.0, "churn": 14.5},
    "euler35 no churn": {"solver": "euler", "steps": 35, "sigma_max": 80.0, "rho": 7.0, "churn": 0.0},
    "euler35 σmax10": {"solver": "euler", "steps": 35, "sigma_max": 10.0, "rho": 7.0, "churn": 14.5},
    "euler35 σmax10 ρ10": {"solver": "euler", "steps": 35, "sigma_max": 10.0, "rho": 10.0, "churn": 14.5},
    "heun18 no churn": {"solver": "heun", "steps": 18, "sigma_max": 80.0, "rho": 7.0, "churn": 0.0},
    "heun18": {"solver": "heun", "steps": 18, "sigma_max": 80.0, "rho": 7.0, "churn": 14.5},
    "heun18 σmax10 no churn": {"solver": "heun", "steps": 18, "sigma_max": 10.0, "rho": 7.0, "churn": 0.0},
    "heun18 σmax10 ρ10": {"solver": "heun", "steps": 18, "sigma_max": 10.0, "rho": 10.0, "churn": 14.5},
    "euler70": {"solver": "euler", "steps": 70, "sigma_max": 80.0, "rho": 7.0, "churn": 14.5},
    "heun35": {"solver": "heun", "steps": 35, "sigma_max": 80.0, "rho": 7.0, "churn": 14.5},
}
SHOWN = (
    "validity",
    "valid_connected",
    "fragments_1",
    "ring_size_tv",
    "aromatic_rings_per_mol",
    "uniqueness",
    "novelty",
    "fcd",
    "nspdk",
)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("checkpoint", nargs="?", default="zoo:molecules")
    ap.add_argument("--seeds", type=int, nargs="+", default=[0])
    ap.add_argument("--arms", nargs="+", default=list(ARMS), choices=list(ARMS), metavar="NAME")
    ap.add_argument("--num", type=int, default=1000)
    ap.add_argument("--out", type=Path, default=None)
    a = ap.parse_args()

    from pfgm.core.atomic import atomic_write_text
    from pfgm.core.distributed import init_distributed
    from pfgm.core.solvers import nfe_for
    from pfgm.recipes.sample import load_for_sampling, sample_loaded

    dist = init_distributed("cpu")
    base = {"checkpoint": a.checkpoint, "num_samples": a.num, "device": "cpu", "progress": False}
    modality, den, config = load_for_sampling({**base, "seed": 0, "sampler": {}}, dist)
    rows = []
    print("| arm | NFE | seed | " + " | ".join(SHOWN) + " |\n|" + " --- |" * (3 + len(SHOWN)), flush=True)
    for name in a.arms:
        s = {**BAND, **ARMS[name]}
        nfe = nfe_for(s["solver"], s["steps"])
        for seed in a.seeds:
            c = {**base, "seed": seed, "sampler": dict(s)}
            _, objects, _, samples = sample_loaded(c, dist, modality, den, config)
            m = modality.evaluate(objects, samples).metrics
            rows.append({"arm": name, "sampler": s, "nfe": nfe, "seed": seed, "metrics": m})
            print(f"| {name} | {nfe} | {seed} | " + " | ".join(f"{m.get(k, float('nan')):.3f}" for k in SHOWN) + " |", flush=True)
    if rows:
        ref = {k: rows[0]["metrics"][k] for k in rows[0]["metrics"] if k.startswith("ref_")}
        print("reference (test split):", ", ".join(f"{k} {v:.3f}" for k, v in ref.items()))
    if a.out:
        command = f"OMP_NUM_THREADS=1 python benchmarks/molecule_samplers.py {a.checkpoint} --seeds {' '.join(map(str, a.seeds))}"
        if a.arms != list(ARMS):
            command += " --arms " + " ".join(f'"{n}"' for n in a.arms)
        if a.num != 1000:
            command += f" --num {a.num}"
        atomic_write_text(
            a.out,
            json.dumps(
                {"checkpoint": a.checkpoint, "num_samples": a.num, "rows": rows, "command": command + f" --out {a.out}"}, indent=1
            )
            + "\n",
        )


if __name__ == "__main__":
    main()
