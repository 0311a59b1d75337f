"""Image modality for pfgm: scikit-learn digits and image folders, a DDPM++ U-Net, digit-classifier metrics.

Importing this package registers :class:`ImageModality` as ``modality: {name: images}``.
"""

from .modality import ImageModality

__all__ = ["ImageModality"]
