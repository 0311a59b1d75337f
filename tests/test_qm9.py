"""QM9 under the GDSS protocol: qm9pack CSVs matched by GDB index, the shipped test split, the encoding."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

pytest.importorskip("rdkit")

from pfgm.modalities.molecules import molecule_sources as ms  # noqa: E402
from pfgm.modalities.molecules.modality import MoleculeModality  # noqa: E402

SHARED = (
    Path(__file__).resolve().parents[1].parent / "shared" / "data" / "qm9_test_idx_moflow.json"
)  # ../shared beside the checkout
HEADER = "XYZ_file,Index,SMILES,InChi,N_atoms,XYZ_Ang\n\n"  # qm9pack leaves a blank line after the header


def fake_qm9pack(tmp_path: Path, rows: list[tuple[int, str]]) -> Path:
    """A qm9pack-like data folder: rows split over two part files, with an XYZ-like quoted column."""
    d = tmp_path / "qm9pack_data"
    d.mkdir()
    half = len(rows) // 2
    for k, chunk in enumerate((rows[:half], rows[half:]), start=1):
        body = "".join(f'"dsgdb9nsd_{i:06d}.xyz",{i},"{s}","InChI=x",5,"[[0.1,0.2],[0.3,0.4]]"\n' for i, s in chunk)
        (d / f"qm9_part{k}.csv").write_text(HEADER + body)
    return d


def test_split_is_read_as_gdss_reads_it():
    test = ms.qm9_test_gdb_indices()
    assert len(test) == 13_082
    assert 7278 + 1 in test  # the first entry "007278" is the 0-based row 7278 = GDB index 7279
    assert max(test) <= ms.QM9_ROWS


def test_shipped_split_is_the_benchmark_file():
    if not SHARED.exists():
        pytest.skip(f"{SHARED} (the shared benchmark files) is not on this machine")
    assert ms.split_file("qm9").read_bytes() == SHARED.read_bytes()
    assert json.loads(SHARED.read_text())["valid_idxs"][0] == "007278"


def test_rows_are_matched_by_index_not_position(tmp_path):
    # GDB index 3 is missing (an uncharacterised molecule): position 3 is index 4
    d = fake_qm9pack(tmp_path, [(1, "C"), (2, "N"), (4, "CC#N"), (5, "OCC=O"), (6, "c1ccoc1")])
    assert ms.read_qm9pack(d) == [(1, "C"), (2, "N"), (4, "CC#N"), (5, "OCC=O"), (6, "c1ccoc1")]


def test_load_qm9_applies_the_split(tmp_path, monkeypatch):
    d = fake_qm9pack(tmp_path, [(1, "C"), (2, "N"), (4, "CC#N"), (5, "OCC=O"), (6, "c1ccoc1")])
    monkeypatch.setattr(ms, "qm9pack_data_dir", lambda: d)
    test = ms.load_qm9(split="test", test_indices={2, 3, 5})  # 3 is not in the data
    train = ms.load_qm9(split="train", test_indices={2, 3, 5})
    assert sorted(test.smiles) == ["N", "O=CCO"]
    assert sorted(train.smiles) == ["C", "CC#N", "c1ccoc1"]
    assert len(ms.load_qm9(split="all")) == 5


def test_modality_uses_the_split_and_the_gdss_encoding(tmp_path, monkeypatch):
    rows = [(1, "C"), (2, "N"), (4, "CC#N"), (5, "OCC=O"), (6, "c1ccoc1"), (7, "C[N+](=O)[O-]"), (8, "CC(F)(F)F")]
    d = fake_qm9pack(tmp_path, rows)
    monkeypatch.setattr(ms, "qm9pack_data_dir", lambda: d)
    monkeypatch.setattr(ms, "qm9_test_gdb_indices", lambda path=None: {5, 8})
    m = MoleculeModality(source="qm9", max_atoms=9, atom_types=["C", "N", "O", "F"], charges=False, kekulize=True)
    assert sorted(m.dataset("test").x.shape) == sorted((2, m.graph_layout.dim))
    assert sorted(m.test_smiles) == ["CC(F)(F)F", "O=CCO"]
    assert m.graph_layout.node_dim == 4 and m.graph_layout.edge_dim == 4  # C N O F; none/single/double/triple
    # round trip: charges are not encoded; the N with four bond orders reads back as N+ (GDSS's rule),
    # the O- comes back neutral; aromatic rings come back from kekulé bonds
    from rdkit import Chem

    enc = m.dataset("train")
    back = {None if x is None else Chem.MolToSmiles(x) for x in m.decode(enc.x, enc.mask)}
    assert back == {"C", "N", "CC#N", "c1ccoc1", "C[N+](=O)O"}


@pytest.mark.slow
def test_real_qm9pack_counts():
    d = ms.qm9pack_data_dir()
    if d is None:
        pytest.skip("qm9pack is not installed (pip install 'pfgm[qm9]')")
    pairs = ms.read_qm9pack(d)
    idx = {i for i, _ in pairs}
    assert len(pairs) == 130_831 and ms.QM9_ROWS - len(idx) == 3_054
    assert pairs[0] == (1, "C")
    # GDSS's reading of the split: 12,914 of the 13,082 test molecules are characterised ones in qm9pack
    assert len(ms.qm9_test_gdb_indices() & idx) == 12_914


def test_protocol_metrics_by_hand():
    from rdkit import Chem

    from pfgm.modalities.molecules.metrics import molecule_metrics

    mol = Chem.MolFromSmiles
    ref = [mol("CCO"), mol("c1ccccc1")]
    samples = [mol("CCO.O"), mol("CCO"), None, mol("c1ccccc1")]
    corrected = [mol("CCO"), mol("CCO"), mol("CC"), mol("c1ccccc1")]
    out = molecule_metrics(samples, ["CCO"], ref, ["CCO", "c1ccccc1"], corrected=corrected, with_fcd=False, gdss=True)
    assert out["validity"] == 0.75 and out["valid_connected"] == 0.5 and out["fragments_2"] == pytest.approx(1 / 3)
    assert out["uniqueness"] == 1.0 and out["uniqueness_lf"] == pytest.approx(2 / 3)  # CCO.O counts as CCO
    assert out["novelty_lf"] == 0.5  # benzene is new, CCO is in the training set
    assert out["uniqueness_corrected"] == 0.75 and out["novelty_corrected"] == pytest.approx(2 / 3)
    same = molecule_metrics(ref, [], ref, ["CCO", "c1ccccc1"], corrected=ref, with_fcd=False, gdss=True)
    assert same["nspdk"] == pytest.approx(0.0, abs=1e-12) and same["nspdk_corrected"] == pytest.approx(0.0, abs=1e-12)
    assert out["nspdk_corrected"] > 0


def test_sampling_never_reads_the_data(tmp_path, monkeypatch):
    import torch

    rows = [(1, "C"), (2, "N"), (4, "CC#N"), (5, "OCC=O"), (6, "c1ccoc1"), (8, "CC(F)(F)F")]
    d = fake_qm9pack(tmp_path, rows)
    monkeypatch.setattr(ms, "qm9pack_data_dir", lambda: d)
    monkeypatch.setattr(ms, "qm9_test_gdb_indices", lambda path=None: {5, 8})
    cfg = MoleculeModality(source="qm9", max_atoms=9, atom_types=["C", "N", "O", "F"], charges=False, gdss_metrics=True).config()

    def refuse(*a, **k):
        raise AssertionError("sampling read the data set")

    monkeypatch.setattr(ms, "load_molecules", refuse)
    monkeypatch.setattr(ms, "read_qm9pack", refuse)
    m = MoleculeModality(**cfg)
    b = m.blank(3, torch.Generator().manual_seed(0))
    mols = m.decode(torch.rand_like(b.x) - 0.5, b.mask)
    paths = m.write(mols, tmp_path / "out.smi")
    assert paths[0].exists() and len(mols) == 3


def test_qm9_table_merges_one_d_benches_and_refuses_rows_that_differ(tmp_path):
    """benchmarks/qm9_table.py: rows of two one-D bench runs make one table only if they were made alike."""
    import subprocess
    import sys

    def bench(name, D, recipe="qm9", **kw):
        row = {"D": D, "max_steps": 12000, "solver": "heun", "steps": 18, "nfe": 35, "num_samples": 10000, "validity": 0.99, **kw}
        (tmp_path / name).write_text(json.dumps({"recipe": recipe, "rows": [row]}))
        return str(tmp_path / name)

    def table(*files):
        return subprocess.run(
            [sys.executable, "benchmarks/qm9_table.py", *files],
            cwd=Path(__file__).parents[1],
            capture_output=True,
            text=True,
            timeout=120,
        )

    a, b = bench("a.json", "128"), bench("b.json", "inf")
    p = table(a, b, str(tmp_path / "missing.json"))
    assert p.returncode == 0, p.stderr
    rows = [ln for ln in p.stdout.splitlines() if ln.startswith("| pfgm, D = ")]
    assert [r.split(" | ")[:2] for r in rows] == [["| pfgm, D = ∞", "99.00"], ["| pfgm, D = 128", "99.00"]]
    assert "samples per row: [10000]" in p.stdout
    for other, says in [
        (bench("c.json", "inf", num_samples=1000), "rows differ in num_samples"),
        (bench("d.json", "inf", recipe="zinc250k"), "rows come from different recipes"),
        (bench("e.json", "128"), "D = 128 is already given by another file"),
    ]:
        p = table(a, other)
        assert p.returncode == 2 and says in p.stderr and "Traceback" not in p.stderr, p.stderr
