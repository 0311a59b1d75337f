"""Every graph metric (modalities/graphs/metrics.py: kernels, MMDs, orbit counts) against values computed by hand
on tiny inputs."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest

nx = pytest.importorskip("networkx")

from pfgm.modalities.graphs import metrics as M  # noqa: E402


# ------------------------------------------------------------------ kernels and MMD


def test_emd_and_kernels_by_hand():
    assert M.emd_1d(np.array([1.0, 0]), np.array([0, 1.0])) == pytest.approx(1.0)
    assert M.emd_1d(np.array([1.0]), np.array([0, 0, 1.0]), distance_scaling=4) == pytest.approx(0.5)
    assert M.gaussian_emd(np.array([1.0, 0]), np.array([0, 1.0])) == pytest.approx(math.exp(-0.5))
    assert M.gaussian(np.array([0.0, 0]), np.array([3.0, 4]), sigma=5) == pytest.approx(math.exp(-0.5))
    assert M.gaussian_tv(np.array([1.0, 0]), np.array([0, 1.0]), sigma=1) == pytest.approx(math.exp(-0.5))


def test_mmd_matches_pairwise_definition():
    rng = np.random.default_rng(0)
    s1 = [rng.random(rng.integers(2, 6)) for _ in range(4)]
    s2 = [rng.random(rng.integers(2, 6)) for _ in range(3)]
    for name, kw in [
        ("gaussian_emd", {"sigma": 0.7, "distance_scaling": 3}),
        ("gaussian", {"sigma": 2.0}),
        ("gaussian_tv", {"sigma": 0.5}),
    ]:
        k = M.KERNELS[name]
        p1 = [s / s.sum() for s in s1]
        p2 = [s / s.sum() for s in s2]

        def disc(a, b):
            return np.mean([k(x, y, **kw) for x in a for y in b])

        expect = disc(p1, p1) + disc(p2, p2) - 2 * disc(p1, p2)
        assert M.compute_mmd(s1, s2, name, **kw) == pytest.approx(expect, abs=1e-12)
    assert M.compute_mmd([np.array([1.0, 0])], [np.array([0, 1.0])]) == pytest.approx(2 - 2 * math.exp(-0.5))


def test_degree_clustering_spectral_mmd_by_hand():
    path3, tri = nx.path_graph(3), nx.complete_graph(3)
    # degree pmfs (0, 2/3, 1/3) vs (0, 0, 1): CDF gap (0, 2/3, 0) -> EMD 2/3
    assert M.degree_mmd([path3], [tri]) == pytest.approx(2 - 2 * math.exp(-((2 / 3) ** 2) / 2))
    assert M.degree_mmd([path3], [path3]) == pytest.approx(0.0)
    # clustering: all 0 (bin 0) vs all 1 (bin 99): EMD 99/100, σ = 0.1
    assert M.clustering_mmd([path3], [tri]) == pytest.approx(2 - 2 * math.exp(-(0.99**2) / (2 * 0.01)))
    # spectral: K2's normalized Laplacian has eigenvalues {0, 2} -> bins 0 and 199, half each
    k2 = nx.complete_graph(2)
    dens = M.spectral_density(k2)
    assert dens[0] == pytest.approx(0.5) and dens[199] == pytest.approx(0.5) and dens.sum() == pytest.approx(1)
    # P3: eigenvalues {0, 1, 2}: bins 0, 100 (1.0 lies in [0.99999.., 1.00999..)), 199
    d3 = M.spectral_density(path3)
    assert np.nonzero(d3)[0].tolist() == [0, 100, 199]
    # EMD between K2 and P3 densities: CDFs (1/2 … 1/2 | 1) vs (1/3 … 2/3 | 1): gaps 1/6 on bins 0–99, 1/6 on 100–198
    emd = 100 * (1 / 6) + 99 * (1 / 6)
    assert M.spectral_mmd([k2], [path3]) == pytest.approx(2 - 2 * math.exp(-(emd**2) / 2))


# ------------------------------------------------------------------ orbits


def _o(G):
    return M.orbit_counts(G)


def test_orbit_counts_hand_examples():
    star = nx.star_graph(3)  # centre 0
    o = _o(star)
    assert o[0].tolist() == [3, 0, 3, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0]
    assert o[1].tolist() == [1, 2, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0]
    p4 = _o(nx.path_graph(4))
    assert p4[0].tolist() == [1, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]
    assert p4[1].tolist() == [2, 1, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0]
    c4 = _o(nx.cycle_graph(4))
    assert all(r.tolist() == [2, 2, 1, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0] for r in c4)
    k4 = _o(nx.complete_graph(4))
    assert all(r.tolist() == [3, 0, 0, 3, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1] for r in k4)
    paw = nx.Graph([(0, 1), (1, 2), (0, 2), (2, 3)])
    o = _o(paw)
    assert o[3].tolist() == [1, 2, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0]
    assert o[2].tolist() == [3, 0, 2, 1, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0]
    assert o[0].tolist() == [2, 1, 0, 1, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0]
    diamond = nx.Graph([(0, 1), (0, 2), (1, 2), (1, 3), (2, 3)])
    o = _o(diamond)
    assert o[0].tolist() == [2, 2, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0]
    assert o[1].tolist() == [3, 0, 1, 2, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0]


def _brute_orbits(G):
    """Independent check: classify every 3-/4-subset by brute force."""
    n = G.number_of_nodes()
    out = np.zeros((n, 15), dtype=np.int64)
    for v in G:
        out[v, 0] = G.degree(v)
    for k in (3, 4):
        for sub in itertools.combinations(range(n), k):
            H = G.subgraph(sub)
            if not nx.is_connected(H):
                continue
            m = H.number_of_edges()
            for v in sub:
                d = H.degree(v)
                if k == 3:
                    out[v, 3 if m == 3 else (2 if d == 2 else 1)] += 1
                elif m == 3:
                    star = max(dict(H.degree()).values()) == 3
                    out[v, (7 if d == 3 else 6) if star else (4 if d == 1 else 5)] += 1
                elif m == 4:
                    cyc = max(dict(H.degree()).values()) == 2
                    out[v, 8 if cyc else {1: 9, 2: 10, 3: 11}[d]] += 1
                elif m == 5:
                    out[v, 12 if d == 2 else 13] += 1
                else:
                    out[v, 14] += 1
    return out


def test_orbit_counts_match_brute_force_on_random_graphs():
    for seed in range(4):
        G = nx.gnp_random_graph(9, 0.45, seed=seed)
        assert np.array_equal(M.orbit_counts(G), _brute_orbits(G))


def test_orbit_mmd_by_hand():
    a, b = nx.complete_graph(4), nx.cycle_graph(4)
    fa = M.orbit_counts(a).sum(0) / 4
    fb = M.orbit_counts(b).sum(0) / 4
    d2 = float(((fa - fb) ** 2).sum())  # (3-2)² + 2² + 1 + 3² + 1 + 1 = 17
    assert d2 == pytest.approx(17.0)
    assert M.orbit_mmd([a], [b]) == pytest.approx(2 - 2 * math.exp(-d2 / (2 * 30.0**2)))
    tv = 0.5 * float(np.abs(fa - fb).sum())
    assert M.orbit_mmd([a], [b], kernel="gaussian_tv") == pytest.approx(2 - 2 * math.exp(-(tv**2) / (2 * 30.0**2)))


def test_graph_metrics_identical_sets_are_zero_and_note_nspdk():
    gs = [nx.cycle_graph(5), nx.path_graph(6), nx.star_graph(4)]
    out = M.graph_metrics(gs, gs)
    for k in ("degree", "cluster", "orbit", "spectral"):
        assert out[k] == pytest.approx(0.0, abs=1e-12)
    assert "nspdk" in out or "nspdk_note" in out
    # empty predicted graphs are dropped like GDSS does
    assert M.degree_mmd(gs, gs + [nx.Graph()]) == pytest.approx(0.0, abs=1e-12)
