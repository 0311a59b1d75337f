"""Class labels as a sample-time option: a label given by name or index, and the labels a blank carries.

Images and audio clips (and any class-conditional modality) take ``modality.label=<name or index>``;
without it, labels are drawn uniformly. They are drawn either way, so sample i's noise does not depend
on whether a label was fixed.
"""

from __future__ import annotations

from typing import Sequence

import torch
from torch import Tensor

from pfgm.core.errors import ConfigError

__all__ = ["label_index", "blank_labels"]


#: the label a CFG-trained model reads as "no label" (the U-Net's extra embedding row)
NULL_LABEL = -1


def label_index(label: int | str | None, class_cond: bool, classes: Sequence[str]) -> int | None:
    """The class index ``label`` names (a class name first: folders may be named "10"), or None if unset;
    ``"none"`` is the classifier-free-guidance null label (−1): a CFG-trained model sampled unconditionally.

    Raises ValueError naming the option when the model is unconditional or the label is not a class.
    """
    if label is None:
        return None
    if not class_cond:
        raise ConfigError("modality.label needs a class-conditional model (class_cond: true); this one is not")
    names = list(classes)
    if isinstance(label, str) and label in names:
        return names.index(label)
    if isinstance(label, str) and label.lower() == "none":
        return NULL_LABEL
    try:
        i = int(label)
    except (TypeError, ValueError):
        raise ConfigError(f"modality.label {label!r} is not a class; classes: {names}") from None
    if not 0 <= i < len(names):
        raise ConfigError(f"modality.label must be a class index in [0, {len(names)}) or a class name, got {label!r}")
    return i


def blank_labels(num: int, num_classes: int, fixed: int | None, generator: torch.Generator) -> Tensor:
    """(num,) long labels: drawn uniformly with ``generator`` (always, to keep the stream), then ``fixed`` if set."""
    cond = torch.randint(0, num_classes, (num,), generator=generator, device=generator.device)
    return cond if fixed is None else torch.full_like(cond, fixed)
