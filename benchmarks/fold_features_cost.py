"""What ``backbone.fold_features`` costs: a training step (self-conditioning pass + trained pass, forward and
backward) of each RNA recipe's ByteNet with and without the ViennaRNA folding of the estimate, timed
interleaved in one run, medians.

    OMP_NUM_THREADS=1 python benchmarks/fold_features_cost.py --out benchmarks/results/fold_features_cost.json
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from pfgm.modalities.sequences.backbone import build_backbone  # noqa: E402
from pfgm.modalities.sequences.fold_features import FoldFeatures  # noqa: E402
from pfgm.modalities.sequences.rna import TARGETS, helix_extensions, partners  # noqa: E402


def step_seconds(net: torch.nn.Module, batch: int, L: int, reps: int, gen: torch.Generator) -> list[float]:
    out = []
    for _ in range(reps):
        x = torch.randn(batch, L, 4, generator=gen) * 0.5
        c = torch.randn(batch, generator=gen)
        t0 = time.perf_counter()
        with torch.no_grad():
            est = net(x, c)  # the self-conditioning pass; its output is what gets folded
        net(x, c, self_cond=est).square().mean().backward()
        out.append(time.perf_counter() - t0)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--reps", type=int, default=20)
    ap.add_argument("--out", default=None)
    args = ap.parse_args()
    report = {"command": " ".join(["python", *sys.argv]), "threads": torch.get_num_threads(), "families": {}}
    for family, batch in (("hairpin", 128), ("trna", 64)):  # each recipe's batch size
        target = TARGETS[family]
        L = len(target)
        times: dict[str, list[float]] = {"without": [], "with": []}
        nets = {}
        for arm in times:
            torch.manual_seed(0)
            nets[arm] = build_backbone(
                4,
                L,
                width=128,
                depth=8,
                end_positions=True,
                self_condition=True,
                partners=[partners(target), helix_extensions(target)],
                fold=FoldFeatures("ACGU", target) if arm == "with" else None,
            )
        gen = torch.Generator().manual_seed(0)
        for _ in range(3):  # interleaved rounds, so a change of machine load hits both arms
            for arm, net in nets.items():
                times[arm] += step_seconds(net, batch, L, args.reps, gen)
        med = {arm: statistics.median(t) for arm, t in times.items()}
        report["families"][family] = {"batch": batch, "length": L, "median_step_s": med, "ratio": med["with"] / med["without"]}
        print(
            f"{family}: batch {batch}, step {med['without'] * 1e3:.1f} ms without, {med['with'] * 1e3:.1f} ms with fold "
            f"features ({med['with'] / med['without']:.2f}x)"
        )
    if args.out:
        Path(args.out).write_text(json.dumps(report, indent=1) + "\n")


if __name__ == "__main__":
    main()
