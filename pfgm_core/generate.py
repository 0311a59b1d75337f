"""Seeded, shardable generation: sample i is a function of (seed + i) alone.

Global sample indices are cut into fixed batches [k·bs, (k+1)·bs); batch k runs on rank k mod W.
Within a batch, each sample draws its layout (size, cond) and its prior from its own generator
seeded with seed + i, and the batch's error-injection and churn noise from a generator seeded by
its first index, so the outputs do not depend on the world size.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

import torch
from torch import Tensor

from .distributed import all_gather_objects
from .kernel import PFGMKernel
from .progress import Progress
from .solvers import sample

__all__ = ["GenerateConfig", "generate"]


@dataclass
class GenerateConfig:
    num_samples: int = 64
    seed: int = 0
    batch_size: int = 256
    solver: str = "heun"
    steps: int = 18
    sigma_min: float = 0.002
    sigma_max: float = 80.0
    rho: float = 7.0
    guidance: float = 1.0
    alpha: float = 0.0
    churn: float = 0.0  # heun and euler: EDM's stochastic sampler (Alg. 2), see solvers.sample_heun
    churn_min: float = 0.0
    churn_max: float = float("inf")
    churn_noise: float = 1.0

    def __post_init__(self) -> None:
        if self.churn < 0:
            raise ValueError(f"sampler.churn must be ≥ 0, got {self.churn}")
        if self.churn > 0 and self.solver not in ("heun", "euler"):
            raise ValueError(f"sampler.churn is an option of the heun and euler solvers, not {self.solver!r}")

    def solver_options(self) -> dict[str, float]:
        if self.churn == 0:
            return {}
        return {"churn": float(self.churn), "churn_min": float(self.churn_min),
                "churn_max": float(self.churn_max), "churn_noise": float(self.churn_noise)}


@torch.no_grad()
def generate(
    denoiser: Callable[..., Tensor],
    kernel: PFGMKernel,
    layout: Callable[[int, torch.Generator], Any],
    sigmas: Tensor,
    cfg: GenerateConfig,
    device: torch.device | str = "cpu",
    rank: int = 0,
    world: int = 1,
    progress: bool = True,
    info: dict | None = None,
) -> tuple[Tensor, Tensor | None, Tensor | None]:
    """Generate cfg.num_samples samples; returns (x, mask, cond) for all samples in index order on
    every rank (gathered across ranks when world > 1).

    layout(1, generator) → an object with .x (1, *shape) zeros, .mask, .cond (see modalities.base).
    """
    n, bs = cfg.num_samples, cfg.batch_size
    batches = [k for k in range((n + bs - 1) // bs) if k % world == rank]
    bar = Progress(n, enabled=progress and rank == 0, desc="sample", unit="sample")
    mine: dict[int, tuple[Tensor, Tensor | None, Tensor | None]] = {}
    nfe = 0
    for k in batches:
        idx = range(k * bs, min((k + 1) * bs, n))
        xs, ms, cs = [], [], []
        for i in idx:
            g = torch.Generator().manual_seed(cfg.seed + i)
            lay = layout(1, g)
            mask = lay.mask
            xs.append(kernel.noise(torch.zeros_like(lay.x, dtype=torch.float32), cfg.sigma_max, mask, g))
            ms.append(mask)
            cs.append(lay.cond)
        x0 = torch.cat(xs).to(device)
        mask = None if ms[0] is None else torch.cat(ms).to(device)
        cond = None if cs[0] is None else torch.cat(cs).to(device)
        g_alpha = torch.Generator(device=device).manual_seed(cfg.seed + idx[0] + 1_000_000_007)
        batch_info: dict = {}
        x = sample(denoiser, x0, sigmas, cfg.solver, mask=mask, cond=cond, guidance=cfg.guidance,
                   alpha=cfg.alpha, generator=g_alpha, info=batch_info, **cfg.solver_options())
        nfe = batch_info["nfe"]
        mine[k] = (x.cpu(), None if mask is None else mask.cpu(), None if cond is None else cond.cpu())
        bar.update(len(idx) * world)
    bar.close()
    if world > 1:
        merged: dict[int, Any] = {}
        for part in all_gather_objects(mine):
            merged.update(part)
        mine = merged
    order = sorted(mine)
    cat = lambda j: None if mine[order[0]][j] is None else torch.cat([mine[k][j] for k in order])
    if info is not None:
        info["nfe_per_sample"] = nfe
    return cat(0), cat(1), cat(2)
