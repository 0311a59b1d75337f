"""Write generated images: a PNG grid, one PNG per image, and an .npz of the raw arrays.

``out`` is a folder (→ grid.png, 000000.png, 000001.png, …, samples.npz) or a file whose
extension names the format: ``.png`` writes the grid only, ``.npz`` the arrays only. Files are
written to a temporary name and renamed, so readers never see half a file.
"""

from __future__ import annotations

import math
import os
from pathlib import Path
from typing import Sequence

import numpy as np

from pfgm.core.atomic import atomic_write
from pfgm.core.errors import ConfigError, DataError

FILE_FORMATS = (".png", ".npz")


def _check_images(images: Sequence[np.ndarray]) -> np.ndarray:
    """Validate a list of uint8 (H, W, C) arrays with one shared shape; C ∈ {1, 3}. → (B, H, W, C)."""
    if len(images) == 0:
        raise ValueError("no images to write")
    if any(im is None for im in images):
        raise ValueError("cannot write None images")  # callers drop invalid samples first (write_images)
    shapes = {np.shape(im) for im in images}
    if len(shapes) != 1:
        raise ValueError(f"images must share one shape, got {sorted(shapes)}")
    arr = np.stack([np.asarray(im) for im in images])
    if arr.dtype != np.uint8 or arr.ndim != 4 or arr.shape[3] not in (1, 3):
        raise ValueError(f"expected uint8 images shaped (H, W, 1 or 3), got {arr.dtype} {arr.shape[1:]}")
    return arr


def make_grid(images: np.ndarray, ncols: int | None = None, padding: int = 2, pad_value: int = 0) -> np.ndarray:
    """Tile images (B, H, W, C) into one (rows·(H+p)+p, cols·(W+p)+p, C) uint8 array; cols default ⌈√B⌉."""
    b, h, w, c = images.shape
    ncols = ncols or math.ceil(math.sqrt(b))
    nrows = math.ceil(b / ncols)
    grid = np.full((nrows * (h + padding) + padding, ncols * (w + padding) + padding, c), pad_value, np.uint8)
    for i, im in enumerate(images):
        r, col = divmod(i, ncols)
        y, x = padding + r * (h + padding), padding + col * (w + padding)
        grid[y : y + h, x : x + w] = im
    return grid


def save_png(array: np.ndarray, path: Path) -> Path:
    """Save one uint8 image (H, W, 1 or 3) as a PNG (grayscale or RGB)."""
    from PIL import Image

    img = Image.fromarray(array[:, :, 0] if array.shape[2] == 1 else array)
    atomic_write(path, lambda f: img.save(f, format="PNG"))
    return path


def save_npz(images: np.ndarray, path: Path, **extra: np.ndarray) -> Path:
    """Save images (B, H, W, C) uint8 under key ``images`` (plus any ``extra`` arrays) as a compressed .npz."""
    atomic_write(path, lambda f: np.savez_compressed(f, images=images, **extra))  # type: ignore[arg-type]
    return path


def write_images(images: Sequence[np.ndarray], out: str | os.PathLike, **extra: np.ndarray) -> list[Path]:
    """Write images (each uint8 (H, W, C)) to ``out``; returns the paths written.

    Folder (no extension, or an existing directory): grid.png, 000000.png…, samples.npz.
    ``*.png``: the grid only. ``*.npz``: the arrays only (``extra`` arrays, e.g. labels, are added).
    """
    # an invalid sample (None: non-finite) is not written; the others keep their index in the file names
    index = [i for i, im in enumerate(images) if im is not None]
    if images and not index:
        raise DataError(f"all {len(images)} samples are invalid (non-finite); no image to write")
    arr = _check_images([images[i] for i in index])
    out = Path(out).expanduser()
    suffix = out.suffix.lower()
    if out.is_dir() or suffix == "":
        paths = [save_png(make_grid(arr), out / "grid.png")]
        paths += [save_png(im, out / f"{i:06d}.png") for i, im in zip(index, arr)]
        paths.append(save_npz(arr, out / "samples.npz", **extra))
        return paths
    if suffix == ".png":
        return [save_png(make_grid(arr), out)]
    if suffix == ".npz":
        return [save_npz(arr, out, **extra)]
    raise ConfigError(f"{out}: unknown image output format {suffix!r} (expected a folder, or a file ending in .png or .npz)")
