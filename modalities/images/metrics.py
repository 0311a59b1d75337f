"""Image sample quality for the digits: a small CNN the toolkit trains itself, and metrics in its feature space.

- ``digits_fd``: Fréchet distance between Gaussians fitted to classifier features of samples and
  of the training images (FID's recipe with a digits classifier instead of Inception).
- ``digits_fd_floor``: the same distance for held-out real test images; what a perfect generator
  would score with that many images (FD is biased upwards for small sets, so compare to this).
- ``precision`` / ``recall``: k-NN manifold estimates (Kynkäänniemi et al. 2019, k = 3).
- ``confident_fraction``: share of samples the classifier labels with max softmax ≥ 0.9.

The classifier is trained once (a few seconds on a CPU) and cached under ``$PFGM_CACHE`` or
``~/.cache/pfgm/``; the file holds tensors and plain numbers only and loads with
``torch.load(weights_only=True)``.
"""

from __future__ import annotations

import os

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ..shared.cached_model import cached_model
from ..shared.frechet import feature_frechet_distance, precision_recall
from ..shared.scorer import Scorer, accuracy, train_scorer
from .data import load_digits_split

#: bump when the classifier's architecture or training changes, so stale caches are not loaded
CLASSIFIER_VERSION = 1
FEATURE_DIM = 64
#: the classifier's own split, independent of the modality options so one cached net serves all
CLASSIFIER_SPLIT = dict(test_fraction=0.15, seed=0)


# ----------------------------------------------------------------------------------------------
# classifier


class DigitsClassifier(Scorer):
    """CNN for (B, 1, 8, 8) digits in [-1, 1]: ``features`` (B, 64) → ``head`` → logits (B, 10)."""

    def __init__(self, feature_dim: int = FEATURE_DIM):
        super().__init__()
        self.body = nn.Sequential(
            nn.Conv2d(1, 32, 3, padding=1), nn.ReLU(),
            nn.Conv2d(32, 64, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),  # 4×4
            nn.Conv2d(64, 64, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),  # 2×2
            nn.Flatten(), nn.Linear(64 * 4, feature_dim), nn.ReLU(),
        )  # fmt: skip
        self.head = nn.Sequential(nn.Dropout(0.3), nn.Linear(feature_dim, 10))
        #: accuracy on the digits test split, filled in by training / loading
        self.test_accuracy: float = float("nan")


def _random_shift(x: Tensor, generator: torch.Generator) -> Tensor:
    """Shift each image by up to one pixel (background -1 fills in): cheap augmentation. (B,1,8,8)."""
    b, _, h, w = x.shape
    padded = F.pad(x, (1, 1, 1, 1), value=-1.0)
    dy, dx = torch.randint(0, 3, (2, b), generator=generator)
    rows = (dy[:, None] + torch.arange(h))[:, :, None].expand(b, h, w)
    cols = (dx[:, None] + torch.arange(w))[:, None, :].expand(b, h, w)
    return padded[torch.arange(b)[:, None, None], 0, rows, cols].unsqueeze(1)


def _fit(model: DigitsClassifier, epochs: int = 15, batch_size: int = 64, lr: float = 2e-3, seed: int = 0) -> dict:
    """Train ``model`` on the digits train split (~1,500 images; a few seconds on a CPU); {"test_accuracy": …}.

    Deterministic for a given seed; the global RNG state is left untouched.
    """
    x, y = load_digits_split("train", **CLASSIFIER_SPLIT)
    xt, yt = load_digits_split("test", **CLASSIFIER_SPLIT)
    train_scorer(model, x, y, _random_shift, epochs=epochs, batch_size=batch_size, lr=lr, seed=seed)
    model.test_accuracy = accuracy(model, xt, yt)
    return {"test_accuracy": model.test_accuracy}


def _build(seed: int = 0) -> DigitsClassifier:
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)  # weight init
        return DigitsClassifier()


def train_digits_classifier(seed: int = 0) -> DigitsClassifier:
    """A freshly trained classifier (not cached)."""
    model = _build(seed)
    _fit(model, seed=seed)
    return model


def load_digits_classifier(
    cache: str | os.PathLike | None = None, retrain: bool = False, verbose: bool = False
) -> DigitsClassifier:
    """The cached digits classifier (eval mode), training and caching it first if needed.

    ``cache``: the cache folder (default ``$PFGM_CACHE`` or ``~/.cache/pfgm``). An unreadable cache file is replaced.
    """
    key = {"version": CLASSIFIER_VERSION, "feature_dim": FEATURE_DIM, "split": CLASSIFIER_SPLIT}
    model, info = cached_model("digits_classifier", key, _build, _fit, cache_dir=cache, retrain=retrain, verbose=verbose)
    model.test_accuracy = float(info["test_accuracy"])
    return model


@torch.no_grad()
def classifier_outputs(model: DigitsClassifier, x: Tensor, batch_size: int = 1024) -> tuple[np.ndarray, Tensor]:
    """x (M, 1, 8, 8) in [-1, 1] → (features (M, F) float64 numpy, logits (M, 10))."""
    model.eval()
    feats, logits = [], []
    for chunk in x.float().split(batch_size):
        f = model.features(chunk)
        feats.append(f)
        logits.append(model.head(f))
    return torch.cat(feats).double().numpy(), torch.cat(logits)


# ----------------------------------------------------------------------------------------------
# metrics


def confident_fraction(logits: Tensor, threshold: float = 0.9) -> float:
    """Share of rows of logits (M, classes) whose max softmax probability is ≥ threshold."""
    return (logits.float().softmax(dim=1).amax(dim=1) >= threshold).double().mean().item()


def evaluate_digits(
    samples: Tensor,
    train: Tensor,
    test: Tensor,
    classifier: DigitsClassifier | None = None,
    k: int = 3,
) -> dict[str, float]:
    """All digit metrics. samples (B, 1, 8, 8), train (M, 1, 8, 8), test (T, 1, 8, 8), all in [-1, 1].

    - digits_fd: samples vs all train images.
    - digits_fd_floor: the first min(B, T) test images vs all train images, so the floor carries
      the same small-sample bias as digits_fd whenever B ≤ T; digits_fd_same_n: the first
      min(B, T) samples vs train, the like-for-like comparison when B > T.
    - confident_fraction / confident_fraction_real: share of samples / held-out real images the
      classifier labels with probability ≥ 0.9.
    - precision / recall: samples vs all train images. The paper compares equally sized sets,
      but at the few hundred samples used here a matching subset of real images gives k-NN balls
      so wide that pure noise scores ~0.7 precision; the full reference set keeps it near 0.2.
      Either way both numbers drift with the sample count: compare runs at equal counts.
    Metrics that need more samples than given (FD: 2, precision/recall: k + 1) are NaN.
    """
    if samples.ndim != 4 or tuple(samples.shape[1:]) != (1, 8, 8):
        raise ValueError(f"digits metrics need samples shaped (B, 1, 8, 8), got {tuple(samples.shape)}")
    clf = classifier if classifier is not None else load_digits_classifier()
    f_s, logits = classifier_outputs(clf, samples)
    f_tr, _ = classifier_outputs(clf, train)
    f_te, logits_te = classifier_outputs(clf, test)
    b, nan = len(samples), float("nan")
    out = {
        "confident_fraction": confident_fraction(logits) if b else nan,
        "confident_fraction_real": confident_fraction(logits_te),
    }
    out["digits_fd"] = feature_frechet_distance(f_s, f_tr) if b >= 2 else nan
    n_floor = min(max(b, 2), len(f_te))
    out["digits_fd_floor"] = feature_frechet_distance(f_te[:n_floor], f_tr) if n_floor >= 2 else nan
    # FD shrinks with the sample count; this one uses as many samples as the floor has test images
    out["digits_fd_same_n"] = feature_frechet_distance(f_s[:n_floor], f_tr) if min(b, n_floor) >= 2 else nan
    if b > k:
        out["precision"], out["recall"] = precision_recall(f_tr, f_s, k)
    else:
        out["precision"] = out["recall"] = nan
    return out
