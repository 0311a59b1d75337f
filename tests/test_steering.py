"""Feynman-Kac steering against a closed form: the oracle denoiser of two points, tilted by a reward.

Points a, b with equal weights and reward r = log 3 on a, 0 on b: the tilted law p·e^r / Z puts
3/4 of the mass on a. Unsteered (one particle), or with λ = 0, it is 1/2.
"""

import math

import pytest
import torch

from pfgm.core import OracleDenoiser, PFGMKernel, karras_sigmas, sample
from pfgm.core.steering import Steering, group_resample

N = 8


def _points() -> torch.Tensor:
    a = torch.full((N,), 0.5, dtype=torch.float64)
    b = a.clone()
    b[: N // 2] = -0.5
    return torch.stack([a, b])


def _share_on_a(D: float, particles: int, lam: float, groups: int = 1000, seed: int = 0) -> float:
    pts = _points()
    near_a = lambda x: (x - pts[0]).norm(dim=1) < (x - pts[1]).norm(dim=1)  # noqa: E731
    steering = Steering(lambda x, m: near_a(x).double() * math.log(3.0), particles, lam)
    k = PFGMKernel(D)
    x0 = k.prior((groups * particles, N), 80.0, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)
    x = sample(
        OracleDenoiser(pts, D),
        x0,
        karras_sigmas(18, 0.002, 80.0),
        "heun",
        steering=steering,
        generator=torch.Generator().manual_seed(seed + 1),
    )
    picked = x[::particles]  # one draw per sample
    assert (torch.cdist(picked, pts).min(1).values < 1e-2).double().mean() >= 0.99  # picks land on the data
    return near_a(picked).double().mean().item()


@pytest.mark.parametrize("D", [1, 128, math.inf])
def test_steering_samples_the_tilted_law(D):
    assert abs(_share_on_a(D, particles=32, lam=1.0) - 0.75) < 0.04  # e^r-tilted: 3/4 (±0.014 sampling error)


def test_without_steering_or_at_lambda_zero_the_law_is_the_models():
    assert abs(_share_on_a(128, particles=1, lam=1.0, groups=4000) - 0.5) < 0.03
    assert abs(_share_on_a(128, particles=8, lam=0.0) - 0.5) < 0.05
    # and a stronger tilt moves further: e^{2r} puts 9/10 on a
    assert abs(_share_on_a(128, particles=32, lam=2.0) - 0.9) < 0.04


def test_group_resample_stays_in_groups_and_follows_the_weights():
    log_w = torch.tensor([0.0, -math.inf, -math.inf, -math.inf, 0.0, 0.0])
    idx = group_resample(log_w, 3, torch.Generator().manual_seed(0))
    assert idx[:3].tolist() == [0, 0, 0]
    assert set(idx[3:].tolist()) <= {3, 4, 5}
    with pytest.raises(ValueError, match="whole groups"):
        group_resample(torch.zeros(5), 3)


def test_steering_refuses_what_it_cannot_do():
    pts = _points()
    x0 = torch.randn(4, N, dtype=torch.float64)
    with pytest.raises(ValueError, match="heun or euler"):
        sample(
            OracleDenoiser(pts, 128),
            x0,
            karras_sigmas(6, 0.002, 80.0),
            "dpmpp_2m",
            steering=Steering(lambda x, m: torch.zeros(len(x)), 2),
        )
    with pytest.raises(ValueError, match="one finite reward per row"):
        sample(
            OracleDenoiser(pts, 128),
            x0,
            karras_sigmas(6, 0.002, 80.0),
            "heun",
            steering=Steering(lambda x, m: torch.full((len(x),), math.nan), 2),
        )
    with pytest.raises(ValueError, match="particles"):
        Steering(lambda x, m: x, 0)
    with pytest.raises(ValueError, match="lambda"):
        Steering(lambda x, m: x, 2, lam=-1.0)


def test_resampling_moves_the_self_conditioning_estimate_with_its_particle():
    """With D(x) = x Heun's particles stand still (both slopes are exactly 0), so a self-conditioning net
    must be handed back exactly its own row of x on every call: after a resampling the last estimate
    of each particle has to move with it. Guard: the resampling did reorder rows."""
    fed = []

    class Echo:
        self_condition = True

        def __call__(self, x, s, cond=None, mask=None, self_cond=None):
            fed.append((x.clone(), self_cond.clone()))
            return x.clone()

    x0 = torch.randn(16, 3, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    steering = Steering(lambda x, m: 2.0 * x[:, 0], particles=4)
    x = sample(Echo(), x0, karras_sigmas(5, 0.002, 10.0), "heun", steering=steering, generator=torch.Generator().manual_seed(1))
    assert not torch.equal(x, x0)  # some rows were replaced by others of their group
    assert torch.equal(fed[0][1], torch.zeros_like(x0))
    for x_in, self_cond in fed[1:]:
        assert torch.equal(self_cond, x_in)
