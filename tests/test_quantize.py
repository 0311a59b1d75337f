"""Post-training weight quantization (pfgm_core.quantize) against hand-checked values."""

import pytest
import torch
from torch import nn

from pfgm.core.quantize import quantize_tensor, quantized_state_dict


def test_two_bits_round_to_four_levels_between_min_and_max():
    w = torch.tensor([[0.0, 0.1, 0.2, 0.5], [0.55, 0.8, 0.9, 1.2]])
    # 2 bits: levels 0, 0.4, 0.8, 1.2 (step (1.2 − 0)/3)
    want = torch.tensor([[0.0, 0.0, 0.0, 0.4], [0.4, 0.8, 0.8, 1.2]])
    torch.testing.assert_close(quantize_tensor(w, 2), want)


def test_levels_count_and_error_bound():
    w = torch.randn(64, 64, generator=torch.Generator().manual_seed(0))
    for bits in (4, 6, 8):
        q = quantize_tensor(w, bits)
        assert q.unique().numel() <= 2**bits
        step = (w.max() - w.min()) / (2**bits - 1)
        assert (q - w).abs().max() <= step / 2 + 1e-6
        assert q.min() == w.min() and torch.isclose(q.max(), w.max())


def test_constant_tensor_is_kept_and_bad_bits_refused():
    w = torch.full((3, 3), 0.7)
    assert torch.equal(quantize_tensor(w, 4), w)
    for bits in (1, 0, 2.5, True):
        with pytest.raises(ValueError, match="bits must be a whole number ≥ 2"):
            quantize_tensor(w, bits)


def test_state_dict_quantizes_matrices_only_and_keeps_biases_norms_embeddings():
    torch.manual_seed(0)
    net = nn.Sequential(nn.Embedding(10, 4), nn.Linear(4, 4), nn.LayerNorm(4), nn.Conv1d(4, 4, 3))
    sd = quantized_state_dict(net, 3)
    orig = net.state_dict()
    for name in ("0.weight", "1.bias", "2.weight", "2.bias", "3.bias"):
        assert torch.equal(sd[name], orig[name]), name
    for name in ("1.weight", "3.weight"):
        assert not torch.equal(sd[name], orig[name]) and sd[name].unique().numel() <= 8, name
