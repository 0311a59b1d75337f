"""The classifiers a modality trains to score its samples (the digits CNN, the spoken-digit CNN): one
base class, one training loop and one accuracy.

A scorer is ``body`` (inputs → features, the space Fréchet distances are measured in) followed by
``head`` (features → class logits, for IS-like scores). It is trained by :func:`train_scorer` once per
data configuration and cached (:func:`modalities.shared.cached_model.cached_model`).
"""

from __future__ import annotations

import math
from typing import Callable

import torch
import torch.nn.functional as F
from torch import Tensor, nn

__all__ = ["Scorer", "train_scorer", "accuracy"]


class Scorer(nn.Module):
    """``features`` = body(x) (B, F); ``forward`` = head(body(x)), logits (B, K). Subclasses build ``body`` and ``head``."""

    body: nn.Module
    head: nn.Module

    def features(self, x: Tensor) -> Tensor:
        return self.body(x)

    def forward(self, x: Tensor) -> Tensor:
        return self.head(self.body(x))


def train_scorer(
    model: nn.Module,
    x: Tensor,
    y: Tensor,
    augment: Callable[[Tensor, torch.Generator], Tensor],
    *,
    epochs: int,
    batch_size: int,
    lr: float,
    seed: int = 0,
    min_batch: int = 1,
) -> None:
    """Cross-entropy on ``augment(x[batch], generator)``, Adam with a one-cycle learning rate, ``epochs``
    passes in shuffled batches; a batch smaller than ``min_batch`` is skipped (BatchNorm needs 2 items)
    though its learning-rate step is taken. Deterministic for a seed (shuffles and augmentation draw from
    a generator of that seed, dropout from the seeded global RNG); the caller's global RNG state is left
    untouched. Leaves the model in eval mode."""
    g = torch.Generator().manual_seed(seed)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)  # dropout
        opt = torch.optim.Adam(model.parameters(), lr=lr)
        steps = epochs * math.ceil(len(x) / batch_size)
        sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=lr, total_steps=steps)
        model.train()
        for _ in range(epochs):
            for idx in torch.randperm(len(x), generator=g).split(batch_size):
                if len(idx) < min_batch:
                    sched.step()
                    continue
                loss = F.cross_entropy(model(augment(x[idx], g)), y[idx])
                opt.zero_grad(set_to_none=True)
                loss.backward()
                opt.step()
                sched.step()
    model.eval()


@torch.no_grad()
def accuracy(model: nn.Module, x: Tensor, y: Tensor, batch_size: int = 512) -> float:
    """Top-1 accuracy of ``model`` on inputs x (M, …) with labels y (M,), in eval mode (its mode is restored)."""
    was = model.training
    model.eval()
    acc = torch.cat([model(c).argmax(1) for c in x.split(batch_size)]).eq(y).double().mean().item()
    model.train(was)
    return acc
