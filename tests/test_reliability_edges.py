"""The rough edges a held-out probe found (issue 33): run dirs holding the user's files, outputs over a
user's file, multirun jobs sharing one output, BOMs / headers / stop codons in data files, numeric
overflow and mistyped keys. Each test failed on the code before the fix."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import warnings
from pathlib import Path

import pytest

import pfgm.reliability as rel

from pfgm.recipes.cli import compose
from pfgm.recipes.train import run_training
from pfgm.recipes.validate import check_sample, check_train

ENV = {**os.environ, "PYTHONWARNINGS": "ignore", "OMP_NUM_THREADS": "1"}

#: pfgm-train on the toy modality of pfgm.reliability (no recipe file), two steps
TOY_TRAIN = [*rel.TOY_TRAIN, "trainer.max_steps=2"]


def train(run: Path, **kw) -> dict:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return run_training(rel.toy_config(run, **kw))


def hydra_app(module, argv: list[str], capsys) -> tuple[int, str]:
    """Run a console script's Hydra app in this process: (exit code, stderr)."""
    old = sys.argv
    sys.argv = argv
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            module._hydra_main()
        code = 0
    except SystemExit as e:
        code = e.code
    finally:
        sys.argv = old
    return code, capsys.readouterr().err


def run_script(app: str, *args: str, cwd: Path) -> subprocess.CompletedProcess:
    """A console script's ``main()`` in a fresh interpreter, with the toy modality registered."""
    return subprocess.run(rel.cli_command(app, *args), cwd=cwd, capture_output=True, text=True, env=ENV, timeout=300)


def one_error_line(err: str) -> str:
    lines = [line for line in err.strip().splitlines() if line.strip()]
    assert len(lines) == 1 and "error:" in lines[0] and "Traceback" not in err, err
    return lines[0]


# -- run dirs ------------------------------------------------------------------------------------------


def test_training_refuses_a_run_dir_holding_the_users_files_naming_them(tmp_path):
    run = tmp_path / "project"
    run.mkdir()
    (run / "config.json").write_text('{"mine": true}')
    (run / "notes.txt").write_text("precious")
    with pytest.raises(FileExistsError, match=r"run_dir=.*project holds files pfgm-train did not write \(notes\.txt\)"):
        train(run, max_steps=1)
    assert (run / "config.json").read_text() == '{"mine": true}' and sorted(p.name for p in run.iterdir()) == [
        "config.json",
        "notes.txt",
    ]


def test_a_run_dir_pfgm_wrote_is_accepted_for_resume(tmp_path):
    run = tmp_path / "run"
    train(run, max_steps=3)
    (run / "eval.json").write_text("{}")  # pfgm-eval's default report beside the checkpoint
    (run / "samples").mkdir()  # a pfgm-sample folder kept inside the run
    (run / "samples" / ".pfgm-samples.json").write_text('{"files": []}')
    (run / ".config.json.0123456789ab.tmp").write_text("")  # an atomic write a kill interrupted
    assert train(run, max_steps=6, resume=True)["step"] == 6


def test_a_file_where_the_run_dir_should_be_is_named(tmp_path):
    from pfgm.recipes.train import check_run_dir

    f = tmp_path / "taken"
    f.write_text("a file")
    with pytest.raises(NotADirectoryError, match=r"run_dir=.*taken is a file, not a folder"):
        check_run_dir(f)


def test_cli_run_dir_dot_with_user_files_and_a_file_as_run_dir_are_one_line_errors(tmp_path, capsys, monkeypatch):
    import pfgm.recipes.train as train_app

    (tmp_path / "thesis.tex").write_text("precious")
    monkeypatch.chdir(tmp_path)
    code, err = hydra_app(train_app, ["pfgm-train", *TOY_TRAIN, "run_dir=."], capsys)
    assert code == 1 and "thesis.tex" in one_error_line(err) and "run_dir=" in err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["thesis.tex"]
    code, err = hydra_app(train_app, ["pfgm-train", *TOY_TRAIN, "run_dir=thesis.tex"], capsys)
    assert code == 1 and "run_dir=thesis.tex is a file, not a folder" in one_error_line(err)
    assert (tmp_path / "thesis.tex").read_text() == "precious"


# -- outputs -----------------------------------------------------------------------------------------


def test_sample_out_over_a_users_file_is_refused_unless_overwrite(tmp_path, capsys):
    import pfgm.recipes.sample as sample

    run = tmp_path / "run"
    train(run, max_steps=1)
    capsys.readouterr()  # training's own lines
    mine = tmp_path / "seqs.json"
    mine.write_text("my own data")
    argv = ["pfgm-sample", f"checkpoint={run}", f"out={mine}", "num_samples=2", "progress=false"]
    code, err = hydra_app(sample, argv, capsys)
    assert code == 1 and "overwrite=true" in one_error_line(err) and "seqs.json" in err
    assert mine.read_text() == "my own data"
    assert hydra_app(sample, argv + ["overwrite=true"], capsys)[0] == 0
    assert len(json.loads(mine.read_text())) == 2
    assert hydra_app(sample, argv, capsys)[0] == 0  # a file pfgm-sample wrote is its own to replace
    mine.write_text("edited by hand")  # ... until the user changes it
    assert hydra_app(sample, argv, capsys)[0] == 1 and mine.read_text() == "edited by hand"


def test_overwrite_must_be_a_boolean_and_is_a_sample_key():
    assert compose("sample", ["checkpoint=x"])["overwrite"] is False
    with pytest.raises(ValueError, match="overwrite must be true or false, got 'maybe'"):
        check_sample(compose("sample", ["checkpoint=x", "overwrite=maybe"]))


# -- multirun ----------------------------------------------------------------------------------------


def test_multirun_jobs_each_get_their_own_run_dir_and_output(tmp_path):
    p = run_script("train", "--multirun", *TOY_TRAIN, "trainer.seed=0,1", "run_dir=mr", cwd=tmp_path)
    assert p.returncode == 0, p.stderr
    runs = [json.loads(line)["run_dir"] for line in p.stdout.splitlines() if line.startswith("{")]
    assert runs == ["mr/0", "mr/1"] and all((tmp_path / r / "ema.safetensors").exists() for r in runs)
    p = run_script(
        "sample", "--multirun", "checkpoint=mr/0", "seed=0,100", "num_samples=2", "out=msr/", "progress=false", cwd=tmp_path
    )
    assert p.returncode == 0, p.stderr
    written = [json.loads(line)["written"] for line in p.stdout.splitlines() if line.startswith("{")]
    assert written == [["msr/0/samples.json"], ["msr/1/samples.json"]]
    a, b = (json.loads((tmp_path / w[0]).read_text()) for w in written)
    assert a != b  # seed 0 and seed 100: both kept, neither overwrote the other
    assert sorted(p.name for p in tmp_path.iterdir()) == ["mr", "msr"]  # no multirun/ folder or multirun.yaml left


def test_job_path_derives_one_output_per_job(tmp_path):
    from pfgm.recipes.cli import job_path

    assert job_path("msr/", None) == "msr/"
    assert job_path("msr", 3) == os.path.join("msr", "3")
    assert job_path("mols.smi", 1) == "mols-1.smi"
    assert job_path(tmp_path / "out.d", 0) == str(tmp_path / "out-0.d")
    (tmp_path / "dir.v2").mkdir()
    assert job_path(tmp_path / "dir.v2", 2) == str(tmp_path / "dir.v2" / "2")


# -- data files --------------------------------------------------------------------------------------

BOM = "\ufeff"


def test_bom_is_stripped_in_fasta_and_csv(tmp_path):
    pytest.importorskip("Bio")
    from pfgm.modalities.sequences.alphabet import Alphabet
    from pfgm.modalities.sequences.parsers import read_sequences

    fa = tmp_path / "a.fasta"
    fa.write_text(BOM + ">s1\nCARDW\n>s2\nCASSW\n", encoding="utf-8")
    items, _ = read_sequences(fa, Alphabet("protein"))
    assert [(i.id, i.seq) for i in items] == [("s1", "CARDW"), ("s2", "CASSW")]
    csv = tmp_path / "a.csv"
    csv.write_text(BOM + "cdr3_aa,v\nCARDW,x\n", encoding="utf-8")
    items, _ = read_sequences(csv, Alphabet("protein"), column="cdr3_aa")
    assert [i.seq for i in items] == ["CARDW"]


def test_bom_is_stripped_in_smiles(tmp_path):
    pytest.importorskip("rdkit")
    from pfgm.modalities.molecules.molecule_sources import read_smiles_records

    p = tmp_path / "m.csv"
    p.write_text(BOM + "smiles,name\nCCO,ethanol\n", encoding="utf-8")
    assert read_smiles_records(p) == ([(2, "CCO")], True)
    p = tmp_path / "m.smi"
    p.write_text(BOM + "CCO\nCCN\n", encoding="utf-8")
    assert read_smiles_records(p) == ([(1, "CCO"), (2, "CCN")], False)


def test_a_record_whose_name_says_molecule_is_not_a_header_and_a_header_is_reported(tmp_path):
    pytest.importorskip("rdkit")
    from pfgm.modalities.molecules.molecule_sources import load_smiles_file, read_smiles_records

    p = tmp_path / "named.smi"
    p.write_text("".join(f"{s}\tmolecule number {k}\n" for k, s in enumerate(["CCO", "CCN", "CCC"], 1)))
    assert read_smiles_records(p) == ([(1, "CCO"), (2, "CCN"), (3, "CCC")], False)
    h = tmp_path / "headed.csv"
    h.write_text("id,smiles\nID1,CCO\nID2,CCN\n")
    assert read_smiles_records(h) == ([(2, "CCO"), (3, "CCN")], True)
    ms = load_smiles_file(h, max_atoms=None)
    assert ms.report.header and "header row skipped" in ms.report.summary()
    assert "header" not in load_smiles_file(p, max_atoms=None).report.summary()


def test_trailing_stop_codon_is_stripped_and_counted(tmp_path):
    pytest.importorskip("Bio")
    from pfgm.modalities.sequences.alphabet import Alphabet
    from pfgm.modalities.sequences.parsers import STOP_STRIPPED, read_sequences
    from pfgm.modalities.shared.records import RecordError

    fa = tmp_path / "t.fasta"
    fa.write_text(">a\nCARDW*\n>b\nCASSW\n>c\nCAS*SW*\n")
    with pytest.raises(RecordError, match=r"t\.fasta:5: \[c\] ambiguity code '\*'"):  # an inner stop is not stripped
        read_sequences(fa, Alphabet("protein"))
    items, rep = read_sequences(fa, Alphabet("protein"), policy="skip")
    assert [i.seq for i in items] == ["CARDW", "CASSW"]
    assert rep.fixed == {STOP_STRIPPED: 2} and rep.lines(STOP_STRIPPED) == [1, 5]
    assert f"2 {STOP_STRIPPED} (lines 1, 5)" in rep.summary()
    with pytest.raises(RecordError, match=r"\[a\] ambiguity code '\*'"):
        read_sequences(fa, Alphabet("protein"), stop_codons="keep")


# -- messages ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "app,over,needle",
    [
        ("train", "pfgm.sigma_max=1e39", "pfgm.sigma_max=1e+39 is outside the range float32 represents, [1.2e-38, 3.4e+38]"),
        ("train", "pfgm.sigma_min=1e-46", "pfgm.sigma_min=1e-46 is outside the range float32 represents"),
        ("sample", "sampler.sigma_max=1e39", "sampler.sigma_max=1e+39 is outside the range float32 represents"),
        ("sample", "seed=1180591620717411303424", "seed must be a whole number in [0, 9223372036854775807]"),
        ("eval", "seed=18446744073709551616", "seed must be a whole number in [0, 9223372036854775807]"),
    ],
)
def test_numeric_overflow_is_refused_at_validation_naming_the_key(app, over, needle):
    if app == "train":
        with pytest.raises(ValueError) as e:
            check_train(compose("train", ["recipe=digits", "run_dir=x", over]))
    else:
        with pytest.raises(ValueError) as e:
            check_sample(compose(app, ["checkpoint=x", over]), eval_=app == "eval")
    assert needle in str(e.value)


def test_a_mistyped_key_is_one_line_naming_the_closest(capsys):
    import pfgm.recipes.sample as sample
    import pfgm.recipes.train as train_app

    code, err = hydra_app(sample, ["pfgm-sample", "checkpoint=x", "num_sample=3"], capsys)
    assert code == 1 and one_error_line(err) == "pfgm-sample: error: unknown key num_sample; did you mean num_samples?"
    code, err = hydra_app(train_app, ["pfgm-train", "recipe=digits", "trainer.max_step=3", "run_dir=x"], capsys)
    assert code == 1 and "did you mean trainer.max_steps?" in one_error_line(err)
    assert os.environ.get("HYDRA_FULL_ERROR") is None  # the app's setting does not leak
