"""σ conditioning shared by every backbone: the noise-level embedding and FiLM.

``SigmaEmbedding`` turns EDM's c_noise = ln(σ)/4 (B,) into sin/cos features at fixed log-spaced
frequencies; ``film`` modulates activations by a scale and a shift computed from such an embedding.

c_noise spans only about [-1.6, 1.1] for σ ∈ [0.002, 80], so the useful frequencies are O(0.1)–O(100)
rad per unit of c_noise (rather than the 1/10000..1 of integer-timestep embeddings): the slow ones give a
near-linear code of the level, the fast ones resolve nearby levels. Each backbone keeps the range it
was trained with (its weights read the features in that order), given as arguments:

* U-Net and DiffWave: 0.1 … 100, cos then sin;
* graphs: 1 … 10⁻⁴ (the last excluded) applied to 100·c_noise, cos then sin;
* sequences: 1 … 1000, sin then cos, the frequencies computed in float32;
* DDPM++ (images at the paper's scale): 1 … 10⁻⁴, sin then cos (EDM's positional embedding).
"""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn

from pfgm.core.errors import ConfigError

__all__ = ["SigmaEmbedding", "film"]


class SigmaEmbedding(nn.Module):
    """c_noise (B,) → (B, dim) sin/cos features at dim/2 fixed log-spaced frequencies; no parameters.

    The frequencies f_k run geometrically from ``first`` to ``last`` (included unless ``endpoint`` is
    false), computed in ``dtype`` and kept in float32; the features are cos(a_k), sin(a_k) (sin first when
    ``sin_first``) of a_k = (scale·c_noise)·f_k, in float32.
    """

    def __init__(
        self,
        dim: int,
        first: float = 0.1,
        last: float = 100.0,
        *,
        endpoint: bool = True,
        scale: float = 1.0,
        sin_first: bool = False,
        dtype: torch.dtype = torch.float64,
    ):
        super().__init__()
        if dim < 2 or dim % 2:
            raise ConfigError(f"the noise embedding width (the backbone's channels) must be even and positive, got {dim}")
        if first <= 0 or last <= 0:
            raise ValueError(f"noise embedding frequencies must be positive, got {first} and {last}")
        n = dim // 2
        log_f = torch.linspace(math.log(first), math.log(last), n if endpoint else n + 1, dtype=dtype)[:n]
        self.register_buffer("freqs", log_f.exp().float(), persistent=False)
        self.scale, self.sin_first = float(scale), bool(sin_first)

    def forward(self, c_noise: Tensor) -> Tensor:
        a = c_noise.float().reshape(-1, 1)
        if self.scale != 1.0:
            a = self.scale * a
        a = a * self.freqs.reshape(1, -1)
        return torch.cat([a.sin(), a.cos()] if self.sin_first else [a.cos(), a.sin()], dim=1)


def film(x: Tensor, shift: Tensor, scale: Tensor) -> Tensor:
    """FiLM: x · (1 + scale) + shift. x (B, …, d); shift and scale (B, d), shared over the middle axes."""
    view = (x.shape[0],) + (1,) * (x.dim() - 2) + (x.shape[-1],)
    return x * (1 + scale.view(view)) + shift.view(view)
