"""Sample-quality scores computed from a classifier's logits: Inception Score, modified Inception Score,
AM score and mean max-softmax (the label-space half of SC09's and CIFAR's benchmarks; the feature-space
half is :mod:`.frechet`).

All take logits (M, K) (any real values; −inf is allowed and means probability 0) and work in float64
with ``xlogy`` so that exactly one-hot predictions give exact values (0·log 0 = 0):

- ``inception_score``: exp(E_x KL(p(y|x) ‖ p(y))), p(y) the mean prediction. 1 … K; higher is better.
  ``inception_score_se``: its standard error over the sample set, by the bootstrap (the score is not a
  mean of per-sample terms: p(y) depends on every sample).
- ``modified_inception_score`` (Gurumurthy et al. 2017): exp(E_{x≠x'} KL(p(y|x) ‖ p(y|x'))) over
  pairs of distinct samples; rewards confident *and* diverse predictions within a set. Higher is better.
- ``am_score`` (Zhou et al. 2018): KL(p_ref(y) ‖ p(y)) + E_x H(p(y|x)), p_ref the classifier's mean
  prediction on real data. 0 is best.
- ``mean_max_softmax``: E_x max_y p(y|x), the classifier's average confidence.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

__all__ = ["inception_score", "inception_score_se", "modified_inception_score", "am_score", "mean_max_softmax", "class_scores"]


def _probs(logits: Tensor) -> Tensor:
    lg = torch.as_tensor(logits).double()
    if lg.ndim != 2 or lg.shape[0] == 0 or lg.shape[1] == 0:
        raise ValueError(f"logits must be shaped (M >= 1, K >= 1), got {tuple(lg.shape)}")
    return lg.softmax(dim=1)


def _kl(p: Tensor, q: Tensor) -> Tensor:
    """KL(p ‖ q) along the last dim; 0·log(0/q) = 0, p·log(p/0) = inf."""
    return (torch.special.xlogy(p, p) - torch.special.xlogy(p, q)).sum(-1)


def inception_score(logits: Tensor) -> float:
    """exp(mean_i KL(p_i ‖ mean_j p_j)). logits (M, K)."""
    p = _probs(logits)
    return math.exp(_kl(p, p.mean(0, keepdim=True)).mean().item())


def inception_score_se(logits: Tensor, resamples: int = 200, seed: int = 0) -> float:
    """The bootstrap standard error of :func:`inception_score`: the SD of the score over ``resamples``
    draws of M samples with replacement (seeded, so a report is reproducible). logits (M, K)."""
    p = _probs(logits).detach()
    idx = torch.randint(0, p.shape[0], (resamples, p.shape[0]), generator=torch.Generator().manual_seed(seed))
    scores = []
    for chunk in idx.split(25):  # (25, M, K) at a time: memory stays small for large M
        boot = p[chunk]
        scores.append(_kl(boot, boot.mean(1, keepdim=True)).mean(1).exp())
    return torch.cat(scores).std().item()


def modified_inception_score(logits: Tensor, chunk: int = 256) -> float:
    """exp(mean over ordered pairs i ≠ j of KL(p_i ‖ p_j)). logits (M, K), M ≥ 2. inf if two samples are
    certain of different classes (their KL is infinite)."""
    p = _probs(logits)
    m = p.shape[0]
    if m < 2:
        raise ValueError("the modified Inception Score needs at least 2 samples")
    neg_ent = torch.special.xlogy(p, p).sum(1)  # Σ p_i log p_i, (M,)
    total = 0.0
    for start in range(0, m, chunk):
        pi = p[start : start + chunk]
        # Σ_k p_ik log p_jk for all j: (chunk, M); xlogy handles p_ik = 0 with p_jk = 0
        cross = torch.special.xlogy(pi[:, None, :], p[None, :, :]).sum(-1)
        kl = neg_ent[start : start + chunk, None] - cross
        kl[torch.arange(len(pi)), torch.arange(start, start + len(pi))] = 0.0  # the pair (i, i)
        total += kl.sum().item()
    return math.exp(total / (m * (m - 1)))


def am_score(logits: Tensor, reference_logits: Tensor) -> float:
    """KL(mean p_ref ‖ mean p) + mean_i H(p_i). logits (M, K), reference_logits (R, K) from real data."""
    p, r = _probs(logits), _probs(reference_logits)
    if p.shape[1] != r.shape[1]:
        raise ValueError(f"logits have {p.shape[1]} classes, reference logits {r.shape[1]}")
    entropy = -torch.special.xlogy(p, p).sum(1).mean()
    return (_kl(r.mean(0), p.mean(0)) + entropy).item()


def mean_max_softmax(logits: Tensor) -> float:
    """mean_i max_k p_ik. logits (M, K)."""
    return _probs(logits).amax(1).mean().item()


def class_scores(logits: Tensor, reference_logits: Tensor | None = None, prefix: str = "") -> dict[str, float]:
    """All of the above as a dict (keys ``{prefix}is``, ``{prefix}mis``, ``{prefix}am``, ``{prefix}max_softmax``);
    ``am`` needs ``reference_logits``; ``mis`` is NaN for a single sample."""
    out = {f"{prefix}is": inception_score(logits), f"{prefix}max_softmax": mean_max_softmax(logits)}
    out[f"{prefix}mis"] = modified_inception_score(logits) if len(logits) >= 2 else float("nan")
    if reference_logits is not None:
        out[f"{prefix}am"] = am_score(logits, reference_logits)
    return out
