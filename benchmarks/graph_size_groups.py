"""Size-grouped batches vs padding to n_max: same function, measured speed of forward + backward.

    OMP_NUM_THREADS=1 python benchmarks/graph_size_groups.py [--reps 7] [--batch 128] \
        [--overheads 0,1,2,4,8] [--out benchmarks/results/graph_size_groups.json]

The graph transformer can cut a batch into groups of similar size and run each trimmed to its
largest graph (:mod:`modalities.graphs.size_groups`). This script takes real training batches of
the molecules recipe (NCI, ≤ 20 heavy atoms, the recipe's net at its initial weights: speed does
not depend on the weights), adds noise, and times one forward + backward with trimming off and on,
for several values of the cost model's per-pass overhead, all alternating within each repetition.
It also records the largest output difference, which must be rounding only.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path

import torch


def fwd_bwd_seconds(net, x, c, mask) -> float:
    net.zero_grad(set_to_none=True)
    t = time.perf_counter()
    net(x, c, mask=mask).square().sum().backward()
    return time.perf_counter() - t


def main() -> None:
    from omegaconf import OmegaConf

    from pfgm.modalities.graphs.size_groups import graph_cost, graph_size_groups as size_groups
    from pfgm.core.atomic import atomic_write_bytes
    from pfgm.core.trainer import IndexStream
    from pfgm.recipes.build import make_modality

    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--reps", type=int, default=7)
    ap.add_argument("--batch", type=int, default=128)
    ap.add_argument("--overheads", default="0,1,2,4,8", help="per-pass overhead, in graphs at n_max")
    ap.add_argument("--out", default="benchmarks/results/graph_size_groups.json")
    args = ap.parse_args()
    torch.manual_seed(0)
    recipe = OmegaConf.to_container(OmegaConf.load(Path(__file__).resolve().parents[1] / "configs/recipe/molecules.yaml"))
    modality = make_modality(recipe["modality"])
    net = modality.backbone(**recipe["backbone"])
    data = modality.dataset("train")
    L = net.layout
    overheads = [float(o) for o in args.overheads.split(",")]
    stream = IndexStream(len(data.x), args.batch, seed=0)
    rows = []
    for rep_batch, sigma in enumerate((0.05, 0.5, 2.0, 20.0)):
        idx = stream.batch(rep_batch)
        y, mask = data.x[idx], data.mask[idx]
        x = (y + sigma * torch.randn_like(y)) * mask
        c = torch.full((len(y),), 0.25 * float(torch.log(torch.tensor(sigma))))
        sizes = L.n_nodes(mask)
        variants = {"padded": None} | {f"groups@{o:g}": o for o in overheads}
        with torch.no_grad():
            net.trim_padding = False
            ref = net(x, c, mask=mask)
            net.trim_padding = True
            net.group_overhead = overheads[-1] * graph_cost(L.n_max)
            diff = (net(x, c, mask=mask) - ref).abs().max().item()
        times: dict[str, list[float]] = {k: [] for k in variants}
        for r in range(args.reps + 1):
            for k, o in variants.items():
                net.trim_padding = o is not None
                if o is not None:
                    net.group_overhead = o * graph_cost(L.n_max)
                t = fwd_bwd_seconds(net, x, c, mask)
                if r:  # the first round warms up
                    times[k].append(t)
        med = {k: statistics.median(v) for k, v in times.items()}
        groups = {f"groups@{o:g}": len(size_groups(sizes, o * graph_cost(L.n_max))) for o in overheads}
        row = {
            "sigma": sigma,
            "mean_nodes": sizes.float().mean().item(),
            "max_abs_diff": diff,
            "median_s": med,
            "num_groups": groups,
            "speedup": {k: med["padded"] / v for k, v in med.items() if k != "padded"},
        }
        rows.append(row)
        print(
            f"σ={sigma:<5} mean n {row['mean_nodes']:.1f}  max|diff| {diff:.1e}  padded {med['padded']:.3f} s  "
            + "  ".join(f"{k} ({groups[k]}) ×{s:.2f}" for k, s in row["speedup"].items())
        )
    best = {k: statistics.median(r["speedup"][k] for r in rows) for k in rows[0]["speedup"]}
    report = {
        "batch": args.batch,
        "n_max": L.n_max,
        "threads": torch.get_num_threads(),
        "reps": args.reps,
        "median_speedup": best,
        "rows": rows,
    }
    atomic_write_bytes(Path(args.out), json.dumps(report, indent=2).encode())
    print("median speed-up " + "  ".join(f"{k} ×{v:.2f}" for k, v in best.items()) + f" → {args.out}")


if __name__ == "__main__":
    main()
