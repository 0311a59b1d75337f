"""Molecule data sets (modalities/molecules/molecule_sources.py): SMILES/CSV/SDF files and bad input, NCI, MOSES,
the download loaders."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("rdkit")
from rdkit import Chem  # noqa: E402

from pfgm.modalities.molecules import molecule_sources  # noqa: E402
from pfgm.modalities.shared.records import MAX_REPORTED  # noqa: E402


def _write(tmp_path, name, text):
    p = tmp_path / name
    p.write_text(text)
    return p


# ------------------------------------------------------------------ SMILES files and bad input


def test_unparsable_lines_counted_with_line_numbers(tmp_path):
    p = _write(tmp_path, "m.smi", "CCO\nnot_a_smiles\nc1ccccc1 benzene\n\nC1CC\nCC(=O)O\nXx\n")
    with pytest.warns(UserWarning, match=r"3 unparsable \(lines 2, 5, 7\)"):
        ms = molecule_sources.load_smiles_file(p)
    assert ms.smiles == ["CCO", "c1ccccc1", "CC(=O)O"]
    assert ms.report.count("unparsable") == 3 and ms.report.lines("unparsable") == [2, 5, 7]
    assert ms.report.records == 6 and ms.report.kept == 3


def test_reported_line_numbers_are_capped(tmp_path):
    p = _write(tmp_path, "m.smi", "CC\n" + "bad(\n" * 9)
    with pytest.warns(UserWarning, match=r"9 unparsable \(lines 2, 3, 4, 5, 6, \.\.\.\)"):
        ms = molecule_sources.load_smiles_file(p)
    assert ms.report.count("unparsable") == 9 and len(ms.report.lines("unparsable")) == MAX_REPORTED


def test_empty_file_error_names_it(tmp_path):
    p = _write(tmp_path, "empty.smi", "")
    with pytest.raises(ValueError, match=r"empty\.smi.*empty"):
        molecule_sources.load_smiles_file(p)
    p2 = _write(tmp_path, "blank.smi", "\n\n# just a comment\n")
    with pytest.raises(ValueError, match="blank.smi"):
        molecule_sources.load_smiles_file(p2)
    with pytest.raises(FileNotFoundError):
        molecule_sources.load_smiles_file(tmp_path / "missing.smi")


def test_no_valid_molecule_is_an_error(tmp_path):
    p = _write(tmp_path, "bad.smi", "foo(\nC1CC\n")
    with pytest.raises(ValueError, match=r"bad\.smi: no usable molecules.*2 unparsable"):
        molecule_sources.load_smiles_file(p, header=False)


def test_max_atoms_filter_is_counted(tmp_path):
    p = _write(tmp_path, "m.smi", "CCO\nCCCCCCCCCC\nCCCCCC\n")
    ms = molecule_sources.load_smiles_file(p, max_atoms=6)
    assert ms.smiles == ["CCO", "CCCCCC"] and ms.report.count("above max_atoms") == 1
    assert "1 above max_atoms" in ms.report.summary()


def test_unencodable_molecules_are_counted(tmp_path):
    p = _write(tmp_path, "m.smi", "CC\nC[CH2]\n")
    with pytest.warns(UserWarning, match="not encodable.*radical"):
        ms = molecule_sources.load_smiles_file(p)
    assert ms.report.count("not encodable") == 1 and ms.smiles == ["CC"]


def test_header_detection_and_csv_columns(tmp_path):
    smi = _write(tmp_path, "h.smi", "SMILES Name\nCCO ethanol\nCCN amine\n")
    ms = molecule_sources.load_smiles_file(smi)
    assert ms.report.header and ms.smiles == ["CCO", "CCN"]
    csvp = _write(tmp_path, "d.csv", "id,score,smiles\n1,0.5,CCO\n2,0.1,c1ccccc1\n3,0.2,??\n")
    with pytest.warns(UserWarning):
        ms = molecule_sources.load_smiles_file(csvp)  # the 'smiles' column is found by name
    assert ms.smiles == ["CCO", "c1ccccc1"] and ms.report.lines("unparsable") == [4]
    ms = molecule_sources.load_smiles_file(_write(tmp_path, "e.csv", "mol,y\nCC,1\nCCC,2\n"), column="mol")
    assert ms.smiles == ["CC", "CCC"]
    ms = molecule_sources.load_smiles_file(_write(tmp_path, "f.csv", "CC,1\nCCC,2\n"), column=0, header=False)
    assert ms.smiles == ["CC", "CCC"]
    with pytest.raises(ValueError, match="no column named 'smi'"):
        molecule_sources.load_smiles_file(csvp, column="smi")
    tsv = _write(tmp_path, "g.tsv", "x\tSMILES\n1\tCCO\n")
    assert molecule_sources.load_smiles_file(tsv).smiles == ["CCO"]


def test_header_auto_keeps_broken_first_smiles(tmp_path):
    # a malformed first record is a failure to count, not a header to swallow
    p = _write(tmp_path, "m.smi", "C1CC\nCCO\n")
    with pytest.warns(UserWarning, match=r"lines 1\)"):
        ms = molecule_sources.load_smiles_file(p)
    assert ms.smiles == ["CCO"] and not ms.report.header


def test_sdf_loading_counts_bad_records(tmp_path):
    good = Chem.MolToMolBlock(Chem.MolFromSmiles("CCO"))
    pentavalent = Chem.MolFromSmiles("CC(C)(C)(C)C", sanitize=False)
    pentavalent.UpdatePropertyCache(strict=False)
    bad = Chem.MolToMolBlock(pentavalent, kekulize=False)  # RDKit's SDF reader rejects it
    p = _write(
        tmp_path, "m.sdf", good + "$$$$\n" + bad + "$$$$\n" + Chem.MolToMolBlock(Chem.MolFromSmiles("c1ccccc1")) + "$$$$\n"
    )
    with pytest.warns(UserWarning, match=r"1 unparsable \(lines 2\)"):
        ms = molecule_sources.load_molecules("sdf", path=p)
    assert ms.smiles == ["CCO", "c1ccccc1"]
    with pytest.raises(ValueError, match="empty"):
        molecule_sources.load_sdf(_write(tmp_path, "e.sdf", ""))


# ------------------------------------------------------------------ bundled / optional sources


@pytest.fixture(scope="module")
def nci():
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return molecule_sources.load_nci(max_atoms=20)


def test_nci_set(nci):
    assert molecule_sources.nci_path().exists()
    r = nci.report
    assert r.records == 4999 and r.count("unparsable") == 8 and r.count("above max_atoms") == 1105
    assert len(nci) == r.kept == 3876  # 10 radicals / dative bonds counted as not encodable
    assert r.count("not encodable") == 10


def test_moses_needs_molsets_or_loads():
    try:
        import importlib.util

        has = importlib.util.find_spec("moses") is not None
    except Exception:
        has = False
    if has:
        ms = molecule_sources.load_moses("test", limit=50)
        assert len(ms) == 50
    else:
        with pytest.raises(ImportError, match="molsets --no-deps"):
            molecule_sources.load_moses()


def test_download_loaders_are_importable():
    # QM9 / ZINC download on first use; only check they exist and ZINC's graph decoding works
    assert callable(molecule_sources.load_qm9) and callable(molecule_sources.load_zinc250k)
    # acetate from ZINC tokens: C, C, O, 'O -' (index 7); bonds C-C single, C=O double, C-O- single
    tokens = [0, 0, 1, 7]
    ei = np.array([[0, 1, 1, 2, 1, 3], [1, 0, 2, 1, 3, 1]])
    smi = molecule_sources.zinc_graph_to_smiles(tokens, ei, [1, 1, 2, 2, 1, 1])
    assert smi == "CC(=O)[O-]"
    # 'N H3 +' keeps its hydrogens: methylammonium
    assert molecule_sources.zinc_graph_to_smiles([0, 10], np.array([[0, 1], [1, 0]]), [1, 1]) == "C[NH3+]"
    with pytest.raises(ValueError, match="unknown molecule source"):
        molecule_sources.load_molecules("chembl")
