"""Graph and molecule modality: graphs as one flat masked vector (nodes + upper-triangle edges).

Importing this package registers two modalities for recipes:
  ``molecules`` — :class:`MoleculeModality` (RDKit molecules: NCI, SMILES/SDF files, MOSES, QM9, ZINC250k);
  ``graphs``    — :class:`GraphModality` (generic graphs, adjacency only: community_small, ego_small, grid).
"""

from .flat import GraphLayout, pack, unpack
from .modality import GraphModality, MoleculeModality
from .mol_vocab import MolVocab

__all__ = ["GraphLayout", "MolVocab", "pack", "unpack", "MoleculeModality", "GraphModality"]
