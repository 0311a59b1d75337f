"""Generic graph modality: graphs as one flat masked vector (nodes + upper-triangle edges).

Importing this package registers :class:`GraphModality` as ``modality: {name: graphs}`` (generic
graphs, adjacency only: community_small, ego_small, grid). The flat layout, the graph transformer,
the graph MMDs and NSPDK here are shared with the molecule modality (:mod:`modalities.molecules`).
"""

from .flat import GraphLayout, pack, unpack
from .modality import GraphModality

__all__ = ["GraphLayout", "pack", "unpack", "GraphModality"]
