"""ZINC250k from a user's CSV (250k_rndm_zinc_drugs_clean_3.csv layout) with the shipped GDSS split."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest

pytest.importorskip("rdkit")

from pfgm.modalities.molecules import molecule_sources as ms  # noqa: E402
from pfgm.modalities.molecules.modality import MoleculeModality  # noqa: E402

ZINC_TYPES = {"C", "N", "O", "F", "P", "S", "Cl", "Br", "I"}


@pytest.fixture(scope="module")
def nci_smiles() -> list[str]:
    """NCI molecules with only ZINC's 9 elements (the first 300)."""
    with pytest.warns(Warning):  # the NCI file's own skips are reported
        nci = ms.load_nci(max_atoms=38)
    return [s for m, s in zip(nci.mols, nci.smiles) if {a.GetSymbol() for a in m.GetAtoms()} <= ZINC_TYPES][:300]


def zinc_like_csv(tmp_path: Path, nci: list[str], n: int = 300) -> tuple[Path, list[str]]:
    """n molecules written as ZINC's file is: a quoted SMILES that ends in a newline inside the
    quotes, then logP, qed, SAS."""
    smiles = nci[:n]
    p = tmp_path / "250k_rndm_zinc_drugs_clean_3.csv"
    with open(p, "w", newline="") as f:
        w = csv.writer(f, quoting=csv.QUOTE_MINIMAL)
        w.writerow(["smiles", "logP", "qed", "SAS"])
        for s in smiles:
            w.writerow([s + "\n", "1.0", "0.5", "2.0"])
    return p, smiles


def test_split_file():
    rows = ms.zinc250k_test_rows()
    assert len(rows) == 24_887 and min(rows) == 2 and 10 in rows and 0 not in rows


def test_records_span_two_lines_and_rows_are_zero_based(tmp_path, nci_smiles):
    p, smiles = zinc_like_csv(tmp_path, nci_smiles, 20)
    rows = ms.read_zinc250k_csv(p)
    assert [r[2] for r in rows] == smiles  # stripped of the newline inside the quotes
    assert [r[0] for r in rows[:3]] == [0, 1, 2] and [r[1] for r in rows[:3]] == [2, 4, 6]  # file lines


def test_gdss_split_on_a_few_hundred_rows(tmp_path, nci_smiles):
    p, smiles = zinc_like_csv(tmp_path, nci_smiles, 300)
    split = ms.zinc250k_test_rows()
    expected_test = [s for i, s in enumerate(smiles) if i in split]
    test = ms.load_zinc250k_csv(p, split="test")
    train = ms.load_zinc250k_csv(p, split="train")
    assert 10 < len(expected_test) < 100
    assert len(test) == len(expected_test) and len(train) + len(test) == len(smiles)
    assert not set(test.smiles) & set(train.smiles) or len(set(smiles)) < len(smiles)
    # row 2 (the third molecule) is the split's first test row
    from pfgm.modalities.molecules.mol_repair import canonical_smiles
    from rdkit import Chem

    assert canonical_smiles(Chem.MolFromSmiles(smiles[2])) in test.smiles


def test_modality_reads_the_csv_and_errors_name_the_file(tmp_path, nci_smiles):
    p, _ = zinc_like_csv(tmp_path, nci_smiles, 200)
    m = MoleculeModality(
        source="zinc250k",
        path=str(p),
        max_atoms=38,
        kekulize=True,
        charges=False,
        atom_types=["C", "N", "O", "F", "P", "S", "Cl", "Br", "I"],
    )
    n_test = len(m.dataset("test"))
    assert n_test == sum(i in ms.zinc250k_test_rows() for i in range(200)) and len(m.dataset("train")) == 200 - n_test
    bad = tmp_path / "bad.csv"
    bad.write_text("SMILES_X,logP\nCCO,1\n")
    with pytest.raises(ValueError, match="bad.csv: no column named 'smiles'"):
        ms.read_zinc250k_csv(bad)
