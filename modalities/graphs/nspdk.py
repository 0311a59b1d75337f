"""NSPDK: the neighbourhood subgraph pairwise distance kernel (Costa & De Grave, ICML 2010), and the
NSPDK MMD that GDSS reports for molecules, without the EDeN package.

GDSS scores a set of graphs against the test graphs with EDeN's ``vectorize(graphs, complexity=4,
discrete=True)`` (radius r = 4, distance d = 4, 2^16 hashed features, per-block then global L2
normalisation) and the linear kernel, and reports the biased squared MMD
``mean K(X,X) + mean K(Y,Y) − 2 mean K(X,Y)``. This module computes the same feature map:

- every edge becomes a vertex carrying the edge's label, joined to both endpoints, so distances
  in the expanded graph are twice the original ones and bond orders are part of neighbourhoods;
- a rooted neighbourhood of radius R (expanded units 0, 2, …, 2r) is identified by the sorted
  multiset of (label, degree in the expanded graph) of the vertices at each distance 0 … R,
  hashed cumulatively; it exists only when R ≤ the root's eccentricity;
- for every ordered pair of atoms (v, u) at distance D ≤ d and every R ≤ r, one feature for the
  unordered pair of neighbourhood hashes with (R, D), and one "half" feature for u's neighbourhood
  alone with (R, D) (EDeN's context features), each counted +1;
- the counts of each (R, D) block are scaled to unit norm, then the whole vector.

As in EDeN, two blocks whose features hash to the same bin keep the later block's value (EDeN
writes, not adds, when it merges blocks); collisions are rare at 2^16 bins. Node labels are
hashed with CRC32 instead of Python's per-process randomised ``hash(str)``, so features are
reproducible across runs; kernel values do not depend on which hash is used except through collisions.

With the linear kernel the MMD is exactly ``‖mean φ(X) − mean φ(Y)‖²``, which is what
:func:`nspdk_mmd` computes (no 10,000 × 13,000 kernel matrix).
"""

from __future__ import annotations

import math
import zlib
from collections import defaultdict
from typing import Any, Sequence

import numpy as np
from scipy.sparse import csr_matrix

__all__ = ["NSPDK_R", "NSPDK_D", "NSPDK_BITS", "nspdk_features", "nspdk_matrix", "nspdk_kernel", "nspdk_mean", "nspdk_mmd"]

#: GDSS's setting: EDeN ``complexity=4`` means r = d = 4; EDeN's default nbits = 16
NSPDK_R, NSPDK_D, NSPDK_BITS = 4, 4, 16

_MASK32 = (1 << 32) - 1  # EDeN hashes neighbourhoods to 32 bits before the feature hash


def _h(value: Any, mask: int) -> int:
    # Python's tuple-of-int hash is deterministic across processes (only str/bytes hashing is salted)
    return (hash(value) & mask) + 1


def _label_hash(label: Any, mask: int) -> int:
    if isinstance(label, (bool, np.bool_)):
        label = int(label)
    if isinstance(label, (int, np.integer)):
        return (int(label) & mask) + 1  # as hash(int) would give
    return (zlib.crc32(str(label).encode()) & mask) + 1


def _expanded(G) -> tuple[list[list[int]], list[int], int]:
    """Edge-to-vertex transform: (adjacency lists, vertex label hashes, number of atom vertices)."""
    mask = (1 << NSPDK_BITS) - 1
    nodes = list(G.nodes())
    index = {v: i for i, v in enumerate(nodes)}
    adj: list[list[int]] = [[] for _ in nodes]
    labels = [_label_hash(G.nodes[v].get("label", "0"), mask) for v in nodes]
    for u, v, data in G.edges(data=True):
        if u == v:
            continue
        w = len(adj)
        adj.append([index[u], index[v]])
        labels.append(_label_hash(data.get("label", "0"), mask))
        adj[index[u]].append(w)
        adj[index[v]].append(w)
    return adj, labels, len(nodes)


def _shells(adj: list[list[int]], root: int, depth: int) -> list[list[int]]:
    """Vertices at expanded distance 0, 1, … ≤ depth from root (breadth first)."""
    seen = {root}
    shells = [[root]]
    frontier = [root]
    for _ in range(depth):
        nxt = []
        for u in frontier:
            for v in adj[u]:
                if v not in seen:
                    seen.add(v)
                    nxt.append(v)
        if not nxt:
            break
        shells.append(nxt)
        frontier = nxt
    return shells


def nspdk_features(G, r: int = NSPDK_R, d: int = NSPDK_D, nbits: int = NSPDK_BITS) -> dict[int, float]:
    """The normalised NSPDK feature vector of one labelled networkx graph, as {feature id: value}.

    Node attribute 'label' (e.g. the atom symbol) and edge attribute 'label' (e.g. the bond order);
    missing labels count as '0'. An empty graph has no features (an empty dict).
    """
    if G.number_of_nodes() == 0:
        return {}
    fmask = (1 << nbits) - 1
    adj, labels, n_atoms = _expanded(G)
    depth = 2 * max(r, d)
    vlabel = [_h((labels[v], len(adj[v])), _MASK32) for v in range(len(adj))]
    shells, neigh = [], []
    for v in range(n_atoms):
        sh = _shells(adj, v, depth)
        shells.append(sh)
        running, hashes = 0xAAAAAAAA, []
        for i, shell in enumerate(sh):
            running ^= hash((running, _h(tuple(sorted(vlabel[w] for w in shell)), _MASK32), i))
            hashes.append((running & _MASK32) + 1)
        neigh.append(hashes)  # neigh[v][R]: neighbourhood of radius R (expanded units), R ≤ eccentricity
    blocks: dict[tuple[int, int], dict[int, float]] = defaultdict(lambda: defaultdict(float))
    for v in range(n_atoms):
        hv = neigh[v]
        for D in range(0, 2 * d + 1, 2):
            if D >= len(shells[v]):
                break
            for u in shells[v][D]:
                if u >= n_atoms:  # edge vertices are never pair roots
                    continue
                hu = neigh[u]
                for R in range(0, min(2 * r, len(hv) - 1, len(hu) - 1) + 1, 2):
                    a, b = (hv[R], hu[R]) if hv[R] < hu[R] else (hu[R], hv[R])
                    block = blocks[(R, D)]
                    block[_h((a, b, R, D), fmask)] += 1.0
                    block[_h((hu[R], R, D), fmask)] += 1.0
    out: dict[int, float] = {}
    for block in blocks.values():  # in creation order, like EDeN (later blocks win a collision)
        norm = math.sqrt(sum(c * c for c in block.values()))
        for f, c in block.items():
            out[f] = c / norm
    total = math.sqrt(sum(x * x for x in out.values()))
    return {f: x / total for f, x in out.items()} if total > 0 else out


def nspdk_matrix(graphs: Sequence, r: int = NSPDK_R, d: int = NSPDK_D, nbits: int = NSPDK_BITS) -> csr_matrix:
    """(len(graphs), 2^nbits + 1) sparse matrix of normalised NSPDK features, one row per graph."""
    data, rows, cols = [], [], []
    for i, G in enumerate(graphs):
        for f, x in nspdk_features(G, r, d, nbits).items():
            rows.append(i)
            cols.append(f)
            data.append(x)
    return csr_matrix((data, (rows, cols)), shape=(len(graphs), (1 << nbits) + 1), dtype=np.float64)


def nspdk_kernel(G1, G2, **kw) -> float:
    """Normalised NSPDK kernel value k(G1, G2) = ⟨φ(G1), φ(G2)⟩ ∈ [0, 1] (1 for isomorphic graphs)."""
    X = nspdk_matrix([G1, G2], **kw)
    return float(X[0].multiply(X[1]).sum())


def nspdk_mean(graphs: Sequence, **kw) -> np.ndarray | None:
    """Mean normalised NSPDK feature vector of the non-empty graphs (None if there are none).

    Reuse it for a reference set scored against several sample sets (``nspdk_mmd(ref_mean, ...)``).
    """
    graphs = [G for G in graphs if G.number_of_nodes() > 0]
    if not graphs:
        return None
    return np.asarray(nspdk_matrix(graphs, **kw).mean(axis=0)).ravel()


def nspdk_mmd(ref: Sequence | np.ndarray | None, pred: Sequence, **kw) -> float:
    """GDSS's NSPDK MMD: biased squared MMD with the linear kernel on NSPDK features.

    Equals mean K(ref, ref) + mean K(pred, pred) − 2 mean K(ref, pred) exactly, computed as the
    squared distance of the mean feature vectors. ``ref`` may be graphs or their
    :func:`nspdk_mean`. Empty graphs are dropped (EDeN refuses them); NaN when a side is empty.
    """
    mx = ref if isinstance(ref, np.ndarray) or ref is None else nspdk_mean(ref, **kw)
    my = nspdk_mean(pred, **kw)
    if mx is None or my is None:
        return float("nan")
    diff = mx - my
    return float(diff @ diff)
