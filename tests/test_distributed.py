"""Tests for pfgm_core.distributed: world-size-1 no-ops and a 2-process gloo group."""

from __future__ import annotations

import os
import socket

import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp

from pfgm.core import distributed as D


@pytest.fixture
def no_torchrun_env(monkeypatch):
    for name in ("WORLD_SIZE", "RANK", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT"):
        monkeypatch.delenv(name, raising=False)


def test_world_size_one(no_torchrun_env):
    info = D.init_distributed("cpu")
    assert info == D.DistInfo(rank=0, world_size=1, local_rank=0, device=torch.device("cpu"), is_main=True)
    assert not dist.is_initialized()
    auto = D.init_distributed("auto")
    assert auto.device.type == ("cuda" if torch.cuda.is_available() else "cpu")
    assert D.get_rank() == 0 and D.get_world_size() == 1 and D.is_main_process() and not D.is_distributed()
    obj = {"run_dir": "runs/x"}
    assert D.broadcast_object(obj) is obj
    assert D.all_gather_objects(3) == [3]
    t = torch.tensor([1, 2, 3])
    m = D.all_reduce_mean(t)
    assert m.dtype == torch.float32 and torch.equal(m, t.float()) and m is not t
    D.cleanup()


def test_world_size_one_env(monkeypatch):
    monkeypatch.setenv("WORLD_SIZE", "1")
    monkeypatch.setenv("RANK", "0")
    assert D.init_distributed("cpu").world_size == 1 and not dist.is_initialized()


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _worker(rank: int, world: int, port: int) -> None:
    # What torchrun would export for each process.
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port), RANK=str(rank), LOCAL_RANK=str(rank), WORLD_SIZE=str(world))
    torch.set_num_threads(1)
    info = D.init_distributed("cpu", timeout_minutes=1)
    try:
        assert dist.is_initialized() and dist.get_backend() == "gloo"
        assert (info.rank, info.world_size, info.local_rank, info.is_main) == (rank, world, rank, rank == 0)
        assert D.is_main_process() == (rank == 0) and D.is_distributed()
        chosen = D.broadcast_object({"run_dir": f"runs/from-rank-{rank}"} if rank == 0 else None)
        assert chosen == {"run_dir": "runs/from-rank-0"}
        x = torch.full((2, 3), float(rank + 1))
        m = D.all_reduce_mean(x)
        assert torch.allclose(m, torch.full((2, 3), 1.5)) and torch.all(x == rank + 1)
        assert D.all_gather_objects(("rank", rank)) == [("rank", 0), ("rank", 1)]
    finally:
        D.cleanup()
    assert not dist.is_initialized()


def test_two_process_gloo():
    mp.spawn(_worker, args=(2, _free_port()), nprocs=2, join=True)
