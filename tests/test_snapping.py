"""pfgm.core.snapping: the denoised estimate is projected below σ_snap, untouched above it."""

from __future__ import annotations

import pytest
import torch

from pfgm.modalities.sequences.alphabet import Alphabet
from pfgm.modalities.sequences.encoding import SequenceCodec
from pfgm.modalities.shared.onehot import OneHotCodec
from pfgm.core.generate import GenerateConfig
from pfgm.core.schedule import karras_sigmas
from pfgm.core.snapping import SnappedDenoiser
from pfgm.core.solvers import sample
from toy_modality import Ring

BLEND = torch.tensor([0.1, 0.05, -0.5])  # leans to class 0, but is no one-hot vertex


def _blend_denoiser(x, sigma, **_):
    return BLEND.expand_as(x).clone()


def test_onehot_snap_is_the_vertex_of_the_argmax():
    codec = OneHotCodec(3)
    assert torch.equal(codec.snap(BLEND), torch.tensor([0.5, -0.5, -0.5]))
    assert torch.equal(OneHotCodec(1).snap(torch.tensor([[0.2], [-0.1]])), torch.tensor([[0.5], [-0.5]]))


def test_sequence_snap_keeps_padding_zero_and_decodes_the_same():
    codec = SequenceCodec(Alphabet("protein"), 6)
    x, mask = codec.encode(["CARDW", "CAW"])
    noisy = x + 0.3 * torch.randn(x.shape, generator=torch.Generator().manual_seed(0)) * mask
    s = codec.snap(noisy, mask)
    assert codec.decode(s, mask) == codec.decode(noisy, mask)
    assert torch.equal(s * (1 - mask), torch.zeros_like(s))
    assert set(s[mask.bool()].unique().tolist()) == {-0.5, 0.5}


def test_rows_at_or_above_the_threshold_are_untouched():
    den = SnappedDenoiser(_blend_denoiser, lambda d, m: OneHotCodec(3).snap(d), below=1.0)
    out = den(torch.zeros(3, 3), torch.tensor([2.0, 1.0, 0.5]))
    assert torch.equal(out[0], BLEND) and torch.equal(out[1], BLEND)  # σ = 1 is not below 1
    assert torch.equal(out[2], torch.tensor([0.5, -0.5, -0.5]))


def test_the_sampler_ends_on_a_vertex_only_when_snapping():
    """A net that always answers the same blend: the ODE ends on the blend, or on its vertex when snapped."""
    sig = karras_sigmas(8, 0.002, 80.0)
    x0 = torch.randn(4, 3, generator=torch.Generator().manual_seed(1)) * 80
    plain = sample(_blend_denoiser, x0, sig, "heun")
    snapped = sample(SnappedDenoiser(_blend_denoiser, lambda d, m: OneHotCodec(3).snap(d), below=0.5), x0, sig, "heun")
    assert torch.allclose(plain, BLEND.expand(4, 3), atol=1e-3)
    assert torch.allclose(snapped, torch.tensor([0.5, -0.5, -0.5]).expand(4, 3), atol=1e-3)


def test_self_conditioning_flag_passes_through():
    class Net:
        self_condition = True

        def __call__(self, x, sigma, **_):
            return x

    assert SnappedDenoiser(Net(), lambda d, m: d, below=0.1).self_condition is True


def test_bad_thresholds_and_modalities_without_snapping_are_refused():
    with pytest.raises(ValueError, match="snap_below"):
        GenerateConfig(snap_below=-1.0)
    with pytest.raises(ValueError, match="snap_below"):
        SnappedDenoiser(_blend_denoiser, lambda d, m: d, below=0.0)

    continuous = Ring()  # the shared toy keeps the protocol's defaults
    with pytest.raises(ValueError, match="ring_test modality has no snapping"):
        continuous.snap(torch.zeros(1, 3))
    with pytest.raises(ValueError, match="ring_test modality has no connecting"):  # bridging: graphs only
        continuous.connect(torch.zeros(1, 3), torch.ones(1, 3))


def test_graph_snap_equals_the_encoding_of_the_decoded_classes():
    from pfgm.modalities.graphs.flat import GraphLayout, decode_classes

    L = GraphLayout(5, 3, 4)
    mask = L.mask(torch.tensor([5, 3]))
    x = torch.randn(2, L.dim, generator=torch.Generator().manual_seed(2)) * mask
    s = L.snap(x, mask)
    assert torch.equal(s * (1 - mask), torch.zeros_like(s))
    for (a, b), (a2, b2) in zip(decode_classes(L, x, mask), decode_classes(L, s, mask)):
        assert (a == a2).all() and (b == b2).all()
    assert set(s[mask.bool()].unique().tolist()) == {-0.5, 0.5}
    bits = GraphLayout(4, 0, 1)  # generic graphs: no node channels, one edge bit
    xb = torch.tensor([[0.2, -0.1, 0.3, -0.4, 0.01, -0.3]])
    assert torch.equal(bits.snap(xb), torch.tensor([[0.5, -0.5, 0.5, -0.5, 0.5, -0.5]]))
