"""The shared σ embedding and FiLM: each backbone's frequencies exactly as its weights were trained with."""

import math

import pytest
import torch

from pfgm.modalities.shared.conditioning import SigmaEmbedding, film


@pytest.mark.parametrize("dim", [2, 8, 24, 32, 64, 96, 128, 256])
def test_frequencies_are_each_backbones_own(dim):
    n = dim // 2
    # the U-Net's and DiffWave's: log-spaced 0.1 … 100
    unet = SigmaEmbedding(dim, 0.1, 100.0)
    assert torch.equal(unet.freqs, torch.logspace(math.log10(0.1), math.log10(100.0), n))
    # the graphs': 10000^(-k/n), k < n, applied to 100·c_noise
    graph = SigmaEmbedding(dim, 1.0, 1e-4, endpoint=False, scale=100.0)
    assert torch.equal(graph.freqs, torch.exp(-math.log(10_000.0) * torch.arange(n, dtype=torch.float64) / n).float())
    # the sequences': 1 … 1000 computed in float32
    seq = SigmaEmbedding(dim, 1.0, 1000.0, sin_first=True, dtype=torch.float32)
    assert torch.equal(seq.freqs, torch.exp(torch.linspace(0, math.log(1000.0), n)))


def test_features_order_scale_and_shape():
    c = torch.tensor([-1.6, 0.0, 0.4, 1.1])
    e = SigmaEmbedding(8, 0.1, 100.0)
    a = c[:, None] * e.freqs[None]
    assert torch.equal(e(c), torch.cat([a.cos(), a.sin()], 1))
    s = SigmaEmbedding(8, 1.0, 1000.0, sin_first=True)
    a = c[:, None] * s.freqs[None]
    assert torch.equal(s(c), torch.cat([a.sin(), a.cos()], 1))
    g = SigmaEmbedding(8, 1.0, 1e-4, endpoint=False, scale=100.0)
    a = 100.0 * c.view(-1, 1) * g.freqs.view(1, -1)
    assert torch.equal(g(c), torch.cat([a.cos(), a.sin()], 1))
    assert e(c.double()).dtype == torch.float32 and e(torch.tensor(0.3)).shape == (1, 8)
    assert not dict(e.state_dict())  # no parameters and nothing in checkpoints


def test_bad_dims_are_refused():
    with pytest.raises(ValueError, match="even"):
        SigmaEmbedding(7)
    with pytest.raises(ValueError, match="positive"):
        SigmaEmbedding(8, 0.0, 1.0)


def test_film_broadcasts_over_the_middle_axes():
    torch.manual_seed(0)
    x, shift, scale = torch.randn(2, 3, 4, 5), torch.randn(2, 5), torch.randn(2, 5)
    want = x * (1 + scale[:, None, None, :]) + shift[:, None, None, :]
    assert torch.equal(film(x, shift, scale), want)
    assert torch.equal(film(x[:, 0, 0], shift, scale), x[:, 0, 0] * (1 + scale) + shift)
