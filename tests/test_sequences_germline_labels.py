"""Germline-conditioned heavy chains: the V/J vocabulary, requests by allele or gene, unknown names, label
drawing by training frequency, the two-field label embedding, the checkpoint round trip and the match metric."""

import pytest
import torch

pytest.importorskip("Bio", reason="the sequences extra (biopython) is not installed")
pytest.importorskip("olga", reason="the sequences extra (olga) is not installed")

from pfgm.core.errors import ConfigError
from pfgm.modalities.sequences.backbone import LabelFields, build_backbone
from pfgm.modalities.sequences.germline import GermlineCall, label_matches
from pfgm.modalities.sequences.germline_labels import GermlineVocab

GENES = [("IGHV3-23*01", "IGHJ4*02")] * 6 + [("IGHV3-23*04", "IGHJ6*02")] * 2 + [("IGHV1-2*02", "IGHJ4*02")] * 2


def test_vocab_indexes_alleles_and_counts_pairs():
    voc = GermlineVocab.from_records(GENES)
    assert voc.v_genes == ("IGHV1-2*02", "IGHV3-23*01", "IGHV3-23*04") and voc.j_genes == ("IGHJ4*02", "IGHJ6*02")
    assert voc.pairs == ((0, 0, 2), (1, 0, 6), (2, 1, 2)) and voc.sizes == [3, 2]
    assert voc.encode([("IGHV3-23*04", "IGHJ4*02"), ("IGHV9-9*01", "IGHJ6*02")]).tolist() == [[2, 0], [-1, 1]]
    assert GermlineVocab.from_config(voc.to_config()) == voc


def test_requests_by_allele_by_gene_and_v_alone():
    voc = GermlineVocab.from_records(GENES)
    assert voc.parse("IGHV3-23*04/IGHJ6*02") == (2, 1)
    assert voc.parse("IGHV3-23/IGHJ4") == (1, 0)  # a gene name picks its most used allele in training
    assert voc.parse(" IGHV1-2 ") == (0, None)
    for bad, words in [
        ("IGHV3-99/IGHJ4", "unknown V gene 'IGHV3-99'; close names: IGHV3-23"),
        ("IGHV3-23/IGHJ7", "unknown J gene 'IGHJ7'"),
        ("IGHV3-23/", "V/J"),
        ("a/b/c", "V/J"),
    ]:
        with pytest.raises(ConfigError, match=words.replace("(", r"\(")):
            voc.parse(bad)


def test_draw_follows_training_pair_frequencies_and_requests_keep_the_stream():
    voc = GermlineVocab.from_records(GENES)
    g = torch.Generator().manual_seed(0)
    free = voc.draw(20000, g)
    share = {tuple(p): (free == torch.tensor(p)).all(1).float().mean().item() for p in [(0, 0), (1, 0), (2, 1)]}
    assert share == pytest.approx({(0, 0): 0.2, (1, 0): 0.6, (2, 1): 0.2}, abs=0.015)
    assert {tuple(r) for r in free.tolist()} == {(0, 0), (1, 0), (2, 1)}  # never a pair training lacks
    after_free = torch.rand(1, generator=g)
    g = torch.Generator().manual_seed(0)
    fixed = voc.draw(20000, g, (1, 0))
    assert (fixed == torch.tensor([1, 0])).all() and torch.equal(torch.rand(1, generator=g), after_free)
    # V alone: J drawn among the pairs with that V (IGHV3-23*04 only ever had IGHJ6*02)
    assert (voc.draw(50, torch.Generator().manual_seed(1), (2, None)) == torch.tensor([2, 1])).all()


def test_label_fields_sum_one_table_per_field_and_minus_one_is_row_zero():
    emb = LabelFields([3, 2], 4)
    cond = torch.tensor([[2, 1], [-1, 0], [-1, -1]])
    out = emb(cond)
    v, j = emb.tables
    torch.testing.assert_close(out[0], v.weight[3] + j.weight[2])
    torch.testing.assert_close(out[1], v.weight[0] + j.weight[1])
    torch.testing.assert_close(out[2], v.weight[0] + j.weight[0])
    net = build_backbone(21, 16, width=16, depth=2, emb_dim=4, num_classes=[3, 2])
    x = torch.randn(2, 16, 21)
    a = net(x, torch.full((2,), 0.1), cond=torch.tensor([[0, 0], [2, 1]]))
    b = net(x, torch.full((2,), 0.1), cond=torch.tensor([[0, 0], [1, 1]]))
    assert a.shape == x.shape and torch.equal(a[0], b[0])
    with pytest.raises(ConfigError, match="num_classes"):
        build_backbone(21, 16, width=16, depth=2, num_classes=[3, 0])


def test_label_match_counts_germline_identical_alleles_as_the_request():
    call = lambda v, j: GermlineCall(v, j, {}, 1.0, True, True)  # noqa: E731
    calls = [call("IGHV3-23*01", "IGHJ4*02"), call("IGHV1-2*02", "IGHJ4*02"), call("IGHV3-23*01", "IGHJ6*02"), call(None, None)]
    req = [("IGHV3-23*01", "IGHJ4*02"), ("IGHV3-23*01", "IGHJ4*02"), ("IGHV3-23*01", "IGHJ4*02"), (None, None)]
    m = label_matches(calls, req)
    assert m == {
        "germline_label_match": pytest.approx(1 / 3),
        "germline_v_match": pytest.approx(2 / 3),
        "germline_j_match": pytest.approx(2 / 3),
    }
    assert label_matches(calls[3:], req[3:]) == {}  # no sample asked for anything


def test_germline_conditioned_modality_labels_its_data_and_rebuilds_from_its_config(tmp_path, monkeypatch):
    monkeypatch.setenv("PFGM_CACHE", str(tmp_path / "cache"))
    from pfgm.modalities.base import build_modality

    m = build_modality({"name": "sequences", "source": "olga_vh", "num_sequences": 80, "germline_cond": True})
    ds = m.dataset("train")
    assert ds.cond.shape == (len(ds), 2) and (ds.cond >= 0).all()
    names = m.vocab.names(ds.cond[:3])
    assert all(v.startswith("IGHV") and j.startswith("IGHJ") for v, j in names)
    cfg = m.config()
    assert cfg["germline"] == m.vocab.to_config() and "label" not in cfg
    again = build_modality({**cfg, "name": "sequences", "label": "none"})
    assert again.vocab == m.vocab
    again.check_sample_options()
    assert (again.blank(3, torch.Generator().manual_seed(0)).cond == -1).all()
    v, j = names[0]
    again.set_sample_options(label=f"{v}/{j}")
    want = torch.tensor([m.vocab.v_genes.index(v), m.vocab.j_genes.index(j)])
    assert (again.blank(4, torch.Generator().manual_seed(0)).cond == want).all()
    with pytest.raises(ConfigError, match="unknown V gene"):
        again.set_sample_options(label="IGHV3-2x/IGHJ4")
    plain = build_modality({"name": "sequences", "source": "olga_vh", "num_sequences": 80})
    with pytest.raises(ConfigError, match="germline_cond=true"):
        plain.set_sample_options(label="IGHV3-23/IGHJ4")
    with pytest.raises(ConfigError, match="needs source olga_vh"):
        build_modality({"name": "sequences", "source": "olga_cdr3", "germline_cond": True})
