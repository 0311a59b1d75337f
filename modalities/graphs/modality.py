"""The generic-graph modality: graph data sets → flat masked tensors → core → networkx graphs.

A graph is one flat vector with a mask (see :mod:`modalities.graphs.flat`), so every sample's
dimension is its own graph size. Sampling draws node counts from the training distribution (or
uses ``num_nodes``), with the caller's generator only. The molecule modality
(:mod:`modalities.molecules.modality`) shares this encoding, network and node-count sampling.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import torch
from torch import Tensor, nn

from pfgm.core.errors import ConfigError, DataError
from ..base import Encoded, EncodedDataset, Evaluation, Modality, register_modality
from ..shared.sizes import SizeHistogram
from .backbone import build_backbone
from .flat import GraphLayout, decode_classes, encode_classes
from .writers import GRAPH_FORMATS

log = logging.getLogger(__name__)


def check_num_nodes(num_nodes: Any, n_max: int) -> None:
    """The sample-time option ``modality.num_nodes``: None, or an integer in [1, n_max] (else ConfigError)."""
    if num_nodes is None:
        return
    if isinstance(num_nodes, bool) or not isinstance(num_nodes, int) or not 1 <= num_nodes <= n_max:
        raise ConfigError(f"modality.num_nodes must be an integer in [1, {n_max}] (the checkpoint's n_max), got {num_nodes!r}")


def node_counts(num_nodes: int | None, sizes: SizeHistogram, num: int, generator: torch.Generator) -> Tensor:
    """(num,) node counts: all ``num_nodes`` if set, else drawn from the training histogram."""
    if num_nodes is not None:
        return torch.full((num,), int(num_nodes), dtype=torch.long)
    return sizes.sample(num, generator)


@dataclass(frozen=True)
class GraphOptions:
    """The options of the ``graphs`` modality (the recipe's ``modality:`` block), and their rules (:meth:`check`)."""

    dataset: str = "community_small"
    """community_small | community_small_file | ego_small | grid (graph_sources.GRAPH_DATASETS)."""
    max_nodes: int | None = None
    """n_max of the layout (unset: the data set's largest graph); pinned by ``config()``."""
    seed: int = 0
    """Seeds the data generation."""
    test_fraction: float = 0.2
    """The held-out share (GDSS: the first 20 % are the test set)."""
    num_nodes: int | None = None
    """Sample-time: every sample this many nodes (unset: drawn from the training histogram)."""
    data: dict | None = None
    """Extra keyword arguments for the generator, e.g. {num: 100}, or for grid {min_side: 4, max_side: 6}."""
    orbit_kernel: str = "gaussian"
    """The orbit MMD's kernel: 'gaussian' as GDSS, or 'gaussian_tv'."""
    remove_isolates: bool = False
    """Drop isolated nodes of decoded graphs, as GDSS's adjs_to_graphs does for its padded adjacencies (off by
    default: the mask already fixes the size)."""
    nspdk: bool = True
    """Compute the NSPDK MMD in evaluate."""
    size_histogram: Sequence[int] | None = None
    """The node-count histogram, pinned by ``config()`` (with max_nodes) so a checkpoint samples without the data."""

    def check(self) -> None:
        """No rule on these values alone: the data set is checked when it is read (graph_sources.load_graphs), and
        num_nodes against the trained n_max by ``GraphModality.check_sample_options``."""


@register_modality("graphs")
class GraphModality(Modality):
    """Generic undirected graphs (adjacency only): community_small, ego_small, grid.

    Encoding: F = 0 node channels, C = 1 edge channel (±0.5 adjacency bit, upper triangle).
    Options: :class:`GraphOptions`.
    """

    Options = GraphOptions
    SAMPLE_OPTIONS = ("num_nodes",)
    OUT_FORMATS = ("",) + GRAPH_FORMATS  # a folder, or one edge-list / .png file

    def __init__(self, **options: Any):
        o: GraphOptions = self.parse_options(options)
        self.options = o
        self.dataset_name, self.seed, self.test_fraction, self.data = o.dataset, o.seed, o.test_fraction, dict(o.data or {})
        self.max_nodes = o.max_nodes
        self.num_nodes, self.orbit_kernel = o.num_nodes, o.orbit_kernel
        self.remove_isolates, self.use_nspdk = o.remove_isolates, o.nspdk
        self.last_write_summary: dict[str, Any] | None = None
        self._graphs: tuple[list, list] | None = None
        self._sizes = SizeHistogram(o.size_histogram) if o.size_histogram else None
        if self._sizes is None:
            self._load()

    def _load(self) -> tuple[list, list]:
        if self._graphs is None:
            from .graph_sources import load_graphs, split_graphs

            graphs = load_graphs(self.dataset_name, seed=self.seed, **self.data)
            if not graphs:
                raise DataError(f"graph data set {self.dataset_name!r} is empty")
            train, test = split_graphs(graphs, self.test_fraction)
            largest = max(g.number_of_nodes() for g in graphs)
            n_max = self.max_nodes or largest
            if largest > n_max:
                raise ConfigError(f"{self.dataset_name}: graphs have up to {largest} nodes but max_nodes={n_max}")
            self.max_nodes = n_max
            if self._sizes is None:
                self._sizes = SizeHistogram.from_sizes([g.number_of_nodes() for g in train], n_max)
            self._graphs = (train, test)
        return self._graphs

    @property
    def train_graphs(self) -> list:
        return self._load()[0]

    @property
    def test_graphs(self) -> list:
        return self._load()[1]

    @property
    def sizes(self) -> SizeHistogram:
        return self._sizes  # type: ignore[return-value]

    @property
    def graph_layout(self) -> GraphLayout:
        """The flat layout (n_max, F = 0, C = 1) of this modality's tensors."""
        return GraphLayout(self.sizes.max_size, 0, 1)

    def config(self) -> dict[str, Any]:
        return {**super().config(), "max_nodes": self.sizes.max_size, "size_histogram": self.sizes.to_config()}

    def encode(self, graphs: Sequence) -> Encoded:
        """networkx graphs -> Encoded(x, mask) (nodes taken in each graph's node order)."""
        node_cls, edges = [], []
        for g in graphs:
            idx = {v: i for i, v in enumerate(g.nodes())}
            node_cls.append([0] * g.number_of_nodes())
            edges.append([(idx[u], idx[v], 1) for u, v in g.edges() if u != v])
        x, mask = encode_classes(self.graph_layout, node_cls, edges)
        return Encoded(x, mask)

    def dataset(self, split: str = "train") -> EncodedDataset:
        if split not in ("train", "test"):
            raise ValueError(f"split must be 'train' or 'test', got {split!r}")
        enc = self.encode(self.train_graphs if split == "train" else self.test_graphs)
        return EncodedDataset(enc.x, enc.mask)

    def backbone(self, **kwargs: Any) -> nn.Module:
        L = self.graph_layout
        return build_backbone(L.n_max, L.node_dim, L.edge_dim, **kwargs)

    def check_sample_options(self) -> None:
        check_num_nodes(self.num_nodes, self.graph_layout.n_max)

    def blank(self, num: int, generator: torch.Generator) -> Encoded:
        self.check_sample_options()
        n = node_counts(self.num_nodes, self.sizes, num, generator)
        L = self.graph_layout
        return Encoded(torch.zeros(num, L.dim), L.mask(n))

    def snap(self, x: Tensor, mask: Tensor | None = None) -> Tensor:
        return self.graph_layout.snap(x, mask)

    def connect(self, x: Tensor, mask: Tensor) -> Tensor:
        """One bridge between the pieces of each estimate that falls apart (``sampler.connect_sigma_max``)."""
        return self.graph_layout.bridge(x, mask)

    def decode(self, x: Tensor, mask: Tensor | None = None, cond: Tensor | None = None) -> list[Any]:
        import networkx as nx

        if mask is None:
            mask = torch.ones_like(x)
        out = []
        for _, adj in decode_classes(self.graph_layout, x, mask):
            g = nx.Graph()
            g.add_nodes_from(range(adj.shape[0]))
            g.add_edges_from(zip(*np.nonzero(np.triu(adj, 1))))
            g = nx.convert_node_labels_to_integers(g)
            if self.remove_isolates:
                g.remove_nodes_from(list(nx.isolates(g)))
                g = nx.convert_node_labels_to_integers(g)
            out.append(g)
        return out

    def write(self, objects: Sequence[Any], out: Path) -> list[Path]:
        from .writers import write_graphs

        paths, summary = write_graphs(objects, Path(out))
        self.last_write_summary = summary
        for note in summary["notes"]:
            log.info(note)
        return paths

    def evaluate(self, objects: Sequence[Any], samples: Encoded | None = None) -> Evaluation:
        """GDSS MMDs (degree, cluster, orbit, spectral, nspdk) vs the test split."""
        from .metrics import graph_metrics

        graphs = [g for g in objects if g is not None]
        res = graph_metrics(graphs, self.test_graphs, orbit_kernel=self.orbit_kernel, with_nspdk=self.use_nspdk)
        notes = [v for k, v in res.items() if k.endswith("_note")]
        out = {k: float(v) for k, v in res.items() if not k.endswith("_note")}
        out["num_invalid"] = float(len(objects) - len(graphs))
        return Evaluation(out, notes)
