"""Cut a batch of graphs into groups of similar size, so each group runs trimmed to its largest graph.

Padding is exact but not free: a molecule batch padded to n_max = 20 spends about (20/13)² ≈ 2.4×
the pair work its mean molecule (13 atoms) needs. The graph transformer's output does not depend on
padding, so computing each group at its own largest size gives the same function and gradient.
"""

from __future__ import annotations

import torch
from torch import Tensor


def graph_cost(m: int) -> int:
    """Work per graph at size m, counted in node + pair rows (pairs i < j are stored once)."""
    return m + m * (m - 1) // 2


def size_groups(sizes: Tensor, overhead: float) -> list[Tensor]:
    """sizes (B,) node counts -> index tensors into the batch, one per group, groups in ascending size.

    A group of b graphs whose largest has m nodes costs b·graph_cost(m) + overhead (the fixed price of
    one more pass through the net, in the same units). Groups are runs of the sorted sizes; the cut
    points minimise the total cost exactly (dynamic programming over the distinct sizes, ≤ n_max + 1).
    """
    sizes = sizes.long().flatten().cpu()
    if sizes.numel() == 0:
        return []
    order = torch.argsort(sizes, stable=True)
    values, counts = torch.unique(sizes, return_counts=True)  # ascending
    vals, cnts = values.tolist(), counts.tolist()
    K = len(vals)
    prefix = [0]
    for c in cnts:
        prefix.append(prefix[-1] + c)
    best = [0.0] + [float("inf")] * K
    cut = [0] * (K + 1)
    for k in range(1, K + 1):  # best[k]: distinct sizes 0..k-1 grouped, the last group ending at k-1
        w = graph_cost(max(vals[k - 1], 1))
        for j in range(k):
            c = best[j] + (prefix[k] - prefix[j]) * w + overhead
            if c < best[k]:
                best[k], cut[k] = c, j
    bounds, k = [], K
    while k > 0:
        bounds.append((prefix[cut[k]], prefix[k]))
        k = cut[k]
    return [order[a:b] for a, b in reversed(bounds)]
