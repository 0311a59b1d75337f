"""The molecules modality (modalities/molecules/modality.py) end to end: data, layout, sampling options,
decoding, metrics, writing, backbone; unknown atom types."""

from __future__ import annotations

import pytest
import torch

pytest.importorskip("rdkit")
pytest.importorskip("networkx")

from pfgm.modalities.base import Encoded, build_modality  # noqa: E402
from pfgm.modalities.molecules.modality import MoleculeModality  # noqa: E402
from pfgm.modalities.molecules.mol_repair import canonical_smiles  # noqa: E402


def _write(tmp_path, name, text):
    p = tmp_path / name
    p.write_text(text)
    return p


def test_molecule_modality_end_to_end(tmp_path):
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
    m = MoleculeModality(source="smiles", path=str(p), atom_types=["C", "N", "O"], test_fraction=0.0)
    with pytest.raises(ValueError, match=r"CCS.*element S"):
        m.dataset("train")
    m = MoleculeModality(source="smiles", path=str(p), atom_types=["C", "N", "O"], unknown_atoms="skip", test_fraction=0.0)
    with pytest.warns(UserWarning, match="skipped 2 molecules"):
        assert len(m.dataset("train")) == 2
    m = MoleculeModality(source="smiles", path=str(p), atom_types=["C", "N", "O"], unknown_atoms="other", test_fraction=0.0)
    assert len(m.dataset("train")) == 4 and m.vocab.atom_types[-1] == "*"
