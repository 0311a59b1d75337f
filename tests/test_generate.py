"""pfgm_core.generate: batches in index order, the same samples whether collected or streamed."""

from __future__ import annotations

import torch

from modalities.base import Encoded
from pfgm_core.generate import GenerateConfig, generate, generate_batches
from pfgm_core.kernel import PFGMKernel
from pfgm_core.schedule import karras_sigmas


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
