"""pfgm-train init_from=: fine-tuning starts from another run's (or a shipped model's) EMA weights.

The toy modality of pfgm.reliability keeps the runs to seconds; one test fine-tunes the
shipped zoo:rna_hairpin on its own family and checks that it starts where the shipped model is.
"""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import pytest
import torch

import pfgm.reliability as rel

from pfgm.core.checkpoint import CheckpointError
from pfgm.core.weights import load_weights, tensors_digest
from pfgm.recipes.cli import compose
from pfgm.recipes.train import run_training
from pfgm.recipes.validate import check_train


def train(run: Path, init_from: str | None = None, backbone: dict | None = None, modality: dict | None = None, **trainer) -> dict:
    cfg = rel.toy_config(run, **trainer)
    cfg["backbone"].update(backbone or {})
    cfg["modality"].update(modality or {})
    if init_from is not None:
        cfg["init_from"] = init_from
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return run_training(cfg)


def model_weights(run: Path) -> dict[str, torch.Tensor]:
    from pfgm.core.checkpoint import load_latest_state

    return load_latest_state(run)[1]["model"]


@pytest.fixture(scope="module")
def source(tmp_path_factory) -> Path:
    run = tmp_path_factory.mktemp("src") / "run"
    train(run, max_steps=6)
    return run


def test_the_first_step_starts_from_the_source_ema(source, tmp_path):
    # at a learning rate of 1e-12 one step leaves the weights where they started: the source's EMA
    ema, _, _ = load_weights(source / "ema.safetensors")
    train(tmp_path / "ft", init_from=str(source), max_steps=1, lr=1e-12, warmup_steps=0)
    train(tmp_path / "fresh", max_steps=1, lr=1e-12, warmup_steps=0)
    tuned, fresh = model_weights(tmp_path / "ft"), model_weights(tmp_path / "fresh")
    assert set(tuned) == set(ema)
    assert max((tuned[k] - ema[k]).abs().max().item() for k in ema) < 1e-6
    assert max((fresh[k] - ema[k]).abs().max().item() for k in ema) > 1e-3  # a fresh start is elsewhere
    recorded = json.loads((tmp_path / "ft" / "config.json").read_text())["init_from"]
    assert recorded == {"checkpoint": str(source), "weights_sha256": tensors_digest(ema)}
    assert json.loads((tmp_path / "fresh" / "config.json").read_text()).get("init_from") is None


def test_a_resumed_fine_tune_keeps_its_record_and_equals_one_go(source, tmp_path):
    one = tmp_path / "one"
    train(one, init_from=str(source), max_steps=4)
    two = tmp_path / "two"
    train(two, init_from=str(source), max_steps=4, stop_after=2)
    out = train(two, init_from=None, max_steps=4, resume=True)  # the resumed invocation need not repeat init_from
    assert out["resumed"] and out["step"] == 4
    a, b = rel.final_tensors(one), rel.final_tensors(two)
    assert set(a) == set(b) and all(torch.equal(a[k], b[k]) for k in a)
    assert json.loads((two / "config.json").read_text())["init_from"]["checkpoint"] == str(source)


@pytest.mark.parametrize(
    "change, needle",
    [
        (dict(backbone={"hidden": 16}), r"backbone\.hidden: 32 -> 16"),
        (dict(modality={"dim": 6}), r"backbone\.net\.3\.bias: \(8,\) there, \(6,\) here"),  # another encoded shape
    ],
)
def test_another_network_is_refused_naming_the_field_and_leaves_nothing(source, tmp_path, change, needle):
    with pytest.raises(ValueError, match=rf"init_from=.*{needle}.*same modality encoding, backbone and objective"):
        train(tmp_path / "x", init_from=str(source), max_steps=2, **change)
    assert not (tmp_path / "x").exists()


def test_a_missing_source_names_it(tmp_path):
    with pytest.raises(CheckpointError, match="nowhere.*no such file or run directory"):
        train(tmp_path / "x", init_from=str(tmp_path / "nowhere"), max_steps=2)
    assert not (tmp_path / "x").exists()


@pytest.mark.parametrize("bad", [5, "", "  "])
def test_init_from_must_name_a_checkpoint(bad):
    with pytest.raises(ValueError, match="init_from must be a checkpoint"):
        check_train({**rel.toy_config("/r"), "init_from": bad})


def test_fine_tuning_a_shipped_model_starts_at_its_loss(tmp_path):
    # the shipped hairpin model already fits its family: its first-step loss on that family is far below a fresh net's
    def first_loss(init_from: str | None, run: Path) -> float:
        cfg = compose("train", ["recipe=rna_hairpin"] + ([f"init_from={init_from}"] if init_from else []))
        cfg["modality"]["num_sequences"] = 40  # as tests/test_recipes.py: a small family folds in seconds
        cfg["run_dir"] = str(run)
        cfg["trainer"].update(max_steps=1, batch_size=16, progress=False, preview_every=0, warmup_steps=0)
        return run_training(cfg)["loss"]

    tuned, fresh = first_loss("zoo:rna_hairpin", tmp_path / "ft"), first_loss(None, tmp_path / "fresh")
    assert tuned < 0.5 * fresh, (tuned, fresh)
