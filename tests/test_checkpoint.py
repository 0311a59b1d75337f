"""Tests for pfgm_core.checkpoint: atomic writes, state/weights round trips, refusal of bad files, kill -9 safety."""

from __future__ import annotations

import math
import os
import pickle
import random
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
import torch
from safetensors.torch import save_file
from torch import nn

from pfgm.core.atomic import atomic_torch_save, atomic_write_bytes
from pfgm.core.checkpoint import (
    CheckpointError,
    STATE_FORMAT,
    latest_state_path,
    list_states,
    load_state,
    resolve_checkpoint,
    save_state,
)
from pfgm.core.rng import rng_state, set_rng_state
from pfgm.core.weights import WEIGHTS_FORMAT, export_weights, load_weights
from pfgm.core.ema import EMA

REPO = Path(__file__).resolve().parents[1]


def _assert_error(path: Path, fn, *args, match: str | None = None) -> CheckpointError:
    with pytest.raises(CheckpointError) as info:
        fn(*args)
    msg = str(info.value)
    assert str(path) in msg, msg
    assert "\n" not in msg, msg
    if match is not None:
        assert match in msg, msg
    return info.value


def _training_state() -> dict:
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(4, 8), nn.SiLU(), nn.Linear(8, 4))
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    model(torch.randn(2, 4)).square().mean().backward()
    opt.step()
    ema = EMA(model)
    return {
        "model": model.state_dict(),
        "ema": ema.state_dict(),
        "optimizer": opt.state_dict(),
        "cur_nimg": 1234,
        "rng": rng_state(),
        "config": {"pfgm": {"D": math.inf, "sigma_max": 80.0}, "name": "digits", "tags": ["a", 1, None, True]},
    }


# ------------------------------------------------------------------------------------------------ state


def test_state_round_trip(tmp_path):
    state = _training_state()
    path = save_state(tmp_path, 7, state)
    assert path == tmp_path / "checkpoints" / "state-000000007.pt"
    assert "format" not in state  # the caller's dict is not modified
    loaded = load_state(path)
    assert loaded["format"] == STATE_FORMAT and loaded["step"] == 7 and loaded["cur_nimg"] == 1234
    assert loaded["config"] == state["config"]
    for k, v in state["model"].items():
        assert torch.equal(loaded["model"][k], v)
    assert loaded["optimizer"]["param_groups"] == state["optimizer"]["param_groups"]
    torch.testing.assert_close(loaded["optimizer"]["state"][0]["exp_avg"], state["optimizer"]["state"][0]["exp_avg"])
    # the loaded pieces drive the real objects again
    model = nn.Sequential(nn.Linear(4, 8), nn.SiLU(), nn.Linear(8, 4))
    model.load_state_dict(loaded["model"])
    torch.optim.Adam(model.parameters()).load_state_dict(loaded["optimizer"])
    EMA(model).load_state_dict(loaded["ema"])
    assert latest_state_path(tmp_path) == path


def test_keep_last_pruning(tmp_path):
    for step in [1, 2, 3, 10, 20, 1000]:
        save_state(tmp_path, step, {"x": torch.tensor(step)}, keep_last=3)
    assert [p.name for p in list_states(tmp_path)] == ["state-000000010.pt", "state-000000020.pt", "state-000001000.pt"]
    assert latest_state_path(tmp_path).name == "state-000001000.pt"
    save_state(tmp_path, 1001, {}, keep_last=None)
    assert len(list_states(tmp_path)) == 4
    with pytest.raises(ValueError):
        save_state(tmp_path, 1002, {"step": 5})


def test_latest_ignores_temp_and_foreign_names(tmp_path):
    assert latest_state_path(tmp_path) is None
    save_state(tmp_path, 5, {})
    ck = tmp_path / "checkpoints"
    (ck / ".state-000000099.pt.x1y2.tmp").write_bytes(b"partial")
    (ck / "state-000000098.pt.partial").write_bytes(b"partial")
    (ck / "state-97.pt").write_bytes(b"partial")
    assert latest_state_path(tmp_path).name == "state-000000005.pt"
    assert latest_state_path(ck).name == "state-000000005.pt"  # the checkpoints dir itself works too
    save_state(tmp_path, 6, {})  # a new save clears temp litter left by a killed writer
    assert not (ck / ".state-000000099.pt.x1y2.tmp").exists()


def test_save_state_rejects_non_plain(tmp_path):
    class Config(dict):
        pass

    for bad in [{"cfg": Config(a=1)}, {"obj": object()}, {"nested": [1, {"s": {1, 2}}]}]:
        with pytest.raises(TypeError):
            save_state(tmp_path, 1, bad)
    assert latest_state_path(tmp_path) is None


@pytest.mark.parametrize("kind", ["missing", "empty", "truncated", "random", "foreign", "unknown_format", "safetensors", "dir"])
def test_load_state_errors(tmp_path, kind):
    path = tmp_path / "state-000000001.pt"
    if kind == "empty":
        path.write_bytes(b"")
    elif kind == "truncated":
        good = save_state(tmp_path, 1, {"x": torch.randn(10_000)})
        data = good.read_bytes()
        path = tmp_path / "cut.pt"
        path.write_bytes(data[: len(data) // 2])
    elif kind == "random":
        path.write_bytes(random.Random(0).randbytes(4096))
    elif kind == "foreign":
        torch.save({"hello": 1}, path)
    elif kind == "unknown_format":
        torch.save({"format": "someone-else-v3"}, path)
    elif kind == "safetensors":
        path = export_weights(tmp_path / "w.safetensors", {"a": torch.ones(2)}, {})
    elif kind == "dir":
        path = tmp_path
    match = {"missing": "no such", "foreign": "format", "unknown_format": "someone-else-v3", "safetensors": "load_weights"}.get(
        kind
    )
    _assert_error(path, load_state, path, match=match)


class _Payload:
    def __init__(self, cmd: str) -> None:
        self.cmd = cmd

    def __reduce__(self):
        return (os.system, (self.cmd,))


@pytest.mark.parametrize("writer", ["torch", "pickle"])
def test_code_execution_payload_is_refused(tmp_path, writer):
    marker = tmp_path / "pwned"
    path = tmp_path / "checkpoints" / "state-000000001.pt"
    path.parent.mkdir()
    payload = {"format": STATE_FORMAT, "model": _Payload(f"touch {marker}")}
    if writer == "torch":
        torch.save(payload, path)
    else:
        with open(path, "wb") as f:
            pickle.dump(payload, f, protocol=4)
    err = _assert_error(path, load_state, path, match="execute code")
    assert "refused" in str(err)
    assert not marker.exists()
    _assert_error(path, load_state, resolve_checkpoint(tmp_path))
    assert not marker.exists()
    # The payload is real: an unsafe loader would have run it (this is what weights_only prevents).
    if writer == "torch":
        proof = tmp_path / "proof"
        torch.save({"x": _Payload(f"touch {proof}")}, tmp_path / "proof.pt")
        torch.load(tmp_path / "proof.pt", weights_only=False)
        assert proof.exists()


_KILL_SCRIPT = textwrap.dedent(
    """
    import sys, torch
    from pfgm.core.checkpoint import save_state
    run_dir = sys.argv[1]
    n = 12_500_000  # 50 MB of float32 per tensor
    for step in range(1, 400):
        x = torch.full((n,), float(step))
        save_state(run_dir, step, {"x": x, "y": x[: n // 4].clone(), "tail": torch.tensor(step)}, keep_last=2)
    """
)


def test_kill_9_during_write_leaves_a_loadable_latest(tmp_path):
    run_dir = tmp_path / "run"
    env = dict(os.environ, PYTHONPATH=str(REPO) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    proc = subprocess.Popen([sys.executable, "-c", _KILL_SCRIPT, str(run_dir)], env=env)
    ck = run_dir / "checkpoints"
    killed_mid_write = False
    try:
        deadline = time.monotonic() + 25
        while latest_state_path(run_dir) is None:
            assert proc.poll() is None, "writer exited early"
            assert time.monotonic() < deadline, "no checkpoint appeared"
            time.sleep(0.01)
        # Now wait for the next write to be in flight (its temp file exists) and kill -9 right then.
        while time.monotonic() < deadline:
            if any(ck.glob(".state-*.tmp")):
                os.kill(proc.pid, signal.SIGKILL)
                killed_mid_write = True
                break
            time.sleep(0.0005)
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait(timeout=30)
    assert killed_mid_write
    assert proc.returncode == -signal.SIGKILL
    states = list_states(run_dir)
    assert states and all(p.name.startswith("state-") for p in states)
    for p in states:  # every file that looks like a checkpoint is a complete one
        st = load_state(p)
        assert torch.all(st["x"] == st["step"]) and st["x"].numel() == 12_500_000
        assert int(st["tail"]) == st["step"] and torch.all(st["y"] == st["step"])
    assert load_state(latest_state_path(run_dir))["step"] == max(load_state(p)["step"] for p in states)


def test_atomic_write_failure_keeps_old_file(tmp_path):
    path = tmp_path / "f.pt"
    atomic_torch_save({"a": 1}, path)
    with pytest.raises(Exception):
        atomic_torch_save({"a": lambda: 0}, path)  # cannot be pickled: fails mid-write
    assert torch.load(path, weights_only=True) == {"a": 1}
    assert sorted(p.name for p in tmp_path.iterdir()) == ["f.pt"]
    atomic_write_bytes(tmp_path / "b.bin", b"xyz")
    assert (tmp_path / "b.bin").read_bytes() == b"xyz"
    umask = os.umask(0)
    os.umask(umask)
    assert (path.stat().st_mode & 0o777) == (0o666 & ~umask)  # like open(), not mkstemp's 0600


# ------------------------------------------------------------------------------------------------ RNG


def _draw(gen: torch.Generator) -> tuple:
    return (torch.rand(5).tolist(), random.random(), random.gauss(0, 1), torch.randn(3, generator=gen).tolist())


def test_rng_round_trip_through_checkpoint(tmp_path):
    gen = torch.Generator().manual_seed(3)
    torch.manual_seed(1)
    random.seed(2)
    random.gauss(0, 1)  # leaves a cached gaussian in Python's state
    save_state(tmp_path, 1, {"rng": rng_state({"sampler": gen})})
    first = _draw(gen)
    torch.manual_seed(99)
    random.seed(99)
    gen.manual_seed(99)
    set_rng_state(load_state(latest_state_path(tmp_path))["rng"], {"sampler": gen})
    assert _draw(gen) == first


def test_rng_numpy_when_imported():
    np = pytest.importorskip("numpy")
    np.random.seed(5)
    st = rng_state()
    a = np.random.rand(4)
    np.random.seed(6)
    set_rng_state(st)
    assert np.array_equal(np.random.rand(4), a)


# ------------------------------------------------------------------------------------------------ weights


def test_weights_round_trip(tmp_path):
    lin = nn.Linear(3, 3)
    shared = torch.randn(4, 6)
    sd = {"w": lin.weight, "tied_a": shared, "tied_b": shared, "view_t": shared.t(), "half": torch.ones(2, dtype=torch.float16)}
    config = {"pfgm": {"D": math.inf}, "modality": "images", "channels": [32, 64], "flag": False, "none": None}
    path = export_weights(tmp_path / "ema.safetensors", sd, config, meta={"step": 10, "kind": "ema", "hist": [1.5, 2]})
    loaded, cfg, meta = load_weights(path)
    assert cfg == config and math.isinf(cfg["pfgm"]["D"])
    assert meta == {"step": 10, "kind": "ema", "hist": [1.5, 2]}
    assert set(loaded) == set(sd)
    for k, v in sd.items():
        assert torch.equal(loaded[k], v.detach()) and loaded[k].dtype == v.dtype
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ema.safetensors"]  # no temp left behind


def test_export_weights_rejects_bad_input(tmp_path):
    with pytest.raises(TypeError):
        export_weights(tmp_path / "a.safetensors", {"a": torch.ones(1)}, {"fn": object()})
    with pytest.raises(ValueError):
        export_weights(tmp_path / "a.safetensors", {"a": torch.ones(1)}, {}, meta={"format": "x"})
    with pytest.raises(TypeError):
        export_weights(tmp_path / "a.safetensors", {"a": 1.0}, {})
    assert not any(tmp_path.iterdir())


@pytest.mark.parametrize("kind", ["missing", "truncated", "random", "no_metadata", "other_format", "torch_file"])
def test_load_weights_errors(tmp_path, kind):
    path = tmp_path / "w.safetensors"
    if kind == "truncated":
        good = export_weights(tmp_path / "good.safetensors", {"a": torch.randn(1000)}, {"x": 1})
        path.write_bytes(good.read_bytes()[:-100])
    elif kind == "random":
        path.write_bytes(random.Random(1).randbytes(2048))
    elif kind == "no_metadata":
        save_file({"a": torch.ones(3)}, str(path))
    elif kind == "other_format":
        save_file({"a": torch.ones(3)}, str(path), metadata={"format": "pt"})
    elif kind == "torch_file":
        torch.save({"hello": 1}, path)
    match = {"missing": "no such", "no_metadata": "pfgm metadata", "other_format": "'pt'"}.get(kind)
    _assert_error(path, load_weights, path, match=match)


# ------------------------------------------------------------------------------------------------ resolve


def test_resolve_checkpoint(tmp_path):
    run = tmp_path / "run"
    _assert_error(run, resolve_checkpoint, run, match="no such")
    run.mkdir()
    _assert_error(run, resolve_checkpoint, run, match="ema.safetensors")
    s1 = save_state(run, 1, {})
    s2 = save_state(run, 2, {})
    assert resolve_checkpoint(run) == s2
    assert resolve_checkpoint(run / "checkpoints") == s2
    assert resolve_checkpoint(s1) == s1
    ema = export_weights(run / "ema.safetensors", {"a": torch.ones(1)}, {})
    assert resolve_checkpoint(run) == ema
    assert resolve_checkpoint(ema) == ema
    other = tmp_path / "notes.txt"
    other.write_text("hi")
    _assert_error(other, resolve_checkpoint, other)
    assert load_weights(resolve_checkpoint(run))[0]["a"].item() == 1.0
    assert load_state(resolve_checkpoint(s2))["format"] == STATE_FORMAT
    assert WEIGHTS_FORMAT == "pfgm-weights-v1"


def test_weights_digest_refuses_a_flipped_tensor_bit(tmp_path):
    from pfgm.core.weights import DIGEST_KEY

    path = export_weights(tmp_path / "w.safetensors", {"a": torch.arange(64, dtype=torch.float32)}, {"x": 1})
    state, _, meta = load_weights(path)
    assert torch.equal(state["a"], torch.arange(64, dtype=torch.float32)) and DIGEST_KEY not in meta
    data = bytearray(path.read_bytes())
    data[-3] ^= 0x10  # inside the last float's bytes: safetensors alone would load it
    path.write_bytes(bytes(data))
    with pytest.raises(CheckpointError, match="digest"):
        load_weights(path)
