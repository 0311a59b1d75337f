"""Tests for the flat graph layout (pack/unpack, masks) and the molecule ⇄ tensor encoding."""

from __future__ import annotations

import os
import time

import numpy as np
import pytest
import torch

pytest.importorskip("rdkit")
from rdkit import Chem, RDConfig  # noqa: E402

from pfgm.modalities.graphs.flat import GraphLayout, decode_classes, encode_classes, pack, unpack  # noqa: E402
from pfgm.modalities.graphs.mol_repair import canonical_smiles, correct_mol, rdkit_quiet, sanitize_or_none  # noqa: E402
from pfgm.modalities.graphs.mol_vocab import MolVocab, UnsupportedMolecule, atom_key, parse_atom_key, vocab_from_mols  # noqa: E402


def _random_graphs(B, n_max, F, C, seed=0):
    g = torch.Generator().manual_seed(seed)
    nodes = torch.randn(B, n_max, F, generator=g)
    e = torch.randn(B, n_max, n_max, C, generator=g)
    edges = e + e.transpose(1, 2)
    n = torch.randint(1, n_max + 1, (B,), generator=g)
    return nodes, edges, n


# ------------------------------------------------------------------ layout


@pytest.mark.parametrize("F,C", [(3, 4), (0, 1), (5, 1)])
def test_pack_unpack_roundtrip_symmetric_and_masked(F, C):
    n_max, B = 7, 6
    nodes, edges, n = _random_graphs(B, n_max, F, C)
    L = GraphLayout(n_max, F, C)
    x, mask = L.pack(nodes, edges, n)
    assert x.shape == mask.shape == (B, L.dim)
    assert L.dim == n_max * F + n_max * (n_max - 1) // 2 * C
    # each sample's dimension is its own size
    expect = n * F + n * (n - 1) // 2 * C
    assert torch.equal(mask.sum(1).long(), expect)
    assert (x[mask == 0] == 0).all()  # padding carries nothing
    un, ue = L.unpack(x)
    assert torch.equal(ue, ue.transpose(1, 2))
    assert (torch.diagonal(ue, dim1=1, dim2=2) == 0).all()
    for b in range(B):
        k = int(n[b])
        assert torch.allclose(un[b, :k], nodes[b, :k])
        off = ~torch.eye(k, dtype=torch.bool)
        assert torch.allclose(ue[b, :k, :k][off], edges[b, :k, :k][off])
        assert (un[b, k:] == 0).all() and (ue[b, k:] == 0).all() and (ue[b, :, k:] == 0).all()
    # n_nodes / node_mask recover the sizes (F = 0 derives them from the pairs; n = 1 is then 0)
    got = L.n_nodes(mask)
    if F > 0:
        assert torch.equal(got, n)
    else:
        assert torch.equal(got, torch.where(n >= 2, n, torch.zeros_like(n)))


def test_module_level_pack_unpack_and_pair_order():
    # 3 nodes, F=1, C=2: x = [n0, n1, n2, (0,1)c0, (0,1)c1, (0,2)c0, (0,2)c1, (1,2)c0, (1,2)c1]
    nodes = torch.tensor([[[1.0], [2.0], [3.0]]])
    edges = torch.zeros(1, 3, 3, 2)
    for (i, j), v in {(0, 1): 10.0, (0, 2): 20.0, (1, 2): 30.0}.items():
        edges[0, i, j] = edges[0, j, i] = torch.tensor([v, v + 1])
    x, mask = pack(nodes, edges, torch.tensor([3]))
    assert x.tolist() == [[1, 2, 3, 10, 11, 20, 21, 30, 31]]
    assert mask.tolist() == [[1] * 9]
    x2, mask2 = pack(nodes, edges, torch.tensor([2]))
    assert mask2.tolist() == [[1, 1, 0, 1, 1, 0, 0, 0, 0]]
    assert x2.tolist() == [[1, 2, 0, 10, 11, 0, 0, 0, 0]]
    un, ue = unpack(x, 3, 1, 2)
    assert torch.equal(un, nodes) and torch.equal(ue, edges)


def test_unpack_is_differentiable_and_noise_stays_symmetric():
    L = GraphLayout(5, 2, 3)
    x = torch.randn(2, L.dim, requires_grad=True)
    _, e = L.unpack(x)
    e.sum().backward()
    assert x.grad is not None
    # per-entry noise on the flat vector is symmetric once unpacked
    noise = torch.randn(4, L.dim) * L.mask(torch.tensor([5, 4, 3, 2]))
    _, en = L.unpack(noise)
    assert torch.equal(en, en.transpose(1, 2))


def test_encode_decode_classes_generic_graph():
    L = GraphLayout(6, 0, 1)
    x, mask = encode_classes(L, [[0] * 4, [0] * 6], [[(0, 1, 1), (2, 3, 1)], [(0, 5, 1), (4, 1, 1)]])
    assert set(x[mask > 0].tolist()) <= {-0.5, 0.5}
    assert (x[mask == 0] == 0).all()
    out = decode_classes(L, x, mask)
    assert out[0][1].shape == (4, 4) and out[1][1].shape == (6, 6)
    assert out[0][1][0, 1] == out[0][1][1, 0] == 1 and out[0][1].sum() == 4
    assert out[1][1][1, 4] == 1 and out[1][1][0, 5] == 1 and out[1][1].sum() == 4


def test_values_have_rms_one_half():
    L = GraphLayout(5, 3, 4)
    x, mask = encode_classes(L, [[0, 1, 2], [2, 2, 1, 0, 0]], [[(0, 1, 2)], [(0, 4, 3), (1, 2, 1)]])
    rms = ((x**2).sum() / mask.sum()).sqrt()
    assert abs(float(rms) - 0.5) < 1e-7


# ------------------------------------------------------------------ atom types


def test_atom_keys_roundtrip():
    for sym, q, h in [("C", 0, 0), ("N", 1, 0), ("O", -1, 0), ("Co", 3, 0), ("Sb", -3, 0), ("N", 0, 1), ("*", 0, 0)]:
        assert parse_atom_key(atom_key(sym, q, h)) == (sym, q, h)
    assert atom_key("N", 1) == "N+" and atom_key("O", -1) == "O-" and atom_key("Co", 3) == "Co+3"
    with pytest.raises(ValueError):
        parse_atom_key("c1")


# ------------------------------------------------------------------ molecules


def _nci_sample(k=1000, max_atoms=20):
    from pfgm.modalities.graphs.molecule_sources import encodability_problem

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


@pytest.mark.parametrize("kekulize,hydrogens", [(True, False), (False, False), (True, True)])
def test_nci_smiles_roundtrip(nci1000, kekulize, hydrogens):
    mols, smis = nci1000
    assert len(mols) == 1000
    # the sample covers aromatic, charged and multi-ring molecules
    assert sum(any(a.GetIsAromatic() for a in m.GetAtoms()) for m in mols) > 300
    assert sum(any(a.GetFormalCharge() for a in m.GetAtoms()) for m in mols) > 30
    assert sum(m.GetRingInfo().NumRings() >= 2 for m in mols) > 200
    vocab = vocab_from_mols(mols, kekulize=kekulize, hydrogens=hydrogens)
    t0 = time.perf_counter()
    x, mask = vocab.encode(mols, 20, smis)
    t_enc = time.perf_counter() - t0
    out = vocab.decode(x, mask, 20)
    mismatches = [(s, canonical_smiles(m), canonical_smiles(o)) for s, m, o in zip(smis, mols, out)
                  if canonical_smiles(m) != canonical_smiles(o)]
    assert mismatches == []
    assert t_enc < 10.0
    assert ((x**2).sum() / mask.sum()).item() == pytest.approx(0.25)


def test_vocab_types_from_data(nci1000):
    vocab = vocab_from_mols(nci1000[0])
    assert vocab.atom_types[0] == "C"
    assert {"N", "O", "N+", "O-", "Cl"} <= set(vocab.atom_types)
    assert vocab.edge_dim == 4 and vocab_from_mols(nci1000[0], kekulize=False).edge_dim == 5


def test_hydrogen_typed_atoms():
    mols = [Chem.MolFromSmiles(s) for s in ["CCO", "C=CC#N", "c1ccccc1C(F)(F)F"]]
    v = vocab_from_mols(mols, hydrogens=True)
    assert {"CH3", "CH2", "OH", "CH", "C", "N", "F"} == set(v.atom_types)
    assert [v.atom_types[k] for k in v.mol_to_graph(mols[0])[0]] == ["CH3", "CH2", "OH"]
    # each type fixes its bond-order sum: element valence minus H count, in every training molecule
    for m in mols:
        atoms, bonds = v.mol_to_graph(m)
        order = [0] * len(atoms)
        for i, j, k in bonds:
            order[i] += k
            order[j] += k
        for a, o in zip(atoms, order):
            sym, _, h = parse_atom_key(v.atom_types[a])
            assert o + h == {"C": 4, "N": 3, "O": 2, "F": 1}[sym]
    assert v.to_dict()["hydrogens"] is True


def test_hydrogen_count_is_a_hint_not_a_rule_when_decoding():
    v = MolVocab(["CH3", "C"], hydrogens=True)
    # two 'CH3' atoms joined by a double bond: decoding keeps element and bonds and lets RDKit fill H
    mol = v.decode_graph([0, 0], np.array([[0, 2], [2, 0]]))
    assert canonical_smiles(mol) == "C=C"
    # an over-valent carbon is still invalid: the types never correct valence
    bonds = np.zeros((6, 6), dtype=int)
    bonds[0, 1:] = bonds[1:, 0] = 1
    bonds[0, 1] = bonds[1, 0] = 2
    assert v.decode_graph([1] * 6, bonds) is None


def test_hydrogen_types_need_kekule_mode():
    with pytest.raises(ValueError, match="kekulize"):
        MolVocab(["CH3"], kekulize=False, hydrogens=True)


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
