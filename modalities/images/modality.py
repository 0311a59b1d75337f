"""The image modality adapter: digits or image folders ⇄ tensors (C, H, W) in [-1, 1], U-Net backbone, PNG/npz output."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import torch
from torch import Tensor

from ..base import Encoded, EncodedDataset, Evaluation, Modality, register_modality
from ..shared.labels import blank_labels, label_index
from ..shared.records import LoadReport
from .data import DIGITS_SHAPE, load_digits_all, load_image_folder, split_indices
from ..shared.unet import UNet
from .writers import write_images

DATASETS = ("digits", "folder")


@register_modality("images")
class ImageModality(Modality):
    """Images as (C, H, W) float tensors in [-1, 1]; objects are uint8 numpy arrays (H, W, C).

    Options (the recipe's ``modality:`` block):
      dataset: "digits" (scikit-learn, 8×8 grayscale, 10 classes) or "folder" (``root``).
      root: the image folder; class subfolders give labels (sorted names → 0, 1, ...).
      image_size: folder images are resized (shorter side) and centre-cropped to this; default 32.
        Digits are 8×8 only.
      channels: 1 or 3; default: 1 for digits, for folders 1 if every image is grayscale else 3.
      class_cond: give the data set's labels as ``cond`` and sample uniformly drawn labels.
      label: with class_cond, sample this class (an index, or a class name) instead of drawn labels.
      skip_non_images: skip non-image files in the folder instead of raising.
      test_fraction, seed: the deterministic train/test split.
      classes: folder class names, pinned (filled in by :meth:`config`), so that a
        checkpoint can rebuild the modality for sampling without the folder present.

    ``evaluate`` computes classifier metrics for digits (see :mod:`.metrics`); for folder data it
    returns an empty dict (no offline feature network exists for arbitrary images).
    """

    def __init__(
        self,
        dataset: str = "digits",
        root: str | os.PathLike | None = None,
        image_size: int | None = None,
        channels: int | None = None,
        class_cond: bool = False,
        skip_non_images: bool = False,
        test_fraction: float = 0.15,
        seed: int = 0,
        classes: Sequence[str] | None = None,
        label: int | str | None = None,
    ):
        if dataset not in DATASETS:
            raise ValueError(f"unknown image data set {dataset!r}; expected one of {', '.join(DATASETS)}")
        if channels not in (None, 1, 3):
            raise ValueError(f"channels must be 1, 3 or null (infer), got {channels!r}")
        if dataset == "digits":
            if root is not None:
                raise ValueError("modality.root is only used with dataset='folder' (digits ship with scikit-learn)")
            if image_size not in (None, DIGITS_SHAPE[1]) or channels not in (None, 1):
                raise ValueError(f"digits are 1×8×8; got image_size={image_size}, channels={channels}")
            image_size, channels = DIGITS_SHAPE[1], 1
        elif root is None:
            raise ValueError("dataset='folder' needs modality.root, the folder of images")
        if not 0.0 <= float(test_fraction) < 1.0:
            raise ValueError(f"test_fraction must be in [0, 1), got {test_fraction}")
        self.dataset_name = dataset
        self.root = None if root is None else Path(root).expanduser()
        self.image_size = None if image_size is None else int(image_size)
        self.channels = channels
        self.class_cond = bool(class_cond)
        self.skip_non_images = bool(skip_non_images)
        self.test_fraction = float(test_fraction)
        self.seed = int(seed)
        self._classes: list[str] | None = list(classes) if classes is not None else None
        if dataset == "digits":
            self._classes = [str(i) for i in range(10)]
        self._data: tuple[Tensor, Tensor | None] | None = None  # all images (M, C, H, W), labels (M,)
        self.report: LoadReport | None = None  # a folder's load report (files seen, kept, skipped), once read
        self.label = label

    # ------------------------------------------------------------------------------------------
    # data

    def _load(self) -> tuple[Tensor, Tensor | None]:
        """Decode everything once (lazily, so sampling from a checkpoint needs no data)."""
        if self._data is None:
            if self.dataset_name == "digits":
                self._data = load_digits_all()
            else:
                assert self.root is not None
                self.report = LoadReport(source=str(self.root))
                x, labels, classes = load_image_folder(self.root, self.image_size, self.channels, self.skip_non_images,
                                                       self.report)
                if self.class_cond and labels is None:
                    raise ValueError(f"{self.root}: class_cond needs class subfolders (one folder of images per class)")
                if self._classes is not None and self.class_cond and classes != self._classes:
                    raise ValueError(f"{self.root}: class folders {classes} differ from the configured classes {self._classes}")
                self._classes = classes
                self.image_size, self.channels = x.shape[-1], x.shape[1]
                self._data = (x, labels)
        return self._data

    @property
    def shape(self) -> tuple[int, int, int]:
        """Sample shape (C, H, W); decodes the folder first if channels or size are not configured."""
        if self.channels is None or self.image_size is None:
            self._load()
        assert self.channels is not None and self.image_size is not None
        return (self.channels, self.image_size, self.image_size)

    @property
    def classes(self) -> list[str]:
        """Class names (digits: '0'..'9'; folders: sorted subfolder names; [] without subfolders)."""
        if self._classes is None:
            self._load()
        return list(self._classes or [])

    @property  # type: ignore[override]
    def num_classes(self) -> int:
        """Number of label classes the backbone is conditioned on (0 unless class_cond)."""
        if not self.class_cond:
            return 0
        n = len(self.classes)
        if n == 0:
            raise ValueError(f"{self.root}: class_cond needs class subfolders (one folder of images per class)")
        return n

    def split(self, split: str = "train") -> tuple[Tensor, Tensor | None]:
        """Images (M, C, H, W) in [-1, 1] and labels (M,) or None of one split ("train" | "test")."""
        x, labels = self._load()
        idx = split_indices(len(x), split, self.test_fraction, self.seed)
        return x[idx], None if labels is None else labels[idx]

    def dataset(self, split: str = "train") -> EncodedDataset:
        """Encoded split: x (M, C, H, W) in [-1, 1], mask None, cond labels (M,) if class_cond else None."""
        x, labels = self.split(split)
        return EncodedDataset(x, None, labels if self.class_cond else None)

    def config(self) -> dict[str, Any]:
        """The options with every inferred value filled in (plain types; for checkpoint configs)."""
        c, s, _ = self.shape
        opts: dict[str, Any] = dict(
            dataset=self.dataset_name, root=None if self.root is None else str(self.root),
            image_size=s, channels=c, class_cond=self.class_cond, skip_non_images=self.skip_non_images,
            test_fraction=self.test_fraction, seed=self.seed,
        )  # fmt: skip
        if self.dataset_name == "digits":
            opts.pop("root"), opts.pop("skip_non_images")
        elif self.class_cond:
            opts["classes"] = self.classes
        return opts

    # ------------------------------------------------------------------------------------------
    # model and sampling

    def backbone(self, **kwargs: Any) -> UNet:
        """The U-Net for this data; in_channels, image_size and num_classes come from the data."""
        c, s, _ = self.shape
        derived = {"in_channels": c, "image_size": s, "num_classes": self.num_classes}
        for key, value in derived.items():
            if key in kwargs and kwargs[key] is not None and int(kwargs[key]) != value:
                raise ValueError(f"backbone.{key}={kwargs[key]} contradicts the data ({key}={value}); leave it unset")
            kwargs[key] = value
        return UNet(**kwargs)

    SAMPLE_OPTIONS = ("label",)
    #: what ``write`` takes: a folder ("") or a file of these extensions (checked before sampling)
    OUT_FORMATS = ("", ".png", ".npz")

    def _label_index(self) -> int | None:
        return label_index(self.label, self.class_cond, self.classes if self.class_cond else ())

    def check_sample_options(self) -> None:
        self._label_index()

    def blank(self, num: int, generator: torch.Generator) -> Encoded:
        """``num`` zero images (num, C, H, W); with class_cond, labels (num,): ``label`` if set, else drawn
        uniformly with ``generator`` (drawn either way, so the noise of sample i does not depend on it)."""
        dev = generator.device
        x = torch.zeros((num, *self.shape), device=dev)
        cond = None
        if self.class_cond:
            cond = blank_labels(num, self.num_classes, self._label_index(), generator)
        return Encoded(x, None, cond)

    def decode(self, x: Tensor, mask: Tensor | None = None, cond: Tensor | None = None) -> list[np.ndarray]:
        """x (B, C, H, W) → B uint8 arrays (H, W, C); values are clamped to [-1, 1] first."""
        u8 = ((x.detach().float().clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8)
        return list(u8.permute(0, 2, 3, 1).cpu().numpy())

    def write(self, objects: Sequence[Any], out: Path) -> list[Path]:
        """grid.png + 000000.png… + samples.npz into a folder, or one .png grid / .npz file."""
        return write_images(objects, out)

    def evaluate(self, objects: Sequence[Any], samples: Encoded | None = None) -> Evaluation:
        """Digits: digits_fd, digits_fd_floor, precision, recall, confident_fraction. Folders: none (with a note)."""
        if self.dataset_name != "digits":
            return Evaluation(notes=["image folders have no offline scorer network; no metrics computed"])
        from .metrics import evaluate_digits

        arrays = [np.asarray(o) for o in objects if o is not None]
        bad = [a.shape for a in arrays if a.shape != (8, 8, 1)]
        if bad:
            raise ValueError(f"digits metrics need 8×8×1 images, got {bad[0]}")
        images = torch.from_numpy(np.stack(arrays)).permute(0, 3, 1, 2).float() / 127.5 - 1.0 if arrays else torch.zeros(0, 1, 8, 8)
        train, _ = self.split("train")
        test, _ = self.split("test")
        return Evaluation(evaluate_digits(images, train, test))
