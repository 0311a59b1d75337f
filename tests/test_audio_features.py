"""Representations and backbones: the log-mel scale, the mel → Griffin-Lim round trip above a stated
spectral-convergence bound, tones with known pitch, the DiffWave-style network."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

pytest.importorskip("torchaudio")

from pfgm.modalities.audio.backbone import DiffWave  # noqa: E402
from pfgm.modalities.audio.data import TONE_NOTES, estimate_pitch, fixed_length, make_tones  # noqa: E402
from pfgm.modalities.audio.features import MelCodec, WaveCodec, spectral_convergence  # noqa: E402
from pfgm.modalities.audio.metrics import pitch_accuracy, spectral_distance  # noqa: E402

#: mel-domain spectral convergence ‖M − M̂‖/‖M‖ (magnitudes) of encode → inverse mel + Griffin-Lim (32 iterations)
#: → mel, default 32-mel codec, on harmonic tones (the hard case: sparse spectra); measured 0.085
#: (speech: 0.019, bound 0.05 in test_audio_speech.py)
MEL_SC_BOUND = 0.12


def tone_waves(n: int = 8, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor, MelCodec]:
    codec = MelCodec()
    waves, _ = fixed_length(make_tones(n, 8000, seed), codec.num_samples, noise_dbfs=-50.0)
    codec.ref_db = float(codec.mel_db(waves).max())  # as the modality pins it: the loudest bin → +1
    return waves, make_tones(n, 8000, seed).labels, codec


def test_log_mel_scale_and_inverse():
    codec = MelCodec(ref_db=10.0, top_db=70.0)
    assert codec.num_samples == 31 * 192 and codec.shape == (1, 32, 32)
    waves, _, _ = tone_waves(4)
    x = codec.encode(waves)
    assert x.shape == (4, 1, 32, 32) and x.min() >= -1 and x.max() <= 1
    # the map is linear in dB: ref_db ↦ +1, ref_db − top_db ↦ −1, and to_power inverts it above the floor
    db = codec.mel_db(waves)
    inside = (db > codec.ref_db - 70) & (db < codec.ref_db)
    assert torch.allclose(x[:, 0][inside], ((db - 10.0) / 35 + 1)[inside], atol=1e-5)
    back = 10 * torch.log10(codec.to_power(x))
    assert torch.allclose(back[inside], db[inside], atol=1e-3)
    with pytest.raises(ValueError, match="expected waves"):
        codec.encode(waves[:, :100])
    with pytest.raises(ValueError, match="hop_length"):
        MelCodec(n_fft=128, hop_length=256)


def test_griffin_lim_round_trip_above_the_bound_and_seeded():
    waves, _, codec = tone_waves(6)
    x = codec.encode(waves)
    rec = codec.decode(x, generator=torch.Generator().manual_seed(1))
    assert rec.shape == waves.shape
    sc = spectral_convergence(codec.power_mel(waves).sqrt(), codec.power_mel(rec).sqrt())
    assert sc < MEL_SC_BOUND
    # Griffin-Lim's random start comes from the generator only: same generator, same audio; global RNG untouched
    state = torch.random.get_rng_state()
    again = codec.decode(x, generator=torch.Generator().manual_seed(1))
    assert torch.equal(rec, again) and torch.equal(state, torch.random.get_rng_state())
    # one Griffin-Lim iteration is clearly worse than the default 32
    codec1 = MelCodec(ref_db=codec.ref_db, griffin_lim_iters=1)
    sc1 = spectral_convergence(codec.power_mel(waves).sqrt(), codec1.power_mel(codec1.decode(x)).sqrt())
    assert sc1 > sc
    # the pitch survives the trip
    for w, lab in zip(rec.numpy(), make_tones(6, 8000, 0).labels.tolist()):
        assert 1200 * abs(math.log2(estimate_pitch(w, 8000) / TONE_NOTES[lab])) < 50


def test_spectral_convergence_and_distance_closed_forms():
    a = torch.ones(2, 3, 4)
    assert spectral_convergence(a, a) == 0.0
    assert spectral_convergence(a, 2 * a) == pytest.approx(1.0)
    assert spectral_convergence(torch.zeros(3), torch.zeros(3)) == 0.0
    db = torch.zeros(5, 8, 6)
    assert spectral_distance(db, db) == 0.0
    # every bin 10 dB louder: power ×10 everywhere, the average spectrum differs by exactly 10 dB
    assert spectral_distance(db + 10, db) == pytest.approx(10.0)


def test_tones_have_their_pitch():
    clips = make_tones(40, 8000, seed=3)
    assert len(clips) == 40 and clips.classes[0] == "C4" and set(clips.labels.tolist()) <= set(range(8))
    for w, lab in zip(clips.waves, clips.labels.tolist()):
        assert 1200 * abs(math.log2(estimate_pitch(w, 8000) / TONE_NOTES[lab])) < 10  # cents
    acc = pitch_accuracy(clips.waves, 8000, list(TONE_NOTES), clips.labels.tolist())
    assert acc == {"pitch_in_tune": 1.0, "pitch_accuracy": 1.0}
    # A#4 lies a semitone from A4 and further from the other notes: out of tune; silence has no pitch
    off = (0.3 * np.sin(2 * np.pi * 440.0 * 2 ** (1 / 12) * np.arange(4000) / 8000)).astype(np.float32)
    assert pitch_accuracy([off, np.zeros(4000, np.float32)], 8000, list(TONE_NOTES), [4, None]) == {
        "pitch_in_tune": 0.0,
        "pitch_accuracy": 0.0,
    }
    assert math.isnan(estimate_pitch(np.zeros(100), 8000))


def test_wave_codec_is_the_identity():
    codec = WaveCodec(8000, 100)
    w = torch.rand(3, 100) * 2 - 1
    assert torch.equal(codec.decode(codec.encode(w)), w) and codec.encode(w).shape == (3, 1, 100)


def test_diffwave_shapes_init_and_conditioning():
    torch.manual_seed(0)
    net = DiffWave(channels=8, layers=4, dilation_cycle=2, num_classes=3)
    x, c = torch.randn(2, 1, 50), torch.tensor([0.1, -0.3])
    out = net(x, c, torch.tensor([1, -1]))
    assert out.shape == x.shape and not out.any()  # zero-initialised output projection: F ≡ 0 at init
    torch.nn.init.normal_(net.out.weight)
    a = net(x, c, torch.tensor([1, -1]))
    assert not torch.allclose(a, net(x, c, torch.tensor([2, -1])))  # the label matters
    assert torch.allclose(net(x, c, None), net(x, c, torch.tensor([-1, -1])))  # None = "no label"
    # the receptive field is finite: dilations 1, 2, 1, 2 with kernel 3 reach 2·(1+2+1+2) = 12 samples each way
    x2 = x.clone()
    x2[:, :, 0] += 1.0
    diff = (net(x2, c) - net(x, c)).abs()[0, 0]
    assert diff[:13].abs().sum() > 0 and diff[13:].abs().max() == 0
    mask = torch.ones_like(x)
    mask[:, :, 40:] = 0
    assert not net(x, c, mask=mask)[:, :, 40:].any()
    with pytest.raises(ValueError, match="expected waveforms"):
        net(torch.randn(2, 50), c)
