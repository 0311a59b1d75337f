"""The PFGM++ section of a run config, parsed once: D, the σ range, σ_data and the training σ law.

Every entry point (training, sampling, evaluation, benchmarks) reads ``pfgm:`` through
:meth:`PFGMConfig.from_dict`, so D is spelt and validated in one place, the defaults below are the
only ones, and a typo is an error naming the key. It does so once per run, where the config comes in
(training: ``recipes.validate.parse_train``; a checkpoint: ``recipes.build.load_checkpoint``), and the
object travels from there: :meth:`PFGMConfig.kernel` is the perturbation kernel of training and the
prior of sampling, :meth:`PFGMConfig.loss` the objective with its σ law, and the σ range the
sampler's default (``recipes.build.generate_config``).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, fields
from typing import Any

from .errors import ConfigError
from .kernel import PFGMKernel, check_D
from .loss import CategoricalLoss, PFGMLoss
from .schedule import LogNormalSigma, LogUniformSigma

__all__ = ["PFGMConfig", "parse_D", "format_D", "check_sigma", "SIGMA_RANGE"]

#: the σ values the networks can compute with: float32's normal range. A smaller σ rounds to a
#: subnormal or to 0 (log σ = -inf in the preconditioning), a larger one to inf, and training or
#: sampling then turns to NaN far from the setting that caused it.
SIGMA_RANGE = (1.1754943508222875e-38, 3.4028234663852886e38)


def check_sigma(value: float, key: str) -> None:
    """Refuse a σ setting outside :data:`SIGMA_RANGE`, naming the key and the range."""
    lo, hi = SIGMA_RANGE
    if not lo <= value <= hi:
        raise ConfigError(
            f"{key}={value:g} is outside the range float32 represents, [{lo:.2g}, {hi:.2g}]; "
            "the networks compute in float32 (and σ of that size is far outside any useful schedule)"
        )


#: training objectives by name (the denoiser each needs: recipes/build.py:make_denoiser)
OBJECTIVES = {"denoising": PFGMLoss, "categorical": CategoricalLoss}


def parse_D(value: Any) -> float:
    """D from a config: a number ≥ 1, or inf / "inf" / "infinity" / null (= ∞, EDM)."""
    if value is None:
        return math.inf
    if isinstance(value, str) and value.strip().lower() in ("inf", "infinity", "+inf", ".inf"):
        return math.inf
    if isinstance(value, bool):
        raise ConfigError(f"augmented dimension D must be a number ≥ 1 or inf; got {value!r}")
    return check_D(value)


def format_D(D: float) -> str | float:
    """D as stored in configs: "inf" for ∞ (JSON has no infinity), else the number."""
    return "inf" if math.isinf(D) else D


@dataclass(frozen=True)
class PFGMConfig:
    """``D`` (∞ = EDM); σ range of sampling (and of the log-uniform training law); ``sigma_data``
    ("auto" until the trainer measures it); ``sigma_dist``: lognormal (P_mean, P_std; EDM) or
    loguniform; ``cond_drop_prob`` > 0 trains for classifier-free guidance; ``objective``: "denoising"
    (EDM's weighted squared error) or "categorical" (a softmax head trained by cross-entropy, for
    modalities whose data is one-hot on the last axis; see :class:`~pfgm_core.precond.CategoricalDenoiser`)."""

    D: float = math.inf
    sigma_min: float = 0.002
    sigma_max: float = 80.0
    sigma_data: float | str = "auto"
    sigma_dist: str = "lognormal"
    P_mean: float = -1.2
    P_std: float = 1.2
    cond_drop_prob: float = 0.0
    objective: str = "denoising"

    @classmethod
    def from_dict(cls, d: dict[str, Any] | None, where: str = "pfgm") -> "PFGMConfig":
        # null means "the default below": configs list every key (so they can be overridden) without repeating values
        d = {k: v for k, v in (d or {}).items() if v is not None or k == "D"}
        known = [f.name for f in fields(cls)]
        unknown = sorted(set(d) - set(known))
        if unknown:
            raise ConfigError(f"unknown key(s) {', '.join(f'{where}.{k}' for k in unknown)}; known: {', '.join(known)}")
        d["D"] = parse_D(d.get("D", math.inf))
        for k in ("sigma_min", "sigma_max", "P_mean", "P_std", "cond_drop_prob"):
            if k in d:
                d[k] = _number(d[k], f"{where}.{k}")
        sd = d.get("sigma_data", "auto")
        d["sigma_data"] = "auto" if sd in (None, "auto") else _number(sd, f"{where}.sigma_data")
        cfg = cls(**d)
        cfg.check(where)
        return cfg

    def check(self, where: str = "pfgm") -> None:
        if not 0 < self.sigma_min < self.sigma_max:
            raise ConfigError(f"{where}: need 0 < sigma_min < sigma_max, got {self.sigma_min}, {self.sigma_max}")
        for key in ("sigma_min", "sigma_max") + (("sigma_data",) if self.sigma_data != "auto" and self.sigma_data > 0 else ()):
            check_sigma(getattr(self, key), f"{where}.{key}")
        if self.sigma_dist not in ("lognormal", "loguniform"):
            raise ConfigError(f"{where}.sigma_dist must be 'lognormal' or 'loguniform', got {self.sigma_dist!r}")
        if self.P_std <= 0:
            raise ConfigError(f"{where}.P_std must be > 0, got {self.P_std}")
        if not isinstance(self.objective, str) or self.objective not in OBJECTIVES:  # a list would not even hash
            raise ConfigError(f"{where}.objective must be one of {', '.join(OBJECTIVES)}, got {self.objective!r}")
        if not 0 <= self.cond_drop_prob < 1:
            raise ConfigError(f"{where}.cond_drop_prob must lie in [0, 1), got {self.cond_drop_prob}")
        if self.sigma_data != "auto" and not self.sigma_data > 0:
            raise ConfigError(f"{where}.sigma_data must be > 0 or 'auto', got {self.sigma_data}")

    def to_dict(self) -> dict[str, Any]:
        """Plain types for checkpoints (D = ∞ as "inf")."""
        out = asdict(self)
        out["D"] = format_D(self.D)
        return out

    def kernel(self, D: float | None = None) -> PFGMKernel:
        """The perturbation kernel (training) and prior (sampling); ``D`` overrides this config's."""
        return PFGMKernel(self.D if D is None else D)

    def sigma_sampler(self) -> LogNormalSigma | LogUniformSigma:
        """The training σ law (EDM's lognormal, Table 1; or log-uniform on [σ_min, σ_max])."""
        if self.sigma_dist == "lognormal":
            return LogNormalSigma(self.P_mean, self.P_std)
        return LogUniformSigma(self.sigma_min, self.sigma_max)

    def loss(self) -> PFGMLoss:
        if self.sigma_data == "auto":
            raise ValueError("pfgm.sigma_data is still 'auto': measure it on the data first")
        return OBJECTIVES[self.objective](
            self.kernel(),
            sigma_data=float(self.sigma_data),
            cond_drop_prob=self.cond_drop_prob,
            sigma_sampler=self.sigma_sampler(),
        )


def _number(v: Any, where: str) -> float:
    if isinstance(v, bool):
        raise ConfigError(f"{where} must be a number, got {v!r}")
    try:
        return float(v)
    except (TypeError, ValueError):
        raise ConfigError(f"{where} must be a number, got {v!r}") from None
