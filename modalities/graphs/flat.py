"""Graphs as one flat masked vector: the layout, packing, and graphs as classes ⇄ the ±0.5 one-hot encoding.

Flat layout (what the core sees), for a graph with n ≤ n_max nodes, F node channels and C
edge channels:

    x = [ nodes (n_max × F) | upper-triangle pairs (n_max(n_max−1)/2 × C) ]   flattened, row-major

Pairs are ordered as ``torch.triu_indices(n_max, n_max, 1)`` (row by row: (0,1), (0,2), …, (1,2), …).
Only the upper triangle is stored, so whatever the core does per entry (noise, denoising) is
symmetric once unpacked: ``unpack`` mirrors the triangle. The mask is 1 on node rows i < n
(all F channels) and on pairs i < j < n (all C channels), so ``mask.sum()`` is the graph's own
dimension N_i = n·F + n(n−1)/2·C and padding never receives noise.

Values: a one-hot entry is stored as ``onehot − 0.5`` ∈ {−0.5, +0.5}. Every real entry then has
magnitude 0.5, so the data's RMS is exactly 0.5 whatever F, C and the class balance are, which
matches the EDM default σ_data = 0.5. Decoding takes the argmax over channels, which the shift
does not change. Generic graphs use C = 1 (the adjacency bit: +0.5 edge, −0.5 no edge, decoded by
the sign) and F = 0 (no node features: the mask alone says which nodes exist).
"""

from __future__ import annotations

from typing import Callable, Iterable, Sequence

import numpy as np
import torch
from torch import Tensor

from ..shared.onehot import OneHotCodec
from .pairs import PairIndex
from .structure import connected_components

# --------------------------------------------------------------------------------------------
# Flat layout
# --------------------------------------------------------------------------------------------


class GraphLayout:
    """The flat layout for graphs of at most ``n_max`` nodes with F node and C edge channels."""

    def __init__(self, n_max: int, node_dim: int, edge_dim: int):
        if n_max < 1:
            raise ValueError(f"n_max must be ≥ 1, got {n_max}")
        if node_dim < 0 or edge_dim < 1:
            raise ValueError(f"need node_dim ≥ 0 and edge_dim ≥ 1, got {node_dim}, {edge_dim}")
        self.n_max, self.node_dim, self.edge_dim = int(n_max), int(node_dim), int(edge_dim)
        self.pairs = PairIndex(self.n_max)  # the edge block holds the pairs i < j in its order
        self._subs: dict[tuple[int, torch.device], tuple["GraphLayout", Tensor]] = {}

    @property
    def num_pairs(self) -> int:
        return self.n_max * (self.n_max - 1) // 2

    @property
    def node_size(self) -> int:
        """Length of the node block of x."""
        return self.n_max * self.node_dim

    @property
    def dim(self) -> int:
        """Length of the flat vector x."""
        return self.node_size + self.num_pairs * self.edge_dim

    def __repr__(self) -> str:
        return f"GraphLayout(n_max={self.n_max}, node_dim={self.node_dim}, edge_dim={self.edge_dim}, dim={self.dim})"

    def sub(self, m: int, device: torch.device | str = "cpu") -> tuple["GraphLayout", Tensor]:
        """The layout of the first m nodes and the positions (dim_m,) of its entries in this layout's x.

        Real nodes are a prefix (see :meth:`mask`) and the pair order restricted to j < m is
        ``triu_indices(m)``'s, so ``x[:, pos]`` is a batch of graphs of at most m nodes in the
        m-layout, exactly. Cached per (m, device): the backbone asks for it on every forward.
        """
        if not 1 <= m <= self.n_max:
            raise ValueError(f"sub-layout size must lie in [1, {self.n_max}], got {m}")
        key = (int(m), torch.device(device))
        if key not in self._subs:
            node_pos = torch.arange(m * self.node_dim)
            pair_ids = torch.nonzero(self.pairs.j < m).flatten()  # pairs i < j < m, in order
            chan = torch.arange(self.edge_dim)
            pair_pos = self.node_size + (pair_ids.view(-1, 1) * self.edge_dim + chan).flatten()
            self._subs[key] = (GraphLayout(m, self.node_dim, self.edge_dim), torch.cat([node_pos, pair_pos]).to(key[1]))
        return self._subs[key]

    def mask(self, n_nodes: Tensor) -> Tensor:
        """(B,) node counts -> (B, dim) float mask: 1 on node rows i < n and pairs i < j < n."""
        n = torch.as_tensor(n_nodes).long().view(-1, 1)
        if (n > self.n_max).any() or (n < 0).any():
            raise ValueError(f"node counts must lie in [0, {self.n_max}], got {n.flatten().tolist()}")
        ar = torch.arange(self.n_max, device=n.device)
        node_m = (ar.view(1, -1) < n).float()  # (B, n_max)
        node_m = node_m.unsqueeze(-1).expand(-1, -1, self.node_dim).reshape(n.shape[0], -1)
        # pair (i, j) with i < j is real iff j < n
        pair_m = (self.pairs.ij(n.device)[1].view(1, -1) < n).float()
        pair_m = pair_m.unsqueeze(-1).expand(-1, -1, self.edge_dim).reshape(n.shape[0], -1)
        return torch.cat([node_m, pair_m], dim=1)

    def pack(self, nodes: Tensor, edges: Tensor, n_nodes: Tensor) -> tuple[Tensor, Tensor]:
        """nodes (B, n, F), edges (B, n, n, C) with n ≤ n_max, n_nodes (B,) -> x (B, dim), mask (B, dim).

        Only edges[:, i, j] with i < j is read. Entries outside the mask are set to 0.
        """
        n = nodes.shape[1]
        if n > self.n_max or edges.shape[1:3] != (n, n):
            raise ValueError(f"nodes {tuple(nodes.shape)} / edges {tuple(edges.shape)} do not fit n_max={self.n_max}")
        if nodes.shape[2] != self.node_dim or edges.shape[3] != self.edge_dim:
            raise ValueError(
                f"expected {self.node_dim} node and {self.edge_dim} edge channels, got {nodes.shape[2]} and {edges.shape[3]}"
            )
        if n < self.n_max:  # pad to n_max
            pad = self.n_max - n
            nodes = torch.nn.functional.pad(nodes, (0, 0, 0, pad))
            edges = torch.nn.functional.pad(edges, (0, 0, 0, pad, 0, pad))
        mask = self.mask(torch.as_tensor(n_nodes, device=nodes.device)).to(nodes.dtype)
        x = self.pack_values(nodes, edges) * mask
        return x, mask

    def pack_values(self, nodes: Tensor, edges: Tensor) -> Tensor:
        """nodes (B, n_max, F), edges (B, n_max, n_max, C) -> x (B, dim), without masking."""
        B = nodes.shape[0]
        return torch.cat([nodes.reshape(B, -1), self.pairs.to_pairs(edges).reshape(B, -1)], dim=1)

    def unpack(self, x: Tensor) -> tuple[Tensor, Tensor]:
        """x (B, dim) -> nodes (B, n_max, F), edges (B, n_max, n_max, C), symmetric with a zero diagonal."""
        if x.shape[-1] != self.dim:
            raise ValueError(f"x has length {x.shape[-1]}, layout {self} needs {self.dim}")
        B = x.shape[0]
        nodes = x[:, : self.node_size].reshape(B, self.n_max, self.node_dim)
        tri = x[:, self.node_size :].reshape(B, self.num_pairs, self.edge_dim)
        return nodes, self.pairs.to_full(tri)

    def snap(self, x: Tensor, mask: Tensor | None = None) -> Tensor:
        """x (B, dim) -> every node row and pair snapped to the one-hot of its argmax (the edge bit to ±0.5
        when C = 1), zero outside the mask: the nearest graph to an estimate, entry class by entry class."""
        B = x.shape[0]
        nodes = x[:, : self.node_size].reshape(B, self.n_max, self.node_dim)
        tri = x[:, self.node_size :].reshape(B, self.num_pairs, self.edge_dim)
        parts = [OneHotCodec(self.node_dim).snap(nodes).reshape(B, -1)] if self.node_dim else []
        out = torch.cat([*parts, OneHotCodec(self.edge_dim).snap(tri).reshape(B, -1)], dim=1)
        return out if mask is None else out * mask.to(out.dtype)

    def bridge(self, x: Tensor, mask: Tensor, allowed: Callable[[Tensor, Tensor], Tensor] | None = None) -> Tensor:
        """x (B, dim) estimates -> x where each graph whose argmax graph falls apart gets one bridge.

        The estimate's edges are those with P(edge) > 1/2 (channel 0 is "none" when C > 1; the bit
        when C = 1). In a graph of two or more components, the pair between two components with the
        highest P(edge) is set to a definite first edge class (a single bond; the edge bit when
        C = 1); everything else is returned as it was. ``allowed(nodes, edges)`` → (B, n_max) bool, on
        the unpacked estimate, limits the ends of a bridge (e.g. atoms with a free valence); a graph
        with no allowed pair is left alone.
        One bridge per call: a sampler calling this at every step joins k pieces in k − 1 steps
        while the network re-estimates the rest around each new edge.
        """
        nodes, edges = self.unpack(x)
        node_mask = self.node_mask(mask)
        p = (edges + 0.5).clamp(0, 1)
        A = p[..., 0] if self.edge_dim == 1 else 1 - p[..., 0]
        _, reach = connected_components(A > 0.5, node_mask)
        ends = node_mask > 0 if allowed is None else (node_mask > 0) & allowed(nodes, edges)
        cross = (reach == 0) & ends.unsqueeze(2) & ends.unsqueeze(1)
        cross &= torch.ones_like(cross[0]).triu(1)  # each pair once, i < j
        score = A.masked_fill(~cross, -1.0).flatten(1)
        best, k = score.max(dim=1)
        rows = torch.nonzero(best >= 0).flatten()
        if rows.numel() == 0:
            return x
        i, j = k[rows] // self.n_max, k[rows] % self.n_max
        one = torch.full((self.edge_dim,), -0.5, dtype=x.dtype, device=x.device)
        one[0 if self.edge_dim == 1 else 1] = 0.5
        edges = edges.clone()
        edges[rows, i, j] = one
        edges[rows, j, i] = one
        out = x.clone()
        out[rows] = torch.where(mask[rows] > 0, self.pack_values(nodes[rows], edges[rows]), x[rows])
        return out

    def node_mask(self, mask: Tensor) -> Tensor:
        """Flat (B, dim) mask -> (B, n_max) float, 1 on real nodes.

        With F = 0 the node block is empty and a node counts as real when any pair touching it
        is real (so a 1-node graph has no real node there; generic graphs have ≥ 2 nodes).
        """
        B = mask.shape[0]
        if self.node_dim > 0:
            return mask[:, : self.node_size].reshape(B, self.n_max, self.node_dim)[..., 0]
        _, pm = self.unpack(mask.to(torch.float32))
        return (pm[..., 0].amax(dim=-1) > 0).to(mask.dtype)

    def n_nodes(self, mask: Tensor) -> Tensor:
        """Flat (B, dim) mask -> (B,) long node counts."""
        return self.node_mask(mask).sum(dim=1).round().long()


def pack(nodes: Tensor, edges: Tensor, n_nodes: Tensor) -> tuple[Tensor, Tensor]:
    """nodes (B, n_max, F), edges (B, n_max, n_max, C), n_nodes (B,) -> x, mask (B, dim); n_max, F, C from the shapes."""
    return GraphLayout(nodes.shape[1], nodes.shape[2], edges.shape[3]).pack(nodes, edges, n_nodes)


def unpack(x: Tensor, n_max: int, node_dim: int, edge_dim: int) -> tuple[Tensor, Tensor]:
    """x (B, dim) -> nodes (B, n_max, F), edges (B, n_max, n_max, C) symmetric. See :class:`GraphLayout`."""
    return GraphLayout(n_max, node_dim, edge_dim).unpack(x)


def encode_classes(
    layout: GraphLayout, node_cls: Sequence[Sequence[int]], edge_lists: Sequence[Iterable[tuple[int, int, int]]]
) -> tuple[Tensor, Tensor]:
    """Graphs as class indices -> x, mask (B, dim) in the ±0.5 one-hot convention.

    node_cls[b]: the class of each node (length n_b). edge_lists[b]: (i, j, edge_class) triples,
    edge class 0 meaning "no edge" (so it never needs listing). With edge_dim = 1 the single
    channel is the adjacency bit and edge classes must be 1.
    """
    B = len(node_cls)
    n = np.array([len(v) for v in node_cls], dtype=np.int64)
    F, C, N = layout.node_dim, layout.edge_dim, layout.n_max
    if B and n.max() > N:
        b = int(n.argmax())
        raise ValueError(f"graph {b} has {int(n[b])} nodes, more than n_max={N}")
    # numpy in the per-graph loop: torch's per-call overhead dominates on tiny tensors
    nodes = np.zeros((B, N, F), dtype=np.float32)
    cls = np.zeros((B, N, N), dtype=np.int64)  # edge class per pair, 0 = none
    for b in range(B):
        if F > 0 and n[b]:
            nodes[b, np.arange(n[b]), np.asarray(node_cls[b], dtype=np.int64)] = 1.0
        for i, j, k in edge_lists[b]:
            if not (0 <= k < max(C, 2)) or (C > 1 and k == 0):
                raise ValueError(f"graph {b}: edge class {k} out of range for {C} edge channels")
            cls[b, i, j] = cls[b, j, i] = k
    edge_codec = OneHotCodec(C)
    edges = edge_codec.encode(torch.from_numpy(cls > 0 if C == 1 else cls))
    return layout.pack(torch.from_numpy(nodes) - edge_codec.shift, edges, torch.from_numpy(n))


def decode_classes(layout: GraphLayout, x: Tensor, mask: Tensor) -> list[tuple[np.ndarray, np.ndarray]]:
    """x, mask (B, dim) -> per graph (node classes (n,), edge classes (n, n) symmetric, 0 = none), numpy int64.

    Node classes are the argmax over F channels (empty when F = 0); edge classes the argmax over
    C channels, or for C = 1 the sign of the adjacency value (> 0 = edge = class 1).
    """
    x = x.detach().float().cpu()
    nodes, edges = layout.unpack(x)
    counts = layout.n_nodes(mask.detach().cpu()).tolist()
    if layout.node_dim > 0:
        node_cls = OneHotCodec(layout.node_dim).decode(nodes).numpy()
    else:
        node_cls = np.zeros((x.shape[0], layout.n_max), np.int64)
    edge_cls = OneHotCodec(layout.edge_dim).decode(edges).numpy()
    out = []
    for b, n in enumerate(counts):
        ec = edge_cls[b, :n, :n].copy()
        np.fill_diagonal(ec, 0)
        out.append((node_cls[b, :n].copy(), ec))
    return out
