"""The trainer's streaming path: a data set with item(index, seed) (per-step augmentation) goes through a
DataLoader; the augmentation seed is a function of (seed, step, position), so workers and resumes change nothing."""

from __future__ import annotations

from pathlib import Path

import torch
from torch import nn

from pfgm.modalities.base import Encoded, Evaluation, Modality, register_modality
from pfgm.core.checkpoint import latest_state_path, load_state
from pfgm.recipes.cli import compose
from pfgm.recipes.train import run_training


class _Net(nn.Module):
    def __init__(self, hidden: int = 16):
        super().__init__()
        self.f = nn.Sequential(nn.Linear(8 + 1, hidden), nn.SiLU(), nn.Linear(hidden, 8))

    def forward(self, x, c_noise, cond=None, mask=None):
        return self.f(torch.cat([x, c_noise[:, None]], 1))


class RandomCrops:
    """64 long signals; each item is a random 8-sample crop, the crop drawn from the item's seed."""

    def __init__(self):
        self.signals = torch.randn(64, 32, generator=torch.Generator().manual_seed(0))
        self.seen: list[tuple[int, int]] = []

    def __len__(self) -> int:
        return len(self.signals)

    def item(self, index: int, seed: int) -> Encoded:
        self.seen.append((index, seed))
        start = int(torch.randint(0, 25, (1,), generator=torch.Generator().manual_seed(seed)))
        return Encoded(self.signals[index, start : start + 8])


# not the shared toy (tests/fixtures/toy_modality.py): the path under test needs a data set that streams items by (index, seed)
@register_modality("crops_stream_test")
class Crops(Modality):
    def __init__(self, n: int = 64):
        self.n = n

    def dataset(self, split="train"):
        return RandomCrops()

    def backbone(self, hidden: int = 16):
        return _Net(hidden)

    def blank(self, num, generator):
        return Encoded(torch.zeros(num, 8))

    def decode(self, x, mask=None, cond=None):
        return list(x)

    def write(self, objects, out: Path):
        return []

    def evaluate(self, objects, samples=None):
        return Evaluation()


def _cfg(run_dir: Path, **trainer) -> dict:
    cfg = compose("train", ["recipe=digits"])
    cfg.update(modality={"name": "crops_stream_test"}, backbone={"hidden": 16}, run_dir=str(run_dir))
    cfg["pfgm"]["sigma_data"] = 1.0
    cfg["trainer"].update(
        dict(max_steps=6, batch_size=16, progress=False, preview_every=0, warmup_steps=1, log_every=2, ckpt_every=3), **trainer
    )
    return cfg


def _weights(run_dir: Path) -> dict:
    return load_state(latest_state_path(run_dir))["model"]


def test_streaming_is_independent_of_workers_and_resumes_bit_exactly(tmp_path):
    run_training(_cfg(tmp_path / "a"))
    run_training(_cfg(tmp_path / "w", num_workers=2))
    run_training(_cfg(tmp_path / "r", stop_after=3))
    run_training({**_cfg(tmp_path / "r"), "resume": True})
    a, w, r = _weights(tmp_path / "a"), _weights(tmp_path / "w"), _weights(tmp_path / "r")
    for k in a:
        assert torch.equal(a[k], w[k]), k
        assert torch.equal(a[k], r[k]), k


def test_augmentation_seeds_differ_across_steps_and_positions():
    from pfgm.core.trainer import item_seed

    seeds = {item_seed(0, s, p) for s in range(50) for p in range(64)}
    assert len(seeds) == 50 * 64
    assert item_seed(1, 3, 5) == item_seed(1, 3, 5) != item_seed(2, 3, 5)
