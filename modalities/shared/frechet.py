"""Distances between sets of feature vectors: the Fréchet distance of fitted Gaussians (FID, FCD, and
their counterparts in any scorer network's feature space) and k-NN precision/recall.

One implementation for every modality: images (digit-classifier features), molecules (ChemNet
activations), audio (a spoken-digit classifier's features).
"""

from __future__ import annotations

import numpy as np
import torch
from torch import Tensor

__all__ = ["gaussian_stats", "frechet_distance", "feature_frechet_distance", "knn_radii", "precision_recall"]


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
