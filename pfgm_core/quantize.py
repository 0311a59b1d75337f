"""Post-training weight quantization, as in PFGM++'s robustness study (Xu et al. 2023, §5.3).

Every weight with more than one dimension is rounded to 2^b evenly spaced levels between its own
minimum and maximum (per-tensor min–max), then stored back in floating point ("fake quantization":
the network runs unchanged, only the values it can hold are coarser). Norms, biases and embedding
tables are kept: they are small, and quantizing them measures the lookup rather than the field.
"""

from __future__ import annotations

from torch import Tensor, nn

from .errors import ConfigError

__all__ = ["quantize_tensor", "quantized_state_dict"]


def quantize_tensor(w: Tensor, bits: int) -> Tensor:
    """``w`` rounded to the 2^bits levels min + k·(max − min)/(2^bits − 1), k = 0 … 2^bits − 1.

    A constant tensor is returned unchanged (its one level is exact)."""
    if isinstance(bits, bool) or not isinstance(bits, int) or bits < 2:
        raise ConfigError(f"bits must be a whole number ≥ 2, got {bits!r}")
    lo, hi = w.min(), w.max()
    if not bool(hi > lo):
        return w.clone()
    levels = 2**bits - 1
    step = (hi - lo) / levels
    # float error can push (w − lo)/step a hair past the top level; the clamp keeps it on the grid
    k = ((w - lo) / step).round().clamp_(0, levels)
    return (lo + k * step).to(w.dtype)


def quantized_state_dict(model: nn.Module, bits: int) -> dict[str, Tensor]:
    """The state dict of ``model`` with every weight of ndim > 1 quantized to ``bits``; biases,
    norm scales (1-D) and the tables of ``nn.Embedding`` modules are copied as they are."""
    embeddings = {f"{name}.weight" if name else "weight" for name, m in model.named_modules() if isinstance(m, nn.Embedding)}
    out = {}
    for name, t in model.state_dict().items():
        keep = t.ndim <= 1 or name in embeddings or not t.is_floating_point()
        out[name] = t.detach().clone() if keep else quantize_tensor(t.detach(), bits)
    return out
