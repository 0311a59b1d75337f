"""The engine through the recipe code: a third-party adapter (the shared toy ring), exact resume, DDP equivalence."""

from __future__ import annotations

import json
import math
import os
import socket
from pathlib import Path

import pytest
import torch
from torch import nn

from pfgm.modalities.base import register_modality
from pfgm.core.checkpoint import CheckpointError, latest_state_path, load_state
from pfgm.core.weights import load_weights
from pfgm.core.distributed import init_distributed
from pfgm.recipes.cli import compose
from pfgm.recipes.sample import generate_from_checkpoint
from pfgm.recipes.train import run_training
from toy_modality import Ring, RingNet


def _points_cfg(run_dir: Path, **trainer) -> dict:
    cfg = compose("train", ["recipe=digits"])
    cfg.update(modality={"name": "ring_test", "n": 1024}, backbone={"hidden": 64}, run_dir=str(run_dir))
    cfg["trainer"].update(
        dict(progress=False, warmup_steps=10, log_every=10, ckpt_every=100, preview_every=0, lr=3e-3, ema_halflife_kimg=5.0),
        **trainer,
    )
    cfg["sampler"].update(steps=18)
    return cfg


def _sample_config(run, num_samples: int) -> dict:
    """pfgm-sample's config for ``run`` on the CPU at seed 0, the checkpoint's own sampler."""
    return {"checkpoint": str(run), "num_samples": num_samples, "seed": 0, "device": "cpu", "sampler": {}, "progress": False}


def test_third_party_adapter_trains_and_samples(tmp_path):
    cfg = _points_cfg(tmp_path / "run", max_steps=400, batch_size=128, lr=1e-2)
    cfg["pfgm"].update(D=4, sigma_data="auto")
    cfg["backbone"]["hidden"] = 128
    out = run_training(cfg)
    assert out["step"] == 400 and math.isfinite(out["loss"])
    _, cfg_back, meta = load_weights(tmp_path / "run" / "ema.safetensors")
    assert cfg_back["modality"]["name"] == "ring_test" and cfg_back["pfgm"]["D"] == 4
    assert math.isclose(cfg_back["pfgm"]["sigma_data"], math.sqrt(0.5), rel_tol=1e-3)  # RMS of a unit ring's coords
    modality, objects, info, _ = generate_from_checkpoint(_sample_config(tmp_path / "run", 256))
    assert info["nfe_per_sample"] == 35 and len(objects) == 256
    err = modality.evaluate(objects).metrics["ring_error"]
    # untrained (prior draws at σ_max = 80) would be ~50; the learnt ring is ~0.08 (measured)
    assert err < 0.15, err


def _tiny_digits_cfg(run_dir: Path, **trainer) -> dict:
    cfg = compose("train", ["recipe=digits"])
    cfg["backbone"].update(model_channels=8, dropout=0.1)  # dropout: the resume must restore the RNG too
    cfg["run_dir"] = str(run_dir)
    cfg["trainer"].update(
        dict(progress=False, batch_size=16, warmup_steps=2, log_every=2, ckpt_every=3, preview_every=0), **trainer
    )
    return cfg


def test_resume_is_bit_exact(tmp_path):
    """6 steps in one go == 3 steps, stop, resume 3 more — bit for bit (dropout RNG and the
    cosine LR schedule, which depends on max_steps, included)."""
    run_training(_tiny_digits_cfg(tmp_path / "a", max_steps=6, lr_decay="cosine"))
    run_training(_tiny_digits_cfg(tmp_path / "b", max_steps=6, lr_decay="cosine", stop_after=3))
    out = run_training({**_tiny_digits_cfg(tmp_path / "b", max_steps=6, lr_decay="cosine"), "resume": True})
    assert out["resumed"] and out["step"] == 6
    a = load_state(latest_state_path(tmp_path / "a"))
    b = load_state(latest_state_path(tmp_path / "b"))
    for key in ("model",):
        for name, t in a[key].items():
            assert torch.equal(t, b[key][name]), name
    for name, t in a["ema"]["model"].items():
        assert torch.equal(t, b["ema"]["model"][name]), name
    assert a["cur_nimg"] == b["cur_nimg"] == 96
    # the state carries the wall time of every leg, so a reused run still reports its cost
    b_leg1 = load_state(tmp_path / "b" / "checkpoints" / "state-000000003.pt")["train_seconds"]
    assert a["train_seconds"] > 0 and 0 < b_leg1 < b["train_seconds"]
    # metrics.jsonl: increasing steps, nothing duplicated by the resume (3 = the end of the first leg)
    steps = [json.loads(line)["step"] for line in (tmp_path / "b" / "metrics.jsonl").read_text().splitlines()]
    assert steps == [2, 3, 4, 6]


def test_a_run_from_before_an_option_was_retired_resumes_when_it_had_it_off(tmp_path):
    """A state whose config carries a RETIRED option (recipes.build) at its off value resumes under a
    config without it; at another value the resume is refused naming it."""
    run = tmp_path / "run"
    run_training(_points_cfg(run, max_steps=2, ckpt_every=2))
    for value, steps in ((False, 4), (True, 6)):
        path = latest_state_path(run)
        state = load_state(path)
        state["config"]["backbone"]["triangle"] = value
        torch.save(state, path)
        cfg = {**_points_cfg(run, max_steps=steps, ckpt_every=2), "resume": True}
        if value:
            with pytest.raises(CheckpointError, match=r"backbone\.triangle=True, an option this version of pfgm removed"):
                run_training(cfg)
        else:
            out = run_training(cfg)
            assert out["resumed"] and out["step"] == steps


def test_refuses_to_overwrite_a_run(tmp_path):
    run_training(_tiny_digits_cfg(tmp_path / "a", max_steps=3))
    before = sorted(p.name for p in (tmp_path / "a" / "checkpoints").iterdir())
    with pytest.raises(FileExistsError, match="resume=true"):
        run_training(_tiny_digits_cfg(tmp_path / "a", max_steps=6))
    assert sorted(p.name for p in (tmp_path / "a" / "checkpoints").iterdir()) == before


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _ddp_params_worker(rank: int, world: int, port: int, run_dir: str, result_dir: str) -> None:
    # trains as one rank of `world` and saves this rank's in-memory parameters
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port), RANK=str(rank), WORLD_SIZE=str(world), LOCAL_RANK=str(rank))
    torch.set_num_threads(1)
    from pfgm.core import trainer as trainer_mod

    captured = {}
    orig_fit = trainer_mod.Trainer.fit

    def fit(self):
        out = orig_fit(self)
        captured.update({k: v.detach().clone() for k, v in self.model.module.state_dict().items()})
        return out

    trainer_mod.Trainer.fit = fit
    dist = init_distributed("cpu")
    run_training(_points_cfg(Path(run_dir), max_steps=8, batch_size=32, grad_accum=2), dist)
    torch.save(captured, os.path.join(result_dir, f"params{rank}.pt"))
    torch.distributed.destroy_process_group()


def test_ddp_two_ranks_equal_single_process(tmp_path):
    run_ddp = tmp_path / "ddp"
    torch.multiprocessing.spawn(_ddp_params_worker, args=(2, _free_port(), str(run_ddp), str(tmp_path)), nprocs=2, join=True)
    p0 = torch.load(tmp_path / "params0.pt", weights_only=True)
    p1 = torch.load(tmp_path / "params1.pt", weights_only=True)
    for k in p0:
        assert torch.equal(p0[k], p1[k]), k  # DDP keeps ranks identical
    single = run_training(_points_cfg(tmp_path / "single", max_steps=8, batch_size=32, grad_accum=1))
    assert single["step"] == 8
    ref = load_state(latest_state_path(tmp_path / "single"))["model"]
    for k in p0:
        torch.testing.assert_close(p0[k], ref[k], rtol=1e-4, atol=1e-5)
    # one run dir, written by rank 0 only
    assert sorted(p.name for p in tmp_path.iterdir() if p.is_dir()) == ["ddp", "single"]
    assert latest_state_path(run_ddp) is not None


def test_lr_schedule_warmup_and_cosine():
    from pfgm.core.trainer import Trainer, TrainerConfig

    cfg = TrainerConfig(lr=1.0, warmup_steps=10, max_steps=100, lr_decay="cosine")
    t = Trainer.__new__(Trainer)  # _lr only reads the config
    t.cfg = cfg
    assert t._lr(0) == pytest.approx(0.1 * 0.5 * (1 + math.cos(0)))
    assert t._lr(50) == pytest.approx(0.5)  # warm-up done, half-way down the cosine
    assert t._lr(100) == pytest.approx(0.0, abs=1e-12)
    with pytest.raises(ValueError, match="trainer.lr_decay"):  # refused where the config is made, not at step 5
        TrainerConfig(lr=1.0, warmup_steps=10, max_steps=100, lr_decay="step")


_SEEN_DTYPES: list[torch.dtype] = []


class _DtypeMLP(RingNet):
    def forward(self, x_in, c_noise, cond=None, mask=None):
        out = super().forward(x_in, c_noise, cond, mask)
        _SEEN_DTYPES.append(out.dtype)
        return out


@register_modality("ring_dtype_test")
class _DtypePoints(Ring):
    def backbone(self, hidden: int = 64) -> nn.Module:
        return _DtypeMLP(hidden)


@pytest.mark.parametrize("bf16", [False, True])
def test_bf16_autocast_trains_in_bf16_and_still_learns(tmp_path, bf16):
    cfg = _points_cfg(tmp_path / "run", max_steps=300, batch_size=128, lr=1e-2, bf16=bf16)
    cfg["modality"]["name"] = "ring_dtype_test"
    cfg["pfgm"].update(D=4, sigma_data="auto")
    cfg["backbone"]["hidden"] = 128
    _SEEN_DTYPES.clear()
    out = run_training(cfg)
    assert math.isfinite(out["loss"])
    assert set(_SEEN_DTYPES) == {torch.bfloat16 if bf16 else torch.float32}  # the net really ran in bf16
    # the exported weights are float32 either way (autocast casts activations, not parameters)
    state, _, _ = load_weights(tmp_path / "run" / "ema.safetensors")
    assert all(t.dtype == torch.float32 for t in state.values())
    modality, objects, _, _ = generate_from_checkpoint(_sample_config(tmp_path / "run", 256))
    err = modality.evaluate(objects).metrics["ring_error"]
    assert err < 0.2, err  # untrained: ~50


def test_sample_time_modality_options_reach_the_sampler(tmp_path):
    run_training(_tiny_digits_cfg(tmp_path / "run", max_steps=2))
    base = {
        "checkpoint": str(tmp_path / "run"),
        "num_samples": 4,
        "seed": 0,
        "device": "cpu",
        "sampler": {"steps": 2},
        "progress": False,
    }
    modality, objects, _, _ = generate_from_checkpoint({**base, "modality": {"label": 4, "num_nodes": None}})
    assert len(objects) == 4 and modality.label == 4
    assert (modality.blank(4, torch.Generator()).cond == 4).all()
    with pytest.raises(ValueError, match="no sample-time option num_nodes"):
        generate_from_checkpoint({**base, "modality": {"num_nodes": 5}})
