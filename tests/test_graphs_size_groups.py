"""Size-grouped, trimmed batches: the cut points are optimal and the net computes the same function."""

from __future__ import annotations

import itertools

import pytest
import torch

from pfgm.modalities.graphs.backbone import build_backbone
from pfgm.modalities.graphs.flat import GraphLayout
from pfgm.modalities.graphs.size_groups import graph_cost, graph_size_groups as size_groups


def _cost(sizes: torch.Tensor, groups: list[torch.Tensor], overhead: float) -> float:
    return sum(len(g) * graph_cost(max(int(sizes[g].max()), 1)) + overhead for g in groups)


def test_graph_cost_counts_nodes_and_pairs():
    assert [graph_cost(m) for m in (1, 2, 3, 20)] == [1, 3, 6, 210]


def test_groups_cover_the_batch_once_in_ascending_size():
    sizes = torch.tensor([5, 1, 9, 9, 3, 20, 5, 12, 1])
    groups = size_groups(sizes, overhead=10.0)
    flat = torch.cat(groups)
    assert sorted(flat.tolist()) == list(range(len(sizes)))
    seen = [sizes[g].tolist() for g in groups]
    for a, b in zip(seen, seen[1:]):
        assert max(a) <= min(b)


@pytest.mark.parametrize("overhead", [0.0, 7.0, 40.0, 1e6])
def test_cut_points_minimise_the_cost_model(overhead):
    # brute force over every way of cutting the distinct sizes into runs
    sizes = torch.tensor([2, 2, 3, 7, 7, 7, 8, 11, 15, 15])
    groups = size_groups(sizes, overhead)
    distinct = sorted(set(sizes.tolist()))
    best = float("inf")
    for cuts in itertools.product([0, 1], repeat=len(distinct) - 1):
        runs, cur = [], [distinct[0]]
        for v, c in zip(distinct[1:], cuts):
            if c:
                runs.append(cur)
                cur = []
            cur.append(v)
        runs.append(cur)
        cost = sum(int(sum(sizes == v for v in r).sum()) * graph_cost(max(r)) + overhead for r in runs)
        best = min(best, cost)
    assert _cost(sizes, groups, overhead) == pytest.approx(best)
    if overhead == 0.0:
        assert len(groups) == len(distinct)
    if overhead == 1e6:
        assert len(groups) == 1


def test_empty_batch_has_no_groups():
    assert size_groups(torch.zeros(0, dtype=torch.long), 1.0) == []


def test_sub_layout_positions_read_the_trimmed_graph():
    L = GraphLayout(6, 2, 3)
    g = torch.Generator().manual_seed(0)
    nodes = torch.randn(4, 4, 2, generator=g, dtype=torch.float64)
    e = torch.randn(4, 4, 4, 3, generator=g, dtype=torch.float64)
    e = e + e.transpose(1, 2)
    counts = torch.tensor([4, 3, 1, 2])
    x, mask = L.pack(nodes, e, counts)
    sub, pos = L.sub(4)
    xs, ms = sub.pack(nodes, e, counts)
    assert sub.n_max == 4 and pos.numel() == sub.dim
    torch.testing.assert_close(x[:, pos], xs, rtol=0, atol=0)
    torch.testing.assert_close(mask[:, pos], ms, rtol=0, atol=0)
    # everything left out is padding
    rest = torch.ones(L.dim, dtype=torch.bool)
    rest[pos] = False
    assert float(mask[:, rest].abs().sum()) == 0.0
    with pytest.raises(ValueError, match="sub-layout size"):
        L.sub(7)


@pytest.mark.parametrize("options,F,C", [({}, 5, 4), ({"self_condition": True, "spectral": 3}, 5, 4), ({}, 0, 1)])
def test_trimmed_groups_compute_the_padded_function_and_gradient(options, F, C):
    torch.manual_seed(0)
    net = build_backbone(12, F, C, node_width=32, edge_width=16, depth=2, heads=4, **options).double()
    with torch.no_grad():  # FiLM starts at zero; perturb so every path carries signal
        for p in net.parameters():
            p.add_(0.1 * torch.randn_like(p))
    L = net.layout
    counts = torch.tensor([1, 2, 2, 3, 5, 5, 7, 9, 12, 12, 4, 6])
    mask = L.mask(counts).double()
    g = torch.Generator().manual_seed(1)
    x = torch.randn(len(counts), L.dim, generator=g, dtype=torch.float64) * mask
    c = torch.randn(len(counts), generator=g, dtype=torch.float64)
    sc = None
    if options.get("self_condition"):
        # P(no bond) strictly inside (0, 1) gives a generic soft adjacency: a degenerate spectrum (e.g. a
        # graph without edges) has no canonical eigenvector basis, padded or not
        sc = torch.randn(len(counts), L.dim, generator=g, dtype=torch.float64)
        none = L.node_size + torch.arange(L.num_pairs) * C
        sc[:, none] = torch.rand(len(counts), L.num_pairs, generator=g, dtype=torch.float64) * 0.8 - 0.4
        sc = sc * mask
    params = [p for p in net.parameters()]

    def run(trim: bool, overhead: float):
        net.trim_padding, net.group_overhead = trim, overhead
        out = net(x, c, mask=mask, self_cond=sc)
        grads = torch.autograd.grad(
            (out * torch.linspace(-1, 1, L.dim, dtype=out.dtype)).square().sum(), params, allow_unused=True
        )
        return out, grads

    ref, ref_g = run(False, 0.0)
    for overhead in (0.0, 30.0):  # many groups, then few
        out, grads = run(True, overhead)
        torch.testing.assert_close(out, ref, rtol=0, atol=1e-12)
        for a, b in zip(grads, ref_g):
            if b is not None:
                torch.testing.assert_close(a, b, rtol=1e-9, atol=1e-10)
    # the trimming did something: with no overhead every distinct size is its own group
    assert len(size_groups(counts, 0.0)) == len(set(counts.tolist()))
