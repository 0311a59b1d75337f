"""Training sets of images held as uint8 and turned into floats in [-1, 1] a batch at a time.

CIFAR-10 is 150 MB as bytes and 600 MB as float32; FFHQ-64 860 MB and 3.4 GB. Keeping the bytes and
converting per batch (x = u8/127.5 − 1) costs nothing measurable and fits large sets in memory.

* :class:`StoredImages` — no augmentation: ``take(idx)`` batches by fancy indexing (the trainer's
  fast path), like :class:`~modalities.base.EncodedDataset`.
* :class:`AugmentedImages` — EDM's augmentation per item: ``item(index, seed)`` (the trainer streams
  it through a DataLoader, ``trainer.num_workers`` workers, the seed a function of run seed, step and
  position, so runs resume bit for bit). ``cond`` is the float row [label,] augmentation label.
"""

from __future__ import annotations

import torch
from torch import Tensor

from ..base import Encoded
from .augment import EDMAugment

__all__ = ["StoredImages", "AugmentedImages", "to_unit"]


def to_unit(u8: Tensor) -> Tensor:
    """uint8 (…) → float32 in [-1, 1]: 0 ↦ −1, 255 ↦ 1."""
    return u8.to(torch.float32) / 127.5 - 1.0


class StoredImages(torch.utils.data.Dataset):
    """images uint8 (M, C, S, S); labels (M,) long or None (given as cond when ``class_cond``)."""

    def __init__(self, images: Tensor, labels: Tensor | None = None):
        if images.dtype != torch.uint8 or images.dim() != 4:
            raise ValueError(f"expected uint8 images (M, C, S, S), got {images.dtype} {tuple(images.shape)}")
        self.images, self.labels = images, labels

    def __len__(self) -> int:
        return self.images.shape[0]

    def __getitem__(self, i: int) -> Encoded:
        return Encoded(to_unit(self.images[i]), None, None if self.labels is None else self.labels[i])

    def take(self, idx: Tensor) -> Encoded:
        return Encoded(to_unit(self.images[idx]), None, None if self.labels is None else self.labels[idx])


class AugmentedImages(torch.utils.data.Dataset):
    """The same images, each drawn through :class:`EDMAugment` with a generator seeded by the item's seed."""

    def __init__(self, images: Tensor, labels: Tensor | None, augment: EDMAugment):
        self.stored = StoredImages(images, labels)
        self.augment = augment

    def __len__(self) -> int:
        return len(self.stored)

    def item(self, index: int, seed: int) -> Encoded:
        g = torch.Generator().manual_seed(int(seed))
        x, aug = self.augment(to_unit(self.stored.images[index])[None], g)
        cond = aug[0]
        if self.stored.labels is not None:
            cond = torch.cat([self.stored.labels[index].reshape(1).to(cond.dtype), cond])
        return Encoded(x[0], None, cond)
