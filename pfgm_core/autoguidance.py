"""Autoguidance: a denoiser guided by a weaker version of itself (Karras et al. 2024, "Guiding a
diffusion model with a bad version of itself", eq. 2):

    D_w(x, σ) = D₀(x, σ) + w·(D₁(x, σ) − D₀(x, σ))

with D₁ the model and D₀ a guide that makes the same kind of errors, only more of them (an
earlier checkpoint of the same run, or a smaller net trained on the same data). Since the denoiser
is affine in the score (D = x + σ²∇log p_σ at D = ∞, and the same ODE for every D), this is the
score of p₁^w · p₀^(1−w): for w > 1 it moves samples away from where the guide puts more mass than
the model, i.e. away from the errors both share, without a condition, a classifier or a reward.
w = 1 is the model alone, w = 0 the guide alone. It changes only the sampler's denoiser, so every
solver, D, redesign and snapping work with it unchanged; the cost is one more network call per NFE.

Closed form (tests/test_autoguidance.py): for y ~ N(0, a²) and a guide fitted to N(0, b²), the
ODE from σ_max = T maps x_T to x_T·√(b²/(b²+T²))·[(b²+T²)a² / ((a²+T²)b²)]^(w/2), whose spread at
large T is a·(a/b)^(w−1): a wider guide (b > a) sharpens the model's law.
"""

from __future__ import annotations

import math
from typing import Any, Callable

import torch
from torch import Tensor

from .errors import ConfigError

__all__ = ["AutoGuided", "check_guide_weight"]


def check_guide_weight(w: Any) -> float:
    """w must be a finite number ≥ 0 (w < 1 moves toward the guide; w = 1 is the model alone)."""
    if isinstance(w, bool) or not isinstance(w, (int, float)) or not math.isfinite(w) or w < 0:
        raise ConfigError(f"sampler.guide_weight must be a finite number ≥ 0 (1 = the model alone), got {w!r}")
    return float(w)


class AutoGuided:
    """denoiser(x, σ, **kw) = guide(x, σ, **kw) + w·(model(x, σ, **kw) − guide(x, σ, **kw)).

    Both nets see the same x, σ, cond and mask. A self-conditioning net receives the sampler's
    previous estimate, which is the guided one (what the sampler actually follows); a net without
    self-conditioning is not handed it.
    """

    def __init__(self, model: Callable[..., Tensor], guide: Callable[..., Tensor], weight: float):
        self.model, self.guide, self.weight = model, guide, check_guide_weight(weight)

    @property
    def self_condition(self) -> bool:
        return any(bool(getattr(n, "self_condition", False)) for n in (self.model, self.guide))

    @staticmethod
    def _call(net: Callable[..., Tensor], x: Tensor, sigma: Tensor, kw: dict[str, Any]) -> Tensor:
        if "self_cond" in kw and not getattr(net, "self_condition", False):
            kw = {k: v for k, v in kw.items() if k != "self_cond"}
        return net(x, sigma, **kw)

    def __call__(self, x: Tensor, sigma: Tensor, **kw: Any) -> Tensor:
        d1 = self._call(self.model, x, sigma, kw)
        d0 = self._call(self.guide, x, sigma, kw)
        return torch.lerp(d0, d1.to(d0.dtype), self.weight)  # d0 + w·(d1 − d0); exactly d0 where d1 = d0
