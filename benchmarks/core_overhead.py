"""What the PFGM++ core costs on top of the network: a measured report, not a test.

    python benchmarks/core_overhead.py [--repeats 15] [--threads 2] [--out benchmarks/results/core_overhead.json]

Each ratio compares two things timed alternately in the same loop (so drift and other load hit
both alike) and reports the median of the per-repeat ratios:

* sampler:  heun, 18 steps (35 NFE), batch 256  /  35 × one forward of the same conv net
* training: kernel draw + preconditioning + loss + backward  /  the net's forward + backward
* kernel:   PFGMKernel(D=128).noise for 256×3072  /  torch.randn(256, 3072)
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path

import torch
from torch import nn

from pfgm.core import Denoiser, PFGMKernel, PFGMLoss, karras_sigmas, sample


class SmallConvNet(nn.Module):
    """A small conv net standing in for a backbone: F(x_in, c_noise) → like x_in."""

    def __init__(self, ch: int = 3, width: int = 32):
        super().__init__()
        self.inp = nn.Conv2d(ch, width, 3, padding=1)
        self.mid = nn.Conv2d(width, width, 3, padding=1)
        self.emb = nn.Linear(1, width)
        self.out = nn.Conv2d(width, ch, 3, padding=1)

    def forward(self, x_in, c_noise, cond=None, mask=None):
        h = torch.relu(self.inp(x_in) + self.emb(c_noise[:, None])[:, :, None, None])
        return self.out(torch.relu(self.mid(h)))


def _time(fn) -> float:
    t = time.perf_counter()
    fn()
    return time.perf_counter() - t


def paired_ratio(a, b, repeats: int) -> tuple[float, float, float]:
    """Median over repeats of time(a)/time(b), timed alternately; plus the median times (s)."""
    a(), b()  # warm up (allocator, oneDNN primitives)
    ta, tb, r = [], [], []
    for _ in range(repeats):
        x, y = _time(a), _time(b)
        ta.append(x), tb.append(y), r.append(x / y)
    return statistics.median(r), statistics.median(ta), statistics.median(tb)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--repeats", type=int, default=15)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--out", type=Path, default=Path("benchmarks/results/core_overhead.json"))
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    B = 256
    net = SmallConvNet().eval()
    den = Denoiser(net, 0.5).eval()
    kernel = PFGMKernel(128)
    sigmas = karras_sigmas(18, 0.002, 80.0)
    x0 = kernel.prior((B, 3, 32, 32), 80.0, generator=torch.Generator().manual_seed(0))
    c = torch.zeros(B)
    rows = {}

    with torch.no_grad():

        def solver():
            info = {}
            sample(den, x0, sigmas, "heun", info=info)
            assert info["nfe"] == 35

        def forwards():
            for _ in range(35):
                net(x0, c)

        rows["sampler (heun 18 steps / 35 forwards)"] = paired_ratio(solver, forwards, max(3, args.repeats // 3))

    net.train()
    loss = PFGMLoss(kernel, sigma_data=0.5)
    y = torch.randn(B, 3, 32, 32) * 0.5
    g = torch.Generator().manual_seed(1)

    def train_full():
        loss(den, y, generator=g).mean().backward()

    def train_net():
        net(y, c).square().mean().backward()

    rows["training step (kernel + precond + loss + backward / net fwd + bwd)"] = paired_ratio(train_full, train_net, args.repeats)

    like = torch.zeros(B, 3072)
    rows["kernel draw D=128, 256×3072 / torch.randn"] = paired_ratio(
        lambda: kernel.noise(like, 1.0, generator=g), lambda: torch.randn(B, 3072, generator=g), args.repeats * 4
    )

    report = {k: {"ratio_median": r, "core_s_median": a, "baseline_s_median": b} for k, (r, a, b) in rows.items()}
    report["_meta"] = {"threads": args.threads, "repeats": args.repeats, "torch": torch.__version__, "batch": B}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2))
    print("| measurement | ratio (median) | core (s) | baseline (s) |\n|---|---|---|---|")
    for k, (r, a, b) in rows.items():
        print(f"| {k} | {r:.3f} | {a:.4f} | {b:.4f} |")


if __name__ == "__main__":
    main()
