"""Categorical data as continuous one-hot vectors shifted to ±0.5, and back by argmax.

Every real entry has magnitude 0.5 whatever the number of classes and their balance, so the data's
RMS is exactly 0.5: EDM's default σ_data. The shift does not change the argmax, so decoding a clean
encoding returns the classes exactly. A single channel (K = 1) is a bit: +0.5 = 1, −0.5 = 0, decoded
by the sign.
"""

from __future__ import annotations

import torch
from torch import Tensor

__all__ = ["ONEHOT_SHIFT", "OneHotCodec"]

#: offset subtracted from one-hot bits
ONEHOT_SHIFT = 0.5


class OneHotCodec:
    """Class indices (...) ⇄ shifted one-hot vectors (..., K)."""

    def __init__(self, num_classes: int, shift: float = ONEHOT_SHIFT):
        if int(num_classes) < 1:
            raise ValueError(f"a one-hot codec needs at least one class, got {num_classes}")
        self.num_classes, self.shift = int(num_classes), float(shift)

    @property
    def width(self) -> int:
        """Channels per entry: K (one bit when K = 1)."""
        return self.num_classes

    def encode(self, idx: Tensor) -> Tensor:
        """idx (...) long in [0, K) → (..., K) float32 in {−shift, 1 − shift}. With K = 1, idx is the bit (0/1)."""
        idx = torch.as_tensor(idx).long()
        if self.num_classes == 1:
            if idx.numel() and (idx.min() < 0 or idx.max() > 1):
                raise ValueError("a one-channel codec encodes bits: values must be 0 or 1")
            return idx.unsqueeze(-1).float() - self.shift
        if idx.numel() and (idx.min() < 0 or idx.max() >= self.num_classes):
            raise ValueError(f"class indices must lie in [0, {self.num_classes}), got [{int(idx.min())}, {int(idx.max())}]")
        return torch.nn.functional.one_hot(idx, self.num_classes).float() - self.shift

    def decode(self, x: Tensor) -> Tensor:
        """x (..., K) → (...) long: the argmax over the last axis (K = 1: 1 where x > 0)."""
        if x.shape[-1] != self.num_classes:
            raise ValueError(f"expected {self.num_classes} channels in the last axis, got {x.shape[-1]}")
        if self.num_classes == 1:
            return (x[..., 0] > 0).long()
        return x.argmax(-1)

    def snap(self, x: Tensor) -> Tensor:
        """x (..., K) → the encoding of its decoded classes: the nearest vertex, same shape and dtype."""
        return self.encode(self.decode(x)).to(device=x.device, dtype=x.dtype)
