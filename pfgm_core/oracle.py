"""The exact denoiser of a finite data set under the PFGM++ kernel, in closed form.

    E[y | x] = Σ_i w_i y_i,   w_i ∝ π_i · (‖x − y_i‖² + σ²D)^(−(N+D)/2)     (D = ∞: π_i · exp(−‖x − y_i‖²/2σ²))

It is the best possible network: an ODE solved with it from the prior must land on the data
points, which tests kernel, prior, solver and schedule together, and it gives the
quality-per-NFE curves of the benchmarks without training.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn

from .kernel import as_batch_sigma, check_D

__all__ = ["OracleDenoiser"]


class OracleDenoiser(nn.Module):
    """D(x, σ) = E[y | x] for data points ``points`` (K, *shape) with optional probabilities (K,).

    ``masks`` (K, *shape) makes a variable-size set: a query with mask m is denoised against
    the points whose mask equals m (N = m.sum()), as a sample of that size would be.
    """

    def __init__(self, points: Tensor, D: float, weights: Tensor | None = None, masks: Tensor | None = None):
        super().__init__()
        self.D = check_D(D)
        K = points.shape[0]
        w = torch.full((K,), 1.0 / K, dtype=torch.float64) if weights is None else weights.to(torch.float64)
        self.register_buffer("points", points.to(torch.float64))
        self.register_buffer("log_w", (w / w.sum()).log())
        self.register_buffer("masks", None if masks is None else masks.to(torch.float64))

    def forward(self, x: Tensor, sigma: float | Tensor, cond: Tensor | None = None, mask: Tensor | None = None) -> Tensor:
        B = x.shape[0]
        s = as_batch_sigma(sigma, B, 2, x.device).reshape(B, 1)
        xf = x.to(torch.float64).reshape(B, -1)
        P = self.points.reshape(self.points.shape[0], -1)
        d2 = torch.cdist(xf, P).square()  # (B, K)
        logits = self.log_w.unsqueeze(0).expand(B, -1).clone()
        if self.masks is not None:
            if mask is None:
                raise ValueError("this oracle has variable-size points; pass the query's mask")
            M = self.masks.reshape(self.masks.shape[0], -1)
            same = (mask.to(torch.float64).reshape(B, -1).unsqueeze(1) == M.unsqueeze(0)).all(-1)  # (B, K)
            logits = logits.masked_fill(~same, -math.inf)
            N = M.sum(1).unsqueeze(0)  # (1, K)
        else:
            N = torch.full((1, P.shape[0]), float(P.shape[1]), dtype=torch.float64, device=x.device)
        if math.isinf(self.D):
            logits = logits - d2 / (2 * s * s)
        else:
            logits = logits - 0.5 * (N + self.D) * torch.log(d2 + s * s * self.D)
        w = torch.softmax(logits, dim=1)
        out = (w @ P).reshape(x.shape)
        if mask is not None:
            out = out * mask.to(out.dtype)
        return out.to(x.dtype)
