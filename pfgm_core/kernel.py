"""PFGM++'s perturbation kernel and prior, exact for every augmented dimension D ∈ [1, ∞].

With the alignment r = σ√D, PFGM++'s kernel (Xu et al. 2023, eq. 4)

    p_σ(x | y) ∝ (‖x − y‖² + σ²D)^(−(N+D)/2)

is a multivariate Student-t with ν = D degrees of freedom and scale σ. It is therefore drawn
exactly as a Gaussian scale mixture, one χ²_D variable per sample:

    x = y + σ · g / √(u / D),   g ~ N(0, I_N),   u ~ χ²_D.

D = ∞ gives u/D = 1, EDM's Gaussian kernel. N never enters the draw, so masked data of
variable size is exact too: each sample is a t-variable in its own N_i = mask_i.sum() dims.
(The official code draws a Beta(N/2, D/2) radius with a fixed N and clips it, which truncates
the tails when D ≪ N; we do not.)
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

from .errors import ConfigError

__all__ = ["PFGMKernel", "check_D", "sample_chi2", "per_sample_dims", "as_batch_sigma"]


def check_D(D: float) -> float:
    """Validate the augmented dimension: a real number ≥ 1, or math.inf."""
    try:
        d = float(D)
    except (TypeError, ValueError):
        raise ConfigError(f"augmented dimension D must be a number ≥ 1 or inf; got {D!r}") from None
    if math.isnan(d) or d < 1:
        raise ConfigError(f"augmented dimension D must be ≥ 1 (1 = PFGM, inf = EDM); got D={D!r}")
    return d


def as_batch_sigma(sigma: float | Tensor, batch: int, ndim: int, device, dtype=torch.float64) -> Tensor:
    """σ as a (B, 1, …, 1) tensor of ``ndim`` dims; accepts a scalar, (B,), or (B, 1, …)."""
    s = torch.as_tensor(sigma, dtype=dtype, device=device)
    if s.numel() == 1:
        s = s.reshape(1).expand(batch)
    elif s.numel() == batch:
        s = s.reshape(batch)
    else:
        raise ValueError(f"sigma must be a scalar or have one value per sample ({batch}); got shape {tuple(s.shape)}")
    return s.reshape(batch, *([1] * (ndim - 1)))


def per_sample_dims(x: Tensor, mask: Tensor | None) -> Tensor:
    """N_i, the number of real entries of each sample: (B,) float64."""
    if mask is None:
        return torch.full((x.shape[0],), float(x[0].numel()), dtype=torch.float64, device=x.device)
    return mask.reshape(mask.shape[0], -1).to(torch.float64).sum(1)


def _standard_gamma(shape: float, n: int, generator: torch.Generator | None, device) -> Tensor:
    """n draws of Gamma(shape, 1) in float64 through ``generator`` (torch's own gamma takes none).

    Marsaglia & Tsang (2000), with the boost Gamma(a) = Gamma(a + 1) · U^(1/a) for a < 1.
    Rejection is vectorised: only the rejected entries are redrawn (acceptance > 95%).
    """
    a = shape + 1.0 if shape < 1.0 else shape
    d = a - 1.0 / 3.0
    c = 1.0 / math.sqrt(9.0 * d)
    out = torch.empty(n, dtype=torch.float64, device=device)
    todo = torch.arange(n, device=device)
    while todo.numel() > 0:
        m = todo.numel()
        z = torch.randn(m, generator=generator, dtype=torch.float64, device=device)
        un = torch.rand(m, generator=generator, dtype=torch.float64, device=device)
        v = (1.0 + c * z) ** 3
        ok = v > 0
        logv = torch.log(torch.where(ok, v, torch.ones_like(v)))
        ok &= torch.log(un) < 0.5 * z * z + d - d * v + d * logv
        out[todo[ok]] = (d * v)[ok]
        todo = todo[~ok]
    if shape < 1.0:
        u = torch.rand(n, generator=generator, dtype=torch.float64, device=device)
        # log-space keeps U^(1/a) from underflowing to exactly 0 for a = 1/2.
        out = torch.exp(torch.log(out) + torch.log(u) / shape)
    return out


def sample_chi2(D: float, n: int, generator: torch.Generator | None = None, device=None) -> Tensor:
    """n draws of u ~ χ²_D (float64). χ²_D = 2·Gamma(D/2, 1)."""
    return 2.0 * _standard_gamma(D / 2.0, n, generator, device)


class PFGMKernel:
    """The PFGM++ perturbation kernel with augmented dimension D (``math.inf`` = EDM)."""

    def __init__(self, D: float = math.inf):
        self.D = check_D(D)

    @property
    def is_gaussian(self) -> bool:
        return math.isinf(self.D)

    def __repr__(self) -> str:
        return f"PFGMKernel(D={self.D:g})"

    def scale(self, batch: int, generator: torch.Generator | None = None, device=None) -> Tensor:
        """The per-sample factor 1/√(u/D) of the scale mixture: (B,) float64 (ones when D = ∞)."""
        if self.is_gaussian:
            return torch.ones(batch, dtype=torch.float64, device=device)
        u = sample_chi2(self.D, batch, generator, device)
        # P(u < 1e-300) is ~1e-150 even at D = 1; the floor only guards against log(0) underflow.
        return torch.rsqrt(u.clamp_min(1e-300) / self.D)

    def noise(
        self,
        like: Tensor,
        sigma: float | Tensor,
        mask: Tensor | None = None,
        generator: torch.Generator | None = None,
    ) -> Tensor:
        """A perturbation n = x − y ~ p_σ, shaped like ``like``, zero where ``mask`` is 0.

        like: (B, *shape); sigma: scalar, (B,) or (B, 1, …) — every value > 0;
        mask: like ``like`` (1 = real entry) or None. Returns a tensor of like's dtype/device.
        """
        B = like.shape[0]
        s = as_batch_sigma(sigma, B, like.dim(), like.device)
        if not bool((s > 0).all()):
            raise ValueError(f"sigma must be > 0; got min sigma={float(s.min()):g}")
        g = torch.randn(like.shape, generator=generator, dtype=like.dtype, device=like.device)
        if mask is not None:
            g.mul_(mask.to(like.dtype))
        k = (s.flatten() * self.scale(B, generator, like.device)).reshape(s.shape)
        # In place: the draw is memory-bound, a second full-size temporary would cost ~30%.
        return g.mul_(k.to(like.dtype))

    def prior(
        self,
        shape: tuple[int, ...],
        sigma_max: float,
        mask: Tensor | None = None,
        generator: torch.Generator | None = None,
        dtype: torch.dtype = torch.float32,
        device=None,
    ) -> Tensor:
        """A draw from the prior at σ_max: the kernel around 0. shape = (B, *sample_shape)."""
        zeros = torch.zeros(shape, dtype=dtype, device=device)
        return self.noise(zeros, sigma_max, mask, generator)

    def log_prob(self, n: Tensor, sigma: float | Tensor, mask: Tensor | None = None) -> Tensor:
        """Per-sample log density of the perturbation n under p_σ, in each sample's N_i dims: (B,) float64.

        Student-t:  lgamma((D+N)/2) − lgamma(D/2) − (N/2)·log(πDσ²) − ((D+N)/2)·log1p(r²/(Dσ²))
        Gaussian:   −(N/2)·log(2πσ²) − r²/(2σ²),  r² = ‖n‖² over the real entries.
        """
        B = n.shape[0]
        s = as_batch_sigma(sigma, B, 2, n.device).reshape(B)
        if not bool((s > 0).all()):
            raise ValueError(f"sigma must be > 0; got min sigma={float(s.min()):g}")
        n64 = n.to(torch.float64)
        if mask is not None:
            n64 = n64 * mask.to(torch.float64)
        r2 = n64.reshape(B, -1).square().sum(1)
        N = per_sample_dims(n, mask)
        if self.is_gaussian:
            return -0.5 * N * torch.log(2 * math.pi * s * s) - r2 / (2 * s * s)
        D = self.D
        # float64 lgamma keeps ~1e-8 absolute accuracy even at D = 1e7, where the terms are ~1e8.
        return (
            torch.lgamma((D + N) / 2)
            - math.lgamma(D / 2)
            - 0.5 * N * torch.log(math.pi * D * s * s)
            - 0.5 * (D + N) * torch.log1p(r2 / (D * s * s))
        )
