"""EDM's non-leaking geometric augmentation (Karras et al. 2022, App. F.2; after ADA, Karras et al. 2020).

Each training image is transformed with probability p per transform, and the network is told what
was done through a 9-number label (the backbone's ``augment_dim``); at sampling the label is zero,
so the model generates un-augmented images while training sees p-fold more variety:

    transform      drawn as                                     label entries
    x-flip         w ∈ {0, 1}                                    w
    y-flip         w ∈ {0, 1}                                    w
    scale          s = 2^(0.2·w), w ~ N(0, 1)                    w
    rotation       θ ~ U(−π, π)                                  cos θ − 1, sin θ
    anisotropy     s = 2^(0.2·w) along an angle r ~ U(−π, π)     w·cos r, w·sin r   (r = 0 with prob. ½)
    translation    t = 0.125·(W, H)·w, w ~ N(0, I₂)              w₀, w₁

(EDM's CIFAR-10 setting: p = 0.12, x-flip always drawn (probability multiplier 1e8), the others at p.)
A transform not drawn contributes zeros. The geometric ones compose into one inverse affine map per
image, applied by bicubic sampling at twice the resolution (reflection at the borders) and a 2×2 mean,
which band-limits the result as EDM's wavelet up/down-sampling does. Images whose map is the identity
are passed through untouched.

Randomness comes only from the ``generator`` given, so an item's augmentation is a function of its seed.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor

from pfgm.core.errors import ConfigError

__all__ = ["EDMAugment", "AUGMENT_DIM"]

#: label width of the full pipeline (x-flip, y-flip, scale, rotation ×2, anisotropy ×2, translation ×2)
AUGMENT_DIM = 9


def _rot(theta: Tensor) -> Tensor:
    """(B,) angles → (B, 3, 3) rotation matrices of homogeneous 2-D coordinates."""
    c, s = theta.cos(), theta.sin()
    z, o = torch.zeros_like(c), torch.ones_like(c)
    return torch.stack([c, -s, z, s, c, z, z, z, o], -1).reshape(-1, 3, 3)


def _scale(sx: Tensor, sy: Tensor) -> Tensor:
    z, o = torch.zeros_like(sx), torch.ones_like(sx)
    return torch.stack([sx, z, z, z, sy, z, z, z, o], -1).reshape(-1, 3, 3)


def _shift(tx: Tensor, ty: Tensor) -> Tensor:
    z, o = torch.zeros_like(tx), torch.ones_like(tx)
    return torch.stack([o, z, tx, z, o, ty, z, z, o], -1).reshape(-1, 3, 3)


class EDMAugment:
    """``aug(images (B, C, H, W) float, generator) → (images, labels (B, 9) float32)``.

    ``p`` is the overall probability multiplier; each ``*_mult`` scales it per transform (EDM: x-flip
    1e8, i.e. always drawn, the rest 1). Standard deviations as EDM's defaults.
    """

    def __init__(
        self,
        p: float = 0.12,
        xflip: float = 1e8,
        yflip: float = 1.0,
        scale: float = 1.0,
        rotate: float = 1.0,
        aniso: float = 1.0,
        translate: float = 1.0,
        scale_std: float = 0.2,
        aniso_std: float = 0.2,
        aniso_rotate_prob: float = 0.5,
        translate_std: float = 0.125,
    ):
        if not 0.0 <= float(p) <= 1.0:
            raise ConfigError(f"augmentation probability must be in [0, 1], got {p}")
        self.p = float(p)
        self.mult = dict(xflip=xflip, yflip=yflip, scale=scale, rotate=rotate, aniso=aniso, translate=translate)
        self.scale_std, self.aniso_std = float(scale_std), float(aniso_std)
        self.aniso_rotate_prob, self.translate_std = float(aniso_rotate_prob), float(translate_std)

    def _drawn(self, name: str, n: int, g: torch.Generator) -> Tensor:
        return torch.rand(n, generator=g, dtype=torch.float64) < min(self.mult[name] * self.p, 1.0)

    def __call__(self, images: Tensor, generator: torch.Generator) -> tuple[Tensor, Tensor]:
        B, _, H, W = images.shape
        g = generator
        f64 = dict(generator=g, dtype=torch.float64)
        zero = torch.zeros(B, dtype=torch.float64)

        # pixel blitting: flips are exact
        labels = []
        for name, dim in (("xflip", 3), ("yflip", 2)):
            w = torch.randint(0, 2, (B,), generator=g).to(torch.float64)
            w = torch.where(self._drawn(name, B, g), w, zero)
            images = torch.where(w.to(torch.bool).view(B, 1, 1, 1), images.flip(dim), images)
            labels.append(w)

        # the inverse map G⁻¹ (output pixel → source pixel, coordinates centred on the image)
        G = torch.eye(3, dtype=torch.float64).expand(B, 3, 3)
        w = torch.where(self._drawn("scale", B, g), torch.randn(B, **f64), zero)
        s = torch.exp2(w * self.scale_std)
        G = G @ _scale(1 / s, 1 / s)
        labels.append(w)

        w = torch.where(self._drawn("rotate", B, g), (torch.rand(B, **f64) * 2 - 1) * math.pi, zero)
        G = G @ _rot(w)
        labels += [w.cos() - 1, w.sin()]

        w = torch.where(self._drawn("aniso", B, g), torch.randn(B, **f64), zero)
        r = (torch.rand(B, **f64) * 2 - 1) * math.pi
        r = torch.where(torch.rand(B, **f64) < self.aniso_rotate_prob, r, zero)
        s = torch.exp2(w * self.aniso_std)
        G = G @ _rot(-r) @ _scale(1 / s, s) @ _rot(r)
        labels += [w * r.cos(), w * r.sin()]

        t = torch.randn(2, B, **f64)
        t = torch.where(self._drawn("translate", B, g)[None], t, torch.zeros_like(t))
        G = G @ _shift(-t[0] * W * self.translate_std, -t[1] * H * self.translate_std)
        labels += [t[0], t[1]]

        moved = (G - torch.eye(3, dtype=torch.float64)).abs().flatten(1).amax(1) > 1e-12
        if bool(moved.any()):
            idx = moved.nonzero().flatten()
            out = images.clone()
            out[idx] = self._warp(images[idx], G[idx])
            images = out
        return images, torch.stack(labels, 1).to(torch.float32)

    @staticmethod
    def _warp(images: Tensor, G: Tensor) -> Tensor:
        """Resample images (b, C, H, W) through inverse maps G (b, 3, 3): bicubic at 2× resolution, then 2×2 mean."""
        b, C, H, W = images.shape
        # sub-pixel centres of the 2× output grid, in source pixel units centred on the image
        ys = (torch.arange(2 * H, dtype=torch.float64) + 0.5) / 2 - H / 2
        xs = (torch.arange(2 * W, dtype=torch.float64) + 0.5) / 2 - W / 2
        yy, xx = torch.meshgrid(ys, xs, indexing="ij")
        pts = torch.stack([xx, yy, torch.ones_like(xx)], -1).reshape(-1, 3)  # (4HW, 3)
        src = torch.einsum("bij,pj->bpi", G, pts)[..., :2]  # (b, 4HW, 2)
        # grid_sample's normalised coordinates (align_corners=False): the image spans [-1, 1]
        grid = torch.stack([src[..., 0] * 2 / W, src[..., 1] * 2 / H], -1).reshape(b, 2 * H, 2 * W, 2)
        fine = F.grid_sample(
            images.to(torch.float32), grid.to(torch.float32), mode="bicubic", padding_mode="reflection", align_corners=False
        )
        return F.avg_pool2d(fine, 2).to(images.dtype)
