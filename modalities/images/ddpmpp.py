"""DDPM++ at the paper's scale: the U-Net PFGM++ and EDM train on CIFAR-10 and FFHQ-64.

The architecture of Song et al. (2021)'s DDPM++ in the form of EDM's ``SongUNet`` (Karras et al.
2022, App. F.2, "config F"), the one the official PFGM++ code trains, written here from the
description. For CIFAR-10: 128 base channels × (2, 2, 2) at 32, 16, 8 pixels, 4 residual blocks per
resolution, self-attention at 16×16, dropout 0.13, a 9-d augmentation label: 55.7M parameters.

    c_noise ─ sin/cos(128) ─ Linear 512 ─ SiLU ─ Linear 512 ─ SiLU ─▶ emb   (+ label, + augment label)
    x ─ conv 3×3 ─ [level: down-block?, num_blocks × Block] × levels           (every output kept as a skip)
      ─ Block+attn, Block ─ [level: up-block?, (num_blocks + 1) × Block(cat skip)] × levels
      ─ GroupNorm ─ SiLU ─ conv 3×3 ─▶ F

    Block(x, emb) = ( conv₁(drop(SiLU(GN(conv₀(SiLU(GN(x))) + Linear(emb))))) + skip(x) ) / √2
                    [then, with attention: (x + proj(softmax(qᵀk/√C)·v)) / √2]

Down/up-sampling inside a block is a 2×2 box filter (average pooling) / nearest-neighbour doubling
before conv₀ and in the 1×1 skip projection (EDM's resample filter [1, 1]). Convolutions and linear
layers are Xavier-uniform initialised with zero biases; the last conv of each block, the attention
projection and the output conv start at 1e-5 of that (so F starts near 0, the denoiser near c_skip·x).

The conditioning arrives as the backbone's ``cond``: integer class labels (B,) (−1 = none), or, when
images are augmented, float rows (B, [1 +] augment_dim): [label,] augmentation label (NaN = none).
"""

from __future__ import annotations

import math
from typing import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from pfgm.core.errors import ConfigError
from ..shared.conditioning import SigmaEmbedding
from ..shared.unet import resample2d

__all__ = ["DDPMpp", "noise_embedding"]


def _xavier(m: nn.Module, gain: float = 1.0) -> nn.Module:
    """Xavier-uniform weights (fans of a conv count its kernel) scaled by ``gain``, zero bias."""
    w = m.weight
    fan_out, fan_in = w.shape[0] * w[0, 0].numel(), w.shape[1] * w[0, 0].numel()
    bound = gain * math.sqrt(6.0 / (fan_in + fan_out))
    with torch.no_grad():
        w.uniform_(-bound, bound)
        if getattr(m, "bias", None) is not None:
            m.bias.zero_()
    return m


def _conv(cin: int, cout: int, kernel: int, gain: float = 1.0) -> nn.Conv2d:
    return _xavier(nn.Conv2d(cin, cout, kernel, padding=kernel // 2), gain)


def _linear(cin: int, cout: int, bias: bool = True, gain: float = 1.0) -> nn.Linear:
    return _xavier(nn.Linear(cin, cout, bias=bias), gain)


def _norm(ch: int) -> nn.GroupNorm:
    """GroupNorm with 32 groups (fewer when a group would have < 4 channels), ε = 1e-6."""
    return nn.GroupNorm(min(32, ch // 4), ch, eps=1e-6)


def noise_embedding(dim: int) -> SigmaEmbedding:
    """DDPM++'s positional embedding of c_noise: [sin(c·f), cos(c·f)], f_k = (10⁻⁴)^(k/(dim/2 − 1)), k = 0 … dim/2 − 1."""
    return SigmaEmbedding(dim, 1.0, 1e-4, endpoint=True, sin_first=True)


#: initial scale of the layers that end a residual branch (EDM's init_zero: 1e-5, not exactly 0)
ZERO_GAIN = 1e-5


class Block(nn.Module):
    """DDPM++'s residual block (see the module docstring); ``resample``: "down", "up" or None."""

    def __init__(
        self, cin: int, cout: int, emb_ch: int, resample: str | None = None, attention: bool = False, dropout: float = 0.0
    ):
        super().__init__()
        self.resample = resample
        self.norm0 = _norm(cin)
        self.conv0 = _conv(cin, cout, 3)
        self.affine = _linear(emb_ch, cout)
        self.norm1 = _norm(cout)
        self.drop = nn.Dropout(dropout)
        self.conv1 = _conv(cout, cout, 3, ZERO_GAIN)
        self.skip = _conv(cin, cout, 1) if (cin != cout or resample) else None
        self.attention = attention
        if attention:
            self.norm2 = _norm(cout)
            self.qkv = _conv(cout, 3 * cout, 1, math.sqrt(0.2))  # rows: all q, then all k, then all v
            self.proj = _conv(cout, cout, 1, ZERO_GAIN)

    def _resample(self, x: Tensor) -> Tensor:
        return resample2d(x, self.resample)

    def forward(self, x: Tensor, emb: Tensor) -> Tensor:
        orig = x
        h = self.conv0(self._resample(F.silu(self.norm0(x))))
        h = h + self.affine(emb)[:, :, None, None].to(h.dtype)
        h = self.conv1(self.drop(F.silu(self.norm1(h))))
        skip = orig if self.skip is None else self.skip(self._resample(orig))
        x = (h + skip) * math.sqrt(0.5)
        if self.attention:
            B, C, H, W = x.shape
            q, k, v = self.qkv(self.norm2(x)).reshape(B, 3, C, H * W).unbind(1)  # each (B, C, HW)
            # one head over C channels: a[c, i] = Σ_j softmax_j(q_i·k_j / √C) v[c, j]
            a = F.scaled_dot_product_attention(
                q.transpose(1, 2)[:, None], k.transpose(1, 2)[:, None], v.transpose(1, 2)[:, None]
            )[:, 0]
            x = (x + self.proj(a.transpose(1, 2).reshape(B, C, H, W))) * math.sqrt(0.5)
        return x


class DDPMpp(nn.Module):
    """The DDPM++ U-Net F(x_in, c_noise, cond): (B, C, S, S) → (B, C, S, S).

    in_channels, image_size, num_classes (0 = unconditional) and augment_dim (0 = no augmentation
    label) come from the data; the rest is the architecture (defaults: the CIFAR-10 network).
    """

    def __init__(
        self,
        in_channels: int = 3,
        image_size: int = 32,
        num_classes: int = 0,
        augment_dim: int = 0,
        model_channels: int = 128,
        channel_mult: Sequence[int] = (2, 2, 2),
        channel_mult_emb: int = 4,
        num_blocks: int = 4,
        attn_resolutions: Sequence[int] = (16,),
        dropout: float = 0.1,
    ):
        super().__init__()
        if image_size % (2 ** (len(channel_mult) - 1)):
            raise ConfigError(f"image_size {image_size} must be divisible by 2^{len(channel_mult) - 1} (one halving per level)")
        self.num_classes, self.augment_dim = int(num_classes), int(augment_dim)
        noise_ch, emb_ch = model_channels, model_channels * channel_mult_emb
        self.map_noise = noise_embedding(noise_ch)
        self.map_label = _linear(self.num_classes, noise_ch) if self.num_classes else None
        self.map_augment = _linear(self.augment_dim, noise_ch, bias=False) if self.augment_dim else None
        self.map_layer0 = _linear(noise_ch, emb_ch)
        self.map_layer1 = _linear(emb_ch, emb_ch)
        attn = set(int(r) for r in attn_resolutions)

        self.conv_in = _conv(in_channels, model_channels, 3)
        self.enc = nn.ModuleList()
        skips = [model_channels]
        ch = model_channels
        for level, mult in enumerate(channel_mult):
            res = image_size >> level
            if level > 0:
                self.enc.append(Block(ch, ch, emb_ch, "down", dropout=dropout))
                skips.append(ch)
            for _ in range(num_blocks):
                self.enc.append(Block(ch, model_channels * mult, emb_ch, attention=res in attn, dropout=dropout))
                ch = model_channels * mult
                skips.append(ch)

        self.dec = nn.ModuleList()
        self._cat: list[bool] = []  # whether each decoder block takes a skip
        for level, mult in reversed(list(enumerate(channel_mult))):
            res = image_size >> level
            if level == len(channel_mult) - 1:
                self.dec += [Block(ch, ch, emb_ch, attention=True, dropout=dropout), Block(ch, ch, emb_ch, dropout=dropout)]
                self._cat += [False, False]
            else:
                self.dec.append(Block(ch, ch, emb_ch, "up", dropout=dropout))
                self._cat.append(False)
            for i in range(num_blocks + 1):
                cin = ch + skips.pop()
                ch = model_channels * mult
                self.dec.append(Block(cin, ch, emb_ch, attention=(i == num_blocks and res in attn), dropout=dropout))
                self._cat.append(True)
        self.norm_out = _norm(ch)
        self.conv_out = _conv(ch, in_channels, 3, ZERO_GAIN)

    def _embedding(self, c_noise: Tensor, cond: Tensor | None) -> Tensor:
        """The conditioning vector (B, emb_ch), in the parameters' dtype (autocast lowers the Linears)."""
        B, pd = c_noise.shape[0], self.map_layer0.weight.dtype
        emb = self.map_noise(c_noise).to(pd)
        labels, aug = None, None
        if cond is not None:
            if cond.is_floating_point():  # [label,] augmentation label; NaN = none
                if self.num_classes:
                    labels = torch.nan_to_num(cond[:, 0], nan=-1.0).round().long()
                    cond = cond[:, 1:]
                aug = torch.nan_to_num(cond.reshape(B, -1).to(pd), nan=0.0)
            else:
                labels = cond.reshape(B).long()
        if self.map_label is not None and labels is not None:
            onehot = F.one_hot(labels.clamp_min(0), self.num_classes).to(emb.dtype) * (labels >= 0)[:, None].to(emb.dtype)
            emb = emb + self.map_label(onehot * math.sqrt(self.num_classes))
        if self.map_augment is not None and aug is not None:
            if aug.shape[1] != self.augment_dim:
                raise ValueError(f"augmentation label has {aug.shape[1]} entries; the network takes {self.augment_dim}")
            emb = emb + self.map_augment(aug)
        emb = F.silu(self.map_layer1(F.silu(self.map_layer0(emb))))
        return emb

    def forward(self, x_in: Tensor, c_noise: Tensor, cond: Tensor | None = None, mask: Tensor | None = None) -> Tensor:
        emb = self._embedding(c_noise, cond)
        x = self.conv_in(x_in)
        skips = [x]
        for block in self.enc:
            x = block(x, emb)
            skips.append(x)
        for block, cat in zip(self.dec, self._cat):
            if cat:
                x = torch.cat([x, skips.pop()], dim=1)
            x = block(x, emb)
        return self.conv_out(F.silu(self.norm_out(x)))
