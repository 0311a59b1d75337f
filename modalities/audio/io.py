"""Audio file I/O and clip preparation: read WAV/FLAC, write 16-bit PCM WAV, resample, normalise loudness,
trim silence and fit clips to a fixed duration (with a mask of the real samples).

Waveforms are float32 numpy arrays in [-1, 1], mono (L,) unless stated. Every input problem raises an
:class:`AudioFileError` (a ValueError) whose message starts with the file's path, so a bad file in a folder
of thousands is found at once.
"""

from __future__ import annotations

from pfgm.core.errors import ConfigError, DataError
import io
import os
import struct
from pathlib import Path

import numpy as np
import torch

from pfgm.core.atomic import atomic_write

__all__ = [
    "AUDIO_SUFFIXES",
    "AudioFileError",
    "NotAudioError",
    "TruncatedAudioError",
    "ChannelError",
    "read_audio",
    "wav_bytes",
    "write_wav",
    "resample",
    "normalize_loudness",
    "trim_silence",
    "fit_duration",
    "to_int16",
]

#: file name endings the folder loader reads (libsndfile formats whose support is certain)
AUDIO_SUFFIXES = (".wav", ".flac")


class AudioFileError(DataError):
    """An audio file cannot be used. ``path`` names it; the message starts with it."""

    def __init__(self, path: str | os.PathLike, message: str):
        self.path = Path(path)
        super().__init__(f"{self.path}: {message}")


class NotAudioError(AudioFileError):
    """The file is not audio that libsndfile can decode (a text file named .wav, a broken header...)."""


class TruncatedAudioError(AudioFileError):
    """The file ends before the audio its header announces (an interrupted copy or download)."""


class ChannelError(AudioFileError):
    """The file has more channels than wanted and converting was not allowed."""


def _wav_shortfall(path: Path) -> int | None:
    """For a RIFF/WAVE file: bytes missing from its data chunk (0 = complete); None if not a RIFF file.

    libsndfile reads a truncated WAV silently (it keeps the part that is there), so this walks the
    chunk headers itself: the ``data`` chunk's declared size against the bytes left in the file.
    """
    size = path.stat().st_size
    with open(path, "rb") as f:
        head = f.read(12)
        if len(head) < 12 or head[:4] not in (b"RIFF", b"RF64") or head[8:12] != b"WAVE":
            return None
        if head[:4] == b"RF64":  # 64-bit sizes live in a ds64 chunk; leave those to libsndfile
            return 0
        pos = 12
        while pos + 8 <= size:
            f.seek(pos)
            cid, csize = struct.unpack("<4sI", f.read(8))
            if cid == b"data":
                return max(0, csize - (size - pos - 8))
            pos += 8 + csize + (csize & 1)  # chunks are padded to even sizes
        return 0  # no data chunk: libsndfile will refuse it with its own message


def read_audio(path: str | os.PathLike, mono: str = "mix") -> tuple[np.ndarray, int]:
    """Read a WAV/FLAC file → (wave float32 (L,) in [-1, 1], sample rate).

    mono: what to do with a multi-channel file: "mix" averages the channels (the usual conversion),
    "first" keeps channel 0, "error" raises :class:`ChannelError`. Raises :class:`NotAudioError` for
    files libsndfile cannot decode, :class:`TruncatedAudioError` for cut-off WAVs, and
    :class:`AudioFileError` for empty audio.
    """
    import soundfile as sf

    path = Path(path)
    if mono not in ("mix", "first", "error"):
        raise ConfigError(f"mono must be 'mix', 'first' or 'error', got {mono!r}")
    if not path.is_file():
        raise AudioFileError(path, "no such file")
    short = _wav_shortfall(path)
    if short:
        raise TruncatedAudioError(path, f"truncated WAV: the data chunk is {short} bytes short of its declared size")
    try:
        data, rate = sf.read(str(path), dtype="float32", always_2d=True)
    except sf.LibsndfileError as e:
        raise NotAudioError(path, f"not a readable audio file ({e.error_string})") from None
    except (RuntimeError, ValueError, TypeError) as e:  # soundfile raises these for some broken headers
        raise NotAudioError(path, f"not a readable audio file ({e})") from None
    if data.shape[0] == 0:
        raise AudioFileError(path, "holds no audio samples")
    if data.shape[1] > 1:
        if mono == "error":
            raise ChannelError(path, f"has {data.shape[1]} channels; mono audio expected")
        data = data.mean(axis=1, keepdims=True) if mono == "mix" else data[:, :1]
    return np.ascontiguousarray(data[:, 0]), int(rate)


def to_int16(wave: np.ndarray) -> np.ndarray:
    """Float samples in [-1, 1] → int16 PCM (clipped; x·32767 rounded). int16 input passes through."""
    a = np.asarray(wave)
    if a.dtype == np.int16:
        return a
    return np.clip(np.round(a.astype(np.float64) * 32767.0), -32768, 32767).astype(np.int16)


def wav_bytes(wave: np.ndarray, rate: int) -> bytes:
    """A complete 16-bit PCM mono WAV file in memory. wave: (L,) float in [-1, 1] or int16."""
    import soundfile as sf

    a = to_int16(wave)
    if a.ndim != 1:
        raise ValueError(f"expected a mono wave (L,), got shape {a.shape}")
    buf = io.BytesIO()
    sf.write(buf, a, int(rate), format="WAV", subtype="PCM_16")
    return buf.getvalue()


def write_wav(path: str | os.PathLike, wave: np.ndarray, rate: int) -> Path:
    """Write a 16-bit PCM mono WAV atomically (readers never see half a file). Returns the path.

    int16 input is written as is, so reading it back with ``dtype="int16"`` is bit-exact.
    """
    data = wav_bytes(wave, rate)
    return atomic_write(path, lambda f: f.write(data))


def resample(wave: np.ndarray, orig_rate: int, new_rate: int) -> np.ndarray:
    """Band-limited resampling (torchaudio's windowed-sinc). wave (..., L) float → (..., L') float32."""
    if int(orig_rate) == int(new_rate):
        return np.asarray(wave, dtype=np.float32)
    import torchaudio.functional as AF

    t = torch.as_tensor(np.asarray(wave, dtype=np.float32))
    return AF.resample(t, int(orig_rate), int(new_rate)).numpy()


def normalize_loudness(wave: np.ndarray, target_dbfs: float = -20.0, peak: float = 0.95) -> np.ndarray:
    """Scale to an RMS level of ``target_dbfs`` (dB re full scale), then down if needed so |x| ≤ ``peak``.

    Silent input (RMS 0) is returned unchanged. RMS rather than LUFS: clips are shorter than the 400 ms
    gating blocks BS.1770 loudness needs to be meaningful.
    """
    a = np.asarray(wave, dtype=np.float32)
    rms = float(np.sqrt(np.mean(a.astype(np.float64) ** 2))) if a.size else 0.0
    if rms == 0.0:
        return a.copy()
    gain = 10.0 ** (target_dbfs / 20.0) / rms
    top = float(np.abs(a).max()) * gain
    if top > peak:
        gain *= peak / top
    return (a * gain).astype(np.float32)


def trim_silence(wave: np.ndarray, threshold_db: float = -40.0) -> np.ndarray:
    """Cut leading and trailing samples quieter than ``threshold_db`` relative to the peak. (L,) → (L',)."""
    a = np.asarray(wave, dtype=np.float32)
    if a.size == 0:
        return a
    top = float(np.abs(a).max())
    if top == 0.0:
        return a[:0]
    loud = np.nonzero(np.abs(a) >= top * 10.0 ** (threshold_db / 20.0))[0]
    return a[loud[0] : loud[-1] + 1]


def fit_duration(wave: np.ndarray, length: int, align: str = "center") -> tuple[np.ndarray, np.ndarray]:
    """Pad with zeros or trim to exactly ``length`` samples → (wave (length,), mask (length,) 1 = real sample).

    align: "center" (pad or cut both ends equally, the word stays in the middle), "start" (pad or cut at
    the end only).
    """
    if align not in ("center", "start"):
        raise ConfigError(f"align must be 'center' or 'start', got {align!r}")
    a = np.asarray(wave, dtype=np.float32)
    n = a.shape[0]
    out = np.zeros(length, np.float32)
    mask = np.zeros(length, np.float32)
    if n >= length:
        s = (n - length) // 2 if align == "center" else 0
        out[:] = a[s : s + length]
        mask[:] = 1.0
    else:
        s = (length - n) // 2 if align == "center" else 0
        out[s : s + n] = a
        mask[s : s + n] = 1.0
    return out, mask
