"""The PFGM++ training loss: EDM's denoising loss with noise drawn from the PFGM++ kernel.

    L = E_{σ, y, n ~ p_σ(·|y)} [ λ(σ) · ‖Dθ(y + n, σ) − y‖² / N ],   λ(σ) = (σ² + σ_d²)/(σ·σ_d)²
    σ ~ exp(N(P_mean, P_std²))                           (Karras et al. 2022, eq. 8 and Table 1;
                                                          Xu et al. 2023, Alg. 1 with r = σ√D)

Self-conditioning (when the denoiser's backbone asks for it): for a random half of the batch the
net first denoises without it (no gradient) and then again given that estimate, so at sampling
time it can be fed its previous step's output (Chen et al. 2023, "Analog Bits", Sec. 3.2).

For masked (variable-size) data the squared error is summed over real entries and divided by
each sample's own N_i, so padding never contributes and every sample weighs the same.

:class:`CategoricalLoss` (with :class:`~pfgm_core.precond.CategoricalDenoiser`) trains the same noisy
inputs by cross-entropy on the class of every position instead (Dieleman et al. 2022, Sec. 3):

    L = E_{σ, y, n} [ −(1/P) Σ_p log softmax(Fθ(y + n, σ))_p[c_p] ],   c_p = argmax y_p
"""

from __future__ import annotations

from typing import Callable

import torch
from torch import Tensor

from .kernel import PFGMKernel, per_sample_dims
from .schedule import LogNormalSigma

__all__ = ["PFGMLoss", "CategoricalLoss", "drop_cond", "null_cond"]


def null_cond(cond: Tensor, drop: Tensor) -> Tensor:
    """Replace the cond of samples where ``drop`` (B,) is True by "none": −1 for labels, NaN for floats."""
    drop = drop.to(cond.device).reshape(-1, *([1] * (cond.dim() - 1)))
    null = torch.tensor(-1 if not cond.is_floating_point() else float("nan"), dtype=cond.dtype, device=cond.device)
    return torch.where(drop, null, cond)


def drop_cond(cond: Tensor | None, p: float, generator: torch.Generator | None = None) -> Tensor | None:
    """Classifier-free guidance label dropout: each sample's cond becomes "none" with probability p."""
    if cond is None or p <= 0:
        return cond
    return null_cond(cond, torch.rand(cond.shape[0], generator=generator, device=cond.device) < p)


class PFGMLoss:
    """Per-sample PFGM++ loss. A kernel with ``D = math.inf`` gives EDM's loss exactly.

    ``sigma_sampler(n, generator, device)`` draws the training σ's (default EDM's lognormal,
    P_mean = −1.2, P_std = 1.2; :class:`~pfgm_core.config.PFGMConfig` builds it from a config).
    """

    def __init__(
        self,
        kernel: PFGMKernel,
        sigma_data: float = 0.5,
        cond_drop_prob: float = 0.0,
        sigma_sampler: Callable[..., Tensor] | None = None,
        self_cond_prob: float = 0.5,
    ):
        self.kernel = kernel
        self.sigma_data = float(sigma_data)
        self.cond_drop_prob = float(cond_drop_prob)
        self.sigma_sampler = sigma_sampler or LogNormalSigma()
        self.self_cond_prob = float(self_cond_prob)

    def weight(self, sigma: Tensor) -> Tensor:
        sd = self.sigma_data
        return (sigma**2 + sd**2) / (sigma * sd) ** 2

    def __call__(
        self,
        model: Callable[..., Tensor],
        y: Tensor,
        mask: Tensor | None = None,
        cond: Tensor | None = None,
        generator: torch.Generator | None = None,
        sigma: Tensor | None = None,
        noise: Tensor | None = None,
        drop: Tensor | None = None,
        self_cond: Tensor | None = None,
    ) -> Tensor:
        """model: the preconditioned denoiser Dθ(x, σ, cond, mask); y: (B, *shape) clean data; mask like y;
        cond (B,) / (B, k). Returns the loss per sample, (B,).

        ``sigma`` (B,) fixes the noise levels (tests, per-σ diagnostics); otherwise they are drawn.
        ``noise`` (like y) supplies a kernel draw made elsewhere: the trainer draws it for the whole
        global batch so that a sample's noise does not depend on how the batch is split over ranks.
        ``drop`` (B,) bool likewise fixes which samples lose their cond (else drawn with cond_drop_prob).
        ``self_cond`` (B,) bool fixes which samples get a self-conditioning estimate (else drawn with
        self_cond_prob); it only matters when the denoiser's backbone uses self-conditioning.
        """
        B = y.shape[0]
        if sigma is None:
            sigma = self.sigma_sampler(B, generator=generator, device=y.device)
        sigma = sigma.to(device=y.device, dtype=torch.float32 if y.dtype != torch.float64 else y.dtype)
        if noise is None:
            n = self.kernel.noise(y, sigma, mask, generator)
        else:
            n = noise if mask is None else noise * mask.to(noise.dtype)
        if cond is not None and drop is not None:
            cond = null_cond(cond, drop)
        else:
            cond = drop_cond(cond, self.cond_drop_prob, generator)
        x = y + n
        if getattr(getattr(model, "module", model), "self_condition", False):
            if self_cond is None:
                self_cond = torch.rand(B, generator=generator, device=y.device) < self.self_cond_prob
            estimate = torch.zeros_like(x)
            idx = self_cond.to(y.device).nonzero().flatten()
            if len(idx):
                with torch.no_grad():  # only the second pass is trained (Analog Bits, Alg. 1)
                    sub = lambda t: None if t is None else t[idx]
                    estimate[idx] = model(x[idx], sigma[idx], cond=sub(cond), mask=sub(mask)).to(x.dtype)
        else:
            estimate = None
        return self.per_sample(model, x, sigma.reshape(B), y, cond, mask, estimate)

    def per_sample(
        self,
        model: Callable[..., Tensor],
        x: Tensor,
        sigma: Tensor,
        y: Tensor,
        cond: Tensor | None,
        mask: Tensor | None,
        estimate: Tensor | None,
    ) -> Tensor:
        """λ(σ)·‖Dθ(x, σ) − y‖² / N_i for noisy x, sigma (B,), the self-conditioning estimate or None."""
        B = y.shape[0]
        extra = {} if estimate is None else {"self_cond": estimate}
        denoised = model(x, sigma, cond=cond, mask=mask, **extra)
        err = (denoised - y).square()
        if mask is not None:
            err = err * mask.to(err.dtype)
        sq = err.reshape(B, -1).sum(1)
        N = per_sample_dims(y, mask).to(sq.dtype)
        return self.weight(sigma).to(sq.dtype) * sq / N


class CategoricalLoss(PFGMLoss):
    """Cross-entropy of the class at every real position (y: shifted one-hot, classes on the last axis),
    averaged over each sample's positions. The model must be a :class:`~pfgm_core.precond.CategoricalDenoiser`
    (it is called with ``logits=True``). Noise, σ law, label dropout and self-conditioning as PFGMLoss."""

    def per_sample(
        self,
        model: Callable[..., Tensor],
        x: Tensor,
        sigma: Tensor,
        y: Tensor,
        cond: Tensor | None,
        mask: Tensor | None,
        estimate: Tensor | None,
    ) -> Tensor:
        B = y.shape[0]
        extra = {} if estimate is None else {"self_cond": estimate}
        logits = model(x, sigma, cond=cond, mask=mask, logits=True, **extra)
        nll = -torch.log_softmax(logits.to(torch.float32 if y.dtype != torch.float64 else y.dtype), dim=-1)
        nll = nll.gather(-1, y.argmax(-1, keepdim=True)).squeeze(-1).reshape(B, -1)  # (B, P)
        if mask is None:
            return nll.mean(1)
        real = mask[..., 0].reshape(B, -1).to(nll.dtype)
        return (nll * real).sum(1) / real.sum(1).clamp_min(1)
