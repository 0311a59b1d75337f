"""Audio representations the model is trained on: a normalised log-mel spectrogram (the default) or the raw waveform.

Log-mel: power mel spectrogram → dB → the range [ref_db − top_db, ref_db] mapped linearly onto [−1, 1]
(clamped), one channel: x (B, 1, n_mels, frames). ``ref_db`` is the training data's loudest bin
(pinned in the checkpoint), so the scale is fixed and the inverse is exact above the floor. Back to audio:
dB → power mel → InverseMelScale (least squares onto the linear-frequency bins, negatives cut to 0),
refined by non-negative multiplicative updates (Lee & Seung's NMF rule for min ‖Fᵀs − m‖², s ≥ 0: cutting
the least-squares solution at 0 leaks a sine's power into neighbouring bands, mel-domain spectral
convergence 0.39 on tones; 200 updates bring it to 0.09, and speech from 0.09 to 0.03) → Griffin-Lim phase
recovery. The clip length is ``clip_samples``, by default ``(frames − 1)·hop_length`` samples, which a
centred STFT maps to exactly ``frames`` frames; a longer clip (16,000 samples = 1 s at hop 200 gives 81
frames) keeps its first ``frames`` frames, and its decoded tail past them is silence.

Waveform: x (B, 1, L), the samples themselves.
"""

from __future__ import annotations

from pfgm.core.errors import ConfigError
import math
from dataclasses import dataclass

import torch
from torch import Tensor

__all__ = ["MelCodec", "WaveCodec", "spectral_convergence"]


@dataclass
class MelCodec:
    """Waves (B, L) ⇄ normalised log-mel images (B, 1, n_mels, frames).

    griffin_lim_iters: phase-recovery iterations at decode time (more = cleaner, slower).
    nnls_iters: non-negative refinement steps of the mel inverse (0 = InverseMelScale alone).
    """

    sample_rate: int = 8000
    n_fft: int = 512
    hop_length: int = 192
    n_mels: int = 32
    frames: int = 32
    f_min: float = 20.0
    f_max: float | None = None
    top_db: float = 80.0
    ref_db: float = 0.0
    griffin_lim_iters: int = 32
    nnls_iters: int = 200
    clip_samples: int | None = None

    def __post_init__(self) -> None:
        if self.hop_length > self.n_fft:
            raise ConfigError(f"hop_length {self.hop_length} exceeds n_fft {self.n_fft}: the STFT would skip samples")
        if self.frames < 2 or self.n_mels < 1:
            raise ConfigError(f"need frames >= 2 and n_mels >= 1, got {self.frames}, {self.n_mels}")
        if self.griffin_lim_iters < 1:
            raise ConfigError(f"griffin_lim_iters must be >= 1, got {self.griffin_lim_iters}")
        if self.clip_samples is not None and 1 + int(self.clip_samples) // self.hop_length < self.frames:
            raise ConfigError(
                f"clip_samples {self.clip_samples} gives {1 + int(self.clip_samples) // self.hop_length} frames "
                f"at hop_length {self.hop_length}, fewer than frames={self.frames}"
            )
        self._mods: dict | None = None

    @property
    def num_samples(self) -> int:
        """Clip length in samples (a centred STFT gives 1 + L // hop frames; the first ``frames`` are kept)."""
        return int(self.clip_samples) if self.clip_samples is not None else (self.frames - 1) * self.hop_length

    @property
    def shape(self) -> tuple[int, int, int]:
        return (1, self.n_mels, self.frames)

    def _transforms(self) -> dict:
        if self._mods is not None and self._mods["gl"].n_iter != self.griffin_lim_iters:
            self._mods = None  # the iteration count was changed (a sample-time option)
        if self._mods is None:
            import torchaudio.transforms as T

            f_max = self.f_max if self.f_max is not None else self.sample_rate / 2
            common = dict(sample_rate=self.sample_rate, f_min=self.f_min, f_max=f_max, norm="slaney", mel_scale="slaney")
            self._mods = {
                "mel": T.MelSpectrogram(n_fft=self.n_fft, hop_length=self.hop_length, n_mels=self.n_mels, power=2.0, **common),
                "inv": T.InverseMelScale(n_stft=self.n_fft // 2 + 1, n_mels=self.n_mels, **common),
                "gl": T.GriffinLim(n_fft=self.n_fft, hop_length=self.hop_length, power=2.0, n_iter=self.griffin_lim_iters),
            }
        return self._mods

    def power_mel(self, wave: Tensor) -> Tensor:
        """(B, L) → power mel spectrogram (B, n_mels, 1 + L // hop)."""
        return self._transforms()["mel"](wave.float())

    def mel_db(self, wave: Tensor) -> Tensor:
        """(B, L) → mel spectrogram in dB (B, n_mels, frames), floored at 1e-10 power (−100 dB)."""
        return 10.0 * torch.log10(self.power_mel(wave).clamp_min(1e-10))

    def encode(self, wave: Tensor) -> Tensor:
        """Waves (B, num_samples) → x (B, 1, n_mels, frames) in [−1, 1]."""
        if wave.ndim != 2 or wave.shape[1] != self.num_samples:
            raise ValueError(f"expected waves (B, {self.num_samples}), got {tuple(wave.shape)}")
        x = (self.mel_db(wave)[..., : self.frames] - self.ref_db) / (self.top_db / 2) + 1.0
        return x.clamp(-1.0, 1.0).unsqueeze(1)

    def to_power(self, x: Tensor) -> Tensor:
        """x (B, 1, n_mels, frames) → power mel (B, n_mels, frames); values outside [−1, 1] are clamped."""
        db = (x.float().clamp(-1.0, 1.0)[:, 0] - 1.0) * (self.top_db / 2) + self.ref_db
        return 10.0 ** (db / 10.0)

    @torch.no_grad()
    def linear_power(self, mel: Tensor) -> Tensor:
        """Power mel (B, n_mels, T) → a non-negative linear-frequency power spectrogram (B, n_fft/2 + 1, T)
        whose mel projection matches ``mel`` in least squares."""
        inv = self._transforms()["inv"]
        fb = inv.fb  # (freq, n_mels)
        s = inv(mel) + 1e-12  # relu(lstsq); the floor keeps every bin able to grow under the updates
        target = fb @ mel
        for _ in range(self.nnls_iters):
            s = s * target / (fb @ (fb.T @ s) + 1e-20)
        return s

    @torch.no_grad()
    def decode(self, x: Tensor, generator: torch.Generator | None = None) -> Tensor:
        """x (B, 1, n_mels, frames) → waves (B, num_samples) by InverseMelScale + Griffin-Lim.

        Griffin-Lim starts from random phases; pass ``generator`` to make the result a function of it
        (the global RNG is left untouched either way).
        """
        spec = self.linear_power(self.to_power(x))
        m = self._transforms()
        seed = int(torch.randint(0, 2**31 - 1, (1,), generator=generator).item()) if generator is not None else 0
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)  # GriffinLim's rand_init draws from the global RNG
            wave = m["gl"](spec)
        return _fit(wave, self.num_samples)


def _fit(wave: Tensor, length: int) -> Tensor:
    if wave.shape[-1] >= length:
        return wave[..., :length]
    return torch.nn.functional.pad(wave, (0, length - wave.shape[-1]))


@dataclass
class WaveCodec:
    """Waves (B, L) ⇄ x (B, 1, L): the raw samples, unchanged (the DiffWave-style option)."""

    sample_rate: int = 8000
    num_samples: int = 5952

    @property
    def shape(self) -> tuple[int, int]:
        return (1, self.num_samples)

    def encode(self, wave: Tensor) -> Tensor:
        if wave.ndim != 2 or wave.shape[1] != self.num_samples:
            raise ValueError(f"expected waves (B, {self.num_samples}), got {tuple(wave.shape)}")
        return wave.float().unsqueeze(1)

    def decode(self, x: Tensor, generator: torch.Generator | None = None) -> Tensor:
        del generator  # nothing random in this inverse
        return x.float()[:, 0].clamp(-1.0, 1.0)


def spectral_convergence(reference: Tensor, estimate: Tensor) -> float:
    """‖|R| − |E|‖_F / ‖|R|‖_F of two magnitude spectrograms of the same shape (0 = identical)."""
    r, e = reference.abs().double(), estimate.abs().double()
    num, den = (r - e).norm().item(), r.norm().item()
    return num / den if den > 0 else (0.0 if num == 0 else math.inf)
