"""Molecule modality: RDKit molecules (NCI, SMILES/SDF files, MOSES, QM9, ZINC250k) as graphs of atom and bond classes.

Importing this package registers :class:`MoleculeModality` as ``modality: {name: molecules}``. It
encodes molecules in the generic graph layout and samples with the graph network of
:mod:`modalities.graphs`; everything chemical (data sets, atom vocabulary, RDKit repair, writers,
metrics) lives here.
"""

from .modality import MoleculeModality
from .mol_vocab import MolVocab

__all__ = ["MolVocab", "MoleculeModality"]
