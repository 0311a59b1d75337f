"""The console scripts as a user meets them: listing, composition, one-line errors, nothing overwritten."""

from __future__ import annotations

import os
import pickle
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from pfgm.recipes.cli import compose, recipe_catalogue

ENV = {**os.environ, "PYTHONWARNINGS": "ignore"}


MODULES = {"train": "train", "sample": "sample", "eval": "evaluate", "bench": "bench"}


def run(app: str, *args: str, cwd: Path) -> subprocess.CompletedProcess:
    """Run a console script's entry point (pfgm-<app>) in a fresh interpreter."""
    code = f"import sys; sys.argv=['pfgm-{app}', *sys.argv[1:]]; from pfgm.recipes.{MODULES[app]} import main; main()"
    return subprocess.run([sys.executable, "-c", code, *args], cwd=cwd, capture_output=True, text=True, env=ENV, timeout=300)


def _one_line_error(p: subprocess.CompletedProcess, *needles: str) -> None:
    assert p.returncode != 0, p.stdout + p.stderr
    lines = [line for line in p.stderr.strip().splitlines() if "error:" in line]
    assert len(lines) == 1, p.stderr
    for n in needles:
        assert n in lines[0], lines[0]
    assert "Traceback" not in p.stderr


def test_no_recipe_lists_recipes_by_modality(tmp_path):
    p = run("train", cwd=tmp_path)
    assert p.returncode == 0
    assert "images:" in p.stdout and "digits" in p.stdout and "image_folder" in p.stdout
    assert not (tmp_path / "runs").exists()  # listing leaves no empty run dir behind


@pytest.mark.parametrize("recipe", sorted(n for items in recipe_catalogue().values() for n, _ in items))
def test_every_recipe_composes(recipe):
    cfg = compose("train", [f"recipe={recipe}"])
    assert cfg["modality"]["name"] and isinstance(cfg["backbone"], dict) and cfg["description"]
    for app in ("bench",):
        assert compose(app, [f"recipe={recipe}"])["modality"] == cfg["modality"]


@pytest.mark.parametrize("name", ["sample", "eval"])
def test_sample_and_eval_configs_compose(name):
    cfg = compose(name, ["checkpoint=x", "sampler.steps=5", "pfgm.D=inf"])
    assert cfg["sampler"]["steps"] == 5 and cfg["pfgm"]["D"] == float("inf") and "D" not in cfg


def test_old_spellings_are_refused_in_one_line_naming_the_new_one(tmp_path):
    """trainer=cpu (now trainer=default), pfgm=pfgm (now pfgm=D1) and pfgm-sample/pfgm-eval's D= (now pfgm.D=)
    are gone: each is one line naming the new spelling, and nothing is written."""
    for old, new in (("trainer=cpu", "default"), ("pfgm=pfgm", "D1")):
        p = run("train", "recipe=digits", old, "trainer.max_steps=1", f"run_dir={tmp_path / 'r'}", cwd=tmp_path)
        _one_line_error(p, f"Could not find '{old.replace('=', '/')}'; available: ")
        assert new in p.stderr.strip().split("available: ")[1].split(", "), p.stderr
    for app in ("sample", "eval"):
        for old in ("D=8", "+D=8"):
            p = run(app, "checkpoint=zoo:digits", old, "num_samples=2", f"out={tmp_path / 'o'}", cwd=tmp_path)
            _one_line_error(p, "D= is not a key: use pfgm.D=8")
            assert p.stderr.strip() == f"pfgm-{app}: error: D= is not a key: use pfgm.D=8", p.stderr
    assert sorted(tmp_path.iterdir()) == []


def test_new_spellings_give_the_config_the_old_ones_gave():
    """trainer=default and pfgm=D1 compose what trainer=cpu and pfgm=pfgm did (those files only listed them
    in their defaults); pfgm.D= sets the prior's D of pfgm-sample and pfgm-eval."""
    from pfgm.recipes.sample import open_overrides, sample_D

    new = compose("train", ["recipe=molecules", "trainer=default", "pfgm=D1"])
    assert new == compose("train", ["recipe=molecules", "pfgm=D1"]) and new["pfgm"]["D"] == 1  # default is the default
    assert new["trainer"] == compose("train", ["recipe=molecules"])["trainer"]
    for name in ("sample", "eval"):
        cfg = compose(name, open_overrides(["checkpoint=x", "pfgm.D=inf"]))
        assert "D" not in cfg and sample_D({**cfg, "pfgm": {"D": None}}, 8) == 8  # the trained D
        with pytest.warns(UserWarning, match="D=inf a network trained at D=128"):
            assert sample_D(cfg, 128) == float("inf")


def test_unknown_recipe(tmp_path):
    p = run("train", "recipe=nope", f"run_dir={tmp_path / 'r'}", cwd=tmp_path)
    assert p.returncode != 0 and "recipe/nope" in p.stderr and "digits" in p.stderr
    assert not (tmp_path / "r").exists()


def test_unknown_modality_and_bad_D(tmp_path):
    p = run("train", "recipe=digits", "modality.name=nosuch", f"run_dir={tmp_path / 'r'}", cwd=tmp_path)
    _one_line_error(p, "unknown modality 'nosuch'", "images")
    p = run("train", "recipe=digits", "pfgm.D=0.5", f"run_dir={tmp_path / 'r2'}", cwd=tmp_path)
    _one_line_error(p, "D must be ≥ 1", "0.5")


def _img_folder_run(tmp_path: Path, root: Path) -> subprocess.CompletedProcess:
    return run(
        "train", "recipe=image_folder", f"modality.root={root}", f"run_dir={tmp_path / 'r'}", "trainer.max_steps=1", cwd=tmp_path
    )


def test_bad_image_folders(tmp_path):
    _one_line_error(_img_folder_run(tmp_path, tmp_path / "missing"), str(tmp_path / "missing"))
    (tmp_path / "empty").mkdir()
    _one_line_error(_img_folder_run(tmp_path, tmp_path / "empty"), str(tmp_path / "empty"))
    bad = tmp_path / "corrupt"
    bad.mkdir()
    (bad / "a.png").write_bytes(b"\x89PNG\r\n\x1a\nnot really a png")
    _one_line_error(_img_folder_run(tmp_path, bad), "a.png")
    txt = tmp_path / "texty"
    txt.mkdir()
    (txt / "notes.txt").write_text("hello")
    _one_line_error(_img_folder_run(tmp_path, txt), "notes.txt")
    assert not (tmp_path / "r" / "checkpoints").exists()


def test_bad_checkpoints(tmp_path):
    _one_line_error(run("sample", f"checkpoint={tmp_path / 'none'}", cwd=tmp_path), str(tmp_path / "none"))
    corrupt = tmp_path / "c.safetensors"
    corrupt.write_bytes(b"garbage")
    _one_line_error(run("sample", f"checkpoint={corrupt}", cwd=tmp_path), "c.safetensors")
    foreign = tmp_path / "f.pt"
    torch.save({"hello": 1}, foreign)
    _one_line_error(run("eval", f"checkpoint={foreign}", cwd=tmp_path), "f.pt")
    assert not (tmp_path / "samples").exists()


class _Payload:
    def __init__(self, marker: str):
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def test_pickle_payload_is_refused_without_running(tmp_path):
    marker = tmp_path / "pwned"
    evil = tmp_path / "state-000000001.pt"
    torch.save({"format": "pfgm-state-v1", "step": 1, "x": _Payload(str(marker))}, evil, pickle_module=pickle)
    p = run("sample", f"checkpoint={evil}", cwd=tmp_path)
    _one_line_error(p, "state-000000001.pt")
    assert not marker.exists()


def test_config_target_outside_allow_list_is_refused(tmp_path):
    from pfgm.core.weights import export_weights

    marker = tmp_path / "pwned2"
    cfg = {
        "modality": {"_target_": "os.system", "command": f"touch {marker}"},
        "backbone": {},
        "pfgm": {"D": 4, "sigma_data": 0.5},
    }
    export_weights(tmp_path / "ema.safetensors", {"w": torch.zeros(1)}, cfg)
    p = run("sample", f"checkpoint={tmp_path / 'ema.safetensors'}", cwd=tmp_path)
    _one_line_error(p, "os.system", "not allowed")
    assert not marker.exists()


def test_a_bare_non_ascii_value_says_how_to_quote_it(tmp_path):
    p = run("sample", "checkpoint=zoo:digits", "num_samples=2", "out=échantillons/", cwd=tmp_path)
    _one_line_error(p, "out=échantillons/", "'out=\"échantillons/\"'")
    p = run("sample", "checkpoint=zoo:digits", "num_samples=2", 'out="échantillons/"', cwd=tmp_path)
    assert p.returncode == 0, p.stderr
    assert len(list((tmp_path / "échantillons").glob("*.png"))) == 3  # two samples and the grid
