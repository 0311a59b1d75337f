"""σ schedules: the sampling discretisation and the training σ distributions.

Schedules are separate from solvers (k-diffusion style): a solver takes any decreasing
1-D tensor of σ's ending in 0.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

from .errors import ConfigError

__all__ = ["karras_sigmas", "LogNormalSigma", "LogUniformSigma"]


def karras_sigmas(num_steps: int, sigma_min: float, sigma_max: float, rho: float = 7.0, device=None) -> Tensor:
    """EDM's discretisation (Karras et al. 2022, eq. 5), float64, length num_steps + 1, ending in 0.

    σ_i = (σ_max^(1/ρ) + i/(n−1) · (σ_min^(1/ρ) − σ_max^(1/ρ)))^ρ,  i = 0 … n−1;  σ_n = 0.
    """
    if num_steps < 1:
        raise ConfigError(f"num_steps must be ≥ 1; got {num_steps}")
    if not (0 < sigma_min <= sigma_max):
        raise ConfigError(f"need 0 < sigma_min ≤ sigma_max; got sigma_min={sigma_min}, sigma_max={sigma_max}")
    if num_steps == 1:
        body = torch.tensor([float(sigma_max)], dtype=torch.float64, device=device)
    else:
        ramp = torch.linspace(0, 1, num_steps, dtype=torch.float64, device=device)
        lo, hi = sigma_min ** (1 / rho), sigma_max ** (1 / rho)
        body = (hi + ramp * (lo - hi)) ** rho
    return torch.cat([body, body.new_zeros(1)])


class LogNormalSigma:
    """Training σ ~ exp(N(P_mean, P_std²)) (EDM, Table 1)."""

    def __init__(self, P_mean: float = -1.2, P_std: float = 1.2):
        if P_std <= 0:
            raise ConfigError(f"P_std must be > 0; got {P_std}")
        self.P_mean, self.P_std = float(P_mean), float(P_std)

    def __call__(self, n: int, generator: torch.Generator | None = None, device=None) -> Tensor:
        z = torch.randn(n, generator=generator, device=device)
        return (self.P_mean + self.P_std * z).exp()


class LogUniformSigma:
    """Training σ log-uniform on [σ_min, σ_max]: equal weight on every noise octave."""

    def __init__(self, sigma_min: float = 0.002, sigma_max: float = 80.0):
        if not (0 < sigma_min < sigma_max):
            raise ConfigError(f"need 0 < sigma_min < sigma_max; got {sigma_min}, {sigma_max}")
        self.lo, self.hi = math.log(sigma_min), math.log(sigma_max)

    def __call__(self, n: int, generator: torch.Generator | None = None, device=None) -> Tensor:
        u = torch.rand(n, generator=generator, device=device)
        return (self.lo + (self.hi - self.lo) * u).exp()
