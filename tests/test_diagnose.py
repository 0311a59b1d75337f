"""pfgm-diagnose (pfgm.recipes.diagnose): the listing, the diagnostics the modalities own, run through the
command on small inputs, and bad input as one line."""

from __future__ import annotations

import json
import re
import sys

import pytest

from pfgm.recipes.diagnose import main

SUBCOMMANDS = [  # the built-in groups, found through the pfgm.diagnostics entry points, sorted
    "cdr3 errors",
    "molecules failures",
    "molecules fragments",
    "molecules fragments-by-size",
    "rna misfolds",
    "rna partner-probe",
    "rna positive-design",
]


def _run(capsys, *argv: str) -> str:
    main(list(argv))
    return capsys.readouterr().out


def test_no_arguments_list_every_subcommand_with_one_line(capsys):
    lines = _run(capsys).splitlines()[2:]
    assert [" ".join(ln.split()[:2]) for ln in lines] == SUBCOMMANDS
    assert all(len(ln.split()) > 4 for ln in lines)  # each with its help line
    with pytest.raises(SystemExit) as e:
        main(["rna", "misfolds", "--help"])
    assert e.value.code == 0 and "How generated RNA misfolds" in capsys.readouterr().out  # --help is the run's docstring


def test_a_group_that_cannot_import_is_listed_as_unavailable_and_the_rest_still_run(monkeypatch, capsys):
    monkeypatch.delitem(sys.modules, "pfgm.modalities.molecules.diagnose", raising=False)
    monkeypatch.setitem(sys.modules, "rdkit", None)  # importing rdkit now fails, as where it is not installed
    lines = _run(capsys).splitlines()[2:]
    assert lines[1].split()[:2] == ["molecules", "unavailable:"] and 'pip install "pfgm[graphs]"' in lines[1]
    assert [" ".join(ln.split()[:2]) for ln in lines[:1] + lines[2:]] == [c for c in SUBCOMMANDS if "molecules" not in c]
    with pytest.raises(SystemExit) as e:
        main(["molecules", "failures", "zoo:molecules"])
    err = capsys.readouterr().err
    assert e.value.code == 1 and err.count("\n") == 1 and "pfgm[graphs]" in err


@pytest.mark.parametrize(
    "argv, named",
    [
        (["foo"], "'foo'"),
        (["molecules", "bar"], "'bar'"),
        (["rna", "misfolds", "{tmp}/none.fasta", "hairpin"], "none.fasta"),
        (["rna", "misfolds", "{tmp}/none.fasta", "hairpinn"], "'hairpinn'"),
        (["rna", "partner-probe", "{tmp}/no_run"], "no_run"),
        (["rna", "positive-design", "trnaa"], "'trnaa'"),
        (["cdr3", "errors", "ends"], "checkpoint"),
    ],
)
def test_bad_input_is_one_line_naming_the_value(argv, named, tmp_path, capsys):
    with pytest.raises(SystemExit) as e:
        main([a.format(tmp=tmp_path) for a in argv])
    err = capsys.readouterr().err
    assert e.value.code == 1
    assert err.startswith("pfgm-diagnose: error: ") and err.count("\n") == 1 and named in err, err


def test_rna_misfolds_counts_a_sequence_that_folds_into_the_target_as_folded(tmp_path, capsys):
    pytest.importorskip("RNA", reason="viennarna is not installed")
    from pfgm.modalities.sequences.rna import TARGETS, inverse_family

    t = TARGETS["hairpin"]
    (member,) = inverse_family(t, 1, seed=4, progress=False)
    fa = tmp_path / "x.fasta"  # with dot-bracket lines, as pfgm-sample writes RNA
    fa.write_text(f">member\n{member}\n{t}\n>poly_a\n{'A' * len(t)}\n{'.' * len(t)}\n")
    out = _run(capsys, "rna", "misfolds", str(fa), "hairpin")
    report, _, table = out.partition("\ntarget  ")
    rep = json.loads(report)
    assert rep["num"] == 2 and rep["fold_to_target"] == 0.5 and rep["helix_kept"] == {"5-26 (8 bp)": 0.5}
    assert rep["within_2_bp"] == 0.5 and rep["gap_below_1_kcal"] == 0.5  # the member's gap is 0, poly-A keeps no pair
    assert table.splitlines() == [t, f"{1:6d}  {t}", f"{1:6d}  {'.' * len(t)}"]
    assert _run(capsys, "rna", "misfolds", str(fa), t) == out  # the target as a dot-bracket string: the same report


def test_cdr3_substitutions_cost_pgen(capsys):
    pytest.importorskip("olga", reason="olga is not installed")
    out = _run(capsys, "cdr3", "errors", "substitutions", "--num", "3")
    rows = re.findall(r"^(\d) substitutions: mean log10 Pgen (-?[\d.]+) \(Pgen > 0: ([\d.]+)\)$", out, re.M)
    assert [int(k) for k, _, _ in rows] == [0, 1, 2, 3]
    mean = {int(k): float(m) for k, m, _ in rows}
    assert float(rows[0][2]) == 1.0  # OLGA's own CDR3s all have Pgen > 0
    assert mean[3] < mean[0] - 3  # three substitutions cost orders of magnitude


@pytest.fixture
def molecules_checkpoint() -> str:
    pytest.importorskip("rdkit", reason="rdkit is not installed")
    pytest.importorskip("networkx", reason="networkx is not installed")
    from pfgm import zoo

    if "molecules" not in zoo.manifest():
        pytest.skip("zoo:molecules is not built")
    return "zoo:molecules"


def test_molecules_failures_account_for_every_sample(molecules_checkpoint, capsys):
    out = _run(capsys, "molecules", "failures", molecules_checkpoint, "--num", "8", "--seed", "1", "--set", "steps=3")
    valid, num = map(int, re.search(r"^valid: (\d+) of (\d+)$", out, re.M).groups())
    errors = [int(n) for n in re.findall(r"^ +(\d+)  \S", out, re.M)]
    assert num == 8 and valid + sum(errors) == 8
    # the training graphs decoded back: NCI molecules have about one bond per heavy atom
    assert 0.8 < float(re.search(r"bonds per atom: generated [\d.]+, training ([\d.]+)", out).group(1)) < 1.3


def test_molecules_fragments_report_and_trajectory(molecules_checkpoint, tmp_path, capsys):
    dest = tmp_path / "f.json"
    argv = ["molecules", "fragments", molecules_checkpoint, "--num", "8", "--set", "steps=3", "--ref", "40"]
    out = _run(capsys, *argv, "--trajectory", "--out", str(dest))
    rep = json.loads(out)
    assert json.loads(dest.read_text()) == rep
    assert rep["samples"]["num"] == 8 and rep["data_graphs"] == 40 and rep["data"]["num"] == 40
    # training molecules survive the encoding and the decoding (of NCI's 3,488 all but one, an Sb compound)
    assert rep["data"]["validity"] > 0.95
    sigmas = [s for s, _ in rep["denoised_multi_fragment_share_by_sigma"]]
    assert sigmas[0] == 10.0 and all(0 <= share <= 1 for _, share in rep["denoised_multi_fragment_share_by_sigma"])
