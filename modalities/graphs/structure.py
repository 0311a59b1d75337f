"""Structure of a hard adjacency: connected components and shortest-path distances.

Read off a thresholded estimate by the backbone's self-conditioning features and by the sampler's
bridging (``sampler.connect_sigma_max``, :meth:`~modalities.graphs.flat.GraphLayout.bridge`), so
both see the same components. Batched, dense, and differentiable nowhere: these are facts about
the argmax graph, not soft quantities.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

__all__ = ["connected_components", "path_distances"]


def connected_components(adj: Tensor, node_mask: Tensor) -> tuple[Tensor, Tensor]:
    """Hard adjacency (B, n, n) bool, node_mask (B, n) -> node (B, n, 3) and pair (B, n, n) component features.

    node: [component size / n_real, in a largest component (0/1), number of components / n_real];
    pair: 1 where i and j are connected by a path. Reachability by repeated squaring of (I + A):
    after ⌈log₂ n⌉ squarings every path of length < n is covered. Padding nodes get zeros.
    """
    B, n, _ = adj.shape
    nm = node_mask > 0
    real = nm.unsqueeze(2) & nm.unsqueeze(1)
    reach = ((adj & real) | torch.diag_embed(nm)).float()
    for _ in range(max(1, math.ceil(math.log2(max(n, 2))))):
        reach = (reach @ reach > 0).float()
    size = reach.sum(-1)  # (B, n); 0 on padding
    n_real = nm.sum(1, keepdim=True).clamp(min=1).float()
    largest = (size == size.amax(1, keepdim=True)) & nm
    # each component of size s has s nodes, each contributing 1/s
    count = torch.where(nm, 1.0 / size.clamp(min=1), torch.zeros_like(size)).sum(1, keepdim=True)
    node = torch.stack([size / n_real, largest.float(), (count / n_real).expand(-1, n)], -1) * nm.unsqueeze(-1)
    return node, reach * real


def path_distances(adj: Tensor, node_mask: Tensor, k_max: int) -> Tensor:
    """Hard adjacency (B, n, n) bool, node_mask (B, n) -> (B, n, n, k_max): 1 at [..., d − 1] where the
    shortest path from i to j has d edges, d ≤ k_max (breadth-first layers as boolean matrix products)."""
    nm = node_mask > 0
    real = nm.unsqueeze(2) & nm.unsqueeze(1)
    A = (adj & real).float()
    within = torch.diag_embed(nm.float())  # reachable in ≤ d steps, from d = 0
    layers = []
    for _ in range(k_max):
        grown = ((within + within @ A) > 0).float()
        layers.append(grown - within)
        within = grown
    return torch.stack(layers, -1) * real.unsqueeze(-1)
