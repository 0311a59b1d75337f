"""The CIFAR-10 "python version" archive, read without running code from it.

The archive (``cifar-10-python.tar.gz``, 163 MB; or its extracted folder ``cifar-10-batches-py/``)
holds six pickled batches and a meta file:

    data_batch_1 … data_batch_5   {b"data": uint8 (10000, 3072), b"labels": [int] * 10000, ...}
    test_batch                    the same, the 10,000 test images
    batches.meta                  {b"label_names": [b"airplane", ...], ...}

``data`` rows are 1024 red, then 1024 green, then 1024 blue bytes, each plane row-major: a row
reshapes to (3, 32, 32). Pickles can name any importable callable, so they are read by
:class:`RestrictedUnpickler`, which admits only what this format holds (dicts, lists, bytes,
numbers and numpy arrays of plain dtypes); any other global (``os.system``, ``builtins.eval``...)
is refused before it is looked up. The loaded arrays are then checked for shape and dtype.

Every input error is one line naming the file (and the member) and what was expected.
"""

from __future__ import annotations

import io
import os
import pickle
import tarfile
from pathlib import Path
from typing import Any

import numpy as np

from pfgm.core.errors import DataError

__all__ = [
    "ArchiveError",
    "RestrictedUnpickler",
    "safe_loads",
    "find_cifar10",
    "load_cifar10",
    "download_cifar10",
    "write_cifar10_archive",
    "CIFAR10_CLASSES",
    "CIFAR10_ARCHIVE",
    "CIFAR10_FOLDER",
]

CIFAR10_ARCHIVE = "cifar-10-python.tar.gz"
CIFAR10_FOLDER = "cifar-10-batches-py"
TRAIN_BATCHES = tuple(f"data_batch_{i}" for i in range(1, 6))
TEST_BATCHES = ("test_batch",)
CIFAR10_CLASSES = ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck")
IMAGE_BYTES = 3 * 32 * 32


class ArchiveError(DataError):
    """The archive is missing, truncated, not in the expected format, or holds something it should not."""


#: (module, name) pairs a CIFAR pickle may reference: numpy's array reconstruction (both the numpy 1
#: and numpy 2 module paths, protocols 2–5) and the codec Python 3 uses to pickle bytes at protocol 2
_ALLOWED_GLOBALS = frozenset(
    {
        ("numpy", "ndarray"),
        ("numpy", "dtype"),
        ("numpy.core.multiarray", "_reconstruct"),
        ("numpy._core.multiarray", "_reconstruct"),
        ("numpy.core.multiarray", "scalar"),
        ("numpy._core.multiarray", "scalar"),
        ("numpy.core.numeric", "_frombuffer"),
        ("numpy._core.numeric", "_frombuffer"),
        ("_codecs", "encode"),
    }
)


class RestrictedUnpickler(pickle.Unpickler):
    """An unpickler that resolves only :data:`_ALLOWED_GLOBALS`; anything else raises UnpicklingError.

    Containers and scalars (dict, list, tuple, bytes, str, int, float) need no global, so plain data
    loads as usual; a pickle that names any other callable never gets to call it.
    """

    def find_class(self, module: str, name: str) -> Any:
        if (module, name) not in _ALLOWED_GLOBALS:
            raise pickle.UnpicklingError(f"global '{module}.{name}' is not allowed (only numpy arrays and plain data)")
        return super().find_class(module, name)


def safe_loads(data: bytes, where: str) -> Any:
    """Unpickle ``data`` with :class:`RestrictedUnpickler` (bytes keys as in Python 2 pickles);
    every failure becomes one ArchiveError naming ``where``."""
    try:
        obj = RestrictedUnpickler(io.BytesIO(data), encoding="bytes").load()
    except pickle.UnpicklingError as e:
        raise ArchiveError(f"{where}: refused: {e}") from None
    except Exception as e:  # truncated or garbled bytes raise EOFError, ValueError, KeyError, ...
        raise ArchiveError(f"{where}: not a readable pickle ({type(e).__name__}: {e})") from None
    _no_objects(obj, where)
    return obj


def _no_objects(obj: Any, where: str) -> None:
    """Refuse numpy arrays of dtype object (they could carry anything a later step might call)."""
    if isinstance(obj, np.ndarray) and obj.dtype.hasobject:
        raise ArchiveError(f"{where}: holds an object array; expected plain numbers")
    if isinstance(obj, dict):
        for v in obj.values():
            _no_objects(v, where)
    elif isinstance(obj, (list, tuple)):
        for v in obj[:16]:  # lists of labels / file names: the head shows their kind
            _no_objects(v, where)


def _key(d: dict, name: str) -> Any:
    """d[b"name"] or d["name"] (Python 2 pickles give bytes keys, Python 3 ones str keys)."""
    if name.encode() in d:
        return d[name.encode()]
    return d.get(name)


def _batch(obj: Any, where: str) -> tuple[np.ndarray, np.ndarray]:
    """A loaded batch dict → images uint8 (M, 3, 32, 32), labels int64 (M,), checked."""
    if not isinstance(obj, dict):
        raise ArchiveError(f"{where}: expected a dict with 'data' and 'labels', got {type(obj).__name__}")
    data, labels = _key(obj, "data"), _key(obj, "labels")
    if data is None or labels is None:
        raise ArchiveError(f"{where}: expected keys 'data' and 'labels', found {sorted(map(str, obj))}")
    if not isinstance(data, np.ndarray) or data.dtype != np.uint8 or data.ndim != 2 or data.shape[1] != IMAGE_BYTES:
        shape = getattr(data, "shape", None)
        dtype = getattr(data, "dtype", type(data).__name__)
        raise ArchiveError(f"{where}: 'data' must be uint8 of shape (M, {IMAGE_BYTES}), got {dtype} {shape}")
    try:
        lab = np.asarray(labels, dtype=np.int64).reshape(-1)
    except (TypeError, ValueError):
        raise ArchiveError(f"{where}: 'labels' must be a list of integers") from None
    if len(lab) != len(data):
        raise ArchiveError(f"{where}: {len(data)} images but {len(lab)} labels")
    if len(lab) and (lab.min() < 0 or lab.max() > 9):
        raise ArchiveError(f"{where}: labels must lie in 0..9, got {lab.min()}..{lab.max()}")
    return data.reshape(-1, 3, 32, 32), lab


def find_cifar10(root: str | os.PathLike) -> Path:
    """The archive or extracted folder under ``root`` (or ``root`` itself if it is one)."""
    root = Path(root).expanduser()
    if root.is_file() or root.name == CIFAR10_FOLDER:
        if not root.exists():
            raise ArchiveError(f"{root}: does not exist")
        return root
    for candidate in (root / CIFAR10_FOLDER, root / CIFAR10_ARCHIVE):
        if candidate.exists():
            return candidate
    raise ArchiveError(
        f"{root}: no CIFAR-10 data (expected {CIFAR10_ARCHIVE} or {CIFAR10_FOLDER}/ in it); "
        f"fetch it with modality.download=true or python -m pfgm.modalities.images.archive {root}"
    )


def _read_members(path: Path, names: tuple[str, ...]) -> dict[str, bytes]:
    """{name: bytes} of the batch files, from the tar.gz (read in place, nothing extracted) or the folder."""
    out: dict[str, bytes] = {}
    if path.is_dir():
        for n in names:
            f = path / n
            if not f.is_file():
                raise ArchiveError(f"{f}: missing (a CIFAR-10 folder holds {', '.join(names)})")
            out[n] = f.read_bytes()
        return out
    try:
        with tarfile.open(path, "r:*") as tar:
            for m in tar:
                base = m.name.rsplit("/", 1)[-1]
                if base in names and m.isfile():
                    f = tar.extractfile(m)
                    out[base] = f.read() if f is not None else b""
    except (tarfile.TarError, EOFError, OSError, ValueError) as e:  # truncated gzip: EOFError / BadGzipFile
        raise ArchiveError(f"{path}: truncated or not a tar archive ({type(e).__name__}: {e})") from None
    missing = [n for n in names if n not in out]
    if missing:
        raise ArchiveError(f"{path}: member(s) {', '.join(missing)} missing (is it the CIFAR-10 python archive?)")
    return out


def load_cifar10(root: str | os.PathLike, split: str = "train") -> tuple[np.ndarray, np.ndarray]:
    """Images uint8 (M, 3, 32, 32) and labels int64 (M,) of ``split``: "train" (the five data batches,
    50,000 images) or "test" (test_batch, 10,000)."""
    if split not in ("train", "test"):
        raise ValueError(f"split must be 'train' or 'test', got {split!r}")
    path = find_cifar10(root)
    names = TRAIN_BATCHES if split == "train" else TEST_BATCHES
    raw = _read_members(path, names)
    parts = [_batch(safe_loads(raw[n], f"{path}:{n}"), f"{path}:{n}") for n in names]
    return np.concatenate([p[0] for p in parts]), np.concatenate([p[1] for p in parts])


def write_cifar10_archive(
    path: str | os.PathLike,
    images: np.ndarray,
    labels: np.ndarray,
    test_images: np.ndarray | None = None,
    test_labels: np.ndarray | None = None,
) -> Path:
    """Write ``images`` uint8 (M, 3, 32, 32) and ``labels`` (M,) as a CIFAR-10 python archive (tar.gz), split
    over the five data batches as evenly as they go; the test batch holds ``test_images`` (default: the first
    image). For tests and small subsets; the layout is the real archive's, the pickles protocol 2."""
    images = np.asarray(images, dtype=np.uint8)
    if images.ndim != 4 or images.shape[1:] != (3, 32, 32):
        raise ValueError(f"images must be uint8 (M, 3, 32, 32), got {images.shape}")
    test_images = images[:1] if test_images is None else np.asarray(test_images, dtype=np.uint8)
    test_labels = np.asarray(labels)[:1] if test_labels is None else np.asarray(test_labels)
    chunks = np.array_split(np.arange(len(images)), len(TRAIN_BATCHES))

    def batch(x: np.ndarray, y: np.ndarray, name: str) -> bytes:
        d = {
            b"batch_label": name.encode(),
            b"labels": [int(v) for v in y],
            b"data": x.reshape(len(x), -1),
            b"filenames": [f"img{i}.png".encode() for i in range(len(x))],
        }
        return pickle.dumps(d, protocol=2)

    members = {n: batch(images[c], np.asarray(labels)[c], n) for n, c in zip(TRAIN_BATCHES, chunks)}
    members["test_batch"] = batch(test_images, test_labels, "test_batch")
    members["batches.meta"] = pickle.dumps({b"label_names": [c.encode() for c in CIFAR10_CLASSES]}, protocol=2)
    path = Path(path)
    with tarfile.open(path, "w:gz") as tar:
        for n, data in members.items():
            info = tarfile.TarInfo(f"{CIFAR10_FOLDER}/{n}")
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return path


def download_cifar10(root: str | os.PathLike) -> Path:
    """Fetch the archive into ``root`` with torchvision's downloader (its URL and MD5 check) and return its path.
    The download is all torchvision does here: the batches are read by :func:`load_cifar10`."""
    try:
        from torchvision.datasets.utils import download_url
    except ImportError:
        raise ArchiveError(
            f"downloading CIFAR-10 needs torchvision (pip install torchvision), or place {CIFAR10_ARCHIVE} in {root} yourself"
        ) from None
    from torchvision.datasets import CIFAR10

    root = Path(root).expanduser()
    root.mkdir(parents=True, exist_ok=True)
    download_url(CIFAR10.url, str(root), CIFAR10.filename, CIFAR10.tgz_md5)
    return root / CIFAR10_ARCHIVE


if __name__ == "__main__":  # python -m pfgm.modalities.images.archive ROOT: fetch the archive into ROOT
    import sys

    print(download_cifar10(sys.argv[1] if len(sys.argv) > 1 else "."))
