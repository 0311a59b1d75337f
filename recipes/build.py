"""Composition shared by the entry points: a plain config → modality, network, kernel, loss;
a checkpoint → a ready-to-sample EMA denoiser. No mathematics lives here.

Configs read back from checkpoints are data: the only classes they can name are registered
modalities (by name, or by a ``_target_`` on the allow-list of registered classes). Nothing else
in a config is ever imported or called.
"""

from __future__ import annotations

import re
import traceback
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from pfgm.modalities.base import Modality, ModalityUnavailable, build_modality, get_modality, modality_names
from pfgm.modalities.shared.onehot import ONEHOT_SHIFT
from pfgm.core.checkpoint import CheckpointError, load_state, resolve_checkpoint
from pfgm.core.config import PFGMConfig
from pfgm.core.errors import ConfigError, first_line
from pfgm.core.generate import SAMPLER_KEYS, GenerateConfig
from pfgm.core.precond import CategoricalDenoiser, Denoiser
from pfgm.core.schedule import karras_sigmas
from pfgm.core.weights import load_weights

#: options this version removed (experiments that measured no gain): a checkpoint trained before may still
#: carry one at its off value, which builds the same network, so it is dropped; any other value cannot load
RETIRED = {
    ("backbone", "helix_attention"): 0,  # sequences: helix attention
    ("backbone", "triangle"): False,  # graphs/molecules: TriangleUpdate, edge-to-edge messages
    ("modality", "hydrogens"): False,  # molecules: atom types carrying their H count
}

__all__ = [
    "RETIRED",
    "drop_retired",
    "plain",
    "check_targets",
    "check_objective",
    "make_modality",
    "make_denoiser",
    "Checkpoint",
    "load_checkpoint",
    "load_guide",
    "generate_config",
    "sigmas_for",
]


def plain(cfg: Any) -> Any:
    """An OmegaConf node → plain dict/list/scalars (resolved); plain data passes through.

    An interpolation that does not resolve (``seed='${oops}'``) is a :class:`ConfigError` naming the setting."""
    try:
        from omegaconf import DictConfig, ListConfig, OmegaConf
        from omegaconf.errors import OmegaConfBaseException
    except ImportError:  # pragma: no cover - hydra is a dependency
        return cfg
    if isinstance(cfg, (DictConfig, ListConfig)):
        try:
            return OmegaConf.to_container(cfg, resolve=True)
        except OmegaConfBaseException as e:
            key = getattr(e, "full_key", None)
            raise ConfigError(f"{key + ': ' if key else ''}cannot resolve the value: {first_line(str(e))}") from None
    return cfg


def _allowed_targets() -> dict[str, str]:
    out = {}
    for name in modality_names():
        try:
            cls = get_modality(name)
        except ModalityUnavailable:  # its optional dependencies are missing: nothing to allow
            continue
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
                    raise ConfigError(
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
        raise ConfigError("no modality configured: pass recipe=<name> (run pfgm-train alone to list recipes)")
    check_targets(opts, "modality")
    if "_target_" in opts:
        opts["name"] = _allowed_targets()[str(opts.pop("_target_"))]
    return build_modality(opts)


def check_objective(modality: Modality, objective: str) -> None:
    """``pfgm.objective=categorical`` only for data that is one-hot on its last axis (before any data is loaded)."""
    if objective == "categorical" and not modality.one_hot_classes:
        raise ConfigError(
            f"pfgm.objective=categorical needs data that is one-hot on its last axis; the {modality.name} "
            "modality's is not: use pfgm.objective=denoising"
        )


def make_denoiser(modality: Modality, backbone: dict[str, Any], sigma_data: float, objective: str = "denoising") -> Denoiser:
    """The modality's backbone built from the ``backbone:`` block, wrapped in EDM's preconditioning
    (``objective`` "denoising") or in the softmax head of the "categorical" objective.

    A key the backbone does not take is an error naming it (not a TypeError from deep inside).
    """
    check_objective(modality, objective)
    options = dict(backbone or {})
    try:
        net = modality.backbone(**options)
    except TypeError as e:
        m = re.search(r"unexpected keyword argument '(\w+)'", str(e))
        if m is None:
            raise
        raise ConfigError(
            f"backbone.{m.group(1)} is not an option of the {modality.name} backbone "
            f"(given: {', '.join(sorted(options)) or 'none'})"
        ) from None
    except ValueError as e:  # torch refusing a value it was handed (nn.Dropout(p=2)): the setting's fault
        if isinstance(e, ConfigError) or "torch" not in Path(traceback.extract_tb(e.__traceback__)[-1].filename).parts:
            raise
        given = ", ".join(f"{k}={v}" for k, v in sorted(options.items())) or "none"
        raise ConfigError(f"the {modality.name} backbone cannot be built from backbone: {given}: {first_line(str(e))}") from None
    if objective == "categorical":
        return CategoricalDenoiser(net, sigma_data=float(sigma_data), shift=ONEHOT_SHIFT)
    return Denoiser(net, sigma_data=float(sigma_data))


def drop_retired(config: dict[str, Any], path: str | Path) -> dict[str, Any]:
    """``config`` without the :data:`RETIRED` options it holds at their off value; one at another value is an error."""
    out = dict(config)
    for (section, key), off in RETIRED.items():
        block = out.get(section)
        if isinstance(block, dict) and key in block:
            if block[key] != off:
                raise CheckpointError(
                    path,
                    f"trained with {section}.{key}={block[key]!r}, an option this version of pfgm "
                    "removed; sample it with the version that trained it",
                )
            out[section] = {k: v for k, v in block.items() if k != key}
    return out


@dataclass(frozen=True)
class Checkpoint:
    """A loaded checkpoint: its modality, EMA denoiser, stored config, and that config's ``pfgm:`` section
    parsed once (it built the network; sampling takes the prior's kernel and the σ range from it).

    It unpacks as ``modality, denoiser, config``, the triple callers took before the parsed section
    travelled with it."""

    modality: Modality
    denoiser: Denoiser
    config: dict[str, Any]
    pfgm: PFGMConfig

    def __iter__(self):
        return iter((self.modality, self.denoiser, self.config))


def load_checkpoint(path: str | Path, device: torch.device | str = "cpu") -> Checkpoint:
    """A run dir, an EMA ``.safetensors`` export, a ``.pt`` training state or ``zoo:NAME`` (a shipped
    checkpoint, see :mod:`pfgm_zoo`) → :class:`Checkpoint` (modality, EMA denoiser, config, parsed pfgm).

    Loading never executes code from the file (safetensors / ``torch.load(weights_only=True)``), and
    the config inside may only name registered modalities.
    """
    from pfgm import zoo as pfgm_zoo

    p = pfgm_zoo.resolve(str(path)) if pfgm_zoo.is_zoo(str(path)) else resolve_checkpoint(path)
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
    config = drop_retired(config, p)
    if pfgm_zoo.is_zoo(str(path)):  # the entry's sampler_overrides: layer 2 of generate_config's order
        extra = {k: v for k, v in pfgm_zoo.sampler_overrides(str(path)).items() if v is not None}  # null: not set here
        config = {**config, "sampler": {**(config.get("sampler") or {}), **extra}} if extra else config
    check_targets(config, "checkpoint config")
    modality = make_modality(config["modality"])
    pfgm = PFGMConfig.from_dict(config["pfgm"], "checkpoint pfgm")
    den = make_denoiser(modality, config["backbone"], float(pfgm.sigma_data), pfgm.objective)
    try:
        den.load_state_dict(weights)
    except RuntimeError as e:
        raise CheckpointError(p, f"weights do not fit the network its config builds: {str(e).splitlines()[0]}") from None
    return Checkpoint(modality, den.to(device).eval(), config, pfgm)


def load_guide(
    path: str, config: dict[str, Any], modality: Modality, device: torch.device | str = "cpu"
) -> tuple[Denoiser, list[str]]:
    """(the EMA denoiser of ``sampler.guide``, the ``modality`` keys in which it differs from the model).

    Autoguidance (:mod:`pfgm_core.autoguidance`) subtracts the guide's estimate from the model's, so the
    two must live in one space: the same modality and the same encoded shape, else an error before
    sampling. Within that, the guide may have been trained on other data: an earlier or smaller run of
    the same recipe (Karras et al.), or a deliberately weaker data set such as an RNA family's
    positive-design null (``modality.source=rna_family_null``); the keys that differ are returned so
    the run's info shows them. The backbone, the steps and D may differ too."""
    g_modality, guide, g_config = load_checkpoint(path, device)
    mine, theirs = config["modality"], g_config["modality"]
    probe = lambda m: tuple(m.blank(1, torch.Generator().manual_seed(0)).x.shape)  # noqa: E731
    if g_modality.name != modality.name or probe(g_modality) != probe(modality):
        raise ConfigError(
            f"sampler.guide={path} does not encode data as the model does (modality {g_modality.name!r}, "
            f"sample shape {probe(g_modality)} vs the model's {modality.name!r}, {probe(modality)}); "
            "a guide must be a run of the same modality and encoding"
        )
    differs = sorted(k for k in set(mine) | set(theirs) if mine.get(k) != theirs.get(k))
    return guide, differs


def generate_config(
    config: dict[str, Any], overrides: dict[str, Any] | None, num_samples: int, seed: int, pfgm: PFGMConfig | None = None
) -> GenerateConfig:
    """The sampler settings of one run. Each key takes its value from the first of these layers that
    sets it; a null sets nothing, in every layer:

    1. ``overrides``: the user's (``sampler.X=`` of pfgm-sample and pfgm-eval, ``Model.sample(X=...)``);
    2. for ``zoo:NAME``, the entry's ``sampler_overrides`` (pfgm_zoo/manifest.json: the settings its
       metrics were measured with), laid over ``config["sampler"]`` by :func:`load_checkpoint`;
    3. ``config["sampler"]``: the run's sampler section as it was trained (the ``sampler=`` group, then
       the recipe, then the training command line);
    4. the run's ``pfgm:`` σ range, for ``sigma_min`` and ``sigma_max`` only (``pfgm``: that section as
       the caller parsed it; parsed here from ``config["pfgm"]`` when not given);
    5. :class:`GenerateConfig`'s defaults.

    An unknown key in 1-3 is an error naming it and the known ones; GenerateConfig checks the values.
    """
    known = set(SAMPLER_KEYS)
    stored = {k: v for k, v in (config.get("sampler") or {}).items() if v is not None}  # layers 2 and 3
    given = {k: v for k, v in (overrides or {}).items() if v is not None}  # layer 1
    bad = sorted(set(stored) - known) + sorted(set(given) - known)
    if bad:
        raise ConfigError(f"unknown sampler key(s) {', '.join('sampler.' + k for k in bad)}; known: {', '.join(sorted(known))}")
    pf = pfgm if pfgm is not None else PFGMConfig.from_dict(config.get("pfgm"), "pfgm")
    s = {"sigma_min": pf.sigma_min, "sigma_max": pf.sigma_max}  # layer 4 (GenerateConfig fills in layer 5)
    s.update(stored)
    s.update(given)
    return GenerateConfig(num_samples=int(num_samples), seed=int(seed), **s)


def sigmas_for(g: GenerateConfig, device: torch.device | str = "cpu") -> torch.Tensor:
    return karras_sigmas(int(g.steps), float(g.sigma_min), float(g.sigma_max), float(g.rho), device=device)
