"""What the categorical objective costs per training step beside the denoising one: a measured report.

    python benchmarks/objectives.py [--repeats 15] [--threads 1] [--out benchmarks/results/objectives.json]

One training step (kernel draw, self-conditioning pass, loss, backward) of the cdr3 recipe's ByteNet
at its batch (128 one-hot CDR3s of 10–30 residues), under ``pfgm.objective=denoising`` (EDM's
weighted squared error) and ``categorical`` (softmax head, cross-entropy), timed alternately on the
same weights; the median of the per-repeat ratios (core_overhead.py's method).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import torch

from core_overhead import paired_ratio
from pfgm.core import CategoricalDenoiser, Denoiser, PFGMKernel
from pfgm.core.loss import CategoricalLoss, PFGMLoss
from pfgm.modalities.sequences.backbone import build_backbone


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--repeats", type=int, default=15)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--out", type=Path, default=Path("benchmarks/results/objectives.json"))
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    B, L, K = 128, 30, 20
    net = build_backbone(K, L, width=128, depth=8, kernel=5, dilations=[1, 2, 4, 8], end_positions=True, self_condition=True)
    g = torch.Generator().manual_seed(1)
    lengths = torch.randint(10, L + 1, (B,), generator=g)
    mask = (torch.arange(L)[None] < lengths[:, None]).float()[..., None].expand(B, L, K).contiguous()
    y = (torch.nn.functional.one_hot(torch.randint(0, K, (B, L), generator=g), K).float() - 0.5) * mask
    kernel = PFGMKernel(128)
    steps = {
        "denoising": (Denoiser(net, 0.5), PFGMLoss(kernel, sigma_data=0.5)),
        "categorical": (CategoricalDenoiser(net, 0.5), CategoricalLoss(kernel, sigma_data=0.5)),
    }

    def step(name):
        den, loss = steps[name]
        net.zero_grad(set_to_none=True)
        loss(den, y, mask, generator=g).mean().backward()

    r, a, b = paired_ratio(lambda: step("categorical"), lambda: step("denoising"), args.repeats)
    report = {
        "categorical / denoising training step": {"ratio_median": r, "categorical_s_median": a, "denoising_s_median": b},
        "_meta": {
            "threads": args.threads,
            "repeats": args.repeats,
            "torch": torch.__version__,
            "batch": B,
            "net": "cdr3 recipe ByteNet (width 128, depth 8, self-conditioning)",
        },
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2))
    print(f"| categorical / denoising step | {r:.3f} | {a:.4f} s | {b:.4f} s |")


if __name__ == "__main__":
    main()
