"""The training engine: one loop for every modality, resumable bit for bit, DDP-ready.

Determinism is by construction rather than by luck: the data order, the σ's, the kernel noise
and the label dropout of global step s are all functions of (seed, s) alone, drawn for the whole
global batch on every rank and then sliced. So

* 1k steps + stop + resume 1k equals 2k steps in one go (the RNG state of the network's own
  randomness, e.g. dropout, is checkpointed too), and
* W ranks × (B/W) samples compute the same gradient as one process with batch B (DDP averages).

Run under torchrun for several processes (see distributed.py for the commands); a plain run is
world size 1. Only rank 0 writes: checkpoints (atomic, keep-last-k), the EMA export
(``ema.safetensors`` with the resolved config in its metadata), metrics.jsonl and previews.

GPU settings, all off by default (a CPU run is unchanged by them): ``bf16`` autocast (the parameters,
gradients, optimiser state and EMA stay float32), ``tf32`` matmuls/convolutions, ``channels_last``
memory format for conv nets, ``compile`` (torch.compile) and ``micro_batch``, the per-device batch:
the global batch is then reached by gradient accumulation (EDM's --batch-gpu), so a recipe trains with
the paper's batch on any number of GPUs of any size. The throughput (images/s and, as EDM prints it,
kimg/day) is shown in the progress bar and logged.
"""

from __future__ import annotations

import contextlib
import math
import signal
import threading
import time
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any, Callable

import torch
from torch import Tensor, nn

from .checkpoint import load_latest_state, save_state
from .rng import rng_state, set_rng_state
from .weights import EMA_WEIGHTS_NAME, export_weights
from .distributed import DistInfo, all_reduce_mean
from .ema import EMA, unwrap_model
from .errors import ConfigError, DataError
from .loss import PFGMLoss
from .progress import MetricsLogger, Progress

__all__ = ["TrainerConfig", "Trainer", "IndexStream", "TrainingInterrupted", "TrainingDiverged"]


class TrainingInterrupted(Exception):
    """SIGINT/SIGTERM arrived: the current step finished and a checkpoint was written at ``step``."""

    def __init__(self, signum: int, step: int, run_dir: Path | None):
        self.signum, self.step, self.run_dir = signum, step, run_dir
        name = signal.Signals(signum).name
        saved = f"checkpoint written at step {step} in {run_dir}" if run_dir is not None else f"stopped at step {step}"
        super().__init__(f"interrupted by {name}: {saved}")

    @property
    def exit_code(self) -> int:
        """The shell's convention for death by a signal: 128 + its number (130 SIGINT, 143 SIGTERM)."""
        return 128 + self.signum


class TrainingDiverged(Exception):
    """The loss or the gradient stayed non-finite (NaN/inf) for ``trainer.nonfinite_patience`` steps.

    Nothing was written after the divergence: the run dir's newest checkpoint and its EMA export are
    the last finite ones. The message is one line: the step, the loss, the likely cause, that checkpoint.
    """

    def __init__(
        self,
        step: int,
        loss: float,
        streak: int,
        cause: str,
        run_dir: Path | None,
        last_good: Path | None,
        resumed_from: Path | None = None,
    ):
        self.step, self.loss, self.run_dir, self.last_good, self.resumed_from = step, loss, run_dir, last_good, resumed_from
        kept = f"the newest finite checkpoint is {last_good}" if last_good is not None else "no checkpoint was written before it"
        if resumed_from is not None:  # the steps since the resume may have blown the weights up while still finite
            kept += (
                f"; this run resumed from {resumed_from.name}, kept too (resume=checkpoints/{resumed_from.name} goes back to it)"
            )
        first = step - streak + 1
        steps = f"step {first}" if streak <= 1 else f"steps {first}-{step}"
        super().__init__(
            f"training diverged at step {first}: loss {loss:.4g} (loss or gradient non-finite at {steps}); "
            f"likely cause: {cause}; {kept}"
        )


@dataclass
class TrainerConfig:
    """Optimisation and bookkeeping. ``batch_size`` is the global batch (all ranks, all micro-batches)."""

    max_steps: int = 3000
    batch_size: int = 128
    grad_accum: int = 1
    lr: float = 2e-3
    weight_decay: float = 0.0
    beta1: float = 0.9
    beta2: float = 0.99
    warmup_steps: int = 200
    lr_decay: str = "none"  # or "cosine": to 0 at max_steps (helps short CPU runs end sharp)
    grad_clip: float = 1.0
    ema_halflife_kimg: float = 50.0
    ema_rampup_ratio: float | None = 0.05
    seed: int = 0
    device: str = "auto"
    bf16: bool = False
    tf32: bool = False  # CUDA only: TF32 matmuls and cuDNN convolutions (~3x faster fp32 on Ampere+)
    channels_last: bool = False  # conv nets: NHWC memory format (faster cuDNN kernels, above all in bf16)
    compile: bool = False  # torch.compile the network (first steps pay the compilation)
    micro_batch: int | None = None  # per-device batch; None = batch_size / (world size · grad_accum)
    log_every: int = 50
    ckpt_every: int = 500
    keep_last: int = 3
    preview_every: int = 0
    progress: bool = True
    stop_after: int | None = None  # end this invocation at that step (wall-clock-limited queues); resume later
    num_workers: int = 0  # DataLoader workers for streaming data sets (those with item(index, seed))
    # a step whose loss or gradient is NaN/inf: "skip" it (no update, counted) and stop after
    # nonfinite_patience in a row, or "stop" at the first; either way nothing non-finite is ever written
    on_nonfinite: str = "skip"
    nonfinite_patience: int = 5

    def __post_init__(self) -> None:
        # every field's type and range (_TRAINER_RULES), however the config was made, so a bad value fails
        # here, naming the key, the value and what was expected, not deep inside torch after the data is loaded
        for f in fields(self):
            kind, lo, hi, optional = _TRAINER_RULES[f.name]
            setattr(self, f.name, _check_value(f"trainer.{f.name}", getattr(self, f.name), kind, lo, hi, optional))

    @classmethod
    def from_dict(cls, d: dict[str, Any] | None) -> "TrainerConfig":
        """The ``trainer:`` section: an unknown key is an error naming it; the values are checked on construction."""
        d = dict(d or {})
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(d) - known)
        if unknown:
            raise ConfigError(
                f"unknown trainer option(s) {', '.join(f'trainer.{k}' for k in unknown)}; known: {', '.join(sorted(known))}"
            )
        return cls(**d)


# key → (kind, lower bound, upper bound, None allowed); bounds are inclusive except where noted in _check_value
_TRAINER_RULES: dict[str, tuple[Any, Any, Any, bool]] = {
    "max_steps": (int, 1, None, False),
    "batch_size": (int, 1, None, False),
    "grad_accum": (int, 1, None, False),
    "lr": (float, 0.0, None, False),
    "weight_decay": (float, 0.0, None, False),
    "beta1": (float, 0.0, 1.0, False),
    "beta2": (float, 0.0, 1.0, False),
    "warmup_steps": (int, 0, None, False),
    "lr_decay": (("none", "cosine"), None, None, False),
    "grad_clip": (float, 0.0, None, False),
    "ema_halflife_kimg": (float, 0.0, None, False),
    "ema_rampup_ratio": (float, 0.0, None, True),
    "seed": (int, 0, 2**63 - 1, False),
    "device": (str, None, None, False),
    "bf16": (bool, None, None, False),
    "tf32": (bool, None, None, False),
    "channels_last": (bool, None, None, False),
    "compile": (bool, None, None, False),
    "micro_batch": (int, 1, None, True),
    "log_every": (int, 1, None, False),
    "ckpt_every": (int, 0, None, False),
    "keep_last": (int, 0, None, False),
    "preview_every": (int, 0, None, False),
    "progress": (bool, None, None, False),
    "stop_after": (int, 0, None, True),
    "num_workers": (int, 0, 256, False),
    "on_nonfinite": (("skip", "stop"), None, None, False),
    "nonfinite_patience": (int, 1, None, False),
}
#: floats that must be strictly positive (the rest allow their lower bound)
_POSITIVE = {"lr", "ema_halflife_kimg"}
_OPEN_ABOVE = {"beta1", "beta2"}  # must stay below 1


def _check_value(key: str, v: Any, kind: Any, lo: Any, hi: Any, optional: bool) -> Any:
    """``v`` as ``kind`` within [lo, hi], else ValueError naming key, value and expectation."""
    if v is None:
        if optional:
            return None
        raise ConfigError(f"{key} must be set, got null")
    if isinstance(kind, tuple):
        if v not in kind:
            raise ConfigError(f"{key} must be one of {', '.join(map(repr, kind))}, got {v!r}")
        return v
    if kind is bool:
        if not isinstance(v, bool):
            raise ConfigError(f"{key} must be true or false, got {v!r}")
        return v
    if kind is str:
        if not isinstance(v, str) or not v.strip():
            raise ConfigError(f"{key} must be a non-empty string, got {v!r}")
        return v
    if isinstance(v, bool) or not isinstance(v, (int, float)):
        raise ConfigError(f"{key} must be {'a whole number' if kind is int else 'a number'}, got {v!r}")
    if kind is int:
        if isinstance(v, float) and not (math.isfinite(v) and v == int(v)):
            raise ConfigError(f"{key} must be a whole number, got {v!r}")
        v = int(v)
    else:
        v = float(v)
        if not math.isfinite(v):
            raise ConfigError(f"{key} must be a finite number, got {v!r}")
    name = key.rsplit(".", 1)[-1]
    pos, open_above = name in _POSITIVE, name in _OPEN_ABOVE
    if lo is not None and (v < lo or (pos and v <= lo)):
        raise ConfigError(f"{key} must be {'>' if pos else '≥'} {lo}, got {v!r}")
    if hi is not None and (v > hi or (open_above and v >= hi)):
        raise ConfigError(f"{key} must be {'<' if open_above else '≤'} {hi}, got {v!r}")
    return v


class IndexStream:
    """The data order: epoch e is randperm(M) seeded by (seed, e); global batch s takes positions
    [s·B, (s+1)·B) of the concatenated epochs. A pure function of (seed, s): resumable anywhere."""

    def __init__(self, size: int, batch_size: int, seed: int):
        if size < 1:
            raise DataError("the training data set is empty")
        self.M, self.B, self.seed = size, batch_size, seed
        self._perm: dict[int, Tensor] = {}

    def _epoch(self, e: int) -> Tensor:
        if e not in self._perm:
            if len(self._perm) > 4:
                self._perm.clear()
            g = torch.Generator().manual_seed(self.seed * 1_000_003 + e)
            self._perm[e] = torch.randperm(self.M, generator=g)
        return self._perm[e]

    def batch(self, step: int) -> Tensor:
        pos = torch.arange(step * self.B, (step + 1) * self.B)
        out = torch.empty(self.B, dtype=torch.long)
        for e in torch.unique(pos // self.M).tolist():
            sel = pos // self.M == e
            out[sel] = self._epoch(e)[pos[sel] % self.M]
        return out


def accumulation_rounds(cfg: TrainerConfig, world_size: int) -> int:
    """Micro-batches per step on each device: ``grad_accum``, or with ``micro_batch`` set,
    batch_size / (world_size · micro_batch). Either way the global batch is ``batch_size``."""
    B, W = cfg.batch_size, world_size
    if cfg.micro_batch is not None:
        if B % (W * cfg.micro_batch) != 0:
            raise ConfigError(f"trainer.batch_size={B} must be divisible by world_size×micro_batch = {W}×{cfg.micro_batch}")
        return B // (W * cfg.micro_batch)
    if B % (W * cfg.grad_accum) != 0:
        raise ConfigError(f"trainer.batch_size={B} must be divisible by world_size×grad_accum = {W}×{cfg.grad_accum}")
    return cfg.grad_accum


def item_seed(seed: int, step: int, position: int) -> int:
    """The augmentation seed of global-batch position ``position`` at ``step``: a function of those alone."""
    return (seed * 1_000_003 + step * 65_537 + position) % (2**63)


class _Keyed(torch.utils.data.Dataset):
    """Map-style view of a streaming data set: key (index, seed) → ``dataset.item(index, seed)``."""

    def __init__(self, dataset: Any):
        self.dataset = dataset

    def __len__(self) -> int:
        return len(self.dataset)

    def __getitem__(self, key: tuple[int, int]) -> Any:
        return self.dataset.item(*key)


class _StepKeys(torch.utils.data.Sampler):
    """Yields, from ``start`` on, each step's micro-batches of this rank as lists of (index, seed)."""

    def __init__(self, stream: IndexStream, seed: int, start: int, end: int, rank: int, world: int, accum: int):
        self.stream, self.seed, self.start, self.end = stream, seed, start, end
        self.rank, self.world, self.accum = rank, world, accum

    def __len__(self) -> int:
        return max(0, self.end - self.start) * self.accum

    def __iter__(self):
        B = self.stream.B
        local = B // self.world
        micro = local // self.accum
        for step in range(self.start, self.end):
            gidx = self.stream.batch(step).tolist()
            for k in range(self.accum):
                lo = self.rank * local + k * micro
                yield [(gidx[p], item_seed(self.seed, step, p)) for p in range(lo, lo + micro)]


def _stack_items(items: list[Any]) -> Any:
    """Default collate: stack each tensor field of dataclass items (None stays None)."""
    import dataclasses

    names = [f.name for f in dataclasses.fields(items[0])]
    return type(items[0])(*[None if getattr(items[0], n) is None else torch.stack([getattr(i, n) for i in items]) for n in names])


def _step_generator(seed: int, step: int, device: torch.device) -> torch.Generator:
    return torch.Generator(device=device).manual_seed((seed * 2_654_435_761 + step) % (2**63))


class Trainer:
    """Trains ``denoiser`` (a precond.Denoiser) on an encoded data set with ``loss``.

    dataset items are modality ``Encoded`` objects (x, mask, cond); a data set with
    ``take(idx)`` (EncodedDataset) is batched by fancy indexing, one with ``item(index, seed)``
    (streaming: read or augmented per step) through a DataLoader with ``num_workers`` workers,
    others through ``collate``.
    ``config`` is the resolved run config as plain types; it is stored in every checkpoint and
    export. ``preview(step, ema_denoiser)`` is called on rank 0 every ``preview_every`` steps.
    """

    def __init__(
        self,
        denoiser: nn.Module,
        loss: PFGMLoss,
        dataset: Any,
        cfg: TrainerConfig,
        dist: DistInfo,
        run_dir: Path | None,
        config: dict[str, Any] | None = None,
        collate: Callable[[list[Any]], Any] | None = None,
        preview: Callable[[int, nn.Module], None] | None = None,
    ):
        W = dist.world_size
        self.accum = accumulation_rounds(cfg, W)
        self.cfg, self.dist, self.loss = cfg, dist, loss
        self.run_dir = None if run_dir is None else Path(run_dir)
        self.config = dict(config or {})
        self.dataset, self.collate, self.preview = dataset, collate or _stack_items, preview
        self.device = dist.device
        if self.device.type == "cuda":
            torch.backends.cuda.matmul.allow_tf32 = cfg.tf32
            torch.backends.cudnn.allow_tf32 = cfg.tf32
        self.model = denoiser.to(self.device)
        if cfg.channels_last:
            self.model = self.model.to(memory_format=torch.channels_last)
        if W > 1:
            ids = [self.device.index] if self.device.type == "cuda" else None
            self.model = nn.parallel.DistributedDataParallel(self.model, device_ids=ids)
        if cfg.compile:
            self.model = torch.compile(self.model)
        self.ema = EMA(unwrap_model(self.model), cfg.ema_halflife_kimg, cfg.ema_rampup_ratio)
        self.opt = torch.optim.AdamW(
            unwrap_model(self.model).parameters(), lr=cfg.lr, betas=(cfg.beta1, cfg.beta2), weight_decay=cfg.weight_decay
        )
        self.stream = IndexStream(len(dataset), cfg.batch_size, cfg.seed)
        self.streaming = hasattr(dataset, "item") and not hasattr(dataset, "take")
        self._batches: Any = None  # the streaming DataLoader's iterator, made at the start of fit()
        first = dataset.item(0, 0) if self.streaming else dataset[0]
        self.sample_shape = tuple(first.x.shape)
        self.step = 0
        self.cur_nimg = 0
        self.nonfinite_streak = 0  # consecutive skipped steps
        self.nonfinite_skipped = 0  # skipped steps in this invocation
        self.resumed_at: int | None = None  # the step a checkpoint was loaded at
        self.resumed_from: Path | None = None  # that checkpoint: kept from rotation until this invocation ends well
        self._signal: int | None = None  # set by the SIGINT/SIGTERM handler; the loop stops after the step
        # wall seconds spent in fit() over every invocation, so a resumed run still knows its cost
        self.train_seconds = 0.0
        self._fit_t0: float | None = None
        self._fit_s0 = 0.0
        self.metrics = MetricsLogger(self.run_dir, enabled=dist.is_main) if self.run_dir is not None and dist.is_main else None

    # -- state ------------------------------------------------------------------------------
    def state_dict(self) -> dict[str, Any]:
        return {
            "model": unwrap_model(self.model).state_dict(),
            "ema": self.ema.state_dict(),
            "optimizer": self.opt.state_dict(),
            "cur_nimg": self.cur_nimg,
            "train_seconds": self._elapsed(),
            "rng": rng_state(),
            "config": self.config,
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        unwrap_model(self.model).load_state_dict(state["model"])
        self.ema.load_state_dict(state["ema"])
        self.opt.load_state_dict(state["optimizer"])
        self.step = int(state["step"])
        self.cur_nimg = int(state["cur_nimg"])
        self.train_seconds = float(state.get("train_seconds", 0.0))  # absent in states from before it existed
        set_rng_state(state["rng"])

    def _elapsed(self) -> float:
        if self._fit_t0 is None:
            return self.train_seconds
        return self._fit_s0 + time.perf_counter() - self._fit_t0

    def save(self) -> None:
        if not self.dist.is_main or self.run_dir is None:
            return
        bad = self._nonfinite_weight()
        if bad is not None:  # never let a non-finite state rotate a good one out
            raise self._diverged(math.nan, f"weights non-finite ({bad})")
        save_state(self.run_dir, self.step, self.state_dict(), keep_last=self.cfg.keep_last, protect=self.resumed_from)
        self.export()

    def export(self) -> Path | None:
        if not self.dist.is_main or self.run_dir is None:
            return None
        return export_weights(
            self.run_dir / EMA_WEIGHTS_NAME,
            {k: v.detach().cpu() for k, v in self.ema.model.state_dict().items()},
            self.config,
            {"step": self.step, "cur_nimg": self.cur_nimg, "train_seconds": round(self._elapsed(), 3)},
        )

    def try_resume(self, state: dict[str, Any] | None = None, path: Path | None = None) -> bool:
        """Load ``state`` (read from ``path``) or else the newest checkpoint of run_dir that loads (every
        rank reads the same file; a corrupt newest one falls back to an older one, with a warning).
        False if there is none."""
        if state is None:
            if self.run_dir is None:
                return False
            found = load_latest_state(self.run_dir)
            if found is None:
                return False
            path, state = found
        self.load_state_dict(state)
        self.resumed_at = self.step
        self.resumed_from = None if path is None else Path(path)
        if self.metrics is not None:
            self.metrics.truncate_after(self.step)
        return True

    # -- one step ---------------------------------------------------------------------------
    def _fetch(self, idx: Tensor):
        if self._batches is not None:
            batch = next(self._batches).to(self.device)
        elif self.streaming:
            batch = self.collate([self.dataset.item(int(i), 0) for i in idx]).to(self.device)
        elif hasattr(self.dataset, "take"):
            batch = self.dataset.take(idx).to(self.device)
        else:
            batch = self.collate([self.dataset[int(i)] for i in idx]).to(self.device)
        if self.cfg.channels_last and batch.x.dim() == 4:
            batch.x = batch.x.contiguous(memory_format=torch.channels_last)
        return batch

    def _lr(self, step: int) -> float:
        cfg = self.cfg
        lr = cfg.lr * (min(1.0, (step + 1) / cfg.warmup_steps) if cfg.warmup_steps > 0 else 1.0)
        if cfg.lr_decay == "cosine":  # else "none": TrainerConfig admits no other value
            lr *= 0.5 * (1 + math.cos(math.pi * min(step, cfg.max_steps) / cfg.max_steps))
        return lr

    def train_step(self) -> float:
        cfg, W, r = self.cfg, self.dist.world_size, self.dist.rank
        B = cfg.batch_size
        for group in self.opt.param_groups:
            group["lr"] = self._lr(self.step)
        gidx = self.stream.batch(self.step)
        gen = _step_generator(cfg.seed, self.step, self.device)
        # Drawn for the global batch on every rank, then sliced: independent of the world size.
        sigma = self.loss.sigma_sampler(B, generator=gen, device=self.device)
        noise = self.loss.kernel.noise(torch.zeros((B, *self.sample_shape), device=self.device), sigma, None, gen)
        drop = torch.rand(B, generator=gen, device=self.device) < self.loss.cond_drop_prob
        self_cond = torch.rand(B, generator=gen, device=self.device) < self.loss.self_cond_prob
        local = B // W
        micro = local // self.accum
        total = torch.zeros((), device=self.device)
        amp = torch.autocast(self.device.type, dtype=torch.bfloat16, enabled=cfg.bf16)
        for k in range(self.accum):
            sl = slice(r * local + k * micro, r * local + (k + 1) * micro)
            batch = self._fetch(gidx[sl])
            sync = k == self.accum - 1 or W == 1
            ctx = contextlib.nullcontext() if sync else self.model.no_sync()
            with ctx, amp:
                per_sample = self.loss(
                    self.model,
                    batch.x,
                    batch.mask,
                    batch.cond,
                    sigma=sigma[sl],
                    noise=noise[sl],
                    drop=drop[sl],
                    self_cond=self_cond[sl],
                )
                # Sum over the rank's share / its size; DDP's mean over ranks makes it the global mean.
                (per_sample.float().sum() / local).backward()
            total += per_sample.detach().float().sum()
        params = [p for p in unwrap_model(self.model).parameters() if p.grad is not None]
        if cfg.grad_clip > 0:
            norm = torch.nn.utils.clip_grad_norm_(params, cfg.grad_clip)
        else:
            norm = torch.nn.utils.get_total_norm([p.grad for p in params])
        if self._finite(total, norm):
            self.opt.step()
            self.ema.update(self.model, self.cur_nimg, B)
            self.nonfinite_streak = 0
        else:  # the step is skipped: weights, optimiser moments and EMA stay as they were
            self.nonfinite_streak += 1
            self.nonfinite_skipped += 1
        self.opt.zero_grad(set_to_none=True)
        self.cur_nimg += B
        self.step += 1
        return total / local

    def _finite(self, loss_sum: Tensor, grad_norm: Tensor) -> bool:
        """One flag for the step, read on the host: the update must be skipped before it is applied.
        A scalar read per step (free on the CPU; one small sync on a GPU); under DDP every rank agrees."""
        ok = torch.isfinite(loss_sum) & torch.isfinite(grad_norm)
        if self.dist.world_size > 1:
            ok = all_reduce_mean(ok.float()) == 1
        return bool(ok)

    def _nonfinite_weight(self) -> str | None:
        """The name of the first live or EMA tensor holding NaN/inf, else None."""
        for prefix, module in (("model", unwrap_model(self.model)), ("ema", self.ema.model)):
            for name, t in module.state_dict().items():
                if t.is_floating_point() and not bool(torch.isfinite(t).all()):
                    return f"{prefix}.{name}"
        return None

    def _likely_cause(self) -> str:
        pf = self.config.get("pfgm") or {}
        p_mean = pf.get("P_mean")
        if self.cfg.lr > 1e-2:
            return f"trainer.lr={self.cfg.lr:g} is high (the recipes train at 1e-3 to 2e-3): lower it"
        if isinstance(p_mean, (int, float)) and not -6 <= p_mean <= 4:
            return (
                f"pfgm.P_mean={p_mean:g} draws training σ around {math.exp(p_mean):.3g}, far from the data's scale "
                f"(sigma_data={pf.get('sigma_data')}): keep it near -1.2"
            )
        bf16 = "; bf16 autocast may overflow: try trainer.bf16=false" if self.cfg.bf16 else ""
        return f"the learning rate (trainer.lr={self.cfg.lr:g}) or the σ range (pfgm.P_mean, P_std, sigma_min/max){bf16}"

    def _diverged(self, loss: float, cause: str | None = None) -> TrainingDiverged:
        from .checkpoint import latest_state_path

        last = latest_state_path(self.run_dir) if self.run_dir is not None else None
        return TrainingDiverged(
            self.step,
            loss,
            max(self.nonfinite_streak, 1),
            cause or self._likely_cause(),
            self.run_dir,
            last,
            self.resumed_from if self.resumed_from != last else None,
        )

    # -- the loop ---------------------------------------------------------------------------
    def _install_signal_handlers(self) -> dict[int, Any]:
        """SIGINT/SIGTERM set a flag; the loop finishes the step, saves and raises TrainingInterrupted.
        A second signal of the same kind acts as it did before (e.g. Ctrl-C twice: KeyboardInterrupt)."""
        if threading.current_thread() is not threading.main_thread():
            return {}  # handlers can only be set from the main thread; elsewhere keep Python's defaults
        old: dict[int, Any] = {}

        def handler(signum: int, frame: Any) -> None:
            self._signal = signum
            signal.signal(signum, old[signum])  # the next one is not deferred

        for sig in (signal.SIGINT, signal.SIGTERM):
            old[sig] = signal.getsignal(sig)
            signal.signal(sig, handler)
        return old

    def _stop_requested(self) -> bool:
        if self.dist.world_size == 1:  # no device round trip: a GPU run must not sync once per step for this
            return self._signal is not None
        # every rank stops at the same step (one rank's signal stops all)
        flag = torch.tensor(0.0 if self._signal is None else 1.0, device=self.device)
        return bool(all_reduce_mean(flag) > 0)

    def fit(self) -> dict[str, float]:
        cfg = self.cfg
        self.model.train()
        bar = Progress(cfg.max_steps, initial=self.step, enabled=self.dist.is_main and cfg.progress, desc="train", unit="step")
        losses: list[Tensor] = []
        t0, n0 = time.perf_counter(), self.step
        self._fit_t0, self._fit_s0 = t0, self.train_seconds
        last = math.nan
        end = cfg.max_steps if cfg.stop_after is None else min(cfg.max_steps, cfg.stop_after)
        if self.streaming:
            keys = _StepKeys(self.stream, cfg.seed, self.step, end, self.dist.rank, self.dist.world_size, self.accum)
            # pinned host memory lets the copy to the GPU overlap the step (Encoded.to is non_blocking)
            loader = torch.utils.data.DataLoader(
                _Keyed(self.dataset),
                batch_sampler=keys,
                collate_fn=self.collate,
                num_workers=cfg.num_workers,
                persistent_workers=False,
                pin_memory=self.device.type == "cuda",
                prefetch_factor=4 if cfg.num_workers > 0 else None,
            )
            self._batches = iter(loader)
        self._signal = None
        old_handlers = self._install_signal_handlers()
        interrupted: int | None = None
        completed = False
        try:
            while self.step < end:
                loss = self.train_step()
                if self.nonfinite_streak:
                    if cfg.on_nonfinite == "stop" or self.nonfinite_streak >= cfg.nonfinite_patience:
                        raise self._diverged(float(loss))
                else:
                    losses.append(loss)
                at_log = self.step % cfg.log_every == 0 or self.step == end
                if at_log:
                    last = float(all_reduce_mean(torch.stack(losses).mean())) if losses else math.nan
                    losses.clear()
                    rate = (self.step - n0) * cfg.batch_size / max(time.perf_counter() - t0, 1e-9)
                    if self.metrics is not None:
                        skipped = {"skipped_steps": self.nonfinite_skipped} if self.nonfinite_skipped else {}
                        self.metrics.log(
                            self.step,
                            loss=last,
                            lr=self._lr(self.step - 1),
                            samples_per_s=rate,
                            kimg_per_day=rate * 86.4,
                            kimg=self.cur_nimg / 1000,
                            **skipped,
                        )
                bar.update(
                    1, **({"loss": f"{last:.4f}", "img/s": f"{rate:.4g}", "kimg/day": f"{rate * 86.4:.4g}"} if at_log else {})
                )
                if self._stop_requested():
                    interrupted = self._signal if self._signal is not None else signal.SIGTERM
                    break
                if cfg.ckpt_every > 0 and self.step % cfg.ckpt_every == 0 and self.step < end:
                    self.save()
                if self.preview and cfg.preview_every > 0 and self.step % cfg.preview_every == 0 and self.dist.is_main:
                    self.preview(self.step, self.ema.model)
            # a resumed run that had nothing left to do keeps its files as they are
            if self.step > n0 or self.resumed_at is None:
                self.resumed_from = None  # this invocation ended well: its start may rotate out now
                self.save()
            completed = True
        finally:
            for sig, h in old_handlers.items():
                signal.signal(sig, h)
            self._batches = None
            if self.step > n0:  # a reused run that had nothing left to do keeps the time it cost
                self.train_seconds = self._elapsed()
            self._fit_t0 = None
            bar.close()
            if self.metrics is not None:
                if completed:
                    self.metrics.close()
                else:  # a failure (a full disk) must surface as itself, not as the plot that could not be written after it
                    with contextlib.suppress(OSError):
                        self.metrics.close()
        if interrupted is not None:
            raise TrainingInterrupted(interrupted, self.step, self.run_dir)
        return {
            "step": self.step,
            "loss": last,
            "seconds": time.perf_counter() - t0,
            "train_seconds": round(self.train_seconds, 3),
        }
