"""Every molecule metric (modalities/molecules/metrics.py) against values computed by hand on tiny inputs."""

from __future__ import annotations

import math
from collections import Counter

import pytest

pytest.importorskip("networkx")
pytest.importorskip("rdkit")
from rdkit import Chem  # noqa: E402

from pfgm.modalities.molecules import metrics as M  # noqa: E402


def mol(s):
    return Chem.MolFromSmiles(s)


def test_validity_uniqueness_novelty():
    objs = [mol("CCO"), None, mol("CCO"), mol("CC"), None]
    assert M.validity(objs) == pytest.approx(3 / 5)
    assert M.validity([]) == 0.0
    assert M.uniqueness(["CCO", "CCO", "CC"]) == pytest.approx(2 / 3)
    assert M.uniqueness([]) == 0.0
    # distinct valid {CCO, CC, CCC}; CC is in training -> 2/3
    assert M.novelty(["CCO", "CCO", "CC", "CCC"], ["CC", "N"]) == pytest.approx(2 / 3)
    assert M.novelty([], ["CC"]) == 0.0


def test_total_variation_of_atom_and_bond_types():
    gen = [mol("CCO")]  # C:2, O:1
    ref = [mol("CN")]  # C:1, N:1
    assert M.atom_type_counts(gen) == Counter({"C": 2, "O": 1})
    # p = (2/3, 1/3, 0), q = (1/2, 0, 1/2): ½(1/6 + 1/3 + 1/2) = 1/2
    assert M.total_variation(M.atom_type_counts(gen), M.atom_type_counts(ref)) == pytest.approx(0.5)
    assert M.atom_type_counts([mol("C[N+](=O)[O-]")]) == Counter({"C": 1, "N+": 1, "O": 1, "O-": 1})
    # bonds: C=C-C (1 double, 1 single) vs benzene (6 aromatic): disjoint -> 1
    assert M.bond_type_counts([mol("C=CC")]) == Counter({"DOUBLE": 1, "SINGLE": 1})
    assert M.total_variation(M.bond_type_counts([mol("C=CC")]), M.bond_type_counts([mol("c1ccccc1")])) == 1.0
    # ethanol vs propene: {S:2} vs {S:1, D:1}: ½(|1 − ½| + |0 − ½|) = ½
    assert M.total_variation(M.bond_type_counts([mol("CCO")]), M.bond_type_counts([mol("C=CC")])) == pytest.approx(0.5)
    assert M.total_variation(Counter(), Counter({"C": 1})) == 1.0


def test_ring_metrics_on_hand_checked_molecules():
    # naphthalene: two 6-rings, both aromatic; cyclobutadiene-like C1=CC=C1: one 4-ring, not aromatic;
    # a 9-ring counts as 8+; propane has none
    assert M.ring_size_counts([mol("c1ccc2ccccc2c1"), mol("C1=CC=C1"), mol("C1CCCCCCCC1"), mol("CCC")]) == Counter(
        {6: 2, 4: 1, 8: 1}
    )
    gen = [mol("C1=CC=C1"), mol("c1ccccc1"), mol("CCC")]  # sizes {4: 1, 6: 1}
    ref = [mol("c1ccccc1"), mol("C1CCCCC1")]  # sizes {6: 2}
    r = M.ring_metrics(gen, ref)
    assert r["ring_size_tv"] == pytest.approx(0.5)  # ½(|½ − 0| + |½ − 1|)
    assert r["rings_per_mol"] == pytest.approx(2 / 3) and r["aromatic_rings_per_mol"] == pytest.approx(1 / 3)
    assert r["ref_rings_per_mol"] == 1.0 and r["ref_aromatic_rings_per_mol"] == 0.5
    assert math.isnan(M.ring_metrics([], ref)["rings_per_mol"])


def test_sa_and_qed():
    from rdkit.Chem import QED

    mols = [mol("c1ccccc1"), mol("CC(=O)Oc1ccccc1C(=O)O")]
    sa = M.sa_scores(mols)
    assert all(1.0 <= s <= 10.0 for s in sa)
    assert sa[0] < 2.0  # benzene is trivially accessible
    q = M.qed_scores(mols)
    assert q == pytest.approx([QED.qed(m) for m in mols])
    # aspirin's QED is 0.55 (Bickerton et al. report 0.55 for aspirin)
    assert q[1] == pytest.approx(0.55, abs=0.01)


def test_fcd_identical_sets_is_zero_and_grows():
    pytest.importorskip("fcd_torch")
    a = ["CCO", "CCN", "c1ccccc1", "CC(=O)O", "CCCl", "OCCO"]
    b = ["C1CCCCC1", "CCCCCC", "CCCCCCCC", "C1CCC1", "CCCCC", "CCCC"]
    fa, fb = M.chemnet_activations(a), M.chemnet_activations(b)
    assert fa.shape == fb.shape == (6, 512)
    assert abs(M.fcd(a, a)) < 1e-3
    assert M.fcd(a, b) > 1.0
    assert math.isnan(M.fcd(["CCO"], a))


def test_molecule_metrics_bundle():
    objs = [mol("CCO"), None, mol("CCC")]
    out = M.molecule_metrics(
        objs,
        train_smiles=["CCO"],
        ref_mols=[mol("CCO")],
        ref_smiles=["CCO"],
        corrected=[mol("CCO"), mol("C"), mol("CCC")],
        with_fcd=False,
    )
    assert out["validity"] == pytest.approx(2 / 3)
    assert out["validity_corrected"] == 1.0
    assert out["uniqueness"] == 1.0 and out["novelty"] == 0.5
    # exact: gen atoms C:5 O:1 (p = 5/6, 1/6), ref C:2 O:1 (q = 2/3, 1/3): ½(1/6 + 1/6) = 1/6
    assert out["atom_tv"] == pytest.approx(1 / 6)
    assert "nspdk" in out or "nspdk_note" in out
    assert [sorted(g.nodes(data="label")) for g in M.mols_to_nx([mol("C=O")])] == [[(0, "C"), (1, "O")]]
    assert list(M.mols_to_nx([mol("C=O")])[0].edges(data="label")) == [(0, 1, 2)]
