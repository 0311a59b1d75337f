"""An outside listener for spoken digits: a digit classifier and a template matcher that share nothing with
the model's representation, so a sample that only looks right in the model's own log-mel space does not pass.

- **Front end**: MFCCs (20 cepstra of a 40-band HTK mel, 25 ms windows every 10 ms, up to 7.6 kHz) with
  their deltas, mean-normalised per clip: another filter bank, window, hop and compression than the
  model's slaney log-mel, computed from the waveform.
- **Classifier** (:class:`DigitJudge`): a dilated 1-D CNN over MFCC frames, trained on voices the model
  never hears (:data:`JUDGE_VOICES`, pitches and speeds off the model's grid) and on those clips passed
  through the model's own codec, with time-shift, gain and noise augmentation. Its features (128) give a
  Fréchet distance; its predictions IS, class entropy and confidence.
- **Template matcher** (:func:`template_margins`): dynamic time warping of MFCC sequences (silence
  trimmed) against templates of every digit; a clip's margin is (d₂ − d₁)/d₁, the relative gap between
  its nearest digit and the next one: large for a clear word, near 0 for a blur or noise.

Scores are always reported beside real held-out clips through the same codec (the ceiling) and beside
noise bursts with speech's envelope and time-reversed speech (floors): :func:`judge_report`.
"""

from __future__ import annotations

import math
from typing import Callable

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ..shared.classifier_scores import inception_score, inception_score_se, mean_max_softmax
from ..shared.frechet import feature_frechet_distance
from ..shared.scorer import Scorer, train_scorer

__all__ = ["JUDGE_VOICES", "JUDGE_PITCHES", "JUDGE_SPEEDS", "MFCCFrontEnd", "DigitJudge", "train_judge",
           "template_margins", "judge_scores", "judge_report", "noise_bursts", "wave_augment"]  # fmt: skip

#: bump when the judge's front end, network or training changes
JUDGE_VERSION = 1
#: espeak-ng voices the generative model never hears (its grid is data.DEFAULT_VOICES)
JUDGE_VOICES = ("en-us-nyc", "en-us-nyc+f3", "en-gb-x-rp+f2", "en-029+m1", "en-gb+m4", "en-gb-scotland+f5",
                "en-us+klatt", "en-gb-x-gbcwmd+f4")  # fmt: skip
JUDGE_PITCHES = (30, 50, 75)  # off the model's grid (25, 40, 55, 70, 85)
JUDGE_SPEEDS = (140, 185)  # off the model's grid (150, 175, 200)
FEATURE_DIM = 128


class MFCCFrontEnd(nn.Module):
    """Waves (B, L) → MFCCs with deltas (B, 2·n_mfcc, T), mean-normalised over time per clip.

    ``cepstra(wave)`` gives the MFCCs alone and ``energy_db(wave)`` each frame's energy, for the template matcher.
    """

    def __init__(self, sample_rate: int, n_mfcc: int = 20, n_mels: int = 40):
        super().__init__()
        import torchaudio.transforms as T

        win = int(round(0.025 * sample_rate))
        n_fft = 1 << math.ceil(math.log2(win))
        self.mel = T.MelSpectrogram(sample_rate=sample_rate, n_fft=n_fft, win_length=win, hop_length=int(round(0.010 * sample_rate)),
                                    f_min=60.0, f_max=min(sample_rate / 2, 7600.0), n_mels=n_mels, mel_scale="htk", power=2.0)  # fmt: skip
        # orthonormal DCT-II: cepstrum k of log-mel row m
        m = torch.arange(n_mels, dtype=torch.float64)
        k = torch.arange(n_mfcc, dtype=torch.float64)[:, None]
        dct = torch.cos(math.pi / n_mels * (m + 0.5) * k) * math.sqrt(2.0 / n_mels)
        dct[0] /= math.sqrt(2.0)
        self.register_buffer("dct", dct.float())

    def power(self, wave: Tensor) -> Tensor:
        return self.mel(wave.float())

    def cepstra(self, wave: Tensor) -> Tensor:
        """(B, L) → (B, n_mfcc, T), not normalised."""
        return torch.einsum("km,bmt->bkt", self.dct, torch.log(self.power(wave) + 1e-6))

    def energy_db(self, wave: Tensor) -> Tensor:
        return 10.0 * torch.log10(self.power(wave).sum(1) + 1e-10)

    def forward(self, wave: Tensor) -> Tensor:
        import torchaudio.functional as AF

        c = self.cepstra(wave)
        c = c - c.mean(-1, keepdim=True)
        return torch.cat([c, AF.compute_deltas(c)], 1)


class DigitJudge(Scorer):
    """Waves (B, L) → ``features`` (B, 128) → ``head`` → logits (B, K), through :class:`MFCCFrontEnd`."""

    def __init__(self, sample_rate: int, num_classes: int = 10, width: int = 64):
        super().__init__()

        def conv(cin: int, cout: int, k: int, dilation: int = 1) -> list[nn.Module]:
            return [nn.Conv1d(cin, cout, k, padding=dilation * (k // 2), dilation=dilation), nn.BatchNorm1d(cout), nn.ReLU()]

        self.front = MFCCFrontEnd(sample_rate)
        self.body = nn.Sequential(
            self.front, *conv(40, width, 5), *conv(width, width, 5, 2), nn.MaxPool1d(2),
            *conv(width, 2 * width, 3), *conv(2 * width, FEATURE_DIM, 3, 2), nn.AdaptiveAvgPool1d(1), nn.Flatten(),
        )  # fmt: skip
        self.head = nn.Sequential(nn.Dropout(0.3), nn.Linear(FEATURE_DIM, num_classes))


def wave_augment(sample_rate: int) -> Callable[[Tensor, torch.Generator], Tensor]:
    """Wave augmentation: a shift of up to ±0.12 s (zeros fill in), ±6 dB gain, white noise at −65…−35 dBFS."""
    max_shift = int(0.12 * sample_rate)

    def augment(w: Tensor, g: torch.Generator) -> Tensor:
        b, n = w.shape
        shift = torch.randint(-max_shift, max_shift + 1, (b,), generator=g)
        idx = torch.arange(n)[None, :] - shift[:, None]
        out = torch.where((idx >= 0) & (idx < n), w.gather(1, idx.clamp(0, n - 1)), torch.zeros(()))
        gain = 10.0 ** ((torch.rand(b, 1, generator=g) - 0.5) * 12.0 / 20.0)
        level = 10.0 ** ((-65.0 + 30.0 * torch.rand(b, 1, generator=g)) / 20.0)
        return out * gain + level * torch.randn(b, n, generator=g)

    return augment


def train_judge(model: DigitJudge, waves: Tensor, labels: Tensor, sample_rate: int, epochs: int = 25, seed: int = 0) -> dict:
    """Train on waves (M, L) with labels (M,); deterministic for a seed. Returns the train accuracy."""
    from ..shared.scorer import accuracy

    train_scorer(model, waves, labels, wave_augment(sample_rate), epochs=epochs, batch_size=64, lr=3e-3, seed=seed, min_batch=2)
    return {"train_accuracy": accuracy(model, waves, labels, batch_size=128), "num_train": len(waves)}


# ----------------------------------------------------------------------------------------------
# template matching


def _trimmed_cepstra(front: MFCCFrontEnd, waves: Tensor, floor_db: float = 35.0, n_cep: int = 13) -> list[Tensor]:
    """Per clip: MFCC frames (T_i, n_cep) from the first to the last frame within ``floor_db`` of its loudest,
    every other frame (20 ms apart: a quarter of the DTW cells, still several per phone), mean-normalised
    over those frames (c0 dropped: loudness is not the word)."""
    with torch.no_grad():
        ceps = front.cepstra(waves)[:, 1 : n_cep + 1]
        energy = front.energy_db(waves)
    out = []
    for c, e in zip(ceps, energy):
        loud = torch.nonzero(e >= e.max() - floor_db).flatten()
        seg = c[:, int(loud[0]) : int(loud[-1]) + 1 : 2].T
        out.append(seg - seg.mean(0, keepdim=True))
    return out


def dtw_distances(a: list[Tensor], b: list[Tensor], chunk: int = 2048) -> Tensor:
    """Length-normalised DTW distance of every pair: a[i] (Tᵢ, C), b[j] (Uⱼ, C) → (len(a), len(b)).

    D(i, j) = ‖aᵢ − bⱼ‖ + min(D(i−1, j), D(i, j−1), D(i−1, j−1)), divided by Tᵢ + Uⱼ. Computed one
    anti-diagonal (i + j = d) at a time for many pairs at once: a diagonal is a vector indexed by i, so its
    three predecessors are shifts of the previous two diagonals; padding never reaches a pair's own corner.
    """
    out = torch.empty(len(a), len(b), dtype=torch.float64)
    ta, tb = max(x.shape[0] for x in a), max(x.shape[0] for x in b)
    pa = torch.stack([F.pad(x.float(), (0, 0, 0, ta - x.shape[0])) for x in a])
    pb = torch.stack([F.pad(x.float(), (0, 0, 0, tb - x.shape[0])) for x in b])
    la = torch.tensor([x.shape[0] for x in a])
    lb = torch.tensor([x.shape[0] for x in b])
    # skew: cost of cell (i, d − i) for i = 1..ta on diagonal d = 2..ta + tb
    i = torch.arange(1, ta + 1)
    j = torch.arange(2, ta + tb + 1)[:, None] - i[None, :]
    valid = (j >= 1) & (j <= tb)
    flat = ((i - 1)[None, :] * tb + (j - 1).clamp(0, tb - 1)).reshape(-1)
    ii, jj = torch.meshgrid(torch.arange(len(a)), torch.arange(len(b)), indexing="ij")
    ii, jj = ii.reshape(-1), jj.reshape(-1)
    for s in range(0, len(ii), chunk):
        pi, pj = ii[s : s + chunk], jj[s : s + chunk]
        n = len(pi)
        cost = torch.cdist(pa[pi], pb[pj]).reshape(n, -1)[:, flat].reshape(n, ta + tb - 1, ta)
        cost.masked_fill_(~valid, math.inf)
        corner_d, corner_i = la[pi] + lb[pj], la[pi]
        result = torch.empty(n)
        prev2 = torch.full((n, ta + 1), math.inf)
        prev2[:, 0] = 0.0  # d = 0: D(0, 0)
        prev1 = torch.full((n, ta + 1), math.inf)  # d = 1: the boundary
        for step in range(ta + tb - 1):
            cur = torch.full((n, ta + 1), math.inf)
            cur[:, 1:] = cost[:, step] + torch.minimum(torch.minimum(prev1[:, :-1], prev1[:, 1:]), prev2[:, :-1])
            done = torch.nonzero(corner_d == step + 2).flatten()
            result[done] = cur[done, corner_i[done]]
            prev2, prev1 = prev1, cur
        out[pi, pj] = (result / (la[pi] + lb[pj])).double()
    return out


def template_margins(front: MFCCFrontEnd, waves: Tensor, templates: Tensor, template_labels: Tensor,
                     num_classes: int) -> tuple[Tensor, Tensor]:  # fmt: skip
    """(predicted digit (M,), margin (M,)): the class of the nearest template by DTW, and (d₂ − d₁)/d₁ with
    d₁, d₂ the distances to the nearest templates of the best and second-best class."""
    dist = dtw_distances(_trimmed_cepstra(front, waves), _trimmed_cepstra(front, templates))
    per_class = torch.stack([dist[:, template_labels == k].min(1).values for k in range(num_classes)], 1)
    top = per_class.topk(2, dim=1, largest=False)
    d1, d2 = top.values[:, 0], top.values[:, 1]
    return top.indices[:, 0], (d2 - d1) / d1.clamp_min(1e-12)


# ----------------------------------------------------------------------------------------------
# scores


def _entropy(counts: Tensor) -> float:
    p = counts.double() / counts.sum().clamp_min(1)
    return float(-(torch.special.xlogy(p, p)).sum())


@torch.no_grad()
def judge_scores(judge: DigitJudge, waves: Tensor, reference_features: np.ndarray, templates: Tensor,
                 template_labels: Tensor, requested: Tensor | None = None) -> dict:  # fmt: skip
    """The judge's view of waves (M, L): is (and is_se, its bootstrap standard error), entropy (of the predicted-class histogram, nats; ln 10 = 2.30
    is uniform over ten digits), max_softmax, fid (judge features vs ``reference_features``), histogram,
    template_margin (mean), template_entropy, template_histogram, and with ``requested`` labels (−1 = none)
    accuracy: the share the judge hears as the digit asked for."""
    judge.eval()
    k = judge.head[-1].out_features
    feats = torch.cat([judge.features(c) for c in waves.split(256)])
    logits = judge.head(feats)
    hist = torch.bincount(logits.argmax(1), minlength=k)
    pred_t, margin = template_margins(judge.front, waves, templates, template_labels, k)
    t_hist = torch.bincount(pred_t, minlength=k)
    out = {"is": inception_score(logits), "is_se": inception_score_se(logits), "entropy": _entropy(hist), "max_softmax": mean_max_softmax(logits),
           "fid": feature_frechet_distance(feats.double().numpy(), reference_features) if len(waves) >= 2 else math.nan,
           "histogram": hist.tolist(), "template_margin": float(margin.mean()), "template_entropy": _entropy(t_hist),
           "template_histogram": t_hist.tolist()}  # fmt: skip
    if requested is not None and bool((requested >= 0).any()):
        keep = requested >= 0
        out["accuracy"] = float(logits.argmax(1)[keep].eq(requested[keep]).double().mean())
        out["template_accuracy"] = float(pred_t[keep].eq(requested[keep]).double().mean())
    return out


def noise_bursts(waves: Tensor, seed: int = 0, frame: int = 160) -> Tensor:
    """White noise with each clip's loudness envelope (RMS per ``frame`` samples): speech's timing, no words."""
    g = torch.Generator().manual_seed(seed)
    b, n = waves.shape
    pad = (-n) % frame
    env = F.pad(waves, (0, pad)).reshape(b, -1, frame).square().mean(-1, keepdim=True).sqrt()
    env = env.expand(-1, -1, frame).reshape(b, -1)[:, :n]
    return (env * torch.randn(b, n, generator=g)).clamp(-1.0, 1.0)


def judge_report(judge: DigitJudge, samples: Tensor, real: Tensor, real_codec: Tensor, reference_features: np.ndarray,
                 templates: Tensor, template_labels: Tensor, requested: Tensor | None = None,
                 real_labels: Tensor | None = None) -> dict[str, dict]:  # fmt: skip
    """{"samples", "real_codec" (the ceiling), "real", "noise", "reversed" (floors)} → :func:`judge_scores`.

    real, real_codec: held-out clips as they are and through the model's codec (as many as there are samples
    where possible); the floors are made from real_codec. ``real_labels`` give the ceiling's accuracy."""
    n = min(max(len(samples), 2), len(real))
    real, real_codec = real[:n], real_codec[:n]
    lab = real_labels[:n] if real_labels is not None else None
    sets = {"samples": (samples, requested), "real_codec": (real_codec, lab), "real": (real, lab),
            "noise": (noise_bursts(real_codec), None), "reversed": (real_codec.flip(1), None)}  # fmt: skip
    return {
        name: judge_scores(judge, w, reference_features, templates, template_labels, req)
        for name, (w, req) in sets.items()
        if len(w)
    }
