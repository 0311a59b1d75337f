"""Seeded, shardable generation: sample i is a function of (seed + i) alone.

Global sample indices are cut into fixed batches [k·bs, (k+1)·bs); batch k runs on rank k mod W.
Within a batch, each sample draws its blank (size, cond) and its prior from its own generator
seeded with seed + i, and the batch's error-injection and churn noise from a generator seeded by
its first index, so the outputs do not depend on the world size.

A blank with ``fixed`` entries (region redesign) is solved by :mod:`pfgm_core.redesign`: the known
entries stay on the PFGM++ perturbation of their values with the sample's own scale variable.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Callable, Iterator

import torch
from torch import Tensor

from .autoguidance import check_guide_weight
from .config import PFGMConfig, check_sigma
from .distributed import all_gather_objects
from .errors import ConfigError
from .kernel import PFGMKernel
from .progress import Progress
from .solvers import sample
from .steering import Steering, check_lambda

__all__ = ["GenerateConfig", "SAMPLER_KEYS", "generate", "generate_batches"]


#: the fields that take any real number (the rest are whole numbers, the solver and the guide)
_NUMBERS = (
    "sigma_min",
    "sigma_max",
    "rho",
    "guidance",
    "alpha",
    "churn",
    "churn_sigma_min",
    "churn_sigma_max",
    "churn_noise",
    "snap_below",
    "connect_sigma_min",
    "connect_sigma_max",
    "steer_lambda",
    "steer_sigma_max",
)
#: of those, the ones that must be ≥ 0 beyond the checks of __post_init__'s own lines (churn, snap_below, ...)
_NONNEGATIVE = ("alpha", "churn_noise", "churn_sigma_min", "churn_sigma_max")


@dataclass
class GenerateConfig:
    num_samples: int = 64
    seed: int = 0
    batch_size: int = 256
    solver: str = "heun"
    steps: int = 18
    sigma_min: float = PFGMConfig.sigma_min
    sigma_max: float = PFGMConfig.sigma_max
    rho: float = 7.0
    guidance: float = 1.0
    alpha: float = 0.0
    churn: float = 0.0  # heun and euler: EDM's stochastic sampler (Alg. 2), see solvers.sample_heun
    churn_sigma_min: float = 0.0  # EDM's S_tmin / S_tmax: the σ range where churn applies
    churn_sigma_max: float = float("inf")
    churn_noise: float = 1.0
    snap_below: float = 0.0  # σ below which the denoised estimate is snapped to clean data (pfgm_core.snapping)
    connect_sigma_min: float = 0.0  # graphs: σ band [min, max) where a falling-apart estimate gets a bridge
    connect_sigma_max: float = 0.0  # (pfgm_core.snapping); 0 = off
    particles: int = 1  # > 1: Feynman-Kac steering by the modality's reward (pfgm_core.steering), heun/euler
    steer_lambda: float = 1.0  # λ of the tilted law p(x)·exp(λ·r(x))
    steer_sigma_max: float = float("inf")  # resample only at σ ≤ this (the ODE keeps duplicates identical, see steering.py)
    guide: str | None = (
        None  # autoguidance: a weaker checkpoint of the same modality (the entry points load it; pfgm_core.autoguidance)
    )
    guide_weight: float = 1.0  # w in D_guide + w·(D − D_guide); 1 = the model alone

    def __post_init__(self) -> None:
        from .solvers import SOLVERS

        for name in ("num_samples", "steps", "batch_size", "particles"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, int) or v < (0 if name == "num_samples" else 1):
                raise ConfigError(f"sampler.{name} must be a whole number ≥ {0 if name == 'num_samples' else 1}, got {v!r}")
        for name in _NUMBERS:
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, (int, float)):
                raise ConfigError(f"sampler.{name} must be a number, got {v!r}")
        if not isinstance(self.solver, str) or self.solver not in SOLVERS:  # a list would not even hash
            raise ConfigError(f"sampler.solver must be one of {', '.join(SOLVERS)}, got {self.solver!r}")
        if not 0 < self.sigma_min < self.sigma_max:
            raise ConfigError(f"need 0 < sigma_min < sigma_max, got {self.sigma_min}, {self.sigma_max}")
        for name in ("sigma_min", "sigma_max"):
            check_sigma(float(getattr(self, name)), f"sampler.{name}")
        if self.snap_below < 0:
            raise ConfigError(f"sampler.snap_below must be ≥ 0 (0: no snapping), got {self.snap_below}")
        if self.connect_sigma_max > 0 and not 0 <= self.connect_sigma_min < self.connect_sigma_max:
            raise ConfigError(
                f"sampler.connect_sigma_min must lie in [0, connect_sigma_max = {self.connect_sigma_max}), "
                f"got {self.connect_sigma_min}"
            )
        if self.churn < 0:
            raise ConfigError(f"sampler.churn must be ≥ 0, got {self.churn}")
        if self.particles > 1 and self.solver not in ("heun", "euler"):
            raise ConfigError(
                f"sampler.particles (steering) resamples between steps: use the heun or euler solver, not {self.solver!r}"
            )
        check_lambda(self.steer_lambda)
        check_guide_weight(self.guide_weight)
        if self.guide is not None and (not isinstance(self.guide, str) or not self.guide.strip()):
            raise ConfigError(f"sampler.guide must be a checkpoint (run dir, .safetensors or zoo:NAME), got {self.guide!r}")
        if self.guide is None and self.guide_weight != 1:
            raise ConfigError(
                f"sampler.guide_weight={self.guide_weight} needs sampler.guide (the weaker checkpoint to guide with)"
            )
        if self.churn > 0 and self.solver not in ("heun", "euler"):
            raise ConfigError(f"sampler.churn is an option of the heun and euler solvers, not {self.solver!r}")
        # NaN passes every comparison above and ∞ every lower bound; the two σ ceilings take ∞ (no ceiling)
        for name in _NUMBERS:
            v = getattr(self, name)
            if math.isnan(v) or (math.isinf(v) and name not in ("churn_sigma_max", "steer_sigma_max")):
                raise ConfigError(f"sampler.{name} must be a finite number, got {v!r}")
            if name in _NONNEGATIVE and v < 0:
                raise ConfigError(f"sampler.{name} must be ≥ 0, got {v!r}")
        if self.rho <= 0:
            raise ConfigError(f"sampler.rho must be > 0, got {self.rho!r}")

    def solver_options(self) -> dict[str, float]:
        if self.churn == 0:
            return {}
        return {
            "churn": float(self.churn),
            "churn_sigma_min": float(self.churn_sigma_min),
            "churn_sigma_max": float(self.churn_sigma_max),
            "churn_noise": float(self.churn_noise),
        }


#: the keys of a sampler section, in field order: what pfgm-sample/pfgm-eval take as sampler.X= (their
#: configs/sampler_from_checkpoint.yaml lists the same), pfgm.Model.sample by name, and a checkpoint stores.
#: num_samples and seed are the run's own arguments, not sampler settings.
SAMPLER_KEYS: tuple[str, ...] = tuple(f for f in GenerateConfig.__dataclass_fields__ if f not in ("num_samples", "seed"))


Batch = tuple[int, Tensor, "Tensor | None", "Tensor | None"]  # (first index, x, mask, cond), on the CPU


def _sample_batch(
    denoiser: Callable[..., Tensor],
    kernel: PFGMKernel,
    blank: Callable[[int, torch.Generator], Any],
    sigmas: Tensor,
    cfg: GenerateConfig,
    device: torch.device | str,
    idx: range,
    batch_info: dict,
    potential: Callable[..., Tensor] | None = None,
) -> tuple[Tensor, Tensor | None, Tensor | None]:
    k = cfg.particles  # steering: k consecutive rows per sample, the first one the unsteered sample's own start
    if k > 1 and potential is None:
        raise ConfigError("sampler.particles > 1 steers by a reward: give generate a potential (the modality's reward)")
    xs, ms, cs, redesigns = [], [], [], []
    for i in idx:
        g = torch.Generator().manual_seed(cfg.seed + i)
        b = blank(1, g)
        if getattr(b, "fixed", None) is not None:
            if k > 1:
                raise ConfigError("sampler.particles (steering) does not combine with region redesign; leave it at 1")
            from .redesign import redesign_init

            x_i, state = redesign_init(kernel, b.x.float(), b.fixed, b.mask, cfg.sigma_max, g)
            xs.append(x_i)
            redesigns.append(state)
        else:
            xs += [kernel.prior(tuple(b.x.shape), cfg.sigma_max, b.mask, g) for _ in range(k)]
        ms += [b.mask] * k
        cs += [b.cond] * k
    x0 = torch.cat(xs).to(device)
    mask = None if ms[0] is None else torch.cat(ms).to(device)
    cond = None if cs[0] is None else torch.cat(cs).to(device)
    g_alpha = torch.Generator(device=device).manual_seed(cfg.seed + idx[0] + 1_000_000_007)
    kw = dict(
        mask=mask, cond=cond, guidance=cfg.guidance, alpha=cfg.alpha, generator=g_alpha, info=batch_info, **cfg.solver_options()
    )
    if redesigns:
        if len(redesigns) != len(idx):
            raise ValueError("a batch mixes redesign templates with free samples; give every sample a template")
        from .redesign import RedesignState, redesign_sample

        state = RedesignState(*(torch.cat([getattr(r, f) for r in redesigns]) for f in ("known", "fixed", "s", "g_known")))
        x = redesign_sample(denoiser, x0, sigmas, state.to(device), cfg.solver, **kw)
    else:
        if k > 1:
            kw["steering"] = Steering(potential, k, float(cfg.steer_lambda), float(cfg.steer_sigma_max))
        x = sample(denoiser, x0, sigmas, cfg.solver, **kw)[::k]  # after the last resampling any row of a group is a draw
        mask = None if mask is None else mask[::k]
        cond = None if cond is None else cond[::k]
    return x.cpu(), None if mask is None else mask.cpu(), None if cond is None else cond.cpu()


@torch.no_grad()
def generate_batches(
    denoiser: Callable[..., Tensor],
    kernel: PFGMKernel,
    blank: Callable[[int, torch.Generator], Any],
    sigmas: Tensor,
    cfg: GenerateConfig,
    device: torch.device | str = "cpu",
    rank: int = 0,
    world: int = 1,
    progress: bool = True,
    info: dict | None = None,
    potential: Callable[..., Tensor] | None = None,
) -> Iterator[Batch]:
    """The samples of :func:`generate`, batch by batch in index order, so a caller can write each
    batch and drop it: memory stays one round of batches, whatever cfg.num_samples is.

    Yields (first index, x (b, ...), mask, cond) on the CPU. With world > 1 the ranks run batches
    round-robin; each round is gathered and every rank yields the same batches in the same order.
    ``potential(x, mask) → (b,)`` is the reward that ``cfg.particles > 1`` steers by (pfgm_core.steering).
    """
    n, bs = cfg.num_samples, cfg.batch_size
    num_batches = (n + bs - 1) // bs
    bar = Progress(n, enabled=progress and rank == 0, desc="sample", unit="sample")
    batch_info: dict = {}
    for first in range(0, num_batches, world):
        k = first + rank
        mine = None
        if k < num_batches:
            idx = range(k * bs, min((k + 1) * bs, n))
            mine = (k, *_sample_batch(denoiser, kernel, blank, sigmas, cfg, device, idx, batch_info, potential))
        parts = [p for p in (all_gather_objects(mine) if world > 1 else [mine]) if p is not None]
        for k_, x, mask, cond in sorted(parts, key=lambda p: p[0]):
            bar.update(len(x))
            if info is not None:
                info["nfe_per_sample"] = batch_info.get("nfe")
            yield k_ * bs, x, mask, cond
    bar.close()


def generate(
    denoiser: Callable[..., Tensor],
    kernel: PFGMKernel,
    blank: Callable[[int, torch.Generator], Any],
    sigmas: Tensor,
    cfg: GenerateConfig,
    **kw: Any,
) -> tuple[Tensor, Tensor | None, Tensor | None]:
    """Generate cfg.num_samples samples; returns (x, mask, cond) for all samples in index order on
    every rank (gathered across ranks when world > 1). ``kw``: device, rank, world, progress, info as
    in :func:`generate_batches`, which keeps memory bounded for many samples.

    blank(1, generator) → an object with .x (1, *shape) zeros, .mask, .cond and optionally .fixed
    (see modalities.base.Encoded). With ``fixed``, x holds the known values and only the other entries
    are generated (see :mod:`pfgm_core.redesign`).
    """
    batches = list(generate_batches(denoiser, kernel, blank, sigmas, cfg, **kw))
    if not batches:
        b = blank(1, torch.Generator().manual_seed(cfg.seed))
        empty = lambda t: None if t is None else t.new_zeros((0, *t.shape[1:]))  # noqa: E731
        return empty(b.x), empty(b.mask), empty(b.cond)
    cat = lambda j: None if batches[0][j] is None else torch.cat([b[j] for b in batches])  # noqa: E731
    return cat(1), cat(2), cat(3)
