"""EDM's preconditioning around any backbone, and an estimate of σ_data.

    D(x, σ) = c_skip(σ)·x + c_out(σ)·F(c_in(σ)·x, c_noise(σ))          (Karras et al. 2022, eq. 7)
    c_skip = σ_d²/(σ²+σ_d²),  c_out = σ·σ_d/√(σ²+σ_d²),  c_in = 1/√(σ²+σ_d²),  c_noise = ln(σ)/4

PFGM++ keeps these for every D with the alignment r = σ√D (Xu et al. 2023, Sec. 4).

For categorical data (shifted one-hot along the last axis) :class:`CategoricalDenoiser` replaces the
output mapping by a softmax: D(x, σ) = softmax(F(c_in·x, c_noise)) − shift, the posterior mean of a
one-hot vector written with the net's class probabilities, trained by cross-entropy
(Dieleman et al. 2022, "Continuous diffusion for categorical data", Sec. 3: score interpolation).
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from .errors import ConfigError
from .kernel import as_batch_sigma

__all__ = ["Denoiser", "CategoricalDenoiser", "estimate_sigma_data"]


class Denoiser(nn.Module):
    """Wraps a backbone F(x_in, c_noise, cond=None, mask=None) into the denoiser D(x, σ).

    x: (B, *shape); sigma: scalar or (B,); mask like x (output is zero on padding, so padded
    entries stay exactly 0 through sampling); cond: (B,) labels (−1 = none) or (B, k) floats.

    Self-conditioning (Chen et al. 2023, "Analog Bits", Sec. 3.2): a backbone with the attribute
    ``self_condition = True`` also receives ``self_cond`` (like x), a previous estimate of the clean
    data in data units (zeros = none yet); the loss and the sampler supply it.
    """

    def __init__(self, backbone: nn.Module, sigma_data: float = 0.5):
        super().__init__()
        if not sigma_data > 0:
            raise ConfigError(f"sigma_data must be > 0; got {sigma_data}")
        self.backbone = backbone
        self.sigma_data = float(sigma_data)

    @property
    def self_condition(self) -> bool:
        return bool(getattr(self.backbone, "self_condition", False))

    def _net(
        self, x: Tensor, sigma: float | Tensor, cond: Tensor | None, mask: Tensor | None, self_cond: Tensor | None
    ) -> tuple[Tensor, Tensor]:
        """(σ as (B, 1, …), F(c_in·x, c_noise)): the backbone's raw output, in x's dtype."""
        s = as_batch_sigma(sigma, x.shape[0], x.dim(), x.device, dtype=torch.float32 if x.dtype != torch.float64 else x.dtype)
        c_in = 1 / (s**2 + self.sigma_data**2).sqrt()
        x_in = (c_in * x).to(x.dtype)
        c_noise = (s.log().flatten() / 4).to(x.dtype)
        if self.self_condition:
            sc = torch.zeros_like(x) if self_cond is None else self_cond.to(x.dtype)
            return s, self.backbone(x_in, c_noise, cond=cond, mask=mask, self_cond=sc)
        return s, self.backbone(x_in, c_noise, cond=cond, mask=mask)

    def forward(
        self,
        x: Tensor,
        sigma: float | Tensor,
        cond: Tensor | None = None,
        mask: Tensor | None = None,
        self_cond: Tensor | None = None,
    ) -> Tensor:
        s, F = self._net(x, sigma, cond, mask, self_cond)
        F = F.to(s.dtype)
        sd = self.sigma_data
        c_skip = sd**2 / (s**2 + sd**2)
        c_out = s * sd / (s**2 + sd**2).sqrt()
        if torch.is_grad_enabled() or F.requires_grad or F._base is not None:
            out = c_skip * x + c_out * F
            if mask is not None:
                out = out * mask.to(out.dtype)
        else:
            # Sampling: reuse the storage of F (a fresh tensor, no autograd to protect) — one fewer
            # full-size temporary per call, which is most of the solver's overhead on CPU.
            out = F.mul_(c_out).addcmul_(x.to(s.dtype), c_skip)
            if mask is not None:
                out.mul_(mask.to(out.dtype))
        return out.to(x.dtype)


class CategoricalDenoiser(Denoiser):
    """D(x, σ) = softmax(F(c_in·x, c_noise, …)) − shift over the last axis (K ≥ 2 classes).

    The estimate is the expectation of the shifted one-hot vector under the net's class
    probabilities, so it always lies on the data's simplex; its cross-entropy minimiser is the
    exact posterior, whose expectation is the same E[y | x] the squared error is minimised by —
    samplers, redesign and snapping use it unchanged. ``logits=True`` returns F itself (B, …, K),
    for the loss. Padding (mask 0) is zero in the estimate, as for :class:`Denoiser`.
    """

    def __init__(self, backbone: nn.Module, sigma_data: float = 0.5, shift: float = 0.5):
        super().__init__(backbone, sigma_data)
        self.shift = float(shift)

    def forward(
        self,
        x: Tensor,
        sigma: float | Tensor,
        cond: Tensor | None = None,
        mask: Tensor | None = None,
        self_cond: Tensor | None = None,
        logits: bool = False,
    ) -> Tensor:
        s, F = self._net(x, sigma, cond, mask, self_cond)
        if logits:
            return F
        out = torch.softmax(F.to(s.dtype), dim=-1) - self.shift
        if mask is not None:
            out = out * mask.to(out.dtype)
        return out.to(x.dtype)


@torch.no_grad()
def estimate_sigma_data(x: Tensor, mask: Tensor | None = None) -> float:
    """RMS of the real entries of a data sample: √E[y²].

    The second moment, not the variance, is what the preconditioning's derivation uses
    (c_skip minimises (1 − c_skip)²·E[y²] + c_skip²·σ²), so non-centred data such as
    one-hot graphs gets the right skip weight.
    """
    x = x.to(torch.float64)
    if mask is None:
        return float(x.square().mean().sqrt())
    m = mask.to(torch.float64)
    n = m.sum()
    if n <= 0:
        raise ValueError("estimate_sigma_data: the mask selects no entries")
    return float(((x * m).square().sum() / n).sqrt())
