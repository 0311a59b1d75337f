"""Projecting the denoised estimate inside a σ band: snapping (categorical data) and bridging (graphs).

Snapping is Diffusion-LM's "clamping trick" (Li et al. 2022, Sec. 4.2): below a noise level σ_snap,
every denoiser output D(x; σ) is replaced by the nearest point the data can take (for one-hot data
the argmax vertex). The probability-flow step then moves towards a definite symbol sequence, not
towards a blend of several. Measured (docs/sequences.md, "Snapping"), it acts as a temperature. On
CDR3s it closes the OLGA Pgen gap by collapsing onto the commonest germline stretches, and diversity
falls. On RNA hairpins it lowers the fold-to-target rate. So it is off unless asked for
(``sampler.snap_below``), and no recipe sets it.

Bridging (``sampler.connect_sigma_min`` ≤ σ < ``sampler.connect_sigma_max``) joins the pieces of a
graph estimate that falls apart with one definite edge per call (``Modality.connect``), in the band
where connectivity is decided; the network then re-estimates the rest of the graph around it. It is
a constraint on the sampler, like inpainting one pair, not a fix-up of the final sample: a graph
that the network pulls apart again below the band stays apart.

The core stays modality-agnostic: the projection comes from the modality. Outside its band the
denoiser is untouched, so an empty band is the plain sampler.
"""

from __future__ import annotations

from typing import Any, Callable

from torch import Tensor

from .errors import ConfigError

__all__ = ["ProjectedDenoiser", "SnappedDenoiser"]

Project = Callable[[Tensor, "Tensor | None"], Tensor]


class ProjectedDenoiser:
    """denoiser(x, σ, **kw), with the output replaced by ``project(d, mask)`` where lo ≤ σ < hi.

    σ is the per-sample tensor (B,) the solvers pass; rows outside the band are left as they are.
    Attributes the solvers read (``self_condition``) pass through, so the self-conditioning
    feedback sees the projected estimate, as Diffusion-LM's clamped x̂₀ feeds its next step.
    """

    def __init__(self, denoiser: Callable[..., Tensor], project: Project, lo: float, hi: float):
        if not 0 <= lo < hi:
            raise ValueError(f"the σ band of a projection must have 0 ≤ lo < hi, got [{lo}, {hi})")
        self.denoiser, self.project, self.lo, self.hi = denoiser, project, float(lo), float(hi)

    def __getattr__(self, name: str) -> Any:  # self_condition and the like come from the wrapped net
        if name == "denoiser":  # not set yet (copy, unpickling): no recursion through __getattr__
            raise AttributeError(name)
        return getattr(self.denoiser, name)

    def __call__(self, x: Tensor, sigma: Tensor, **kw: Any) -> Tensor:
        d = self.denoiser(x, sigma, **kw)
        s = sigma.reshape(-1)
        band = (s >= self.lo) & (s < self.hi)
        if not bool(band.any()):
            return d
        projected = self.project(d, kw.get("mask"))
        rows = band.view(-1, *([1] * (d.dim() - 1)))
        return projected.to(d.dtype).where(rows, d)


class SnappedDenoiser(ProjectedDenoiser):
    """denoiser(x, σ, **kw), with the output projected by ``snap(d, mask)`` wherever σ < ``below``."""

    def __init__(self, denoiser: Callable[..., Tensor], snap: Project, below: float):
        if not below > 0:
            raise ConfigError(f"sampler.snap_below must be > 0 to snap at all, got {below}")
        super().__init__(denoiser, snap, 0.0, below)
