"""Audio I/O: bit-exact 16-bit WAV round trip, resampling keeps pitch, loudness, fitting to length, and
bad input (non-audio, truncated, stereo, empty or mixed folders) raising errors that name the file."""

from __future__ import annotations

import numpy as np
import pytest

sf = pytest.importorskip("soundfile")
pytest.importorskip("torchaudio")

from pfgm.modalities.audio.data import AudioFolderError, load_wav_folder  # noqa: E402
from pfgm.modalities.audio.io import (  # noqa: E402
    AudioFileError,
    ChannelError,
    NotAudioError,
    TruncatedAudioError,
    fit_duration,
    normalize_loudness,
    read_audio,
    resample,
    to_int16,
    trim_silence,
    write_wav,
)


def sine(freq: float, rate: int, seconds: float = 0.5, amp: float = 0.5) -> np.ndarray:
    return (amp * np.sin(2 * np.pi * freq * np.arange(int(rate * seconds)) / rate)).astype(np.float32)


def peak_hz(wave: np.ndarray, rate: int) -> float:
    spec = np.abs(np.fft.rfft(wave * np.hanning(len(wave)), 1 << 16))
    return float(np.argmax(spec) * rate / (1 << 16))


def test_int16_wav_round_trip_is_bit_exact(tmp_path):
    g = np.random.default_rng(0)
    pcm = np.concatenate([[-32768, -1, 0, 1, 32767], g.integers(-32768, 32768, 4000)]).astype(np.int16)
    path = write_wav(tmp_path / "a.wav", pcm, 8000)
    back, rate = sf.read(path, dtype="int16")
    assert rate == 8000 and back.dtype == np.int16 and np.array_equal(back, pcm)
    assert sf.info(str(path)).subtype == "PCM_16" and sf.info(str(path)).channels == 1
    # float input: x·32767 rounded and clipped; reading as float gives back int/32768 (libsndfile's scale)
    f = np.array([0.0, 0.5, -0.5, 1.0, -1.0, 2.0, -2.0], np.float32)
    assert to_int16(f).tolist() == [0, 16384, -16384, 32767, -32767, 32767, -32768]
    write_wav(tmp_path / "b.wav", f, 16000)
    wave, _ = read_audio(tmp_path / "b.wav")
    assert np.array_equal(wave, to_int16(f).astype(np.float32) / 32768)
    assert not list(tmp_path.glob(".*.tmp"))  # no temp litter from the atomic writes


@pytest.mark.parametrize("src,dst", [(8000, 16000), (22050, 8000), (16000, 8000)])
def test_resampling_keeps_a_sines_frequency(src, dst):
    wave = sine(440.0, src)
    out = resample(wave, src, dst)
    assert abs(len(out) - len(wave) * dst / src) <= 1
    assert peak_hz(out, dst) == pytest.approx(440.0, abs=1.0)
    # RMS is kept (band-limited, the tone is well below both Nyquist frequencies)
    mid = slice(len(out) // 4, 3 * len(out) // 4)
    assert np.sqrt(np.mean(out[mid] ** 2)) == pytest.approx(0.5 / np.sqrt(2), rel=0.02)
    assert np.array_equal(resample(wave, src, src), wave)


def test_loudness_trim_and_fit():
    w = sine(300.0, 8000, amp=0.01)
    out = normalize_loudness(w, -20.0)
    assert 20 * np.log10(np.sqrt(np.mean(out.astype(np.float64) ** 2))) == pytest.approx(-20.0, abs=1e-3)
    # a peaky signal is scaled down so |x| <= peak, even though that misses the RMS target
    spike = np.zeros(1000, np.float32)
    spike[10] = 0.1
    assert np.abs(normalize_loudness(spike, -20.0, peak=0.9)).max() == pytest.approx(0.9)
    assert not normalize_loudness(np.zeros(5, np.float32)).any()

    padded = np.concatenate([np.zeros(100), sine(300.0, 8000, 0.1), np.zeros(50)]).astype(np.float32)
    trimmed = trim_silence(padded, -40.0)
    assert 790 <= len(trimmed) <= 800 and trim_silence(np.zeros(10)).size == 0

    x, m = fit_duration(np.ones(4, np.float32), 10)
    assert x.tolist() == [0, 0, 0, 1, 1, 1, 1, 0, 0, 0] and np.array_equal(m, x)
    x, m = fit_duration(np.ones(4, np.float32), 10, align="start")
    assert x.tolist() == [1] * 4 + [0] * 6 and np.array_equal(m, x)
    x, m = fit_duration(np.arange(10, dtype=np.float32), 4)
    assert x.tolist() == [3, 4, 5, 6] and m.tolist() == [1] * 4
    x, _ = fit_duration(np.arange(10, dtype=np.float32), 4, align="start")
    assert x.tolist() == [0, 1, 2, 3]


def test_bad_files_raise_errors_naming_the_file(tmp_path):
    text = tmp_path / "notes.wav"
    text.write_text("this is not audio\n")
    with pytest.raises(NotAudioError, match=r"notes\.wav: not a readable audio file"):
        read_audio(text)

    good = write_wav(tmp_path / "good.wav", sine(200.0, 8000), 8000)
    data = good.read_bytes()
    cut = tmp_path / "cut.wav"
    cut.write_bytes(data[: len(data) // 2])
    with pytest.raises(TruncatedAudioError, match=r"cut\.wav: truncated WAV: the data chunk is \d+ bytes short"):
        read_audio(cut)
    header_only = tmp_path / "header.wav"
    header_only.write_bytes(data[:30])
    with pytest.raises(AudioFileError, match=r"header\.wav"):
        read_audio(header_only)
    with pytest.raises(AudioFileError, match=r"missing\.wav: no such file"):
        read_audio(tmp_path / "missing.wav")
    empty = tmp_path / "empty.wav"
    sf.write(str(empty), np.zeros(0, np.int16), 8000, subtype="PCM_16")
    with pytest.raises(AudioFileError, match=r"empty\.wav: holds no audio samples"):
        read_audio(empty)


def test_stereo_is_mixed_down_or_refused(tmp_path):
    left, right = sine(200.0, 8000, amp=0.5), np.zeros(4000, np.float32)
    path = tmp_path / "stereo.flac"
    sf.write(str(path), np.stack([left, right], 1), 8000, subtype="PCM_16")
    mixed, rate = read_audio(path)
    assert rate == 8000 and mixed.ndim == 1
    assert np.allclose(mixed, (to_int16(left) / 32768) / 2, atol=1 / 32768)
    first, _ = read_audio(path, mono="first")
    assert np.allclose(first, to_int16(left) / 32768, atol=1e-6)
    with pytest.raises(ChannelError, match=r"stereo\.flac: has 2 channels; mono audio expected"):
        read_audio(path, mono="error")


def test_stereo_files_in_a_folder_are_mixed_with_a_warning(tmp_path):
    root = tmp_path / "st"
    root.mkdir()
    sf.write(str(root / "two.wav"), np.stack([sine(200.0, 8000), sine(200.0, 8000)], 1), 8000, subtype="PCM_16")
    write_wav(root / "one.wav", sine(300.0, 8000), 8000)
    with pytest.warns(UserWarning, match=r"1 multi-channel file\(s\) averaged to mono \(first: .*two\.wav\)"):
        clips = load_wav_folder(root)
    assert len(clips) == 2 and all(w.ndim == 1 for w in clips.waves)
    with pytest.raises(ChannelError, match=r"two\.wav: has 2 channels"):
        load_wav_folder(root, mono="error")


def test_wav_folder_labels_and_errors(tmp_path):
    root = tmp_path / "clips"
    for name, f in (("high", 800.0), ("low", 200.0)):
        for i in range(3):
            write_wav(root / name / f"{i}.wav", sine(f, 16000, 0.3), 16000)
    clips = load_wav_folder(root, sample_rate=8000)
    assert clips.classes == ["high", "low"] and clips.labels.tolist() == [0, 0, 0, 1, 1, 1]
    assert clips.sample_rate == 8000 and all(abs(len(w) - 2400) <= 2 for w in clips.waves)
    assert peak_hz(clips.waves[4], 8000) == pytest.approx(200.0, abs=1.5)

    flat = tmp_path / "flat"
    write_wav(flat / "a.wav", sine(300.0, 8000, 0.2), 8000)
    assert load_wav_folder(flat).labels is None

    (root / "low" / "README.txt").write_text("about these clips")
    with pytest.raises(AudioFolderError, match=r"README\.txt: not an audio file"):
        load_wav_folder(root)
    assert len(load_wav_folder(root, skip_non_audio=True)) == 6

    (root / "empty").mkdir()
    with pytest.raises(AudioFolderError, match=r"empty: class folder has no \.wav/\.flac files"):
        load_wav_folder(root, skip_non_audio=True)
    (tmp_path / "nothing").mkdir()
    with pytest.raises(AudioFolderError, match=r"nothing: folder has no \.wav/\.flac files"):
        load_wav_folder(tmp_path / "nothing")
    with pytest.raises(AudioFolderError, match=r"absent: no such folder"):
        load_wav_folder(tmp_path / "absent")

    bad = tmp_path / "bad"
    write_wav(bad / "ok.wav", sine(300.0, 8000, 0.2), 8000)
    (bad / "broken.wav").write_bytes(b"RIFF....WAVEjunk")
    with pytest.raises(AudioFileError, match=r"broken\.wav"):
        load_wav_folder(bad)
