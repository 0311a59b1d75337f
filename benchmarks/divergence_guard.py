"""What the trainer's non-finite guard costs per training step: a measured report, not a test.

    python benchmarks/divergence_guard.py [--recipe digits] [--repeats 60] [--threads 2]

Two trainers of the same recipe step alternately (so load hits both alike): one with the guard
(finite check of the loss and the gradient norm, one scalar read per step), one whose check is
replaced by a constant True. Reported: the median of the per-pair ratios of step times.
Writes benchmarks/results/divergence_guard.json.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
import warnings
from pathlib import Path

import torch

from pfgm.core.config import PFGMConfig
from pfgm.core.distributed import init_distributed
from pfgm.core.trainer import Trainer, TrainerConfig
from pfgm.recipes.build import make_denoiser, make_modality
from pfgm.recipes.cli import compose


def make_trainer(cfg: dict, guarded: bool) -> Trainer:
    modality = make_modality(cfg["modality"])
    pfgm = PFGMConfig.from_dict({**cfg["pfgm"], "sigma_data": cfg["pfgm"].get("sigma_data") or 0.5})
    torch.manual_seed(0)
    den = make_denoiser(modality, cfg["backbone"], float(pfgm.sigma_data), pfgm.objective)
    trainer = Trainer(
        den,
        pfgm.loss(),
        modality.dataset("train"),
        TrainerConfig.from_dict(cfg["trainer"]),
        init_distributed("cpu"),
        None,
        collate=modality.collate,
    )
    if not guarded:
        trainer._finite = lambda loss_sum, grad_norm: True
    return trainer


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--recipe", default="digits")
    ap.add_argument("--repeats", type=int, default=60)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--out", type=Path, default=Path("benchmarks/results/divergence_guard.json"))
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    warnings.simplefilter("ignore")
    cfg = compose("train", [f"recipe={args.recipe}"])
    guarded, bare = make_trainer(cfg, True), make_trainer(cfg, False)
    for t in (guarded, bare):
        t.model.train()
        t.train_step()  # warm up
    ratios, tg, tb = [], [], []
    for i in range(args.repeats):
        times = {}
        for name in ("guarded", "bare") if i % 2 == 0 else ("bare", "guarded"):  # alternate who goes first
            t = time.perf_counter()
            (guarded if name == "guarded" else bare).train_step()
            times[name] = time.perf_counter() - t
        tg.append(times["guarded"]), tb.append(times["bare"]), ratios.append(times["guarded"] / times["bare"])
    report = {
        "recipe": args.recipe,
        "ratio_median": statistics.median(ratios),
        "guarded_step_s_median": statistics.median(tg),
        "unguarded_step_s_median": statistics.median(tb),
        "repeats": args.repeats,
        "threads": args.threads,
        "command": f"python benchmarks/divergence_guard.py --recipe {args.recipe} --repeats {args.repeats} --threads {args.threads}",
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2) + "\n")
    print("| recipe | guarded / unguarded step (median) | guarded step (s) | unguarded step (s) |\n|---|---|---|---|")
    print(
        f"| {args.recipe} | {report['ratio_median']:.4f} | {report['guarded_step_s_median']:.4f} | {report['unguarded_step_s_median']:.4f} |"
    )


if __name__ == "__main__":
    main()
