"""Tests for the graph denoiser backbones: shapes, masking, permutation equivariance, conditioning."""

from __future__ import annotations

import pytest
import torch

from pfgm.modalities.graphs.backbone import GraphTransformer, build_backbone, count_parameters
from pfgm.modalities.graphs.flat import GraphLayout

TYPES = ["transformer"]


def _model(kind, n_max=7, F=3, C=4, **kw):
    torch.manual_seed(0)
    kw = {"node_width": 32, "edge_width": 16, "depth": 2, **kw}
    if kind == "transformer":
        kw.setdefault("heads", 4)
    model = build_backbone(n_max, F, C, type=kind, **kw).double().eval()
    # FiLM layers start at zero (blocks begin unmodulated); perturb every weight, as training
    # would, so the conditioning paths are exercised too
    with torch.no_grad():
        for p in model.parameters():
            p.add_(0.1 * torch.randn_like(p))
    return model


def _graph_batch(B, n, F, C, seed=0):
    g = torch.Generator().manual_seed(seed)
    nodes = torch.randn(B, n, F, generator=g, dtype=torch.float64)
    e = torch.randn(B, n, n, C, generator=g, dtype=torch.float64)
    return nodes, e + e.transpose(1, 2)


def _perm_inputs(nodes, edges, perm):
    return nodes[:, perm], edges[:, perm][:, :, perm]


@pytest.mark.parametrize("kind", TYPES)
@pytest.mark.parametrize("F,C", [(3, 4), (0, 1)])
def test_permutation_equivariance_full_graph(kind, F, C):
    n = 7
    model = _model(kind, n, F, C)
    L = GraphLayout(n, F, C)
    nodes, edges = _graph_batch(2, n, F, C)
    counts = torch.tensor([n, n])
    perm = torch.randperm(n, generator=torch.Generator().manual_seed(1))
    x, mask = L.pack(nodes, edges, counts)
    xp, maskp = L.pack(*_perm_inputs(nodes, edges, perm), counts)
    c = torch.tensor([0.3, -0.7], dtype=torch.float64)
    with torch.no_grad():
        on, oe = L.unpack(model(x, c, mask=mask))
        pn, pe = L.unpack(model(xp, c, mask=maskp))
    assert torch.allclose(pn, on[:, perm], atol=1e-5)
    assert torch.allclose(pe, oe[:, perm][:, :, perm], atol=1e-5)


@pytest.mark.parametrize("kind,options", [(k, {}) for k in TYPES])
def test_permutation_equivariance_with_padding_and_padding_invariance(kind, options):
    n_max, n, F, C = 9, 6, 3, 4
    model = _model(kind, n_max, F, C, **options)
    L = GraphLayout(n_max, F, C)
    nodes, edges = _graph_batch(1, n, F, C, seed=3)
    counts = torch.tensor([n])
    perm = torch.randperm(n, generator=torch.Generator().manual_seed(2))
    x, mask = L.pack(nodes, edges, counts)
    xp, maskp = L.pack(*_perm_inputs(nodes, edges, perm), counts)
    assert torch.equal(mask, maskp)
    c = torch.tensor([0.1], dtype=torch.float64)
    with torch.no_grad():
        out = model(x, c, mask=mask)
        outp = model(xp, c, mask=mask)
        # junk in the padded part of x changes nothing: padding is excluded everywhere
        out_junk = model(x + 5 * (1 - mask) * torch.randn_like(x), c, mask=mask)
    assert (out[mask == 0] == 0).all()
    assert torch.allclose(out, out_junk, atol=1e-10)
    on, oe = L.unpack(out)
    pn, pe = L.unpack(outp)
    assert torch.allclose(pn[:, :n], on[:, perm], atol=1e-5)
    assert torch.allclose(pe[:, :n, :n], oe[:, perm][:, :, perm][:, :n, :n], atol=1e-5)


@pytest.mark.parametrize("kind", TYPES)
def test_graph_output_independent_of_batch_mates(kind):
    model = _model(kind)
    L = GraphLayout(7, 3, 4)
    nodes, edges = _graph_batch(3, 7, 3, 4, seed=5)
    x, mask = L.pack(nodes, edges, torch.tensor([7, 4, 2]))
    c = torch.tensor([0.0, 1.0, -1.0], dtype=torch.float64)
    with torch.no_grad():
        full = model(x, c, mask=mask)
        single = model(x[1:2], c[1:2], mask=mask[1:2])
    assert torch.allclose(full[1:2], single, atol=1e-10)


def test_conditioning_nan_is_null_and_changes_output():
    model = _model("transformer", cond_dim=2)
    L = GraphLayout(7, 3, 4)
    nodes, edges = _graph_batch(2, 7, 3, 4)
    x, mask = L.pack(nodes, edges, torch.tensor([7, 5]))
    c = torch.zeros(2, dtype=torch.float64)
    nan = torch.full((2, 2), float("nan"), dtype=torch.float64)
    with torch.no_grad():
        a = model(x, c, cond=nan, mask=mask)
        b = model(x, c, cond=None, mask=mask)
        d = model(x, c, cond=torch.tensor([[1.0, float("nan")], [0.5, -2.0]], dtype=torch.float64), mask=mask)
        e = model(x, c + 1.0, cond=nan, mask=mask)
    assert torch.allclose(a, b)
    assert not torch.allclose(a, d)  # a given property reaches the output
    assert not torch.allclose(a, e)  # σ conditioning reaches the output
    assert torch.isfinite(d).all()
    with pytest.raises(ValueError):
        model(x, c, cond=torch.zeros(2, 3, dtype=torch.float64), mask=mask)


def test_default_size_and_training_step():
    # CPU-sized default for NCI's layout (40 atom types, 4 bond classes, 20 atoms)
    model = build_backbone(20, 40, 4)
    n = count_parameters(model)
    assert 200_000 <= n <= 1_000_000, n
    assert isinstance(model, GraphTransformer)
    for removed in ("mpnn", "gcn"):  # removed types: the error names the one there is
        with pytest.raises(ValueError, match=r"unknown graph backbone type '\w+'; use 'transformer'"):
            build_backbone(20, 40, 4, type=removed)
    # a few optimiser steps on a fixed batch reduce a denoising loss
    torch.manual_seed(0)
    small = build_backbone(6, 2, 2, node_width=32, edge_width=16, depth=2)
    L = GraphLayout(6, 2, 2)
    y = torch.sign(torch.randn(8, L.dim)) * 0.5
    mask = L.mask(torch.full((8,), 6))
    y = y * mask
    noisy = y + 0.5 * torch.randn_like(y) * mask
    opt = torch.optim.Adam(small.parameters(), lr=3e-3)
    losses = []
    for _ in range(20):
        loss = ((small(noisy, torch.zeros(8), mask=mask) - y) ** 2 * mask).sum() / mask.sum()
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert losses[-1] < 0.5 * losses[0]


def test_rejects_wrong_input_length():
    model = _model("transformer")
    with pytest.raises(ValueError, match="expected x"):
        model(torch.zeros(1, 5, dtype=torch.float64), torch.zeros(1, dtype=torch.float64))


@pytest.mark.parametrize(
    "kind,spectral,components,distances",
    [(k, 0, False, 0) for k in TYPES] + [("transformer", 3, False, 0), ("transformer", 0, True, 0), ("transformer", 0, True, 4)],
)
def test_self_conditioning_is_equivariant_and_reaches_the_output(kind, spectral, components, distances):
    n_max, n, F, C = 8, 6, 3, 4
    model = _model(kind, n_max, F, C, self_condition=True, spectral=spectral, components=components, distances=distances)
    assert model.self_condition
    L = GraphLayout(n_max, F, C)
    nodes, edges = _graph_batch(1, n, F, C, seed=7)
    est_nodes, est_edges = _graph_batch(1, n, F, C, seed=8)
    counts = torch.tensor([n])
    perm = torch.randperm(n, generator=torch.Generator().manual_seed(3))
    x, mask = L.pack(nodes, edges, counts)
    est, _ = L.pack(0.3 * est_nodes, 0.3 * est_edges, counts)
    xp, _ = L.pack(*_perm_inputs(nodes, edges, perm), counts)
    estp, _ = L.pack(*_perm_inputs(0.3 * est_nodes, 0.3 * est_edges, perm), counts)
    c = torch.tensor([0.2], dtype=torch.float64)
    with torch.no_grad():
        out = model(x, c, mask=mask, self_cond=est)
        outp = model(xp, c, mask=mask, self_cond=estp)
        none = model(x, c, mask=mask)
        zeros = model(x, c, mask=mask, self_cond=torch.zeros_like(x))
    on, oe = L.unpack(out)
    pn, pe = L.unpack(outp)
    assert torch.allclose(pn[:, :n], on[:, perm], atol=1e-5)
    assert torch.allclose(pe[:, :n, :n], oe[:, perm][:, :, perm][:, :n, :n], atol=1e-5)
    assert torch.equal(none, zeros)  # no estimate = the zero estimate
    assert not torch.allclose(out, zeros)  # the estimate is used


def test_structure_features_of_a_six_ring_by_hand():
    # benzene as kekulé bonds: a 6-cycle alternating single (class 1) / double (class 2)
    n, F, C = 6, 1, 4
    model = build_backbone(n, F, C, node_width=16, edge_width=8, depth=1, heads=2, self_condition=True)
    L = GraphLayout(n, F, C)
    bonds = [(i, (i + 1) % n, 1 + i % 2) for i in range(n)]
    from pfgm.modalities.graphs.flat import encode_classes

    x, mask = encode_classes(L, [[0] * n], [bonds])
    nm = L.node_mask(mask).float()
    pm = nm.unsqueeze(2) * nm.unsqueeze(1) * (1 - torch.eye(n))
    node_feats, pair_feats = model._structure(model.layout, x, nm, pm)
    # per node: atom prob 1; bonds by class: none 3, single 1, double 1, triple 0
    assert torch.allclose(node_feats[0, :, :5], torch.tensor([1.0, 3, 1, 1, 0]).expand(n, 5))
    # closed walks on a 6-cycle: diag(A^k) = 2, 0, 6, 0, 22 for k = 2..6 (20 back-and-forth + 2 round the ring)
    assert torch.allclose(node_feats[0, :, 5:], torch.tensor([2.0, 0, 6, 0, 22]).log1p().expand(n, 5), atol=1e-5)
    # paths between neighbours 0-1: (A^2)=0, (A^3)=3, (A^4)=0; between 0 and 3 (opposite): 0, 2, 0
    assert torch.allclose(pair_feats[0, 0, 1, C:], torch.tensor([0.0, 3, 0]).log1p(), atol=1e-5)
    assert torch.allclose(pair_feats[0, 0, 3, C:], torch.tensor([0.0, 2, 0]).log1p(), atol=1e-5)
    assert torch.equal(pair_feats[0, 0, 1, :C], torch.tensor([0.0, 1, 0, 0]))
    assert (pair_feats[0, range(n), range(n)] == 0).all()  # the diagonal is not a pair


def test_spectral_features_separate_two_communities_and_ignore_padding():
    # two 4-cliques joined by one edge (3-4): the second eigenvector of A is + on one clique, − on the other
    n, n_max, F, C = 8, 11, 1, 1
    edges = [(i, j, 1) for i in range(4) for j in range(i + 1, 4)]
    edges += [(i + 4, j + 4, 1) for i in range(4) for j in range(i + 1, 4)] + [(3, 4, 1)]
    from pfgm.modalities.graphs.flat import encode_classes

    feats = []
    for size in (n, n_max):  # the same graph without and with padding
        model = build_backbone(
            size, F, C, node_width=16, edge_width=8, depth=1, heads=2, self_condition=True, spectral=2
        ).double()
        L = GraphLayout(size, F, C)
        x, mask = encode_classes(L, [[0] * n], [edges])
        nm = L.node_mask(mask).double()
        pm = nm.unsqueeze(2) * nm.unsqueeze(1) * (1 - torch.eye(size, dtype=torch.float64))
        node_f, pair_f = model._structure(model.layout, x.double(), nm, pm)
        feats.append((node_f[0, :n], pair_f[0, :n, :n]))
        assert (node_f[0, n:] == 0).all() and (pair_f[0, n:] == 0).all() and (pair_f[0, :, n:] == 0).all()
    A = torch.zeros(n, n, dtype=torch.float64)
    for i, j, _ in edges:
        A[i, j] = A[j, i] = 1.0
    lam = torch.linalg.eigvalsh(A).flip(0)[:2]
    node_f, pair_f = feats[0]
    assert torch.allclose(node_f[:, -2:], (lam / n).expand(n, 2), atol=1e-9)  # λ_k / n on every node
    v2 = pair_f[..., -1]  # n · v2_i v2_j
    same = torch.tensor([[(i < 4) == (j < 4) for j in range(n)] for i in range(n)])
    off = ~torch.eye(n, dtype=torch.bool)  # the diagonal is not a pair (masked to 0)
    assert (v2[same & off] > 0).all() and (v2[~same] < 0).all() and (v2[~off] == 0).all()
    # unit eigenvectors: Σ_i n·v_i² = n
    assert torch.allclose(node_f[:, -4:-2].sum(0), torch.full((2,), float(n), dtype=torch.float64))
    for a, b in zip(feats[0], feats[1]):
        assert torch.allclose(a, b, atol=1e-9)  # padding changes nothing


def _random_padded_graph(g: torch.Generator, n_below: int, p: float, pad: int = 3):
    """n real nodes (2 ≤ n < n_below) with a symmetric G(n, p) block A, inside an adjacency whose padding
    rows and columns hold junk that must not count; returns n, A, the padded adjacency and the node mask."""
    n = int(torch.randint(2, n_below, (1,), generator=g))
    A = torch.rand(n, n, generator=g) < p
    A = (A | A.T) & ~torch.eye(n, dtype=torch.bool)
    adj = torch.rand(1, n + pad, n + pad, generator=g) < 0.5
    adj[0, :n, :n] = A
    nm = torch.zeros(1, n + pad)
    nm[0, :n] = 1
    return n, A, adj, nm


def test_component_features_match_networkx_and_ignore_padding():
    import networkx as nx

    from pfgm.modalities.graphs.structure import connected_components

    g = torch.Generator().manual_seed(0)
    for _ in range(100):
        n, A, adj, nm = _random_padded_graph(g, 12, 0.15)
        node, pair = connected_components(adj, nm)
        comps = list(nx.connected_components(nx.from_numpy_array(A.numpy().astype(int))))
        big = max(map(len, comps))
        for comp in comps:
            for i in comp:
                assert node[0, i].tolist() == pytest.approx([len(comp) / n, float(len(comp) == big), len(comps) / n])
                assert pair[0, i, :n].tolist() == [float(j in comp) for j in range(n)]
        assert not node[0, n:].any() and not pair[0, n:].any() and not pair[0, :, n:].any()


def test_distance_features_match_networkx_shortest_paths_and_ignore_padding():
    import networkx as nx

    from pfgm.modalities.graphs.structure import path_distances

    g = torch.Generator().manual_seed(1)
    K = 5
    for _ in range(100):
        n, A, adj, nm = _random_padded_graph(g, 14, 0.2)
        d = path_distances(adj, nm, K)[0]
        sp = dict(nx.all_pairs_shortest_path_length(nx.from_numpy_array(A.numpy().astype(int))))
        for i in range(n):
            for j in range(n):
                want = [0.0] * K
                if j in sp[i] and 1 <= sp[i][j] <= K:
                    want[sp[i][j] - 1] = 1.0
                assert d[i, j].tolist() == want, (i, j)
        assert not d[n:].any() and not d[:, n:].any()


def test_distance_features_say_which_pair_closes_a_six_ring():
    """On a 6-chain, the ends are 5 apart (a bond there makes a 6-ring); 0 and 3 are 3 apart (a 4-ring)."""
    n, F, C = 7, 1, 4
    model = build_backbone(n, F, C, node_width=16, edge_width=8, depth=1, heads=2, self_condition=True, distances=6)
    L = GraphLayout(n, F, C)
    from pfgm.modalities.graphs.flat import encode_classes

    x, mask = encode_classes(L, [[0] * 6], [[(i, i + 1, 1) for i in range(5)]])
    nm = L.node_mask(mask).float()
    pm = nm.unsqueeze(2) * nm.unsqueeze(1) * (1 - torch.eye(n))
    _, pair_f = model._structure(model.layout, x, nm, pm)
    assert pair_f[0, 0, 5, -6:].tolist() == [0, 0, 0, 0, 1, 0] and pair_f[0, 0, 3, -6:].tolist() == [0, 0, 1, 0, 0, 0]
    assert not pair_f[0, 0, 6, -6:].any()  # the padding node


def test_component_features_tell_a_broken_molecule_from_a_whole_one():
    """Two fragments vs one chain: the estimate's component features differ, per pair and per node."""
    n, F, C = 6, 1, 4
    model = build_backbone(n, F, C, node_width=16, edge_width=8, depth=1, heads=2, self_condition=True, components=True)
    L = GraphLayout(n, F, C)
    from pfgm.modalities.graphs.flat import encode_classes

    chain = [(i, i + 1, 1) for i in range(n - 1)]
    broken = [b for b in chain if b[:2] != (2, 3)]
    x, mask = encode_classes(L, [[0] * n, [0] * n], [chain, broken])
    nm = L.node_mask(mask).float()
    pm = nm.unsqueeze(2) * nm.unsqueeze(1) * (1 - torch.eye(n))
    node_f, pair_f = model._structure(model.layout, x, nm, pm)
    assert torch.equal(node_f[0, :, -3:], torch.tensor([1.0, 1.0, 1 / n]).expand(n, 3))
    assert torch.allclose(node_f[1, :, -3], torch.full((n,), 0.5)) and torch.allclose(node_f[1, :, -1], torch.full((n,), 2 / n))
    assert pair_f[0, 0, 5, -1] == 1 and pair_f[1, 0, 5, -1] == 0 and pair_f[1, 0, 2, -1] == 1


def test_spectral_features_need_self_conditioning():
    with pytest.raises(ValueError, match="self_condition"):
        build_backbone(6, 1, 1, node_width=16, edge_width=8, depth=1, heads=2, spectral=2)
    with pytest.raises(ValueError, match="self_condition"):
        build_backbone(6, 1, 1, node_width=16, edge_width=8, depth=1, heads=2, components=True)
    with pytest.raises(ValueError, match="self_condition"):
        build_backbone(6, 1, 1, node_width=16, edge_width=8, depth=1, heads=2, distances=3)
