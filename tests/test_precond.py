"""EDM preconditioning and the σ_data estimate."""

import math

import pytest
import torch

from pfgm_core.precond import Denoiser, estimate_sigma_data


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
