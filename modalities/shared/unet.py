"""A DDPM++-style U-Net on (C, H, W) grids: the backbone F(x_in, c_noise, cond) the EDM preconditioning wraps.

Shared by every modality whose data is a 2-D grid: images (C, S, S) and mel spectrograms (1, mels, frames).

Layout (as in Song et al.'s DDPM++ and EDM's SongUNet, written from scratch here):

    conv_in ─ [level 0: num_blocks res blocks] ─ down ─ [level 1 ...] ─ ... ─ [last level]
                                                                               │ mid: res+attn, res
    conv_out ◀ norm+SiLU ◀ [level 0: num_blocks+1 res blocks] ◀ up ◀ ... ◀ ────┘

Every encoder activation is kept as a skip and concatenated into the decoder. Residual sums are
scaled by 1/√2 so activations keep their variance through depth. The output conv is
zero-initialised, so at initialisation F ≡ 0 and the preconditioned denoiser starts as c_skip·x.
"""

from __future__ import annotations

import math
from typing import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from pfgm.core.errors import ConfigError
from .conditioning import SigmaEmbedding


def _groups(ch: int) -> int:
    """GroupNorm groups: groups of at least 4 channels, at most 32 groups, and dividing ``ch``."""
    g = max(1, min(32, ch // 4))
    while ch % g:
        g -= 1
    return g


def _norm(ch: int) -> nn.GroupNorm:
    return nn.GroupNorm(_groups(ch), ch, eps=1e-6)


def _zero(m: nn.Module) -> nn.Module:
    for p in m.parameters():
        nn.init.zeros_(p)
    return m


def resample2d(x: Tensor, mode: str | None) -> Tensor:
    """A U-Net block's resampling of (B, C, H, W): "down" halves H and W (average pool), "up" doubles
    them (nearest neighbour, as DDPM++ and EDM's SongUNet do), None keeps them."""
    if mode == "down":
        return F.avg_pool2d(x, 2)
    if mode == "up":
        return F.interpolate(x, scale_factor=2.0, mode="nearest")
    return x


class ResBlock(nn.Module):
    """GroupNorm-SiLU-conv ×2 with an embedding scale/shift; optional ×2 down/up-sampling and attention.

    x (B, in_ch, H, W), emb (B, emb_ch) → (B, out_ch, H', W') with H' = H/2, H or 2H.
    """

    def __init__(
        self,
        in_ch: int,
        out_ch: int,
        emb_ch: int,
        dropout: float = 0.0,
        resample: str | None = None,
        attention: bool = False,
        head_channels: int = 64,
    ):
        super().__init__()
        if resample not in (None, "down", "up"):
            raise ValueError(f"resample must be None, 'down' or 'up', got {resample!r}")
        self.resample = resample
        self.norm0 = _norm(in_ch)
        self.conv0 = nn.Conv2d(in_ch, out_ch, 3, padding=1)
        self.affine = nn.Linear(emb_ch, 2 * out_ch)  # → (scale, shift)
        self.norm1 = _norm(out_ch)
        self.dropout = nn.Dropout(dropout)
        # zero: each residual branch starts as nothing, so the initial net is a clean skip path
        self.conv1 = _zero(nn.Conv2d(out_ch, out_ch, 3, padding=1))
        needs_proj = in_ch != out_ch or resample is not None
        self.skip = nn.Conv2d(in_ch, out_ch, 1) if needs_proj else None
        self.attn = SelfAttention(out_ch, head_channels) if attention else None

    def _resample(self, x: Tensor) -> Tensor:
        return resample2d(x, self.resample)

    def forward(self, x: Tensor, emb: Tensor) -> Tensor:
        h = self.conv0(self._resample(F.silu(self.norm0(x))))
        scale, shift = self.affine(emb)[:, :, None, None].chunk(2, dim=1)
        h = F.silu(torch.addcmul(shift, self.norm1(h), scale + 1))
        h = self.conv1(self.dropout(h))
        s = self._resample(x)
        if self.skip is not None:
            s = self.skip(s)
        x = (h + s) / math.sqrt(2)
        if self.attn is not None:
            x = self.attn(x)
        return x


class SelfAttention(nn.Module):
    """Multi-head self-attention over the H·W positions, residual and 1/√2-scaled. (B, C, H, W) → same."""

    def __init__(self, ch: int, head_channels: int = 64):
        super().__init__()
        self.heads = max(1, ch // head_channels)
        if ch % self.heads:
            raise ConfigError(f"{ch} channels do not split into {self.heads} heads")
        self.norm = _norm(ch)
        self.qkv = nn.Conv2d(ch, 3 * ch, 1)
        self.proj = _zero(nn.Conv2d(ch, ch, 1))

    def forward(self, x: Tensor) -> Tensor:
        b, c, h, w = x.shape
        q, k, v = self.qkv(self.norm(x)).reshape(b, 3, self.heads, c // self.heads, h * w).unbind(1)
        # (B, heads, positions, ch/head) for scaled_dot_product_attention
        o = F.scaled_dot_product_attention(q.transpose(-1, -2), k.transpose(-1, -2), v.transpose(-1, -2))
        o = o.transpose(-1, -2).reshape(b, c, h, w)
        return (x + self.proj(o)) / math.sqrt(2)


class UNet(nn.Module):
    """DDPM++-style U-Net. forward(x_in (B, C, H, W), c_noise (B,), cond (B,) long | None) → (B, C, H, W).

    Options: ``model_channels`` (width of level 0), ``channel_mult`` (width multiplier per level;
    the number of levels, each after the first halving the resolution), ``num_blocks`` (residual
    blocks per encoder level; the decoder has one more), ``attn_resolutions`` (spatial sizes that
    get self-attention), ``dropout``, ``num_classes`` (0 = unconditional; labels -1 mean "no
    label", the classifier-free-guidance null class), ``in_channels``, ``image_size`` (S for
    square inputs, or (H, W); both sides divisible by 2^(levels − 1)). ``attn_resolutions`` name
    the shorter side of a level's grid (for square inputs, its size).

    The defaults suit 8×8 digits: two levels (8×8 at 24 channels, 4×4 at 48 with attention),
    469,105 parameters unconditional. A third (2×2) level buys little on 8×8 images and would
    take it to 780k; at 32 and 64 pixels use more levels and width, e.g. channel_mult (1, 2, 2, 2).
    """

    def __init__(
        self,
        model_channels: int = 24,
        channel_mult: Sequence[int] = (1, 2),
        num_blocks: int = 1,
        attn_resolutions: Sequence[int] = (4,),
        dropout: float = 0.0,
        num_classes: int = 0,
        in_channels: int = 1,
        image_size: int | Sequence[int] = 8,
        head_channels: int = 64,
    ):
        super().__init__()
        channel_mult = tuple(int(m) for m in channel_mult)
        attn_resolutions = tuple(int(r) for r in attn_resolutions)
        if not channel_mult:
            raise ConfigError("channel_mult needs at least one level")
        factor = 2 ** (len(channel_mult) - 1)
        hw = (int(image_size), int(image_size)) if isinstance(image_size, (int, float)) else tuple(int(v) for v in image_size)
        if len(hw) != 2 or hw[0] % factor or hw[1] % factor:
            raise ConfigError(
                f"image_size {image_size} must be S or (H, W) with sides divisible by 2^(levels-1) = {factor} "
                f"for channel_mult {channel_mult}"
            )
        self.in_channels, self.image_size, self.num_classes = int(in_channels), hw, int(num_classes)
        self._factor = factor
        self.config = dict(  # plain types, for checkpoints
            model_channels=model_channels, channel_mult=list(channel_mult), num_blocks=num_blocks,
            attn_resolutions=list(attn_resolutions), dropout=dropout, num_classes=num_classes,
            in_channels=in_channels, image_size=hw[0] if hw[0] == hw[1] else list(hw), head_channels=head_channels,
        )  # fmt: skip

        emb_ch = 4 * model_channels
        self.noise_embed = SigmaEmbedding(model_channels, 0.1, 100.0)
        # one extra row: index num_classes is the learned "no label" embedding (cond == -1)
        self.label_embed = nn.Embedding(num_classes + 1, model_channels) if num_classes > 0 else None
        self.emb_mlp = nn.Sequential(nn.Linear(model_channels, emb_ch), nn.SiLU(), nn.Linear(emb_ch, emb_ch), nn.SiLU())

        def block(cin: int, cout: int, res: int, **kw: object) -> ResBlock:
            attn = kw.pop("attention", res in attn_resolutions)
            return ResBlock(cin, cout, emb_ch, dropout, attention=bool(attn), head_channels=head_channels, **kw)  # type: ignore[arg-type]

        # encoder
        self.conv_in = nn.Conv2d(in_channels, model_channels, 3, padding=1)
        self.enc = nn.ModuleList()
        skip_chs = [model_channels]
        ch, res = model_channels, min(hw)  # attention is placed by the shorter side
        for level, mult in enumerate(channel_mult):
            if level > 0:
                res //= 2
                self.enc.append(block(ch, ch, res, resample="down", attention=False))
                skip_chs.append(ch)
            for _ in range(num_blocks):
                self.enc.append(block(ch, model_channels * mult, res))
                ch = model_channels * mult
                skip_chs.append(ch)

        # middle (lowest resolution): always one attention block, as in DDPM++
        self.mid = nn.ModuleList([block(ch, ch, res, attention=True), block(ch, ch, res, attention=False)])

        # decoder: each block eats one skip; up-sampling blocks sit between levels
        self.dec = nn.ModuleList()
        for level in reversed(range(len(channel_mult))):
            mult = channel_mult[level]
            for _ in range(num_blocks + 1):
                self.dec.append(block(ch + skip_chs.pop(), model_channels * mult, res))
                ch = model_channels * mult
            if level > 0:
                res *= 2
                self.dec.append(block(ch, ch, res, resample="up", attention=False))
        assert not skip_chs

        self.norm_out = _norm(ch)
        self.conv_out = _zero(nn.Conv2d(ch, in_channels, 3, padding=1))

    def _embedding(self, c_noise: Tensor, cond: Tensor | None, batch: int) -> Tensor:
        if c_noise.ndim == 0:
            c_noise = c_noise.expand(batch)
        c_noise = c_noise.reshape(-1)
        if c_noise.shape[0] != batch:
            raise ValueError(f"c_noise has {c_noise.shape[0]} entries for a batch of {batch}")
        e = self.noise_embed(c_noise)
        if self.label_embed is not None:
            if cond is None:
                cond = torch.full((batch,), -1, dtype=torch.long, device=c_noise.device)
            if cond.dtype.is_floating_point or cond.ndim != 1:
                raise TypeError(f"image cond must be integer labels of shape (B,), got {cond.dtype} {tuple(cond.shape)}")
            idx = torch.where(cond < 0, torch.full_like(cond, self.num_classes), cond)
            e = e + self.label_embed(idx)
        return self.emb_mlp(e)

    def forward(self, x_in: Tensor, c_noise: Tensor, cond: Tensor | None = None, mask: Tensor | None = None) -> Tensor:
        """x_in (B, C, H, W), c_noise (B,) = ln(σ)/4, cond (B,) labels with -1 = none; mask is ignored."""
        del mask  # images are fixed-size: every entry is real
        if x_in.ndim != 4 or x_in.shape[1] != self.in_channels:
            raise ValueError(f"expected input (B, {self.in_channels}, H, W), got {tuple(x_in.shape)}")
        if x_in.shape[2] % self._factor or x_in.shape[3] % self._factor:
            raise ValueError(f"input size {tuple(x_in.shape[2:])} must be divisible by {self._factor}")
        emb = self._embedding(c_noise, cond, x_in.shape[0])
        h = self.conv_in(x_in)
        skips = [h]
        for blk in self.enc:
            h = blk(h, emb)
            skips.append(h)
        for blk in self.mid:
            h = blk(h, emb)
        for blk in self.dec:
            if blk.resample != "up":
                h = torch.cat([h, skips.pop()], dim=1)
            h = blk(h, emb)
        return self.conv_out(F.silu(self.norm_out(h)))
