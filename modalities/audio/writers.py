"""Write generated clips: one 16-bit PCM WAV per clip at the data's sample rate, and a PNG sheet of their
spectrograms.

``out`` is a folder (→ 000000.wav, 000001_seven.wav, ..., spectrograms.png) or a file whose extension
names the format: ``.wav`` writes every clip into one file, back to back with 0.25 s of silence between
them (for listening to a batch at once); ``.png`` writes the sheet only. Every file is written atomically.
"""

from __future__ import annotations

from pfgm.core.errors import ConfigError
import io
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Sequence

import numpy as np

from pfgm.core.atomic import atomic_write

from .io import write_wav

FILE_FORMATS = (".wav", ".png")


@dataclass
class AudioClip:
    """One generated (or real) clip: ``wave`` float32 (L,) in [-1, 1], its ``sample_rate`` and an optional
    ``label`` (class index) with its ``name``."""

    wave: np.ndarray
    sample_rate: int
    label: int | None = None
    name: str | None = None

    @property
    def seconds(self) -> float:
        return len(self.wave) / self.sample_rate


# a perceptually ordered dark-to-bright colour ramp (inferno-like anchor colours)
_RAMP = np.array(
    [[0, 0, 4], [40, 11, 84], [101, 21, 110], [159, 42, 99], [212, 72, 66], [245, 125, 21], [250, 193, 39], [252, 255, 164]],
    np.float64,
)


def _colour(v: np.ndarray) -> np.ndarray:
    """Values in [0, 1] (H, W) → RGB uint8 (H, W, 3) along the ramp."""
    pos = np.clip(v, 0, 1) * (len(_RAMP) - 1)
    lo = np.floor(pos).astype(int).clip(0, len(_RAMP) - 2)
    t = (pos - lo)[..., None]
    return np.round(_RAMP[lo] * (1 - t) + _RAMP[lo + 1] * t).astype(np.uint8)


def spectrogram_sheet(images: Sequence[np.ndarray], scale: int = 3, padding: int = 2, ncols: int | None = None,
                      top_db: float = 70.0) -> np.ndarray:  # fmt: skip
    """dB spectrograms (n_bins, frames), low frequencies first → one RGB sheet (rows·(h+p)+p, cols·(w+p)+p, 3).

    Each tile shows [max − top_db, max] of its own spectrogram, low frequencies at the bottom, pixels
    repeated ``scale`` times.
    """
    if not images:
        raise ValueError("no spectrograms to draw")
    h, w = images[0].shape
    h, w = h * scale, w * scale
    ncols = ncols or math.ceil(math.sqrt(len(images)))
    nrows = math.ceil(len(images) / ncols)
    sheet = np.full((nrows * (h + padding) + padding, ncols * (w + padding) + padding, 3), 255, np.uint8)
    for i, db in enumerate(images):
        db = np.asarray(db, np.float64)
        v = (db - (db.max() - top_db)) / top_db
        tile = _colour(np.repeat(np.repeat(v[::-1], scale, 0), scale, 1))
        r, c = divmod(i, ncols)
        y, x = padding + r * (h + padding), padding + c * (w + padding)
        sheet[y : y + h, x : x + w] = tile
    return sheet


def _png_bytes(rgb: np.ndarray) -> bytes:
    from PIL import Image

    buf = io.BytesIO()
    Image.fromarray(rgb, mode="RGB").save(buf, format="PNG")
    return buf.getvalue()


def _file_name(i: int, clip: AudioClip) -> str:
    return f"{i:06d}.wav" if clip.name is None else f"{i:06d}_{clip.name}.wav"


def write_audio(clips: Sequence[AudioClip | None], out: Path, spectrogram: Callable[[np.ndarray], np.ndarray]) -> list[Path]:
    """Write clips to ``out`` (a folder, a .wav or a .png; see the module docstring). ``spectrogram`` maps a
    wave to a dB image (n_bins, frames) for the sheet. A None clip (an invalid sample) is skipped. → paths."""
    out = Path(out)
    good = [(i, c) for i, c in enumerate(clips) if c is not None]
    if not good:
        raise ValueError("no clips to write")
    rates = {c.sample_rate for _, c in good}
    if len(rates) != 1:
        raise ValueError(f"clips must share one sample rate, got {sorted(rates)}")
    rate = rates.pop()
    suffix = out.suffix.lower()
    if suffix and suffix not in FILE_FORMATS:
        raise ConfigError(f"{out}: unknown audio output format {out.suffix!r}; use a folder, {' or '.join(FILE_FORMATS)}")
    sheet = lambda: _png_bytes(spectrogram_sheet([spectrogram(c.wave) for _, c in good]))  # noqa: E731
    if suffix == ".png":
        data = sheet()
        return [atomic_write(out, lambda f: f.write(data))]
    if suffix == ".wav":
        gap = np.zeros(int(0.25 * rate), np.float32)
        joined = np.concatenate([p for _, c in good for p in (np.asarray(c.wave, np.float32), gap)][:-1])
        return [write_wav(out, joined, rate)]
    out.mkdir(parents=True, exist_ok=True)
    paths = [write_wav(out / _file_name(i, c), c.wave, rate) for i, c in good]
    data = sheet()
    paths.append(atomic_write(out / "spectrograms.png", lambda f: f.write(data)))
    return paths
