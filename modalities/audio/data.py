"""Audio data sources: spoken digits synthesised with espeak-ng (the offline default), procedural tones,
WAV/FLAC folders (optionally labelled by subfolder) and SpeechCommands' ten digits (SC09, downloaded by
torchaudio).

Every source returns a :class:`Clips`: variable-length mono waves at one sample rate, integer labels
(or None) and class names. Fitting them to the model's fixed duration happens in :func:`fixed_length`.
"""

from __future__ import annotations

from pfgm.core.errors import ConfigError, DataError, PfgmError
import hashlib
import io
import json
import math
import os
import shutil
import subprocess
import tempfile
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np
import torch
from torch import Tensor

from pfgm.core.atomic import atomic_write

from ..shared.paths import cache_dir
from ..shared.records import LoadReport

from .io import AUDIO_SUFFIXES, AudioFileError, fit_duration, normalize_loudness, read_audio, resample, trim_silence

DIGIT_WORDS = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine")

#: the default espeak-ng voices: English accents × voice variants (male, female, Klatt synthesiser)
DEFAULT_VOICES = (
    "en-us", "en-us+f2", "en-us+m3", "en-gb", "en-gb+f4", "en-gb-scotland", "en-gb-scotland+m5",
    "en-029", "en-029+f3", "en-gb-x-rp+m2", "en-gb-x-gbcwmd", "en-gb-x-gbclan+f1",
)  # fmt: skip
DEFAULT_PITCHES = (25, 40, 55, 70, 85)  # espeak-ng -p, 0..99
DEFAULT_SPEEDS = (150, 175, 200)  # espeak-ng -s, words per minute

#: the tones' notes (Hz): C-major pentatonic C4..E5, at least two semitones apart so that a 50-cent
#: pitch tolerance separates them cleanly
TONE_NOTES = (261.63, 293.66, 329.63, 392.00, 440.00, 523.25, 587.33, 659.25)
TONE_NAMES = ("C4", "D4", "E4", "G4", "A4", "C5", "D5", "E5")

#: bump when synthesis or preprocessing changes, so stale caches are not reused
SYNTH_VERSION = 1


class AudioFolderError(DataError):
    """A WAV folder cannot be used as a data set (missing, empty, mixed layout, unknown files)."""


class EspeakMissingError(PfgmError, FileNotFoundError):
    """espeak-ng is not installed; the message says how to install it (a FileNotFoundError, so the CLI
    prints it as one line)."""


@dataclass
class Clips:
    """Mono clips at ``sample_rate``: waves[i] float32 (L_i,), labels (M,) long or None, class names."""

    waves: list[np.ndarray]
    sample_rate: int
    labels: Tensor | None
    classes: list[str]
    #: what a folder load read, kept, skipped and cut (None for the synthesised sets)
    report: "LoadReport | None" = None

    def __len__(self) -> int:
        return len(self.waves)


def split_indices(n: int, split: str, test_fraction: float, seed: int) -> Tensor:
    """Deterministic train/test partition of range(n): a seeded permutation, the last part is test."""
    if split not in ("train", "test"):
        raise ValueError(f"split must be 'train' or 'test', got {split!r}")
    perm = torch.randperm(n, generator=torch.Generator().manual_seed(seed))
    n_test = int(round(n * test_fraction))
    if n and n_test >= n:
        raise DataError(
            f"{n} clip(s), and modality.test_fraction={test_fraction} holds out {n_test} for the test split, "
            "leaving none to train on; add clips, or lower modality.test_fraction (0: no held-out split)"
        )
    return perm[n - n_test :].sort().values if split == "test" else perm[: n - n_test].sort().values


def _preprocess(wave: np.ndarray, rate: int, target_rate: int, loudness_dbfs: float, trim_db: float | None) -> np.ndarray:
    w = resample(wave, rate, target_rate)
    if trim_db is not None:
        w = trim_silence(w, trim_db)
    return normalize_loudness(w, loudness_dbfs)


# ----------------------------------------------------------------------------------------------
# espeak-ng digits


def espeak_binary() -> str:
    """Path of espeak-ng, or :class:`EspeakMissingError` saying how to install it."""
    exe = shutil.which("espeak-ng")
    if exe is None:
        raise EspeakMissingError(
            "espeak-ng is not installed; the speech_digits data set is synthesised with it. "
            "Install it with `sudo apt-get install espeak-ng` (Debian/Ubuntu; scripts/install.sh does this), "
            "or train on your own clips: recipe=wav_folder modality.root=/path/to/wavs"
        )
    return exe


def _espeak_version(exe: str) -> str:
    out = subprocess.run([exe, "--version"], capture_output=True, text=True, timeout=30)
    return out.stdout.strip()


def _speak(exe: str, word: str, voice: str, pitch: int, speed: int, tmp: Path) -> tuple[np.ndarray, int]:
    wav = tmp / "word.wav"
    cmd = [exe, "-w", str(wav), "-v", voice, "-p", str(int(pitch)), "-s", str(int(speed)), word]
    res = subprocess.run(cmd, capture_output=True, text=True, timeout=60)
    if res.returncode != 0 or not wav.is_file():
        raise ConfigError(f"espeak-ng failed for voice {voice!r} ({' '.join(cmd)}): {res.stderr.strip()[:200]}")
    return read_audio(wav)


def synth_digits(
    voices: Sequence[str] = DEFAULT_VOICES,
    pitches: Sequence[int] = DEFAULT_PITCHES,
    speeds: Sequence[int] = DEFAULT_SPEEDS,
    sample_rate: int = 8000,
    loudness_dbfs: float = -20.0,
    cache: str | os.PathLike | None = None,
    verbose: bool = False,
) -> Clips:
    """The ten digit words spoken by espeak-ng in every voice × pitch × speed, resampled to ``sample_rate``,
    silence-trimmed and loudness-normalised. Labels 0..9. Cached (one .npz, written atomically) after the
    first synthesis; the cache key includes the espeak-ng version.
    """
    exe = espeak_binary()
    key = dict(v=SYNTH_VERSION, voices=list(voices), pitches=[int(p) for p in pitches], speeds=[int(s) for s in speeds],
               rate=int(sample_rate), loud=float(loudness_dbfs), espeak=_espeak_version(exe))  # fmt: skip
    digest = hashlib.sha256(json.dumps(key, sort_keys=True).encode()).hexdigest()[:16]
    path = (Path(cache).expanduser() if cache is not None else cache_dir()) / f"espeak_digits_{digest}.npz"
    if path.is_file():
        try:
            with np.load(path, allow_pickle=False) as z:
                flat, lengths, labels = z["samples"], z["lengths"], z["labels"]
            waves = [w.astype(np.float32) / 32767.0 for w in np.split(flat, np.cumsum(lengths)[:-1])]
            return Clips(waves, int(sample_rate), torch.from_numpy(labels.astype(np.int64)), list(DIGIT_WORDS))
        except Exception as e:  # a corrupt cache is rebuilt, not fatal
            if verbose:
                print(f"pfgm: rebuilding unreadable cache {path} ({type(e).__name__}: {e})")
    waves, labels = [], []
    with tempfile.TemporaryDirectory(prefix="pfgm-espeak-") as tmp:
        for voice in voices:
            for pitch in pitches:
                for speed in speeds:
                    for label, word in enumerate(DIGIT_WORDS):
                        w, rate = _speak(exe, word, voice, pitch, speed, Path(tmp))
                        waves.append(_preprocess(w, rate, sample_rate, loudness_dbfs, trim_db=-40.0))
                        labels.append(label)
    # int16 storage: the cache is a quarter of float64's size and exactly what a WAV would hold
    from .io import to_int16

    flat = np.concatenate([to_int16(w) for w in waves])
    lengths = np.array([len(w) for w in waves], np.int64)
    buf = io.BytesIO()
    np.savez(buf, samples=flat, lengths=lengths, labels=np.array(labels, np.int64), key=json.dumps(key))
    atomic_write(path, lambda f: f.write(buf.getvalue()))
    if verbose:
        print(f"pfgm: synthesised {len(waves)} spoken digits with espeak-ng → {path}")
    waves = [w.astype(np.float32) / 32767.0 for w in np.split(flat, np.cumsum(lengths)[:-1])]
    return Clips(waves, int(sample_rate), torch.tensor(labels, dtype=torch.long), list(DIGIT_WORDS))


# ----------------------------------------------------------------------------------------------
# procedural tones


def make_tones(num: int = 2000, sample_rate: int = 8000, seed: int = 0, notes: Sequence[float] = TONE_NOTES) -> Clips:
    """Harmonic tones with known pitch: label = note index. Each tone has 1-4 harmonics with a random
    geometric roll-off, a 10 ms attack, an exponential decay and a duration of 0.3-0.6 s; loudness-normalised.
    """
    g = np.random.default_rng(seed)
    waves, labels = [], []
    for _ in range(num):
        k = int(g.integers(len(notes)))
        f0 = float(notes[k])
        dur = float(g.uniform(0.3, 0.6))
        t = np.arange(int(dur * sample_rate)) / sample_rate
        rolloff = float(g.uniform(0.3, 0.8))
        n_harm = int(g.integers(1, 5))
        w = np.zeros_like(t)
        for h in range(1, n_harm + 1):
            if h * f0 < sample_rate / 2:
                w += rolloff ** (h - 1) * np.sin(2 * np.pi * h * f0 * t + g.uniform(0, 2 * np.pi))
        env = np.minimum(1.0, t / 0.01) * np.exp(-t * float(g.uniform(1.0, 5.0)))
        waves.append(normalize_loudness((w * env).astype(np.float32)))
        labels.append(k)
    names = list(TONE_NAMES) if tuple(notes) == TONE_NOTES else [f"{f:g}Hz" for f in notes]
    return Clips(waves, int(sample_rate), torch.tensor(labels, dtype=torch.long), names)


def estimate_pitch(wave: np.ndarray, sample_rate: int, f_lo: float = 80.0, f_hi: float = 1000.0) -> float:
    """Fundamental frequency (Hz) of a (L,) wave by the autocorrelation peak with parabolic interpolation;
    NaN for silence. Autocorrelation picks the period, not the loudest harmonic, so it is right for tones
    whose second harmonic dominates too."""
    a = np.asarray(wave, np.float64)
    a = a - a.mean()
    if not np.any(a):
        return float("nan")
    n = 1 << int(math.ceil(math.log2(2 * len(a))))
    spec = np.fft.rfft(a, n)
    ac = np.fft.irfft(spec * np.conj(spec), n)[: len(a)]
    lo, hi = int(sample_rate / f_hi), min(int(sample_rate / f_lo), len(a) - 2)
    if hi <= lo:
        return float("nan")
    # the first lag within 90 % of the best one: avoids picking a multiple of the period
    seg = ac[lo : hi + 1]
    best = seg.max()
    lag = lo + int(np.nonzero(seg >= 0.9 * best)[0][0])
    while lag + 1 <= hi and ac[lag + 1] > ac[lag]:
        lag += 1
    y0, y1, y2 = ac[lag - 1], ac[lag], ac[lag + 1]
    den = y0 - 2 * y1 + y2
    shift = 0.5 * (y0 - y2) / den if den != 0 else 0.0
    return sample_rate / (lag + shift)


# ----------------------------------------------------------------------------------------------
# WAV folders


def _walk(folder: Path) -> list[Path]:
    return sorted(p for p in folder.rglob("*") if p.is_file() and not p.name.startswith("."))


def _channels(path: Path) -> int:
    import soundfile as sf

    return int(sf.info(str(path)).channels)


#: a file longer than this many clip lengths is "much longer" than a clip: cut into clips or refused,
#: never fitted to one clip (which would keep its middle and drop the rest without a word)
LONG_FACTOR = 2.0
#: what a much longer file becomes: "cut" (consecutive clips of the clip length), "error" (refused)
LONG_FILE_POLICIES = ("cut", "error")


def _reasons(clip_samples: int, sample_rate: int, min_samples: int) -> dict[str, str]:
    """The load report's names for what happened to a file, with the lengths they refer to."""
    return {
        "cut": f"files longer than {LONG_FACTOR:g}x the clip ({clip_samples / sample_rate:.2f} s) cut into clips",
        "short": f"clips shorter than min_duration ({min_samples / sample_rate:.3f} s)",
        "other": "non-audio files (skip_non_audio=true)",
    }


def load_wav_folder(
    root: str | os.PathLike,
    sample_rate: int = 8000,
    mono: str = "mix",
    skip_non_audio: bool = False,
    loudness_dbfs: float = -20.0,
    trim_db: float | None = -40.0,
    clip_samples: int | None = None,
    long_files: str = "cut",
    min_duration: float = 0.0,
) -> Clips:
    """Every .wav/.flac under ``root``. If ``root`` holds only subfolders, each is a class (sorted names → 0, 1...)
    and its files (at any depth) are labelled with it; otherwise the folder is unlabelled.

    Files with other endings raise :class:`AudioFolderError` unless ``skip_non_audio``; unreadable audio
    raises the reader's :class:`~modalities.audio.io.AudioFileError` naming the file. ``mono``: see
    :func:`~modalities.audio.io.read_audio` (stereo is mixed down by default).

    ``clip_samples`` (the model's clip length): a file more than ``LONG_FACTOR`` times longer (after
    silence trimming) is cut into consecutive clips of that length (``long_files="cut"``; a last piece
    shorter than ``min_duration`` is dropped) or refused naming it (``"error"``). Clips shorter than
    ``min_duration`` seconds are skipped. The returned :class:`Clips` carries a :class:`LoadReport`
    counting files read, skipped (non-audio, too short) and cut.
    """
    if long_files not in LONG_FILE_POLICIES:
        raise ConfigError(f"long_files must be one of {', '.join(LONG_FILE_POLICIES)}, got {long_files!r}")
    root = Path(root).expanduser()
    if not root.is_dir():
        raise AudioFolderError(f"{root}: no such folder (expected a folder of .wav/.flac files)")
    entries = sorted(p for p in root.iterdir() if not p.name.startswith("."))
    class_dirs = [p for p in entries if p.is_dir()]
    labelled = bool(class_dirs) and all(p.is_dir() for p in entries)
    groups = [(i, d) for i, d in enumerate(class_dirs)] if labelled else [(-1, root)]
    min_samples = int(round(float(min_duration) * sample_rate))
    why = _reasons(clip_samples or 0, sample_rate, min_samples)
    report = LoadReport(source=str(root))
    waves, labels, multi = [], [], []
    for label, folder in groups:
        files = _walk(folder)
        audio = [p for p in files if p.suffix.lower() in AUDIO_SUFFIXES]
        other = [p for p in files if p.suffix.lower() not in AUDIO_SUFFIXES]
        if other and not skip_non_audio:
            raise AudioFolderError(
                f"{other[0]}: not an audio file (expected {'/'.join(AUDIO_SUFFIXES)}); "
                f"set modality.skip_non_audio=true to ignore {len(other)} such file(s)"
            )
        for p in other:
            report.seen()
            report.skip(why["other"], record=str(p.relative_to(root)))
        if not audio:
            what = "class folder" if labelled else "folder"
            raise AudioFolderError(f"{folder}: {what} has no .wav/.flac files")
        for p in audio:
            report.seen()
            w, rate = read_audio(p, mono=mono)
            if mono != "error" and _channels(p) > 1:
                multi.append(p)
            w = _preprocess(w, rate, sample_rate, loudness_dbfs, trim_db)
            if w.size == 0:
                raise AudioFileError(p, "is silent (nothing left after trimming silence)")
            pieces = [w]
            if clip_samples and w.size > LONG_FACTOR * clip_samples:
                if long_files == "error":
                    raise AudioFileError(
                        p,
                        f"is {w.size / sample_rate:.2f} s long (after trimming silence), more than "
                        f"{LONG_FACTOR:g}x the clip length ({clip_samples / sample_rate:.2f} s); "
                        "modality.long_files=cut cuts such files into clips",
                    )
                pieces = [w[i : i + clip_samples] for i in range(0, w.size, clip_samples)]
            kept = [piece for piece in pieces if piece.size >= min_samples]  # a cut file's short tail too
            if len(pieces) > 1:
                report.fix(why["cut"], record=f"{p.relative_to(root)}: {len(kept)} clips")
            if not kept:
                report.skip(why["short"], record=str(p.relative_to(root)))
                continue
            report.keep()
            waves += kept
            labels += [label] * len(kept)
    if not waves:
        raise AudioFolderError(f"{root}: no usable clips ({report.summary()})")
    if multi:
        how = "averaged to mono" if mono == "mix" else "reduced to their first channel"
        warnings.warn(f"{root}: {len(multi)} multi-channel file(s) {how} (first: {multi[0]}); "
                      "modality.mono=error refuses them instead", stacklevel=2)  # fmt: skip
    report.warn()
    classes = [d.name for d in class_dirs] if labelled else []
    return Clips(waves, int(sample_rate), torch.tensor(labels, dtype=torch.long) if labelled else None, classes, report)


# ----------------------------------------------------------------------------------------------
# SpeechCommands digits (SC09)


def load_sc09(root: str | os.PathLike, subset: str, sample_rate: int = 16000, download: bool = False) -> Clips:
    """The ten digit words of SpeechCommands v0.02 (SC09), through torchaudio's SPEECHCOMMANDS.

    subset: "training" | "validation" | "testing" (the data set's own lists). The files are read with
    soundfile (torchaudio's own loader needs an extra decoder package). Not trimmed: SC09 clips are
    1 s recordings and the word's position in them is part of the data. Needs ``download=True`` once.
    """
    from torchaudio.datasets import SPEECHCOMMANDS

    root = Path(root).expanduser()
    root.mkdir(parents=True, exist_ok=True)
    ds = SPEECHCOMMANDS(str(root), download=download, subset=subset)
    waves, labels = [], []
    for n in range(len(ds)):
        rel, rate, word, _, _ = ds.get_metadata(n)
        if word not in DIGIT_WORDS:
            continue
        # get_metadata gives the path relative to the extracted archive folder (torchaudio's _archive)
        w, rate = read_audio(os.path.join(ds._archive, rel))
        waves.append(_preprocess(w, rate, sample_rate, -20.0, trim_db=None))
        labels.append(DIGIT_WORDS.index(word))
    if not waves:
        raise AudioFolderError(f"{root}: SpeechCommands subset {subset!r} has no digit words")
    return Clips(waves, int(sample_rate), torch.tensor(labels, dtype=torch.long), list(DIGIT_WORDS))


# ----------------------------------------------------------------------------------------------
# fixed-length clips


def fixed_length(
    clips: Clips, length: int, align: str = "center", noise_dbfs: float | None = -50.0, seed: int = 0
) -> tuple[Tensor, Tensor]:
    """Pad/trim every clip to ``length`` samples → (waves (M, length), mask (M, length), 1 = a real sample).

    noise_dbfs: white noise at this RMS level (dB re full scale) is added over the whole clip, padding
    included, so silence has the same floor everywhere (None = no noise). The noise of clip i is drawn
    from a generator seeded with (seed, i): the data set is the same on every call.
    """
    out = np.zeros((len(clips), length), np.float32)
    mask = np.zeros((len(clips), length), np.float32)
    for i, w in enumerate(clips.waves):
        out[i], mask[i] = fit_duration(w, length, align)
        if noise_dbfs is not None:
            g = np.random.default_rng([seed, i])
            out[i] += (10.0 ** (noise_dbfs / 20.0) * g.standard_normal(length)).astype(np.float32)
    return torch.from_numpy(np.clip(out, -1.0, 1.0)), torch.from_numpy(mask)
