"""Molecule writers (modalities/molecules/writers.py): .smi / .sdf / PNG, invalid samples reported, batches streamed."""

from __future__ import annotations

import json

import pytest

pytest.importorskip("rdkit")
from rdkit import Chem  # noqa: E402

from pfgm.modalities.molecules.mol_repair import canonical_smiles  # noqa: E402
from pfgm.modalities.molecules.writers import MoleculeSink, write_molecules  # noqa: E402


def test_molecule_writers_report_invalid(tmp_path):
    mols = [Chem.MolFromSmiles("CCO"), None, Chem.MolFromSmiles("c1ccccc1")]
    paths, summary = write_molecules(mols, tmp_path / "out")
    assert summary["num_invalid"] == 1 and summary["invalid_indices"] == [1] and summary["num_valid"] == 2
    assert (tmp_path / "out" / "samples.smi").read_text() == "CCO\nc1ccccc1\n"
    sdf = [m for m in Chem.SDMolSupplier(str(tmp_path / "out" / "samples.sdf"))]
    assert [canonical_smiles(m) for m in sdf] == ["CCO", "c1ccccc1"]
    assert sdf[0].GetConformer().Is3D() is False
    assert (tmp_path / "out" / "samples.png").stat().st_size > 0
    assert json.loads((tmp_path / "out" / "summary.json").read_text())["num_invalid"] == 1
    paths, summary = write_molecules(mols, tmp_path / "mols.smi")
    assert (tmp_path / "mols.smi").read_text() == "CCO\nc1ccccc1\n"
    assert json.loads((tmp_path / "mols.json").read_text())["num_invalid"] == 1
    with pytest.raises(ValueError):
        write_molecules(mols, tmp_path / "mols.xyz")


def test_molecule_sink_streams_batches_into_the_same_files(tmp_path):
    """Batches added one by one give the files one write of all gives; nothing is published before close."""
    mols = [Chem.MolFromSmiles(s) if s else None for s in ["CCO", "", "c1ccccc1", "CC(=O)O", "", "N"]]
    write_molecules(mols, tmp_path / "once")
    sink = MoleculeSink(tmp_path / "streamed", max_drawn=64)
    for k in range(0, len(mols), 4):
        sink.add(mols[k : k + 4])
        assert not (tmp_path / "streamed" / "samples.smi").exists()
    sink.close()
    for name in ("samples.smi", "samples.sdf", "summary.json"):
        once = (tmp_path / "once" / name).read_text()
        assert (tmp_path / "streamed" / name).read_text() == once.replace(str(tmp_path / "once"), str(tmp_path / "streamed"))
    assert "sample_5" in (tmp_path / "streamed" / "samples.sdf").read_text()  # global indices across batches
    aborted = MoleculeSink(tmp_path / "gone.smi")
    aborted.add(mols)
    aborted.abort()
    assert not list(tmp_path.glob("*gone*"))
