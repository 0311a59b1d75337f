"""Tests of modalities.shared.frechet: the Fréchet distance and k-NN precision/recall on hand-computable inputs."""

from __future__ import annotations

import math

import numpy as np
import pytest

from pfgm.modalities.shared import frechet as M


def test_frechet_distance_closed_forms():
    # 1-D: N(0, 1) vs N(3, 4): 9 + 1 + 4 − 2·√4 = 10
    assert M.frechet_distance(np.array([0.0]), np.array([[1.0]]), np.array([3.0]), np.array([[4.0]])) == pytest.approx(10)
    # diagonal: ‖Δμ‖² + Σ(√a − √b)²
    a, b = np.array([1.0, 4.0, 9.0]), np.array([4.0, 1.0, 9.0])
    mu1, mu2 = np.array([0.0, 1.0, 2.0]), np.array([1.0, 1.0, 0.0])
    want = 5.0 + ((np.sqrt(a) - np.sqrt(b)) ** 2).sum()
    assert M.frechet_distance(mu1, np.diag(a), mu2, np.diag(b)) == pytest.approx(want)
    # non-commuting full covariances against scipy's sqrtm form
    scipy_linalg = pytest.importorskip("scipy.linalg")
    rng = np.random.default_rng(1)
    A, B = rng.normal(size=(4, 4)), rng.normal(size=(4, 4))
    c1, c2 = A @ A.T + 0.1 * np.eye(4), B @ B.T + 0.1 * np.eye(4)
    cross = scipy_linalg.sqrtm(c1 @ c2).real
    want = np.trace(c1) + np.trace(c2) - 2 * np.trace(cross)
    assert M.frechet_distance(np.zeros(4), c1, np.zeros(4), c2) == pytest.approx(want, rel=1e-8)
    # identical and rank-deficient (fewer samples than features): 0, not NaN
    f = rng.normal(size=(5, 8))
    assert M.feature_frechet_distance(f, f) == pytest.approx(0, abs=1e-8)
    mu, cov = M.gaussian_stats(np.array([[0.0, 0.0], [2.0, 0.0], [0.0, 2.0], [2.0, 2.0]]))
    assert np.allclose(mu, [1, 1]) and np.allclose(cov, np.eye(2) * 4 / 3)


def test_precision_recall_and_confidence():
    real = np.array([[0.0], [1.0], [2.0], [3.0]])
    assert np.allclose(M.knn_radii(real, k=1), [1, 1, 1, 1]) and np.allclose(M.knn_radii(real, k=3), [3, 2, 2, 3])
    assert M.precision_recall(real, real, k=3) == (1.0, 1.0)
    assert M.precision_recall(real, real + 100.0, k=3) == (0.0, 0.0)
    # fake radii (k=1): 9.5, 1, 1, 1; only 0.5 lies in a real ball; the 9.5 ball covers all reals
    fake = np.array([[0.5], [10.0], [11.0], [12.0]])
    assert M.precision_recall(real, fake, k=1) == (0.25, 1.0)
    with pytest.raises(ValueError, match="more than 3"):
        M.precision_recall(real[:3], real, k=3)


def test_frechet_distance_is_rotation_invariant():
    # rotation-invariant: the same pair of Gaussians rotated by 30°
    c, s_ = math.cos(0.5), math.sin(0.5)
    R = np.array([[c, -s_], [s_, c]])
    d_rot = M.frechet_distance(np.zeros(2), R @ np.diag([1.0, 4.0]) @ R.T, R @ np.array([1.0, 0]), R @ np.diag([9.0, 1.0]) @ R.T)
    assert d_rot == pytest.approx(6.0)
