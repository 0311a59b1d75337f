"""The Python API (pfgm.load, sample, stream, write, evaluate, pfgm.train) against the console scripts it
must equal object for object and weight for weight, its errors, and the README's and docstrings' examples, run."""

from __future__ import annotations

import doctest
import math
import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

import pfgm
from pfgm import zoo as pfgm_zoo
from pfgm.core.weights import load_weights
from pfgm.recipes.sample import generate_from_checkpoint

ROOT = Path(__file__).resolve().parents[1]
ENV = {**os.environ, "PYTHONWARNINGS": "ignore"}
#: a run of seconds: a small U-Net, a few steps
TINY = ["trainer.max_steps=8", "trainer.batch_size=32", "backbone.model_channels=8"]
MODULES = {"train": "train", "sample": "sample", "eval": "evaluate"}


def cli(app: str, *args: str, cwd: Path) -> subprocess.CompletedProcess:
    """The console script pfgm-<app> in a fresh process (its entry point, where the script is not installed)."""
    script = Path(sys.executable).with_name(f"pfgm-{app}")
    cmd = (
        [str(script)]
        if script.is_file()
        else [
            sys.executable,
            "-c",
            f"import sys; sys.argv=['pfgm-{app}', *sys.argv[1:]]; from pfgm.recipes.{MODULES[app]} import main; main()",
        ]
    )
    return subprocess.run([*cmd, *args], cwd=cwd, capture_output=True, text=True, env=ENV, timeout=300)


def _same_objects(a, b) -> None:
    assert len(a) == len(b)
    for i, (x, y) in enumerate(zip(a, b)):
        assert np.array_equal(np.asarray(x), np.asarray(y)), i


def _pfgm_sample_objects(checkpoint: str, n: int, seed: int, sampler: dict, modality: dict | None = None) -> list:
    """What pfgm-sample / pfgm-eval decode for this config, in this process."""
    c = {
        "checkpoint": checkpoint,
        "num_samples": n,
        "seed": seed,
        "sampler": sampler,
        "modality": modality or {},
        "progress": False,
    }
    return generate_from_checkpoint(c)[1]


@pytest.fixture(scope="module")
def trained(tmp_path_factory) -> pfgm.Model:
    return pfgm.train("digits", run_dir=tmp_path_factory.mktemp("api") / "run", overrides=TINY)


def test_train_returns_the_run_dirs_weights_and_those_of_pfgm_train(trained, tmp_path):
    run_dir = Path(trained.source)
    weights, config, _ = load_weights(run_dir / "ema.safetensors")
    own = trained.denoiser.state_dict()
    assert own.keys() == weights.keys() and all(torch.equal(own[k], weights[k]) for k in own)
    assert trained.summary["step"] == 8 and trained.config["recipe_name"] == "digits" and trained.D == 16
    assert trained.modality.name == "images" and trained.config == config

    p = cli("train", "recipe=digits", f"run_dir={tmp_path / 'cli'}", *TINY, cwd=tmp_path)
    assert p.returncode == 0, p.stderr
    theirs, their_config, _ = load_weights(tmp_path / "cli" / "ema.safetensors")
    assert theirs.keys() == weights.keys() and all(torch.equal(weights[k], theirs[k]) for k in weights)
    assert {**config, "run_dir": None} == {**their_config, "run_dir": None}  # the same config, but where it ran


def test_sample_draws_what_pfgm_sample_writes(trained, tmp_path):
    from PIL import Image

    out = tmp_path / "s"
    p = cli(
        "sample",
        f"checkpoint={trained.source}",
        "num_samples=8",
        "seed=0",
        f"out={out}",
        "sampler.steps=4",
        "modality.label=3",
        cwd=tmp_path,
    )
    assert p.returncode == 0, p.stderr
    mine = trained.sample(8, seed=0, steps=4, label=3)
    assert isinstance(mine, list) and len(mine) == 8 and mine[0].shape == (8, 8, 1) and mine[0].dtype == np.uint8
    _same_objects(mine, np.load(out / "samples.npz")["images"])
    _same_objects(mine, [np.asarray(Image.open(out / f"{i:06d}.png")).reshape(8, 8, 1) for i in range(8)])
    assert mine.tensors.cond.tolist() == [3] * 8 and mine.info["steps"] == 4
    assert trained.modality.label is None  # a sample-time option lasts one call

    # the checkpoint's own sampler, another seed; stream's batches are the same objects
    plain = trained.sample(7, seed=5)
    _same_objects(plain, _pfgm_sample_objects(trained.source, 7, 5, {}))
    batches = list(trained.stream(7, seed=5, batch_size=3))
    assert [len(b) for b in batches] == [3, 3, 1]
    _same_objects(plain, [o for b in batches for o in b])


def test_options_by_name_and_one_line_errors(trained):
    few, more = trained.sample(4, seed=0, steps=3), trained.sample(4, seed=0, steps=6)
    assert any(not np.array_equal(a, b) for a, b in zip(few, more))
    euler = trained.sample(4, seed=0, steps=3, solver="euler")
    assert any(not np.array_equal(a, b) for a, b in zip(few, euler))
    _same_objects(trained.sample(4, seed=0, steps=np.int64(3)), few)

    with pytest.raises(pfgm.ConfigError) as e:  # the user-error types are part of the API
        trained.sample(2, seed=0, stepz=3)
    assert isinstance(e.value, pfgm.PfgmError) and isinstance(e.value, ValueError)
    msg = str(e.value)
    assert "'stepz'" in msg and "steps" in msg and "label" in msg and "\n" not in msg
    with pytest.raises(ValueError, match="sampler.steps"):
        trained.sample(2, steps=0)
    with pytest.raises(ValueError, match="label"):
        trained.sample(2, label=99)
    assert trained.modality.label is None  # a refused value changes nothing
    with pytest.raises(ValueError, match=r"^n \(the number of samples\)"):
        trained.sample(0)
    with pytest.raises(ValueError, match="seed"):
        trained.sample(2, seed=-1)
    with pytest.raises(ValueError, match="'steps'"):
        trained.write(few, "x.png", steps=3)  # write takes the modality's options only
    with pytest.raises(ValueError, match="'nope'"):
        pfgm.load(trained.source).evaluate(few, nope=1)


def test_write_a_folder_and_file_formats(trained, tmp_path):
    objects = trained.sample(3, seed=0, steps=3)
    paths = trained.write(objects, tmp_path / "out")
    assert {p.name for p in paths} == {"grid.png", "000000.png", "000001.png", "000002.png", "samples.npz"}
    assert all(p.is_file() for p in paths)
    assert [p.name for p in trained.write(objects[:1], tmp_path / "out")] == ["grid.png", "000000.png", "samples.npz"]
    assert not (tmp_path / "out" / "000002.png").exists()  # a folder is replaced whole
    (npz,) = trained.write(objects, tmp_path / "digits.npz")
    _same_objects(np.load(npz)["images"], objects)
    (png,) = trained.write(objects, str(tmp_path / "grid.png"))
    assert png.is_file()
    with pytest.raises(ValueError, match=r"cannot write \.smi"):
        trained.write(objects, tmp_path / "x.smi")
    (tmp_path / "theirs.npz").write_bytes(b"a file pfgm did not write")
    with pytest.raises(FileExistsError, match="theirs.npz"):
        trained.write(objects, tmp_path / "theirs.npz")
    (npz,) = trained.write(objects, tmp_path / "theirs.npz", overwrite=True)
    _same_objects(np.load(npz)["images"], objects)
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "notes.txt").write_text("mine")
    with pytest.raises(FileExistsError, match="notes.txt"):
        trained.write(objects, tmp_path / "mine")


def test_evaluate_reports_pfgm_evals_metrics(trained):
    samples = trained.sample(16, seed=0, steps=3)
    metrics = trained.evaluate(samples)
    modality, objects, _, tensors = generate_from_checkpoint(
        {"checkpoint": trained.source, "num_samples": 16, "seed": 0, "sampler": {"steps": 3}, "progress": False}
    )
    ev = modality.evaluate(objects, tensors)
    assert isinstance(metrics, dict) and "digits_fd" in metrics and metrics.notes == ev.notes
    assert metrics == {k: None if isinstance(v, float) and math.isnan(v) else v for k, v in ev.metrics.items()}


def test_zoo_entry_loads_and_samples():
    if "digits" not in pfgm_zoo.manifest():
        pytest.skip("no digits entry in this zoo")
    model = pfgm.load("zoo:digits")
    assert model.D == float(pfgm_zoo.manifest()["digits"]["D"]) and "zoo:digits" in repr(model)
    images = model.sample(4, seed=0, steps=4)
    assert len(images) == 4 and all(a.shape == (8, 8, 1) for a in images)
    _same_objects(images, _pfgm_sample_objects("zoo:digits", 4, 0, {"steps": 4}))


def test_train_refuses_bad_input_before_any_work_and_leaves_hydra_as_found(tmp_path):
    from hydra import compose, initialize_config_module
    from hydra.core.global_hydra import GlobalHydra

    r = tmp_path / "r"
    for _ in range(2):  # twice in one process: Hydra's global state is put back each time
        with pytest.raises(ValueError, match="recipe='nope' is not a recipe; available: .*digits"):
            pfgm.train("nope", run_dir=r)
        with pytest.raises(ValueError, match="unknown key trainer.max_stepz; did you mean trainer.max_steps"):
            pfgm.train("digits", run_dir=r, overrides=["trainer.max_stepz=3"])
        with pytest.raises(ValueError, match="list of strings"):
            pfgm.train("digits", run_dir=r, overrides="trainer.max_steps=3")
        with pytest.raises(ValueError, match="run_dir="):
            pfgm.train("digits", overrides=[f"run_dir={r}"])
        with pytest.raises(ValueError, match="D must be ≥ 1"):
            pfgm.train("digits", run_dir=r, overrides=["pfgm.D=0.5"])
    assert not r.exists() and not GlobalHydra.instance().is_initialized()

    # inside a caller's own Hydra session (a Hydra app, a notebook): it composes, and the session survives
    with initialize_config_module("pfgm.configs", version_base="1.3"):
        held = GlobalHydra.instance().hydra
        c = pfgm.compose_train("digits", run_dir=r, overrides=["trainer.max_steps=3"])
        assert GlobalHydra.instance().hydra is held
        assert compose("sample", overrides=["checkpoint=x"]).checkpoint == "x"
    assert c["trainer"]["max_steps"] == 3 and c["run_dir"] == str(r) and c["recipe_name"] == "digits"
    assert c["modality"]["dataset"] == "digits" and "hydra" not in c


def _python_blocks(text: str) -> list[str]:
    return [b for b in re.findall(r"```python\n(.*?)```", text, re.S) if b.startswith("import pfgm")]


def test_readme_python_example_runs(tmp_path, monkeypatch):
    readme = (ROOT / "README.md").read_text()
    blocks = _python_blocks(readme)
    assert blocks, "README.md has no ```python block starting with import pfgm"
    assert readme.index("```python\nimport pfgm") < readme.index("\n## ", readme.index("## Python") + 1)
    assert len(readme[: readme.index("```python\nimport pfgm")].splitlines()) < 30  # in the first screen
    assert all(s in blocks[0] for s in ("pfgm.load(", ".sample(", ".write(", "pfgm.train("))
    monkeypatch.chdir(tmp_path)
    for i, block in enumerate(blocks):
        exec(compile(block, f"README.md python block {i}", "exec"), {"__name__": f"readme_{i}"})
    assert (tmp_path / "mols.smi").is_file() and (tmp_path / "runs" / "d" / "ema.safetensors").is_file()


def test_docstring_examples_run(tmp_path, monkeypatch):
    import pfgm.model
    import pfgm.training

    monkeypatch.chdir(tmp_path)
    globs = {"pfgm": pfgm, "model": pfgm.load("zoo:digits")}
    flags = doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE
    attempted = 0
    for module in (pfgm.model, pfgm.training):
        result = doctest.testmod(module, extraglobs=globs, optionflags=flags, verbose=False, report=True)
        assert result.failed == 0, module.__name__
        attempted += result.attempted
    assert attempted >= 10
