"""The misfold report (pfgm.modalities.sequences.rna.misfold_report): helices of a target and the report on
hand-checked cases. ``pfgm-diagnose rna misfolds``, which prints it for a FASTA file, is tested in test_diagnose.py."""

import pytest

pytest.importorskip("RNA", reason="viennarna is not installed")

from pfgm.modalities.sequences.rna import TARGETS, helices, inverse_family, misfold_report  # noqa: E402


def test_helices_of_the_builtin_targets():
    assert [(h[0], len(h)) for h in helices(TARGETS["hairpin"])] == [((4, 25), 8)]
    # acceptor 7 bp, D arm 4, anticodon arm 5, T arm 5 (0-based first pairs, read off the dot-bracket)
    assert [(h[0], len(h)) for h in helices(TARGETS["trna"])] == [((0, 71), 7), ((9, 24), 4), ((26, 42), 5), ((48, 64), 5)]
    assert helices("((..))((..))") == [[(0, 5), (1, 4)], [(6, 11), (7, 10)]]


def test_family_members_fold_with_no_energy_gap_and_poly_a_keeps_nothing(tmp_path):
    t = TARGETS["hairpin"]
    rep = misfold_report(inverse_family(t, 6, seed=4, progress=False), t)
    assert rep["num"] == 6 and rep["fold_to_target"] == 1.0 and rep["helix_kept"] == {"5-26 (8 bp)": 1.0}
    assert rep["energy_gap_mean"] == pytest.approx(0.0, abs=1e-4) and rep["mfe_mean"] < 0
    assert rep["within_2_bp"] == 1.0 and rep["gap_below_1_kcal"] == 1.0
    assert rep["top_structures"] == [(t, 6)]
    bad = misfold_report(["A" * len(t), "A" * 5], t)  # the short one is left out
    assert bad["num"] == 1 and bad["fold_to_target"] == 0.0 and bad["helix_kept"] == {"5-26 (8 bp)": 0.0}
    assert bad["top_structures"] == [("." * len(t), 1)]
    assert bad["within_2_bp"] == 0.0  # all 8 target pairs missing: distance 8
    with pytest.raises(ValueError, match="target's length 30"):
        misfold_report(["ACGU"], t)
