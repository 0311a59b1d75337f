"""A DiffWave-style network for raw waveforms: F(x_in (B, C, L), c_noise (B,), cond) → (B, C, L).

Kong et al. 2021's layout, written from scratch: a stack of residual layers with dilated 1-D
convolutions (dilation 1, 2, 4, ... cycling), each adding a projection of the noise (and label)
embedding, a gated tanh·sigmoid unit and a 1×1 split into a residual and a skip path; the skips are
summed, scaled by 1/√layers and projected to the output. The receptive field grows as
2·(2^cycle − 1)·(layers / cycle) + 1 samples. The output projection is zero-initialised, so at
initialisation F ≡ 0 (the preconditioned denoiser starts as c_skip·x).
"""

from __future__ import annotations

from pfgm.core.errors import ConfigError
import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ..shared.conditioning import SigmaEmbedding

__all__ = ["DiffWave"]


class _Layer(nn.Module):
    def __init__(self, channels: int, emb_ch: int, dilation: int):
        super().__init__()
        self.conv = nn.Conv1d(channels, 2 * channels, 3, padding=dilation, dilation=dilation)
        self.emb = nn.Linear(emb_ch, channels)
        self.out = nn.Conv1d(channels, 2 * channels, 1)

    def forward(self, x: Tensor, emb: Tensor) -> tuple[Tensor, Tensor]:
        h = self.conv(x + self.emb(emb)[:, :, None])
        gate, filt = h.chunk(2, dim=1)
        h = torch.sigmoid(gate) * torch.tanh(filt)
        res, skip = self.out(h).chunk(2, dim=1)
        return (x + res) / math.sqrt(2), skip


class DiffWave(nn.Module):
    """Dilated residual 1-D network. Options: ``channels``, ``layers``, ``dilation_cycle`` (dilations
    1 … 2^(cycle−1), repeated), ``num_classes`` (0 = unconditional; label −1 = the learnt "no label"
    embedding used by classifier-free guidance), ``in_channels``. The mask, if given, zeroes padding."""

    def __init__(self, channels: int = 64, layers: int = 12, dilation_cycle: int = 6, num_classes: int = 0, in_channels: int = 1):
        super().__init__()
        if layers < 1 or dilation_cycle < 1:
            raise ConfigError(f"layers and dilation_cycle must be >= 1, got {layers}, {dilation_cycle}")
        self.num_classes, self.in_channels = int(num_classes), int(in_channels)
        emb_ch = 4 * channels
        self.noise_embed = SigmaEmbedding(channels, 0.1, 100.0)
        self.label_embed = nn.Embedding(num_classes + 1, channels) if num_classes > 0 else None
        self.emb_mlp = nn.Sequential(nn.Linear(channels, emb_ch), nn.SiLU(), nn.Linear(emb_ch, emb_ch), nn.SiLU())
        self.inp = nn.Conv1d(in_channels, channels, 1)
        self.layers = nn.ModuleList(_Layer(channels, emb_ch, 2 ** (i % dilation_cycle)) for i in range(layers))
        self.skip_proj = nn.Conv1d(channels, channels, 1)
        self.out = nn.Conv1d(channels, in_channels, 1)
        nn.init.zeros_(self.out.weight)
        nn.init.zeros_(self.out.bias)

    def forward(self, x_in: Tensor, c_noise: Tensor, cond: Tensor | None = None, mask: Tensor | None = None) -> Tensor:
        """x_in (B, C, L), c_noise (B,) = ln(σ)/4, cond (B,) long labels (−1 = none) or None."""
        if x_in.ndim != 3 or x_in.shape[1] != self.in_channels:
            raise ValueError(f"expected waveforms (B, {self.in_channels}, L), got {tuple(x_in.shape)}")
        b = x_in.shape[0]
        c_noise = c_noise.reshape(-1).expand(b) if c_noise.numel() == 1 else c_noise.reshape(-1)
        e = self.noise_embed(c_noise)
        if self.label_embed is not None:
            if cond is None:
                cond = torch.full((b,), -1, dtype=torch.long, device=x_in.device)
            idx = torch.where(cond < 0, torch.full_like(cond, self.num_classes), cond)
            e = e + self.label_embed(idx)
        emb = self.emb_mlp(e)
        h = self.inp(x_in)
        skips = torch.zeros_like(h)
        for layer in self.layers:
            h, s = layer(h, emb)
            skips = skips + s
        out = self.out(F.silu(self.skip_proj(skips / math.sqrt(len(self.layers)))))
        return out if mask is None else out * mask
