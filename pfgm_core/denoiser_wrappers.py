"""The denoiser as the solvers see it, built from small wrappers around the network.

The solvers call ``model(x, σ)`` with x (B, *shape) float64 and σ a Python float and want a float64
estimate back (solvers.py). A network wants its own dtype, σ as a tensor, and maybe a condition, a
mask and its own previous estimate. :func:`pfgm_core.solvers.sample` bridges the two by nesting,
inside out:

    denoiser(x, σ, cond=…, mask=…, self_cond=…)    the network, in its own dtype
    guided(denoiser, cond, w, mask)                classifier-free guidance, one batched call
    wrap(…)                                        the caller's own layer, if any (redesign.KeepKnown)
    SelfConditioned(…)                             feeds back the previous estimate
    in_net_dtype(…, dtype)                         float64 ⇄ the network's dtype, σ float → (B,)
    Counted(…)                                     counts the calls (the NFE)

Each takes a callable and is one, so any layer can be left out or tested alone.
"""

from __future__ import annotations

from typing import Callable

import torch
from torch import Tensor

from .loss import null_cond

__all__ = ["guided", "SelfConditioned", "in_net_dtype", "Counted"]


def guided(denoiser: Callable[..., Tensor], cond: Tensor, guidance: float, mask: Tensor | None = None) -> Callable[..., Tensor]:
    """Classifier-free guidance (Ho & Salimans 2022): D = D_u + w·(D_c − D_u), w = ``guidance``.

    Returns guided(x (B, *shape), σ (B,), self_cond=None) → (B, *shape) float64. Both estimates come
    from ONE call of denoiser(x (2B, *shape), σ (2B,), cond=…, mask=…) on the batch twice over: the
    first half with ``cond`` ((B,) labels or (B, k) floats), the second with the "none" condition the
    training dropped to (−1 / NaN, see loss.null_cond). ``mask`` (like x or None) and ``self_cond``
    (like x, when given) go to both halves.
    """
    both_cond = torch.cat([cond, null_cond(cond, torch.ones(cond.shape[0], dtype=torch.bool))])
    both_mask = None if mask is None else torch.cat([mask, mask])

    def guided_denoiser(x: Tensor, sigma: Tensor, self_cond: Tensor | None = None) -> Tensor:
        kw = {} if self_cond is None else {"self_cond": self_cond.repeat(2, *([1] * (x.dim() - 1)))}
        both = denoiser(torch.cat([x, x]), torch.cat([sigma, sigma]), cond=both_cond, mask=both_mask, **kw)
        # in float64: D_c − D_u is a small difference of two close estimates
        d_c, d_u = both.to(torch.float64).chunk(2)
        return d_u.add_(d_c.sub_(d_u), alpha=guidance)

    return guided_denoiser


class SelfConditioned:
    """A self-conditioning denoiser fed its own previous estimate (Chen et al. 2023, "Analog Bits").

    Calls denoiser(x (B, *shape), σ (B,), self_cond=…) with ``self_cond`` (B, *shape) in x's dtype:
    zeros on the first call (training's "no estimate yet"), then the previous call's output. That
    output is the estimate the sampler follows, so when the denoiser is :func:`guided` it is the
    guided one. ``previous`` holds it between calls; :meth:`reorder` keeps it with its rows.
    """

    def __init__(self, denoiser: Callable[..., Tensor]):
        self.denoiser = denoiser
        self.previous: Tensor | None = None

    def __call__(self, x: Tensor, sigma: Tensor) -> Tensor:
        feed = torch.zeros_like(x) if self.previous is None else self.previous
        den = self.denoiser(x, sigma, self_cond=feed)
        # a copy: the estimate returned goes on to the solver, which may work on it in place
        self.previous = den.to(x.dtype, copy=True)
        return den

    def reorder(self, rows: Tensor) -> None:
        """After the caller resamples its batch to x[rows] ((B,) indices): previous ← previous[rows]."""
        if self.previous is not None:
            self.previous = self.previous[rows.to(self.previous.device)]


def in_net_dtype(denoiser: Callable[[Tensor, Tensor], Tensor], dtype: torch.dtype) -> Callable[[Tensor, float], Tensor]:
    """The solvers' model from denoiser(x, σ): x (B, *shape) float64 and σ a float in, float64 out.

    The denoiser gets x in ``dtype`` (the network's, e.g. float32) and σ as a (B,) tensor of that
    dtype (float32 when ``dtype`` is not a float type); the step arithmetic stays in float64.
    """
    sigma_dtype = dtype if dtype.is_floating_point else torch.float32

    def model(x: Tensor, sigma: float) -> Tensor:
        s = torch.full((x.shape[0],), sigma, dtype=sigma_dtype, device=x.device)
        return denoiser(x.to(dtype), s).to(torch.float64)

    return model


class Counted:
    """model(x, σ) unchanged, with the number of calls so far in ``calls`` (the NFE of a solve)."""

    def __init__(self, model: Callable[..., Tensor]):
        self.model = model
        self.calls = 0

    def __call__(self, x: Tensor, sigma: float) -> Tensor:
        self.calls += 1
        return self.model(x, sigma)
