"""Molecules held as pickles (modalities/molecules/mol_list.py): compact, and encoded exactly like Mols."""

from __future__ import annotations

import pytest
import torch

pytest.importorskip("rdkit")
from rdkit import Chem  # noqa: E402

from pfgm.modalities.molecules import molecule_sources  # noqa: E402
from pfgm.modalities.molecules.mol_list import MolList  # noqa: E402
from pfgm.modalities.molecules.mol_repair import canonical_smiles  # noqa: E402
from pfgm.modalities.molecules.mol_vocab import vocab_from_mols  # noqa: E402


def test_mol_list_is_compact_and_encodes_exactly_like_mols():
    """Molecules held as pickles rebuild to Mols that encode to the very same tensors, at a fraction
    of the memory (an RDKit Mol is ~12 KB resident; its pickle a few hundred bytes)."""
    nci = molecule_sources.load_nci(max_atoms=20, limit=300)
    assert isinstance(nci.mols, MolList) and len(nci.mols) == 300
    plain = [Chem.MolFromSmiles(s) for s in nci.smiles]
    vocab = vocab_from_mols(plain, kekulize=True, charges=False)
    x_plain, m_plain = vocab.encode(plain, 20, nci.smiles)
    x_list, m_list = vocab.encode(MolList(plain), 20, nci.smiles)
    assert torch.equal(x_plain, x_list) and torch.equal(m_plain, m_list)
    assert [canonical_smiles(m) for m in nci.mols.take([5, 0])] == [nci.smiles[5], nci.smiles[0]]
    assert nci.mols.nbytes() / len(nci.mols) < 1500
