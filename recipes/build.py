"""Composition shared by the entry points: a plain config → modality, network, kernel, loss;
a checkpoint → a ready-to-sample EMA denoiser. No mathematics lives here.

Configs read back from checkpoints are data: the only classes they can name are registered
modalities (by name, or by a ``_target_`` on the allow-list of registered classes). Nothing else
in a config is ever imported or called.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import torch

from modalities.base import Modality, build_modality, get_modality, modality_names
from pfgm_core.checkpoint import CheckpointError, load_state, load_weights, resolve_checkpoint
from pfgm_core.generate import GenerateConfig
from pfgm_core.kernel import PFGMKernel, check_D
from pfgm_core.loss import PFGMLoss
from pfgm_core.precond import Denoiser
from pfgm_core.schedule import build_sigma_sampler, karras_sigmas

__all__ = [
    "plain", "parse_D", "check_targets", "make_modality", "make_denoiser", "make_kernel", "make_loss",
    "load_checkpoint", "generate_config", "sigmas_for",
]


def plain(cfg: Any) -> Any:
    """An OmegaConf node → plain dict/list/scalars (resolved); plain data passes through."""
    try:
        from omegaconf import DictConfig, ListConfig, OmegaConf
    except ImportError:  # pragma: no cover - hydra is a dependency
        return cfg
    if isinstance(cfg, (DictConfig, ListConfig)):
        return OmegaConf.to_container(cfg, resolve=True)
    return cfg


def parse_D(value: Any) -> float:
    """D from a config: a number ≥ 1, or inf / "inf" / "infinity" / null (= ∞, EDM)."""
    if value is None:
        return math.inf
    if isinstance(value, str) and value.strip().lower() in ("inf", "infinity", "+inf", ".inf"):
        return math.inf
    return check_D(value)


def _allowed_targets() -> dict[str, str]:
    out = {}
    for name in modality_names():
        cls = get_modality(name)
        out[f"{cls.__module__}.{cls.__qualname__}"] = name
        out[name] = name
    return out


def check_targets(cfg: Any, where: str = "config") -> None:
    """Refuse any ``_target_`` that is not a registered modality class (e.g. ``os.system``)."""
    if isinstance(cfg, dict):
        for k, v in cfg.items():
            if k == "_target_":
                allowed = _allowed_targets()
                if str(v) not in allowed:
                    raise ValueError(
                        f"{where}._target_={v!r} is not allowed; only registered modalities can be named: "
                        f"{', '.join(sorted(n for n in allowed if '.' not in n))}"
                    )
            else:
                check_targets(v, f"{where}.{k}")
    elif isinstance(cfg, list):
        for i, v in enumerate(cfg):
            check_targets(v, f"{where}[{i}]")


def make_modality(options: dict[str, Any]) -> Modality:
    """``{name: <registered>, ...}`` or ``{_target_: <registered class path>, ...}`` → Modality."""
    opts = dict(options or {})
    if not opts:
        raise ValueError("no modality configured: pass recipe=<name> (run pfgm-train alone to list recipes)")
    check_targets(opts, "modality")
    if "_target_" in opts:
        opts["name"] = _allowed_targets()[str(opts.pop("_target_"))]
    return build_modality(opts)


def make_kernel(pfgm: dict[str, Any]) -> PFGMKernel:
    return PFGMKernel(parse_D(pfgm.get("D")))


def make_denoiser(modality: Modality, backbone: dict[str, Any], sigma_data: float) -> Denoiser:
    return Denoiser(modality.backbone(**dict(backbone or {})), sigma_data=float(sigma_data))


def make_loss(pfgm: dict[str, Any], kernel: PFGMKernel, sigma_data: float) -> PFGMLoss:
    kind = pfgm.get("sigma_dist", "lognormal")
    sampler = build_sigma_sampler(
        kind,
        **({"P_mean": pfgm.get("P_mean", -1.2), "P_std": pfgm.get("P_std", 1.2)} if kind == "lognormal"
           else {"sigma_min": pfgm.get("sigma_min", 0.002), "sigma_max": pfgm.get("sigma_max", 80.0)}),
    )
    return PFGMLoss(kernel, sigma_data=float(sigma_data), cond_drop_prob=float(pfgm.get("cond_drop_prob", 0.0)),
                    sigma_sampler=sampler)


def load_checkpoint(path: str | Path, device: torch.device | str = "cpu") -> tuple[Modality, Denoiser, dict[str, Any]]:
    """A run dir, an EMA ``.safetensors`` export or a ``.pt`` training state → (modality, EMA denoiser, config).

    Loading never executes code from the file (safetensors / ``torch.load(weights_only=True)``), and
    the config inside may only name registered modalities.
    """
    p = resolve_checkpoint(path)
    if p.suffix == ".safetensors":
        weights, config, _meta = load_weights(p)
    else:
        state = load_state(p)
        config = state.get("config")
        ema = state.get("ema")
        weights = ema.get("model") if isinstance(ema, dict) else None
        if not isinstance(config, dict) or not isinstance(weights, dict):
            raise CheckpointError(p, "training state has no EMA weights or config; not a pfgm checkpoint")
    for key in ("modality", "backbone", "pfgm"):
        if not isinstance(config.get(key), dict):
            raise CheckpointError(p, f"its config has no '{key}' section; not a pfgm checkpoint")
    check_targets(config, "checkpoint config")
    modality = make_modality(config["modality"])
    den = make_denoiser(modality, config["backbone"], config["pfgm"]["sigma_data"])
    try:
        den.load_state_dict(weights)
    except RuntimeError as e:
        raise CheckpointError(p, f"weights do not fit the network its config builds: {str(e).splitlines()[0]}") from None
    return modality, den.to(device).eval(), config


def generate_config(config: dict[str, Any], overrides: dict[str, Any] | None, num_samples: int, seed: int) -> GenerateConfig:
    """Sampler settings: the checkpoint's sampler/pfgm sections, then the user's overrides."""
    s = dict(config.get("sampler") or {})
    s.update({k: v for k, v in (overrides or {}).items() if v is not None})
    pf = config.get("pfgm", {})
    known = set(GenerateConfig.__dataclass_fields__)
    bad = sorted(set(s) - known - {"sigma_min", "sigma_max"})
    if bad:
        raise ValueError(f"unknown sampler option(s) {bad}; known: {sorted(known - {'num_samples', 'seed'})}")
    s.setdefault("sigma_min", pf.get("sigma_min", 0.002))
    s.setdefault("sigma_max", pf.get("sigma_max", 80.0))
    return GenerateConfig(num_samples=int(num_samples), seed=int(seed), **{k: s[k] for k in s if k in known})


def sigmas_for(g: GenerateConfig, device: torch.device | str = "cpu") -> torch.Tensor:
    return karras_sigmas(int(g.steps), float(g.sigma_min), float(g.sigma_max), float(g.rho), device=device)
