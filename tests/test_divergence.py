"""Divergence never destroys a run: the trainer's non-finite guard, non-finite weights refused at
load, and non-finite samples counted invalid instead of decoded into normal-looking objects."""

from __future__ import annotations

import json
import math
import os
import subprocess
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch

from pfgm.core.checkpoint import CheckpointError, list_states, load_state
from pfgm.core.trainer import TrainingDiverged
from pfgm.core.weights import EMA_WEIGHTS_NAME, export_weights, first_nonfinite, load_weights
from pfgm.recipes.build import load_checkpoint, make_modality
from pfgm.recipes.cli import compose
from pfgm.recipes.train import run_training

ENV = {**os.environ, "PYTHONWARNINGS": "ignore", "OMP_NUM_THREADS": "1"}
TINY = ["trainer.progress=false", "preview_samples=0", "trainer.ckpt_every=5", "trainer.log_every=5"]


def cli(prog: str, *args: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run([prog, *args], cwd=cwd, env=ENV, capture_output=True, text=True, timeout=600)


def train_cfg(recipe: str, run: Path, *over: str) -> dict:
    cfg = compose("train", [f"recipe={recipe}", *TINY, *over])
    cfg["run_dir"] = str(run)
    return cfg


def all_states_finite(run: Path) -> bool:
    for p in list_states(run):
        load_state(p)  # raises on a non-finite tensor
    load_weights(run / EMA_WEIGHTS_NAME)
    return True


# -- the trainer's guard ---------------------------------------------------------------------------


def test_lr_1000_on_a_healthy_run_stops_with_one_line_and_keeps_the_finite_checkpoints(tmp_path):
    run = "run"
    ok = cli("pfgm-train", "recipe=digits", f"run_dir={run}", "trainer.max_steps=10", *TINY, cwd=tmp_path)
    assert ok.returncode == 0, ok.stderr
    bad = cli(
        "pfgm-train",
        "recipe=digits",
        f"run_dir={run}",
        "trainer.max_steps=40",
        "trainer.lr=1000",
        "resume=true",
        *TINY,
        cwd=tmp_path,
    )
    assert bad.returncode == 3, bad.stderr
    errors = [ln for ln in bad.stderr.splitlines() if "error" in ln]
    assert len(errors) == 1 and "training diverged at step" in errors[0] and "trainer.lr=1000" in errors[0]
    assert "resume=true" in errors[0] and "state-" in errors[0]
    states = list_states(tmp_path / run)
    assert states and all_states_finite(tmp_path / run)
    newest = states[-1]
    # the same divergence again, from the newest finite state: it is never rotated out
    again = cli(
        "pfgm-train",
        "recipe=digits",
        f"run_dir={run}",
        "trainer.max_steps=40",
        "trainer.lr=1000",
        "resume=true",
        "trainer.keep_last=1",
        *TINY,
        cwd=tmp_path,
    )
    assert again.returncode == 3 and newest.exists() and all_states_finite(tmp_path / run)
    # the state the resume started from (step 10, before the blow-up) was kept from rotation, and the message
    # says how to go back to it; a resume at a sane learning rate from there runs to the end
    back = "checkpoints/state-000000010.pt"
    assert f"resume={back}" in bad.stderr and (tmp_path / run / back).exists()
    fixed = cli("pfgm-train", "recipe=digits", f"run_dir={run}", "trainer.max_steps=25", f"resume={back}", *TINY, cwd=tmp_path)
    assert fixed.returncode == 0, fixed.stderr
    summary = json.loads(fixed.stdout.strip().splitlines()[-1])
    assert summary["resumed_at"] == 10 and summary["step"] == 25 and all_states_finite(tmp_path / run)
    assert (tmp_path / run / "checkpoints" / "abandoned" / newest.name).exists()  # moved aside, not deleted


@pytest.mark.parametrize(
    "recipe,over",
    [
        ("digits", ["trainer.bf16=true"]),
        ("digits", ["pfgm.P_mean=100", "trainer.lr=0.002"]),
        ("molecules", ["trainer.batch_size=16"]),
        ("cdr3", ["trainer.batch_size=16"]),
        ("speech_digits", ["trainer.batch_size=8"]),
    ],
    ids=["digits-bf16", "digits-P_mean", "molecules", "cdr3", "speech_digits"],
)
def test_divergence_stops_every_modality_and_writes_nothing_non_finite(tmp_path, recipe, over):
    if recipe == "speech_digits":
        pytest.importorskip("torchaudio")
        if not any((Path(d) / "espeak-ng").exists() for d in os.environ.get("PATH", "").split(os.pathsep)):
            pytest.skip("espeak-ng is not installed")
    lr = [] if any(o.startswith("trainer.lr=") for o in over) else ["trainer.lr=1000"]
    cfg = train_cfg(recipe, tmp_path / "run", "trainer.max_steps=60", "trainer.warmup_steps=0", *lr, *over)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with pytest.raises(TrainingDiverged, match=r"training diverged at step \d+: loss") as e:
            run_training(cfg)
    assert e.value.step < 60
    if list_states(tmp_path / "run"):
        assert all_states_finite(tmp_path / "run")


def test_stop_policy_stops_at_the_first_non_finite_step_and_skip_policy_rides_out_one(tmp_path, monkeypatch):
    from pfgm.core import loss as loss_mod

    real = loss_mod.PFGMLoss.__call__
    calls = {"n": 0}

    def nan_at_third_call(self, *a, **k):
        out = real(self, *a, **k)
        calls["n"] += 1
        return out * float("nan") if calls["n"] == 3 else out

    monkeypatch.setattr(loss_mod.PFGMLoss, "__call__", nan_at_third_call)
    with pytest.raises(TrainingDiverged, match="at step 3:"):
        run_training(train_cfg("digits", tmp_path / "a", "trainer.max_steps=8", "trainer.on_nonfinite=stop"))
    calls["n"] = 0
    out = run_training(train_cfg("digits", tmp_path / "b", "trainer.max_steps=8"))
    assert out["step"] == 8 and math.isfinite(out["loss"])
    logged = [json.loads(ln) for ln in (tmp_path / "b" / "metrics.jsonl").read_text().splitlines()]
    assert logged[-1].get("skipped_steps") == 1


def test_a_skipped_step_leaves_weights_optimiser_and_ema_untouched(tmp_path, monkeypatch):
    from pfgm.core import loss as loss_mod
    from pfgm.core.ema import unwrap_model
    from pfgm.core.trainer import Trainer

    real = loss_mod.PFGMLoss.__call__
    monkeypatch.setattr(loss_mod.PFGMLoss, "__call__", lambda self, *a, **k: real(self, *a, **k) * float("inf"))
    seen = {}
    orig_step = Trainer.train_step

    def spy(self):
        before = {k: v.clone() for k, v in unwrap_model(self.model).state_dict().items()}
        ema = {k: v.clone() for k, v in self.ema.model.state_dict().items()}
        out = orig_step(self)
        seen["same"] = all(torch.equal(before[k], v) for k, v in unwrap_model(self.model).state_dict().items())
        seen["ema"] = all(torch.equal(ema[k], v) for k, v in self.ema.model.state_dict().items())
        seen["opt"] = len(self.opt.state) == 0  # no moment was ever created
        return out

    monkeypatch.setattr(Trainer, "train_step", spy)
    with pytest.raises(TrainingDiverged):
        run_training(train_cfg("digits", tmp_path / "r", "trainer.max_steps=8", "trainer.nonfinite_patience=2"))
    assert seen == {"same": True, "ema": True, "opt": True}


def test_bad_guard_options_are_refused_naming_the_key(tmp_path):
    for over, needle in [
        ("trainer.on_nonfinite=ignore", "trainer.on_nonfinite"),
        ("trainer.nonfinite_patience=0", "trainer.nonfinite_patience"),
    ]:
        with pytest.raises(ValueError, match=needle):
            run_training(train_cfg("digits", tmp_path / "r", "trainer.max_steps=2", over))


# -- non-finite weights refused at load --------------------------------------------------------------


@pytest.fixture(scope="module")
def nan_run(tmp_path_factory) -> Path:
    """A healthy 10-step digits run (states at 5 and 10) whose EMA export and newest state were then poisoned with NaN."""
    run = tmp_path_factory.mktemp("nan") / "run"
    run_training(train_cfg("digits", run, "trainer.max_steps=10"))
    weights, config, meta = load_weights(run / EMA_WEIGHTS_NAME)
    name = sorted(weights)[3]
    weights[name] = torch.full_like(weights[name], float("nan"))
    export_weights(run / EMA_WEIGHTS_NAME, weights, config, meta)
    state_path = list_states(run)[-1]
    state = torch.load(state_path, weights_only=True)
    state["model"][name] = torch.full_like(state["model"][name], float("nan"))
    torch.save(state, state_path)
    return run


def test_first_nonfinite_names_the_tensor_in_nested_dicts():
    ok = {"a": torch.zeros(2), "b": torch.arange(3)}
    assert first_nonfinite(ok) is None
    assert first_nonfinite({"m": {"x": torch.zeros(2), "y": torch.tensor([1.0, float("-inf")])}}) == "m.y"


def test_non_finite_export_and_state_are_refused_naming_file_and_tensor(nan_run):
    with pytest.raises(CheckpointError, match=rf"{EMA_WEIGHTS_NAME}: tensor \S+ holds NaN"):
        load_checkpoint(nan_run)
    with pytest.raises(CheckpointError, match=r"state-\d+\.pt: tensor model\.\S+ holds NaN"):
        load_state(list_states(nan_run)[-1])


def test_cli_sample_eval_and_init_from_refuse_non_finite_weights(nan_run, tmp_path):
    for prog, args in [
        ("pfgm-sample", [f"checkpoint={nan_run}", "num_samples=4", "out=s"]),
        ("pfgm-eval", [f"checkpoint={nan_run}", "num_samples=4"]),
        ("pfgm-train", ["recipe=digits", "run_dir=ft", f"init_from={nan_run}", "trainer.max_steps=2", *TINY]),
    ]:
        p = cli(prog, *args, cwd=tmp_path)
        assert p.returncode == 1, (prog, p.stderr)
        lines = [ln for ln in p.stderr.splitlines() if ln.strip() and "Warning" not in ln]
        assert "holds NaN or infinite values" in p.stderr and EMA_WEIGHTS_NAME in p.stderr, (prog, p.stderr)
        assert len([ln for ln in lines if "error" in ln]) == 1
    assert not (tmp_path / "s").exists() and not (tmp_path / "ft").exists()


def test_resume_skips_a_non_finite_newest_state_with_a_warning(nan_run, tmp_path):
    import shutil

    run = tmp_path / "run"
    shutil.copytree(nan_run, run)
    with pytest.warns(UserWarning, match="holds NaN"):
        out = run_training(train_cfg("digits", run, "trainer.max_steps=12", "resume=true"))
    assert out["resumed_at"] == 5 and out["step"] == 12


# -- non-finite samples are invalid, in every modality -----------------------------------------------


@pytest.mark.parametrize("recipe", ["digits", "molecules", "cdr3", "rna_hairpin", "community_small", "tones"])
def test_a_non_finite_sample_decodes_to_none_and_the_others_as_before(recipe):
    modality = make_modality(compose("train", [f"recipe={recipe}"])["modality"])
    modality.dataset("train")  # sequence modalities draw lengths from the data's histogram
    blank = modality.blank(3, torch.Generator().manual_seed(0))
    x = blank.x.clone()
    x[1].view(-1)[0] = float("nan")
    objects = modality.decode_samples(x, blank.mask, blank.cond)
    assert objects[1] is None
    ref = modality.decode(
        blank.x[[0, 2]], None if blank.mask is None else blank.mask[[0, 2]], None if blank.cond is None else blank.cond[[0, 2]]
    )
    for got, want in zip([objects[0], objects[2]], ref):
        assert (got is None) == (want is None)
        if isinstance(want, np.ndarray):
            np.testing.assert_array_equal(got, want)
        elif isinstance(want, str):
            assert got == want
