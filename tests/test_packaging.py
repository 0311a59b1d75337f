"""What `pip install pfgm` puts into site-packages: one name, pfgm, and nothing generic beside it."""

from __future__ import annotations

import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
from fresh_venv import fresh_venv, pip_install

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    """The wheel of a copy of the checkout (the build writes build/ and egg-info where it runs)."""
    tmp = tmp_path_factory.mktemp("wheel")
    src = tmp / "src"
    shutil.copytree(
        ROOT,
        src,
        ignore=shutil.ignore_patterns(
            ".git",
            ".venv*",
            "runs",
            "logs",
            "build",
            "site",
            "*.egg-info",
            "__pycache__",
            ".pytest_cache",
            "tests",
            "benchmarks",
            "docs",
        ),
    )
    p = subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "-q",
            "--no-deps",
            "--no-build-isolation",
            "--no-index",
            "-w",
            str(tmp / "dist"),
            str(src),
        ],
        capture_output=True,
        text=True,
    )
    assert p.returncode == 0, p.stdout + p.stderr
    return next((tmp / "dist").glob("pfgm-*.whl"))


def test_the_wheel_installs_one_top_level_name(wheel):
    names = zipfile.ZipFile(wheel).namelist()
    tops = {n.split("/")[0] for n in names}
    assert tops == {"pfgm", wheel.name.split("-py3")[0] + ".dist-info"}, tops
    for expected in (
        "pfgm/core/kernel.py",
        "pfgm/recipes/train.py",
        "pfgm/modalities/base.py",
        "pfgm/zoo/manifest.json",
        "pfgm/configs/train.yaml",
        "pfgm/configs/recipe/digits.yaml",
        "pfgm/py.typed",
    ):
        assert expected in names, expected
    entry_points = zipfile.ZipFile(wheel).read(f"{wheel.name.split('-py3')[0]}.dist-info/entry_points.txt").decode()
    assert "pfgm-train = pfgm.recipes.train:main" in entry_points and "images = pfgm.modalities.images" in entry_points


def test_a_venv_with_only_pfgm_cannot_import_configs(wheel, tmp_path):
    venv = fresh_venv(tmp_path / "venv")
    pip_install(venv, wheel)
    for name in ("configs", "recipes", "modalities", "pfgm_core", "pfgm_zoo"):
        r = subprocess.run([str(venv / "bin" / "python"), "-c", f"import {name}"], cwd=tmp_path, capture_output=True, text=True)
        assert r.returncode != 0 and "ModuleNotFoundError" in r.stderr, name
    r = subprocess.run(
        [str(venv / "bin" / "python"), "-c", "import importlib.util as u; print(u.find_spec('pfgm') is not None)"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
    )
    assert r.stdout.strip() == "True"
