"""pfgm-sample: a checkpoint → N seeded samples, written in the modality's formats.

    pfgm-sample checkpoint=runs/x num_samples=64 seed=0 out=samples/
    pfgm-sample checkpoint=runs/mols/ema.safetensors num_samples=1000 out=mols.smi sampler.steps=35
    pfgm-sample checkpoint=runs/x pfgm.D=inf sampler.solver=dpmpp_2m sampler.alpha=0.1
    pfgm-sample checkpoint=runs/mols num_samples=100 out=mols12.smi modality.num_nodes=12
    pfgm-sample checkpoint=runs/digits num_samples=64 out=sevens/ modality.label=7

``modality.<option>=`` is any sample-time option the checkpoint's modality declares
(``SAMPLE_OPTIONS``); no config file lists them and no ``+`` is needed.

Sample i depends only on seed + i (not on batch size... of other samples, nor on the world size),
so `torchrun --nproc_per_node=K -m pfgm.recipes.sample ...` writes the same files faster.
"""

from __future__ import annotations

import json
import math
import os
import re
import shutil
import sys
import warnings
from pathlib import Path
from typing import Any, Callable

from pfgm.modalities.base import Encoded
from pfgm.core.autoguidance import AutoGuided
from pfgm.core.config import PFGMConfig, parse_D
from pfgm.core.distributed import cleanup, init_distributed
from pfgm.core.generate import generate, generate_batches
from pfgm.core.snapping import ProjectedDenoiser

from .build import Checkpoint, generate_config, load_checkpoint, load_guide, plain, sigmas_for
from .cli import check_writable, job_path, multirun_job, run_hydra, sigterm_as_interrupt, user_errors
from .validate import check_sample
from pfgm.core.atomic import atomic_write_bytes, file_sha256, remove_stale_temps, temp_tag
from pfgm.core.errors import ConfigError

__all__ = [
    "generate_from_checkpoint",
    "load_for_sampling",
    "sample_loaded",
    "check_out",
    "write_samples",
    "stream_samples",
    "publish",
    "pfgm_wrote",
    "sample_D",
    "open_overrides",
    "main",
]

#: override prefixes whose keys the config files do not list (a modality's own sample-time options)
OPEN_GROUPS = ("modality",)


def open_overrides(argv: list[str], groups: tuple[str, ...] = OPEN_GROUPS) -> list[str]:
    """``modality.X=v`` → ``++modality.X=v``: Hydra then adds the key whatever it is, so a modality's
    sample-time options need no entry in sample.yaml/eval.yaml. Other arguments pass unchanged.

    A top-level ``D=v`` is a ConfigError naming ``pfgm.D=v`` (the prior's D is a key of the pfgm section)."""
    for a in argv:
        if a.lstrip("+").startswith("D="):
            raise ConfigError(f"D= is not a key: use pfgm.D={a.lstrip('+')[2:]}")
    pat = re.compile(rf"^({'|'.join(map(re.escape, groups))})\.[^=]+=")
    return [f"++{a}" if pat.match(a) else a for a in argv]


def sample_D(c: dict[str, Any], trained: Any) -> float:
    """The prior's D: ``pfgm.D`` if given, else the trained one.

    A network trained with finite D sampled at another D works (the sampling ODE is the same for
    every D; only the prior changes) and says so once.
    """
    given = (c.get("pfgm") or {}).get("D")
    D_trained = parse_D(trained)
    D = parse_D(given) if given is not None else D_trained
    if D != D_trained:
        fmt = lambda d: "inf" if math.isinf(d) else f"{d:g}"
        warnings.warn(
            f"sampling at D={fmt(D)} a network trained at D={fmt(D_trained)}: the prior changes, "
            "the denoiser was fitted to the other kernel",
            stacklevel=2,
        )
    return D


def load_for_sampling(c: dict[str, Any], dist) -> Checkpoint:
    """The checkpoint (unpacks as modality, EMA denoiser, stored config; ``.pfgm`` its parsed pfgm section),
    its modality with the sample-time options applied: nothing sampled yet."""
    ckpt = load_checkpoint(c["checkpoint"], dist.device)
    options = {k: v for k, v in (c.get("modality") or {}).items() if v is not None}
    if options:
        ckpt.modality.set_sample_options(**options)
    return ckpt


def _generation(
    c: dict[str, Any], dist, modality: Any, den: Any, config: dict[str, Any], pfgm: PFGMConfig | None = None
) -> tuple[tuple, dict, dict]:
    """(generate's positional arguments, its keyword arguments, info) for a plain sample/eval config.

    ``pfgm``: the checkpoint's pfgm section as :func:`load_checkpoint` parsed it (``Checkpoint.pfgm``);
    parsed from ``config`` for callers that hold only the dict."""
    pfgm = pfgm if pfgm is not None else PFGMConfig.from_dict(config["pfgm"], "checkpoint pfgm")
    D = sample_D(c, pfgm.D)
    kernel = pfgm.kernel(D)
    g = generate_config(config, c.get("sampler"), c["num_samples"], c["seed"], pfgm=pfgm)
    info: dict[str, Any] = dict(
        modality=modality.name, D=D, solver=g.solver, steps=g.steps, num_samples=g.num_samples, seed=g.seed
    )
    kw = dict(device=dist.device, rank=dist.rank, world=dist.world_size, progress=c.get("progress", True), info=info)
    if g.guide is not None:  # autoguidance first: the projections below act on the guided estimate
        if g.guide_weight == 1:
            warnings.warn(
                f"sampler.guide={g.guide} does nothing at sampler.guide_weight=1: the model samples alone and the guide is not loaded (w > 1 guides)",
                stacklevel=2,
            )
        else:
            guide, differs = load_guide(g.guide, config, modality, dist.device)
            den = AutoGuided(den, guide, g.guide_weight)
            info.update(guide=g.guide, guide_weight=g.guide_weight, guide_data_differs=differs)
    # denoiser-output projections in their σ bands (pfgm_core.snapping), each checked on a probe first:
    # a modality without one refuses here, before any sampling
    bands = [
        b
        for b in (
            ("snap_below", g.snap_below, modality.snap, 0.0, g.snap_below),
            (
                "connect_sigma",
                [g.connect_sigma_min, g.connect_sigma_max],
                modality.connect,
                g.connect_sigma_min,
                g.connect_sigma_max,
            ),
        )
        if b[-1] > 0
    ]
    if bands or g.particles > 1:  # one probe for every check made before sampling
        import torch

        probe = modality.blank(1, torch.Generator().manual_seed(0))
    for name, shown, fn, lo, hi in bands:
        fn(probe.x, probe.mask)
        den = ProjectedDenoiser(den, fn, lo, hi)
        info[name] = shown
    for hook in modality.sampler_hooks():  # the modality's own wrappers of the denoiser (Modality.sampler_hooks)
        den = hook(den)
        info.setdefault("sampler_hooks", []).append(getattr(hook, "__name__", type(hook).__name__))
    if g.particles > 1:  # steering by the modality's reward (pfgm_core.steering), checked on the probe first
        modality.reward(probe.x, probe.mask)
        kw["potential"] = modality.reward
        info.update(particles=g.particles, steer_lambda=g.steer_lambda)
    return (den, kernel, modality.blank, sigmas_for(g, dist.device), g), kw, info


def sample_loaded(
    c: dict[str, Any], dist, modality: Any, den: Any, config: dict[str, Any], pfgm: PFGMConfig | None = None
) -> tuple[Any, list[Any], dict[str, Any], Encoded]:
    """Every sample in memory (what pfgm-eval needs for its metrics); pfgm-sample streams instead.
    ``pfgm`` as in :func:`_generation`."""
    args, kw, info = _generation(c, dist, modality, den, config, pfgm)
    x, mask, cond = generate(*args, **kw)
    return modality, modality.decode_samples(x, mask, cond), info, Encoded(x, mask, cond)


def stream_samples(
    c: dict[str, Any], dist, modality: Any, den: Any, config: dict[str, Any], out: Path, pfgm: PFGMConfig | None = None
) -> tuple[list[Path], dict[str, Any]]:
    """Generate batch by batch and write each through the modality's sink as it comes (rank 0):
    memory holds one round of batches plus what the sink keeps, whatever num_samples is.
    -> (paths written, info with the invalid count). Other ranks generate their batches, write nothing.
    ``pfgm`` as in :func:`_generation`."""
    args, kw, info = _generation(c, dist, modality, den, config, pfgm)
    batches = generate_batches(*args, **kw)
    if not dist.is_main:
        for _ in batches:
            pass
        return [], info
    invalid = 0

    def produce(target: Path) -> list[Path]:
        nonlocal invalid
        sink = modality.open_sink(target)
        try:
            for _, x, mask, cond in batches:
                objects = modality.decode_samples(x, mask, cond)
                invalid += sum(o is None for o in objects)
                sink.add(objects)
        except BaseException:
            sink.abort()
            raise
        return sink.close()

    paths = publish(out, produce)
    info["invalid"] = invalid
    return paths, info


def generate_from_checkpoint(c: dict[str, Any], dist=None) -> tuple[Any, list[Any], dict[str, Any], Encoded]:
    """(modality, decoded objects, info, the generated tensors) for a plain sample/eval config."""
    dist = dist or init_distributed(c.get("device", "auto"))
    ckpt = load_for_sampling(c, dist)
    return sample_loaded(c, dist, *ckpt, pfgm=ckpt.pfgm)


# ------------------------------------------------------------------------------------------------
# Output: checked before sampling; a folder is written whole or not at all, and never mixes runs

#: the list of files a sample folder holds, written by pfgm-sample (a later run replaces exactly these)
MANIFEST = ".pfgm-samples.json"


def written_record(path: Path) -> Path:
    """The hidden record beside a sample file pfgm-sample wrote (``.mols.smi.pfgm``): its size and digest,
    so a later run knows the file is its own to replace, and a file the user wrote, or edited since, is not."""
    return path.with_name(f".{path.name}.pfgm")


def record_written(path: Path) -> None:
    """Record that pfgm-sample wrote ``path`` as it is now (see :func:`written_record`)."""
    if path.is_file():
        atomic_write_bytes(written_record(path), json.dumps({"size": path.stat().st_size, "sha256": file_sha256(path)}).encode())


def pfgm_wrote(path: Path) -> bool:
    """Whether ``path`` is a sample file pfgm-sample wrote and nobody changed since."""
    try:
        rec = json.loads(written_record(path).read_text())
        return rec.get("size") == path.stat().st_size and rec.get("sha256") == file_sha256(path)
    except (OSError, ValueError, AttributeError):
        return False


def _is_folder_out(out: Path) -> bool:
    return out.is_dir() or out.suffix == ""


def check_out(modality: Any, out: Path, overwrite: bool = False) -> None:
    """Refuse an output the modality cannot write, or that cannot be written, before any sampling.

    A modality may declare ``OUT_FORMATS``: the file extensions its ``write`` takes, with "" for a
    folder; without it only writability is checked here (the writer checks its own formats).
    A folder that holds files pfgm-sample did not write is refused: they would sit beside the new
    samples looking like part of them. So is an existing file it did not write (a user's seqs.fasta),
    unless ``overwrite``: replacing it is the user's decision, not a side effect of a typo.
    """
    out = Path(out).expanduser()
    formats = getattr(modality, "OUT_FORMATS", None)
    if formats is not None:
        ext = "" if _is_folder_out(out) else out.suffix.lower()
        if ext not in formats:
            shown = ", ".join("a folder" if f == "" else f for f in formats)
            raise ConfigError(f"out={out}: modality {modality.name!r} cannot write {ext or 'a folder'}; it writes {shown}")
    if out.exists() and not out.is_dir() and _is_folder_out(out):
        raise NotADirectoryError(f"out={out} is a file; give a folder or a file name with an extension")
    if out.is_file() and not overwrite and not pfgm_wrote(out):
        raise FileExistsError(
            f"out={out} exists and pfgm-sample did not write it (or it was changed since); "
            "pass overwrite=true to replace it, or give another name"
        )
    if out.is_dir():
        remove_stale_temps(out)  # a killed run's half-written manifest is not a foreign file
        listed = set(_manifest(out))
        foreign = sorted(p.name for p in out.iterdir() if p.name != MANIFEST and p.name not in listed)
        if foreign:
            raise FileExistsError(
                f"out={out} holds files pfgm-sample did not write (e.g. {foreign[0]}); "
                "give a new or empty folder so old files are not taken for new samples"
            )
    check_writable(out)


def _manifest(folder: Path) -> list[str]:
    try:
        names = json.loads((folder / MANIFEST).read_text()).get("files", [])
    except (OSError, ValueError, AttributeError):
        return []
    return [n for n in names if isinstance(n, str) and "/" not in n and n not in ("", ".", "..")]


def _remove(p: Path) -> None:
    if p.is_dir() and not p.is_symlink():
        shutil.rmtree(p)
    else:
        p.unlink(missing_ok=True)


def write_samples(modality: Any, objects: list[Any], out: Path) -> list[Path]:
    """``modality.write`` of all objects at once, with :func:`publish`'s whole-folder semantics."""
    return publish(out, lambda target: modality.write(objects, target))


def publish(out: Path, produce: Callable[[Path], list[Path]]) -> list[Path]:
    """Run ``produce(target)`` (which writes and returns paths) with whole-folder semantics: into a
    fresh hidden folder next to ``out``, then the previous run's files (those its manifest lists) are
    replaced by the new ones, so fewer samples than last time leave no stale files, and a failed
    write leaves the old folder as it was. A file target is written in place: its writer's atomic
    rename covers it."""
    out = Path(out).expanduser()
    # what a killed run into the same place left (its temp folder, a half-written file): removed first
    remove_stale_temps(out.parent if str(out.parent) else ".")
    if out.is_dir():
        remove_stale_temps(out)
    if not _is_folder_out(out):
        written = list(produce(out))
        record_written(out)
        return written
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.parent / f".pfgm-tmp-{temp_tag()}"  # no dot suffix: writers take it for a folder
    tmp.mkdir()
    try:
        written = [Path(p) for p in produce(tmp)]
        new = sorted(p.name for p in tmp.iterdir())
        if not out.exists():
            atomic_write_bytes(tmp / MANIFEST, json.dumps({"files": new}).encode())
            os.replace(tmp, out)
        else:
            old = _manifest(out)
            # list both first: a crash halfway leaves a manifest that still covers every file
            atomic_write_bytes(out / MANIFEST, json.dumps({"files": sorted(set(old) | set(new)), "complete": False}).encode())
            for name in set(old) - set(new):
                _remove(out / name)
            for name in new:
                if (out / name).is_dir():
                    _remove(out / name)  # a sub-folder is replaced whole
                os.replace(tmp / name, out / name)
            atomic_write_bytes(out / MANIFEST, json.dumps({"files": new}).encode())
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return [out / p.relative_to(tmp) if p.is_relative_to(tmp) else p for p in written]


def _hydra_main() -> None:
    import hydra

    @hydra.main(version_base="1.3", config_path="pkg://pfgm.configs", config_name="sample")
    def app(cfg) -> None:
        with user_errors("pfgm-sample"), sigterm_as_interrupt():  # SIGTERM like Ctrl-C: temp files removed
            c = plain(cfg)
            check_sample(c)
            dist = init_distributed(c.get("device", "auto"))
            out = Path(job_path(c["out"], multirun_job()))  # --multirun: every job its own output
            try:
                ckpt = load_for_sampling(c, dist)
                if dist.is_main:
                    check_out(ckpt.modality, out, bool(c.get("overwrite")))  # before the work, not after it
                paths, info = stream_samples(c, dist, *ckpt, out, pfgm=ckpt.pfgm)
            finally:
                cleanup()
            if dist.is_main:
                info.update(written=[str(p) for p in paths][:5], num_written_files=len(paths))
                print(json.dumps(info, default=str))

    run_hydra("pfgm-sample", app)


def main() -> None:
    with user_errors("pfgm-sample"):
        sys.argv[1:] = open_overrides(sys.argv[1:])
    _hydra_main()


if __name__ == "__main__":
    main()
