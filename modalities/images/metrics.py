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

import hashlib
import math
import os
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .data import load_digits_split

#: bump when the classifier's architecture or training changes, so stale caches are not loaded
CLASSIFIER_VERSION = 1
FEATURE_DIM = 64
#: the classifier's own split, independent of the modality options so one cached net serves all
CLASSIFIER_SPLIT = dict(test_fraction=0.15, seed=0)


# ----------------------------------------------------------------------------------------------
# classifier


class DigitsClassifier(nn.Module):
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

    def features(self, x: Tensor) -> Tensor:
        """x (B, 1, 8, 8) → penultimate features (B, feature_dim)."""
        return self.body(x)

    def forward(self, x: Tensor) -> Tensor:
        """x (B, 1, 8, 8) → logits (B, 10)."""
        return self.head(self.body(x))


def cache_dir() -> Path:
    """Where the toolkit caches things it builds itself: ``$PFGM_CACHE`` or ``~/.cache/pfgm``."""
    env = os.environ.get("PFGM_CACHE")
    return Path(env).expanduser() if env else Path.home() / ".cache" / "pfgm"


def _random_shift(x: Tensor, generator: torch.Generator) -> Tensor:
    """Shift each image by up to one pixel (background -1 fills in): cheap augmentation. (B,1,8,8)."""
    b, _, h, w = x.shape
    padded = F.pad(x, (1, 1, 1, 1), value=-1.0)
    dy, dx = torch.randint(0, 3, (2, b), generator=generator)
    rows = (dy[:, None] + torch.arange(h))[:, :, None].expand(b, h, w)
    cols = (dx[:, None] + torch.arange(w))[:, None, :].expand(b, h, w)
    return padded[torch.arange(b)[:, None, None], 0, rows, cols].unsqueeze(1)


@torch.no_grad()
def accuracy(model: nn.Module, x: Tensor, y: Tensor) -> float:
    """Top-1 accuracy of ``model`` on x (M, 1, 8, 8), y (M,)."""
    was = model.training
    model.eval()
    acc = (model(x).argmax(1) == y).float().mean().item()
    model.train(was)
    return acc


def train_digits_classifier(epochs: int = 15, batch_size: int = 64, lr: float = 2e-3, seed: int = 0) -> DigitsClassifier:
    """Train the classifier on the digits train split (~1,500 images; a few seconds on a CPU).

    Deterministic for a given seed; the global RNG state is left untouched.
    """
    x, y = load_digits_split("train", **CLASSIFIER_SPLIT)
    xt, yt = load_digits_split("test", **CLASSIFIER_SPLIT)
    g = torch.Generator().manual_seed(seed)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)  # weight init and dropout
        model = DigitsClassifier()
        opt = torch.optim.Adam(model.parameters(), lr=lr)
        steps = epochs * math.ceil(len(x) / batch_size)
        sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=lr, total_steps=steps)
        model.train()
        for _ in range(epochs):
            for idx in torch.randperm(len(x), generator=g).split(batch_size):
                loss = F.cross_entropy(model(_random_shift(x[idx], g)), y[idx])
                opt.zero_grad(set_to_none=True)
                loss.backward()
                opt.step()
                sched.step()
    model.eval()
    model.test_accuracy = accuracy(model, xt, yt)
    return model


def _cache_path(root: Path) -> Path:
    key = f"v{CLASSIFIER_VERSION}|{FEATURE_DIM}|{sorted(CLASSIFIER_SPLIT.items())}"
    return root / f"digits_classifier_{hashlib.sha256(key.encode()).hexdigest()[:12]}.pt"


def _atomic_torch_save(obj: object, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            torch.save(obj, f)
        os.replace(tmp, path)  # readers see the old file or the complete new one, never half of it
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def load_digits_classifier(cache: str | os.PathLike | None = None, retrain: bool = False, verbose: bool = False) -> DigitsClassifier:
    """The cached digits classifier (eval mode), training and caching it first if needed.

    ``cache``: the cache folder (default :func:`cache_dir`). An unreadable cache file is replaced.
    """
    path = _cache_path(Path(cache).expanduser() if cache is not None else cache_dir())
    if path.exists() and not retrain:
        try:
            blob = torch.load(path, map_location="cpu", weights_only=True)
            model = DigitsClassifier(int(blob["feature_dim"]))
            model.load_state_dict(blob["state_dict"])
            model.test_accuracy = float(blob["test_accuracy"])
            return model.eval()
        except Exception as e:  # corrupt or foreign file: rebuild it rather than fail evaluation
            if verbose:
                print(f"pfgm: ignoring unreadable classifier cache {path} ({type(e).__name__}: {e})")
    t0 = time.perf_counter()
    model = train_digits_classifier()
    secs = time.perf_counter() - t0
    if verbose:
        print(f"pfgm: trained digits classifier in {secs:.1f} s, test accuracy {model.test_accuracy:.4f} → {path}")
    blob = {
        "state_dict": model.state_dict(),
        "feature_dim": FEATURE_DIM,
        "test_accuracy": model.test_accuracy,
        "train_seconds": secs,
        "version": CLASSIFIER_VERSION,
    }
    _atomic_torch_save(blob, path)
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


def gaussian_stats(feats: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Features (M, F), M ≥ 2 → mean (F,) and unbiased covariance (F, F)."""
    feats = np.asarray(feats, dtype=np.float64)
    if feats.ndim != 2 or feats.shape[0] < 2:
        raise ValueError(f"need features shaped (M >= 2, F), got {feats.shape}")
    return feats.mean(0), np.cov(feats, rowvar=False).reshape(feats.shape[1], feats.shape[1])


def _psd_sqrt(a: np.ndarray) -> np.ndarray:
    """Symmetric square root of a symmetric PSD matrix via eigh (round-off negatives clipped to 0)."""
    w, v = np.linalg.eigh((a + a.T) / 2)
    return (v * np.sqrt(np.clip(w, 0, None))) @ v.T


def frechet_distance(mu1: np.ndarray, cov1: np.ndarray, mu2: np.ndarray, cov2: np.ndarray) -> float:
    """Fréchet (2-Wasserstein²) distance of N(mu1, cov1) and N(mu2, cov2). mu (F,), cov (F, F).

    ‖mu1 − mu2‖² + tr(cov1) + tr(cov2) − 2 tr((cov1 cov2)^½). The last trace is computed as
    Σ √λ of the symmetric PSD matrix cov1^½ cov2 cov1^½ (same eigenvalues as cov1 cov2), which
    avoids sqrtm's complex round-off on the non-symmetric product.
    """
    mu1, mu2 = np.atleast_1d(np.asarray(mu1, np.float64)), np.atleast_1d(np.asarray(mu2, np.float64))
    cov1, cov2 = np.atleast_2d(np.asarray(cov1, np.float64)), np.atleast_2d(np.asarray(cov2, np.float64))
    if mu1.shape != mu2.shape or cov1.shape != cov2.shape or cov1.shape != mu1.shape * 2:
        raise ValueError(f"shape mismatch: mu {mu1.shape}/{mu2.shape}, cov {cov1.shape}/{cov2.shape}")
    s1 = _psd_sqrt(cov1)
    m = s1 @ cov2 @ s1
    tr_cross = np.sqrt(np.clip(np.linalg.eigvalsh((m + m.T) / 2), 0, None)).sum()
    d = float(((mu1 - mu2) ** 2).sum() + np.trace(cov1) + np.trace(cov2) - 2 * tr_cross)
    return max(d, 0.0)  # exact value is ≥ 0; round-off can dip just below


def feature_frechet_distance(a: np.ndarray, b: np.ndarray) -> float:
    """Fréchet distance of Gaussians fitted to feature sets a (M, F) and b (K, F)."""
    return frechet_distance(*gaussian_stats(a), *gaussian_stats(b))


def _pairwise(a: Tensor, b: Tensor) -> Tensor:
    return torch.cdist(a, b, compute_mode="donot_use_mm_for_euclid_dist")  # exact, no ‖a‖²+‖b‖² cancellation


def knn_radii(feats: np.ndarray, k: int = 3, chunk: int = 1024) -> np.ndarray:
    """Distance from each point of feats (M, F) to its k-th nearest other point → (M,). Needs M > k."""
    x = torch.as_tensor(np.asarray(feats, np.float64))
    if x.shape[0] <= k:
        raise ValueError(f"k-NN radii with k={k} need more than {k} points, got {x.shape[0]}")
    # the (k+1)-th smallest distance in a row skips the point itself (distance 0)
    return torch.cat([_pairwise(c, x).kthvalue(k + 1, dim=1).values for c in x.split(chunk)]).numpy()


def _coverage(points: np.ndarray, centres: np.ndarray, radii: np.ndarray, chunk: int = 1024) -> float:
    """Share of points (M, F) inside at least one ball (centres (K, F), radii (K,))."""
    p, c, r = (torch.as_tensor(np.asarray(a, np.float64)) for a in (points, centres, radii))
    inside = [(_pairwise(part, c) <= r[None, :]).any(dim=1) for part in p.split(chunk)]
    return torch.cat(inside).double().mean().item()


def precision_recall(real: np.ndarray, fake: np.ndarray, k: int = 3) -> tuple[float, float]:
    """k-NN precision and recall (Kynkäänniemi et al. 2019). real (M, F), fake (K, F), both > k points.

    precision: share of fake points within the k-NN ball of some real point (fidelity);
    recall: share of real points within the k-NN ball of some fake point (coverage).
    """
    real, fake = np.asarray(real, np.float64), np.asarray(fake, np.float64)
    precision = _coverage(fake, real, knn_radii(real, k))
    recall = _coverage(real, fake, knn_radii(fake, k))
    return precision, recall


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
    out = {"confident_fraction": confident_fraction(logits) if b else nan,
           "confident_fraction_real": confident_fraction(logits_te)}
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
