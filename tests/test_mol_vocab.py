"""The molecule ⇄ tensor encoding (modalities/molecules/mol_vocab.py): atom type names, the vocabulary,
NCI round trips, and reading decoded graphs as chemistry (mol_repair.py: sanitisation, the GDSS charge rule,
valency correction)."""

from __future__ import annotations

import os
import time

import numpy as np
import pytest
import torch

pytest.importorskip("rdkit")
from rdkit import Chem, RDConfig  # noqa: E402

from pfgm.modalities.molecules.mol_repair import canonical_smiles, correct_mol, rdkit_quiet, sanitize_or_none  # noqa: E402
from pfgm.modalities.molecules.mol_vocab import MolVocab, UnsupportedMolecule, atom_key, parse_atom_key, vocab_from_mols  # noqa: E402
from pfgm.modalities.molecules.molecule_sources import encodability_problem  # noqa: E402


# ------------------------------------------------------------------ atom types


def test_atom_keys_roundtrip():
    for sym, q, h in [("C", 0, 0), ("N", 1, 0), ("O", -1, 0), ("Co", 3, 0), ("Sb", -3, 0), ("N", 0, 1), ("*", 0, 0)]:
        assert parse_atom_key(atom_key(sym, q, h)) == (sym, q, h)
    assert atom_key("N", 1) == "N+" and atom_key("O", -1) == "O-" and atom_key("Co", 3) == "Co+3"
    with pytest.raises(ValueError):
        parse_atom_key("c1")


# ------------------------------------------------------------------ molecules


def _nci_sample(k=1000, max_atoms=20):
    path = os.path.join(RDConfig.RDDataDir, "NCI", "first_5K.smi")
    mols, smis = [], []
    with rdkit_quiet():
        for line in open(path):
            s = line.split()[0]
            m = Chem.MolFromSmiles(s)
            if m is None or m.GetNumAtoms() > max_atoms or encodability_problem(m):
                continue
            mols.append(m)
            smis.append(s)
            if len(mols) == k:
                break
    return mols, smis


@pytest.fixture(scope="module")
def nci1000():
    return _nci_sample(1000)


@pytest.mark.parametrize("kekulize", [True, False])
def test_nci_smiles_roundtrip(nci1000, kekulize):
    mols, smis = nci1000
    assert len(mols) == 1000
    # the sample covers aromatic, charged and multi-ring molecules
    assert sum(any(a.GetIsAromatic() for a in m.GetAtoms()) for m in mols) > 300
    assert sum(any(a.GetFormalCharge() for a in m.GetAtoms()) for m in mols) > 30
    assert sum(m.GetRingInfo().NumRings() >= 2 for m in mols) > 200
    vocab = vocab_from_mols(mols, kekulize=kekulize)
    t0 = time.perf_counter()
    x, mask = vocab.encode(mols, 20, smis)
    t_enc = time.perf_counter() - t0
    out = vocab.decode(x, mask, 20)
    mismatches = [
        (s, canonical_smiles(m), canonical_smiles(o))
        for s, m, o in zip(smis, mols, out)
        if canonical_smiles(m) != canonical_smiles(o)
    ]
    assert mismatches == []
    assert t_enc < 10.0
    assert ((x**2).sum() / mask.sum()).item() == pytest.approx(0.25)


def test_vocab_types_from_data(nci1000):
    vocab = vocab_from_mols(nci1000[0])
    assert vocab.atom_types[0] == "C"
    assert {"N", "O", "N+", "O-", "Cl"} <= set(vocab.atom_types)
    assert vocab.edge_dim == 4 and vocab_from_mols(nci1000[0], kekulize=False).edge_dim == 5


def test_aromatic_mode_needs_nh_type():
    mols = [Chem.MolFromSmiles(s) for s in ["c1cc[nH]c1", "c1ccncc1"]]
    v = vocab_from_mols(mols, kekulize=False)
    assert "NH" in v.atom_types
    x, mask = v.encode(mols, 6)
    assert [canonical_smiles(m) for m in v.decode(x, mask, 6)] == ["c1cc[nH]c1", "c1ccncc1"]


def test_unsupported_element_error_names_smiles_and_element():
    v = MolVocab(["C", "O"])
    with pytest.raises(UnsupportedMolecule, match=r"CCS.*element S"):
        v.encode([Chem.MolFromSmiles("CCS")], 5, ["CCS"])
    other = MolVocab(["C", "O"], unknown_atoms="other")
    x, mask = other.encode([Chem.MolFromSmiles("CCS")], 5)
    (m,) = other.decode(x, mask, 5)
    assert canonical_smiles(m) == "*CC"


def test_radical_is_rejected():
    with pytest.raises(UnsupportedMolecule, match="radical"):
        MolVocab(["C"]).mol_to_graph(Chem.MolFromSmiles("C[CH2]"))


def test_charges_off_uses_gdss_rule():
    v = MolVocab(["C", "N", "O"], charges=False)
    x, mask = v.encode([Chem.MolFromSmiles("C[N+](=O)[O-]")], 4)
    (m,) = v.decode(x, mask, 4)
    assert canonical_smiles(m) == "C[N+](=O)O"  # charge information is lost, N+ restored by the rule


def test_decode_rejects_bad_valence_and_correction_fixes_it():
    v = MolVocab(["C", "O"])
    # carbon with three double bonds to O: valence 6
    atoms = np.array([0, 1, 1, 1])
    bonds = np.zeros((4, 4), dtype=np.int64)
    for j in (1, 2, 3):
        bonds[0, j] = bonds[j, 0] = 2
    assert v.decode_graph(atoms, bonds) is None
    fixed, needed = correct_mol(v.graph_to_rwmol(atoms, bonds))
    assert needed and canonical_smiles(fixed) == "O=C(O)O"
    # pentavalent carbon: a bond is removed, the largest fragment kept
    atoms = np.zeros(6, dtype=np.int64)
    bonds = np.zeros((6, 6), dtype=np.int64)
    for j in range(1, 6):
        bonds[0, j] = bonds[j, 0] = 1
    fixed, needed = correct_mol(v.graph_to_rwmol(atoms, bonds))
    assert needed and canonical_smiles(fixed) == "CC(C)(C)C"
    ok, needed = correct_mol(v.graph_to_rwmol(np.array([0, 1]), np.array([[0, 1], [1, 0]])))
    assert not needed and canonical_smiles(ok) == "CO"


def test_sanitize_or_none_and_padding_ignored():
    v = MolVocab(["C", "O"])
    x, mask = v.encode([Chem.MolFromSmiles("CCO"), Chem.MolFromSmiles("C")], 5)
    # garbage at padding positions must not change the decoded molecules
    x2 = x + 3.0 * (1 - mask) * torch.randn_like(x)
    assert [canonical_smiles(m) for m in v.decode(x2, mask, 5)] == ["CCO", "C"]
    assert sanitize_or_none(Chem.RWMol(Chem.MolFromSmiles("CC", sanitize=False))) is not None
