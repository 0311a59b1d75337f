"""Pair storage vs the dense edge stream: same function, measured speed-up of forward + backward.

    python benchmarks/graph_pair_storage.py [--checkpoint RUN] [--reps 7] [--out benchmarks/results/graph_pair_storage.json]

The graph transformer once carried its edge stream as a dense (B, n, n, C) tensor; it now keeps
each unordered pair once (:mod:`modalities.graphs.pairs`). The dense version is read from the git
history (the commit before the change), given the same weights, and both are run side by side in
this process on the same noisy molecule batches: the report holds the largest output difference
per σ and the median forward + backward time of each, the two alternating.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
DENSE_COMMIT = "a53d4cb^"  # the parent of "graph transformer: keep the symmetric edge stream once per pair"


def dense_backbone_module():
    src = subprocess.run(
        ["git", "-C", str(ROOT), "show", f"{DENSE_COMMIT}:modalities/graphs/backbone.py"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    path = Path(tempfile.mkdtemp()) / "backbone_dense.py"
    path.write_text(src)
    spec = importlib.util.spec_from_file_location("pfgm.modalities.graphs.backbone_dense", path)
    mod = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = mod
    spec.loader.exec_module(mod)
    return mod


def fwd_bwd_seconds(net, x, c, mask) -> float:
    net.zero_grad(set_to_none=True)
    t = time.perf_counter()
    net(x, c, mask=mask).square().sum().backward()
    return time.perf_counter() - t


def side_by_side(nets: dict, x, c, mask, reps: int) -> dict[str, float]:
    """Median forward + backward seconds per net, the nets alternating within every repetition so
    that machine load hits them alike; one warm-up call each first."""
    times: dict[str, list[float]] = {k: [] for k in nets}
    for r in range(reps + 1):
        for k, net in nets.items():
            t = fwd_bwd_seconds(net, x, c, mask)
            if r:
                times[k].append(t)
    return {k: statistics.median(v) for k, v in times.items()}


def main() -> None:
    from pfgm.core.atomic import atomic_write_bytes
    from pfgm.recipes.build import load_checkpoint

    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--checkpoint", default="runs/bench9k/molecules-D128")
    ap.add_argument("--reps", type=int, default=7)
    ap.add_argument("--batch", type=int, default=128)
    ap.add_argument("--out", default="benchmarks/results/graph_pair_storage.json")
    args = ap.parse_args()
    torch.manual_seed(0)
    modality, den, cfg = load_checkpoint(args.checkpoint)
    pairs_net = den.backbone
    pairs_net.trim_padding = False  # pair storage alone; size-grouped trimming has its own report
    b = cfg["backbone"]
    L = pairs_net.layout
    dense_net = dense_backbone_module().GraphTransformer(
        L.n_max,
        L.node_dim,
        L.edge_dim,
        node_width=b["node_width"],
        edge_width=b["edge_width"],
        depth=b["depth"],
        heads=b["heads"],
        self_condition=b.get("self_condition", False),
        spectral=b.get("spectral", 0),
    )
    dense_net.load_state_dict(pairs_net.state_dict())
    data = modality.dataset("train")
    y, mask = data.x[: args.batch], data.mask[: args.batch]
    rows = []
    for sigma in (0.05, 0.5, 2.0, 20.0):
        x = (y + sigma * torch.randn_like(y)) * mask
        c = torch.full((len(y),), 0.25 * float(torch.log(torch.tensor(sigma))))
        with torch.no_grad():
            diff = (pairs_net(x, c, mask=mask) - dense_net(x, c, mask=mask)).abs().max().item()
        med = side_by_side({"pairs": pairs_net, "dense": dense_net}, x, c, mask, args.reps)
        t_pairs, t_dense = med["pairs"], med["dense"]
        rows.append({"sigma": sigma, "max_abs_diff": diff, "dense_s": t_dense, "pairs_s": t_pairs, "speedup": t_dense / t_pairs})
        print(f"σ={sigma:<5} max|diff| {diff:.1e}  dense {t_dense:.3f} s  pairs {t_pairs:.3f} s  ×{t_dense / t_pairs:.2f}")
    report = {
        "checkpoint": args.checkpoint,
        "batch": len(y),
        "n_max": L.n_max,
        "threads": torch.get_num_threads(),
        "median_speedup": statistics.median(r["speedup"] for r in rows),
        "rows": rows,
    }
    atomic_write_bytes(Path(args.out), json.dumps(report, indent=2).encode())
    print(f"median speed-up ×{report['median_speedup']:.2f} → {args.out}")


if __name__ == "__main__":
    main()
