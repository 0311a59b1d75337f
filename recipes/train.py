"""pfgm-train: train PFGM++ on any registered modality from one recipe.

    pfgm-train recipe=digits run_dir=runs/digits                      # the default recipe
    pfgm-train recipe=digits pfgm.D=inf trainer.max_steps=2000 run_dir=runs/edm
    pfgm-train recipe=digits run_dir=runs/digits resume=true          # continue where it stopped
    pfgm-train recipe=cdr3 run_dir=runs/mine init_from=zoo:cdr3 modality.source=file +modality.path=my.fasta
    pfgm-train                                                        # list the recipes

Several processes (DDP; gloo on CPU, nccl on GPU), one node or many:

    torchrun --standalone --nproc_per_node=4 -m pfgm.recipes.train recipe=digits trainer=ddp run_dir=runs/x
    torchrun --nnodes=2 --nproc_per_node=8 --node_rank=$RANK --rdzv_backend=c10d \\
        --rdzv_endpoint=$HOST:29500 --rdzv_id=job1 -m pfgm.recipes.train recipe=digits trainer=ddp run_dir=runs/x
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import shutil
import sys
from pathlib import Path
from typing import Any

import torch

from pfgm.modalities.base import Modality
from pfgm.core.atomic import TMP_SUFFIX, atomic_write_bytes, remove_stale_temps
from pfgm.core.checkpoint import CHECKPOINT_DIR, latest_state_path, load_latest_state
from pfgm.core.config import PFGMConfig
from pfgm.core.distributed import DistInfo, broadcast_object, cleanup, init_distributed
from pfgm.core.errors import ConfigError
from pfgm.core.generate import generate
from pfgm.core.precond import estimate_sigma_data
from pfgm.core.run_lock import LOCK_NAME, RunLock
from pfgm.core.trainer import Trainer, TrainerConfig

from pfgm.core.progress import METRICS_NAME, PLOT_NAME
from pfgm.core.weights import EMA_WEIGHTS_NAME, tensors_digest

from .build import check_objective, drop_retired, generate_config, load_checkpoint, make_denoiser, make_modality, sigmas_for
from .cli import apply_group_choices, multirun_job, print_catalogue, run_hydra, user_errors
from .validate import TrainSettings, check_compatible, config_changes, parse_train

__all__ = ["run_training", "check_run_dir", "RUN_DIR_NAMES", "main"]


def _estimate_sigma_data(dataset: Any, limit: int = 4096) -> float:
    n = min(len(dataset), limit)
    idx = torch.arange(n)
    batch = dataset.take(idx) if hasattr(dataset, "take") else None
    if batch is None:
        items = [dataset.item(i, i) if hasattr(dataset, "item") else dataset[i] for i in range(n)]
        x = torch.stack([it.x for it in items])
        mask = None if items[0].mask is None else torch.stack([it.mask for it in items])
    else:
        x, mask = batch.x, batch.mask
    return estimate_sigma_data(x, mask)


def _preview_fn(modality: Modality, pfgm: PFGMConfig, kernel, cfg: dict[str, Any], run_dir: Path, device):
    def preview(step: int, ema_model: torch.nn.Module) -> None:
        g = generate_config(cfg, None, cfg.get("preview_samples", 64), seed=0, pfgm=pfgm)
        was = ema_model.training
        ema_model.eval()
        x, mask, cond = generate(ema_model, kernel, modality.blank, sigmas_for(g, device), g, device=device, progress=False)
        ema_model.train(was)
        modality.write(modality.decode_samples(x, mask, cond), run_dir / "previews" / f"step-{step:07d}")

    return preview


def run_training(cfg: dict[str, Any], dist: DistInfo | None = None, settings: TrainSettings | None = None) -> dict[str, Any]:
    """Train from a plain config (the composed train.yaml). Returns a summary dict.

    The whole config is checked first (recipes/validate.py), unless ``settings`` is given: what
    :func:`~recipes.validate.parse_train` returned for this ``cfg`` (pfgm-train checks before it sets up the
    processes), so the config is checked and its ``pfgm:`` and ``trainer:`` sections parsed once per run.
    ``cfg["run_dir"]`` must be set (rank 0's choice wins under torchrun) and is held by a lock file while
    training. ``resume``: false (a run dir with a checkpoint is refused), true (continue; an error if there
    is no checkpoint), auto (continue if there is one), force (continue even though the model or objective changed).
    """
    settings = settings or parse_train(cfg)
    mode, tcfg, pfgm = settings.mode, settings.trainer, settings.pfgm
    dist = dist or init_distributed(tcfg.device)
    run_dir = Path(broadcast_object(str(cfg["run_dir"]) if dist.is_main else None))
    if dist.is_main:
        check_run_dir(run_dir)  # before the lock: a refused folder gets nothing of ours written into it
    created = not run_dir.exists()
    with contextlib.ExitStack() as stack:
        if dist.is_main:
            stack.callback(_remove_if_empty, run_dir, created)  # runs after the lock is released (LIFO)
            stack.enter_context(RunLock(run_dir))
            for folder in (run_dir, run_dir / CHECKPOINT_DIR):  # the temp files a killed run left
                remove_stale_temps(folder)
            has_state = latest_state_path(run_dir) is not None
            if has_state and mode == "never":
                raise FileExistsError(
                    f"run_dir {run_dir} already holds a training run; pass resume=true to continue it or choose a new run_dir"
                )
            if mode == "state":
                rewind(run_dir, str(cfg["resume"]))
            if not has_state and mode == "require":
                raise FileNotFoundError(
                    f"resume=true but run_dir {run_dir} holds no checkpoint ({CHECKPOINT_DIR}/state-*.pt); "
                    "check the path, or pass resume=auto to start fresh when there is none"
                )
        if mode == "state":
            mode = "require"
            broadcast_object(None)  # a barrier: the other ranks read the states after rank 0 has moved them
        return _train(cfg, dist, run_dir, tcfg, pfgm, mode)


#: what a run dir holds when only pfgm wrote to it: pfgm-train's files (the trainer's config, states, EMA
#: export, metrics and their plot, previews, TensorBoard logs, the lock), pfgm-eval's default report and
#: Hydra's own .hydra/ when a user turns it on. Anything else is the user's.
RUN_DIR_NAMES = frozenset(
    {"config.json", CHECKPOINT_DIR, EMA_WEIGHTS_NAME, METRICS_NAME, PLOT_NAME, "previews", "tb", LOCK_NAME, "eval.json", ".hydra"}
)
#: the same for names that vary: temp files of an interrupted atomic write or lock, quantized exports (pfgm-bench sweep)
RUN_DIR_PATTERNS = (f".*{TMP_SUFFIX}", f"{LOCK_NAME}.*", "ema-*bit.safetensors")


def check_run_dir(run_dir: Path) -> None:
    """Refuse a run dir that is a file, or a folder holding files pfgm did not write (``run_dir=.`` in a
    project folder, a folder of the user's data): training would write config.json and the rest among
    them, overwriting the user's own, and a later resume would take the folder for a run. A folder
    pfgm-sample wrote (it carries its manifest) may sit inside: samples of this run kept beside it."""
    from .sample import MANIFEST

    if run_dir.exists() and not run_dir.is_dir():
        raise NotADirectoryError(
            f"run_dir={run_dir} is a file, not a folder; give a folder for the run "
            "(a new one, or one an earlier pfgm-train wrote)"
        )
    if not run_dir.is_dir():
        above = next((p for p in run_dir.parents if p.exists()), None)
        if above is not None and not above.is_dir():  # run_dir=notes.txt/run
            raise NotADirectoryError(f"run_dir={run_dir}: {above} is a file, not a folder; give a folder for the run")
        return
    foreign = sorted(
        p.name
        for p in run_dir.iterdir()
        if p.name not in RUN_DIR_NAMES
        and not any(p.match(pat) for pat in RUN_DIR_PATTERNS)
        and not (p.is_dir() and (p / MANIFEST).is_file())
    )
    if foreign:
        shown = ", ".join(foreign[:3]) + (f" and {len(foreign) - 3} more" if len(foreign) > 3 else "")
        raise FileExistsError(
            f"run_dir={run_dir} holds files pfgm-train did not write ({shown}); training would write "
            "its own among them: give a new or empty folder, or the run dir of an earlier pfgm-train"
        )


#: where resume=<state> moves the states newer than the one it goes back to
ABANDONED_DIR = "abandoned"


def rewind(run_dir: Path, state: str) -> Path:
    """resume=<checkpoints/state-*.pt>: make that state the newest by moving the newer ones (e.g. those
    written after a blow-up, finite but useless) into checkpoints/abandoned/. Nothing is deleted."""
    from pfgm.core.checkpoint import list_states, load_state

    path = Path(state)
    if not path.is_absolute() and not path.exists():
        path = run_dir / path
    states = list_states(run_dir)
    if path.resolve() not in [p.resolve() for p in states]:
        shown = ", ".join(f"{CHECKPOINT_DIR}/{p.name}" for p in states) or "none"
        raise FileNotFoundError(f"resume={state}: not a state of run_dir {run_dir} (its states: {shown})")
    load_state(path)  # it must load (finite, not corrupt) before anything moves
    newer = [p for p in states if p.name > path.name]
    if newer:
        aside = run_dir / CHECKPOINT_DIR / ABANDONED_DIR
        aside.mkdir(exist_ok=True)
        for p in newer:
            os.replace(p, aside / p.name)
        print(f"pfgm-train: resume={state}: moved {len(newer)} newer state(s) to {aside}", file=sys.stderr)
    return path


def _remove_if_empty(run_dir: Path, created: bool) -> None:
    # a run that failed before writing anything leaves no empty folder behind
    if created:
        with contextlib.suppress(OSError):
            run_dir.rmdir()


def _train(
    cfg: dict[str, Any], dist: DistInfo, run_dir: Path, tcfg: TrainerConfig, pfgm: PFGMConfig, mode: str
) -> dict[str, Any]:
    modality = make_modality(cfg["modality"])
    check_objective(modality, pfgm.objective)
    data = modality.dataset("train")
    if pfgm.sigma_data == "auto":
        pfgm = dataclasses.replace(pfgm, sigma_data=round(_estimate_sigma_data(data), 6))
    resolved = dict(cfg)
    resolved.update(pfgm=pfgm.to_dict(), run_dir=str(run_dir), modality={"name": modality.name, **modality.config()})
    found = load_latest_state(run_dir) if mode != "never" else None
    # a run from before an option was retired (recipes.build.RETIRED) resumes when it had it off
    notices = (
        []
        if found is None
        else check_compatible(drop_retired(found[1].get("config") or {}, found[0]), resolved, str(found[0]), mode)
    )
    torch.manual_seed(tcfg.seed)  # the network's initial weights are a function of the seed
    kernel = pfgm.kernel()
    denoiser = make_denoiser(modality, cfg.get("backbone") or {}, float(pfgm.sigma_data), pfgm.objective)
    loss = pfgm.loss()
    wants_preview = tcfg.preview_every > 0 and int(cfg.get("preview_samples", 64)) > 0
    preview = _preview_fn(modality, pfgm, kernel, resolved, run_dir, dist.device) if wants_preview else None
    if found is not None:  # a resumed run keeps what it started from; its state holds the weights
        resolved["init_from"] = (found[1].get("config") or {}).get("init_from")
    elif cfg.get("init_from"):
        resolved["init_from"], note = init_weights(denoiser, str(cfg["init_from"]), resolved)
        notices.append(note)
    trainer = Trainer(denoiser, loss, data, tcfg, dist, run_dir, config=resolved, collate=modality.collate, preview=preview)
    resumed = found is not None and trainer.try_resume(found[1], found[0])
    if dist.is_main:
        run_dir.mkdir(parents=True, exist_ok=True)
        atomic_write_bytes(run_dir / "config.json", json.dumps(resolved, indent=2, default=str).encode())
        params = sum(p.numel() for p in denoiser.parameters())
        for note in notices:
            print(f"pfgm-train: {note}", file=sys.stderr)
        print(
            f"pfgm-train: {modality.name} | D={resolved['pfgm']['D']} | sigma_data={pfgm.sigma_data} | {len(data)} training items "
            f"| {params / 1e3:.0f}k parameters | device {dist.device} × {dist.world_size} | run_dir {run_dir}"
            + (f" | resumed at step {trainer.step}" if resumed else ""),
            file=sys.stderr,
        )
    out = trainer.fit()
    out.update(run_dir=str(run_dir), resumed=resumed, resumed_at=trainer.resumed_at)
    return out


def init_weights(denoiser: torch.nn.Module, source: str, config: dict[str, Any]) -> tuple[dict[str, Any], str]:
    """Fine-tuning: load the EMA weights of ``source`` (a run dir, an export, a state or ``zoo:NAME``) into the
    new run's fresh ``denoiser`` before step 0; the EMA starts from them too. Returns (what the run records
    under ``init_from``: the source and a digest of its weights, a notice to print).

    The network must be the one the source's config builds: the same modality, backbone and objective
    (else an error naming the fields, as ``resume`` does, or the tensors that differ). The data, D,
    sigma_data and the trainer may differ: that is the point of fine-tuning a shipped model on your own
    sequences. The optimiser, the step count and the schedule start afresh (use ``resume=true`` to continue the same run instead)."""
    _, src, src_cfg = load_checkpoint(source)
    # the changes a resume would refuse, less the ones fine-tuning is for (the data, D, sigma_data)
    differs = [
        line for line in config_changes(src_cfg, config)[0] if line.startswith(("backbone.", "modality.name:", "pfgm.objective:"))
    ]
    weights, own = src.state_dict(), denoiser.state_dict()
    differs += [
        f"{k}: {tuple(weights[k].shape) if k in weights else 'absent'} there, {tuple(own[k].shape) if k in own else 'absent'} here"
        for k in sorted(set(weights) | set(own))
        if k not in weights or k not in own or weights[k].shape != own[k].shape
    ][:3]
    if differs:
        raise ConfigError(
            f"init_from={source}: its network is not the one this run builds ({'; '.join(differs)}); "
            "fine-tuning needs the same modality encoding, backbone and objective"
        )
    denoiser.load_state_dict(weights)
    digest = tensors_digest(weights)
    sigma_then, sigma_now = (src_cfg.get("pfgm") or {}).get("sigma_data"), config["pfgm"].get("sigma_data")
    note = f"init_from={source}: weights {digest[:12]} loaded; optimiser and schedule start afresh" + (
        f" (sigma_data {sigma_then} there, {sigma_now} here)" if sigma_then != sigma_now else ""
    )
    return {"checkpoint": source, "weights_sha256": digest}, note


def _drop_stray_run_dir(own: str, chosen: str) -> None:
    # Hydra made a run dir on every rank; a rank whose timestamp differed from rank 0's removes its empty one.
    if os.path.abspath(own) != os.path.abspath(chosen) and os.path.isdir(own) and not os.listdir(own):
        shutil.rmtree(own, ignore_errors=True)


def _hydra_main() -> None:
    import hydra
    from hydra.core.hydra_config import HydraConfig

    @hydra.main(version_base="1.3", config_path="pkg://pfgm.configs", config_name="train")
    def app(cfg) -> None:
        from .build import plain

        apply_group_choices(cfg, HydraConfig.get().overrides.task, "train")  # pfgm=edm wins over the recipe
        with user_errors("pfgm-train", run_dir=HydraConfig.get().runtime.output_dir):  # a refused config leaves no run dir
            c = plain(cfg)
        if not c.get("modality"):
            print_catalogue()
            own = Path(HydraConfig.get().runtime.output_dir)  # nothing to train: leave no empty run dir behind
            _drop_stray_run_dir(str(own), "")
            with contextlib.suppress(OSError):
                own.parent.rmdir()  # only succeeds if empty (e.g. the default runs/)
            return
        c["recipe_name"] = HydraConfig.get().runtime.choices.get("recipe")
        with user_errors("pfgm-train", run_dir=c.get("run_dir")):
            # the run's one check, here because the empty run_dir= check needs the value as given, before
            # Hydra's own is taken; run_training reuses what it parsed
            settings = parse_train(c)
            dist = init_distributed(settings.trainer.device)
            own = HydraConfig.get().runtime.output_dir
            job = multirun_job()  # under --multirun each job trains in its own run_dir/<job number>
            chosen = own if job is None else os.path.join(str(c["run_dir"]), str(job))
            c["run_dir"] = broadcast_object(chosen if dist.is_main else None)
            if not dist.is_main:
                _drop_stray_run_dir(own, c["run_dir"])
            try:
                summary = run_training(c, dist, settings)
            finally:
                cleanup()
            if dist.is_main:
                print(json.dumps(summary))

    run_hydra("pfgm-train", app, dir_setting="run_dir")


def main() -> None:
    _hydra_main()


if __name__ == "__main__":
    main()
