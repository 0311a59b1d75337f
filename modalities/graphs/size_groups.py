"""The graph cost model for size bucketing (:func:`modalities.shared.sizes.size_groups`).

Padding is exact but not free: a molecule batch padded to n_max = 20 spends about (20/13)² ≈ 2.4×
the pair work its mean molecule (13 atoms) needs. The graph transformer's output does not depend on
padding, so computing each group at its own largest size gives the same function and gradient.
"""

from __future__ import annotations

from torch import Tensor

from ..shared.sizes import size_groups

__all__ = ["graph_cost", "graph_size_groups"]


def graph_cost(m: int) -> int:
    """Work per graph at size m, counted in node + pair rows (pairs i < j are stored once)."""
    return m + m * (m - 1) // 2


def graph_size_groups(sizes: Tensor, overhead: float) -> list[Tensor]:
    """sizes (B,) node counts → groups of similar size (see :func:`size_groups`), priced by :func:`graph_cost`."""
    return size_groups(sizes, overhead, lambda m: graph_cost(max(m, 1)))
