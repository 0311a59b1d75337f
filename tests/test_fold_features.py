"""Fold features: what the self-conditioning estimate folds into, checked against ViennaRNA by hand."""

import pytest
import torch

pytest.importorskip("RNA", reason="viennarna is not installed")

from pfgm.modalities.sequences.backbone import build_backbone
from pfgm.modalities.sequences.fold_features import FoldFeatures
from pfgm.modalities.sequences.rna import TARGETS, partners

HAIRPIN = TARGETS["hairpin"]
SYMBOLS = "ACGU"


def _estimate(seqs: list[str], L: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Shifted one-hot (±0.5) estimates, zero-padded to L, and their (B, L, 1) mask."""
    x = torch.zeros(len(seqs), L, 4)
    m = torch.zeros(len(seqs), L, 1)
    for b, s in enumerate(seqs):
        for i, c in enumerate(s):
            x[b, i] = -0.5
            x[b, i, SYMBOLS.index(c)] = 0.5
            m[b, i] = 1
    return x, m


def _member() -> str:
    import RNA

    RNA.init_rand(3)
    seq, _ = RNA.inverse_fold("G" * len(HAIRPIN), HAIRPIN)
    assert RNA.fold(seq)[0] == HAIRPIN
    return seq.upper()


def test_a_member_of_the_family_is_paired_like_the_target_with_no_gap():
    seq = _member()
    est, m = _estimate([seq], len(HAIRPIN))
    f = FoldFeatures(SYMBOLS, HAIRPIN)(est, m)
    assert f.shape == (1, len(HAIRPIN), 4 + 3)
    p = partners(HAIRPIN)
    assert f[0, :, 4].tolist() == [float(j >= 0) for j in p]  # paired flag
    for i, j in enumerate(p):  # the partner's estimate, zero when unpaired
        assert torch.equal(f[0, i, :4], est[0, j] if j >= 0 else torch.zeros(4))
    assert f[0, :, 5].abs().sum() == 0  # nothing paired differently from the target
    assert f[0, :, 6].abs().sum() == 0  # E(target) − MFE = 0


def test_a_misfolding_estimate_is_flagged_with_its_energy_gap():
    import RNA

    seq = "A" * 8 + "GGGGCCCC" + "A" * 6 + "GGGGCCCC"  # its MFE pairs the GGGG/CCCC blocks, not the hairpin's stem
    assert len(seq) == len(HAIRPIN)
    st, mfe = RNA.fold(seq)
    assert st != HAIRPIN
    e_target = RNA.fold_compound(seq).eval_structure(HAIRPIN)
    est, m = _estimate([seq], len(HAIRPIN))
    f = FoldFeatures(SYMBOLS, HAIRPIN)(est, m)
    mine, target = partners(st), partners(HAIRPIN)
    assert f[0, :, 4].tolist() == [float(j >= 0) for j in mine]
    assert f[0, :, 5].tolist() == [float(a != b) for a, b in zip(mine, target)]
    assert f[0, :, 6].tolist() == pytest.approx([(e_target - mfe) / 10.0] * len(seq), abs=1e-6)
    assert (e_target - mfe) > 0


def test_no_estimate_gives_no_features_and_padding_stays_zero():
    seq = "GGGGAAACCCC"  # folds to ((((...)))) without a target; shorter than L
    est, m = _estimate([seq, "GGGG"], 16)
    est[1] = 0  # the second row has no estimate (the first pass of training / the first solver step)
    f = FoldFeatures(SYMBOLS)(est, m)
    assert f.shape == (2, 16, 5)
    assert f[1].abs().sum() == 0
    assert f[0, len(seq) :].abs().sum() == 0
    import RNA

    assert f[0, : len(seq), 4].tolist() == [float(c != ".") for c in RNA.fold(seq)[0]]


def test_the_backbone_reads_the_fold_and_needs_self_conditioning():
    with pytest.raises(ValueError, match="self_condition"):
        build_backbone(4, 30, fold=FoldFeatures(SYMBOLS, HAIRPIN), width=16, depth=1)
    with pytest.raises(ValueError, match="ACGU"):
        FoldFeatures("ACDE")
    torch.manual_seed(0)
    net = build_backbone(
        4, 30, fold=FoldFeatures(SYMBOLS, HAIRPIN), self_condition=True, width=16, depth=1, kernel=1, dilations=[1]
    )
    for p in net.parameters():
        torch.nn.init.normal_(p, std=0.3)
    x = torch.randn(1, 30, 4)
    c = torch.tensor([0.1])
    member, _ = _estimate([_member()], 30)
    misfold, _ = _estimate(["A" * 8 + "GGGGCCCC" + "A" * 6 + "GGGGCCCC"], 30)
    # position 0 is unpaired in both estimates and its own estimate is A in both: with 1-wide
    # convolutions only the fold features (energy gap) can change its output
    member[0, 0] = misfold[0, 0]
    assert not torch.allclose(net(x, c, self_cond=member)[0, 0], net(x, c, self_cond=misfold)[0, 0])


def test_the_modality_builds_fold_features_for_rna_only(tmp_path, monkeypatch):
    monkeypatch.setenv("PFGM_CACHE", str(tmp_path))
    from pfgm.modalities.sequences.modality import SequenceModality

    rna = SequenceModality(source="rna_family", family="hairpin", num_sequences=8, seed=0)
    net = rna.backbone(type="bytenet", width=16, depth=1, self_condition=True, fold_features=True)
    assert net.fold is not None and net.fold.target == HAIRPIN
    with pytest.raises(ValueError, match="true or false"):
        rna.backbone(type="bytenet", width=16, depth=1, self_condition=True, fold_features="yes")
    protein = SequenceModality(source="olga_cdr3", num_sequences=20, seed=0)
    with pytest.raises(ValueError, match="unaligned rna"):
        protein.backbone(type="bytenet", width=16, depth=1, self_condition=True, fold_features=True)


def test_the_rna_reward_is_minus_the_folding_gap(tmp_path, monkeypatch):
    """The steering reward of an RNA family: 0 for a member (its MFE structure is the target),
    MFE − E(target) < 0 for a misfold, by hand with ViennaRNA; a protein modality has none."""
    import RNA

    monkeypatch.setenv("PFGM_CACHE", str(tmp_path))
    from pfgm.modalities.sequences.modality import SequenceModality

    rna = SequenceModality(source="rna_family", family="hairpin", num_sequences=8, seed=0)
    misfold = "A" * 8 + "GGGGCCCC" + "A" * 6 + "GGGGCCCC"
    est, m = _estimate([_member(), misfold], len(HAIRPIN))
    r = rna.reward(est, m.expand(-1, -1, 4))
    expected = RNA.fold(misfold)[1] - RNA.fold_compound(misfold).eval_structure(HAIRPIN)
    assert r[0].item() == pytest.approx(0.0, abs=1e-6) and r[1].item() == pytest.approx(expected, abs=1e-4) and expected < 0
    protein = SequenceModality(source="olga_cdr3", num_sequences=20, seed=0)
    with pytest.raises(ValueError, match="target structure"):
        protein.reward(torch.zeros(1, 30, 20), torch.ones(1, 30, 20))
