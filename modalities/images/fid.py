"""Standard image metrics: FID, KID, Inception Score and precision/recall in Inception-v3 features.

The feature network and the metric formulas are torch-fidelity's (the TF-Inception port EDM and the
official PFGM++ code score with: pool3 features (2048) and the unbiased logits (1008)); nothing here
re-implements them. What this module adds is the plumbing a generative toolkit needs:

* the features are extracted in batches (``batch_size`` images at a time, resized to 299 inside the
  network), and the FID statistics are accumulated as running float64 sums, so 50,000 samples never sit
  in memory as 299×299 images; KID and precision/recall keep at most ``keep`` feature rows per side;
* the reference statistics of a data set are computed once and cached (``$PFGM_CACHE/fid/``), keyed by
  the data set's identity (path, size, count) and the feature network;
* the Inception weights are never downloaded behind the user's back: when they are absent, the metrics
  refuse in one line that says how to get them (``python -m pfgm.modalities.images.fid --download``);
  ``features="random"`` runs the same pipeline with a randomly initialised network of the same shape,
  for tests and for machines without the weights — its numbers are labelled and not comparable.

    FID = ‖μ₁ − μ₂‖² + tr Σ₁ + tr Σ₂ − 2 tr (Σ₁Σ₂)^½            (Heusel et al. 2017)
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
import warnings
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, Sequence

import numpy as np
import torch
from torch import Tensor, nn

from pfgm.core.errors import ConfigError, PfgmError

__all__ = [
    "METRICS",
    "FEATURES",
    "INCEPTION_FILE",
    "InceptionWeightsMissing",
    "inception_weights_path",
    "check_features",
    "feature_network",
    "FeatureStats",
    "extract",
    "frechet_distance",
    "reference_stats",
    "image_metrics",
    "parse_metrics",
]

METRICS = ("fid", "kid", "is", "pr")
FEATURES = ("inception", "random")
#: torch-fidelity's converted TF-Inception (2015-12-05) weights, as its own downloader names them
INCEPTION_FILE = "weights-inception-2015-12-05-6726825d.pth"
POOL_DIM, LOGITS_DIM = 2048, 1008
#: bump when the statistics' layout or the random network's initialisation changes
CACHE_VERSION = 1


class InceptionWeightsMissing(PfgmError, FileNotFoundError):
    """The Inception-v3 weights FID needs are not on this machine (the message says how to get them)."""


def inception_weights_path(override: str | os.PathLike | None = None) -> Path:
    """Where the weights are looked for: ``override``, ``$PFGM_INCEPTION``, else torch hub's checkpoint
    folder (``~/.cache/torch/hub/checkpoints/``), where torch-fidelity's own downloader puts them."""
    if override:
        return Path(override).expanduser()
    if os.environ.get("PFGM_INCEPTION"):
        return Path(os.environ["PFGM_INCEPTION"]).expanduser()
    return Path(torch.hub.get_dir()) / "checkpoints" / INCEPTION_FILE


def check_features(features: str, weights: str | os.PathLike | None = None) -> None:
    """Raise, in one line, what the chosen feature network needs and this machine lacks."""
    if features not in FEATURES:
        raise ConfigError(f"fid_features must be one of {', '.join(FEATURES)}, got {features!r}")
    try:
        import torch_fidelity  # noqa: F401
    except ImportError:
        from ..base import ModalityUnavailable

        raise ModalityUnavailable(
            'image metrics need torch-fidelity: pip install "pfgm[images]" (or pip install torch-fidelity)'
        ) from None
    if features == "inception":
        path = inception_weights_path(weights)
        if not path.is_file():
            raise InceptionWeightsMissing(
                f"FID needs the Inception-v3 weights, not found at {path}: fetch them once with "
                f"`python -m pfgm.modalities.images.fid --download` (or copy {INCEPTION_FILE} there, or set PFGM_INCEPTION); "
                "fid_features=random runs the pipeline with an untrained network instead (numbers not comparable)"
            )


class _Extractor(nn.Module):
    """uint8 (B, 3, H, W) → (pool features (B, 2048), unbiased logits (B, 1008)), both float32."""

    def __init__(self, net: nn.Module):
        super().__init__()
        self.net = net

    @torch.no_grad()
    def forward(self, images: Tensor) -> tuple[Tensor, Tensor]:
        pool, logits = self.net(images)
        return pool.float(), logits.float()


def feature_network(
    features: str = "inception", weights: str | os.PathLike | None = None, seed: int = 0, device: torch.device | str = "cpu"
) -> nn.Module:
    """torch-fidelity's Inception-v3 feature extractor: with its trained weights (``features="inception"``, read
    with ``torch.load(weights_only=True)``), or randomly initialised from ``seed`` (``"random"``: He-normal
    convolutions so activations keep their scale through the depth; BatchNorm at its identity statistics)."""
    check_features(features, weights)
    from torch_fidelity.feature_extractor_inceptionv3 import FeatureExtractorInceptionV3

    state = (
        torch.load(inception_weights_path(weights), map_location="cpu", weights_only=True) if features == "inception" else None
    )

    class _Built(FeatureExtractorInceptionV3):
        def load_state_dict(self, _ignored, strict: bool = True):  # the constructor's load: ours, not a download
            if state is not None:
                return super().load_state_dict(state, strict)
            with torch.random.fork_rng(devices=[]):
                torch.manual_seed(seed)
                for m in self.modules():
                    if isinstance(m, nn.Conv2d):
                        nn.init.kaiming_normal_(m.weight, nonlinearity="relu")
                    elif isinstance(m, nn.Linear):
                        nn.init.normal_(m.weight, std=POOL_DIM**-0.5)
                        nn.init.zeros_(m.bias)
            return None

    with tempfile.TemporaryDirectory() as tmp:  # the constructor insists on a file to torch.load: an empty dict of ours
        empty = Path(tmp) / "none.pt"
        torch.save({}, empty)
        net = _Built("inception-v3-compat", ["2048", "logits_unbiased"], feature_extractor_weights_path=str(empty))
    return _Extractor(net).to(device).eval()


@dataclass
class FeatureStats:
    """Running statistics of features: count, Σf and Σffᵀ in float64 (for FID), and up to ``keep`` rows of
    features (KID, precision/recall) and of logits (Inception Score)."""

    keep: int = 10_000
    n: int = 0
    total: np.ndarray = field(default_factory=lambda: np.zeros(POOL_DIM))
    outer: np.ndarray = field(default_factory=lambda: np.zeros((POOL_DIM, POOL_DIM)))
    features: list[np.ndarray] = field(default_factory=list)
    logits: list[np.ndarray] = field(default_factory=list)

    def add(self, feats: Tensor, logits: Tensor) -> None:
        f = feats.detach().cpu().to(torch.float64).numpy()
        self.n += len(f)
        self.total += f.sum(0)
        self.outer += f.T @ f
        room = self.keep - sum(len(a) for a in self.features)
        if room > 0:
            self.features.append(feats[:room].cpu().numpy().astype(np.float32))
            self.logits.append(logits[:room].cpu().numpy().astype(np.float32))

    @property
    def mu(self) -> np.ndarray:
        return self.total / self.n

    @property
    def sigma(self) -> np.ndarray:
        """Unbiased covariance (n − 1 denominator, as np.cov and torch-fidelity use)."""
        mu = self.mu
        return (self.outer - self.n * np.outer(mu, mu)) / (self.n - 1)

    def kept(self) -> tuple[np.ndarray, np.ndarray]:
        cat = lambda xs, d: np.concatenate(xs) if xs else np.zeros((0, d), np.float32)  # noqa: E731
        return cat(self.features, POOL_DIM), cat(self.logits, LOGITS_DIM)


def _as_batch(images: Sequence[np.ndarray] | np.ndarray) -> Tensor:
    """HWC uint8 arrays (any count, 1 or 3 channels) → uint8 (B, 3, H, W)."""
    a = torch.from_numpy(np.stack([np.asarray(i, dtype=np.uint8) for i in images]))
    if a.dim() == 3:
        a = a[..., None]
    a = a.permute(0, 3, 1, 2)
    return a.expand(-1, 3, -1, -1).contiguous() if a.shape[1] == 1 else a.contiguous()


def extract(
    batches: Iterable[Tensor | Sequence[np.ndarray]], net: nn.Module, keep: int = 10_000, device: torch.device | str = "cpu"
) -> FeatureStats:
    """Stream ``batches`` (uint8 (B, C, H, W) tensors, or lists of HWC uint8 arrays) through ``net``."""
    stats = FeatureStats(keep=keep)
    for b in batches:
        t = b if isinstance(b, Tensor) else _as_batch(b)
        if t.shape[1] == 1:
            t = t.expand(-1, 3, -1, -1)
        pool, logits = net(t.to(device))
        stats.add(pool, logits)
    return stats


def frechet_distance(mu1: np.ndarray, sigma1: np.ndarray, mu2: np.ndarray, sigma2: np.ndarray) -> float:
    """FID's formula as torch-fidelity computes it (tr (Σ₁Σ₂)^½ from the eigenvalues of Σ₁Σ₂)."""
    from torch_fidelity.metric_fid import fid_statistics_to_metric

    s1 = {"mu": np.asarray(mu1, np.float64), "sigma": np.atleast_2d(np.asarray(sigma1, np.float64))}
    s2 = {"mu": np.asarray(mu2, np.float64), "sigma": np.atleast_2d(np.asarray(sigma2, np.float64))}
    return float(fid_statistics_to_metric(s1, s2, verbose=False)["frechet_inception_distance"])


def _dataset_key(identity: dict, features: str, weights: str | os.PathLike | None, seed: int) -> str:
    key = dict(identity, features=features, seed=seed if features == "random" else None, version=CACHE_VERSION)
    if features == "inception":
        p = inception_weights_path(weights)
        key["weights"] = [p.name, p.stat().st_size]
    return hashlib.sha256(json.dumps(key, sort_keys=True, default=str).encode()).hexdigest()[:20]


def reference_stats(
    identity: dict,
    batches: Iterable[Tensor],
    features: str = "inception",
    weights: str | os.PathLike | None = None,
    seed: int = 0,
    keep: int = 10_000,
    device: torch.device | str = "cpu",
    cache: Path | None = None,
) -> tuple[FeatureStats, bool]:
    """(the reference statistics of a data set, whether they came from the cache). ``identity`` names the data
    (path, file size, count, split); ``batches`` is only consumed when nothing is cached. The cache file is
    npz (arrays only, read with allow_pickle=False), written atomically."""
    if cache is None:
        from ..shared.paths import cache_dir

        cache = cache_dir() / "fid"
    path = Path(cache) / f"ref-{_dataset_key(identity, features, weights, seed)}.npz"
    if path.is_file():
        try:
            with np.load(path, allow_pickle=False) as z:
                s = FeatureStats(
                    keep=keep, n=int(z["n"]), total=z["total"], outer=z["outer"], features=[z["features"]], logits=[z["logits"]]
                )
            return s, True
        except (OSError, ValueError, KeyError, zipfile.BadZipFile) as e:
            # a cache is derived data: one that cannot be read (cut short, written by something else) is rebuilt
            warnings.warn(
                f"{path}: unreadable reference statistics ({type(e).__name__}: {e}); computing them again", stacklevel=2
            )
    s = extract(batches, feature_network(features, weights, seed, device), keep, device)
    path.parent.mkdir(parents=True, exist_ok=True)
    f, lg = s.kept()
    tmp = path.with_suffix(".tmp.npz")
    np.savez(tmp, n=s.n, total=s.total, outer=s.outer, features=f, logits=lg)
    os.replace(tmp, path)
    return s, False


def parse_metrics(metrics: str | Sequence[str] | None) -> tuple[str, ...]:
    """ "fid,kid" / ["fid", "is"] / None (all) → a tuple of names from :data:`METRICS`."""
    if metrics is None:
        return METRICS
    names = [m.strip().lower() for m in (metrics.split(",") if isinstance(metrics, str) else metrics) if str(m).strip()]
    bad = [m for m in names if m not in METRICS]
    if bad or not names:
        raise ConfigError(f"metrics must name some of {', '.join(METRICS)}, got {metrics!r}")
    return tuple(dict.fromkeys(names))


def image_metrics(
    samples: FeatureStats, reference: FeatureStats, metrics: Sequence[str] = METRICS, kid_subset_size: int = 1000, seed: int = 0
) -> dict[str, float]:
    """The chosen metrics of generated ``samples`` against ``reference`` (torch-fidelity's formulas)."""
    out: dict[str, float] = {}
    fs, ls = samples.kept()
    fr, _ = reference.kept()
    if "fid" in metrics:
        out["fid"] = frechet_distance(samples.mu, samples.sigma, reference.mu, reference.sigma)
    if "kid" in metrics:
        from torch_fidelity.metric_kid import kid_features_to_metric

        size = min(kid_subset_size, len(fs), len(fr))
        k = kid_features_to_metric(
            torch.from_numpy(fs), torch.from_numpy(fr), kid_subsets=100, kid_subset_size=size, verbose=False, rng_seed=seed
        )
        out.update(kid=k["kernel_inception_distance_mean"], kid_std=k["kernel_inception_distance_std"])
    if "is" in metrics:
        from torch_fidelity.metric_isc import isc_features_to_metric

        s = isc_features_to_metric(torch.from_numpy(ls), splits=min(10, len(ls)), rng_seed=seed)
        out.update(inception_score=s["inception_score_mean"], inception_score_std=s["inception_score_std"])
    if "pr" in metrics:
        from torch_fidelity.metric_prc import prc_features_to_metric

        p = prc_features_to_metric(
            torch.from_numpy(fs),
            torch.from_numpy(fr),
            prc_neighborhood=3,
            prc_batch_size=10_000,
            save_cpu_ram=True,
            verbose=False,
        )
        out.update(precision=p["precision"], recall=p["recall"])
    return out


if __name__ == "__main__":  # python -m pfgm.modalities.images.fid --download: fetch the weights (torch-fidelity's URL)
    import argparse

    ap = argparse.ArgumentParser(description="Fetch the Inception-v3 weights FID/KID/IS use.")
    ap.add_argument("--download", action="store_true", help="download them into torch hub's checkpoint folder")
    args = ap.parse_args()
    target = inception_weights_path()
    if args.download and not target.is_file():
        from torch_fidelity.feature_extractor_inceptionv3 import URL_INCEPTION_V3

        target.parent.mkdir(parents=True, exist_ok=True)
        torch.hub.download_url_to_file(URL_INCEPTION_V3, str(target))
    print(f"{target}: {'present' if target.is_file() else 'absent (run with --download)'}")
