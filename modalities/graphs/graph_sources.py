"""Generic graph data sets: community-small, ego-small, grid (generated with networkx), and files of them.

Generators follow the GDSS/GraphRNN protocols with an explicit seed (numpy ``default_rng``), so the
same seed always gives the same graphs.
"""

from __future__ import annotations

from pathlib import Path
from typing import Iterable, Sequence


import numpy as np

from pfgm.core.errors import ConfigError, DataError
from ..shared.paths import data_root
from ..shared.records import numbered_lines

# --------------------------------------------------------------------------------------------
# Generic graphs (networkx)
# --------------------------------------------------------------------------------------------


def community_graph(size: int, rng: np.random.Generator, p_intra: float = 0.7, p_inter: float = 0.05):
    """One GDSS community-small graph with ``size // 2 * 2`` nodes.

    Two communities, each ``gnp_random_graph(size // 2, p_intra, seed=i)`` for i = 0, 1 (so for a
    given size the communities are always the same graphs), joined by bridges: every cross pair
    independently with probability p_inter · 2 / (size // 2), and one bridge between the first
    nodes of the two communities when none was drawn.
    """
    import networkx as nx

    c = size // 2
    g = nx.disjoint_union_all([nx.gnp_random_graph(c, p_intra, seed=i) for i in range(2)])
    comps = [sorted(cc) for cc in sorted(nx.connected_components(g), key=min)]
    p_bridge = p_inter * 2 / c
    for a in range(len(comps)):
        for b in range(a + 1, len(comps)):
            added = False
            for u in comps[a]:
                for v in comps[b]:
                    if rng.random() < p_bridge:
                        g.add_edge(u, v)
                        added = True
            if not added:
                g.add_edge(comps[a][0], comps[b][0])
    return g


def community_small(num: int = 100, seed: int = 0, min_nodes: int = 12, max_nodes: int = 20):
    """GDSS/GraphRNN community-small: sizes uniform in [12, 20], halved per community (so 12–20, even)."""
    rng = np.random.default_rng(seed)
    return [community_graph(int(rng.integers(min_nodes, max_nodes + 1)), rng) for _ in range(num)]


def community_small_from_spec(lines: Iterable[str]):
    """Graphs from 'SIZE:u-v,u-v' lines (the format of a community-small description file)."""
    import networkx as nx

    graphs = []
    for line in lines:
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        size_s, _, bridges = line.partition(":")
        c = int(size_s) // 2
        g = nx.disjoint_union_all([nx.gnp_random_graph(c, 0.7, seed=i) for i in range(2)])
        for e in filter(None, bridges.split(",")):
            u, v = e.split("-")
            g.add_edge(int(u), int(v))
        graphs.append(g)
    return graphs


def community_small_file(path: str | None = None, seed: int = 0):
    """community-small from a description file ('SIZE:u-v,…' lines, '#' comments), e.g. the exact
    100 graphs of the GDSS benchmark, in the file's order (so GDSS's split applies). ``seed`` is unused."""
    if not path:
        raise ConfigError("dataset community_small_file needs data.path: a file of 'SIZE:u-v,u-v' lines")
    p = Path(path)
    if not p.is_file():
        raise FileNotFoundError(f"community-small description file {p} does not exist")
    lines = [line for _, line in numbered_lines(p, "community-small description file")]  # binary/non-UTF-8: RecordError
    for no, line in enumerate(lines, 1):
        text = line.strip()
        if not text or text.startswith("#"):
            continue
        size_s, sep, bridges = text.partition(":")
        pairs = [e.split("-") for e in filter(None, bridges.split(","))]
        ok = (
            sep
            and size_s.isdigit()
            and int(size_s) >= 2
            and int(size_s) % 2 == 0
            and all(len(e) == 2 and e[0].isdigit() and e[1].isdigit() and max(int(e[0]), int(e[1])) < int(size_s) for e in pairs)
        )
        if not ok:
            raise DataError(f"{p}, line {no}: expected 'SIZE:u-v,u-v' with an even SIZE and nodes < SIZE, got {text!r}")
    graphs = community_small_from_spec(lines)
    if not graphs:
        raise DataError(f"{p} holds no graphs (only comments or blank lines)")
    return graphs


def grid_graphs(num: int = 100, seed: int = 0, min_side: int = 10, max_side: int = 19):
    """GDSS grid: 2-D grids with both sides uniform in [10, 19] (100–361 nodes), nodes relabelled 0..n−1."""
    import networkx as nx

    rng = np.random.default_rng(seed)
    out = []
    for _ in range(num):
        m, n = (int(v) for v in rng.integers(min_side, max_side + 1, size=2))
        out.append(nx.convert_node_labels_to_integers(nx.grid_2d_graph(m, n)))
    return out


def ego_small(
    num: int = 200, seed: int = 0, min_nodes: int = 4, max_nodes: int = 18, source: str = "synthetic", root: str | None = None
):
    """Ego-small: radius-1 ego graphs with 4–18 nodes (GDSS takes 200 of CiteSeer's).

    source 'citeseer': the real CiteSeer citation graph through torch_geometric's Planetoid
    (downloads). source 'synthetic' (default, offline): the same extraction from a seeded
    power-law cluster graph (networkx ``powerlaw_cluster_graph(4000, 2, 0.3)``), whose skewed
    degrees and triangles give ego graphs of a similar kind. Not CiteSeer: published ego-small
    numbers are not comparable with this variant.
    """
    import networkx as nx

    if source == "citeseer":
        from torch_geometric.datasets import Planetoid
        from torch_geometric.utils import to_networkx

        ds = Planetoid(str(root or data_root() / "planetoid"), "CiteSeer")
        G = to_networkx(ds[0], to_undirected=True)
        G = G.subgraph(max(nx.connected_components(G), key=len)).copy()
        G = nx.convert_node_labels_to_integers(G)
        order = list(G.nodes())
    elif source == "synthetic":
        G = nx.powerlaw_cluster_graph(4000, 2, 0.3, seed=seed)
        order = list(np.random.default_rng(seed).permutation(G.number_of_nodes()))
    else:
        raise ConfigError(f"ego_small source must be 'synthetic' or 'citeseer', got {source!r}")
    out = []
    for v in order:
        e = nx.ego_graph(G, v, radius=1)
        if min_nodes <= e.number_of_nodes() <= max_nodes:
            e = nx.Graph(e)
            e.remove_edges_from(nx.selfloop_edges(e))
            out.append(nx.convert_node_labels_to_integers(e))
            if len(out) >= num:
                break
    return out


GRAPH_DATASETS = {
    "community_small": community_small,
    "community_small_file": community_small_file,
    "ego_small": ego_small,
    "grid": grid_graphs,
}


def load_graphs(name: str, seed: int = 0, **kw):
    """A generic graph data set by name: community_small | community_small_file | ego_small | grid."""
    try:
        fn = GRAPH_DATASETS[name]
    except KeyError:
        raise ConfigError(f"unknown graph data set {name!r}; choose from {sorted(GRAPH_DATASETS)}") from None
    return fn(seed=seed, **kw)


def split_graphs(graphs: Sequence, test_fraction: float = 0.2) -> tuple[list, list]:
    """GDSS split: the first ``int(test_fraction · len)`` graphs are the test set, the rest train. -> (train, test)."""
    k = int(test_fraction * len(graphs))
    return list(graphs[k:]), list(graphs[:k])
