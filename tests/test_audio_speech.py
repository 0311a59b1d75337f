"""Spoken digits synthesised with espeak-ng: the grid of voices × pitches × speeds, the cache (atomic,
reused without calling espeak-ng again), the error that says how to install it, and the speech round
trip through log-mel + Griffin-Lim."""

from __future__ import annotations

import shutil
import subprocess

import numpy as np
import pytest
import torch

pytest.importorskip("soundfile")
pytest.importorskip("torchaudio")

from pfgm.modalities.audio import data as audio_data  # noqa: E402
from pfgm.modalities.audio.data import DIGIT_WORDS, EspeakMissingError, fixed_length, synth_digits  # noqa: E402
from pfgm.modalities.audio.features import MelCodec, spectral_convergence  # noqa: E402

needs_espeak = pytest.mark.skipif(
    shutil.which("espeak-ng") is None, reason="espeak-ng is not installed (sudo apt-get install espeak-ng)"
)

#: mel-domain spectral convergence of speech through encode → inverse mel + Griffin-Lim → mel; measured 0.019
SPEECH_SC_BOUND = 0.05
#: the same at 16 kHz, 1 s, 64 mel bands, hop 250; measured 0.081 (Griffin-Lim iterations barely move it: 0.079 at 128)
SPEECH_SC_BOUND_16K = 0.1


def test_missing_espeak_says_how_to_install(monkeypatch, tmp_path):
    monkeypatch.setattr(audio_data.shutil, "which", lambda name: None)
    with pytest.raises(EspeakMissingError, match=r"apt-get install espeak-ng"):
        synth_digits(voices=["en-us"], pitches=[50], speeds=[175], cache=tmp_path)


@needs_espeak
def test_synthesis_grid_cache_and_round_trip(tmp_path, monkeypatch):
    clips = synth_digits(voices=["en-us", "en-gb+f4"], pitches=[50], speeds=[175], sample_rate=8000, cache=tmp_path)
    assert len(clips) == 20 and clips.labels.tolist() == list(range(10)) * 2 and clips.classes == list(DIGIT_WORDS)
    lengths = np.array([len(w) for w in clips.waves]) / 8000
    assert lengths.min() > 0.15 and lengths.max() < 0.75  # trimmed words, ~0.2-0.6 s
    rms = np.array([np.sqrt(np.mean(w.astype(np.float64) ** 2)) for w in clips.waves])
    assert np.allclose(20 * np.log10(rms), -20.0, atol=0.1)  # loudness-normalised (int16 storage rounds a little)
    caches = list(tmp_path.glob("espeak_digits_*.npz"))
    assert len(caches) == 1 and not list(tmp_path.glob(".*.tmp"))

    # the second call reads the cache: espeak-ng is asked for its version only
    calls = []
    real_run = subprocess.run

    def spy(cmd, *a, **k):
        calls.append(cmd)
        return real_run(cmd, *a, **k)

    monkeypatch.setattr(audio_data.subprocess, "run", spy)
    again = synth_digits(voices=["en-us", "en-gb+f4"], pitches=[50], speeds=[175], sample_rate=8000, cache=tmp_path)
    assert all("--version" in c for c in calls) and all(np.array_equal(a, b) for a, b in zip(again.waves, clips.waves))
    # a corrupt cache is rebuilt
    caches[0].write_bytes(b"not an npz")
    rebuilt = synth_digits(voices=["en-us", "en-gb+f4"], pitches=[50], speeds=[175], sample_rate=8000, cache=tmp_path)
    assert all(np.array_equal(a, b) for a, b in zip(rebuilt.waves, clips.waves))

    codec = MelCodec()
    waves, mask = fixed_length(clips, codec.num_samples)
    assert waves.shape == (20, codec.num_samples) and (mask.sum(1) < codec.num_samples).all()
    codec.ref_db = float(codec.mel_db(waves).max())
    rec = codec.decode(codec.encode(waves), generator=torch.Generator().manual_seed(0))
    assert spectral_convergence(codec.power_mel(waves).sqrt(), codec.power_mel(rec).sqrt()) < SPEECH_SC_BOUND


@needs_espeak
def test_sc09_shaped_round_trip_at_16_khz(tmp_path):
    """SC09's shape: 16 kHz, 1 s = 16,000 samples, 64 mel bands; the mel keeps 64 of the 65 frames and the
    decoded clip is the full second (its last 16 ms silent)."""
    clips = synth_digits(voices=["en-us", "en-gb+f4"], pitches=[50], speeds=[175], sample_rate=16000, cache=tmp_path)
    codec = MelCodec(16000, 1024, 250, 64, 64, clip_samples=16000)
    waves, _ = fixed_length(clips, codec.num_samples)
    assert waves.shape == (20, 16000)
    codec.ref_db = float(codec.mel_db(waves).max())
    x = codec.encode(waves)
    assert x.shape == (20, 1, 64, 64)
    rec = codec.decode(x, generator=torch.Generator().manual_seed(0))
    assert rec.shape == (20, 16000) and rec[:, 15750:].abs().max() == 0.0
    # compared on the frames the model sees: the mel of the decoded clip against the original's
    sc = spectral_convergence(codec.power_mel(waves)[..., :64].sqrt(), codec.power_mel(rec)[..., :64].sqrt())
    assert sc < SPEECH_SC_BOUND_16K
    with pytest.raises(ValueError, match="clip_samples 8000 gives 33 frames"):
        MelCodec(16000, 1024, 250, 64, 64, clip_samples=8000)


@needs_espeak
def test_unknown_voice_is_a_clear_error(tmp_path):
    with pytest.raises(ValueError, match="espeak-ng failed for voice 'xx-nope'"):
        synth_digits(voices=["xx-nope"], pitches=[50], speeds=[175], cache=tmp_path)
