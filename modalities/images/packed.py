"""EDM-style image data sets: a zip file or a folder of same-size PNGs, labels in ``dataset.json``.

This is the layout EDM's and PFGM++'s ``dataset_tool.py`` writes (``cifar10-32x32.zip``,
``ffhq-64x64.zip``): image files anywhere in the archive, taken in sorted name order, all of one
square resolution, and an optional ``dataset.json``

    {"labels": [["00000/img00000000.png", 6], ...]}    (or "labels": null)

Images are not resized: a file of another size is an error naming it (resize when packing). Any
file that is neither an image nor ``dataset.json`` is an error naming it too, unless
``skip_non_images``. Decoded images are kept as uint8 (M, C, S, S): a 70,000-image FFHQ-64 is
860 MB in memory this way rather than 3.4 GB as floats.
"""

from __future__ import annotations

import io
import json
import os
import zipfile
from pathlib import Path
from typing import Callable

import numpy as np

from .data import (
    IMAGE_EXTENSIONS,
    CorruptImageError,
    EmptyImageFolderError,
    ImageFolderError,
    ImageFolderNotFoundError,
    NonImageFileError,
)

__all__ = ["load_packed_images", "LABELS_FILE"]

LABELS_FILE = "dataset.json"


def _is_image(name: str) -> bool:
    return os.path.splitext(name)[1].lower() in IMAGE_EXTENSIONS


def _listing(path: Path) -> tuple[list[str], Callable[[str], bytes]]:
    """(every file name relative to the data set, a function name → bytes) for a zip or a folder."""
    if path.is_dir():
        names = sorted(
            str(p.relative_to(path).as_posix())
            for p in path.rglob("*")
            if p.is_file() and not any(part.startswith(".") for part in p.relative_to(path).parts)
        )
        return names, lambda n: (path / n).read_bytes()
    try:
        zf = zipfile.ZipFile(path)
        names = sorted(n for n in zf.namelist() if not n.endswith("/"))
    except (zipfile.BadZipFile, OSError, EOFError) as e:
        raise ImageFolderError(f"{path}: not a readable zip file ({type(e).__name__}: {e})") from None
    return names, zf.read


def _decode_png(data: bytes, where: str) -> np.ndarray:
    """Bytes → uint8 (C, H, W) with C = 1 (grayscale) or 3 (colour; alpha dropped)."""
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(io.BytesIO(data)) as im:
            im.load()
            if im.mode not in ("L", "RGB"):
                im = im.convert("L" if im.mode in ("1", "I", "I;16", "F", "LA") else "RGB")
            a = np.asarray(im, dtype=np.uint8)
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as e:
        raise CorruptImageError(f"{where}: cannot decode image ({type(e).__name__}: {e})") from None
    return a[None] if a.ndim == 2 else a.transpose(2, 0, 1)


def _labels(raw: bytes, images: list[str], where: str) -> np.ndarray | None:
    try:
        table = json.loads(raw.decode("utf-8")).get("labels")
    except (UnicodeDecodeError, json.JSONDecodeError, AttributeError) as e:
        raise ImageFolderError(f"{where}: not a dataset.json of labels ({type(e).__name__}: {e})") from None
    if table is None:
        return None
    try:
        lookup = {str(name).replace("\\", "/"): int(label) for name, label in table}
    except (TypeError, ValueError):
        raise ImageFolderError(f"{where}: 'labels' must be a list of [file name, integer label] pairs") from None
    missing = [n for n in images if n not in lookup]
    if missing:
        raise ImageFolderError(f"{where}: no label for {missing[0]} ({len(missing)} image(s) unlabelled)")
    return np.asarray([lookup[n] for n in images], dtype=np.int64)


def load_packed_images(
    root: str | os.PathLike, skip_non_images: bool = False, limit: int | None = None
) -> tuple[np.ndarray, np.ndarray | None]:
    """Decode an EDM-style zip or folder: images uint8 (M, C, S, S), labels int64 (M,) or None.

    ``limit``: read only the first ``limit`` images (sorted order), e.g. for a quick look.
    """
    path = Path(root).expanduser()
    if not path.exists():
        raise ImageFolderNotFoundError(f"{path}: does not exist (expected an EDM-style .zip or folder of PNGs)")
    names, read = _listing(path)
    others = [n for n in names if not _is_image(n) and n != LABELS_FILE]
    if others and not skip_non_images:
        raise NonImageFileError(
            f"{path / others[0]}: not an image file (expected one of {', '.join(IMAGE_EXTENSIONS)} "
            f"or {LABELS_FILE}); remove it or pass skip_non_images=true"
        )
    images = [n for n in names if _is_image(n)]
    if not images:
        raise EmptyImageFolderError(f"{path}: no images found (expected {', '.join(IMAGE_EXTENSIONS)} files)")
    if limit is not None:
        images = images[: int(limit)]
    first = _decode_png(read(images[0]), str(path / images[0]))
    if first.shape[1] != first.shape[2]:
        raise ImageFolderError(f"{path / images[0]}: image is {first.shape[2]}×{first.shape[1]}; expected square images")
    out = np.empty((len(images), *first.shape), dtype=np.uint8)
    out[0] = first
    for i, n in enumerate(images[1:], start=1):
        a = _decode_png(read(n), str(path / n))
        if a.shape != first.shape:
            raise ImageFolderError(
                f"{path / n}: shape {a.shape} (C, H, W) differs from the first image's {first.shape}; "
                "an EDM-style data set holds one resolution (resize when packing it)"
            )
        out[i] = a
    labels = _labels(read(LABELS_FILE), images, str(path / LABELS_FILE)) if LABELS_FILE in names else None
    return out, labels
