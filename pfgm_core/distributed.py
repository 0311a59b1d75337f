"""Distributed helpers: torchrun-aware init, collectives that are no-ops at world size 1, seed sharding.

Plain ``python`` or console-script runs are world size 1 and create no process group. Under ``torchrun``
(``WORLD_SIZE`` > 1 in the environment) :func:`init_distributed` creates the process group with the
backend chosen by device: NCCL on CUDA, Gloo on CPU.

Single node, 4 processes (one per GPU, or 4 CPU workers)::

    torchrun --standalone --nproc_per_node=4 -m pfgm.recipes.train recipe=digits run_dir=runs/x

Multi-node (run on every node; ``--node_rank`` 0..nnodes-1, the endpoint is any reachable host:port,
conventionally node 0)::

    torchrun --nnodes=2 --nproc_per_node=8 --node_rank=0 \\
        --rdzv_backend=c10d --rdzv_endpoint=node0.example:29500 --rdzv_id=myjob \\
        -m pfgm.recipes.train recipe=digits run_dir=runs/x

Only rank 0 picks the run directory and writes files; use :func:`broadcast_object` to share its choice.
Sampling deals whole batches of sample indices to ranks (see generate.py) and derives each sample's
generator from its global index (seed + i), so the set of samples does not depend on the world size.
"""

from __future__ import annotations

import datetime
import os
from dataclasses import dataclass
from typing import Any

import torch
import torch.distributed as dist

from .errors import ConfigError

__all__ = [
    "DistInfo",
    "init_distributed",
    "is_distributed",
    "get_rank",
    "get_world_size",
    "is_main_process",
    "broadcast_object",
    "all_reduce_mean",
    "all_gather_objects",
    "cleanup",
]


@dataclass(frozen=True)
class DistInfo:
    """Where this process sits: global ``rank`` of ``world_size``, ``local_rank`` on its node, its device."""

    rank: int
    world_size: int
    local_rank: int
    device: torch.device
    is_main: bool


def _env_int(name: str, default: int) -> int:
    value = os.environ.get(name, "")
    try:
        return int(value) if value != "" else default
    except ValueError:
        raise ConfigError(f"environment variable {name}={value!r} is not an integer") from None


def _resolve_device(device: str | torch.device, local_rank: int, world_size: int) -> torch.device:
    if str(device) == "auto":
        device = "cuda" if torch.cuda.is_available() else "cpu"
    try:
        dev = torch.device(device)
    except (RuntimeError, TypeError):  # torch's message lists every device type it knows
        raise ConfigError(f"device={device!r} is not a device: use auto, cpu, cuda or cuda:N") from None
    if dev.type == "cuda":
        if not torch.cuda.is_available():
            raise ConfigError(f"device {str(device)!r} requested but CUDA is not available on this machine (use auto or cpu)")
        if dev.index is None:
            # One GPU per process: torchrun's LOCAL_RANK picks it; a single process takes the current one.
            dev = torch.device("cuda", local_rank if world_size > 1 else torch.cuda.current_device())
        torch.cuda.set_device(dev)
    return dev


def init_distributed(device: str | torch.device = "auto", timeout_minutes: float = 30.0) -> DistInfo:
    """Set up this process from torchrun's environment and return its :class:`DistInfo`.

    Args:
        device: "auto" (CUDA when available, else CPU), "cpu", "cuda" or e.g. "cuda:1". With "cuda" and
            several processes the device index is ``LOCAL_RANK``.
        timeout_minutes: collective timeout of the process group.

    If ``WORLD_SIZE`` > 1, initialise the default process group (``env://``: RANK, WORLD_SIZE,
    MASTER_ADDR, MASTER_PORT) with NCCL for CUDA devices and Gloo otherwise; an existing group is reused.
    Otherwise no process group is created and the run is world size 1, rank 0.
    """
    world_size = _env_int("WORLD_SIZE", 1)
    rank = _env_int("RANK", 0) if world_size > 1 else 0
    local_rank = _env_int("LOCAL_RANK", rank) if world_size > 1 else 0
    dev = _resolve_device(device, local_rank, world_size)
    if world_size > 1:
        if not dist.is_available():
            raise RuntimeError("WORLD_SIZE > 1 but this torch build has no torch.distributed support")
        if not dist.is_initialized():
            backend = "nccl" if dev.type == "cuda" else "gloo"
            dist.init_process_group(
                backend=backend,
                init_method="env://",
                rank=rank,
                world_size=world_size,
                timeout=datetime.timedelta(minutes=timeout_minutes),
            )
        rank, world_size = dist.get_rank(), dist.get_world_size()
    return DistInfo(rank=rank, world_size=world_size, local_rank=local_rank, device=dev, is_main=rank == 0)


def is_distributed() -> bool:
    """True when a process group with more than one process is active."""
    return dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1


def get_rank() -> int:
    """Global rank: from the process group when initialised, else from ``RANK`` (torchrun), else 0."""
    if dist.is_available() and dist.is_initialized():
        return dist.get_rank()
    return _env_int("RANK", 0)


def get_world_size() -> int:
    """World size: from the process group when initialised, else 1."""
    if dist.is_available() and dist.is_initialized():
        return dist.get_world_size()
    return 1


def is_main_process() -> bool:
    """True on rank 0 (and in every non-distributed run). Only this process writes files or shows progress."""
    return get_rank() == 0


def broadcast_object(obj: Any, src: int = 0) -> Any:
    """Return rank ``src``'s ``obj`` on every rank (pickled in memory between our own processes).
    No-op at world size 1."""
    if not is_distributed():
        return obj
    box = [obj]
    dist.broadcast_object_list(box, src=src)
    return box[0]


def all_reduce_mean(tensor: torch.Tensor) -> torch.Tensor:
    """Mean of ``tensor`` over all ranks, as a new tensor (any shape; integers are promoted to float).
    The input is not modified. At world size 1 this is a detached copy."""
    out = tensor.detach().clone()
    if not out.is_floating_point() and not out.is_complex():
        out = out.float()
    if is_distributed():
        dist.all_reduce(out, op=dist.ReduceOp.SUM)
        out /= dist.get_world_size()
    return out


def all_gather_objects(obj: Any) -> list[Any]:
    """Every rank's ``obj``, in rank order (``[obj]`` at world size 1)."""
    if not is_distributed():
        return [obj]
    out: list[Any] = [None] * dist.get_world_size()
    dist.all_gather_object(out, obj)
    return out


def cleanup() -> None:
    """Destroy the process group if one was created (safe to call always)."""
    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()
