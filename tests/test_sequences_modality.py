"""The sequences modality: encode/decode round trips on real data, masks, pinned lengths, sampling
without the data, backbones that ignore padding, FASTA writing, and region redesign end to end."""

import math

import pytest
import torch

pytest.importorskip("Bio", reason="the sequences extra (biopython) is not installed")
pytest.importorskip("olga", reason="the sequences extra (olga) is not installed")

from pfgm.modalities.base import build_modality
from pfgm.modalities.sequences.alphabet import Alphabet
from pfgm.modalities.sequences.antibody import find_cdr3, generate_heavy
from pfgm.modalities.sequences.encoding import SequenceCodec
from pfgm.modalities.sequences.modality import SequenceModality, parse_positions
from pfgm.modalities.sequences.parsers import read_sequences


@pytest.fixture(autouse=True)
def _cache(tmp_path, monkeypatch):
    monkeypatch.setenv("PFGM_CACHE", str(tmp_path / "cache"))


def test_round_trip_on_olga_cdr3s_and_masks():
    seqs = [r["cdr3"] for r in generate_heavy(300, seed=1)]
    assert all(s[0] == "C" and s[-1] in "WF" for s in seqs)
    codec = SequenceCodec(Alphabet("protein"), max(len(s) for s in seqs))
    x, mask = codec.encode(seqs)
    assert x.shape == (300, codec.max_length, 20)
    # each sample lives in N_i = L_i × K dims; padding is exactly 0
    assert mask.reshape(300, -1).sum(1).tolist() == [20.0 * len(s) for s in seqs]
    assert (x[mask == 0] == 0).all() and set(x[mask == 1].unique().tolist()) == {-0.5, 0.5}
    assert codec.decode(x, mask) == seqs
    # decoding is by argmax: small noise does not change the symbols
    assert codec.decode(x + 0.1 * torch.randn_like(x) * mask, mask) == seqs


def test_inverse_folding_shows_a_bar_with_its_count_and_rate(capsys):
    pytest.importorskip("RNA", reason="viennarna is not installed")
    from pfgm.modalities.sequences.rna import TARGETS, inverse_family

    fam = inverse_family(TARGETS["hairpin"], 7, seed=3, progress=True)
    err = capsys.readouterr().err
    assert len(fam) == 7 and "inverse folding" in err and "7/7" in err and "seq/s" in err
    inverse_family(TARGETS["hairpin"], 7, seed=3, progress=False)
    assert "inverse folding" not in capsys.readouterr().err


def test_round_trip_rna_family_folds_and_aligned_mode(tmp_path):
    pytest.importorskip("RNA", reason="viennarna is not installed")
    from pfgm.modalities.sequences.rna import TARGETS, fold, inverse_family

    fam = inverse_family(TARGETS["hairpin"], 20, seed=3)
    assert len(set(fam)) == 20 and fold(fam)[0] == [TARGETS["hairpin"]] * 20
    assert inverse_family(TARGETS["hairpin"], 20, seed=3) == fam  # seeded
    codec = SequenceCodec(Alphabet("rna"), 30)
    assert codec.decode(*codec.encode(fam)) == fam
    aligned = SequenceCodec(Alphabet("rna", gap=True), 6)
    x, mask = aligned.encode(["AC-GU-", "ACGGUU"])
    assert x.shape == (2, 6, 5) and bool((mask == 1).all())
    assert aligned.decode(x, mask) == ["AC-GU-", "ACGGUU"]


def test_positive_design_null_by_hand():
    from pfgm.modalities.sequences.rna import positive_design

    # pairs (0, 4) and (1, 3) take only their members' dinucleotides; the loop base 2 only its members' bases
    members = ["GCAGC", "CGUCG", "GCAGC", "AUAAU"]
    null = positive_design(members, "((.))", 4000, seed=0)
    assert {s[0] + s[4] for s in null} == {"GC", "CG", "AU"} and {s[1] + s[3] for s in null} == {"CG", "GC", "UA"}
    assert {s[2] for s in null} == {"A", "U"}
    share = sum(s[0] + s[4] == "GC" for s in null) / len(null)
    assert abs(share - 0.5) < 0.03  # 2 of 4 members
    # the pairs are drawn independently of each other: a combination no member has turns up
    assert any(s[:2] == "GG" for s in null)
    assert positive_design(members, "((.))", 10, seed=1) == positive_design(members, "((.))", 10, seed=1)
    with pytest.raises(ValueError, match="target's length"):
        positive_design(["GCA"], "((.))", 3, seed=0)


def test_the_null_source_pairs_like_the_family_but_misfolds():
    pytest.importorskip("RNA", reason="viennarna is not installed")
    from pfgm.modalities.sequences.rna import TARGETS, fold, pair_rate

    opts = {"name": "sequences", "family": "hairpin", "num_sequences": 200}
    family = build_modality({**opts, "source": "rna_family"})
    null = build_modality({**opts, "source": "rna_family_null"})
    seqs = null.sequences("train")
    assert len(seqs) == 180 and null.kind == "rna" and null.config()["target"] == TARGETS["hairpin"]
    assert pair_rate(seqs, TARGETS["hairpin"]) == 1.0  # every target pair is a pair the family has there
    folded = sum(s == TARGETS["hairpin"] for s in fold(seqs)[0]) / len(seqs)
    assert folded < 0.6  # 0.27 on 1,000 of the full family's null; the family itself folds at 1.0
    assert not set(seqs) & set(family.sequences("test"))


def _small(**kw):
    return build_modality({"name": "sequences", "source": "olga_cdr3", "num_sequences": 400, **kw})


def test_lengths_pinned_and_sampling_reads_no_data(monkeypatch, tmp_path):
    m = _small()
    cfg = m.config()
    train = m.sequences("train")
    assert sum(cfg["lengths"]) == len(train) and cfg["max_length"] == 30 and cfg["symbols"] == Alphabet().symbols
    # a modality rebuilt from the checkpoint's config must sample, decode and write without data
    monkeypatch.setattr(SequenceModality, "_load", lambda self: (_ for _ in ()).throw(RuntimeError("data read")))
    m2 = build_modality({"name": "sequences", **cfg})
    net = m2.backbone(type="bytenet", width=32, depth=2)
    b1 = m2.blank(64, torch.Generator().manual_seed(5))
    b2 = m2.blank(64, torch.Generator().manual_seed(5))
    assert torch.equal(b1.mask, b2.mask) and b1.fixed is None
    lengths = b1.mask[:, :, 0].sum(1).long()
    assert all(cfg["lengths"][L] > 0 for L in lengths.tolist())  # only lengths seen in training
    out = net(b1.x, torch.zeros(64), mask=b1.mask)
    objs = m2.decode(out + torch.randn_like(out) * b1.mask, b1.mask)
    assert [len(s) for s in objs] == lengths.tolist()
    m2.write_pgen = False
    path = m2.write(objs[:3], tmp_path / "s.fasta")[0]
    text = path.read_text().splitlines()
    assert text[0].startswith(">gen_000001 len=") and "pI=" in text[0] and text[1] == objs[0]
    m2.set_sample_options(length=12)
    assert (m2.blank(3, torch.Generator().manual_seed(0)).mask[:, :, 0].sum(1) == 12).all()
    with pytest.raises(ValueError, match="modality.length must be an integer in \\[1, 30\\]"):
        m2.set_sample_options(length=31)


@pytest.mark.parametrize("kind", ["bytenet", "transformer"])
@pytest.mark.parametrize("extras", [False, True])
def test_backbones_ignore_padding(kind, extras):
    m = _small()
    opts = {"end_positions": True, "self_condition": True} if extras else {}
    net = m.backbone(type=kind, width=32, depth=3, **({"heads": 4} if kind == "transformer" else {}), **opts)
    nparams = sum(p.numel() for p in m.backbone(type=kind).parameters())
    assert 3e5 <= nparams <= 1e6  # the recipe-sized nets are CPU-sized
    for p in net.parameters():  # zero-initialised output layers would make the test trivial
        torch.nn.init.normal_(p, std=0.2)
    codec = m.codec
    x, mask = codec.encode(["CARDW", "CASSLGW"])
    sc = {"self_cond": x.flip(-1)} if extras else {}
    y1 = net(x, torch.tensor([0.1, -0.3]), mask=mask, **sc)
    junk = x + 5.0 * torch.randn_like(x) * (1 - mask)  # garbage in the padded entries
    if extras:
        sc = {"self_cond": sc["self_cond"] + 5.0 * torch.randn_like(x) * (1 - mask)}
    y2 = net(junk, torch.tensor([0.1, -0.3]), mask=mask, **sc)
    assert torch.allclose(y1, y2, atol=1e-5) and (y1[mask == 0] == 0).all()
    assert not torch.allclose(y1, net(x, torch.tensor([1.0, 1.0]), mask=mask, **sc))  # σ matters
    if extras:  # the estimate matters, and a net with end features tells two lengths' last positions apart
        assert not torch.allclose(y1, net(x, torch.tensor([0.1, -0.3]), mask=mask))


def test_rna_fasta_writer_has_structure_and_reads_back(tmp_path):
    pytest.importorskip("RNA", reason="viennarna is not installed")
    m = build_modality({"name": "sequences", "source": "rna_family", "family": "hairpin", "num_sequences": 30})
    seqs = m.sequences("test")
    path = m.write(seqs, tmp_path / "rna.fasta")[0]
    lines = path.read_text().splitlines()
    assert "folds_to_target=1" in lines[0] and "bp_distance=0" in lines[0] and lines[2] == m.target
    items, _ = read_sequences(path, Alphabet("rna"))  # the dot-bracket line is not read as sequence
    assert [i.seq for i in items] == seqs


def test_redesign_positions_and_cdr3_region(tmp_path):
    assert parse_positions("2-4,7", 10) == [1, 2, 3, 6]
    with pytest.raises(ValueError, match="outside the template"):
        parse_positions("9-12", 10)
    recs = generate_heavy(3, seed=2, vh=True)
    tpl = tmp_path / "vh.fasta"
    tpl.write_text("".join(f">{r['id']}\n{r['vh']}\n" for r in recs))
    for r in recs:
        s, e = find_cdr3(r["vh"])
        assert "C" + r["vh"][s:e] + "W" == r["cdr3"]  # the motif finds the generated junction
    m = build_modality({"name": "sequences", "source": "olga_vh", "num_sequences": 50})
    m2 = build_modality({"name": "sequences", **m.config()})
    m2.set_sample_options(template=str(tpl), redesign="cdr3")
    b = m2.blank(1, torch.Generator().manual_seed(1))  # seed 1 → template 1
    s, e = find_cdr3(recs[1]["vh"])
    free = (b.fixed[0, :, 0] == 0) & (b.mask[0, :, 0] == 1)
    assert free.nonzero().flatten().tolist() == list(range(s, e))
    assert m2.decode(b.x, b.mask) == [recs[1]["vh"]]
    with pytest.raises(ValueError, match="needs both"):
        m2.set_sample_options(template=None)


def test_redesign_through_generate_keeps_fixed_positions(tmp_path):
    """An untrained net through the core's generate: every fixed position decodes to the template."""
    from pfgm.core.generate import GenerateConfig, generate
    from pfgm.core.kernel import PFGMKernel
    from pfgm.core.precond import Denoiser
    from pfgm.core.schedule import karras_sigmas

    m = _small()
    tpl = tmp_path / "t.fasta"
    tpl.write_text(">a\nCARDGYSSGWYFDYW\n>b\nCASSLGQGNTEAFFW\n")
    m.set_sample_options(template=str(tpl), redesign="4-9")
    den = Denoiser(m.backbone(type="bytenet", width=32, depth=2)).eval()
    cfg = GenerateConfig(num_samples=4, seed=0, steps=6)
    x, mask, _ = generate(den, PFGMKernel(128), m.blank, karras_sigmas(6, 0.002, 80.0), cfg, progress=False)
    out = m.decode(x, mask)
    for i, s in enumerate(out):
        t = ["CARDGYSSGWYFDYW", "CASSLGQGNTEAFFW"][i % 2]
        assert len(s) == len(t) and s[:3] == t[:3] and s[9:] == t[9:]
    assert any(s[3:9] != ["CARDGYSSGWYFDYW", "CASSLGQGNTEAFFW"][i % 2][3:9] for i, s in enumerate(out))


def test_generated_sets_are_cached(tmp_path):
    import time

    t0 = time.perf_counter()
    a = _small().sequences("train")
    first = time.perf_counter() - t0
    files = list((tmp_path / "cache").glob("olga_heavy_*.json"))
    assert len(files) == 1
    t0 = time.perf_counter()
    assert _small().sequences("train") == a
    assert time.perf_counter() - t0 < max(first, 0.5)


def test_evaluate_small_cdr3_set():
    m = _small(eval_reference=6, pgen_samples=4)  # OLGA Pgen costs ~0.2 s a sequence
    ev = m.evaluate(m.sequences("train")[:12])
    mt = ev.metrics
    assert mt["novelty"] == 0.0 and mt["novelty_heldout"] == 1.0  # training sequences are not novel; held-out ones are
    assert mt["pgen_positive"] == 1.0 and math.isfinite(mt["log10_pgen_mean"])
    assert mt["uniqueness"] == 1.0 and mt["internal_diversity"] > 0 and mt["log10_pgen_gap_heldout"] != 0
    assert math.isnan(mt["conformity"])  # 6 reference points cannot fit a 9-descriptor density
    assert "descriptor_wasserstein_heldout" in mt
    assert any("Pgen on the first 4" in n for n in ev.notes)


def test_the_reference_size_is_an_eval_time_option_and_is_checked():
    m = _small(eval_reference=6, pgen_samples=4)
    m.set_sample_options(eval_reference=2000)  # pfgm-eval checkpoint=… modality.eval_reference=2000
    assert m.eval_reference == 2000
    for bad in (0, -5, True, 2.5):
        with pytest.raises(ValueError, match="modality.eval_reference must be a positive integer"):
            m.set_sample_options(eval_reference=bad)
        assert m.eval_reference == 2000  # a refused value leaves the option as it was
    with pytest.raises(ValueError, match="modality.pgen_samples must be a positive integer"):
        m.set_sample_options(pgen_samples=0)


def test_length_buckets_are_the_same_function():
    """The ByteNet run on length groups trimmed to their longest member = one padded pass (float64)."""
    from pfgm.modalities.sequences.backbone import ByteNet

    m = _small()
    x, mask = (t.double() for t in m.codec.encode(m.sequences("train")[:64]))
    a = ByteNet(20, 30, width=32, depth=3, end_positions=True, self_condition=True).double()
    for p in a.parameters():
        torch.nn.init.normal_(p, std=0.2)
    b = ByteNet(20, 30, width=32, depth=3, end_positions=True, self_condition=True, bucket_overhead=None).double()
    b.load_state_dict(a.state_dict())
    c, sc = torch.randn(64, dtype=torch.float64), x.flip(0) * mask
    ya, yb = a(x, c, mask=mask, self_cond=sc), b(x, c, mask=mask, self_cond=sc)
    assert (ya - yb).abs().max() < 1e-12
    ga = torch.autograd.grad(ya.square().sum(), list(a.parameters()))
    gb = torch.autograd.grad(yb.square().sum(), list(b.parameters()))
    assert max((u - v).abs().max().item() for u, v in zip(ga, gb)) < 1e-9


@pytest.mark.parametrize("kind", ["bytenet", "transformer"])
def test_pair_features_hand_each_position_its_partner(kind):
    """With partners from the target, position i's output reads position partner(i)'s input, even
    through a net that otherwise cannot see it (a one-block ByteNet with 1-wide convolutions)."""
    from pfgm.modalities.sequences.backbone import build_backbone
    from pfgm.modalities.sequences.rna import partners, target_pairs

    target = "..((...)).."
    assert target_pairs(target) == [(2, 8), (3, 7)] and partners(target) == [-1, -1, 8, 7, -1, -1, -1, 3, 2, -1, -1]
    with pytest.raises(ValueError, match="position 3"):
        partners("..)(")
    from pfgm.modalities.sequences.rna import helix_extensions

    ext = helix_extensions(target, min_loop=1)  # dangling ends stack outward on (2, 8); loop ends 4, 6 on (3, 7)
    assert [(i, j) for i, j in enumerate(ext) if j > i] == [(0, 10), (1, 9), (4, 6)]
    assert [(i, j) for i, j in enumerate(helix_extensions(target)) if j > i] == [(0, 10), (1, 9)]  # a 1-loop: no
    opts = dict(width=16, depth=1, kernel=1, dilations=[1]) if kind == "bytenet" else dict(width=16, depth=1, heads=2)
    torch.manual_seed(0)
    net = build_backbone(4, len(target), type=kind, partners=partners(target), self_condition=True, **opts)
    for p in net.parameters():
        torch.nn.init.normal_(p, std=0.3)
    x = torch.randn(1, len(target), 4)
    x2 = x.clone()
    x2[0, 8] += 1.0  # change the partner of position 2
    c = torch.tensor([0.1])
    y, y2 = net(x, c), net(x2, c)
    assert not torch.allclose(y[0, 2], y2[0, 2])
    if kind == "bytenet":  # no other path between positions: an unpaired position is untouched
        assert torch.allclose(y[0, 0], y2[0, 0]) and torch.allclose(y[0, 5], y2[0, 5])
    with pytest.raises(ValueError, match="partners"):
        build_backbone(4, 5, type=kind, partners=[1, 0, 3, -1, -1], **opts)  # 2 -> 3 but 3 -> -1
    two = build_backbone(4, len(target), type=kind, partners=[partners(target), ext], **opts)
    assert two.partners.shape == (2, len(target))
    for p in two.parameters():
        torch.nn.init.normal_(p, std=0.3)
    x3 = x.clone()
    x3[0, 9] += 1.0  # the helix-extension partner of position 1
    assert not torch.allclose(two(x, c)[0, 1], two(x3, c)[0, 1])


def test_pair_features_need_a_target_as_long_as_the_sequences():
    m = _small()
    with pytest.raises(ValueError, match="pair_features needs an RNA target"):
        m.backbone(type="bytenet", pair_features=True)
    with pytest.raises(ValueError, match="false, true or extended"):
        m.backbone(type="bytenet", pair_features="yes")
