"""pfgm.core.generate: batches in index order, the same samples whether collected or streamed."""

from __future__ import annotations

import torch

from pfgm.modalities.base import Encoded
from pfgm.core.generate import GenerateConfig, generate, generate_batches
from pfgm.core.kernel import PFGMKernel
from pfgm.core.schedule import karras_sigmas


def _blank(num: int, g: torch.Generator) -> Encoded:
    return Encoded(torch.zeros(num, 3), None, None)


def _denoiser(x, sigma, **_):
    return torch.tanh(x) * 0.5  # any deterministic function of x will do


def test_streamed_batches_concatenate_to_the_collected_samples():
    cfg = GenerateConfig(num_samples=10, seed=3, batch_size=4, solver="heun", steps=4)
    sig = karras_sigmas(4, 0.002, 80.0)
    x, _, _ = generate(_denoiser, PFGMKernel(16), _blank, sig, cfg, progress=False)
    parts = list(generate_batches(_denoiser, PFGMKernel(16), _blank, sig, cfg, progress=False))
    assert [p[0] for p in parts] == [0, 4, 8] and [len(p[1]) for p in parts] == [4, 4, 2]
    assert torch.equal(torch.cat([p[1] for p in parts]), x)


def test_batches_are_produced_lazily():
    """The second batch is not sampled before the first is taken: memory holds one batch."""
    calls = []

    def den(x, sigma, **_):
        calls.append(len(x))
        return x * 0

    cfg = GenerateConfig(num_samples=6, batch_size=3, solver="euler", steps=2)
    it = generate_batches(den, PFGMKernel(float("inf")), _blank, karras_sigmas(2, 0.002, 80.0), cfg, progress=False)
    next(it)
    assert calls == [3, 3]  # two solver calls for the first batch only
    next(it)
    assert calls == [3, 3, 3, 3]


def test_no_samples_gives_empty_tensors():
    cfg = GenerateConfig(num_samples=0, batch_size=3, solver="euler", steps=2)
    x, mask, cond = generate(_denoiser, PFGMKernel(16), _blank, karras_sigmas(2, 0.002, 80.0), cfg, progress=False)
    assert x.shape == (0, 3) and mask is None and cond is None


def test_steered_generation_follows_the_tilted_law_and_keeps_masks():
    """particles > 1: each sample is k prior draws from its own seed, resampled by the reward; the
    output has one row per sample. Two points with reward log 3 on a: the tilted law puts 3/4 on a."""
    import math

    import pytest

    from pfgm.core import OracleDenoiser

    pts = torch.tensor([[0.5, 0.5, 0.5], [-0.5, -0.5, 0.5]], dtype=torch.float64)
    near_a = lambda x: (x - pts[0]).norm(dim=1) < (x - pts[1]).norm(dim=1)  # noqa: E731
    reward = lambda x, m: near_a(x.double()).double() * math.log(3.0)  # noqa: E731
    sig = karras_sigmas(18, 0.002, 80.0)
    den = OracleDenoiser(pts, 16)
    share = {}
    for k in (1, 32):
        cfg = GenerateConfig(num_samples=800, seed=0, batch_size=200, particles=k)
        x, mask, _ = generate(den, PFGMKernel(16), _blank, sig, cfg, progress=False, potential=reward)
        assert x.shape == (800, 3) and mask is None
        share[k] = near_a(x.double()).double().mean().item()
    assert abs(share[1] - 0.5) < 0.06 and abs(share[32] - 0.75) < 0.05
    with pytest.raises(ValueError, match="potential"):
        generate(den, PFGMKernel(16), _blank, sig, GenerateConfig(num_samples=2, particles=2), progress=False)
    with pytest.raises(ValueError, match="heun or euler"):
        GenerateConfig(particles=2, solver="dpmpp_2m")
    with pytest.raises(ValueError, match="steer_lambda"):
        GenerateConfig(particles=2, steer_lambda=-1.0)
