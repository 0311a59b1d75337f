"""Denoiser backbones for one-hot sequences (B, L, K): a ByteNet-style dilated CNN and a small transformer.

Both take F(x_in, c_noise, cond=None, mask=None) → like x_in, never let padding leak into real
positions (padded positions are zeroed before every convolution; attention ignores them), and are
σ-conditioned through an embedding of c_noise that scales and shifts every block (FiLM).

* ``bytenet``: residual blocks LayerNorm → GELU → 1×1 down → GELU → dilated k-wide conv → GELU → 1×1
  up, dilations cycling 1, 2, 4, 8, … (receptive field grows exponentially with depth), as in
  ByteNet (Kalchbrenner et al. 2016) and the walk-jump antibody denoiser.

Options of both: ``end_positions`` adds sinusoids of each position's distance to the start and to
the end of its sequence; ``self_condition`` feeds the net its previous clean estimate (Chen et al.
2023, "Analog Bits"; the core's loss and sampler supply it); ``partners`` (one index per position,
−1 = unpaired: an RNA family's target structure; or several such maps) gives every position its
partner's input (and estimate) beside its own. Measured on the hairpin family: neither net learnt the base pairing
from positions alone (stem pair rate 0.47, random 0.375, after 2,000–3,000 steps); with the partner's
bases at hand, complementarity is a per-position function.
``fold`` (a :class:`~.fold_features.FoldFeatures`, needs self_condition) gives every position what the
estimate folds into: its MFE partner's estimate and whether that differs from the target (negative design).
* ``transformer``: pre-norm encoder layers with a key-padding mask, learned positions.
"""

from __future__ import annotations

import math
from collections import OrderedDict
from typing import Sequence

import torch
from torch import Tensor, nn

from pfgm.core.errors import ConfigError
from ..shared.conditioning import SigmaEmbedding, film
from .fold_features import FoldFeatures

__all__ = ["noise_embedding", "ByteNet", "SequenceTransformer", "build_backbone"]


def noise_embedding(dim: int, num_freqs: int = 32) -> nn.Module:
    """c_noise (B,) → (B, dim): sin/cos features at frequencies 1 … 1000 (computed in float32, as the
    nets were trained), then a 2-layer MLP."""
    return nn.Sequential(
        OrderedDict(
            fourier=SigmaEmbedding(2 * num_freqs, 1.0, 1000.0, sin_first=True, dtype=torch.float32),
            mlp=nn.Sequential(nn.Linear(2 * num_freqs, dim), nn.SiLU(), nn.Linear(dim, dim)),
        )
    )


def end_features(m: Tensor, scale: int, num_freqs: int = 8) -> Tensor:
    """(B, L, 1) position mask → (B, L, 4·num_freqs) sinusoids of each position's distance to the
    sequence's start and to its end (its length from the mask): motifs anchored at the C-terminus
    (a CDR3's J region, an RNA's 3' stem) sit at a fixed distance from the end, not from the start."""
    B, L, _ = m.shape
    pos = torch.arange(L, device=m.device, dtype=m.dtype).reshape(1, L, 1)
    length = m.sum(1, keepdim=True)  # (B, 1, 1)
    # wavelengths from 1 to the longest sequence the net takes (not the batch's width, so a batch
    # trimmed to its longest member gets the same features)
    freqs = torch.exp(torch.linspace(0, math.log(scale + 1.0), num_freqs, device=m.device, dtype=m.dtype)).reshape(1, 1, -1)
    a = torch.cat([(pos / freqs).expand(B, L, num_freqs), (length - 1 - pos) / freqs], dim=-1) * (2 * math.pi / 4)
    return torch.cat([a.sin(), a.cos()], dim=-1) * m


def _positions_mask(mask: Tensor | None, x: Tensor) -> Tensor:
    """(B, L, 1) float: 1 at real positions."""
    if mask is None:
        return torch.ones(x.shape[0], x.shape[1], 1, dtype=x.dtype, device=x.device)
    return mask[..., :1].to(x.dtype)


def _zero_linear(fan_in: int, fan_out: int) -> nn.Linear:
    layer = nn.Linear(fan_in, fan_out)
    nn.init.zeros_(layer.weight)
    nn.init.zeros_(layer.bias)
    return layer


class LabelFields(nn.Module):
    """One embedding table per label field, summed: cond (B, k) long, −1 = that field unset (row 0).

    Several fields (a heavy chain's V and J gene) share the data better than one table over their
    combinations: a V gene's framework is learnt from every chain that uses it, whatever its J gene.
    """

    def __init__(self, sizes: Sequence[int], dim: int):
        super().__init__()
        self.tables = nn.ModuleList(nn.Embedding(int(n) + 1, dim) for n in sizes)

    def forward(self, cond: Tensor) -> Tensor:
        cond = cond.long().clamp_min(-1) + 1
        return sum(t(cond[:, i]) for i, t in enumerate(self.tables))


def _label_embedding(num_classes: int | Sequence[int], dim: int) -> nn.Module | None:
    """nn.Embedding for one field of ``num_classes`` classes, LabelFields for a list of sizes, None for 0."""
    if isinstance(num_classes, (list, tuple)):
        if not num_classes or any(isinstance(n, bool) or not isinstance(n, int) or n < 1 for n in num_classes):
            raise ConfigError(
                f"backbone num_classes must be a number of classes or a list of them (each >= 1), got {num_classes!r}"
            )
        return LabelFields(num_classes, dim)
    return nn.Embedding(num_classes + 1, dim) if num_classes else None


def _embedding(net: nn.Module, c_noise: Tensor, cond: Tensor | None) -> Tensor:
    """The σ embedding (B, emb_dim), plus the class label's when the net has labels (−1, no label → row 0)."""
    e = net.emb(c_noise)
    if net.label is not None and cond is not None:
        e = e + (net.label(cond) if isinstance(net.label, LabelFields) else net.label(cond.long().clamp_min(-1) + 1))
    return e


def _extra_channels(net: nn.Module, channels: int) -> int:
    sc = channels if net.self_condition else 0
    maps = 0 if net.partners is None else net.partners.shape[0]
    fold = 0 if net.fold is None else net.fold.channels
    return (32 if net.end_positions else 0) + sc + maps * (channels + sc + 1) + fold


def _fold(net: nn.Module, fold: FoldFeatures | None) -> FoldFeatures | None:
    if fold is not None and not net.self_condition:
        raise ConfigError("backbone.fold_features folds the self-conditioning estimate: set backbone.self_condition=true")
    return fold


def _partner_index(partners: Sequence[int] | Sequence[Sequence[int]] | None, max_length: int) -> Tensor | None:
    """One partner map (a list of indices) or several → (maps, max_length) long."""
    if partners is None:
        return None
    maps = [partners] if partners and not isinstance(partners[0], (list, tuple)) else list(partners)
    maps = [[int(v) for v in m] for m in maps]
    for p in maps:
        if len(p) != max_length or any(not -1 <= v < max_length for v in p) or any(v >= 0 and p[v] != i for i, v in enumerate(p)):
            raise ValueError(
                f"backbone partners must give each of the {max_length} positions its partner's index "
                f"(−1 unpaired), symmetric; got {p}"
            )
    return torch.tensor(maps, dtype=torch.long)


def _inputs(net: nn.Module, x: Tensor, m: Tensor, self_cond: Tensor | None) -> Tensor:
    """x, plus the end-distance features, the self-conditioning estimate and the partner's inputs when the net uses them."""
    sc = ((torch.zeros_like(x) if self_cond is None else self_cond.to(x.dtype)) * m) if net.self_condition else None
    parts = [x]
    if net.end_positions:
        parts.append(end_features(m, net.max_length).to(x.dtype))
    if sc is not None:
        parts.append(sc)
    L = x.shape[1]
    for idx in [] if net.partners is None else net.partners:
        idx = idx[:L].to(x.device)
        paired = ((idx >= 0) & (idx < L)).to(x.dtype).view(1, L, 1)
        take = lambda t: t[:, idx.clamp(0, L - 1)] * paired  # noqa: E731
        parts += [take(x * m), paired.expand(x.shape[0], L, 1) * m] + ([take(sc)] if sc is not None else [])
    if net.fold is not None:
        parts.append(net.fold(sc, m))
    return torch.cat(parts, dim=-1) if len(parts) > 1 else x


def bucketed(
    fn, x: Tensor, c_noise: Tensor, cond: Tensor | None, mask: Tensor, self_cond: Tensor | None, overhead: float
) -> Tensor:
    """fn on groups of similar length, each trimmed to its longest member (the shared size_groups DP,
    cost ∝ length). The nets never let padding reach a real position, so this is the same function
    as one padded pass (tested), only cheaper when lengths vary (CDR3s: 5–30)."""
    from pfgm.modalities.shared.sizes import size_groups

    lengths = mask[:, :, 0].round().long().sum(1)
    groups = size_groups(lengths, overhead, cost=float)
    if len(groups) == 1 and int(lengths.max()) == x.shape[1]:
        return fn(x, c_noise, cond, mask, self_cond)
    out = torch.zeros_like(x)
    for idx in groups:
        idx = idx.to(x.device)
        L = max(int(lengths[idx].max()), 1)
        sub = lambda t: None if t is None else t[idx]  # noqa: E731
        trim = lambda t: None if t is None else t[idx, :L]  # noqa: E731
        out[idx, :L] = fn(trim(x), c_noise[idx], sub(cond), trim(mask), trim(self_cond)).to(out.dtype)
    return out


class _ByteNetBlock(nn.Module):
    def __init__(self, width: int, emb: int, kernel: int, dilation: int, dropout: float):
        super().__init__()
        half = width // 2
        self.norm = nn.LayerNorm(width)
        self.film = nn.Linear(emb, 2 * width)
        self.down = nn.Conv1d(width, half, 1)
        self.conv = nn.Conv1d(half, half, kernel, dilation=dilation, padding=dilation * (kernel - 1) // 2)
        self.up = nn.Conv1d(half, width, 1)
        self.drop = nn.Dropout(dropout)
        nn.init.zeros_(self.up.weight)
        nn.init.zeros_(self.up.bias)

    def forward(self, h: Tensor, e: Tensor, m: Tensor) -> Tensor:
        # h (B, L, C), e (B, E), m (B, L, 1)
        scale, shift = self.film(e).chunk(2, dim=-1)
        z = film(self.norm(h), shift, scale)
        z = nn.functional.gelu(z) * m
        z = nn.functional.gelu(self.down(z.transpose(1, 2)))
        z = z * m.transpose(1, 2)  # padding never reaches a real position through the dilated conv
        z = nn.functional.gelu(self.conv(z))
        z = self.up(self.drop(z)).transpose(1, 2)
        return (h + z) * m


class ByteNet(nn.Module):
    """Dilated residual 1-D CNN over (B, L, K) one-hot sequences."""

    def __init__(
        self,
        channels: int,
        max_length: int = 512,
        width: int = 128,
        depth: int = 8,
        kernel: int = 5,
        dilations=(1, 2, 4, 8),
        emb_dim: int = 128,
        dropout: float = 0.0,
        num_classes: int | Sequence[int] = 0,
        end_positions: bool = False,
        self_condition: bool = False,
        bucket_overhead: float | None = 64.0,
        partners: Sequence[int] | None = None,
        fold: FoldFeatures | None = None,
    ):
        super().__init__()
        self.max_length, self.bucket_overhead = int(max_length), bucket_overhead
        if kernel % 2 != 1:
            raise ConfigError(f"backbone.kernel must be odd (centred convolutions), got {kernel}")
        self.end_positions, self.self_condition = bool(end_positions), bool(self_condition)
        self.register_buffer("partners", _partner_index(partners, self.max_length), persistent=False)
        self.fold = _fold(self, fold)
        self.inp = nn.Linear(channels + _extra_channels(self, channels), width)
        self.emb = noise_embedding(emb_dim)
        self.label = _label_embedding(num_classes, emb_dim)
        self.blocks = nn.ModuleList(
            _ByteNetBlock(width, emb_dim, kernel, int(dilations[i % len(dilations)]), dropout) for i in range(depth)
        )
        self.norm = nn.LayerNorm(width)
        self.out = _zero_linear(width, channels)  # F starts at 0: the denoiser starts as c_skip·x

    def forward(
        self, x: Tensor, c_noise: Tensor, cond: Tensor | None = None, mask: Tensor | None = None, self_cond: Tensor | None = None
    ) -> Tensor:
        if mask is not None and self.bucket_overhead is not None:
            return bucketed(self._forward, x, c_noise, cond, mask, self_cond, self.bucket_overhead)
        return self._forward(x, c_noise, cond, mask, self_cond)

    def _forward(self, x: Tensor, c_noise: Tensor, cond: Tensor | None, mask: Tensor | None, self_cond: Tensor | None) -> Tensor:
        m = _positions_mask(mask, x)
        e = _embedding(self, c_noise, cond)
        h = self.inp(_inputs(self, x, m, self_cond)) * m
        for blk in self.blocks:
            h = blk(h, e, m)
        y = self.out(nn.functional.gelu(self.norm(h)))
        return y * (m if mask is None else mask.to(y.dtype))


class SequenceTransformer(nn.Module):
    """Pre-norm transformer encoder over (B, L, K) one-hot sequences; σ enters by FiLM before every layer."""

    def __init__(
        self,
        channels: int,
        max_length: int,
        width: int = 128,
        depth: int = 4,
        heads: int = 4,
        ff_mult: int = 2,
        emb_dim: int = 128,
        dropout: float = 0.0,
        num_classes: int | Sequence[int] = 0,
        end_positions: bool = False,
        self_condition: bool = False,
        partners: Sequence[int] | None = None,
        fold: FoldFeatures | None = None,
    ):
        super().__init__()
        self.end_positions, self.self_condition = bool(end_positions), bool(self_condition)
        self.max_length = int(max_length)
        self.register_buffer("partners", _partner_index(partners, self.max_length), persistent=False)
        self.fold = _fold(self, fold)
        self.inp = nn.Linear(channels + _extra_channels(self, channels), width)
        self.pos = nn.Parameter(torch.randn(1, max_length, width) * 0.02)
        self.emb = noise_embedding(emb_dim)
        self.label = _label_embedding(num_classes, emb_dim)
        self.films = nn.ModuleList(nn.Linear(emb_dim, 2 * width) for _ in range(depth))
        self.layers = nn.ModuleList(
            nn.TransformerEncoderLayer(
                width, heads, ff_mult * width, dropout, activation="gelu", batch_first=True, norm_first=True
            )
            for _ in range(depth)
        )
        self.norm = nn.LayerNorm(width)
        self.out = _zero_linear(width, channels)  # F starts at 0: the denoiser starts as c_skip·x

    def forward(
        self, x: Tensor, c_noise: Tensor, cond: Tensor | None = None, mask: Tensor | None = None, self_cond: Tensor | None = None
    ) -> Tensor:
        m = _positions_mask(mask, x)
        e = _embedding(self, c_noise, cond)
        L = x.shape[1]
        h = (self.inp(_inputs(self, x, m, self_cond)) + self.pos[:, :L]) * m
        pad = m[..., 0] == 0  # (B, L) True = ignore
        for proj, layer in zip(self.films, self.layers):
            scale, shift = proj(e).chunk(2, dim=-1)
            h = layer(film(h, shift, scale), src_key_padding_mask=pad if mask is not None else None) * m
        y = self.out(self.norm(h))
        return y * (m if mask is None else mask.to(y.dtype))


def build_backbone(channels: int, max_length: int, type: str = "bytenet", **kw) -> nn.Module:
    """By ``backbone.type``: bytenet (width, depth, kernel, dilations, emb_dim, dropout, bucket_overhead:
    null = one padded pass, else batches cut into length groups, see :func:`bucketed`) or
    transformer (width, depth, heads, ff_mult, emb_dim, dropout)."""
    if type == "bytenet":
        return ByteNet(channels, max_length, **kw)
    if type == "transformer":
        return SequenceTransformer(channels, max_length, **kw)
    raise ConfigError(f"unknown sequence backbone.type {type!r}; expected bytenet or transformer")
