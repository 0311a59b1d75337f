"""Graph and molecule modality: graphs as one flat masked vector (nodes + upper-triangle edges).

Registers two modalities for recipes:
  ``molecules`` — :class:`MoleculeModality` (RDKit molecules: NCI, SMILES/SDF files, MOSES, QM9, ZINC250k);
  ``graphs``    — :class:`GraphModality` (generic graphs, adjacency only: community_small, ego_small, grid).
"""

from ..base import register_modality
from .encoding import GraphLayout, MolVocab, pack, unpack
from .modality import GraphModality, MoleculeModality

register_modality("molecules")(MoleculeModality)
register_modality("graphs")(GraphModality)

__all__ = ["GraphLayout", "MolVocab", "pack", "unpack", "MoleculeModality", "GraphModality"]
