"""The generic graphs modality (modalities/graphs/modality.py) end to end: data, layout, sampling options,
decoding, metrics, writing."""

from __future__ import annotations

import pytest
import torch

nx = pytest.importorskip("networkx")

from pfgm.modalities.base import build_modality  # noqa: E402


def test_graph_modality_end_to_end(tmp_path):
    g = build_modality({"name": "graphs", "dataset": "community_small"})
    tr = g.dataset("train")
    assert len(tr) == 80 and len(g.dataset("test")) == 20 and g.graph_layout.n_max == 20
    decoded = g.decode(tr.x, tr.mask)
    assert all(nx.utils.graphs_equal(a, b) for a, b in zip(decoded, g.train_graphs))
    lay = g.blank(8, torch.Generator().manual_seed(1))
    assert set(g.graph_layout.n_nodes(lay.mask).tolist()) <= {12, 14, 16, 18, 20}
    g.set_sample_options(num_nodes=13)  # a size the data never has: the user's choice
    assert (g.graph_layout.n_nodes(g.blank(5, torch.Generator()).mask) == 13).all()
    for bad in (0, 21, 2.5, True):
        with pytest.raises(ValueError, match="num_nodes"):
            g.set_sample_options(num_nodes=bad)
    g.set_sample_options(num_nodes=None)
    res = g.evaluate(g.decode(g.dataset("test").x, g.dataset("test").mask)).metrics
    assert res["degree"] == pytest.approx(0, abs=1e-12) and res["orbit"] == pytest.approx(0, abs=1e-12)
    g.write(decoded[:3], tmp_path / "graphs")
    assert (tmp_path / "graphs" / "graphs.edgelist").exists()
    small = build_modality({"name": "graphs", "dataset": "grid", "data": {"num": 10, "min_side": 2, "max_side": 3}})
    assert small.graph_layout.n_max <= 9
