"""Feynman-Kac steering: sample the model's law tilted by a reward, p(x)·exp(λ·r(x)) / Z.

Singhal et al. 2025, "A general framework for inference-time scaling and steering of diffusion
models": each sample is k particles that the solver moves together. After a solver step the
particles of one sample are resampled (multinomially, within the sample's group) with weights

    w_i = exp(λ·(r(x̂_i) − r(x̂_{i−1}))),     x̂_i = D(x_i, σ_i), the denoised estimate,

and a last resampling with the reward of the clean output picks the sample. The weights telescope
to exp(λ·r(x_0)), so as k grows the picked sample follows the tilted law (tested against the
oracle denoiser of two points, whose tilted law is closed form); intermediate potentials only
steer the particles early toward where the reward will be high. k = 1 is the plain sampler.

Which reward is the user's to say, and the result is the tilted law, not the model's: e.g. an RNA
family tilted toward sequences whose target structure is stable (the sequences modality's
``reward``, ViennaRNA's energies). Report it beside the plain sampler's numbers.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable

import torch
from torch import Tensor

from .errors import ConfigError

__all__ = ["Steering", "Resampler", "group_resample", "check_lambda"]

Potential = Callable[[Tensor, "Tensor | None"], Tensor]


def check_lambda(lam: float) -> None:
    if not (math.isfinite(lam) and lam >= 0):
        raise ConfigError(f"steering lambda (sampler.steer_lambda) must be a finite number ≥ 0, got {lam!r}")


@dataclass
class Steering:
    """potential(denoised (B, *shape), mask or None) → reward (B,); ``particles`` per sample (the
    batch holds them as consecutive rows); ``lam`` λ; resampling only at σ_next ≤ ``sigma_max``."""

    potential: Potential
    particles: int
    lam: float = 1.0
    sigma_max: float = math.inf

    def __post_init__(self) -> None:
        if isinstance(self.particles, bool) or not isinstance(self.particles, int) or self.particles < 1:
            raise ConfigError(f"steering particles must be a whole number ≥ 1, got {self.particles!r}")
        check_lambda(self.lam)

    def reward(self, x: Tensor, mask: Tensor | None) -> Tensor:
        r = torch.as_tensor(self.potential(x, mask), dtype=torch.float64).reshape(-1).cpu()
        if r.numel() != x.shape[0] or not bool(torch.isfinite(r).all()):
            raise ValueError(f"the steering potential must give one finite reward per row ({x.shape[0]}), got {r.tolist()[:8]}…")
        return r


class Resampler:
    """The resampling of one steered solve; it picks rows and never touches the solver's state.

    ``reward`` (B,) float64 is each row's r at its last resampling (0 before the first), so the
    log-weights λ·(r_i − r_{i−1}) of the docstring above need no history. The caller moves its
    rows, and whatever it keeps per row (a self-conditioning estimate), to the indices returned.
    """

    def __init__(self, steering: Steering, batch: int, mask: Tensor | None, generator: torch.Generator | None):
        self.steering, self.mask, self.generator = steering, mask, generator
        self.reward = torch.zeros(batch, dtype=torch.float64)

    def _resample(self, x: Tensor) -> Tensor:
        r = self.steering.reward(x, self.mask)
        # log w_i = λ·(r_i − r_{i−1}): the weights of the module docstring
        rows = group_resample(self.steering.lam * (r - self.reward), self.steering.particles, self.generator)
        self.reward = r[rows]
        return rows

    def after_step(self, denoised: Tensor, sigma_next: float) -> Tensor | None:
        """(B,) rows to continue from after a step to σ_next, weighed by the reward of ``denoised``
        (B, *shape), the step's estimate; None where σ_next is outside (0, sigma_max] (no resampling:
        at σ_next = 0 :meth:`final` does it on the output itself)."""
        if not 0 < sigma_next <= self.steering.sigma_max:
            return None
        return self._resample(denoised)

    def final(self, x: Tensor) -> Tensor:
        """(B,) rows of the output x (B, *shape) at σ = 0: the last resampling, by the reward of x."""
        return self._resample(x)


def group_resample(log_w: Tensor, k: int, generator: torch.Generator | None = None) -> Tensor:
    """(G·k,) log-weights → (G·k,) row indices: k draws with replacement among each group's k rows."""
    G = log_w.numel() // k
    if G * k != log_w.numel():
        raise ValueError(f"{log_w.numel()} rows are not whole groups of {k} particles")
    p = torch.softmax(log_w.reshape(G, k).to(torch.float64), dim=1)
    dev = generator.device if generator is not None else p.device
    pick = torch.multinomial(p.to(dev), k, replacement=True, generator=generator).cpu()
    return (pick + torch.arange(G).unsqueeze(1) * k).flatten()
