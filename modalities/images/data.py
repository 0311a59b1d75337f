"""Image data sets: scikit-learn's 8×8 digits and folders of image files, as tensors in [-1, 1].

Both loaders return ``(x, labels)`` with ``x`` a float32 tensor (M, C, H, W) scaled to [-1, 1]
and ``labels`` a LongTensor (M,) or None. Splits are deterministic: a permutation drawn from a
seeded generator, its last ``round(test_fraction · M)`` indices form the test split.

Bad folders fail early with one-line errors that name the offending path and what was expected.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from torch import Tensor

from pfgm.core.errors import ConfigError, DataError
from ..shared.records import LoadReport

#: file extensions the folder loader decodes with Pillow (compared lower-case)
IMAGE_EXTENSIONS: tuple[str, ...] = (".png", ".jpg", ".jpeg", ".bmp", ".webp")
#: image size for folders when none is given (keeps the default U-Net small)
DEFAULT_FOLDER_IMAGE_SIZE = 32
DIGITS_SHAPE = (1, 8, 8)


class ImageFolderError(DataError):
    """Base class of the folder loader's input errors (all are ValueErrors)."""


class ImageFolderNotFoundError(ImageFolderError, FileNotFoundError):
    """The folder does not exist or is not a directory."""


class EmptyImageFolderError(ImageFolderError):
    """The folder (or one of its class subfolders) holds no image files."""


class CorruptImageError(ImageFolderError):
    """A file with an image extension that Pillow cannot decode."""


class NonImageFileError(ImageFolderError):
    """A file without an image extension (pass ``skip_non_images=True`` to skip such files)."""


# ----------------------------------------------------------------------------------------------
# splits


def split_indices(n: int, split: str, test_fraction: float, seed: int) -> Tensor:
    """Indices (M,) of ``split`` ("train" | "test") in a data set of ``n`` items.

    The permutation comes from its own generator, so the split depends only on (n, fraction, seed).
    The train split always keeps at least one item.
    """
    if split not in ("train", "test"):
        raise ValueError(f"split must be 'train' or 'test', got {split!r}")
    if not 0.0 <= test_fraction < 1.0:
        raise ConfigError(f"test_fraction must be in [0, 1), got {test_fraction}")
    n_test = min(int(round(test_fraction * n)), n - 1)
    perm = torch.randperm(n, generator=torch.Generator().manual_seed(seed))
    idx = perm[n - n_test :] if split == "test" else perm[: n - n_test]
    # sorted so the split keeps the source order (nicer to inspect; order is irrelevant for training)
    return idx.sort().values


# ----------------------------------------------------------------------------------------------
# digits


def load_digits_all() -> tuple[Tensor, Tensor]:
    """All 1,797 scikit-learn digits: x (1797, 1, 8, 8) in [-1, 1], labels (1797,) in 0..9."""
    from sklearn.datasets import load_digits

    d = load_digits()
    # pixel values are integers 0..16; 16 ↦ 1, 0 ↦ -1
    x = torch.from_numpy(d.images.astype(np.float32) / 8.0 - 1.0).unsqueeze(1)
    return x, torch.from_numpy(d.target.astype(np.int64))


def load_digits_split(split: str = "train", test_fraction: float = 0.15, seed: int = 0) -> tuple[Tensor, Tensor]:
    """One split of the digits: x (M, 1, 8, 8) in [-1, 1], labels (M,). Defaults: 1,527 train / 270 test."""
    x, y = load_digits_all()
    idx = split_indices(len(x), split, test_fraction, seed)
    return x[idx], y[idx]


# ----------------------------------------------------------------------------------------------
# image folders


@dataclass
class FolderListing:
    """The image files of a folder. ``labels`` is None without class subfolders."""

    root: Path
    files: list[Path]
    labels: list[int] | None
    classes: list[str]
    #: files passed over under skip_non_images (not images), counted in the load report
    skipped: list[Path] = field(default_factory=list)


def _is_image(p: Path) -> bool:
    return p.suffix.lower() in IMAGE_EXTENSIONS


def _walk_files(folder: Path) -> list[Path]:
    """All non-hidden files under ``folder`` (recursively, hidden folders pruned), sorted."""
    out: list[Path] = []
    # symlinked sub-folders are not followed (a link cycle would never end); a symlinked class
    # folder directly under the root is fine, since os.walk follows its starting point
    for dirpath, dirnames, filenames in os.walk(folder):
        dirnames[:] = [d for d in dirnames if not d.startswith(".")]
        out.extend(Path(dirpath) / f for f in filenames if not f.startswith("."))
    return sorted(out)


def _image_files(folder: Path, skip_non_images: bool, skipped: list[Path] | None = None) -> list[Path]:
    files = _walk_files(folder)
    others = [f for f in files if not _is_image(f)]
    if others and not skip_non_images:
        raise NonImageFileError(
            f"{others[0]}: not an image file (expected one of {', '.join(IMAGE_EXTENSIONS)}); "
            f"remove it or pass skip_non_images=True"
        )
    if skipped is not None:
        skipped += others
    return [f for f in files if _is_image(f)]


def list_image_folder(root: str | os.PathLike, skip_non_images: bool = False) -> FolderListing:
    """Find the images under ``root``. Subfolders of ``root`` are classes (sorted names → 0, 1, ...).

    Without subfolders the images are unlabelled. With subfolders, every file must sit in one of
    them (a loose image next to class folders would have no label) and every class needs an image.
    Hidden files and folders (names starting with '.') are ignored.
    """
    root = Path(root).expanduser()
    if not root.is_dir():
        what = "is not a directory" if root.exists() else "does not exist"
        raise ImageFolderNotFoundError(f"{root}: image folder {what} (expected a folder of image files)")
    entries = [e for e in sorted(root.iterdir()) if not e.name.startswith(".")]
    class_dirs = [e for e in entries if e.is_dir()]
    expected = f"expected image files ({', '.join(IMAGE_EXTENSIONS)})"
    skipped: list[Path] = []
    if not class_dirs:
        files = _image_files(root, skip_non_images, skipped)
        if not files:
            raise EmptyImageFolderError(f"{root}: no images found ({expected})")
        return FolderListing(root, files, None, [], skipped)

    loose = [e for e in entries if not e.is_dir()]
    loose_images = [e for e in loose if _is_image(e)]
    if loose_images:
        raise ImageFolderError(
            f"{loose_images[0]}: image next to class subfolders of {root} (expected either only images or only class subfolders)"
        )
    if loose and not skip_non_images:
        raise NonImageFileError(
            f"{loose[0]}: not an image file (expected class subfolders of images); remove it or pass skip_non_images=True"
        )
    skipped += loose
    files, labels = [], []
    for label, d in enumerate(class_dirs):
        found = _image_files(d, skip_non_images, skipped)
        if not found:
            raise EmptyImageFolderError(f"{d}: class folder has no images ({expected})")
        files += found
        labels += [label] * len(found)
    return FolderListing(root, files, labels, [d.name for d in class_dirs], skipped)


#: the load report's reason for files skip_non_images passed over
NOT_IMAGES = "non-image files (skip_non_images=true)"


def folder_report(listing: FolderListing, report: LoadReport | None = None) -> LoadReport:
    """The load report of an image folder (into ``report`` if given): every file seen, the images kept, the
    non-images skipped by name."""
    report = LoadReport(source=str(listing.root)) if report is None else report
    report.seen(len(listing.files) + len(listing.skipped))
    report.keep(len(listing.files))
    for p in listing.skipped:
        report.skip(NOT_IMAGES, record=str(p.relative_to(listing.root)))
    return report


def _resize_center_crop(img: "PIL.Image.Image", size: int) -> "PIL.Image.Image":  # noqa: F821
    """Scale so the shorter side is ``size`` (antialiased bicubic), then crop the centre square."""
    from PIL import Image

    w, h = img.size
    scale = size / min(w, h)
    nw, nh = max(size, round(w * scale)), max(size, round(h * scale))
    if (nw, nh) != (w, h):
        img = img.resize((nw, nh), Image.Resampling.BICUBIC)
    left, top = (nw - size) // 2, (nh - size) // 2
    return img.crop((left, top, left + size, top + size))


def _is_grayscale_mode(mode: str) -> bool:
    return mode in ("1", "L", "LA", "La", "I", "I;16", "I;16B", "I;16L", "I;16N", "F")


def _to_u8(a: np.ndarray, mode: str, path: Path) -> np.ndarray:
    """A high-bit-depth grayscale array → uint8 by its nominal range: 16-bit 0..65535 (PNG's I;16 and
    the "I" mode Pillow opens 16-bit PNGs as), float 0..1 (or 0..255 if it exceeds 1). Values outside the
    range (32-bit integer TIFFs) are an error naming the file, not a silent rescale."""
    if not np.isfinite(a).all():
        raise CorruptImageError(f"{path}: image holds NaN or infinite values")
    lo, hi = (float(a.min()), float(a.max())) if a.size else (0.0, 0.0)
    if mode == "F":
        scale = 255.0 if hi <= 1.0 else 1.0
        top = 1.0 if hi <= 1.0 else 255.0
    else:
        scale, top = 255.0 / 65535.0, 65535.0
    if lo < 0 or hi > top:
        raise ImageFolderError(
            f"{path}: {mode} image values {lo:g}..{hi:g} lie outside 0..{top:g}; convert it to 8- or 16-bit first"
        )
    return np.round(a * scale).astype(np.uint8)


def _decode(path: Path, size: int, channels: int | None) -> tuple[np.ndarray, bool]:
    """Decode one file → (uint8 array (size, size, 1 or 3), whether the source was grayscale).

    With ``channels=None`` grayscale sources stay 1-channel; the caller widens them if other
    images in the folder are colour.
    """
    from PIL import Image, ImageOps, UnidentifiedImageError

    try:
        with Image.open(path) as im:
            im.load()
            im = ImageOps.exif_transpose(im)  # phone photos store their rotation in EXIF
    except Image.DecompressionBombError as e:
        raise ImageFolderError(f"{path}: image too large to decode safely ({e})") from None
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as e:
        raise CorruptImageError(f"{path}: cannot decode image ({type(e).__name__}: {e})") from None

    gray_src = _is_grayscale_mode(im.mode)
    if im.mode in ("I", "I;16", "I;16B", "I;16L", "I;16N", "F"):
        # 16-bit / float grayscale → 8 bits by the format's own range, never per image: a min–max
        # stretch would turn a constant image black and make brightness incomparable across files
        im = Image.fromarray(_to_u8(np.asarray(im, dtype=np.float64), im.mode, path), mode="L")
    if im.mode in ("RGBA", "LA", "La", "RGBa", "PA") or (im.mode == "P" and "transparency" in im.info):
        # composite transparency on white: transparent pixels would otherwise take arbitrary colours
        rgba = im.convert("RGBA")
        bg = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        im = Image.alpha_composite(bg, rgba)
    want_gray = channels == 1 or (channels is None and gray_src)
    im = im.convert("L" if want_gray else "RGB")
    im = _resize_center_crop(im, size)
    a = np.asarray(im, dtype=np.uint8)
    return (a[:, :, None] if a.ndim == 2 else a), gray_src


def load_image_folder(
    root: str | os.PathLike,
    image_size: int | None = None,
    channels: int | None = None,
    skip_non_images: bool = False,
    report: LoadReport | None = None,
) -> tuple[Tensor, Tensor | None, list[str]]:
    """Decode a whole folder: x (M, C, S, S) in [-1, 1], labels (M,) or None, class names.
    ``report``: filled with the folder's :func:`folder_report` (files seen, kept, non-images skipped).

    ``image_size`` S defaults to 32 (shorter side resized to S, then centre-cropped).
    ``channels``: 1 (grayscale), 3 (RGB), or None = 1 if every image is grayscale else 3.
    """
    size = DEFAULT_FOLDER_IMAGE_SIZE if image_size is None else int(image_size)
    if size < 1:
        raise ConfigError(f"image_size must be positive, got {image_size}")
    if channels not in (None, 1, 3):
        raise ConfigError(f"channels must be 1, 3 or None (infer), got {channels}")
    listing = list_image_folder(root, skip_non_images)
    if report is not None:
        folder_report(listing, report).warn()
    arrays, grays = zip(*(_decode(f, size, channels) for f in listing.files))
    if channels is None:
        channels = 1 if all(grays) else 3
    if channels == 3:
        arrays = tuple(np.repeat(a, 3, axis=2) if a.shape[2] == 1 else a for a in arrays)
    u8 = torch.from_numpy(np.stack(arrays)).permute(0, 3, 1, 2).contiguous()
    x = u8.float() / 127.5 - 1.0  # 0 ↦ -1, 255 ↦ 1; decoding rounds back to the same bytes
    labels = None if listing.labels is None else torch.tensor(listing.labels, dtype=torch.long)
    return x, labels, listing.classes
