"""FiLM, the σ conditioning every sequence block uses: h · (1 + scale) + shift, both from the noise embedding."""

from __future__ import annotations

from torch import Tensor, nn


def film(proj: nn.Linear, h: Tensor, e: Tensor) -> Tensor:
    """h (B, L, C) modulated by e (B, E) through proj: E → 2C (scale, shift), shared over positions."""
    scale, shift = proj(e).unsqueeze(1).chunk(2, dim=-1)
    return h * (1 + scale) + shift
