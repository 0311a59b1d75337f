"""The PFGM++ loss: analytic value with the Bayes-optimal denoiser, masking, label dropout."""

import math

import pytest
import torch

from pfgm.core import OracleDenoiser, PFGMKernel, PFGMLoss
from pfgm.core.loss import drop_cond


def test_gaussian_oracle_loss_is_one():
    """For y ~ N(0, σ_d² I) and D = ∞ the posterior mean is x·σ_d²/(σ²+σ_d²), its MSE per dim is
    σ²σ_d²/(σ²+σ_d²), and EDM's weight makes the expected loss exactly 1 at every σ."""
    sd, B, N = 0.5, 20_000, 8
    g = torch.Generator().manual_seed(0)
    y = torch.randn(B, N, generator=g, dtype=torch.float64) * sd

    def bayes(x, s, cond=None, mask=None):
        s = s.reshape(-1, 1)
        return x * sd**2 / (s**2 + sd**2)

    loss = PFGMLoss(PFGMKernel(math.inf), sigma_data=sd)
    for sigma in (0.01, 0.5, 3.0, 80.0):
        per = loss(bayes, y, sigma=torch.full((B,), sigma, dtype=torch.float64), generator=g)
        se = per.std().item() / math.sqrt(B)
        assert abs(per.mean().item() - 1.0) < 4 * se, (sigma, per.mean().item(), se)
    # a denoiser shrunk by 0.8 at σ = σ_d adds λ·0.2²·E[D²] = 8·0.04·0.125 = 0.04 (analytic)
    bad = lambda x, s, cond=None, mask=None: 0.8 * bayes(x, s)
    per = loss(bad, y, sigma=torch.full((B,), 0.5, dtype=torch.float64), generator=g)
    assert abs(per.mean().item() - 1.04) < 4 * per.std().item() / math.sqrt(B)


@pytest.mark.parametrize("D", [1, 4, math.inf])
def test_oracle_minimises_loss_finite_D(D):
    """The closed-form E[y|x] is the minimiser of the loss for a finite data set, for every D."""
    pts = torch.randn(4, 6, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    idx = torch.randint(0, 4, (8000,), generator=torch.Generator().manual_seed(2))
    y = pts[idx]
    orc = OracleDenoiser(pts, D)
    loss = PFGMLoss(PFGMKernel(D), sigma_data=1.0)
    sig = torch.full((len(y),), 1.0, dtype=torch.float64)
    base = loss(orc, y, sigma=sig, generator=torch.Generator().manual_seed(3)).mean()
    for eps in (0.05, -0.05):
        other = lambda x, s, cond=None, mask=None: orc(x, s) + eps
        worse = loss(other, y, sigma=sig, generator=torch.Generator().manual_seed(3)).mean()
        assert worse > base


def test_masked_entries_get_zero_gradient():
    """Whatever the network outputs on padding, it never reaches the loss: zero gradient there."""
    B, Nmax = 6, 10
    sizes = torch.tensor([2, 4, 6, 8, 10, 3])
    mask = (torch.arange(Nmax)[None] < sizes[:, None]).float()
    y = torch.randn(B, Nmax) * mask
    lin = torch.nn.Linear(Nmax, Nmax)
    out_shift = torch.zeros(B, Nmax, requires_grad=True)

    def net(x, s, cond=None, mask=None):
        return lin(x) + out_shift  # deliberately writes into padding

    per = PFGMLoss(PFGMKernel(3.0))(net, y, mask=mask, generator=torch.Generator().manual_seed(0))
    per.sum().backward()
    assert (out_shift.grad[mask == 0] == 0).all()
    assert (out_shift.grad[mask == 1] != 0).all()
    # and the padding values themselves change nothing
    with torch.no_grad():
        out_shift[mask == 0] = 1e3
    l2 = PFGMLoss(PFGMKernel(3.0))(net, y, mask=mask, generator=torch.Generator().manual_seed(0))
    torch.testing.assert_close(per, l2)


def test_masked_loss_equals_unpadded_loss():
    """A padded sample's loss equals the same sample's loss without padding (per-N_i normalisation)."""
    y = torch.randn(1, 5, dtype=torch.float64)
    pad = torch.cat([y, torch.zeros(1, 7, dtype=torch.float64)], 1)
    mask = torch.cat([torch.ones(1, 5), torch.zeros(1, 7)], 1).double()
    net = lambda x, s, cond=None, mask=None: 0.5 * x
    sig = torch.tensor([0.7], dtype=torch.float64)
    a = PFGMLoss(PFGMKernel(6.0))(net, y, sigma=sig, generator=torch.Generator().manual_seed(4))
    b = PFGMLoss(PFGMKernel(6.0))(net, pad, mask=mask, sigma=sig, generator=torch.Generator().manual_seed(4))
    # same RNG stream consumed differently (5 vs 12 normals) — compare in distribution instead:
    many = lambda yy, m: torch.stack(
        [PFGMLoss(PFGMKernel(6.0))(net, yy, mask=m, sigma=sig, generator=torch.Generator().manual_seed(i)) for i in range(3000)]
    ).mean()
    assert a.shape == b.shape == (1,)
    assert abs(many(y, None) - many(pad, mask)) < 0.05 * many(y, None)


def test_drop_cond():
    g = torch.Generator().manual_seed(0)
    labels = torch.arange(10_000) % 10
    out = drop_cond(labels, 0.2, g)
    assert abs((out == -1).float().mean().item() - 0.2) < 0.02
    assert torch.equal(out[out != -1], labels[out != -1])
    props = torch.randn(10_000, 2)
    outp = drop_cond(props, 0.5, g)
    nan_rows = outp.isnan().all(1)
    assert abs(nan_rows.float().mean().item() - 0.5) < 0.03 and (outp.isnan().any(1) == nan_rows).all()
    assert drop_cond(labels, 0.0, g) is labels


class _Recorder(torch.nn.Module):
    """A self-conditioning denoiser D = w·x + self_cond that records what it was given."""

    self_condition = True

    def __init__(self):
        super().__init__()
        self.w = torch.nn.Parameter(torch.tensor(0.5, dtype=torch.float64))
        self.calls = []

    def forward(self, x, sigma, cond=None, mask=None, self_cond=None):
        self.calls.append((x.shape[0], None if self_cond is None else self_cond.clone(), torch.is_grad_enabled()))
        out = self.w * x
        return out if self_cond is None else out + self_cond


def test_self_conditioning_two_passes_gradient_only_through_the_second():
    B, N = 6, 3
    y = torch.randn(B, N, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    sigma = torch.full((B,), 0.7, dtype=torch.float64)
    noise = torch.randn(B, N, dtype=torch.float64, generator=torch.Generator().manual_seed(1))
    use = torch.tensor([True, False, True, False, False, True])
    den = _Recorder()
    per = PFGMLoss(PFGMKernel(math.inf))(den, y, sigma=sigma, noise=noise, self_cond=use)
    (first_n, first_sc, first_grad), (second_n, second_sc, second_grad) = den.calls
    assert (first_n, first_sc, first_grad) == (3, None, False)  # the estimate pass: selected rows, no grad
    assert second_n == B and second_grad
    x = y + noise
    expected = torch.zeros(B, N, dtype=torch.float64)
    expected[use] = 0.5 * x[use]
    assert torch.equal(second_sc, expected)  # the estimate for selected rows, zeros elsewhere
    per.sum().backward()
    # d/dw of Σ λ‖w·x + sc − y‖²/N with sc treated as a constant
    lam = (0.7**2 + 0.25) / (0.7 * 0.5) ** 2
    grad = (lam * 2 * ((0.5 * x + expected - y) * x).sum(1) / N).sum()
    assert torch.allclose(den.w.grad, grad)
    # plain denoisers are called once, without the argument
    plain = lambda x, s, cond=None, mask=None: 0.5 * x
    assert torch.allclose(
        PFGMLoss(PFGMKernel(math.inf))(plain, y, sigma=sigma, noise=noise, self_cond=use),
        PFGMLoss(PFGMKernel(math.inf))(plain, y, sigma=sigma, noise=noise),
    )


def test_categorical_loss_hand_checked_with_padding():
    """−log p(true class) averaged over each sample's real positions; padding never counts."""
    from pfgm.core.loss import CategoricalLoss

    K = 3
    y = torch.nn.functional.one_hot(torch.tensor([[0, 2, 1], [1, 0, 0]]), K).float() - 0.5
    mask = torch.ones_like(y)
    mask[1, 1:] = 0
    y = y * mask
    logits = torch.log(torch.tensor([0.5, 0.25, 0.25])).expand(2, 3, K)

    def model(x, s, cond=None, mask=None, logits=False):
        assert logits  # the loss asks for the head's logits, not the estimate
        return fixed

    fixed = logits
    loss = CategoricalLoss(PFGMKernel(math.inf), sigma_data=0.5)
    got = loss(model, y, mask, sigma=torch.tensor([0.3, 2.0]), generator=torch.Generator().manual_seed(0))
    want = torch.tensor([(math.log(2) + math.log(4) + math.log(4)) / 3, math.log(4)])
    assert torch.allclose(got, want, atol=1e-6), got


@pytest.mark.parametrize("D", [1, math.inf])
def test_posterior_logits_minimise_the_categorical_loss(D):
    """The exact posterior class probabilities of a finite one-hot set minimise the cross-entropy at
    every σ: tilting them towards any class costs loss (same noise draws)."""
    from pfgm.core.loss import CategoricalLoss

    g = torch.Generator().manual_seed(4)
    pts = torch.nn.functional.one_hot(torch.randint(0, 4, (6, 3), generator=g), 4).double() - 0.5
    orc = OracleDenoiser(pts, D)
    y = pts[torch.randint(0, 6, (6000,), generator=g)]
    loss = CategoricalLoss(PFGMKernel(D), sigma_data=0.5)
    sig = torch.full((len(y),), 0.8, dtype=torch.float64)

    def posterior(tilt):
        def model(x, s, cond=None, mask=None, logits=False):
            out = (orc(x, s) + 0.5).clamp_min(1e-300).log()
            return out + tilt

        return model

    base = loss(posterior(0.0), y, sigma=sig, generator=torch.Generator().manual_seed(5)).mean()
    for k in range(4):
        tilt = torch.zeros(4, dtype=torch.float64)
        tilt[k] = 0.3
        worse = loss(posterior(tilt), y, sigma=sig, generator=torch.Generator().manual_seed(5)).mean()
        assert worse > base, (k, worse, base)
