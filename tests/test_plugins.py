"""A third-party modality package, as a new user would install one: its own recipe, sampler hook and diagnostic.

The package (tests/fixtures/pfgm_toy_plugin) is installed by pip into a fresh virtual environment
that sees pfgm and its dependencies but not the package's source folder; its modality, recipe,
sampler hook and pfgm-diagnose group are found through the entry-point groups alone, and nothing
outside it changes.
"""

from __future__ import annotations

import json
import math
import os
import shutil
import subprocess
import sys
import sysconfig
import time
from pathlib import Path

import pytest
from fresh_venv import fresh_venv, pip_install

ROOT = Path(__file__).resolve().parents[1]
PLUGIN = ROOT / "tests" / "fixtures" / "pfgm_toy_plugin"


def _written_since(t0: float) -> list[str]:
    """Repository files modified at or after t0, outside what runs write on a developer's machine
    (hidden folders such as .git and virtual environments, runs/, logs/, benchmarks/results/)."""
    skip = {"__pycache__", "runs", "logs"}
    out = []
    for dirpath, dirnames, filenames in os.walk(ROOT):
        dirnames[:] = [
            d
            for d in dirnames
            if d not in skip and not d.startswith(".") and os.path.join(dirpath, d) != str(ROOT / "benchmarks" / "results")
        ]
        out += [os.path.join(dirpath, f) for f in filenames if os.stat(os.path.join(dirpath, f)).st_mtime >= t0]
    return sorted(out)


@pytest.fixture(scope="module")
def user_venv(tmp_path_factory) -> Path:
    """A fresh venv that sees this environment's packages (pfgm included) and gets pfgm-toy by pip."""
    root = tmp_path_factory.mktemp("user")
    venv = fresh_venv(root / "venv")
    site = Path(
        subprocess.run(
            [str(venv / "bin" / "python"), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
    )
    # process this environment's site-packages like a site dir, so its .pth files (pfgm's install) apply too
    (site / "_parent_env.pth").write_text(f"import site; site.addsitedir({sysconfig.get_paths()['purelib']!r})\n")
    source = root / "pfgm_toy_plugin"
    shutil.copytree(PLUGIN, source, ignore=shutil.ignore_patterns("build", "*.egg-info", "__pycache__"))
    pip_install(venv, source, "--no-build-isolation")
    shutil.rmtree(source)  # the installed copy is all the venv has
    return venv


def _run(venv: Path, app: str, *args: str, cwd: Path) -> subprocess.CompletedProcess:
    code = f"import sys; sys.argv=['pfgm-{app}', *sys.argv[1:]]; from pfgm.recipes.{app if app != 'eval' else 'evaluate'} import main; main()"
    env = {**os.environ, "PYTHONWARNINGS": "ignore", "OMP_NUM_THREADS": "1"}
    env.pop("PYTHONPATH", None)
    return subprocess.run(
        [str(venv / "bin" / "python"), "-c", code, *args], cwd=cwd, capture_output=True, text=True, env=env, timeout=600
    )


def test_a_plugin_package_brings_its_modality_recipe_and_sampler_hook(user_venv, tmp_path):
    t0 = time.time()
    listing = _run(user_venv, "train", cwd=tmp_path)
    assert listing.returncode == 0 and "toy_ring" in listing.stdout and "a plugin's recipe" in listing.stdout
    run_dir = tmp_path / "run"
    p = _run(user_venv, "train", "recipe=toy_ring", f"run_dir={run_dir}", cwd=tmp_path)
    assert p.returncode == 0, p.stderr
    summary = json.loads(p.stdout.strip().splitlines()[-1])
    assert summary["step"] == 30 and (run_dir / "ema.safetensors").exists()  # the recipe's own budget
    out = tmp_path / "ring.txt"
    p = _run(user_venv, "sample", f"checkpoint={run_dir}", "num_samples=32", "seed=0", f"out={out}", cwd=tmp_path)
    assert p.returncode == 0, p.stderr
    points = [tuple(map(float, line.split())) for line in out.read_text().splitlines()]
    assert len(points) == 32
    # the last step returns the (hooked) denoised estimate: on the circle exactly iff the hook ran
    assert max(abs(math.hypot(a, b) - 1) for a, b in points) < 1e-5
    p = _run(user_venv, "diagnose", "toy_ring", "radius", str(out), cwd=tmp_path)  # its own pfgm-diagnose group
    assert p.returncode == 0 and p.stdout.strip().endswith("over 32 samples"), p.stdout + p.stderr
    assert _written_since(t0) == []  # nothing outside the plugin package changed (nor was written)


def test_without_the_package_the_recipe_is_unknown(tmp_path):
    code = "from pfgm.recipes.cli import recipe_catalogue; print(sorted(n for v in recipe_catalogue().values() for n, _ in v))"
    p = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True)
    assert p.returncode == 0 and "toy_ring" not in p.stdout and "digits" in p.stdout
