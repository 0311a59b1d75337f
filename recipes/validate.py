"""One check of a whole resolved config before any work: every section, every key, every value.

Each entry point (train, sample, eval, bench) calls its ``check_*`` once, first, so a typo or a bad value
(``trainer.batch_size=0``, ``lr=abc``, ``bf16=maybe``, ``+pfgm.DD=3``, ``+sampler.stepz=3``, an empty
``run_dir=``) is a ValueError naming the key, the value and what was expected, raised before any
data is read, any network built or any file written. Sections a modality owns (``modality:``,
``backbone:``) are checked by the modality itself when it is built, still before training.

Each rule lives once, with what holds the key: the values of ``pfgm:``, ``trainer:`` and ``sampler:``
are checked by the dataclasses that hold them (PFGMConfig, TrainerConfig, GenerateConfig), which this
module builds; it keeps the top-level keys, the unknown-key checks and the rules across sections.
"""

from __future__ import annotations

import dataclasses
import math
import os
from typing import Any

from pfgm.core.config import PFGMConfig, parse_D
from pfgm.core.errors import ConfigError
from pfgm.core.trainer import TrainerConfig

__all__ = [
    "TrainSettings",
    "parse_train",
    "check_train",
    "check_sample",
    "check_eval",
    "check_bench",
    "resume_mode",
    "RESUME_MODES",
]

#: resume=false: refuse a run dir that has a checkpoint; true: continue it (an error if there is none);
#: auto: continue if there is one, else start; force: continue even if the model/objective changed;
#: state: resume=<checkpoints/state-*.pt> goes back to that state (newer ones are moved aside, not deleted)
RESUME_MODES = ("never", "require", "auto", "force", "state")

_COMMON = {"description", "group", "modality", "backbone", "pfgm", "sampler", "trainer", "preview_samples", "recipe_name"}
TRAIN_KEYS = _COMMON | {"run_dir", "resume", "init_from"}
BENCH_KEYS = _COMMON | {"Ds", "num_samples", "seed", "run_root", "out", "resume", "run_dir"}
#: pfgm-eval likelihood=true: held-out bits/dim (recipes/likelihood.py)
LIKELIHOOD_KEYS = {"likelihood", "likelihood_samples", "likelihood_steps", "likelihood_exact"}
#: pfgm-eval's image-metric choices (forwarded to the images modality: modalities/images/fid.py)
IMAGE_METRIC_KEYS = {"metrics", "fid_features"}
SAMPLE_KEYS = {"checkpoint", "num_samples", "seed", "out", "device", "pfgm", "modality", "sampler", "progress"}


def resume_mode(value: Any) -> str:
    """``resume=`` → one of RESUME_MODES."""
    if value is None or value is False or (isinstance(value, str) and value.strip().lower() in ("false", "no", "0", "")):
        return "never"
    if value is True or (isinstance(value, str) and value.strip().lower() in ("true", "yes", "1")):
        return "require"
    if isinstance(value, str) and value.strip().lower() in ("auto", "force"):
        return value.strip().lower()
    if isinstance(value, str) and value.strip().endswith(".pt"):
        return "state"
    raise ConfigError(
        f"resume must be true, false, auto (resume if a checkpoint exists), force "
        f"(resume even though the model or objective changed) or a state file of the run dir "
        f"(checkpoints/state-*.pt: go back to it), got {value!r}"
    )


def _keys(c: dict[str, Any], known: set[str], where: str) -> None:
    unknown = sorted(set(c) - known)
    if unknown:
        raise ConfigError(f"unknown {where} key(s) {', '.join(unknown)}; known: {', '.join(sorted(known))}")


def _section(c: dict[str, Any], key: str) -> dict[str, Any]:
    v = c.get(key)
    if v is None:
        return {}
    if not isinstance(v, dict):
        raise ConfigError(f"{key} must be a section of key: value pairs, got {v!r}")
    return v


#: seeds are 64-bit generator seeds; sample i draws with seed + i, so the top half of the range is left for i
SEED_MAX = 2**63 - 1


def _int(v: Any, key: str, lo: int, hi: int | None = None) -> int:
    if (
        isinstance(v, bool)
        or not isinstance(v, (int, float))
        or (isinstance(v, float) and not (math.isfinite(v) and v == int(v)))
    ):
        raise ConfigError(f"{key} must be a whole number ≥ {lo}, got {v!r}")
    if int(v) < lo:
        raise ConfigError(f"{key} must be a whole number ≥ {lo}, got {v!r}")
    if hi is not None and int(v) > hi:
        raise ConfigError(
            f"{key} must be a whole number in [{lo}, {hi}] (2**63 - 1: a 64-bit generator seed), got {v!r}"
            if hi == SEED_MAX
            else f"{key} must be a whole number in [{lo}, {hi}], got {v!r}"
        )
    return int(v)


def _path(v: Any, key: str, what: str) -> str:
    if isinstance(v, os.PathLike):
        v = os.fspath(v)
    if not isinstance(v, str) or not v.strip() or v == "???":
        raise ConfigError(f"{key} must name {what}, got {v!r}" + (" (empty: is a variable unset?)" if v in ("", None) else ""))
    return v


def _modality(c: dict[str, Any]) -> None:
    m = _section(c, "modality")
    if m and "name" not in m and "_target_" not in m:
        raise ConfigError("modality needs a 'name' naming a registered modality")


def _trained(c: dict[str, Any]) -> tuple[PFGMConfig, TrainerConfig]:
    from .build import generate_config

    _section(c, "backbone")
    _modality(c)
    pfgm = PFGMConfig.from_dict(_section(c, "pfgm"))
    generate_config({"sampler": _section(c, "sampler")}, None, 1, 0, pfgm=pfgm)  # unknown keys; GenerateConfig the values
    trainer = TrainerConfig.from_dict(_section(c, "trainer"))
    if "preview_samples" in c:
        _int(c["preview_samples"], "preview_samples", 0)
    return pfgm, trainer


@dataclasses.dataclass(frozen=True)
class TrainSettings:
    """A checked pfgm-train config's typed parts: the resume mode and the ``pfgm:`` and ``trainer:``
    sections, each parsed once; training builds the kernel, the loss and the prior from ``pfgm``."""

    mode: str
    pfgm: PFGMConfig
    trainer: TrainerConfig


def parse_train(c: dict[str, Any]) -> TrainSettings:
    """Check a pfgm-train config and return its typed parts (:func:`check_train` when only the verdict matters)."""
    _keys(c, TRAIN_KEYS, "top-level")
    _path(c.get("run_dir"), "run_dir", "the run directory to write")
    mode = resume_mode(c.get("resume", False))
    if c.get("init_from") is not None and (not isinstance(c["init_from"], str) or not c["init_from"].strip()):
        raise ConfigError(
            f"init_from must be a checkpoint to fine-tune from (a run dir, a .safetensors or .pt file, or "
            f"zoo:NAME), got {c['init_from']!r}"
        )
    pfgm, trainer = _trained(c)
    return TrainSettings(mode, pfgm, trainer)


def check_train(c: dict[str, Any]) -> str:
    """Check a pfgm-train config; returns the resume mode."""
    return parse_train(c).mode


def check_bench(c: dict[str, Any]) -> str:
    """Check a pfgm-bench config; returns the resume mode of its runs (true means auto: continue or start)."""
    _keys(c, BENCH_KEYS, "top-level")
    Ds = c.get("Ds")
    if not isinstance(Ds, list) or not Ds:
        raise ConfigError(f"Ds must be a non-empty list such as [128,inf], got {Ds!r}")
    for i, D in enumerate(Ds):
        try:
            parse_D(D)
        except ValueError as e:
            raise ConfigError(f"Ds[{i}]: {e}") from None
    _int(c.get("num_samples"), "num_samples", 1)
    _int(c.get("seed", 0), "seed", 0, SEED_MAX)
    _path(c.get("run_root"), "run_root", "the folder the benchmark's runs go in")
    if c.get("out") is not None:
        _path(c["out"], "out", "a file for the JSON results")
    mode = resume_mode(c.get("resume", True))
    _trained(c)
    return "auto" if mode == "require" else mode


def check_sample(c: dict[str, Any], *, eval_: bool = False) -> None:
    """Check a pfgm-sample / pfgm-eval config (what the checkpoint holds is checked when it is loaded)."""
    _keys(c, SAMPLE_KEYS | LIKELIHOOD_KEYS | IMAGE_METRIC_KEYS if eval_ else SAMPLE_KEYS | {"overwrite"}, "top-level")
    _path(c.get("checkpoint"), "checkpoint", "a run directory, .safetensors or .pt file")
    _int(c.get("num_samples"), "num_samples", 1)
    _int(c.get("seed", 0), "seed", 0, SEED_MAX)
    if eval_:
        if c.get("out") not in (None, ""):
            _path(c["out"], "out", "a file for the metrics")
    else:
        _path(c.get("out"), "out", "a folder or file to write the samples to")
    for key in ("progress", "overwrite"):
        if c.get(key) is not None and not isinstance(c[key], bool):
            raise ConfigError(f"{key} must be true or false, got {c[key]!r}")
    pf = _section(c, "pfgm")
    _keys(pf, {"D"}, "pfgm (at sample time only D may be given)")
    if pf.get("D") is not None:
        parse_D(pf["D"])
    s = _section(c, "sampler")
    if s:  # names, types and ranges, against the default σ range (the checkpoint's is checked again at load)
        from .build import generate_config

        generate_config({}, s, 1, 0, pfgm=PFGMConfig())
    _section(c, "modality")


def check_eval(c: dict[str, Any]) -> None:
    check_sample(c, eval_=True)
    if c.get("likelihood") is not None and not isinstance(c["likelihood"], bool):
        raise ConfigError(f"likelihood must be true or false, got {c['likelihood']!r}")
    from .likelihood import LikelihoodOptions

    LikelihoodOptions.from_config(c)


# ------------------------------------------------------------------------------------------------
# A resumed or reused run against the config it was trained with

#: sections whose every change alters the network or what it is trained to fit
MODEL_SECTIONS = ("modality", "backbone", "pfgm")
#: trainer keys that only say how long, where and how loudly to run
FREE_TRAINER_KEYS = {
    "max_steps",
    "stop_after",
    "log_every",
    "ckpt_every",
    "keep_last",
    "preview_every",
    "progress",
    "device",
    "num_workers",
}
_PFGM_DEFAULTS = {f.name: f.default for f in dataclasses.fields(PFGMConfig)}
_FREE_TOP = {"run_dir", "resume", "init_from", "description", "group", "preview_samples", "hydra"}


def _flat(d: Any, prefix: str) -> dict[str, Any]:
    if isinstance(d, dict):
        out: dict[str, Any] = {}
        for k, v in d.items():
            out.update(_flat(v, f"{prefix}.{k}" if prefix else str(k)))
        return out or {prefix: {}}
    return {prefix: d}


def _same(key: str, a: Any, b: Any) -> bool:
    if a == b:
        return True
    top, _, name = key.partition(".")
    if top == "pfgm" and "<unset>" in (a, b) and name in _PFGM_DEFAULTS:
        # a run from before a pfgm key existed was trained with that key's default
        a, b = (_PFGM_DEFAULTS[name] if v == "<unset>" else v for v in (a, b))
        if a == b:
            return True
    if key == "pfgm.D":  # 128 vs 128.0, "inf" vs inf
        try:
            return parse_D(a) == parse_D(b)
        except ValueError:
            return False
    return False


def _show(v: Any) -> str:
    return str(int(v)) if isinstance(v, float) and v.is_integer() else str(v)


def config_changes(old: dict[str, Any], new: dict[str, Any]) -> tuple[list[str], list[str]]:
    """(refused, noted): ``key: old -> new`` for changes that alter the model or the objective, and for
    other changes worth a notice (optimiser settings, sampler); bookkeeping keys change freely."""
    refused, noted = [], []
    a, b = _flat(old, ""), _flat(new, "")
    for key in sorted(set(a) | set(b)):
        va, vb = a.get(key, "<unset>"), b.get(key, "<unset>")
        if _same(key, va, vb):
            continue
        top, _, rest = key.partition(".")
        if top in _FREE_TOP or (top == "trainer" and rest in FREE_TRAINER_KEYS):
            continue
        if top == "recipe_name" and "<unset>" in (va, vb):
            continue  # runs from before the recipe was recorded
        line = f"{key}: {_show(va)} -> {_show(vb)}"
        (refused if top in MODEL_SECTIONS or top == "recipe_name" else noted).append(line)
    return refused, noted


def check_compatible(old: dict[str, Any], new: dict[str, Any], source: str, mode: str) -> list[str]:
    """Refuse (ValueError naming the fields) to continue ``source``'s run under a config that changes the
    model or the objective, unless ``mode`` is "force". Returns the notices to print."""
    refused, noted = config_changes(old, new)
    if refused and mode != "force":
        raise ConfigError(
            f"{source} was trained with another model or objective: {'; '.join(refused)}. "
            "Use a new run_dir, undo the change, or pass resume=force to continue anyway"
        )
    return (["resume=force: continuing despite " + "; ".join(refused)] if refused else []) + (
        ["changed on resume: " + "; ".join(noted)] if noted else []
    )
