"""Generic graph data sets (modalities/graphs/graph_sources.py): community-small (generated and GDSS's file),
ego-small, grids, the train/test split."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

nx = pytest.importorskip("networkx")

from pfgm.modalities.graphs import graph_sources  # noqa: E402


def _shared_spec() -> Path | None:
    # shared/ sits beside the checkout (in CI too); the package itself never reads it
    p = Path(__file__).resolve().parents[2] / "shared" / "data" / "community_small_gdss.txt"
    return p if p.exists() else None


def test_community_small_protocol():
    gs = graph_sources.community_small(100, seed=0)
    assert len(gs) == 100
    sizes = {g.number_of_nodes() for g in gs}
    assert sizes <= {12, 14, 16, 18, 20}
    for g in gs[:20]:
        c = g.number_of_nodes() // 2
        # the two communities are gnp(c, 0.7, seed=0/1) exactly; everything else is bridges
        left = g.subgraph(range(c))
        right = nx.relabel_nodes(g.subgraph(range(c, 2 * c)), {i + c: i for i in range(c)})
        assert nx.utils.edges_equal(left.edges(), nx.gnp_random_graph(c, 0.7, seed=0).edges())
        assert nx.utils.edges_equal(right.edges(), nx.gnp_random_graph(c, 0.7, seed=1).edges())
        assert nx.is_connected(g)
    # deterministic by seed
    again = graph_sources.community_small(100, seed=0)
    assert all(nx.utils.graphs_equal(a, b) for a, b in zip(gs, again))
    train, test = graph_sources.split_graphs(gs, 0.2)
    assert len(train) == 80 and len(test) == 20 and test[0] is gs[0]


def test_community_small_matches_the_gdss_file():
    spec = _shared_spec()
    if spec is None:
        pytest.skip("shared/data/community_small_gdss.txt not available")
    gs = graph_sources.community_small_from_spec(spec.read_text().splitlines())
    assert len(gs) == 100
    for g in gs:
        c = g.number_of_nodes() // 2
        assert nx.utils.edges_equal(g.subgraph(range(c)).edges(), nx.gnp_random_graph(c, 0.7, seed=0).edges())
        bridges = [(u, v) for u, v in g.edges() if (u < c) != (v < c)]
        assert len(bridges) >= 1
    # our generator follows the same protocol: same size set, similar bridge counts
    ours = graph_sources.community_small(100, seed=0)
    assert {g.number_of_nodes() for g in gs} == {g.number_of_nodes() for g in ours}

    def nb(g):
        c = g.number_of_nodes() // 2
        return sum((u < c) != (v < c) for u, v in g.edges())

    assert abs(np.mean([nb(g) for g in gs]) - np.mean([nb(g) for g in ours])) < 0.5


def test_community_small_file_loader(tmp_path):
    f = tmp_path / "cs.txt"
    f.write_text("# two graphs\n12:0-6\n\n14:0-7,3-9\n")
    gs = graph_sources.load_graphs("community_small_file", path=str(f))
    assert [g.number_of_nodes() for g in gs] == [12, 14]
    assert gs[1].has_edge(3, 9) and gs[1].has_edge(0, 7)
    communities = sum(nx.gnp_random_graph(6, 0.7, seed=i).number_of_edges() for i in range(2))
    assert gs[0].number_of_edges() == communities + 1  # the two communities and the one bridge
    bad = tmp_path / "bad.txt"
    bad.write_text("12:0-6\n13:0-6\n")
    with pytest.raises(ValueError, match=r"bad.txt, line 2: expected 'SIZE:u-v"):
        graph_sources.load_graphs("community_small_file", path=str(bad))
    bad.write_text("12:0-16\n")
    with pytest.raises(ValueError, match="line 1"):
        graph_sources.load_graphs("community_small_file", path=str(bad))
    with pytest.raises(FileNotFoundError, match="nope.txt"):
        graph_sources.load_graphs("community_small_file", path=str(tmp_path / "nope.txt"))
    bad.write_text("# nothing\n")
    with pytest.raises(ValueError, match="no graphs"):
        graph_sources.load_graphs("community_small_file", path=str(bad))
    spec = _shared_spec()
    if spec is not None:
        assert len(graph_sources.load_graphs("community_small_file", path=str(spec))) == 100


def test_ego_and_grid():
    ego = graph_sources.ego_small(200, seed=0)
    assert len(ego) == 200 and all(4 <= g.number_of_nodes() <= 18 for g in ego)
    assert all(max(dict(g.degree()).values()) == g.number_of_nodes() - 1 for g in ego)  # an ego centre
    grid = graph_sources.grid_graphs(5, seed=1, min_side=3, max_side=4)
    assert all(9 <= g.number_of_nodes() <= 16 for g in grid)
    with pytest.raises(ValueError, match="unknown graph data set"):
        graph_sources.load_graphs("lobster")
