"""Data loading (SMILES/CSV/SDF files, NCI, bad input), graph generators, writers and the two modalities."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

pytest.importorskip("rdkit")
nx = pytest.importorskip("networkx")
from rdkit import Chem  # noqa: E402

from pfgm.modalities.graphs import graph_sources, molecule_sources  # noqa: E402
from pfgm.modalities.base import Encoded  # noqa: E402
from pfgm.modalities.shared.records import MAX_REPORTED  # noqa: E402
from pfgm.modalities.graphs.mol_repair import canonical_smiles  # noqa: E402


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
    p = _write(tmp_path, "m.sdf", good + "$$$$\n" + bad + "$$$$\n" + Chem.MolToMolBlock(Chem.MolFromSmiles("c1ccccc1")) + "$$$$\n")
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


# ------------------------------------------------------------------ generic graphs


def _shared_spec() -> Path | None:
    # shared/ sits beside the checkout (in CI too); the package itself never reads it
    p = Path(__file__).resolve().parents[2] / "shared" / "data" / "community_small_gdss.txt"
    return p if p.exists() else None


def test_community_small_protocol():
    gs = graph_sources.community_small(100, seed=0)
    assert len(gs) == 100
    sizes = {g.number_of_nodes() for g in gs}
    assert sizes <= {12, 14, 16, 18, 20}
    for g in gs[:20]:
        c = g.number_of_nodes() // 2
        # the two communities are gnp(c, 0.7, seed=0/1) exactly; everything else is bridges
        left = g.subgraph(range(c))
        right = nx.relabel_nodes(g.subgraph(range(c, 2 * c)), {i + c: i for i in range(c)})
        assert nx.utils.edges_equal(left.edges(), nx.gnp_random_graph(c, 0.7, seed=0).edges())
        assert nx.utils.edges_equal(right.edges(), nx.gnp_random_graph(c, 0.7, seed=1).edges())
        assert nx.is_connected(g)
    # deterministic by seed
    again = graph_sources.community_small(100, seed=0)
    assert all(nx.utils.graphs_equal(a, b) for a, b in zip(gs, again))
    train, test = graph_sources.split_graphs(gs, 0.2)
    assert len(train) == 80 and len(test) == 20 and test[0] is gs[0]


def test_community_small_matches_the_gdss_file():
    spec = _shared_spec()
    if spec is None:
        pytest.skip("shared/data/community_small_gdss.txt not available")
    gs = graph_sources.community_small_from_spec(spec.read_text().splitlines())
    assert len(gs) == 100
    for g in gs:
        c = g.number_of_nodes() // 2
        assert nx.utils.edges_equal(g.subgraph(range(c)).edges(), nx.gnp_random_graph(c, 0.7, seed=0).edges())
        bridges = [(u, v) for u, v in g.edges() if (u < c) != (v < c)]
        assert len(bridges) >= 1
    # our generator follows the same protocol: same size set, similar bridge counts
    ours = graph_sources.community_small(100, seed=0)
    assert {g.number_of_nodes() for g in gs} == {g.number_of_nodes() for g in ours}

    def nb(g):
        c = g.number_of_nodes() // 2
        return sum((u < c) != (v < c) for u, v in g.edges())

    assert abs(np.mean([nb(g) for g in gs]) - np.mean([nb(g) for g in ours])) < 0.5


def test_community_small_file_loader(tmp_path):
    f = tmp_path / "cs.txt"
    f.write_text("# two graphs\n12:0-6\n\n14:0-7,3-9\n")
    gs = graph_sources.load_graphs("community_small_file", path=str(f))
    assert [g.number_of_nodes() for g in gs] == [12, 14]
    assert gs[1].has_edge(3, 9) and gs[1].has_edge(0, 7)
    communities = sum(nx.gnp_random_graph(6, 0.7, seed=i).number_of_edges() for i in range(2))
    assert gs[0].number_of_edges() == communities + 1  # the two communities and the one bridge
    bad = tmp_path / "bad.txt"
    bad.write_text("12:0-6\n13:0-6\n")
    with pytest.raises(ValueError, match=r"bad.txt, line 2: expected 'SIZE:u-v"):
        graph_sources.load_graphs("community_small_file", path=str(bad))
    bad.write_text("12:0-16\n")
    with pytest.raises(ValueError, match="line 1"):
        graph_sources.load_graphs("community_small_file", path=str(bad))
    with pytest.raises(FileNotFoundError, match="nope.txt"):
        graph_sources.load_graphs("community_small_file", path=str(tmp_path / "nope.txt"))
    bad.write_text("# nothing\n")
    with pytest.raises(ValueError, match="no graphs"):
        graph_sources.load_graphs("community_small_file", path=str(bad))
    spec = _shared_spec()
    if spec is not None:
        assert len(graph_sources.load_graphs("community_small_file", path=str(spec))) == 100


def test_ego_and_grid():
    ego = graph_sources.ego_small(200, seed=0)
    assert len(ego) == 200 and all(4 <= g.number_of_nodes() <= 18 for g in ego)
    assert all(max(dict(g.degree()).values()) == g.number_of_nodes() - 1 for g in ego)  # an ego centre
    grid = graph_sources.grid_graphs(5, seed=1, min_side=3, max_side=4)
    assert all(9 <= g.number_of_nodes() <= 16 for g in grid)
    with pytest.raises(ValueError, match="unknown graph data set"):
        graph_sources.load_graphs("lobster")


# ------------------------------------------------------------------ writers


def test_molecule_writers_report_invalid(tmp_path):
    from pfgm.modalities.graphs.writers import write_molecules

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
    from pfgm.modalities.graphs.writers import MoleculeSink, write_molecules

    mols = [Chem.MolFromSmiles(s) if s else None for s in ["CCO", "", "c1ccccc1", "CC(=O)O", "", "N"]]
    write_molecules(mols, tmp_path / "once")
    sink = MoleculeSink(tmp_path / "streamed", max_drawn=64)
    for k in range(0, len(mols), 4):
        sink.add(mols[k:k + 4])
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


def test_graph_writers_roundtrip(tmp_path):
    from pfgm.modalities.graphs.writers import read_edge_lists, write_graphs

    gs = [nx.path_graph(3), nx.empty_graph(2), nx.cycle_graph(4)]
    paths, summary = write_graphs(gs, tmp_path / "g")
    back = read_edge_lists(tmp_path / "g" / "graphs.edgelist")
    assert [sorted(g.edges()) for g in back] == [sorted(g.edges()) for g in gs]
    assert [g.number_of_nodes() for g in back] == [3, 2, 4]
    try:
        import matplotlib  # noqa: F401

        assert (tmp_path / "g" / "graphs.png").exists()
    except ImportError:
        assert any("matplotlib" in n for n in summary["notes"])


# ------------------------------------------------------------------ modalities


def test_molecule_modality_end_to_end(tmp_path):
    from pfgm.modalities.base import build_modality

    m = build_modality({"name": "molecules", "source": "nci", "cond_properties": ["qed"], "fcd": False})
    with pytest.warns(UserWarning, match="8 unparsable"):  # data load is lazy and reports its skips
        tr = m.dataset("train")
    te = m.dataset("test")
    assert len(tr) + len(te) == 3876 and len(te) == 388
    item = tr[0]
    assert item.x.shape == item.mask.shape == (m.graph_layout.dim,) and item.cond.shape == (1,)
    lay = m.blank(16, torch.Generator().manual_seed(0))
    lay2 = m.blank(16, torch.Generator().manual_seed(0))
    assert torch.equal(lay.mask, lay2.mask) and (lay.x == 0).all() and torch.isnan(lay.cond).all()
    n = m.graph_layout.n_nodes(lay.mask)
    assert (n >= 1).all() and (n <= 20).all()
    objs = m.decode(tr.x[:20], tr.mask[:20])
    assert [canonical_smiles(o) for o in objs] == m.train_smiles[:20]
    ev = m.evaluate(objs, Encoded(tr.x[:20], tr.mask[:20]))
    res = ev.metrics
    assert res["validity"] == 1.0 and res["validity_corrected"] == 1.0 and res["novelty"] == 0.0
    assert res["valid_connected"] == res["fragments_1"] and 0.9 <= res["ref_fragments_1"] <= 1.0
    assert "validity_corrected" not in m.evaluate(objs).metrics  # needs the raw samples
    paths = m.write(objs + [None], tmp_path / "s.smi")
    assert m.last_write_summary["num_invalid"] == 1 and paths[0].read_text().count("\n") == 20
    model = m.backbone(node_width=32, edge_width=16, depth=1, heads=2)
    out = model(tr.x[:2], torch.zeros(2), cond=tr.cond[:2], mask=tr.mask[:2])
    assert out.shape == tr.x[:2].shape

    # sample-time options: a fixed atom count and a property target, both checked
    m.set_sample_options(num_nodes=9, cond_target={"qed": 0.7})
    lay = m.blank(4, torch.Generator().manual_seed(0))
    assert (m.graph_layout.n_nodes(lay.mask) == 9).all()
    mean, std = m._cond_stats
    assert torch.allclose(lay.cond, torch.full((4, 1), (0.7 - mean[0]) / std[0], dtype=torch.float32))
    with pytest.raises(ValueError, match=r"num_nodes must be an integer in \[1, 20\]"):
        m.set_sample_options(num_nodes=21)
    with pytest.raises(ValueError, match=r"cond_target names \['logp'\].*\['qed'\]"):
        m.set_sample_options(num_nodes=9, cond_target={"logp": 1.0})
    with pytest.raises(ValueError, match="no sample-time option label"):
        m.set_sample_options(label=3)


def test_molecule_modality_unknown_atoms(tmp_path):
    p = _write(tmp_path, "m.smi", "CCO\nCCS\nCCN\nCCCl\n")
    from pfgm.modalities.graphs.modality import MoleculeModality

    m = MoleculeModality(source="smiles", path=str(p), atom_types=["C", "N", "O"], test_fraction=0.0)
    with pytest.raises(ValueError, match=r"CCS.*element S"):
        m.dataset("train")
    m = MoleculeModality(source="smiles", path=str(p), atom_types=["C", "N", "O"], unknown_atoms="skip",
                         test_fraction=0.0)
    with pytest.warns(UserWarning, match="skipped 2 molecules"):
        assert len(m.dataset("train")) == 2
    m = MoleculeModality(source="smiles", path=str(p), atom_types=["C", "N", "O"], unknown_atoms="other",
                         test_fraction=0.0)
    assert len(m.dataset("train")) == 4 and m.vocab.atom_types[-1] == "*"


def test_graph_modality_end_to_end(tmp_path):
    from pfgm.modalities.base import build_modality

    g = build_modality({"name": "graphs", "dataset": "community_small"})
    tr = g.dataset("train")
    assert len(tr) == 80 and len(g.dataset("test")) == 20 and g.graph_layout.n_max == 20
    decoded = g.decode(tr.x, tr.mask)
    assert all(nx.utils.graphs_equal(a, b) for a, b in zip(decoded, g.train_graphs))
    lay = g.blank(8, torch.Generator().manual_seed(1))
    assert set(g.graph_layout.n_nodes(lay.mask).tolist()) <= {12, 14, 16, 18, 20}
    g.set_sample_options(num_nodes=13)  # a size the data never has: the user's choice
    assert (g.graph_layout.n_nodes(g.blank(5, torch.Generator()).mask) == 13).all()
    for bad in (0, 21, 2.5, True):
        with pytest.raises(ValueError, match="num_nodes"):
            g.set_sample_options(num_nodes=bad)
    g.set_sample_options(num_nodes=None)
    res = g.evaluate(g.decode(g.dataset("test").x, g.dataset("test").mask)).metrics
    assert res["degree"] == pytest.approx(0, abs=1e-12) and res["orbit"] == pytest.approx(0, abs=1e-12)
    g.write(decoded[:3], tmp_path / "graphs")
    assert (tmp_path / "graphs" / "graphs.edgelist").exists()
    small = build_modality({"name": "graphs", "dataset": "grid", "data": {"num": 10, "min_side": 2, "max_side": 3}})
    assert small.graph_layout.n_max <= 9


def test_mol_list_is_compact_and_encodes_exactly_like_mols():
    """Molecules held as pickles rebuild to Mols that encode to the very same tensors, at a fraction
    of the memory (an RDKit Mol is ~12 KB resident; its pickle a few hundred bytes)."""
    from pfgm.modalities.graphs.mol_list import MolList
    from pfgm.modalities.graphs.mol_vocab import vocab_from_mols

    nci = molecule_sources.load_nci(max_atoms=20, limit=300)
    assert isinstance(nci.mols, MolList) and len(nci.mols) == 300
    plain = [Chem.MolFromSmiles(s) for s in nci.smiles]
    vocab = vocab_from_mols(plain, kekulize=True, charges=False)
    x_plain, m_plain = vocab.encode(plain, 20, nci.smiles)
    x_list, m_list = vocab.encode(MolList(plain), 20, nci.smiles)
    assert torch.equal(x_plain, x_list) and torch.equal(m_plain, m_list)
    assert [canonical_smiles(m) for m in nci.mols.take([5, 0])] == [nci.smiles[5], nci.smiles[0]]
    assert nci.mols.nbytes() / len(nci.mols) < 1500
