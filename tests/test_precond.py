"""EDM preconditioning and the σ_data estimate."""

import math

import pytest
import torch

from pfgm.core.oracle import OracleDenoiser
from pfgm.core.precond import CategoricalDenoiser, Denoiser, estimate_sigma_data


class Record(torch.nn.Module):
    def forward(self, x_in, c_noise, cond=None, mask=None):
        self.last = (x_in.clone(), c_noise.clone())
        return torch.ones_like(x_in)


def test_coefficients_match_edm():
    sd = 0.5
    net = Record()
    den = Denoiser(net, sd)
    x = torch.randn(3, 4, dtype=torch.float64)
    sigma = torch.tensor([0.1, 1.0, 10.0], dtype=torch.float64)
    out = den(x, sigma)
    s = sigma[:, None]
    c_skip = sd**2 / (s**2 + sd**2)
    c_out = s * sd / (s**2 + sd**2).sqrt()
    torch.testing.assert_close(out, c_skip * x + c_out)
    torch.testing.assert_close(net.last[0], x / (s**2 + sd**2).sqrt())
    torch.testing.assert_close(net.last[1], sigma.log() / 4)


def test_mask_zeroes_output_and_bad_sigma_data():
    den = Denoiser(Record(), 0.5)
    mask = torch.tensor([[1.0, 1.0, 0.0]])
    assert den(torch.randn(1, 3), 1.0, mask=mask)[0, 2] == 0
    with pytest.raises(ValueError):
        Denoiser(Record(), 0.0)


def test_estimate_sigma_data():
    x = torch.tensor([[3.0, 4.0, 100.0]])
    mask = torch.tensor([[1.0, 1.0, 0.0]])
    assert math.isclose(estimate_sigma_data(x, mask), math.sqrt(12.5))
    assert math.isclose(estimate_sigma_data(torch.full((10, 2), 2.0)), 2.0)
    with pytest.raises(ValueError):
        estimate_sigma_data(x, torch.zeros_like(x))


def _posterior_logit_backbone(oracle, sigma_data):
    """A 'backbone' that reads σ and x back from its inputs (c_noise = ln σ / 4, x_in = x / √(σ² + σ_d²))
    and returns each position's log class probability under the exact posterior: for one-hot points,
    E[one-hot | x] = oracle(x) + 0.5. These are the logits the cross-entropy is minimised by."""

    class Net(torch.nn.Module):
        def forward(self, x_in, c_noise, cond=None, mask=None):
            s = torch.exp(4 * c_noise.to(torch.float64))
            x = x_in.to(torch.float64) * (s.reshape(-1, 1, 1) ** 2 + sigma_data**2).sqrt()
            return (oracle(x, s) + 0.5).clamp_min(1e-300).log()

    return Net()


@pytest.mark.parametrize("D", [1, 128, math.inf])
def test_categorical_head_with_posterior_logits_is_the_oracle(D):
    """softmax(log posterior class probabilities) − 0.5 is E[y | x]: the head's parametrisation (axis,
    shift) reproduces the closed-form denoiser of a finite set of one-hot sequences, for every D."""
    g = torch.Generator().manual_seed(0)
    idx = torch.randint(0, 4, (5, 3), generator=g)
    points = torch.nn.functional.one_hot(idx, 4).double() - 0.5  # 5 sequences of 3 positions, K = 4
    oracle = OracleDenoiser(points, D)
    den = CategoricalDenoiser(_posterior_logit_backbone(oracle, 0.5), sigma_data=0.5)
    for sigma in (0.1, 0.7, 3.0):
        x = points[torch.randint(0, 5, (16,), generator=g)] + sigma * torch.randn(16, 3, 4, generator=g, dtype=torch.float64)
        got, want = den(x, sigma), oracle(x, sigma)
        assert torch.allclose(got, want, atol=1e-9), (D, sigma, (got - want).abs().max())


def test_categorical_head_stays_on_the_simplex_and_off_padding():
    net = torch.nn.Linear(5, 5)
    den = CategoricalDenoiser(lambda x, c, cond=None, mask=None: net(x) * 7.0, sigma_data=0.5)
    x = torch.randn(4, 6, 5)
    mask = torch.ones_like(x)
    mask[1, 3:] = 0
    out = den(x, 0.4, mask=mask)
    real = mask[..., 0].bool()
    assert torch.allclose(out[real].sum(-1), torch.full((int(real.sum()),), 1 - 5 * 0.5), atol=1e-6)
    assert (out[real] >= -0.5 - 1e-7).all() and (out[real] <= 0.5 + 1e-7).all()
    assert (out[~real] == 0).all()
    assert den(x, 0.4, mask=mask, logits=True).shape == x.shape
