"""Scores for generated sequences against real ones: set statistics, edit distances, composition,
ProtParam descriptors, OLGA Pgen summaries and RNA folding statistics.

Every distributional score compares two sets the same way whether the first is generated or real,
so the modality can report each metric for the held-out real set beside the generated one (the
ceiling). Descriptor Wasserstein distances scale BOTH sets by the *reference's* range (scaling each
set by its own range, as some antibody code does, hides a shift of the whole distribution).
"""

from __future__ import annotations

import math
from collections import Counter
from typing import Sequence

import numpy as np

from ..shared.sets import novelty, uniqueness

__all__ = [
    "uniqueness",
    "novelty",
    "edit_distance_matrix",
    "nearest_edit_distance",
    "internal_diversity",
    "length_wasserstein",
    "composition_js",
    "DESCRIPTORS",
    "protparam_descriptors",
    "descriptor_wasserstein",
    "conformity",
    "pgen_summary",
    "pgen_ks",
    "kmer_spectrum_distance",
    "wasserstein",
]


def _codes(seqs: Sequence[str], pad: int) -> tuple[np.ndarray, np.ndarray]:
    L = max((len(s) for s in seqs), default=0)
    arr = np.full((len(seqs), max(L, 1)), pad, dtype=np.int32)
    for i, s in enumerate(seqs):
        arr[i, : len(s)] = np.frombuffer(s.encode("ascii"), dtype=np.uint8)
    return arr, np.asarray([len(s) for s in seqs], dtype=np.int64)


def edit_distance_matrix(a: Sequence[str], b: Sequence[str], chunk: int = 20_000) -> np.ndarray:
    """Levenshtein distances (len(a), len(b)) (unit insert/delete/substitute), vectorised over pairs.

    Row i of the DP table is D[i, j] = min(D[i−1, j] + 1, D[i−1, j−1] + [a_i ≠ b_j], D[i, j−1] + 1);
    the last term's chain is a running minimum: D[i, j] − j = min_{k ≤ j} (t_k − k), t the first two.
    """
    if not len(a) or not len(b):
        return np.zeros((len(a), len(b)))
    A, la = _codes(a, -1)
    B, lb = _codes(b, -2)
    ia, ib = np.meshgrid(np.arange(len(a)), np.arange(len(b)), indexing="ij")
    ia, ib = ia.ravel(), ib.ravel()
    out = np.empty(len(ia), dtype=np.int64)
    Lb = B.shape[1]
    dt = np.int16 if max(A.shape[1], Lb) < 16_000 else np.int32  # half the memory traffic of int64
    jj = np.arange(Lb + 1, dtype=dt)
    for s in range(0, len(ia), chunk):
        pa, pb = ia[s : s + chunk], ib[s : s + chunk]
        qa, qb, na, nb = A[pa], B[pb], la[pa], lb[pb]
        prev = np.broadcast_to(jj, (len(pa), Lb + 1)).copy()
        res = np.where(na == 0, nb, 0)
        for i in range(qa.shape[1]):
            cost = (qa[:, i : i + 1] != qb).astype(dt)
            t = np.empty_like(prev)
            t[:, 0] = prev[:, 0] + 1
            t[:, 1:] = np.minimum(prev[:, 1:] + 1, prev[:, :-1] + cost)
            cur = np.minimum.accumulate(t - jj, axis=1) + jj
            done = na == i + 1
            if done.any():
                res[done] = cur[done, nb[done]]
            prev = cur
        out[s : s + chunk] = res
    return out.reshape(len(a), len(b)).astype(np.float64)


def nearest_edit_distance(seqs: Sequence[str], ref: Sequence[str]) -> np.ndarray:
    """Edit distance of each sequence to its nearest reference sequence: (len(seqs),)."""
    return edit_distance_matrix(seqs, ref).min(1) if len(ref) else np.full(len(seqs), np.nan)


def internal_diversity(seqs: Sequence[str]) -> float:
    """Mean edit distance over all distinct pairs of the set (NaN for fewer than 2)."""
    if len(seqs) < 2:
        return math.nan
    d = edit_distance_matrix(seqs, seqs)
    iu = np.triu_indices(len(seqs), 1)
    return float(d[iu].mean())


def wasserstein(a: Sequence[float], b: Sequence[float]) -> float:
    """1-D Wasserstein-1 distance of two samples (NaN when either is empty)."""
    from scipy.stats import wasserstein_distance

    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    return float(wasserstein_distance(a, b)) if len(a) and len(b) else math.nan


def length_wasserstein(a: Sequence[str], b: Sequence[str]) -> float:
    return wasserstein([len(s) for s in a], [len(s) for s in b])


def composition_js(a: Sequence[str], b: Sequence[str], symbols: str) -> float:
    """Jensen-Shannon divergence (bits, in [0, 1]) of the pooled symbol frequencies of two sets."""

    def freq(seqs):
        c = Counter("".join(seqs))
        v = np.asarray([c.get(s, 0) for s in symbols], np.float64)
        return v / v.sum() if v.sum() > 0 else np.full(len(symbols), 1.0 / len(symbols))

    p, q = freq(a), freq(b)
    m = (p + q) / 2

    def kl(x, y):
        nz = x > 0
        return float((x[nz] * np.log2(x[nz] / y[nz])).sum())

    return 0.5 * kl(p, m) + 0.5 * kl(q, m)


#: Biopython ProtParam descriptors, in this order
DESCRIPTORS = ("pI", "gravy", "instability", "aromaticity", "molecular_weight", "charge_pH7", "helix", "turn", "sheet")


def protparam_descriptors(seqs: Sequence[str]) -> np.ndarray:
    """(M, len(DESCRIPTORS)) ProtParam descriptors of protein sequences (20 standard amino acids)."""
    from Bio.SeqUtils.ProtParam import ProteinAnalysis

    rows = []
    for s in seqs:
        pa = ProteinAnalysis(s)
        helix, turn, sheet = pa.secondary_structure_fraction()
        rows.append(
            [
                pa.isoelectric_point(),
                pa.gravy(),
                pa.instability_index(),
                pa.aromaticity(),
                pa.molecular_weight(),
                pa.charge_at_pH(7.0),
                helix,
                turn,
                sheet,
            ]
        )
    return np.asarray(rows, dtype=np.float64).reshape(len(seqs), len(DESCRIPTORS))


def descriptor_wasserstein(x: np.ndarray, ref: np.ndarray) -> tuple[float, dict[str, float]]:
    """Mean over descriptors of W1(x_d, ref_d), both scaled by ref's range (min→0, max→1); and per descriptor."""
    lo, hi = ref.min(0), ref.max(0)
    span = np.where(hi > lo, hi - lo, 1.0)
    per = {
        name: wasserstein((x[:, d] - lo[d]) / span[d], (ref[:, d] - lo[d]) / span[d])
        for d, name in enumerate(DESCRIPTORS[: x.shape[1]])
    }
    return float(np.mean(list(per.values()))), per


def conformity(x: np.ndarray, ref: np.ndarray) -> float:
    """Mean percentile of x's points under a Gaussian KDE fitted on ref (descriptors standardised by ref).

    The percentile of a point is the share of ref points whose leave-one-out KDE log-density is at
    most the point's log-density, so points from ref's own distribution score 0.5 on average and
    points in regions ref rarely visits score near 0.
    """
    from scipy.stats import gaussian_kde
    from scipy.special import logsumexp

    if len(ref) <= ref.shape[1] + 1:
        return math.nan  # a KDE in F dims needs more than F + 1 reference points
    mu, sd = ref.mean(0), ref.std(0)
    sd = np.where(sd > 0, sd, 1.0)
    R, X = (ref - mu) / sd, (x - mu) / sd
    try:
        kde = gaussian_kde(R.T)
    except (np.linalg.LinAlgError, ValueError):
        return math.nan  # degenerate reference (e.g. a descriptor that never varies)
    # leave-one-out densities of the reference points: drop each point's own kernel
    inv = np.linalg.inv(kde.covariance)
    diff = R[:, None, :] - R[None, :, :]
    logk = -0.5 * np.einsum("ijk,kl,ijl->ij", diff, inv, diff)
    np.fill_diagonal(logk, -np.inf)
    const = -0.5 * np.linalg.slogdet(2 * np.pi * kde.covariance)[1]
    loo = logsumexp(logk, axis=1) + const - math.log(len(R) - 1)
    lx = kde.logpdf(X.T)
    loo.sort()
    return float(np.mean(np.searchsorted(loo, lx, side="right") / len(loo)))


def pgen_summary(log10p: np.ndarray) -> dict[str, float]:
    """Mean/median log10 Pgen over Pgen > 0 (the mean with its standard error), and the share with Pgen > 0."""
    finite = log10p[np.isfinite(log10p)]
    return {
        "pgen_positive": float(np.isfinite(log10p).mean()) if len(log10p) else math.nan,
        "log10_pgen_mean": float(finite.mean()) if len(finite) else math.nan,
        "log10_pgen_mean_se": float(finite.std(ddof=1) / math.sqrt(len(finite))) if len(finite) > 1 else math.nan,
        "log10_pgen_median": float(np.median(finite)) if len(finite) else math.nan,
    }


def pgen_ks(a: np.ndarray, b: np.ndarray) -> float:
    """Two-sample KS statistic of log10 Pgen (Pgen = 0 enters as the lowest value, −inf)."""
    from scipy.stats import ks_2samp

    lo = min(np.min(a[np.isfinite(a)], initial=0), np.min(b[np.isfinite(b)], initial=0)) - 10
    return float(ks_2samp(np.where(np.isfinite(a), a, lo), np.where(np.isfinite(b), b, lo)).statistic)


def kmer_spectrum_distance(a: Sequence[str], b: Sequence[str], k: int) -> float:
    """Total-variation distance (½ L1, in [0, 1]) of the pooled k-mer frequencies of two sets."""

    def spec(seqs):
        c = Counter(s[i : i + k] for s in seqs for i in range(len(s) - k + 1))
        n = sum(c.values())
        return {m: v / n for m, v in c.items()} if n else {}

    p, q = spec(a), spec(b)
    return 0.5 * sum(abs(p.get(m, 0.0) - q.get(m, 0.0)) for m in set(p) | set(q))


def end_motif_tv(a: Sequence[str], b: Sequence[str], k: int = 5) -> float:
    """Total-variation distance (½ L1, in [0, 1]) of the distributions of the last k symbols.

    For CDR3s the last five residues are the J gene's templated end (YFDYW for IGHJ4, AFDIW for IGHJ3,
    ...): a model that blends two J genes writes ends no J gene has (AFDYW, YFDIW), which composition,
    descriptors and even the mean Pgen can miss. Sequences shorter than k count whole.
    """
    if not len(a) or not len(b):
        return math.nan
    p, q = Counter(s[-k:] for s in a), Counter(s[-k:] for s in b)
    return 0.5 * sum(abs(p[m] / len(a) - q[m] / len(b)) for m in set(p) | set(q))
