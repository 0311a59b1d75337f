"""Germline identity of heavy chains per IMGT region: hand-checked regions of IGHV3-23, exact identities
after k framework mutations, a shuffled chain that fails, gene names, and ANARCI against the alignment."""

import random

import pytest

pytest.importorskip("Bio", reason="the sequences extra (biopython) is not installed")
pytest.importorskip("olga", reason="the sequences extra (olga) is not installed")

from pfgm.modalities.sequences import germline as GL
from pfgm.modalities.sequences.antibody import generate_heavy

V323 = "EVQLLESGGGLVQPGGSLRLSCAASGFTFSSYAMSWVRQAPGKGLEWVSAISGSGGSTYYADSVKGRFTISRDNSKNTLYLQMNSLRAEDTAVYYC"
CDR3, FR4 = "AKDRGYSSSWYFDY", "WGQGTLVTVSS"
VH = V323 + CDR3 + FR4
# IMGT's regions of IGHV3-23*01 (the IMGT/V-QUEST germline), checked by hand against the domain gap diagram
REGIONS_323 = {
    "fr1": "EVQLLESGGGLVQPGGSLRLSCAAS",
    "cdr1": "GFTFSSYA",
    "fr2": "MSWVRQAPGKGLEWVSA",
    "cdr2": "ISGSGGST",
    "fr3": "YYADSVKGRFTISRDNSKNTLYLQMNSLRAEDTAVYYC",
    "cdr3": CDR3,
    "fr4": FR4,
}
# germline 3-23 occupies 25 of FR1's IMGT positions (10 is a gap), 17 of FR2, 38 of FR3 (73 is a gap)
N_FR = {"fr1": 25, "fr2": 17, "fr3": 38}


def _methods():
    out = ["alignment"]
    if GL._anarci_works() is None:
        out.append("anarci")
    return out


def _mutate(seq: str, region: str, k: int, to: str = "W") -> str:
    """k substitutions to `to` at the first k positions of the region whose residue is not `to`."""
    start = VH.index(REGIONS_323[region])
    s = list(seq)
    done = 0
    for i in range(start, start + len(REGIONS_323[region])):
        if done < k and s[i] != to:
            s[i] = to
            done += 1
    return "".join(s)


def test_shipped_table_covers_the_olga_model():
    vs, js = GL.germline_genes()
    assert len(vs) == 86 and len(js) == 7  # OLGA's 89 V alleles less three with a stop codon before Cys 104
    assert all(g.positions[-1] == 104 and g.aa.endswith("C") for g in vs)
    assert [g.aa for g in js if g.name == "IGHJ4*02"] == [FR4] and GL.gene("IGHJ4*02").tail == "YFDY"


@pytest.mark.parametrize("method", _methods())
def test_regions_of_a_germline_chain_by_hand(method):
    n = GL.number(VH, method)
    assert {r: n.region(r) for r in GL.REGIONS} == REGIONS_323


@pytest.mark.parametrize("method", _methods())
def test_a_germline_gene_scores_full_identity(method):
    (c,), note = GL.germline_calls([VH], method)
    assert ("ANARCI's IMGT numbering" in note) == (method == "anarci")
    assert c.v == "IGHV3-23*01" and c.j == "IGHJ4*02" and c.cdr3 == CDR3
    assert c.identity == {r: 1.0 for r in ("fr1", "cdr1", "fr2", "cdr2", "fr3", "fr4")}
    assert c.v_identity == 1.0 and c.frameworks_germline and c.numbered


@pytest.mark.parametrize("method", _methods())
def test_k_framework_mutations_give_the_exact_identity(method):
    seq = _mutate(_mutate(VH, "fr1", 2), "fr3", 3)
    got = GL.identity_to(seq, "IGHV3-23*01", "IGHJ4*02", method=method)
    assert got["fr1"] == pytest.approx(23 / 25) and got["fr3"] == pytest.approx(35 / 38)
    assert got["fr2"] == got["cdr1"] == got["cdr2"] == got["fr4"] == 1.0
    assert got["v"] == pytest.approx((96 - 5) / 96)  # 96 numbered residues, 5 changed
    (c,), _ = GL.germline_calls([seq], method)
    assert c.frameworks_germline  # 35/38 = 0.92 is still ≥ 90 %
    # four in FR2 (13/17 = 0.76): no germline V keeps that framework
    (c,), _ = GL.germline_calls([_mutate(seq, "fr2", 4)], method)
    assert not c.frameworks_germline and c.identity["fr2"] == pytest.approx(13 / 17)
    # two in FR4 (9/11 = 0.82): no J gene does
    fr4 = VH[: -len(FR4)] + "WGQGTAATVSS"
    (c,), _ = GL.germline_calls([fr4], method)
    assert c.identity["fr4"] == pytest.approx(9 / 11) and not c.frameworks_germline


def test_insertions_and_deletions_count_as_mismatches():
    # two residues more in CDR2: 8 of 10 positions match; one less in FR3: 37 of 38
    longer = VH.replace("ISGSGGST", "ISGSGGGGST")
    assert GL.identity_to(longer, "IGHV3-23*01")["cdr2"] == pytest.approx(8 / 10)
    assert GL.number(longer, "alignment").region("cdr2") == "ISGSGGGGST"
    shorter = VH.replace("RAEDTAV", "RAEDAV")
    got = GL.identity_to(shorter, "IGHV3-23*01")
    assert got["fr3"] == pytest.approx(37 / 38) and got["fr1"] == 1.0


@pytest.mark.parametrize("method", _methods())
def test_shuffled_chains_fail(method):
    rng = random.Random(0)
    recs = generate_heavy(20, seed=3, vh=True)
    shuffled = ["".join(rng.sample(r["vh"], len(r["vh"]))) for r in recs]
    calls, _ = GL.germline_calls(shuffled, method)
    assert not any(c.frameworks_germline for c in calls)
    assert max(c.v_identity for c in calls) < 0.5
    s = GL.germline_summary(calls)
    assert s["germline_frameworks_90"] == 0.0 and s["germline_fr3_identity"] < 0.5


def test_generated_training_chains_are_germline_and_their_genes_are_found():
    recs = generate_heavy(40, seed=4, vh=True)
    calls, _ = GL.germline_calls([r["vh"] for r in recs], "alignment")
    s = GL.germline_summary(calls)
    assert s["germline_frameworks_90"] == 1.0 and s["germline_v_identity"] == 1.0 and s["germline_fr4_identity"] == 1.0
    # the V named is the one used, or an allele with the same protein
    assert all(GL.gene(c.v).aa == GL.gene(r["v"]).aa for c, r in zip(calls, recs))
    assert all(c.cdr3 == r["cdr3"][1:-1] for c, r in zip(calls, recs))


def test_unknown_gene_is_a_one_line_error_naming_close_ones():
    with pytest.raises(ValueError) as e:
        GL.gene("IGHV3-23*09")
    msg = str(e.value)
    assert "\n" not in msg and "IGHV3-23*01" in msg and "close names" in msg
    with pytest.raises(ValueError, match="not a V gene"):
        GL.identity_to(VH, "IGHJ4*02")


def test_numbering_method_choice(monkeypatch):
    assert GL.numbering_method("alignment")[0] == "alignment"
    with pytest.raises(ValueError, match="auto, anarci or alignment"):
        GL.numbering_method("kabat")
    monkeypatch.setattr(GL, "_anarci_works", lambda: "ANARCI is not installed (pip install anarci)")
    used, note = GL.numbering_method("auto")
    assert used == "alignment" and "not installed" in note
    with pytest.raises(RuntimeError, match="not installed"):
        GL.numbering_method("anarci")


def test_empty_and_foreign_letters():
    calls, _ = GL.germline_calls(["", VH.replace("E", "B", 1)], "alignment")
    assert not calls[0].numbered and calls[0].v is None
    assert calls[1].identity["fr1"] == pytest.approx(24 / 25)


def test_anarci_agrees_with_the_alignment_on_mutated_chains():
    if GL._anarci_works() is not None:
        pytest.skip(GL._anarci_works())
    rng = random.Random(1)
    aas = "ACDEFGHIKLMNPQRSTVWY"
    seqs = []
    for r in generate_heavy(30, seed=6, vh=True):
        s = list(r["vh"])
        for i in rng.sample(range(len(s)), 6):  # ~5 % substitutions anywhere
            s[i] = rng.choice(aas)
        seqs.append("".join(s))
    a, _ = GL.germline_calls(seqs, "alignment")
    b, _ = GL.germline_calls(seqs, "anarci")
    for r in ("fr1", "cdr1", "fr2", "cdr2", "fr3", "fr4"):
        diff = sum(abs(x.identity[r] - y.identity[r]) for x, y in zip(a, b)) / len(seqs)
        assert diff < 0.01, r
    assert [x.frameworks_germline for x in a] == [y.frameworks_germline for y in b]


def test_shipped_table_is_anarcis_numbering():
    if GL._anarci_works() is not None:
        pytest.skip(GL._anarci_works())
    import json

    assert GL.build_table()["genes"] == json.loads(GL.TABLE.read_text())["genes"]


def test_vh_evaluate_reports_germline_metrics_beside_the_held_out_set(tmp_path, monkeypatch):
    monkeypatch.setenv("PFGM_CACHE", str(tmp_path / "cache"))
    from pfgm.modalities.base import build_modality

    m = build_modality(
        {
            "name": "sequences",
            "source": "olga_vh",
            "num_sequences": 60,
            "eval_reference": 8,
            "pgen_samples": 6,
            "numbering": "alignment",
        }
    )
    train = m.sequences("train")
    rng = random.Random(2)
    shuffled = ["".join(rng.sample(s, len(s))) for s in train[:3]]
    ev = m.evaluate(train[:3] + shuffled)
    x = ev.metrics
    # three germline chains of six scored, all six with a CDR3 … of which the training ones are not novel
    assert x["germline_frameworks_90"] == 0.5 and x["germline_frameworks_90_heldout"] == 1.0
    assert x["germline_fr1_identity_heldout"] == 1.0 and x["germline_fr4_identity"] < 1.0
    assert x["cdr3_novelty"] == 0.0 and x["cdr3_novelty_heldout"] <= 1.0
    assert "nearest_train_edit_median" in x and "nearest_train_edit_median_heldout" in x
    assert any("alignment to germline genes" in n for n in ev.notes)
    with pytest.raises(ValueError, match="numbering must be"):
        build_modality({"name": "sequences", "source": "olga_vh", "numbering": "kabat"})


def test_aligned_layout_by_hand():
    # IGHV3-23 has no residue at IMGT 10, 31-34 (an 8-residue CDR1), 60-61 (an 8-residue CDR2) and 73;
    # a 14-residue CDR3 in 16 slots opens its gap in the middle
    want = (
        "EVQLLESGG-GLVQPGGSLRLSCAASGFTF----SSYAMSWVRQAPGKGLEWVSAISGS--GGSTYYADSVK-GRFTISRDNSKNTLYLQMNSLRAEDTAVYYC"
        "AKDRGYS--SSWYFDY" + FR4
    )
    assert GL.aligned_vh(VH, 16) == want
    assert GL.aligned_vh(VH, 16, "IGHV3-23*01", [97, 113]) == want  # read off the gene's numbering
    assert GL.aligned_vh(VH, 13) is None  # 14 residues do not fit 13 slots
    assert GL.aligned_vh(VH.replace("ISGSGGST", "ISGSGGSTGGGGG"), 16) is None  # CDR2 past its 10 IMGT positions


def test_aligned_olga_vh_puts_each_imgt_position_in_one_column(tmp_path, monkeypatch):
    monkeypatch.setenv("PFGM_CACHE", str(tmp_path / "cache"))
    from pfgm.modalities.base import build_modality
    from pfgm.modalities.sequences.encoding import SequenceCodec

    plain = build_modality({"name": "sequences", "source": "olga_vh", "num_sequences": 200, "max_length": 140})
    m = build_modality({"name": "sequences", "source": "olga_vh", "num_sequences": 200, "aligned": True, "max_length": 136})
    seqs = m.sequences("train") + m.sequences("test")
    assert {len(s) for s in seqs} == {136} and m.config()["lengths"]  # one length: every position always on
    # the conserved Cys 23, Trp 41, Cys 104 and Trp 118 sit in one column each
    assert {s[22] for s in seqs} == {"C"} and {s[40] for s in seqs} == {"W"}
    assert {s[103] for s in seqs} == {"C"} and {s[136 - 11] for s in seqs} == {"W"}
    # without the gaps, the same chains as the plain source, less those whose CDR3 exceeds 136 − 115 = 21 slots
    raw = set(plain.sequences("train") + plain.sequences("test"))
    assert {s.replace("-", "") for s in seqs} <= raw and sum(m.report.skipped.values()) == 30
    assert "CDR3 longer than the aligned layout's 21 CDR3 slots" in m.report.summary()
    codec = SequenceCodec(m.alphabet, m.max_length)
    assert codec.decode(*codec.encode(seqs[:5])) == seqs[:5]
    with pytest.raises(ValueError, match="give at least 128"):
        build_modality(
            {"name": "sequences", "source": "olga_vh", "num_sequences": 50, "aligned": True, "max_length": 120}
        ).sequences()
