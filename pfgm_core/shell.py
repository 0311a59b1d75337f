"""The radius shell a PFGM++ kernel trains the denoiser on, and the largest D whose shell covers
the states a sampler actually visits: the estimation-error argument of PFGM++ (Xu et al. 2023, §4)
made measurable.

At noise level σ the kernel puts the perturbation n = x − y at a radius whose law, in N dims, is

    ‖n‖² / (σ² N) ~ F(N, D)          (D = ∞: χ²_N / N)

because the t-kernel is σ·g/√(u/D) with g ~ N(0, I_N), u ~ χ²_D. So ρ = ‖n‖ / (σ√N) has
log-spread ≈ √(1/(2N) + 1/(2D)): the denoiser only ever sees states in that shell. A sampler with
large steps or injected errors visits states off the Gaussian shell (D = ∞); a finite D widens
the shell so those states were seen in training. Smaller D than needed costs training capacity on
the heavy tail (D = 1 trains badly), so the choice is the largest D whose shell still covers the
visited states. ``visited_log_ratio`` measures those states with a trained denoiser.
"""

from __future__ import annotations

import math
from typing import Callable

import torch
from torch import Tensor

from .errors import ConfigError
from .kernel import per_sample_dims

__all__ = ["shell_quantiles", "covering_D", "visited_log_ratio", "candidate_Ds"]

_DRAWS = 200_000


def shell_quantiles(N: float, D: float, probs: tuple[float, ...] = (0.01, 0.99), seed: int = 0) -> list[float]:
    """Quantiles of log ρ = log(‖n‖ / (σ√N)) under the kernel with augmented dimension D in N dims.

    Monte Carlo over 200k draws of ½·log F(N, D) with a fixed seed (torch has no F quantile
    function); the quantiles are good to about 1e-3 at the 1% / 99% levels."""
    g = torch.Generator().manual_seed(seed)
    chi_n = torch.distributions.Gamma(torch.tensor(N / 2, dtype=torch.float64), torch.tensor(0.5, dtype=torch.float64))
    # Gamma has no generator argument: draw through the global RNG inside a fork so callers' streams stay put
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(int(torch.randint(0, 2**31 - 1, (1,), generator=g)))
        log_f = chi_n.sample((_DRAWS,)).log() - math.log(N)
        if math.isfinite(D):
            chi_d = torch.distributions.Gamma(torch.tensor(D / 2, dtype=torch.float64), torch.tensor(0.5, dtype=torch.float64))
            log_f = log_f - (chi_d.sample((_DRAWS,)).log() - math.log(D))
    return torch.quantile(0.5 * log_f, torch.tensor(probs, dtype=torch.float64)).tolist()


def candidate_Ds(N: float) -> list[float]:
    """The D ladder the advisor chooses from: N·2^k for k = −6 … 3, rounded, at least 2, then ∞."""
    out: list[float] = []
    for k in range(-6, 4):
        D = float(max(2, round(N * 2.0**k)))
        if D not in out:
            out.append(D)
    return out + [math.inf]


def covering_D(N: float, visited: float, level: float = 0.9, candidates: list[float] | None = None) -> float:
    """The largest candidate D ≥ 2 whose shell reaches the visited states: the shell's ``level``
    quantile of log ρ is at least ``visited`` (the sampler's high quantile of log ρ). The smallest
    candidate when none does (no D of the ladder covers the sampler's states).

    Only the upper side counts: injected errors and overshooting steps leave states noisier than
    the shell (log ρ high); the low side, states the denoiser cleans less than σ says, appears only
    at σ near σ_min, where it is the denoiser's resolution limit and no D changes it."""
    # D < 2 is never advised: at D = 1 the kernel has no finite variance and training is unstable
    # (digits and community_small trained worst at D = 1 in every sampler cell of the sweep)
    cands = sorted((d for d in (candidates or candidate_Ds(N)) if d >= 2), reverse=True)
    if not cands:
        raise ConfigError(f"no candidate D ≥ 2 among {candidates}")
    for D in cands:
        if shell_quantiles(N, D, (level,))[0] >= visited:
            return D
    return cands[-1]


@torch.no_grad()
def visited_log_ratio(
    denoiser: Callable[..., Tensor], run: Callable[[Callable[..., Tensor]], Tensor], sigma_min: float = 0.0
) -> dict[str, Tensor]:
    """log ρ = log(‖x − D(x, σ)‖ / (σ√N_i)) at every denoiser call of one sampling run.

    ``run(wrapped)`` samples with ``wrapped`` in place of the denoiser; calls at σ ≤ sigma_min are
    skipped (there x ≈ D(x) and the ratio measures the denoiser's rounding, not the trajectory).
    Returns {"sigma": (calls,), "log_ratio": (calls, B)} in float64 on the CPU."""
    sigmas, ratios = [], []

    def wrapped(x: Tensor, sigma: Tensor, **kw) -> Tensor:
        den = denoiser(x, sigma, **kw)
        s = float(sigma.reshape(-1)[0])
        if s > sigma_min:
            mask = kw.get("mask")
            diff = (x - den).to(torch.float64)
            if mask is not None:
                diff = diff * mask.to(torch.float64)
            norm = diff.flatten(1).norm(dim=1)
            dims = per_sample_dims(x, mask)
            sigmas.append(s)
            ratios.append((norm / (s * dims.sqrt())).clamp_min(1e-300).log().cpu())
        return den

    run(wrapped)
    if not ratios:
        raise ValueError("no denoiser call above sigma_min: nothing to measure")
    return {"sigma": torch.tensor(sigmas, dtype=torch.float64), "log_ratio": torch.stack(ratios)}
