"""Quality metrics for generated graphs: degree / clustering / orbit / spectral MMD with the GraphRNN–GDSS
kernels, and the NSPDK MMD.

Graph MMDs follow GDSS's evaluation code exactly (squared MMD, biased estimator with the
diagonal, no square root): degree histograms and spectral densities (normalized-Laplacian
eigenvalues, 200 bins on [−1e−5, 2]) with the Gaussian-EMD kernel σ = 1; clustering coefficients
(100 bins on [0, 1]) with Gaussian-EMD σ = 0.1 and distance scaling 100; orbit counts (orbits 0–14
of graphlets up to 4 nodes, summed over nodes / n) with the Gaussian kernel on the L2 distance,
σ = 30 — GDSS's choice; GRAN's Gaussian-TV variant is available with ``orbit_kernel="gaussian_tv"``.
The orbit counts come from a pure-Python enumeration of connected induced 3- and 4-node
subgraphs (ESU), not ORCA. NSPDK MMD (GDSS reports it for molecules, on graphs labelled with
atom symbols and bond orders: :mod:`modalities.molecules.metrics`) is :mod:`.nspdk`'s implementation
of EDeN's feature map with GDSS's settings (no EDeN needed; the same features as EDeN bit for bit on
integer labels).
"""

from __future__ import annotations

import math
from typing import Any, Callable, Iterable, Sequence

import numpy as np


# --------------------------------------------------------------------------------------------
# Kernels and MMD (GraphRNN / GDSS definitions)
# --------------------------------------------------------------------------------------------


def _pad(a: np.ndarray, n: int) -> np.ndarray:
    return np.pad(a, (0, n - len(a))) if len(a) < n else a


def emd_1d(x: np.ndarray, y: np.ndarray, distance_scaling: float = 1.0) -> float:
    """Earth mover's distance between two histograms on bins 0, 1, 2, … with ground distance |i − j| / scaling.

    For equal total mass this is Σ_k |CDF_x(k) − CDF_y(k)| / scaling (what pyemd computes for
    GDSS's Toeplitz distance matrix); shorter inputs are zero-padded.
    """
    n = max(len(x), len(y))
    cx, cy = np.cumsum(_pad(np.asarray(x, float), n)), np.cumsum(_pad(np.asarray(y, float), n))
    return float(np.abs(cx - cy).sum() / distance_scaling)


def gaussian_emd(x: np.ndarray, y: np.ndarray, sigma: float = 1.0, distance_scaling: float = 1.0) -> float:
    """exp(−EMD² / 2σ²)."""
    d = emd_1d(x, y, distance_scaling)
    return math.exp(-d * d / (2 * sigma * sigma))


def gaussian(x: np.ndarray, y: np.ndarray, sigma: float = 1.0) -> float:
    """exp(−‖x − y‖² / 2σ²) (zero-padded to a common length)."""
    n = max(len(x), len(y))
    d = np.linalg.norm(_pad(np.asarray(x, float), n) - _pad(np.asarray(y, float), n))
    return math.exp(-d * d / (2 * sigma * sigma))


def gaussian_tv(x: np.ndarray, y: np.ndarray, sigma: float = 1.0) -> float:
    """exp(−TV² / 2σ²) with TV = ½ ‖x − y‖₁ (zero-padded)."""
    n = max(len(x), len(y))
    d = 0.5 * np.abs(_pad(np.asarray(x, float), n) - _pad(np.asarray(y, float), n)).sum()
    return math.exp(-d * d / (2 * sigma * sigma))


KERNELS: dict[str, Callable[..., float]] = {"gaussian_emd": gaussian_emd, "gaussian": gaussian, "gaussian_tv": gaussian_tv}


def _kernel_matrix(a: list[np.ndarray], b: list[np.ndarray], kernel: str, **kw) -> np.ndarray:
    """Vectorised kernel matrix (len(a), len(b)); same values as calling the kernel pairwise."""
    n = max(max(len(v) for v in a), max(len(v) for v in b))
    A = np.stack([_pad(np.asarray(v, float), n) for v in a])
    B = np.stack([_pad(np.asarray(v, float), n) for v in b])
    sigma = kw.get("sigma", 1.0)
    out = np.empty((len(A), len(B)))
    if kernel == "gaussian_emd":
        A, B = np.cumsum(A, 1), np.cumsum(B, 1)
    step = max(1, 2_000_000 // max(1, len(B) * n))  # rows per chunk: bounded memory
    for s in range(0, len(A), step):
        diff = A[s : s + step, None, :] - B[None, :, :]
        if kernel == "gaussian_emd":
            d = np.abs(diff).sum(-1) / kw.get("distance_scaling", 1.0)
        elif kernel == "gaussian":
            d = np.sqrt((diff**2).sum(-1))
        elif kernel == "gaussian_tv":
            d = 0.5 * np.abs(diff).sum(-1)
        else:
            raise ValueError(f"unknown kernel {kernel!r}; choose from {sorted(KERNELS)}")
        out[s : s + step] = np.exp(-d * d / (2 * sigma * sigma))
    return out


def compute_mmd(
    samples1: Sequence[np.ndarray], samples2: Sequence[np.ndarray], kernel: str = "gaussian_emd", is_hist: bool = True, **kw
) -> float:
    """Squared MMD, biased estimator: mean K(X,X) + mean K(Y,Y) − 2 mean K(X,Y) (GDSS's compute_mmd).

    is_hist: normalise each sample to sum 1 first. kw: sigma, distance_scaling.
    """
    if len(samples1) == 0 or len(samples2) == 0:
        return float("nan")
    if is_hist:
        samples1 = [np.asarray(s, float) / max(np.sum(s), 1e-12) for s in samples1]
        samples2 = [np.asarray(s, float) / max(np.sum(s), 1e-12) for s in samples2]
    s1, s2 = list(samples1), list(samples2)
    return float(
        _kernel_matrix(s1, s1, kernel, **kw).mean()
        + _kernel_matrix(s2, s2, kernel, **kw).mean()
        - 2 * _kernel_matrix(s1, s2, kernel, **kw).mean()
    )


# --------------------------------------------------------------------------------------------
# Graph statistics
# --------------------------------------------------------------------------------------------


def degree_histogram(G) -> np.ndarray:
    import networkx as nx

    return np.asarray(nx.degree_histogram(G), float)


def clustering_histogram(G, bins: int = 100) -> np.ndarray:
    import networkx as nx

    h, _ = np.histogram(list(nx.clustering(G).values()), bins=bins, range=(0.0, 1.0))
    return h.astype(float)


def spectral_density(G, bins: int = 200) -> np.ndarray:
    """Histogram (as a pmf) of the normalized Laplacian's eigenvalues on [−1e−5, 2]."""
    import networkx as nx
    from scipy.linalg import eigvalsh

    eigs = eigvalsh(nx.normalized_laplacian_matrix(G).toarray())
    h, _ = np.histogram(eigs, bins=bins, range=(-1e-5, 2), density=False)
    return h / h.sum()


def _connected_subsets(adj: list[set[int]], k: int) -> Iterable[tuple[int, ...]]:
    """Every connected induced k-node subset exactly once (Wernicke's ESU algorithm)."""

    def extend(sub: list[int], sub_nbh: set[int], ext: set[int], root: int):
        if len(sub) == k:
            yield tuple(sub)
            return
        ext = set(ext)
        while ext:
            w = ext.pop()
            # exclusive neighbours of w: above the root, not in the subgraph nor next to it
            new = {u for u in adj[w] if u > root and u not in sub_nbh}
            yield from extend(sub + [w], sub_nbh | adj[w] | {w}, ext | new, root)

    for v in range(len(adj)):
        yield from extend([v], adj[v] | {v}, {u for u in adj[v] if u > v}, v)


def orbit_counts(G) -> np.ndarray:
    """(n, 15) node orbit counts of graphlets with 2–4 nodes, in ORCA's numbering.

    0 edge; 1/2 path P3 end/middle; 3 triangle; 4/5 path P4 end/inner; 6/7 star leaf/centre;
    8 cycle C4; 9/10/11 paw tail/degree-2/degree-3; 12/13 diamond degree-2/degree-3; 14 K4.
    Nodes are taken in G's node order.
    """
    nodes = list(G.nodes())
    index = {v: i for i, v in enumerate(nodes)}
    adj = [set() for _ in nodes]
    for u, v in G.edges():
        if u != v:
            adj[index[u]].add(index[v])
            adj[index[v]].add(index[u])
    out = np.zeros((len(nodes), 15), dtype=np.int64)
    for i, a in enumerate(adj):
        out[i, 0] = len(a)
    for sub in _connected_subsets(adj, 3):
        deg = [sum(u in adj[v] for u in sub) for v in sub]
        if sum(deg) == 6:
            for v in sub:
                out[v, 3] += 1
        else:
            for v, d in zip(sub, deg):
                out[v, 2 if d == 2 else 1] += 1
    for sub in _connected_subsets(adj, 4):
        deg = [sum(u in adj[v] for u in sub) for v in sub]
        m = sum(deg) // 2
        if m == 3:
            star = max(deg) == 3
            for v, d in zip(sub, deg):
                out[v, (7 if d == 3 else 6) if star else (4 if d == 1 else 5)] += 1
        elif m == 4:
            if max(deg) == 2:
                for v in sub:
                    out[v, 8] += 1
            else:
                for v, d in zip(sub, deg):
                    out[v, {1: 9, 2: 10, 3: 11}[d]] += 1
        elif m == 5:
            for v, d in zip(sub, deg):
                out[v, 12 if d == 2 else 13] += 1
        else:
            for v in sub:
                out[v, 14] += 1
    return out


def _nonempty(graphs: Sequence) -> list:
    return [G for G in graphs if G.number_of_nodes() > 0]


def degree_mmd(ref: Sequence, pred: Sequence) -> float:
    """GDSS degree MMD (Gaussian EMD, σ = 1)."""
    return compute_mmd(
        [degree_histogram(G) for G in ref], [degree_histogram(G) for G in _nonempty(pred)], "gaussian_emd", sigma=1.0
    )


def clustering_mmd(ref: Sequence, pred: Sequence, bins: int = 100) -> float:
    """GDSS clustering MMD (Gaussian EMD, σ = 0.1, distance scaling = bins)."""
    return compute_mmd(
        [clustering_histogram(G, bins) for G in ref],
        [clustering_histogram(G, bins) for G in _nonempty(pred)],
        "gaussian_emd",
        sigma=0.1,
        distance_scaling=bins,
    )


def spectral_mmd(ref: Sequence, pred: Sequence) -> float:
    """GDSS spectral MMD (Gaussian EMD, σ = 1, on 200-bin eigenvalue pmfs)."""
    return compute_mmd(
        [spectral_density(G) for G in ref], [spectral_density(G) for G in _nonempty(pred)], "gaussian_emd", sigma=1.0
    )


def orbit_mmd(ref: Sequence, pred: Sequence, kernel: str = "gaussian", sigma: float = 30.0) -> float:
    """Orbit MMD on per-graph mean orbit counts (is_hist=False, σ = 30); GDSS's kernel is 'gaussian'."""

    def feats(gs):
        return [orbit_counts(G).sum(0) / G.number_of_nodes() for G in gs]

    return compute_mmd(feats(ref), feats(_nonempty(pred)), kernel, is_hist=False, sigma=sigma)


def nspdk_mmd(ref: Sequence | np.ndarray | None, pred: Sequence) -> float:
    """NSPDK MMD as GDSS computes it (EDeN's features at complexity 4, linear kernel); see :mod:`.nspdk`.

    ``ref``: graphs, or their mean feature vector (:func:`.nspdk.nspdk_mean`)."""
    from .nspdk import nspdk_mmd as _mmd

    return _mmd(ref, pred)


def graph_metrics(pred: Sequence, ref: Sequence, orbit_kernel: str = "gaussian", with_nspdk: bool = True) -> dict[str, Any]:
    """degree / cluster / orbit / spectral MMD (+ nspdk) of ``pred`` vs ``ref``."""
    out: dict[str, Any] = {
        "degree": degree_mmd(ref, pred),
        "cluster": clustering_mmd(ref, pred),
        "orbit": orbit_mmd(ref, pred, kernel=orbit_kernel),
        "spectral": spectral_mmd(ref, pred),
        "num_samples": float(len(pred)),
    }
    if with_nspdk:
        out["nspdk"] = nspdk_mmd(ref, pred)
    return out
