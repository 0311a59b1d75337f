"""Standard image metrics (modalities/images/fid.py): the Fréchet maths against closed forms, the streamed
statistics, the refusal without Inception weights and the whole pfgm-eval pipeline with random features."""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("torch_fidelity")

from pfgm.modalities.images.fid import FeatureStats, InceptionWeightsMissing, check_features, frechet_distance  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]


def test_frechet_distance_of_two_gaussians_in_closed_form():
    """2-D, non-commuting covariances: for PSD 2×2 M, tr √M = √(tr M + 2√det M), and M = A^½ B A^½ has
    tr M = tr AB, det M = det A · det B, so FD = ‖μ₁−μ₂‖² + tr A + tr B − 2√(tr AB + 2√(det A det B))."""
    mu1, mu2 = np.array([0.3, -1.0]), np.array([1.5, 0.25])
    A = np.array([[2.0, 0.7], [0.7, 1.0]])
    B = np.array([[0.5, -0.3], [-0.3, 3.0]])
    closed = (
        np.sum((mu1 - mu2) ** 2)
        + np.trace(A)
        + np.trace(B)
        - 2 * math.sqrt(np.trace(A @ B) + 2 * math.sqrt(np.linalg.det(A) * np.linalg.det(B)))
    )
    assert frechet_distance(mu1, A, mu2, B) == pytest.approx(closed, rel=1e-10, abs=1e-12)
    # commuting (diagonal) covariances in many dimensions: Σ (√a − √b)² plus the mean term
    rng = np.random.default_rng(0)
    a, b, m = rng.uniform(0.1, 2, 64), rng.uniform(0.1, 2, 64), rng.normal(size=64)
    assert frechet_distance(m, np.diag(a), np.zeros(64), np.diag(b)) == pytest.approx(
        np.sum(m**2) + np.sum((np.sqrt(a) - np.sqrt(b)) ** 2), rel=1e-10
    )
    assert frechet_distance(mu1, A, mu1, A) == pytest.approx(0.0, abs=1e-10)


def test_streamed_statistics_equal_the_whole_set_and_sampled_gaussians_converge():
    import torch

    rng = np.random.default_rng(1)
    f = rng.normal(size=(300, 2048)) * 0.3 + 1.0
    s = FeatureStats(keep=100)
    for i in range(0, 300, 64):  # uneven batches
        s.add(torch.from_numpy(f[i : i + 64]), torch.zeros(len(f[i : i + 64]), 1008))
    assert s.n == 300 and np.allclose(s.mu, f.mean(0), atol=1e-12)
    assert np.allclose(s.sigma, np.cov(f, rowvar=False), atol=1e-10)
    assert s.kept()[0].shape == (100, 2048)
    # features drawn from two 2-D Gaussians: the estimate approaches the closed form
    A, B = np.array([[2.0, 0.7], [0.7, 1.0]]), np.array([[0.5, -0.3], [-0.3, 3.0]])
    x = rng.multivariate_normal([0, 0], A, 200_000)
    y = rng.multivariate_normal([1, 1], B, 200_000)
    est = frechet_distance(x.mean(0), np.cov(x, rowvar=False), y.mean(0), np.cov(y, rowvar=False))
    assert est == pytest.approx(frechet_distance(np.zeros(2), A, np.ones(2), B), abs=0.03)


def test_missing_inception_weights_refuse_in_one_line_saying_how_to_get_them(tmp_path, monkeypatch):
    monkeypatch.setenv("PFGM_INCEPTION", str(tmp_path / "absent.pth"))
    with pytest.raises(InceptionWeightsMissing) as e:
        check_features("inception")
    msg = str(e.value)
    assert "\n" not in msg and "--download" in msg and "fid_features=random" in msg and "absent.pth" in msg
    check_features("random")  # needs nothing


@pytest.fixture(scope="module")
def cifar_checkpoint(tmp_path_factory):
    """A one-step cifar10 run with a small DDPM++ on a tiny archive the test writes."""
    from pfgm.modalities.images.archive import write_cifar10_archive
    from pfgm.recipes.cli import compose
    from pfgm.recipes.train import run_training

    tmp = tmp_path_factory.mktemp("cifar")
    rng = np.random.default_rng(0)
    write_cifar10_archive(
        tmp / "cifar-10-python.tar.gz", rng.integers(0, 256, (10, 3, 32, 32), dtype=np.uint8), rng.integers(0, 10, 10)
    )
    cfg = compose("train", ["recipe=cifar10", f"modality.root={tmp}", f"run_dir={tmp / 'run'}"])
    cfg["backbone"].update(model_channels=16, num_blocks=1)
    cfg["trainer"].update(max_steps=1, batch_size=4, progress=False, preview_every=0, num_workers=0)
    run_training(cfg)
    return tmp / "run"


def _eval(run: Path, cache: Path, *args: str) -> subprocess.CompletedProcess:
    env = {
        **os.environ,
        "OMP_NUM_THREADS": "2",
        "PYTHONPATH": str(ROOT),
        "PFGM_CACHE": str(cache),
        "PFGM_INCEPTION": str(cache / "no-weights-here.pth"),
    }
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "pfgm.recipes.evaluate",
            f"checkpoint={run}",
            "num_samples=4",
            "sampler.steps=2",
            "progress=false",
            f"out={cache / 'eval.json'}",
            *args,
        ],
        capture_output=True,
        text=True,
        env=env,
        timeout=900,
    )


def test_pfgm_eval_fid_refuses_in_one_line_without_the_weights(cifar_checkpoint, tmp_path):
    p = _eval(cifar_checkpoint, tmp_path, "metrics=fid")
    lines = p.stderr.strip().splitlines()
    assert p.returncode == 1 and len(lines) == 1 and "Inception-v3 weights" in lines[0] and "--download" in lines[0], p.stderr
    assert not (tmp_path / "eval.json").exists()  # refused before sampling


def _random_features_report(run: Path, cache: Path, *metrics: str) -> dict:
    p = _eval(run, cache, f"metrics=[{','.join(metrics)}]", "fid_features=random")
    assert p.returncode == 0, p.stderr[-2000:]
    return json.loads(p.stdout.strip().splitlines()[-1])


def test_pfgm_eval_runs_the_whole_pipeline_with_random_features_labelled(cifar_checkpoint, tmp_path):
    report = _random_features_report(cifar_checkpoint, tmp_path, "fid", "kid", "is", "pr")
    m = report["metrics"]
    assert set(m) == {
        "fid_random_features",
        "kid_random_features",
        "kid_std_random_features",
        "inception_score_random_features",
        "inception_score_std_random_features",
        "precision_random_features",
        "recall_random_features",
    }
    assert m["fid_random_features"] > 0 and m["inception_score_random_features"] >= 1.0
    assert any("RANDOMLY INITIALISED" in n for n in report["notes"])
    assert any("computed and cached" in n for n in report["notes"])
    assert len(list((tmp_path / "fid").glob("ref-*.npz"))) == 1


@pytest.mark.slow
def test_reference_statistics_are_computed_once_per_data_set(cifar_checkpoint, tmp_path):
    first = _random_features_report(cifar_checkpoint, tmp_path, "fid")
    again = _random_features_report(cifar_checkpoint, tmp_path, "fid")
    assert any("read from the cache" in n for n in again["notes"])
    assert again["metrics"]["fid_random_features"] == pytest.approx(first["metrics"]["fid_random_features"], rel=1e-9)


def test_an_unreadable_reference_cache_is_rebuilt_with_a_warning(tmp_path, monkeypatch):
    import torch

    from pfgm.modalities.images import fid

    made = FeatureStats(keep=4)
    made.add(torch.ones(3, 2048), torch.zeros(3, 1008))
    calls = []
    monkeypatch.setattr(fid, "feature_network", lambda *a, **k: None)
    monkeypatch.setattr(fid, "extract", lambda batches, net, keep, device: calls.append(1) or made)
    ident = {"path": "data", "count": 3}
    _, cached = fid.reference_stats(ident, [], features="random", cache=tmp_path)
    (npz,) = tmp_path.glob("ref-*.npz")
    npz.write_bytes(npz.read_bytes()[:100])  # cut short, as a killed copy leaves it
    with pytest.warns(UserWarning, match="unreadable reference statistics"):
        s, cached_again = fid.reference_stats(ident, [], features="random", cache=tmp_path)
    assert not cached and not cached_again and len(calls) == 2 and s.n == 3
    s, cached = fid.reference_stats(ident, [], features="random", cache=tmp_path)
    assert cached and s.n == 3 and len(calls) == 2
