"""Sequences ⇄ tensors: continuous one-hot (the shared ±0.5 codec) with a per-position mask.

A batch is x (B, L_max, K) with mask (B, L_max, K): a sequence of length L has L real positions,
each K real entries, so its PFGM++ dimension is N = L·K; padded positions are zero and masked.
Decoding takes the argmax over K at the real positions. In aligned mode the gap is one of the K
symbols and every sequence has the same length L_max (all entries real).
"""

from __future__ import annotations

from typing import Sequence

import torch
from torch import Tensor

from pfgm.core.errors import ConfigError
from pfgm.modalities.shared.onehot import OneHotCodec

from .alphabet import GAP, Alphabet

__all__ = ["SequenceCodec"]


class SequenceCodec:
    """Strings of one alphabet, up to ``max_length`` symbols, ⇄ (x, mask) tensors."""

    def __init__(self, alphabet: Alphabet, max_length: int):
        if int(max_length) < 1:
            raise ConfigError(f"max_length must be ≥ 1, got {max_length}")
        self.alphabet, self.max_length = alphabet, int(max_length)
        self.onehot = OneHotCodec(alphabet.size)

    @property
    def width(self) -> int:
        return self.onehot.width

    def length_mask(self, lengths: Tensor) -> Tensor:
        """(B,) lengths → (B, L_max, K) float mask."""
        pos = torch.arange(self.max_length)
        m = (pos.unsqueeze(0) < lengths.long().unsqueeze(1)).float()
        return m.unsqueeze(-1).expand(-1, -1, self.width).contiguous()

    def encode(self, seqs: Sequence[str]) -> tuple[Tensor, Tensor]:
        """Cleaned strings → x (B, L_max, K) float32 in {−0.5, 0.5} (0 on padding), mask like x."""
        B = len(seqs)
        idx = torch.zeros(B, self.max_length, dtype=torch.long)
        lengths = torch.zeros(B, dtype=torch.long)
        for i, s in enumerate(seqs):
            if len(s) > self.max_length:
                raise ValueError(f"sequence {i} has length {len(s)} > max_length {self.max_length}")
            idx[i, : len(s)] = torch.tensor(self.alphabet.encode(s), dtype=torch.long)
            lengths[i] = len(s)
        mask = self.length_mask(lengths)
        return self.onehot.encode(idx) * mask, mask

    def lengths(self, mask: Tensor | None, batch: int) -> Tensor:
        if mask is None:
            return torch.full((batch,), self.max_length, dtype=torch.long)
        return mask[:, :, 0].round().long().sum(1)

    def decode(self, x: Tensor, mask: Tensor | None = None) -> list[str]:
        """x (B, L_max, K) → strings by argmax at the real positions (aligned: gaps kept)."""
        idx = self.onehot.decode(x.detach().cpu().float())
        lengths = self.lengths(None if mask is None else mask.cpu(), x.shape[0])
        return [self.alphabet.decode(idx[i, : int(lengths[i])].tolist()) for i in range(x.shape[0])]

    def snap(self, x: Tensor, mask: Tensor | None = None) -> Tensor:
        """x (B, L_max, K) → the one-hot of its argmax at every position, zero on padding."""
        s = self.onehot.snap(x)
        return s if mask is None else s * mask.to(s.dtype)

    @staticmethod
    def ungap(seq: str) -> str:
        return seq.replace(GAP, "")
