"""The flat graph layout (modalities/graphs/flat.py): pack/unpack, masks, pair order, graphs as classes ⇄ ±0.5 one-hot."""

from __future__ import annotations

import pytest
import torch

from pfgm.modalities.graphs.flat import GraphLayout, decode_classes, encode_classes, pack, unpack


def _random_graphs(B, n_max, F, C, seed=0):
    g = torch.Generator().manual_seed(seed)
    nodes = torch.randn(B, n_max, F, generator=g)
    e = torch.randn(B, n_max, n_max, C, generator=g)
    edges = e + e.transpose(1, 2)
    n = torch.randint(1, n_max + 1, (B,), generator=g)
    return nodes, edges, n


# ------------------------------------------------------------------ layout


@pytest.mark.parametrize("F,C", [(3, 4), (0, 1), (5, 1)])
def test_pack_unpack_roundtrip_symmetric_and_masked(F, C):
    n_max, B = 7, 6
    nodes, edges, n = _random_graphs(B, n_max, F, C)
    L = GraphLayout(n_max, F, C)
    x, mask = L.pack(nodes, edges, n)
    assert x.shape == mask.shape == (B, L.dim)
    assert L.dim == n_max * F + n_max * (n_max - 1) // 2 * C
    # each sample's dimension is its own size
    expect = n * F + n * (n - 1) // 2 * C
    assert torch.equal(mask.sum(1).long(), expect)
    assert (x[mask == 0] == 0).all()  # padding carries nothing
    un, ue = L.unpack(x)
    assert torch.equal(ue, ue.transpose(1, 2))
    assert (torch.diagonal(ue, dim1=1, dim2=2) == 0).all()
    for b in range(B):
        k = int(n[b])
        assert torch.allclose(un[b, :k], nodes[b, :k])
        off = ~torch.eye(k, dtype=torch.bool)
        assert torch.allclose(ue[b, :k, :k][off], edges[b, :k, :k][off])
        assert (un[b, k:] == 0).all() and (ue[b, k:] == 0).all() and (ue[b, :, k:] == 0).all()
    # n_nodes / node_mask recover the sizes (F = 0 derives them from the pairs; n = 1 is then 0)
    got = L.n_nodes(mask)
    if F > 0:
        assert torch.equal(got, n)
    else:
        assert torch.equal(got, torch.where(n >= 2, n, torch.zeros_like(n)))


def test_module_level_pack_unpack_and_pair_order():
    # 3 nodes, F=1, C=2: x = [n0, n1, n2, (0,1)c0, (0,1)c1, (0,2)c0, (0,2)c1, (1,2)c0, (1,2)c1]
    nodes = torch.tensor([[[1.0], [2.0], [3.0]]])
    edges = torch.zeros(1, 3, 3, 2)
    for (i, j), v in {(0, 1): 10.0, (0, 2): 20.0, (1, 2): 30.0}.items():
        edges[0, i, j] = edges[0, j, i] = torch.tensor([v, v + 1])
    x, mask = pack(nodes, edges, torch.tensor([3]))
    assert x.tolist() == [[1, 2, 3, 10, 11, 20, 21, 30, 31]]
    assert mask.tolist() == [[1] * 9]
    x2, mask2 = pack(nodes, edges, torch.tensor([2]))
    assert mask2.tolist() == [[1, 1, 0, 1, 1, 0, 0, 0, 0]]
    assert x2.tolist() == [[1, 2, 0, 10, 11, 0, 0, 0, 0]]
    un, ue = unpack(x, 3, 1, 2)
    assert torch.equal(un, nodes) and torch.equal(ue, edges)


def test_unpack_is_differentiable_and_noise_stays_symmetric():
    L = GraphLayout(5, 2, 3)
    x = torch.randn(2, L.dim, requires_grad=True)
    _, e = L.unpack(x)
    e.sum().backward()
    assert x.grad is not None
    # per-entry noise on the flat vector is symmetric once unpacked
    noise = torch.randn(4, L.dim) * L.mask(torch.tensor([5, 4, 3, 2]))
    _, en = L.unpack(noise)
    assert torch.equal(en, en.transpose(1, 2))


def test_encode_decode_classes_generic_graph():
    L = GraphLayout(6, 0, 1)
    x, mask = encode_classes(L, [[0] * 4, [0] * 6], [[(0, 1, 1), (2, 3, 1)], [(0, 5, 1), (4, 1, 1)]])
    assert set(x[mask > 0].tolist()) <= {-0.5, 0.5}
    assert (x[mask == 0] == 0).all()
    out = decode_classes(L, x, mask)
    assert out[0][1].shape == (4, 4) and out[1][1].shape == (6, 6)
    assert out[0][1][0, 1] == out[0][1][1, 0] == 1 and out[0][1].sum() == 4
    assert out[1][1][1, 4] == 1 and out[1][1][0, 5] == 1 and out[1][1].sum() == 4


def test_values_have_rms_one_half():
    L = GraphLayout(5, 3, 4)
    x, mask = encode_classes(L, [[0, 1, 2], [2, 2, 1, 0, 0]], [[(0, 1, 2)], [(0, 4, 3), (1, 2, 1)]])
    rms = ((x**2).sum() / mask.sum()).sqrt()
    assert abs(float(rms) - 0.5) < 1e-7
