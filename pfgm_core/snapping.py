"""Snapping the denoised estimate to the nearest clean data point late in sampling (categorical data).

Diffusion-LM's "clamping trick" (Li et al. 2022, Sec. 4.2): below a noise level σ_snap, every
denoiser output D(x; σ) is replaced by the nearest point the data can take (for one-hot data the
argmax vertex). The probability-flow step then moves towards a definite symbol sequence, not
towards a blend of several.

Measured (docs/sequences.md, "Snapping"), it acts as a temperature. On CDR3s it closes the OLGA
Pgen gap by collapsing onto the commonest germline stretches, and diversity falls. On RNA hairpins
it lowers the fold-to-target rate. So it is off unless asked for (``sampler.snap_below``), and no
recipe sets it.

The core stays modality-agnostic: the projection comes from the modality (``Modality.snap``).
Above σ_snap the denoiser is untouched, so σ_snap = 0 is the plain sampler.
"""

from __future__ import annotations

from typing import Any, Callable

from torch import Tensor

__all__ = ["SnappedDenoiser"]

Snap = Callable[[Tensor, "Tensor | None"], Tensor]


class SnappedDenoiser:
    """denoiser(x, σ, **kw), with the output projected by ``snap(d, mask)`` wherever σ < ``below``.

    σ is the per-sample tensor (B,) the solvers pass; rows at or above ``below`` are left as they are.
    Attributes the solvers read (``self_condition``) pass through, so the self-conditioning
    feedback sees the snapped estimate, as Diffusion-LM's clamped x̂₀ feeds its next step.
    """

    def __init__(self, denoiser: Callable[..., Tensor], snap: Snap, below: float):
        if not below > 0:
            raise ValueError(f"sampler.snap_below must be > 0 to snap at all, got {below}")
        self.denoiser, self.snap, self.below = denoiser, snap, float(below)

    def __getattr__(self, name: str) -> Any:  # self_condition and the like come from the wrapped net
        if name == "denoiser":  # not set yet (copy, unpickling): no recursion through __getattr__
            raise AttributeError(name)
        return getattr(self.denoiser, name)

    def __call__(self, x: Tensor, sigma: Tensor, **kw: Any) -> Tensor:
        d = self.denoiser(x, sigma, **kw)
        low = sigma.reshape(-1) < self.below
        if not bool(low.any()):
            return d
        snapped = self.snap(d, kw.get("mask"))
        rows = low.view(-1, *([1] * (d.dim() - 1)))
        return snapped.to(d.dtype).where(rows, d)
