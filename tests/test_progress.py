"""Tests for pfgm_core.progress: MetricsLogger (append, resume truncation, torn lines, TensorBoard hook) and Progress."""

from __future__ import annotations

import json

import pytest

import torch

from pfgm.core import progress as P
from pfgm.core.progress import MetricsLogger, Progress, read_metrics


def test_logs_json_lines_flushed_each_line(tmp_path):
    logger = MetricsLogger(tmp_path / "run", enabled=True, tensorboard=False)
    logger.log(1, {"loss": torch.tensor(0.5)}, lr=1e-3)
    # flushed: readable from disk while the logger is still open
    rows = [json.loads(line) for line in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()]
    assert rows[0]["step"] == 1 and rows[0]["loss"] == 0.5 and rows[0]["lr"] == 1e-3 and "time" in rows[0]
    logger.log(2, loss=float("nan"), note="ok")
    logger.close()
    rows = read_metrics(tmp_path / "run")
    assert [r["step"] for r in rows] == [1, 2] and rows[1]["loss"] != rows[1]["loss"] and rows[1]["note"] == "ok"


def test_resume_appends_and_truncates(tmp_path):
    with MetricsLogger(tmp_path, enabled=True, tensorboard=False) as logger:
        for step in range(1, 11):
            logger.log(step, loss=1.0 / step)
    # crash after step 10, resume from the checkpoint at step 6: steps 7..10 are re-done
    with MetricsLogger(tmp_path, enabled=True, tensorboard=False) as logger:
        assert logger.truncate_after(6) == 4
        for step in range(7, 9):
            logger.log(step, loss=-1.0)
    rows = read_metrics(tmp_path)
    assert [r["step"] for r in rows] == list(range(1, 9))
    assert [r["loss"] for r in rows[6:]] == [-1.0, -1.0]
    assert all(r["loss"] > 0 for r in rows[:6])


def test_torn_last_line_is_repaired(tmp_path):
    path = tmp_path / "metrics.jsonl"
    path.write_text('{"step": 1, "loss": 1.0}\n{"step": 2, "lo')  # killed mid-line
    assert [r["step"] for r in read_metrics(path)] == [1]
    logger = MetricsLogger(tmp_path, enabled=True, tensorboard=False)
    logger.log(3, loss=0.1)  # starts on a fresh line, so it stays parseable
    assert [r["step"] for r in logger.read()] == [1, 3]
    assert logger.truncate_after(5) == 1  # the torn line is dropped on resume
    assert path.read_text().count("\n") == 2
    logger.log(4, loss=0.2)
    logger.close()
    assert [r["step"] for r in read_metrics(path)] == [1, 3, 4]


def test_disabled_writes_nothing(tmp_path):
    logger = MetricsLogger(tmp_path / "run", enabled=False)
    logger.log(1, loss=1.0)
    assert logger.truncate_after(0) == 0
    logger.close()
    assert not (tmp_path / "run").exists()


def test_default_enabled_follows_rank(tmp_path, monkeypatch):
    monkeypatch.setenv("RANK", "1")
    assert not MetricsLogger(tmp_path).enabled and not Progress(10).enabled
    monkeypatch.setenv("RANK", "0")
    assert MetricsLogger(tmp_path, tensorboard=False).enabled


def test_tensorboard_mirror(tmp_path, monkeypatch):
    calls = []

    class FakeWriter:
        def __init__(self, log_dir, purge_step):
            calls.append(("init", log_dir, purge_step))

        def add_scalar(self, tag, value, step):
            calls.append((tag, value, step))

        def flush(self):
            pass

        def close(self):
            calls.append(("close",))

    monkeypatch.setattr(P, "_make_tb_writer", lambda log_dir, purge_step: FakeWriter(log_dir, purge_step))
    logger = MetricsLogger(tmp_path, enabled=True)
    logger.log(5, loss=0.25, name="x", ok=True, inf=float("inf"))
    logger.truncate_after(3)
    logger.log(4, loss=0.5)
    logger.close()
    assert calls[0] == ("init", tmp_path / "tb", None)
    assert ("loss", 0.25, 5) in calls and not any(c[0] in ("name", "ok", "inf", "step", "time") for c in calls)
    assert ("init", tmp_path / "tb", 4) in calls  # events after the resumed step are purged
    assert ("loss", 0.5, 4) in calls


def test_tensorboard_absent_is_silent(tmp_path, monkeypatch):
    monkeypatch.setattr(P, "_make_tb_writer", lambda log_dir, purge_step: None)
    with MetricsLogger(tmp_path, enabled=True) as logger:
        logger.log(1, loss=1.0)
    assert len(read_metrics(tmp_path)) == 1


def test_progress_bar(capsys):
    with Progress(total=5, initial=2, enabled=True, desc="train", unit="step") as bar:
        bar.update(1, loss=torch.tensor(0.123456), lr=1e-4)
        bar.update(2)
    err = capsys.readouterr().err
    assert "train" in err and "5/5" in err and "loss=0.1235" in err
    quiet = Progress(total=5, enabled=False)
    quiet.update(3, loss=1.0)
    quiet.close()
    assert quiet.n == 3 and capsys.readouterr().err == ""


def test_close_draws_the_metrics_beside_the_file(tmp_path):
    pytest.importorskip("matplotlib")
    from pfgm.core.progress import MetricsLogger

    log = MetricsLogger(tmp_path, enabled=True, tensorboard=False)
    for s in range(1, 6):
        log.log(s, loss=1.0 / s, lr=0.1)
    log.close()
    png = tmp_path / "metrics.png"
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    empty = MetricsLogger(tmp_path / "none", enabled=True)
    empty.close()  # nothing logged: no plot, no folder
    assert not (tmp_path / "none").exists()
