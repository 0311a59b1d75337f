"""Training under faults: the run-dir lock, resume modes and the stored-config comparison, whole-config
validation, SIGINT/SIGTERM, a corrupt newest checkpoint, a full disk and kill -9 at random points.

The toy modality and the fault trials live in pfgm.reliability (benchmarks/reliability.py runs them into
docs/reliability.md); these tests run them with few trials.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import warnings
from pathlib import Path

import pytest
import torch

import pfgm.reliability as rel

from pfgm.core.checkpoint import CheckpointError, list_states
from pfgm.core.run_lock import LOCK_NAME, RunLock, RunLocked
from pfgm.recipes.train import run_training
from pfgm.recipes.validate import check_train, config_changes

ROOT = Path(__file__).resolve().parents[1]
ENV = {**os.environ, "PYTHONWARNINGS": "ignore", "OMP_NUM_THREADS": "1"}


def train(run: Path, **kw) -> dict:
    resume = kw.pop("resume", False)
    top = {k: kw.pop(k) for k in list(kw) if k in ("pfgm", "backbone", "modality")}
    cfg = rel.toy_config(run, resume=resume, **kw)
    for k, v in top.items():
        cfg[k] = {**cfg[k], **v}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return run_training(cfg)


# -- the lock -------------------------------------------------------------------------------------


def test_second_training_into_a_locked_run_dir_is_refused_naming_the_owner(tmp_path):
    run = tmp_path / "run"
    other = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    try:
        run.mkdir()
        (run / LOCK_NAME).write_text(json.dumps({"pid": other.pid, "host": socket.gethostname(), "since": "now"}))
        with pytest.raises(RunLocked, match=rf"in use by pid {other.pid} on host {socket.gethostname()}"):
            train(run, max_steps=2)
        assert not (run / "checkpoints").exists()  # nothing of the first run's was touched
    finally:
        other.kill()
        other.wait()


def test_stale_lock_of_a_dead_pid_does_not_block(tmp_path):
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()  # reaped: the pid is gone
    run = tmp_path / "run"
    run.mkdir()
    (run / LOCK_NAME).write_text(json.dumps({"pid": dead.pid, "host": socket.gethostname()}))
    out = train(run, max_steps=2)
    assert out["step"] == 2 and not (run / LOCK_NAME).exists()  # taken over, then released


def test_a_reused_pid_is_not_taken_for_the_owner(tmp_path):
    """The pid is alive but started after the lock was written (Linux: /proc start time): stale."""
    if not Path(f"/proc/{os.getpid()}/stat").exists():
        pytest.skip("needs /proc to read process start times")
    other = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    try:
        (tmp_path / LOCK_NAME).write_text(json.dumps({"pid": other.pid, "host": socket.gethostname(), "start": "1"}))
        with pytest.warns(UserWarning, match="stale lock"), RunLock(tmp_path):
            assert json.loads((tmp_path / LOCK_NAME).read_text())["pid"] == os.getpid()
        assert not (tmp_path / LOCK_NAME).exists() and list(tmp_path.iterdir()) == []
    finally:
        other.kill()
        other.wait()


def test_lock_of_another_host_is_never_taken_over(tmp_path):
    (tmp_path / LOCK_NAME).write_text(json.dumps({"pid": 1, "host": "elsewhere.example"}))
    with pytest.raises(RunLocked, match="elsewhere.example"):
        RunLock(tmp_path).acquire()


def test_reading_a_run_that_is_still_training_warns_and_a_finished_one_does_not(tmp_path):
    """pfgm-sample / pfgm-eval on a run dir mid-training get the last mid-run export, and are told so."""
    from pfgm.core.checkpoint import resolve_checkpoint

    run = tmp_path / "run"
    train(run, max_steps=2)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # finished: no lock, no warning
        finished = resolve_checkpoint(run)
    other = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    try:
        (run / LOCK_NAME).write_text(json.dumps({"pid": other.pid, "host": socket.gethostname(), "since": "now"}))
        with pytest.warns(UserWarning, match=rf"still being trained \(pid {other.pid}.*not the final weights"):
            assert resolve_checkpoint(run) == finished
    finally:
        other.kill()
        other.wait()
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the owner is gone: a stale lock is not a training
        resolve_checkpoint(run)
    (run / LOCK_NAME).unlink()
    with warnings.catch_warnings(), RunLock(run):
        warnings.simplefilter("error")  # the training's own process reading its run dir is not warned
        resolve_checkpoint(run)


def test_lock_is_released_on_error(tmp_path):
    with pytest.raises(ValueError):
        train(tmp_path / "run", max_steps=2, backbone={"nope": 1})
    assert not (tmp_path / "run" / LOCK_NAME).exists()


# -- resume modes and the stored config -------------------------------------------------------------


def test_resume_true_without_a_checkpoint_is_an_error_and_auto_starts(tmp_path):
    with pytest.raises(FileNotFoundError, match="resume=true but run_dir .* holds no checkpoint.*resume=auto"):
        train(tmp_path / "a", max_steps=2, resume=True)
    assert not (tmp_path / "a").exists()  # a refused run leaves no folder
    out = train(tmp_path / "a", max_steps=2, resume="auto")
    assert out["step"] == 2 and not out["resumed"]


def test_resume_refuses_a_changed_model_naming_old_and_new(tmp_path):
    run = tmp_path / "r"
    train(run, max_steps=3)
    before = [p.read_bytes() for p in list_states(run)]
    with pytest.raises(ValueError, match=r"pfgm\.D: 16 -> inf.*resume=force"):
        train(run, max_steps=6, resume=True, pfgm={"D": "inf"})
    with pytest.raises(ValueError, match=r"backbone\.hidden: 32 -> 16"):
        train(run, max_steps=6, resume=True, backbone={"hidden": 16})
    with pytest.raises(ValueError, match=r"modality\.seed: 0 -> 1"):
        train(run, max_steps=6, resume="auto", modality={"seed": 1})
    assert [p.read_bytes() for p in list_states(run)] == before  # nothing overwritten
    assert json.loads((run / "config.json").read_text())["pfgm"]["D"] == 16


def test_resume_allows_length_and_logging_and_force_overrides(tmp_path, capsys):
    run = tmp_path / "r"
    train(run, max_steps=3)
    out = train(run, max_steps=5, resume=True, log_every=2, ckpt_every=4, progress=False, device="cpu")
    assert out["resumed"] and out["step"] == 5
    out = train(run, max_steps=6, resume="force", pfgm={"D": 32})
    assert out["step"] == 6 and "resume=force: continuing despite pfgm.D: 16 -> 32" in capsys.readouterr().err


def test_config_changes_classifies_fields():
    old = rel.toy_config("/r")
    new = json.loads(json.dumps(old))
    new["trainer"].update(max_steps=99, stop_after=5, lr=0.1)
    new["sampler"]["steps"] = 9
    new["recipe_name"] = "x"  # absent in the old config: a run from before recipes were recorded
    refused, noted = config_changes(old, new)
    assert refused == [] and noted == ["sampler.steps: 2 -> 9", "trainer.lr: 0.001 -> 0.1"]
    new["pfgm"]["D"] = 16.0  # same D spelt otherwise
    assert config_changes(old, new)[0] == []
    # a run from before pfgm.objective existed was trained with its default; another objective is refused
    old["pfgm"].pop("objective", None)
    new["pfgm"]["objective"] = "denoising"
    assert config_changes(old, new)[0] == []
    new["pfgm"]["objective"] = "categorical"
    assert config_changes(old, new)[0] == ["pfgm.objective: <unset> -> categorical"]


def test_bench_reuse_refuses_a_run_trained_otherwise(tmp_path):
    from pfgm.recipes.bench import run_bench

    c = {
        **rel.toy_config(None),
        "Ds": [16],
        "num_samples": 2,
        "seed": 0,
        "run_root": str(tmp_path),
        "out": None,
        "resume": True,
        "recipe_name": "toy",
    }
    c.pop("run_dir")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        first = run_bench(c)
        again = run_bench(c)  # the same settings: reused as it was, the stored training time reported
        stored = torch.load(list_states(tmp_path / "toy-D16")[-1], weights_only=True)["train_seconds"]
        assert first["rows"][0]["train_seconds"] > 0 and again["rows"][0]["train_seconds"] == round(stored, 3)
        with pytest.raises(ValueError, match=r"backbone\.hidden: 32 -> 8"):
            run_bench({**c, "backbone": {"hidden": 8}})


# -- one validation before any work -----------------------------------------------------------------


@pytest.mark.parametrize("over,key", rel.BAD_OVERRIDES, ids=[k for _, k in rel.BAD_OVERRIDES])
def test_every_bad_override_is_refused_naming_the_key(over, key):
    outcome, msg = rel.config_case(over, key)
    assert outcome == "clean", msg


def test_validation_accepts_the_shipped_recipes():
    from pfgm.recipes.cli import compose, recipe_catalogue

    for items in recipe_catalogue().values():
        for name, _ in items:
            c = compose("train", [f"recipe={name}", "run_dir=x"])
            assert check_train(c) == "never"


def test_cli_bad_value_is_one_line_exit_1_and_writes_nothing(tmp_path):
    code = "import sys; sys.argv=['pfgm-train', *sys.argv[1:]]; from pfgm.recipes.train import main; main()"
    cases = {
        "a": (["trainer.batch_size=0", f"run_dir={tmp_path / 'a' / 'x'}"], "trainer.batch_size must be ≥ 1, got 0"),
        "b": (["run_dir="], "run_dir must name the run directory"),
    }
    procs = {}
    for name, (args, _) in cases.items():  # both at once: each pays the interpreter's start-up
        (tmp_path / name).mkdir()
        procs[name] = subprocess.Popen(
            [sys.executable, "-c", code, "recipe=digits", *args],
            cwd=tmp_path / name,
            stderr=subprocess.PIPE,
            stdout=subprocess.DEVNULL,
            text=True,
            env=ENV,
        )
    for name, p in procs.items():
        _, err = p.communicate(timeout=120)
        lines = err.strip().splitlines()
        assert p.returncode == 1 and len(lines) == 1 and cases[name][1] in lines[0], err
        assert list((tmp_path / name).iterdir()) == []  # no run dir, no run written into the current directory


# -- interrupts --------------------------------------------------------------------------------------

SIGNAL_CHILD = """
import sys, time
import pfgm.reliability as rel
from pfgm.core.loss import PFGMLoss
orig = PFGMLoss.__call__
def slow(self, *a, **k):
    time.sleep(0.02)
    return orig(self, *a, **k)
PFGMLoss.__call__ = slow
from pfgm.recipes.cli import user_errors
from pfgm.recipes.train import run_training
sys.argv = ["pfgm-train", "recipe=x", "run_dir={run}"]
with user_errors("pfgm-train"):
    run_training(rel.toy_config({run!r}, max_steps=100000, ckpt_every=0))
"""


def test_signals_finish_the_step_save_and_exit_with_their_codes(tmp_path):
    procs = {}
    for sig in (signal.SIGINT, signal.SIGTERM):  # both at once: each pays the interpreter's start-up
        run = tmp_path / sig.name
        src = SIGNAL_CHILD.format(run=str(run))
        procs[sig] = (run, subprocess.Popen([sys.executable, "-c", src], cwd=ROOT, stderr=subprocess.PIPE, text=True, env=ENV))
    deadline = time.time() + 90
    for sig, (run, p) in procs.items():
        while not (run / "metrics.jsonl").exists() or (run / "metrics.jsonl").stat().st_size == 0:
            assert time.time() < deadline and p.poll() is None, "training did not start"
            time.sleep(0.05)
        time.sleep(0.2)
        p.send_signal(sig)
    for sig, (run, p) in procs.items():
        _, err = p.communicate(timeout=60)
        last = err.strip().splitlines()[-1]
        assert p.returncode == {signal.SIGINT: 130, signal.SIGTERM: 143}[sig], err
        assert "Traceback" not in err and f"interrupted by {sig.name}: checkpoint written at step" in last
        assert f"resume with: pfgm-train recipe=x run_dir={run} resume=true" in last
        states = list_states(run)
        assert len(states) == 1 and f"step {int(states[0].name[6:15])}" in last and not (run / LOCK_NAME).exists()


# -- a corrupt newest checkpoint -----------------------------------------------------------------------


def test_corrupt_latest_checkpoint_falls_back_to_the_older_one(tmp_path):
    run = tmp_path / "r"
    train(run, max_steps=6, ckpt_every=3, keep_last=3)
    newest = list_states(run)[-1]
    newest.write_bytes(newest.read_bytes()[:1000])  # truncated, as by a copy cut short
    with pytest.warns(UserWarning, match=rf"skipping unreadable checkpoint {newest}.*resuming from state-000000003.pt"):
        out = run_training(rel.toy_config(run, resume=True, max_steps=6))
    assert out["resumed_at"] == 3 and out["step"] == 6
    ref = tmp_path / "ref"
    train(ref, max_steps=6, ckpt_every=3)
    assert rel.identical(rel.final_tensors(run), rel.final_tensors(ref))


def test_no_loadable_checkpoint_is_an_error_naming_them(tmp_path):
    run = tmp_path / "r"
    train(run, max_steps=3, ckpt_every=0)
    for p in list_states(run):
        p.write_bytes(b"garbage")
    with pytest.raises(CheckpointError, match="no checkpoint loads"):
        train(run, max_steps=6, resume=True)


# -- a full disk and kill -9 ------------------------------------------------------------------------------


def test_disk_full_during_a_checkpoint_write(tmp_path):
    row = rel.disk_full_trial(tmp_path)
    assert row["errno"] == 28 and row["names_file"] and "state-000000006.pt" in row["error"], row
    assert row["previous_step"] == 3 and row["litter"] == []


def test_disk_full_is_one_line_on_the_cli(capsys):
    import errno

    from pfgm.recipes.cli import user_errors

    with pytest.raises(SystemExit) as e, user_errors("pfgm-train"):
        raise OSError(errno.ENOSPC, "No space left on device", "runs/x/checkpoints/state-000000500.pt")
    err = capsys.readouterr().err.strip().splitlines()
    assert e.value.code == 1 and err == [
        "pfgm-train: error: No space left on device writing "
        "runs/x/checkpoints/state-000000500.pt (files written before are intact)"
    ]


def _kill_trials(tmp_path: Path, n: int) -> list[dict]:
    torch.set_num_threads(1)
    ref = rel.reference_run(tmp_path)
    return [rel.kill_trial(k, tmp_path, ref) for k in range(n)]


def test_kill_9_at_random_points_resumes_bit_identical(tmp_path):
    rows = _kill_trials(tmp_path, 8)
    assert all(r["error"] is None and r["identical"] for r in rows), rows
    assert {r["phase"] for r in rows if r["killed"]} >= {"step", "checkpoint_write", "ema_export"}


@pytest.mark.slow
def test_kill_9_soak_50_trials(tmp_path):
    rows = _kill_trials(tmp_path, 50)
    assert all(r["error"] is None and r["identical"] for r in rows), [r for r in rows if r["error"] or not r["identical"]]


@pytest.mark.parametrize(
    "over,needle",
    [
        ({"num_samples": 0}, "num_samples must be a whole number ≥ 1"),
        ({"out": ""}, "out must name a folder or file"),
        ({"sampler": {"stepz": 3}}, "unknown sampler key(s) sampler.stepz"),
        ({"sampler": {"steps": "abc"}}, "sampler.steps"),
        ({"foo": 1}, "unknown top-level key(s) foo"),
        ({"pfgm": {"D": 0}}, "D"),
        ({"checkpoint": ""}, "checkpoint must name"),
        ({"sampler": {"guidance": float("nan")}}, "sampler.guidance must be a finite number"),
    ],
)
def test_sample_config_is_checked_before_loading(over, needle):
    from pfgm.recipes.cli import compose
    from pfgm.recipes.validate import check_sample

    c = compose("sample", ["checkpoint=runs/none"])
    for k, v in over.items():
        c[k] = {**c[k], **v} if isinstance(v, dict) and isinstance(c.get(k), dict) else v
    with pytest.raises(ValueError) as e:
        check_sample(c)
    assert needle in str(e.value) and "\n" not in str(e.value)
