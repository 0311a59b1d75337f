"""Each sequence metric against a tiny case checked by hand."""

import math

import numpy as np
import pytest

from pfgm.modalities.sequences import metrics as M


def test_uniqueness_novelty():
    assert M.uniqueness(["AA", "AA", "CC", "GG"]) == 0.75
    # MOSES's novelty, the molecules' too: distinct sequences not in training / distinct sequences
    assert M.novelty(["AA", "CC", "CC", "GG"], ["CC", "TT"]) == 2 / 3
    assert M.novelty(["AA", "AA", "CC"], ["CC"]) == 0.5 and M.novelty([], ["CC"]) == 0.0
    assert M.uniqueness([]) == 0.0


def test_one_definition_per_set_metric():
    from pfgm.modalities.molecules import metrics as Mol
    from pfgm.modalities.shared import sets

    assert M.novelty is Mol.novelty is sets.novelty and M.uniqueness is Mol.uniqueness is sets.uniqueness


def test_edit_distances():
    d = M.edit_distance_matrix(["kitten", "", "flaw", "abc"], ["sitting", "lawn", "", "abc"])
    # kitten→sitting 3 (k→s, e→i, +g); flaw→lawn 2 (−f, +n); empty strings: the other's length
    assert d.tolist() == [[3, 5, 6, 6], [7, 4, 0, 3], [7, 2, 4, 4], [7, 3, 3, 0]]
    assert M.nearest_edit_distance(["CARD", "CAWW"], ["CARE", "CAWW"]).tolist() == [1, 0]
    # pairs: AAA-AAC 1, AAA-CCC 3, AAC-CCC 2 → mean 2
    assert M.internal_diversity(["AAA", "AAC", "CCC"]) == 2.0
    assert math.isnan(M.internal_diversity(["A"]))


def test_length_wasserstein_and_composition_js():
    # lengths {2, 4} vs {3, 3}: W1 = mean |sorted difference| = (1 + 1)/2
    assert M.length_wasserstein(["AA", "AAAA"], ["CCC", "GGG"]) == 1.0
    assert M.composition_js(["AC"], ["CA"], "AC") == 0.0
    # disjoint supports: JS = 1 bit
    assert M.composition_js(["AA"], ["CC"], "AC") == pytest.approx(1.0)
    # p = (1, 0), q = (1/2, 1/2): JS = ½ KL(p‖m) + ½ KL(q‖m), m = (3/4, 1/4)
    want = 0.5 * math.log2(1 / 0.75) + 0.5 * (0.5 * math.log2(0.5 / 0.75) + 0.5 * math.log2(0.5 / 0.25))
    assert M.composition_js(["AA"], ["AC"], "AC") == pytest.approx(want)


def test_descriptor_wasserstein_uses_the_reference_range():
    ref = np.array([[0.0, 10.0], [1.0, 20.0]])
    x = ref + np.array([0.5, 0.0])  # first descriptor shifted by half the reference's range
    mean, per = M.descriptor_wasserstein(x, ref)
    assert list(per.values()) == pytest.approx([0.5, 0.0])
    assert mean == pytest.approx(0.25)
    # a set scaled by its own range would hide this shift; scaled by the reference's it cannot
    far = ref + np.array([10.0, 0.0])
    assert M.descriptor_wasserstein(far, ref)[1]["pI"] == pytest.approx(10.0)


def test_protparam_descriptors_known_values():
    pytest.importorskip("Bio")
    d = M.protparam_descriptors(["WWWW", "AAAA"])
    i = M.DESCRIPTORS.index
    assert d[0, i("aromaticity")] == 1.0 and d[1, i("aromaticity")] == 0.0
    assert d[0, i("gravy")] == pytest.approx(-0.9) and d[1, i("gravy")] == pytest.approx(1.8)  # Kyte-Doolittle W, A


def test_conformity_percentiles():
    pytest.importorskip("scipy")
    rng = np.random.default_rng(0)
    ref = rng.normal(size=(400, 2))
    same = rng.normal(size=(400, 2))
    far = rng.normal(size=(100, 2)) + 6.0
    assert abs(M.conformity(same, ref) - 0.5) < 0.05  # a sample of the same law: uniform percentiles
    assert M.conformity(far, ref) < 0.01


def test_pgen_summary_and_ks():
    lp = np.array([-10.0, -12.0, -math.inf, -14.0])
    s = M.pgen_summary(lp)
    assert s["pgen_positive"] == 0.75 and s["log10_pgen_mean"] == -12.0 and s["log10_pgen_median"] == -12.0
    assert s["log10_pgen_mean_se"] == pytest.approx(2.0 / math.sqrt(3))  # SD 2 of (−10, −12, −14), over √3
    assert math.isnan(M.pgen_summary(np.array([-9.0, -math.inf]))["log10_pgen_mean_se"])  # one finite value: no SE
    assert M.pgen_ks(np.array([-1.0, -2.0]), np.array([-1.0, -2.0])) == 0.0
    assert M.pgen_ks(np.array([-1.0, -2.0]), np.array([-5.0, -6.0])) == 1.0
    # Pgen = 0 counts as the lowest value: [-inf, -1] vs [-1, -1] differ in half the mass
    assert M.pgen_ks(np.array([-math.inf, -1.0]), np.array([-1.0, -1.0])) == 0.5


def test_kmer_spectrum_distance():
    assert M.kmer_spectrum_distance(["ACGU"], ["ACGU"], 3) == 0.0
    # {ACG, CGU} vs {ACG, CGA}: TV = ½(|½−½| + ½ + ½) = ½
    assert M.kmer_spectrum_distance(["ACGU"], ["ACGA"], 3) == 0.5
    assert M.kmer_spectrum_distance(["AAAA"], ["CCCC"], 3) == 1.0


def test_end_motif_tv():
    assert M.end_motif_tv(["CARYFDYW", "CAYFDYW"], ["CKYFDYW"]) == 0.0  # the same J end, whatever precedes it
    # {YFDYW: ½, AFDIW: ½} vs {YFDYW: 1}: TV = ½(½ + ½) = ½; a chimera end shares nothing with either
    assert M.end_motif_tv(["CARYFDYW", "CARAFDIW"], ["CARYFDYW"]) == 0.5
    assert M.end_motif_tv(["CARAFDYW"], ["CARAFDIW", "CARYFDYW"]) == 1.0
    assert M.end_motif_tv(["CAW"], ["CAW"], k=5) == 0.0 and math.isnan(M.end_motif_tv([], ["CAW"]))


def test_wasserstein():
    assert M.wasserstein([0.0, 1.0], [1.0, 2.0]) == 1.0
    assert math.isnan(M.wasserstein([], [1.0]))


def test_rna_scores_closed_form():
    pytest.importorskip("RNA", reason="viennarna is not installed")
    from pfgm.modalities.sequences.rna import bp_distance, fold, gc_content

    structs, mfe = fold(["GGGGAAACCCC", "AAAAAAAAAAA"])
    assert structs == ["((((...))))", "..........."]
    assert mfe[1] == 0.0 and mfe[0] < 0
    assert bp_distance(structs, "((((...))))").tolist() == [0, 4]  # the 4 missing pairs
    assert gc_content(["GGCA", "AAAA"]).tolist() == [0.75, 0.0]


def test_stem_pair_rate():
    from pfgm.modalities.sequences.rna import pair_rate

    # target pairs (0, 5) and (1, 4): GC + AU valid; GA invalid, GU wobble valid
    assert pair_rate(["GAAAUC", "GGAAUA"], "((..))") == 0.75
    assert pair_rate(["AAAAAA"], "((..))") == 0.0
