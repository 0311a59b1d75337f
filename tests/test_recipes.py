"""One training step of every shipped recipe, through run_training, then a checkpoint round trip.

Recipes whose data needs a download or an optional wheel (qm9, zinc250k, moses) run their own
backbone/trainer/pfgm settings on a small SMILES file instead: the step exercises the recipe's
configuration, not the download (which cannot run offline).
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from pfgm.core.solvers import nfe_for
from pfgm.recipes.build import RETIRED, drop_retired
from pfgm.recipes.cli import compose, recipe_catalogue
from pfgm.recipes.sample import generate_from_checkpoint
from pfgm.recipes.train import run_training

RECIPES = sorted(n for items in recipe_catalogue().values() for n, _ in items)
NEEDS_DOWNLOAD = {"qm9", "zinc250k", "moses"}
AUDIO_FILES = {"wav_folder", "sc09"}  # a user's folder / a download: a folder of tones stands in
SMILES = ["CCO", "c1ccccc1O", "CC(=O)Nc1ccc(O)cc1", "C[N+](C)(C)C", "CC(=O)[O-]", "C1CCNCC1", "OCC(O)CO", "CCN(CC)CC"]


def _override_data(name: str, cfg: dict, tmp_path: Path) -> None:
    if name == "image_folder":
        root = tmp_path / "imgs"
        root.mkdir()
        rng = np.random.default_rng(0)
        for i in range(6):
            Image.fromarray(rng.integers(0, 255, (40, 40, 3), dtype=np.uint8)).save(root / f"{i}.png")
        cfg["modality"]["root"] = str(root)
        cfg["backbone"].update(model_channels=16, channel_mult=[1, 2], num_blocks=1)
    elif name in ("cifar10", "ffhq64"):  # paper scale: a tiny archive / zip, a small DDPM++ (the full one has its own test)
        from pfgm.modalities.images.archive import write_cifar10_archive

        rng = np.random.default_rng(0)
        if name == "cifar10":
            write_cifar10_archive(
                tmp_path / "cifar-10-python.tar.gz", rng.integers(0, 256, (6, 3, 32, 32), dtype=np.uint8), rng.integers(0, 10, 6)
            )
            cfg["modality"]["root"] = str(tmp_path)
        else:
            root = tmp_path / "ffhq"
            root.mkdir()
            for i in range(6):
                Image.fromarray(rng.integers(0, 255, (64, 64, 3), dtype=np.uint8)).save(root / f"{i:05d}.png")
            cfg["modality"]["root"] = str(root)
        cfg["trainer"]["num_workers"] = 0
        cfg["backbone"].update(model_channels=16, num_blocks=1)
    elif name in NEEDS_DOWNLOAD:
        smi = tmp_path / "mols.smi"
        smi.write_text("\n".join(SMILES * 3) + "\n")
        cfg["modality"] = {**cfg["modality"], "source": "smiles", "path": str(smi), "test_fraction": 0.2}
        cfg["modality"].pop("limit", None)
    elif name in AUDIO_FILES:
        sf = pytest.importorskip("soundfile")
        root = tmp_path / "clips"
        root.mkdir()
        rate = int(cfg["modality"].get("sample_rate", 16000))
        t = np.arange(rate) / rate
        for i, f0 in enumerate((220, 330, 440, 550, 660, 880)):
            # a class-conditional recipe (sc09) needs class subfolders: low and high tones
            folder = root / ("low" if f0 < 500 else "high") if cfg["modality"].get("class_cond") else root
            folder.mkdir(exist_ok=True)
            sf.write(folder / f"tone{i}.wav", 0.5 * np.sin(2 * np.pi * f0 * t), rate, subtype="PCM_16")
        cfg["modality"] = {**cfg["modality"], "dataset": "folder", "root": str(root)}
        cfg["modality"].pop("download", None)
    if cfg["modality"].get("name") == "sequences" and "num_sequences" in cfg["modality"]:
        # generated families (OLGA, inverse folding) take minutes at full size on a fresh cache
        cfg["modality"]["num_sequences"] = 40
    if name == "grid":
        cfg["backbone"].update(depth=1)


@pytest.mark.parametrize("name", RECIPES)
def test_one_training_step(name, tmp_path):
    cfg = compose("train", [f"recipe={name}"])
    _override_data(name, cfg, tmp_path)
    cfg["run_dir"] = str(tmp_path / "run")
    cfg["trainer"].update(max_steps=1, batch_size=min(cfg["trainer"]["batch_size"], 8), progress=False, preview_every=0)
    out = run_training(cfg)
    assert out["step"] == 1 and out["loss"] == out["loss"]  # not NaN
    _, objects, info, _ = generate_from_checkpoint(
        {
            "checkpoint": str(tmp_path / "run"),
            "num_samples": 2,
            "seed": 0,
            "device": "cpu",
            "sampler": {"steps": 2},
            "progress": False,
        }
    )
    assert len(objects) == 2 and info["nfe_per_sample"] == nfe_for(cfg["sampler"]["solver"], 2)


def _sample_one_step(name: str, tmp_path: Path, sampler: dict, refuses: str | None):
    """Train ``name`` one step and sample 2 through the CLI path with ``sampler``; with ``refuses``, expect that
    error before any sampling and return None, else generate_from_checkpoint's (modality, objects, info, samples)."""
    c = {
        "checkpoint": str(_one_step_checkpoint(name, tmp_path)),
        "num_samples": 2,
        "seed": 0,
        "device": "cpu",
        "sampler": {"steps": 3, **sampler},
        "progress": False,
    }
    if refuses is None:
        return generate_from_checkpoint(c)
    with pytest.raises(ValueError, match=refuses):
        generate_from_checkpoint(c)
    return None


def _one_step_checkpoint(name: str, tmp_path: Path, overrides: list[str] = ()) -> Path:
    cfg = compose("train", [f"recipe={name}", *overrides])
    _override_data(name, cfg, tmp_path)
    cfg["run_dir"] = str(tmp_path / "run")
    cfg["trainer"].update(max_steps=1, batch_size=4, progress=False, preview_every=0)
    run_training(cfg)
    return tmp_path / "run"


@pytest.mark.parametrize("name, snaps", [("rna_hairpin", True), ("community_small", True), ("tones", False)])
def test_snapping_on_a_checkpoint(name, snaps, tmp_path):
    """sampler.snap_below through the CLI path: categorical modalities snap, continuous ones refuse first."""
    out = _sample_one_step(name, tmp_path, {"snap_below": 100.0}, None if snaps else "no snapping")
    if out is None:
        return
    modality, objects, info, samples = out
    assert info["snap_below"] == 100.0 and len(objects) == 2
    # every step snapped, the last Euler step lands on the snapped estimate: x is clean data
    assert torch.equal(samples.x, modality.snap(samples.x, samples.mask))


@pytest.mark.parametrize("name, connects", [("community_small", True), ("tones", False)])
def test_connecting_on_a_checkpoint(name, connects, tmp_path):
    """sampler.connect_sigma_* through the CLI path: graph modalities bridge, others refuse before sampling."""
    out = _sample_one_step(
        name, tmp_path, {"connect_sigma_min": 0.0, "connect_sigma_max": 100.0}, None if connects else "no connecting"
    )
    if out is None:
        return
    _, objects, info, _ = out
    assert info["connect_sigma"] == [0.0, 100.0] and len(objects) == 2


def test_categorical_objective_through_the_cli_path(tmp_path):
    """pfgm.objective=categorical trains the softmax head by cross-entropy and its checkpoint rebuilds it;
    a modality whose data is not one-hot refuses it before training."""
    from pfgm.core.precond import CategoricalDenoiser
    from pfgm.recipes.build import load_checkpoint

    cfg = compose("train", ["recipe=rna_hairpin", "pfgm.objective=categorical"])
    _override_data("rna_hairpin", cfg, tmp_path)
    cfg["run_dir"] = str(tmp_path / "run")
    cfg["trainer"].update(max_steps=2, batch_size=4, progress=False, preview_every=0)
    out = run_training(cfg)
    # the backbone's zero-initialised output gives uniform logits: a cross-entropy of log 4 over the 4 bases
    # (the squared-error objective gives 0.98 on the same two steps)
    assert abs(out["loss"] - math.log(4)) < 0.01
    _, den, config = load_checkpoint(tmp_path / "run")
    assert isinstance(den, CategoricalDenoiser) and config["pfgm"]["objective"] == "categorical"
    _, objects, _, samples = generate_from_checkpoint(
        {
            "checkpoint": str(tmp_path / "run"),
            "num_samples": 3,
            "seed": 0,
            "device": "cpu",
            "sampler": {"steps": 3},
            "progress": False,
        }
    )
    assert len(objects) == 3 and torch.isfinite(samples.x).all()

    bad = compose("train", ["recipe=tones", "pfgm.objective=categorical"])
    bad["run_dir"] = str(tmp_path / "tones")
    bad["trainer"].update(max_steps=1, batch_size=4, progress=False, preview_every=0)
    with pytest.raises(ValueError, match="objective=categorical needs data that is one-hot"):
        run_training(bad)


@pytest.mark.parametrize("name, steers", [("rna_trna", True), ("tones", False)])
def test_steering_on_a_checkpoint(name, steers, tmp_path):
    """sampler.particles through the CLI path: an RNA family (its recipe trains with fold features)
    steers by its folding reward, one output per sample; a modality without a reward refuses first."""
    out = _sample_one_step(name, tmp_path, {"particles": 3, "steer_lambda": 5.0}, None if steers else "no reward")
    if out is None:
        return
    modality, objects, info, samples = out
    assert info["particles"] == 3 and len(objects) == 2 and samples.x.shape[0] == 2
    assert modality.reward(samples.x, samples.mask).shape == (2,)


@pytest.mark.parametrize("section, key, off", [(s, k, off) for (s, k), off in RETIRED.items()])
def test_a_retired_option_at_its_off_value_is_dropped_and_at_another_value_refused(section, key, off, tmp_path):
    from pfgm.core.checkpoint import CheckpointError

    on = (not off) if isinstance(off, bool) else off + 2
    config = {section: {"width": 8, key: off}, "pfgm": {"D": 128}}
    assert drop_retired(config, tmp_path / "run") == {section: {"width": 8}, "pfgm": {"D": 128}}
    assert key in config[section]  # the caller's config is left as it was
    with pytest.raises(CheckpointError, match=rf"{section}\.{key}={on!r}, an option this version of pfgm removed") as e:
        drop_retired({section: {key: on}}, tmp_path / "run")
    assert str(tmp_path / "run") in str(e.value)
