"""Symmetric pair tensors stored once per unordered pair: the strict upper triangle.

The graph transformer's edge stream stays exactly symmetric (every update is built from
symmetric terms) and zero on the diagonal, so the dense (B, n, n, C) tensor holds every value
twice. Keeping only the n(n−1)/2 pairs i < j as (B, P, C) halves the per-pair work, which is
most of a step (n = 20: 190 pairs instead of 400), and computes the same function.
"""

from __future__ import annotations

import torch
from torch import Tensor


class PairIndex:
    """Index of the pairs i < j of n nodes, in ``torch.triu_indices`` order (also the order of the
    edge block of the flat graph layout, :class:`~modalities.graphs.flat.GraphLayout`).

    to_pairs (B, n, n, ...) -> (B, P, ...); to_full (B, P, ...) -> (B, n, n, ...) symmetric with a
    zero diagonal; node_sum (B, P, C) -> (B, n, C), Σ_{j≠i} p_ij; outer (B, n, C) gathers
    (x_i, x_j) per pair as two (B, P, C) tensors. Indices are made once per device.
    """

    def __init__(self, n: int):
        self.n = int(n)
        self.i, self.j = torch.triu_indices(self.n, self.n, offset=1)
        self._on: dict[torch.device, tuple[Tensor, Tensor]] = {self.i.device: (self.i, self.j)}

    def ij(self, device: torch.device) -> tuple[Tensor, Tensor]:
        if device not in self._on:
            self._on[device] = (self.i.to(device), self.j.to(device))
        return self._on[device]

    def to_pairs(self, full: Tensor) -> Tensor:
        i, j = self.ij(full.device)
        return full[:, i, j]

    def to_full(self, pairs: Tensor) -> Tensor:
        i, j = self.ij(pairs.device)
        full = pairs.new_zeros((pairs.shape[0], self.n, self.n) + tuple(pairs.shape[2:]))
        full[:, i, j] = pairs
        full[:, j, i] = pairs
        return full

    def node_sum(self, pairs: Tensor) -> Tensor:
        i, j = self.ij(pairs.device)
        out = pairs.new_zeros((pairs.shape[0], self.n) + tuple(pairs.shape[2:]))
        return out.index_add(1, i, pairs).index_add(1, j, pairs)

    def outer(self, x: Tensor) -> tuple[Tensor, Tensor]:
        i, j = self.ij(x.device)
        return x[:, i], x[:, j]
