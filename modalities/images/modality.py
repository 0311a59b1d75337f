"""The image modality adapter: digits, image folders, CIFAR-10 and EDM-style zips ⇄ tensors (C, H, W) in [-1, 1],
U-Net or DDPM++ backbone, PNG/npz output."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import torch
from torch import Tensor

from pfgm.core.errors import ConfigError, DataError
from ..base import Encoded, EncodedDataset, Evaluation, Modality, register_modality
from ..shared.labels import blank_labels, label_index
from ..shared.records import LoadReport
from .data import DIGITS_SHAPE, load_digits_all, load_image_folder, split_indices
from ..shared.unet import UNet
from .writers import write_images

DATASETS = ("digits", "folder", "cifar10", "edm")
#: data sets held as uint8 and trained at their own resolution (the paper-scale recipes)
STORED = ("cifar10", "edm")
#: backbones by ``backbone.arch``: the small shared U-Net, or DDPM++ at the paper's scale
ARCHS = ("unet", "ddpmpp")


@dataclass(frozen=True)
class ImageOptions:
    """The options of the ``images`` modality (the recipe's ``modality:`` block), and their rules (:meth:`check`)."""

    dataset: str = "digits"
    """"digits" (scikit-learn, 8×8 grayscale, 10 classes), "folder" (``root``), "cifar10" (the python archive
    cifar-10-python.tar.gz or its cifar-10-batches-py/ folder in ``root``; default root $PFGM_DATA/cifar10) or
    "edm" (an EDM-style .zip or folder of same-size PNGs, labels in dataset.json)."""
    root: str | os.PathLike | None = None
    """The image folder (class subfolders give labels: sorted names → 0, 1, ...), archive or zip."""
    image_size: int | None = None
    """Folder images are resized (shorter side) and centre-cropped to this; default 32. Digits are 8×8 only,
    CIFAR-10 32×32."""
    channels: int | None = None
    """1 or 3; default: 1 for digits, for folders 1 if every image is grayscale else 3."""
    class_cond: bool = False
    """Give the data set's labels as ``cond`` and sample uniformly drawn labels."""
    skip_non_images: bool = False
    """Skip non-image files in the folder instead of raising."""
    test_fraction: float = 0.15
    """The deterministic train/test split's held-out share, in [0, 1)."""
    seed: int = 0
    """Seeds the split."""
    classes: Sequence[str] | None = None
    """Folder class names, pinned by ``config()``, so that a checkpoint rebuilds the modality for sampling
    without the folder present."""
    label: int | str | None = None
    """Sample-time, class_cond: sample this class (an index, or a class name) instead of drawn labels."""
    download: bool = False
    """cifar10 only: fetch the archive into ``root`` when it is not there (torchvision's downloader)."""
    augment: float = 0.0
    """EDM's augmentation probability p in [0, 1] (0 = off; cifar10 / edm); the ddpmpp backbone then takes a
    9-d augmentation label."""
    metrics: str | Sequence[str] | None = None
    """Sample-time, cifar10 / edm evaluation (:mod:`.fid`): which of fid, kid, is, pr (default all)."""
    fid_features: str = "inception"
    """Sample-time: "inception" (the standard weights) or "random" (an untrained network of the same shape: the
    pipeline without the weights, numbers labelled)."""
    fid_weights: str | None = None
    """Sample-time: a weights file for the feature network."""
    fid_batch: int = 100
    """Sample-time: images per batch of the feature network."""

    def check(self) -> None:
        """Raise a ConfigError naming the first option whose value is refused (the sample-time values, label and
        the metric options, by ``ImageModality.check_sample_options``)."""
        size, channels = self.image_size, self.channels
        if self.dataset not in DATASETS:
            raise ConfigError(f"unknown image data set {self.dataset!r}; expected one of {', '.join(DATASETS)}")
        if channels not in (None, 1, 3):
            raise ConfigError(f"channels must be 1, 3 or null (infer), got {channels!r}")
        if self.dataset == "digits":
            if self.root is not None:
                raise ConfigError("modality.root is only used with dataset='folder' (digits ship with scikit-learn)")
            if size not in (None, DIGITS_SHAPE[1]) or channels not in (None, 1):
                raise ConfigError(f"digits are 1×8×8; got image_size={size}, channels={channels}")
        elif self.dataset == "cifar10":
            if size not in (None, 32) or channels not in (None, 3):
                raise ConfigError(f"CIFAR-10 images are 3×32×32; got image_size={size}, channels={channels}")
        elif self.root is None:
            raise ConfigError(
                f"dataset='{self.dataset}' needs modality.root, the "
                f"{'folder of images' if self.dataset == 'folder' else 'zip or folder'}"
            )
        if self.download and self.dataset != "cifar10":
            raise ConfigError("modality.download is for dataset='cifar10' (other data sets are given by path)")
        if not 0.0 <= float(self.augment) <= 1.0:
            raise ConfigError(f"modality.augment is a probability in [0, 1], got {self.augment}")
        if float(self.augment) > 0 and self.dataset not in STORED:
            raise ConfigError("modality.augment needs dataset='cifar10' or 'edm' (and the ddpmpp backbone)")
        if not 0.0 <= float(self.test_fraction) < 1.0:
            raise ConfigError(f"test_fraction must be in [0, 1), got {self.test_fraction}")


@register_modality("images")
class ImageModality(Modality):
    """Images as (C, H, W) float tensors in [-1, 1]; objects are uint8 numpy arrays (H, W, C). Options: :class:`ImageOptions`.

    ``evaluate`` computes classifier metrics for digits (see :mod:`.metrics`); for folder data it
    returns an empty dict (no offline feature network exists for arbitrary images).
    """

    Options = ImageOptions
    SAMPLE_OPTIONS = ("label", "metrics", "fid_features", "fid_weights", "fid_batch")
    #: what ``write`` takes: a folder ("") or a file of these extensions (checked before sampling)
    OUT_FORMATS = ("", ".png", ".npz")

    def __init__(self, **options: Any):
        o: ImageOptions = self.parse_options(options)
        self.options = o
        root, image_size, channels = o.root, o.image_size, o.channels
        if o.dataset == "digits":
            image_size, channels = DIGITS_SHAPE[1], 1
        elif o.dataset == "cifar10":
            image_size, channels = 32, 3
            if root is None:
                from ..shared.paths import data_root

                root = data_root() / "cifar10"
        self.dataset_name = o.dataset
        self.root = None if root is None else Path(root).expanduser()
        self.image_size = None if image_size is None else int(image_size)
        self.channels = channels
        self.class_cond = bool(o.class_cond)
        self.skip_non_images = bool(o.skip_non_images)
        self.test_fraction = float(o.test_fraction)
        self.seed = int(o.seed)
        self._classes: list[str] | None = list(o.classes) if o.classes is not None else None
        if o.dataset == "digits":
            self._classes = [str(i) for i in range(10)]
        self._data: tuple[Tensor, Tensor | None] | None = None  # all images (M, C, H, W), labels (M,)
        self.report: LoadReport | None = None  # a folder's load report (files seen, kept, skipped), once read
        self.label = o.label
        self.download = bool(o.download)
        self.augment = float(o.augment)
        self.metrics, self.fid_features, self.fid_weights, self.fid_batch = (
            o.metrics,
            o.fid_features,
            o.fid_weights,
            int(o.fid_batch),
        )
        self._stored: dict[str, tuple[Tensor, Tensor | None]] = {}  # uint8 images and labels of a STORED split

    # ------------------------------------------------------------------------------------------
    # data

    def _load_stored(self, split: str) -> tuple[Tensor, Tensor | None]:
        """uint8 images (M, C, S, S) and labels (M,) or None of a cifar10 / edm split, read once.

        CIFAR-10's splits are its own (50,000 train, 10,000 test); an EDM-style set is split by
        ``test_fraction`` (default 0.15; the paper recipes set 0: the whole set trains)."""
        if split not in ("train", "test"):
            raise ValueError(f"split must be 'train' or 'test', got {split!r}")
        if split not in self._stored:
            assert self.root is not None
            if self.dataset_name == "cifar10":
                from .archive import ArchiveError, download_cifar10, find_cifar10, load_cifar10

                try:
                    find_cifar10(self.root)
                except ArchiveError:
                    if not self.download:
                        raise
                    download_cifar10(self.root)
                u8, labels = load_cifar10(self.root, split)
            else:
                from .packed import load_packed_images

                all_u8, all_labels = load_packed_images(self.root, self.skip_non_images)
                idx = split_indices(len(all_u8), split, self.test_fraction, self.seed).numpy()
                u8, labels = all_u8[idx], None if all_labels is None else all_labels[idx]
            u8 = torch.from_numpy(np.ascontiguousarray(u8))
            lab = None if labels is None else torch.from_numpy(np.asarray(labels, dtype=np.int64))
            if self.class_cond and lab is None:
                raise DataError(f"{self.root}: class_cond needs labels (dataset.json with 'labels')")
            self.image_size, self.channels = int(u8.shape[-1]), int(u8.shape[1])
            self._stored[split] = (u8, lab)
        return self._stored[split]

    def _load(self) -> tuple[Tensor, Tensor | None]:
        """Decode everything once (lazily, so sampling from a checkpoint needs no data)."""
        if self.dataset_name in STORED:
            u8, labels = self._load_stored("train")
            return u8.float() / 127.5 - 1.0, labels
        if self._data is None:
            if self.dataset_name == "digits":
                self._data = load_digits_all()
            else:
                assert self.root is not None
                self.report = LoadReport(source=str(self.root))
                x, labels, classes = load_image_folder(
                    self.root, self.image_size, self.channels, self.skip_non_images, self.report
                )
                if self.class_cond and labels is None:
                    raise DataError(f"{self.root}: class_cond needs class subfolders (one folder of images per class)")
                if self._classes is not None and self.class_cond and classes != self._classes:
                    raise DataError(f"{self.root}: class folders {classes} differ from the configured classes {self._classes}")
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
        """Class names (digits: '0'..'9'; folders: sorted subfolder names; [] without subfolders;
        CIFAR-10: its ten; EDM-style sets: '0'..'K-1' from dataset.json's labels)."""
        if self.dataset_name == "cifar10":
            from .archive import CIFAR10_CLASSES

            return list(CIFAR10_CLASSES)
        if self._classes is None and self.dataset_name == "edm":
            _, labels = self._load_stored("train")
            self._classes = [] if labels is None else [str(i) for i in range(int(labels.max()) + 1)]
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
            raise DataError(f"{self.root}: class_cond needs class subfolders (one folder of images per class)")
        return n

    def split(self, split: str = "train") -> tuple[Tensor, Tensor | None]:
        """Images (M, C, H, W) in [-1, 1] and labels (M,) or None of one split ("train" | "test")."""
        if self.dataset_name in STORED:
            u8, labels = self._load_stored(split)
            return u8.float() / 127.5 - 1.0, labels
        x, labels = self._load()
        idx = split_indices(len(x), split, self.test_fraction, self.seed)
        return x[idx], None if labels is None else labels[idx]

    def dataset(self, split: str = "train") -> EncodedDataset:
        """Encoded split: x (M, C, H, W) in [-1, 1], mask None, cond labels (M,) if class_cond else None.

        cifar10 / edm: kept as uint8 (:mod:`.stored`); with ``augment`` > 0 the training split streams
        through EDM's augmentation and cond is the float row [label,] augmentation label."""
        if self.dataset_name in STORED:
            from .stored import AugmentedImages, StoredImages

            u8, labels = self._load_stored(split)
            labels = labels if self.class_cond else None
            if self.augment > 0 and split == "train":
                from .augment import EDMAugment

                return AugmentedImages(u8, labels, EDMAugment(self.augment))
            return StoredImages(u8, labels)
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
        if self.dataset_name in STORED:
            opts.update(download=self.download, augment=self.augment)
        return opts

    # ------------------------------------------------------------------------------------------
    # model and sampling

    def backbone(self, **kwargs: Any) -> torch.nn.Module:
        """The network for this data: ``arch`` "unet" (the shared U-Net, default) or "ddpmpp" (DDPM++ at the
        paper's scale, :mod:`.ddpmpp`). in_channels, image_size, num_classes (and for ddpmpp augment_dim)
        come from the data."""
        arch = kwargs.pop("arch", None) or "unet"
        if arch not in ARCHS:
            raise ConfigError(f"backbone.arch={arch!r} is not an image backbone; expected one of {', '.join(ARCHS)}")
        if self.augment > 0 and arch != "ddpmpp":
            raise ConfigError("modality.augment needs backbone.arch=ddpmpp (the network that takes augmentation labels)")
        c, s, _ = self.shape
        derived = {"in_channels": c, "image_size": s, "num_classes": self.num_classes}
        if arch == "ddpmpp":
            from .augment import AUGMENT_DIM

            derived["augment_dim"] = AUGMENT_DIM if self.augment > 0 else 0
        for key, value in derived.items():
            if key in kwargs and kwargs[key] is not None and int(kwargs[key]) != value:
                raise ConfigError(f"backbone.{key}={kwargs[key]} contradicts the data ({key}={value}); leave it unset")
            kwargs[key] = value
        if arch == "ddpmpp":
            from .ddpmpp import DDPMpp

            return DDPMpp(**kwargs)
        return UNet(**kwargs)

    def _label_index(self) -> int | None:
        return label_index(self.label, self.class_cond, self.classes if self.class_cond else ())

    def check_sample_options(self) -> None:
        self._label_index()
        if self.metrics is not None or self.fid_features != "inception":
            if self.dataset_name not in STORED:
                raise ConfigError(
                    "metrics= / fid_features= score cifar10 and edm data in Inception features; "
                    f"this checkpoint's data is {self.dataset_name!r}"
                )
            from .fid import FEATURES, parse_metrics

            parse_metrics(self.metrics)
            if self.fid_features not in FEATURES:
                raise ConfigError(f"fid_features must be one of {', '.join(FEATURES)}, got {self.fid_features!r}")
        if int(self.fid_batch) < 1:
            raise ConfigError(f"fid_batch must be ≥ 1, got {self.fid_batch}")

    def check_evaluate(self) -> None:
        """cifar10 / edm: torch-fidelity and (unless fid_features=random) the Inception weights, named in one line."""
        if self.dataset_name in STORED:
            from .fid import check_features

            check_features(self.fid_features, self.fid_weights)

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
        """Digits: digits_fd, digits_fd_floor, precision, recall, confident_fraction. Folders: none (with a note).
        cifar10 / edm: FID, KID, Inception Score, precision/recall against the training set (:meth:`_inception_metrics`)."""
        if self.dataset_name in STORED:
            return self._inception_metrics(objects)
        if self.dataset_name != "digits":
            return Evaluation(notes=["image folders have no offline scorer network; no metrics computed"])
        from .metrics import evaluate_digits

        arrays = [np.asarray(o) for o in objects if o is not None]
        bad = [a.shape for a in arrays if a.shape != (8, 8, 1)]
        if bad:
            raise ValueError(f"digits metrics need 8×8×1 images, got {bad[0]}")
        images = (
            torch.from_numpy(np.stack(arrays)).permute(0, 3, 1, 2).float() / 127.5 - 1.0 if arrays else torch.zeros(0, 1, 8, 8)
        )
        train, _ = self.split("train")
        test, _ = self.split("test")
        return Evaluation(evaluate_digits(images, train, test))

    def _inception_metrics(self, objects: Sequence[Any]) -> Evaluation:
        """The standard metrics of the samples against the training split, its statistics cached once per data set.
        With fid_features=random every key carries ``_random_features``: not comparable to published numbers."""
        from .fid import extract, feature_network, image_metrics, parse_metrics, reference_stats

        names = parse_metrics(self.metrics)
        arrays = [np.asarray(o) for o in objects if o is not None]
        if len(arrays) < 2:
            raise ConfigError(f"image metrics need at least 2 valid samples, got {len(arrays)}")
        bs, dev = self.fid_batch, "cuda" if torch.cuda.is_available() else "cpu"
        net = feature_network(self.fid_features, self.fid_weights, device=dev)
        gen = extract((arrays[i : i + bs] for i in range(0, len(arrays), bs)), net, device=dev)
        u8, _ = self._load_stored("train")
        assert self.root is not None
        identity = {
            "dataset": self.dataset_name,
            "root": str(self.root.resolve()),
            "count": len(u8),
            "bytes": int(u8.sum(dtype=torch.int64)),
            "split": "train",
        }
        ref, cached = reference_stats(
            identity, (u8[i : i + bs] for i in range(0, len(u8), bs)), self.fid_features, self.fid_weights, device=dev
        )
        metrics = image_metrics(gen, ref, names)
        random = self.fid_features == "random"
        if random:
            metrics = {f"{k}_random_features": v for k, v in metrics.items()}
        notes = [
            f"{len(arrays)} samples against {ref.n} training images (reference statistics "
            f"{'read from the cache' if cached else 'computed and cached'})",
            "features: "
            + (
                "a RANDOMLY INITIALISED Inception-v3 (fid_features=random): tests the pipeline; not comparable to published FIDs"
                if random
                else "Inception-v3 (torch-fidelity, as EDM/PFGM++)"
            ),
        ]
        if len(arrays) < 50_000 and "fid" in names:
            notes.append("published FIDs use 50,000 samples (num_samples=50000); fewer bias FID upwards")
        return Evaluation(metrics, notes)
