"""Audio sample quality the way SC09 benchmarks score it: a digit (class) classifier the toolkit trains on
the training clips, then FID in its feature space and IS / modified IS / AM score / max-softmax in its
logit space, each beside the same score for held-out real clips (the ceiling or floor a perfect
generator reaches); a spectral distance; and, for tones, pitch accuracy.

The classifier works on the normalised log-mel of a clip (whatever the model's representation), so
generated waves are scored exactly as real ones are. It is trained once per data configuration and
cached (:func:`modalities.shared.cached_model.cached_model`).
"""

from __future__ import annotations

import math
from typing import Callable

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ..shared.cached_model import cached_model
from ..shared.classifier_scores import am_score, inception_score, mean_max_softmax, modified_inception_score
from ..shared.frechet import feature_frechet_distance
from ..shared.scorer import Scorer, accuracy, train_scorer

#: bump when the classifier's architecture or training changes
CLASSIFIER_VERSION = 1
FEATURE_DIM = 128


class ClipClassifier(Scorer):
    """CNN on log-mel images (B, 1, n_mels, frames): ``features`` (B, 128) → ``head`` → logits (B, K).

    Global average pooling makes it indifferent to the exact mel shape and tolerant of small time shifts.
    """

    def __init__(self, num_classes: int, width: int = 32):
        super().__init__()

        def conv(cin: int, cout: int) -> nn.Sequential:
            return nn.Sequential(nn.Conv2d(cin, cout, 3, padding=1), nn.BatchNorm2d(cout), nn.ReLU())

        self.body = nn.Sequential(
            conv(1, width), nn.MaxPool2d(2), conv(width, 2 * width), nn.MaxPool2d(2),
            conv(2 * width, 4 * width), nn.MaxPool2d(2), conv(4 * width, FEATURE_DIM),
            nn.AdaptiveAvgPool2d(1), nn.Flatten(),
        )  # fmt: skip
        self.head = nn.Sequential(nn.Dropout(0.3), nn.Linear(FEATURE_DIM, num_classes))


def _augment(x: Tensor, g: torch.Generator) -> Tensor:
    """Random time shift of up to ±3 frames (edge frames fill in) and a level change of up to ±3 dB. x (B,1,H,W)."""
    b, c, h, w = x.shape
    shift = torch.randint(-3, 4, (b,), generator=g)
    # column j of the output reads column j − shift of the input; outside it, the nearest edge frame
    cols = (torch.arange(w)[None, :] - shift[:, None]).clamp(-1, w) + 1
    padded = F.pad(x, (1, 1, 0, 0), mode="replicate")  # edge frames are the noise floor
    out = padded.gather(3, cols[:, None, None, :].expand(b, c, h, w))
    gain = (torch.rand(b, 1, 1, 1, generator=g) - 0.5) * 0.15
    return (out + gain).clamp(-1.0, 1.0)


def train_classifier(model: ClipClassifier, x: Tensor, y: Tensor, xt: Tensor, yt: Tensor, epochs: int = 12,
                     batch_size: int = 64, lr: float = 3e-3, seed: int = 0) -> dict:  # fmt: skip
    """:func:`~modalities.shared.scorer.train_scorer` with shift/gain augmentation; deterministic for a seed."""
    train_scorer(model, x, y, _augment, epochs=epochs, batch_size=batch_size, lr=lr, seed=seed, min_batch=2)
    return {"test_accuracy": accuracy(model, xt, yt), "train_accuracy": accuracy(model, x, y),
            "num_train": len(x), "num_test": len(xt)}  # fmt: skip


def load_classifier(key: dict, num_classes: int, data: Callable[[], tuple[Tensor, Tensor, Tensor, Tensor]],
                    verbose: bool = False) -> tuple[ClipClassifier, dict]:  # fmt: skip
    """The cached classifier for the data configuration ``key``; ``data()`` gives (x, y, x_test, y_test) log-mels
    and labels and is only called when the classifier must be trained."""

    def train(model: nn.Module) -> dict:
        x, y, xt, yt = data()
        return train_classifier(model, x, y, xt, yt)  # type: ignore[arg-type]

    full_key = {"version": CLASSIFIER_VERSION, "feature_dim": FEATURE_DIM, "classes": num_classes, **key}
    model, info = cached_model("audio_classifier", full_key, lambda: ClipClassifier(num_classes), train, verbose=verbose)
    return model, info  # type: ignore[return-value]


@torch.no_grad()
def classifier_outputs(model: ClipClassifier, x: Tensor) -> tuple[np.ndarray, Tensor]:
    """log-mels (M, 1, H, W) → (features (M, 128) float64 numpy, logits (M, K))."""
    model.eval()
    feats = torch.cat([model.features(c.float()) for c in x.split(512)]) if len(x) else torch.zeros(0, FEATURE_DIM)
    return feats.double().numpy(), model.head(feats)


def spectral_distance(db_a: Tensor, db_b: Tensor) -> float:
    """RMS difference (dB) between the average mel power spectra of two sets. db_*: (M, n_mels, frames) in dB.

    Averages power (not dB) over clips and frames, then compares in dB: the long-term spectral balance.
    """
    pa = (10.0 ** (db_a.double() / 10)).mean(dim=(0, 2))
    pb = (10.0 ** (db_b.double() / 10)).mean(dim=(0, 2))
    return (10 * (pa.log10() - pb.log10())).square().mean().sqrt().item()


def label_scores(logits: Tensor, ref_logits: Tensor, prefix: str = "") -> dict[str, float]:
    nan = float("nan")
    out = {f"{prefix}is": inception_score(logits), f"{prefix}max_softmax": mean_max_softmax(logits),
           f"{prefix}am": am_score(logits, ref_logits)}  # fmt: skip
    out[f"{prefix}mis"] = modified_inception_score(logits) if len(logits) >= 2 else nan
    return out


def classifier_metrics(
    model: ClipClassifier,
    samples: Tensor,
    train: Tensor,
    test: Tensor,
    sample_labels: Tensor | None = None,
) -> dict[str, float]:
    """FID / IS / mIS / AM / max-softmax of samples and of held-out real clips (all log-mels (M, 1, H, W)).

    - fid: samples vs all training clips; fid_real: the first min(B, T) held-out clips vs training clips
      (the floor: FD is biased upwards at small counts, so it is computed at the samples' count when it can);
      fid_same_n: the first min(B, T) samples vs training clips, like for like with fid_real when B > T.
    - is, mis, am, max_softmax and real_is, real_mis, real_am, real_max_softmax: the same for held-out clips
      (their IS is the ceiling). am uses the training clips' mean prediction as reference.
    - label_accuracy: with conditional samples, the share classified as the label they were generated for.
    """
    f_s, lg_s = classifier_outputs(model, samples)
    f_tr, lg_tr = classifier_outputs(model, train)
    f_te, lg_te = classifier_outputs(model, test)
    b, nan = len(samples), float("nan")
    n_real = min(max(b, 2), len(f_te))
    out: dict[str, float] = {}
    out["fid"] = feature_frechet_distance(f_s, f_tr) if b >= 2 else nan
    out["fid_real"] = feature_frechet_distance(f_te[:n_real], f_tr) if n_real >= 2 else nan
    # FD shrinks with the count: with more samples than held-out clips, this is the like-for-like one
    out["fid_same_n"] = feature_frechet_distance(f_s[:n_real], f_tr) if min(b, n_real) >= 2 else nan
    if b:
        out.update(label_scores(lg_s, lg_tr))
    out.update(label_scores(lg_te[:n_real], lg_tr, prefix="real_"))
    if sample_labels is not None and b:
        keep = sample_labels >= 0
        if keep.any():
            out["label_accuracy"] = lg_s[keep].argmax(1).eq(sample_labels[keep]).double().mean().item()
    return out


def pitch_accuracy(waves: list[np.ndarray], sample_rate: int, notes: list[float], labels: list[int | None],
                   cents: float = 50.0) -> dict[str, float]:  # fmt: skip
    """Tones: share of clips whose autocorrelation pitch lies within ``cents`` of a note (``pitch_in_tune``),
    and, for clips with a label, of their own note (``pitch_accuracy``)."""
    from .data import estimate_pitch

    in_tune, right, labelled = 0, 0, 0
    logn = np.log2(np.asarray(notes, np.float64))
    for w, lab in zip(waves, labels):
        f = estimate_pitch(w, sample_rate)
        if not math.isfinite(f):
            labelled += lab is not None
            continue
        dev = 1200 * np.abs(np.log2(f) - logn)
        in_tune += bool(dev.min() <= cents)
        if lab is not None:
            labelled += 1
            right += bool(dev[lab] <= cents)
    out = {"pitch_in_tune": in_tune / max(len(waves), 1)}
    if labelled:
        out["pitch_accuracy"] = right / labelled
    return out
