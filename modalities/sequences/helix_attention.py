"""Helix attention: self-attention whose logits see stacked base pairs, for RNA backbones.

An RNA helix is a run of pairs (i, j), (i+1, j−1), (i+2, j−2), …: a line along an anti-diagonal of
the L × L pair map. Per head, the pair logit a_ij = q_i·k_j / √d can express any complementarity of
the bases the hidden states encode (a bilinear form over 4 letters); a learned convolution along the
anti-diagonal, s_ij = Σ_{h', d} W[h, h', d] a^{h'}_{i+d, j−d}, adds the logits of the neighbouring
pairs, so a position attends to where a *stacked* helix could form rather than to any complementary
base. A per-head bias over the sequence distance |i − j| (clipped) lets the net learn that a hairpin
loop needs ≥ 3 bases. What a position reads there is what a misfold needs: the partner map of the
target names only the target's pairs and their helix extensions (rna.helix_extensions); helix
attention sees every alternative helix the current estimate could form (on the tRNA-like family,
loops pairing with loops and second stems inside an arm).

Measured (docs/sequences.md, 2 layers): hairpin fold-to-target 0.625 against 0.610 without it, tRNA-like
0.043 against 0.034; seeing the alternative helices is not enough while the loss does not penalise them.

Used inside :class:`~modalities.sequences.backbone.ByteNet` (``backbone.helix_attention: N`` layers,
spread over the depth). Padding never leaks: padded keys get −∞ logits, padded queries are zeroed.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn

from ..shared.conditioning import film

__all__ = ["HelixAttention", "antidiagonal_shifts"]


def antidiagonal_shifts(a: Tensor, reach: int) -> Tensor:
    """(B, H, L, L) → (B, H, 2·reach+1, L, L): entry [.., d, i, j] = a[.., i+d, j−d] (0 off the map)."""
    L = a.shape[-1]
    p = nn.functional.pad(a, (reach, reach, reach, reach))
    return torch.stack([p[..., reach + d: reach + d + L, reach - d: reach - d + L] for d in range(-reach, reach + 1)], dim=2)


class HelixAttention(nn.Module):
    """Residual block h (B, L, C) → h + attention(h) with anti-diagonal-convolved logits; σ by FiLM.

    heads × head_dim is the attention width; ``reach`` pairs on each side enter each logit
    (reach 2: a 5-pair stretch of helix); distances ≥ ``max_distance`` share one bias.
    """

    def __init__(self, width: int, emb: int, heads: int = 4, head_dim: int = 16, reach: int = 2,
                 max_distance: int = 32):
        super().__init__()
        self.heads, self.head_dim, self.reach, self.max_distance = heads, head_dim, reach, max_distance
        self.norm = nn.LayerNorm(width)
        self.film = nn.Linear(emb, 2 * width)
        self.qkv = nn.Linear(width, 3 * heads * head_dim)
        # starts as plain attention: only the centre tap (d = 0) of each head's own logits
        w = torch.zeros(heads, heads, 2 * reach + 1)
        w[torch.arange(heads), torch.arange(heads), reach] = 1.0
        self.stack = nn.Parameter(w)
        self.distance = nn.Embedding(max_distance + 1, heads)
        nn.init.zeros_(self.distance.weight)
        self.out = nn.Linear(heads * head_dim, width)
        nn.init.zeros_(self.out.weight)
        nn.init.zeros_(self.out.bias)

    def stacked(self, a: Tensor) -> Tensor:
        """(B, H, L, L) raw pair logits → the same with each head's taps along the anti-diagonals."""
        return torch.einsum("hgd,bgdij->bhij", self.stack, antidiagonal_shifts(a, self.reach))

    def logits(self, h: Tensor, e: Tensor, m: Tensor) -> tuple[Tensor, Tensor]:
        """(B, L, C), (B, E), (B, L, 1) → pre-softmax logits (B, H, L, L), padded keys at −∞, and the
        values (B, H, L, head_dim)."""
        B, L, _ = h.shape
        scale, shift = self.film(e).chunk(2, dim=-1)
        z = film(self.norm(h), shift, scale) * m
        q, k, v = self.qkv(z).view(B, L, 3, self.heads, self.head_dim).permute(2, 0, 3, 1, 4)
        a = q @ k.transpose(-1, -2) / math.sqrt(self.head_dim)  # (B, H, L, L)
        s = self.stacked(a)
        pos = torch.arange(L, device=h.device)
        dist = (pos.view(-1, 1) - pos.view(1, -1)).abs().clamp_max(self.max_distance)
        s = s + self.distance(dist).permute(2, 0, 1).unsqueeze(0)
        keep = m[..., 0].bool().view(B, 1, 1, L)
        return s.masked_fill(~keep, float("-inf")), v

    def forward(self, h: Tensor, e: Tensor, m: Tensor) -> Tensor:
        B, L, _ = h.shape
        s, v = self.logits(h, e, m)
        # a sample with no real position (an empty bucket row) has only −∞ logits: it reads nothing
        att = torch.softmax(s.float(), dim=-1).nan_to_num(0.0).to(v.dtype)
        y = (att @ v).transpose(1, 2).reshape(B, L, self.heads * self.head_dim)
        return (h + self.out(y)) * m
