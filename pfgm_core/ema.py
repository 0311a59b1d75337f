"""Exponential moving average (EMA) of model weights, EDM-style: the half-life is counted in training samples.

EDM (Karras et al. 2022) specifies the EMA by a half-life in images seen rather than a per-step decay,
so the averaging horizon does not change when the batch size does:

    beta = 0.5 ** (batch_size / halflife_nimg)          (per update)

After ``halflife_nimg`` samples at constant beta the distance between the EMA and a fixed target halves.
An optional ramp-up caps the half-life at ``cur_nimg * rampup_ratio`` so that early in training the EMA
follows the model closely instead of remembering the random initialisation for 500k samples.
"""

from __future__ import annotations

import copy
from typing import Any

import torch
from torch import nn

from .errors import ConfigError

__all__ = ["EMA", "unwrap_model"]


def unwrap_model(model: nn.Module) -> nn.Module:
    """Return the plain module inside DDP / DataParallel / ``torch.compile`` wrappers.

    The EMA must mirror the user's module itself: parameter names of a DDP wrapper carry a ``module.``
    prefix and a compiled module's carry ``_orig_mod.``, neither of which the sampler would expect.
    """
    while True:
        if isinstance(model, (nn.parallel.DistributedDataParallel, nn.DataParallel)):
            model = model.module
        elif hasattr(model, "_orig_mod") and isinstance(getattr(model, "_orig_mod"), nn.Module):
            model = model._orig_mod  # torch.compile's OptimizedModule
        else:
            return model


class EMA:
    """A frozen copy of a model whose weights track the live model as an exponential moving average.

    Args:
        model: the live model (may be DDP-wrapped or compiled; the plain module is copied).
        halflife_kimg: EMA half-life in thousands of training samples (EDM default 500 → 500k samples).
        rampup_ratio: if not None, the effective half-life is ``min(halflife, cur_nimg * rampup_ratio)``.

    The copy is put in eval mode with ``requires_grad=False``; use ``ema.model`` for sampling/evaluation.
    Parameters are averaged; buffers (e.g. BatchNorm statistics) are copied from the live model.
    """

    def __init__(self, model: nn.Module, halflife_kimg: float = 500.0, rampup_ratio: float | None = 0.05) -> None:
        if halflife_kimg < 0:
            raise ConfigError(f"EMA halflife_kimg must be >= 0, got {halflife_kimg}")
        if rampup_ratio is not None and rampup_ratio < 0:
            raise ConfigError(f"EMA rampup_ratio must be >= 0 or None, got {rampup_ratio}")
        self.halflife_kimg = float(halflife_kimg)
        self.rampup_ratio = None if rampup_ratio is None else float(rampup_ratio)
        self.model: nn.Module = copy.deepcopy(unwrap_model(model)).eval().requires_grad_(False)

    def halflife_nimg(self, cur_nimg: int) -> float:
        """Effective half-life in samples at training progress ``cur_nimg`` (samples seen before this update)."""
        halflife = self.halflife_kimg * 1000.0
        if self.rampup_ratio is not None:
            halflife = min(halflife, cur_nimg * self.rampup_ratio)
        return halflife

    def beta(self, cur_nimg: int, batch_size: int) -> float:
        """Per-update decay: the weight kept on the old EMA value. 0 means "copy the model"."""
        return 0.5 ** (batch_size / max(self.halflife_nimg(cur_nimg), 1e-8))

    @torch.no_grad()
    def update(self, model: nn.Module, cur_nimg: int, batch_size: int) -> float:
        """Move the EMA towards ``model``: ``ema = beta * ema + (1 - beta) * param``; buffers are copied.

        Args:
            model: the live model (DDP-wrapped is fine).
            cur_nimg: samples seen before this batch (as in EDM's training loop; 0 on the first step,
                which with the ramp-up gives beta = 0, i.e. the EMA starts as an exact copy).
            batch_size: global batch size of this step (summed over ranks).

        Returns:
            The beta used.
        """
        beta = self.beta(cur_nimg, batch_size)
        src = unwrap_model(model)
        src_params = dict(src.named_parameters())
        src_buffers = dict(src.named_buffers())
        for name, p_ema in self.model.named_parameters():
            p = src_params.get(name)
            if p is None:
                raise KeyError(f"EMA.update: parameter {name!r} is missing from the live model")
            # lerp_(end, w) = self + w * (end - self) = (1 - w) * self + w * end
            p_ema.lerp_(p.detach().to(device=p_ema.device, dtype=p_ema.dtype), 1.0 - beta)
        for name, b_ema in self.model.named_buffers():
            b = src_buffers.get(name)
            if b is None:
                raise KeyError(f"EMA.update: buffer {name!r} is missing from the live model")
            b_ema.copy_(b.detach())
        return beta

    def state_dict(self) -> dict[str, Any]:
        """Plain-typed state (loadable with ``torch.load(weights_only=True)``):
        ``{"model": <module state dict>, "halflife_kimg": float, "rampup_ratio": float | None}``."""
        return {
            "model": self.model.state_dict(),
            "halflife_kimg": self.halflife_kimg,
            "rampup_ratio": self.rampup_ratio,
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore from :meth:`state_dict` output, or from a bare module state dict (e.g. exported weights)."""
        if "model" in state and isinstance(state["model"], dict):
            self.model.load_state_dict(state["model"])
            self.halflife_kimg = float(state.get("halflife_kimg", self.halflife_kimg))
            rr = state.get("rampup_ratio", self.rampup_ratio)
            self.rampup_ratio = None if rr is None else float(rr)
        else:
            self.model.load_state_dict(state)
