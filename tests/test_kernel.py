"""The PFGM++ kernel: exact radial law (Beta), chi law at D=∞, uniform directions, masks, log density."""

import math

import numpy as np
import pytest
import torch
from scipy import stats

from pfgm.core.kernel import PFGMKernel, sample_chi2

P_MIN = 1e-3  # KS/χ² p-value floor; seeds are fixed, so a pass is reproducible


def _draw(N, D, n, sigma, seed, dtype=torch.float32, chunk=2000):
    k = PFGMKernel(D)
    g = torch.Generator().manual_seed(seed)
    out = [k.noise(torch.zeros(min(chunk, n - i), N, dtype=dtype), sigma, generator=g) for i in range(0, n, chunk)]
    return torch.cat(out).to(torch.float64)


@pytest.mark.parametrize("N,D", [(1, 1), (2, 1), (2, 4), (16, 2), (784, 128), (3072, 2048)])
def test_radial_law_is_beta(N, D):
    sigma = 1.7
    x = _draw(N, D, 20_000, sigma, seed=N * 1000 + D)
    r2 = x.square().sum(1)
    t = (r2 / (r2 + sigma**2 * D)).numpy()
    assert stats.kstest(t, stats.beta(N / 2, D / 2).cdf).pvalue > P_MIN


def test_radial_law_rejects_wrong_D():
    """The test above has power: draws at D=4 fail the Beta law of D=2."""
    N, sigma = 16, 1.0
    x = _draw(N, 4, 20_000, sigma, seed=3)
    r2 = x.square().sum(1)
    t = (r2 / (r2 + sigma**2 * 2)).numpy()
    assert stats.kstest(t, stats.beta(N / 2, 2 / 2).cdf).pvalue < 1e-6


def test_masked_batch_mixed_sizes():
    """Each sample is t-distributed in its own N_i dims; padded entries are exactly zero."""
    D, sigma, Nmax = 3.0, 2.0, 12
    sizes = torch.tensor([2, 5, 11]).repeat(20_000)
    mask = (torch.arange(Nmax)[None, :] < sizes[:, None]).float()
    n = PFGMKernel(D).noise(torch.zeros(len(sizes), Nmax), sigma, mask=mask, generator=torch.Generator().manual_seed(0))
    assert (n[mask == 0] == 0).all()
    r2 = n.double().square().sum(1)
    for Ni in (2, 5, 11):
        sel = sizes == Ni
        t = (r2[sel] / (r2[sel] + sigma**2 * D)).numpy()
        assert stats.kstest(t, stats.beta(Ni / 2, D / 2).cdf).pvalue > P_MIN, Ni


def test_gaussian_limit_is_chi_law():
    N, sigma = 10, 0.3
    x = _draw(N, math.inf, 20_000, sigma, seed=1)
    r = (x.norm(dim=1) / sigma).numpy()
    assert stats.kstest(r, stats.chi(N).cdf).pvalue > P_MIN


@pytest.mark.parametrize("D", [1, 8, math.inf])
def test_directions_uniform(D):
    # Archimedes: the z-coordinate of a uniform direction on S² is uniform on [−1, 1].
    x = _draw(3, D, 20_000, 1.0, seed=7)
    z = (x[:, 2] / x.norm(dim=1)).numpy()
    assert stats.kstest(z, stats.uniform(-1, 2).cdf).pvalue > P_MIN


def test_large_D_matches_gaussian_moments():
    N, sigma, n = 16, 1.0, 40_000
    r_big = _draw(N, 1e7, n, sigma, seed=11).norm(dim=1)
    r_inf = _draw(N, math.inf, n, sigma, seed=12).norm(dim=1)
    se_mean = math.sqrt(2 * r_inf.var().item() / n)
    assert abs(r_big.mean() - r_inf.mean()) < 4 * se_mean
    # Var(sample var) ≈ 2σ⁴/n for a near-Gaussian R; 5 standard errors.
    v = r_inf.var().item()
    assert abs(r_big.var().item() - v) < 5 * v * math.sqrt(2 * 2 / n)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_D1_sigma80_is_finite(dtype):
    k = PFGMKernel(1)
    n = k.noise(torch.zeros(100_000, 16, dtype=dtype), 80.0, generator=torch.Generator().manual_seed(0))
    assert n.dtype == dtype and torch.isfinite(n).all()
    assert torch.isfinite(k.log_prob(n, 80.0)).all()
    # heavy tail present: D=1 puts real mass far beyond the Gaussian's reach
    assert n.norm(dim=1).max() > 80 * 100


def test_chi2_moments():
    g = torch.Generator().manual_seed(0)
    for D in (1.0, 2.5, 40.0):
        u = sample_chi2(D, 200_000, g)
        assert abs(u.mean().item() - D) < 5 * math.sqrt(2 * D / 200_000)
        assert (u > 0).all()


@pytest.mark.parametrize("D", [1, 3.5, 100, 1e7, math.inf])
def test_log_prob_closed_form(D):
    N, sigma = 5, 1.3
    n = torch.randn(50, N, dtype=torch.float64, generator=torch.Generator().manual_seed(0)) * 2
    got = PFGMKernel(D).log_prob(n, sigma).numpy()
    if math.isinf(D) or D == 1e7:
        ref = stats.multivariate_normal(np.zeros(N), sigma**2 * np.eye(N)).logpdf(n.numpy())
        tol = 1e-9 if math.isinf(D) else 1e-4
    else:
        ref = stats.multivariate_t(np.zeros(N), sigma**2 * np.eye(N), df=D).logpdf(n.numpy())
        tol = 1e-9
    np.testing.assert_allclose(got, ref, rtol=0, atol=tol)


def test_log_prob_masked_and_normalised():
    D, sigma = 2.0, 0.7
    k = PFGMKernel(D)
    n = torch.randn(8, 6, dtype=torch.float64)
    mask = torch.zeros(8, 6)
    mask[:, :3] = 1
    np.testing.assert_allclose(k.log_prob(n, sigma, mask).numpy(), k.log_prob(n[:, :3], sigma).numpy())
    # 1-D density integrates to 1 (heavy tail: integrate in t = atan(x))
    t = torch.linspace(-math.pi / 2 + 1e-6, math.pi / 2 - 1e-6, 200_001, dtype=torch.float64)
    x = torch.tan(t)
    dens = k.log_prob(x[:, None], sigma).exp() / torch.cos(t) ** 2
    assert abs(torch.trapezoid(dens, t).item() - 1) < 1e-4


@pytest.mark.parametrize("bad", [0.5, 0, -1, float("nan"), "abc", None])
def test_invalid_D(bad):
    with pytest.raises(ValueError, match="D"):
        PFGMKernel(bad)


@pytest.mark.parametrize("sigma", [0.0, -1.0, torch.tensor([1.0, 0.0])])
def test_invalid_sigma(sigma):
    with pytest.raises(ValueError, match="sigma"):
        PFGMKernel(4).noise(torch.zeros(2, 3), sigma)


def test_generator_reproducible_and_sigma_per_sample():
    k = PFGMKernel(4)
    a = k.noise(torch.zeros(3, 4), torch.tensor([1.0, 2.0, 3.0]), generator=torch.Generator().manual_seed(5))
    b = k.noise(torch.zeros(3, 4), torch.tensor([1.0, 2.0, 3.0]), generator=torch.Generator().manual_seed(5))
    assert torch.equal(a, b)
    c = k.noise(torch.zeros(3, 4), 1.0, generator=torch.Generator().manual_seed(5))
    torch.testing.assert_close(a / torch.tensor([[1.0], [2.0], [3.0]]), c)
