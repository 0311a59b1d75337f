"""Region redesign (inpainting) for every modality: keep known entries, generate the free ones.

A PFGM++ sample at noise level σ is one t-draw around the data, x = y + σ·s·g with ONE scale
s = 1/√(u/D), u ~ χ²_D, per sample (see kernel.py). To regenerate only the free entries of a
template y*, the known entries are held on their own perturbation at every σ of the solve,

    x_known(σ) = y*_known + σ·s·g_known,

with the sample's own s (drawn together with the prior) and a g_known fixed for the whole solve;
the solver moves only the free entries. Then (x_known, x_free) at σ_max is exactly a draw of the
kernel around (y*_known, 0) — the prior — and as σ → 0 the denoiser conditions on y*_known. A fresh
scale for the known part would make the joint draw a different distribution when D is finite
(the two halves would not share one χ² variable); at D = ∞, s = 1 and this is RePaint-style
replacement without resampling.

Use with any solver of :mod:`pfgm_core.solvers`:

    x0, state = redesign_init(kernel, known, fixed, mask, sigma_max, generator)
    x = redesign_sample(denoiser, x0, sigmas, state, solver="heun", mask=mask)

or wrap the model yourself, ``KeepKnown(model, state)``, for a solver function called directly.

The known entries are put back on the solver's rows, before classifier-free guidance doubles the
batch (``solvers.sample(..., wrap=...)``): both halves of a guided call, conditional and not, see
the same reset x, as in a guided solve without redesign.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

import torch
from torch import Tensor

from .kernel import PFGMKernel, as_batch_sigma
from .solvers import sample

__all__ = ["RedesignState", "KeepKnown", "redesign_init", "redesign_sample"]


@dataclass
class RedesignState:
    """What a redesign solve carries. known, fixed, g_known: (B, *shape) float64; s: (B,) float64.

    fixed is 1 where the entry is known (x holds y* there), 0 where it is generated; g_known is the
    Gaussian part of the known entries' noise (zero on free and padded entries).
    """

    known: Tensor
    fixed: Tensor
    s: Tensor
    g_known: Tensor

    def to(self, device) -> "RedesignState":
        return RedesignState(*(t.to(device) for t in (self.known, self.fixed, self.s, self.g_known)))

    def reset(self, x: Tensor, sigma: float | Tensor) -> Tensor:
        """x (B, *shape) with its known entries set to y*_known + σ·s·g_known (σ scalar or (B,)); x's dtype."""
        B = x.shape[0]
        if B != self.s.shape[0]:  # e.g. a guided batch (2B rows): reset before it is built, see redesign_sample
            raise ValueError(
                f"x has {B} rows but the redesign state {self.s.shape[0]}: put the known entries back "
                "on the solver's rows (solvers.sample(..., wrap=...), as redesign_sample does)"
            )
        sig = as_batch_sigma(sigma, B, x.dim(), x.device) * self.s.reshape(B, *([1] * (x.dim() - 1)))
        on_path = self.known + sig * self.g_known
        x64 = x.to(torch.float64)
        return torch.where(self.fixed > 0, on_path, x64).to(x.dtype)


class KeepKnown:
    """A model for the solvers whose input has the known entries put back on their path first.

    model(x (B, *shape), sigma, **kw) → denoised, one row per row of the state; the wrapper has the same
    signature, so it works as ``solvers.sample``'s ``wrap`` layer (kw: self_cond) and as the model of a
    solver function called directly.
    The free entries of the solver's state move as usual; the known entries of that state are never
    read by the network (each call resets them), and :func:`redesign_sample` sets them to y* at the end.
    """

    def __init__(self, model: Callable[..., Tensor], state: RedesignState):
        self.model, self.state = model, state

    @property
    def self_condition(self) -> bool:
        return bool(getattr(self.model, "self_condition", False))

    def __call__(self, x: Tensor, sigma: float | Tensor, **kw: Any) -> Tensor:
        return self.model(self.state.reset(x, sigma), sigma, **kw)


def _check(known: Tensor, fixed: Tensor, mask: Tensor | None) -> None:
    if fixed.shape != known.shape:
        raise ValueError(f"fixed {tuple(fixed.shape)} must have the shape of known {tuple(known.shape)}")
    if mask is not None and mask.shape != known.shape:
        raise ValueError(f"mask {tuple(mask.shape)} must have the shape of known {tuple(known.shape)}")
    if not bool(((fixed == 0) | (fixed == 1)).all()):
        raise ValueError("fixed must be a 0/1 tensor (1 = known entry)")


@torch.no_grad()
def redesign_init(
    kernel: PFGMKernel,
    known: Tensor,
    fixed: Tensor,
    mask: Tensor | None,
    sigma_max: float,
    generator: torch.Generator | None = None,
) -> tuple[Tensor, RedesignState]:
    """The prior draw for a redesign and the state that keeps the known entries on their path.

    known: (B, *shape), the template (only entries with fixed = 1 are read); fixed: 0/1 like known;
    mask: like known (1 = real entry) or None. One s per sample from ``kernel.scale`` and one
    g ~ N(0, I) per entry, both from ``generator``:  x_init = fixed·y* + σ_max·s·g  (masked).
    Returns x_init in known's dtype and the :class:`RedesignState`.
    """
    _check(known, fixed, mask)
    B = known.shape[0]
    s = kernel.scale(B, generator, known.device)
    g = torch.randn(known.shape, generator=generator, dtype=torch.float64, device=known.device)
    f64 = fixed.to(torch.float64)
    if mask is not None:
        m64 = mask.to(torch.float64)
        g = g * m64
        f64 = f64 * m64  # a padded entry is neither known nor free: it stays 0
    y = known.to(torch.float64) * f64
    k = (s * float(sigma_max)).reshape(B, *([1] * (known.dim() - 1)))
    x_init = y + k * g
    return x_init.to(known.dtype), RedesignState(y, f64, s, g * f64)


@torch.no_grad()
def redesign_sample(
    denoiser: Callable[..., Tensor], x_init: Tensor, sigmas: Tensor, state: RedesignState, solver: str = "heun", **solver_kw: Any
) -> Tensor:
    """Solve from ``x_init`` (from :func:`redesign_init`) with the known entries held on their path.

    Same arguments as :func:`pfgm_core.solvers.sample` (mask, cond, guidance, churn, ...). The result
    holds exactly y* on the known entries and the solved values on the free ones; x_init's dtype.
    """
    state = state.to(x_init.device)
    # KeepKnown as sample's wrap layer, inside the guidance: it sees the B solver rows, not guidance's 2B
    x = sample(denoiser, x_init, sigmas, solver, wrap=lambda net: KeepKnown(net, state), **solver_kw)
    out = torch.where(state.fixed > 0, state.known, x.to(torch.float64))
    mask = solver_kw.get("mask")
    if mask is not None:
        out = out * mask.to(torch.float64)
    return out.to(x_init.dtype)
