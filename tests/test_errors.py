"""User errors and bugs part ways at the console scripts: the project's own error types (a setting, a data
file, a checkpoint) print one line and exit 1; a plain ValueError or KeyError, raised by a bug in our code
or deep inside a library, keeps its traceback."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

import pfgm.reliability as rel
from pfgm.core.errors import CheckpointError, ConfigError, DataError, PfgmError, UnknownNameError

from test_reliability_edges import ENV, TOY_TRAIN, hydra_app, one_error_line, train

#: a bug deep in the network's forward pass: both training and sampling call it
BUG = (
    "import sys, pfgm.reliability, pfgm.core.precond as p\n"
    "def bug(self, *a, **k):\n"
    "    raise {exc}('injected bug')\n"
    "p.Denoiser.forward = bug\n"
    "sys.argv = ['pfgm-{app}', *sys.argv[1:]]\n"
    "from {module} import main\n"
    "main()\n"
)


def _bug(monkeypatch, exc: type[Exception]) -> None:
    import pfgm.core.precond as precond

    def bug(self, *a, **k):
        raise exc("injected bug")

    monkeypatch.setattr(precond.Denoiser, "forward", bug)


@pytest.fixture(scope="module")
def toy_run(tmp_path_factory) -> Path:
    run = tmp_path_factory.mktemp("errors") / "run"
    train(run, max_steps=1)
    return run


# -- the types -------------------------------------------------------------------------------------


def test_user_error_types_keep_the_builtin_bases_callers_catch():
    assert issubclass(ConfigError, PfgmError) and issubclass(ConfigError, ValueError)
    assert issubclass(DataError, PfgmError) and issubclass(DataError, ValueError)
    e = UnknownNameError("unknown modality 'x'; available: images")
    assert isinstance(e, KeyError) and isinstance(e, ConfigError)
    assert str(e) == "unknown modality 'x'; available: images"  # not KeyError's quoted repr
    assert not issubclass(PfgmError, ValueError)  # a bug's ValueError is not a user error


def test_the_project_error_classes_are_user_errors():
    from pfgm.core.run_lock import RunLocked
    from pfgm.modalities.base import ModalityUnavailable
    from pfgm.modalities.molecules.mol_vocab import UnsupportedMolecule
    from pfgm.modalities.images.archive import ArchiveError
    from pfgm.modalities.images.data import ImageFolderError, ImageFolderNotFoundError
    from pfgm.modalities.images.fid import InceptionWeightsMissing
    from pfgm.modalities.sequences.alphabet import SymbolError
    from pfgm.modalities.shared.paths import CacheDirError
    from pfgm.modalities.shared.records import RecordError

    for cls in (RecordError, ImageFolderError, ArchiveError, SymbolError, UnsupportedMolecule):
        assert issubclass(cls, DataError) and issubclass(cls, ValueError), cls
    for cls, old in (
        (CheckpointError, Exception),
        (ModalityUnavailable, ImportError),
        (RunLocked, FileExistsError),
        (CacheDirError, NotADirectoryError),
        (InceptionWeightsMissing, FileNotFoundError),
        (ImageFolderNotFoundError, FileNotFoundError),
    ):
        assert issubclass(cls, PfgmError) and issubclass(cls, old), cls


def test_the_cli_takes_the_project_errors_not_every_value_error():
    from pfgm.recipes.cli import USER_ERRORS

    assert PfgmError in USER_ERRORS and ValueError not in USER_ERRORS and KeyError not in USER_ERRORS


# -- a bug keeps its traceback -----------------------------------------------------------------------


@pytest.mark.parametrize("exc", [ValueError, KeyError])
def test_a_bug_in_training_propagates_out_of_pfgm_train(tmp_path, monkeypatch, capsys, exc):
    import pfgm.recipes.train as train_app

    _bug(monkeypatch, exc)
    with pytest.raises(exc, match="injected bug"):
        hydra_app(train_app, ["pfgm-train", *TOY_TRAIN, f"run_dir={tmp_path / 'run'}"], capsys)
    assert "error: injected bug" not in capsys.readouterr().err


def test_a_bug_in_sampling_propagates_out_of_pfgm_sample(toy_run, tmp_path, monkeypatch, capsys):
    import pfgm.recipes.sample as sample

    _bug(monkeypatch, ValueError)
    capsys.readouterr()
    with pytest.raises(ValueError, match="injected bug"):
        hydra_app(
            sample,
            ["pfgm-sample", f"checkpoint={toy_run}", f"out={tmp_path / 's.json'}", "num_samples=2", "progress=false"],
            capsys,
        )
    assert "pfgm-sample: error:" not in capsys.readouterr().err


@pytest.mark.parametrize("app", ["train", "sample"])
def test_a_bug_prints_its_traceback_from_the_console_script(toy_run, tmp_path, app):
    module = rel.APPS[app]
    code = BUG.format(exc="ValueError", app=app, module=module)
    args = (
        [*TOY_TRAIN, f"run_dir={tmp_path / 'run'}"]
        if app == "train"
        else [f"checkpoint={toy_run}", f"out={tmp_path / 's.json'}", "num_samples=2", "progress=false"]
    )
    p = subprocess.run([sys.executable, "-c", code, *args], cwd=tmp_path, capture_output=True, text=True, env=ENV, timeout=300)
    assert p.returncode != 0
    assert "Traceback (most recent call last)" in p.stderr, p.stderr
    assert ", in bug" in p.stderr  # the frame that raised is shown
    assert p.stderr.strip().splitlines()[-1] == "ValueError: injected bug", p.stderr
    assert f"pfgm-{app}: error:" not in p.stderr


# -- user errors stay one line -----------------------------------------------------------------------


@pytest.mark.parametrize(
    "over, needle",
    [
        (["trainer.lr_decay=sometimes"], "trainer.lr_decay"),  # ConfigError (a setting)
        (["modality.name=nosuch"], "unknown modality 'nosuch'"),  # UnknownNameError (was a KeyError)
        (["trainer.max_steps=${oops}"], "trainer.max_steps"),  # OmegaConf's interpolation error, wrapped
        (["trainer.device=cudaa"], "device='cudaa'"),  # torch's device parser, wrapped
    ],
)
def test_user_errors_in_pfgm_train_are_one_line(tmp_path, capsys, over, needle):
    import pfgm.recipes.train as train_app

    code, err = hydra_app(train_app, ["pfgm-train", *TOY_TRAIN, *over, f"run_dir={tmp_path / 'run'}"], capsys)
    line = one_error_line(err)
    assert code == 1 and line.startswith("pfgm-train: error:") and needle in line, err
    assert not (tmp_path / "run").exists()  # a refused run writes nothing


def test_a_bad_data_folder_is_one_line_naming_it(tmp_path, capsys):
    import pfgm.recipes.train as train_app

    (tmp_path / "empty").mkdir()
    code, err = hydra_app(
        train_app,
        [
            "pfgm-train",
            "recipe=image_folder",
            f"modality.root={tmp_path / 'empty'}",
            f"run_dir={tmp_path / 'run'}",
            "trainer.max_steps=1",
        ],
        capsys,
    )
    line = one_error_line(err)
    assert code == 1 and line.startswith("pfgm-train: error:") and str(tmp_path / "empty") in line


def test_a_backbone_setting_torch_refuses_is_one_line_naming_it(tmp_path, capsys):
    import pfgm.recipes.train as train_app

    code, err = hydra_app(
        train_app,
        [
            "pfgm-train",
            "recipe=digits",
            "backbone.dropout=2",
            "backbone.model_channels=8",
            "trainer.max_steps=1",
            f"run_dir={tmp_path / 'run'}",
        ],
        capsys,
    )
    line = one_error_line(err)
    assert code == 1 and line.startswith("pfgm-train: error:") and "dropout=2" in line


@pytest.mark.parametrize(
    "over, needle",
    [
        (["sampler.solver=nope"], "sampler.solver"),
        (["seed=${oops}"], "seed"),
        (["device=cudaa"], "device='cudaa'"),
        (["modality.nope=1"], "nope"),
    ],
)
def test_user_errors_in_pfgm_sample_are_one_line(toy_run, tmp_path, capsys, over, needle):
    import pfgm.recipes.sample as sample

    capsys.readouterr()
    code, err = hydra_app(
        sample,
        ["pfgm-sample", f"checkpoint={toy_run}", f"out={tmp_path / 's.json'}", "num_samples=2", "progress=false", *over],
        capsys,
    )
    line = one_error_line(err)
    assert code == 1 and line.startswith("pfgm-sample: error:") and needle in line, err
    assert not (tmp_path / "s.json").exists()


def test_a_corrupt_checkpoint_is_one_line_naming_it(tmp_path, capsys):
    import pfgm.recipes.sample as sample

    bad = tmp_path / "w.safetensors"
    bad.write_bytes(b"\x08\x00\x00\x00\x00\x00\x00\x00{not json")  # a safetensors header that is not JSON
    code, err = hydra_app(sample, ["pfgm-sample", f"checkpoint={bad}", f"out={tmp_path / 's'}"], capsys)
    line = one_error_line(err)
    assert code == 1 and line.startswith("pfgm-sample: error:") and "w.safetensors" in line


def test_the_python_api_raises_the_same_types():
    from pfgm.recipes.validate import check_train

    with pytest.raises(ConfigError, match="trainer.max_steps"):
        check_train(rel._merge(rel.toy_config("/nonexistent/run"), {"trainer": {"max_steps": -1}}))
    with pytest.raises(KeyError):  # callers that caught KeyError still do
        from pfgm.modalities.base import get_modality

        get_modality("nosuch")
