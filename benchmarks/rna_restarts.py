"""Restart sampling (Xu et al. 2023) on an RNA-family model: after a full solve, re-noise the samples to
sigma_r with the PFGM++ kernel and solve again from there, K times, scoring after every restart.

    python benchmarks/rna_restarts.py CHECKPOINT --guide zoo:rna_trna-guide --w 5 --sigma-r 0.5 --steps-r 8 \
        --restarts 6 --num-samples 300 --seed 0 --out restarts.json

With fold features in the net (the rna_trna recipe), each restart lets the net see what its decided sequence
folds into and change it: a Markov chain whose fold rate settles where the model's own distribution is
(docs/sequences.md). Prints one line per restart; --out keeps every line and the command.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from pfgm.modalities.base import Encoded  # noqa: E402
from pfgm.core.atomic import atomic_write_text  # noqa: E402
from pfgm.core.distributed import init_distributed  # noqa: E402
from pfgm.core.generate import generate  # noqa: E402
from pfgm.core.solvers import sample  # noqa: E402
from pfgm.recipes.build import sigmas_for  # noqa: E402
from pfgm.recipes.sample import _generation, load_for_sampling  # noqa: E402

SHOWN = ("fold_to_target", "mfe_mean", "bp_distance_mean", "internal_diversity", "novelty")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("checkpoint")
    ap.add_argument("--guide", default=None, help="sampler.guide (autoguidance), e.g. zoo:rna_trna-guide")
    ap.add_argument("--w", type=float, default=1.0, help="sampler.guide_weight")
    ap.add_argument("--sigma-r", type=float, default=0.5)
    ap.add_argument("--steps-r", type=int, default=8)
    ap.add_argument("--restarts", type=int, default=6)
    ap.add_argument("--num-samples", type=int, default=300)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", default=None)
    a = ap.parse_args()
    dist = init_distributed("auto")
    sampler = {"guide": a.guide, "guide_weight": a.w} if a.guide else {}
    c = {
        "checkpoint": a.checkpoint,
        "num_samples": a.num_samples,
        "seed": a.seed,
        "device": str(dist.device),
        "D": None,
        "progress": False,
        "sampler": sampler,
    }
    modality, den, config = load_for_sampling(c, dist)
    (gden, kernel, blank, sigmas, g), kw, _ = _generation(c, dist, modality, den, config)
    t0 = time.perf_counter()
    x, mask, cond = generate(gden, kernel, blank, sigmas, g, **kw)

    def score(x: torch.Tensor) -> dict[str, float]:
        m = modality.evaluate(modality.decode(x, mask, cond), Encoded(x, mask, cond)).metrics
        return {k: round(float(m[k]), 4) for k in SHOWN}

    rows = [{"restart": 0, **score(x), "seconds": round(time.perf_counter() - t0, 1)}]
    print(json.dumps(rows[-1]), flush=True)
    sig_r = sigmas_for(dataclasses.replace(g, sigma_max=a.sigma_r, steps=a.steps_r), dist.device)
    gen = torch.Generator(device=dist.device).manual_seed(a.seed + 7)
    dev = lambda t: None if t is None else t.to(dist.device)  # noqa: E731
    x, mask_d, cond_d = dev(x), dev(mask), dev(cond)
    for r in range(1, a.restarts + 1):
        x = sample(
            gden,
            x + kernel.noise(x, a.sigma_r, mask_d, gen),
            sig_r,
            g.solver,
            mask=mask_d,
            cond=cond_d,
            generator=gen,
            **g.solver_options(),
        ).cpu()
        rows.append({"restart": r, **score(x), "seconds": round(time.perf_counter() - t0, 1)})
        print(json.dumps(rows[-1]), flush=True)
        x = x.to(dist.device)
    if a.out:
        atomic_write_text(
            Path(a.out),
            json.dumps({"command": "python benchmarks/rna_restarts.py " + " ".join(sys.argv[1:]), "rows": rows}, indent=1),
        )


if __name__ == "__main__":
    main()
