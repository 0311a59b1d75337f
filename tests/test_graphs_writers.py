"""Graph writers (modalities/graphs/writers.py): edge lists that read back, the PNG drawing."""

from __future__ import annotations

import pytest

nx = pytest.importorskip("networkx")

from pfgm.modalities.graphs.writers import read_edge_lists, write_graphs  # noqa: E402


def test_graph_writers_roundtrip(tmp_path):
    gs = [nx.path_graph(3), nx.empty_graph(2), nx.cycle_graph(4)]
    paths, summary = write_graphs(gs, tmp_path / "g")
    back = read_edge_lists(tmp_path / "g" / "graphs.edgelist")
    assert [sorted(g.edges()) for g in back] == [sorted(g.edges()) for g in gs]
    assert [g.number_of_nodes() for g in back] == [3, 2, 4]
    try:
        import matplotlib  # noqa: F401

        assert (tmp_path / "g" / "graphs.png").exists()
    except ImportError:
        assert any("matplotlib" in n for n in summary["notes"])
