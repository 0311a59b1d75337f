"""Atomic file writes: readers see the old content or all of the new, never a part.

Every file pfgm writes (checkpoints, weight exports, metrics, samples) goes through here: a temp
file in the same directory (so ``os.replace`` is one atomic rename), fsync, rename, fsync of the
directory. Temp files are created with mode 0666 minus the umask, like a plain ``open``, so
results are as readable to the group as any other file the user writes.
"""

from __future__ import annotations

import hashlib
import os
import re
import secrets
import shutil
import socket
from pathlib import Path
from typing import Any, Callable

import torch

__all__ = [
    "TMP_SUFFIX",
    "AtomicAppender",
    "file_sha256",
    "atomic_write",
    "atomic_write_bytes",
    "atomic_write_text",
    "atomic_torch_save",
    "temp_tag",
    "remove_stale_temps",
]

TMP_SUFFIX = ".tmp"

#: this machine in temp names (a hash of the host name): a pid is only judged on the host that owns it
_HOST = hashlib.sha256(socket.gethostname().encode()).hexdigest()[:8]
#: the tag temp_tag() puts at the end of a temp name (before .tmp for files)
_TAG = re.compile(r"[.-]([0-9a-f]{12})-(\d+)-([0-9a-f]{8})(?:\.tmp)?$")


def temp_tag() -> str:
    """``<random>-<pid>-<host>`` for a temp file or folder name: unique, and it tells a later run whether
    the writer is still alive (:func:`remove_stale_temps`)."""
    return f"{secrets.token_hex(6)}-{os.getpid()}-{_HOST}"


def _writer_gone(name: str) -> bool:
    """Whether ``name`` is a pfgm temp whose writer, a process of this host, no longer runs."""
    m = _TAG.search(name)
    if not name.startswith(".") or m is None or m.group(3) != _HOST or os.name != "posix":
        return False
    pid = int(m.group(2))
    if pid == os.getpid():
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except OSError:  # another user's live process
        return False
    return False


def remove_stale_temps(folder: str | os.PathLike[str]) -> list[Path]:
    """Remove the temp files and folders a killed run left in ``folder`` (``.<name>.<tag>.tmp`` of an atomic
    write, ``.pfgm-tmp-<tag>`` of pfgm-sample): those whose writer (pid on this host) is gone. A live
    run's temps, another host's and names pfgm did not make are left alone. -> what was removed."""
    removed: list[Path] = []
    try:
        entries = list(Path(folder).iterdir())
    except OSError:
        return removed
    for p in entries:
        if not _writer_gone(p.name):
            continue
        try:
            if p.is_dir() and not p.is_symlink():
                shutil.rmtree(p)
            else:
                p.unlink()
            removed.append(p)
        except OSError:
            pass
    return removed


def _fsync_dir(directory: Path) -> None:
    """Persist a rename: on POSIX the directory entry itself must be synced. Best effort elsewhere."""
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def _make_temp(path: Path) -> tuple[int, str]:
    """Create an exclusive temp file next to ``path``: ``.<name>.<random>-<pid>-<host>.tmp``.

    Not ``tempfile.mkstemp``: that creates mode 0600, and the rename would then leave checkpoints unreadable
    to the group; ``os.open(..., 0o666)`` lets the umask decide, like a plain ``open``.
    """
    while True:
        tmp = path.parent / f".{path.name}.{temp_tag()}{TMP_SUFFIX}"
        try:
            return os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0), 0o666), str(tmp)
        except FileExistsError:
            continue


def atomic_write(path: str | os.PathLike[str], write: Callable[[Any], None]) -> Path:
    """Call ``write(fileobj)`` on a temp file next to ``path``, fsync it and rename it over ``path``.

    The temp file lives in the same directory so that ``os.replace`` is an atomic rename on one file
    system; its name starts with "." and ends with ".tmp" so no reader mistakes it for a checkpoint.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = _make_temp(path)
    try:
        with os.fdopen(fd, "wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException as e:
        # Also on KeyboardInterrupt: leave the old file untouched and no temp litter behind.
        try:
            os.unlink(tmp)
        except OSError:
            pass
        if isinstance(e, OSError) and e.errno is not None and not e.filename:
            # a failed write (disk full, quota) names no file by itself: say which one, for a one-line error
            raise type(e)(e.errno, e.strerror or str(e), str(path)) from None
        raise
    _fsync_dir(path.parent)
    return path


def atomic_write_bytes(path: str | os.PathLike[str], data: bytes) -> Path:
    """Write ``data`` to ``path`` atomically: readers see the old content or all of the new, never a part."""
    return atomic_write(path, lambda f: f.write(data))


class _Recording:
    """A file wrapper that remembers the OSError its write raised: torch's zip writer turns it into an
    opaque RuntimeError ("unexpected pos ..."), and a full disk must be reported as a full disk."""

    def __init__(self, f: Any):
        self.f, self.error = f, None

    def write(self, data: Any) -> int:
        try:
            return self.f.write(data)
        except OSError as e:
            self.error = e
            raise

    def flush(self) -> None:
        self.f.flush()


def atomic_torch_save(obj: Any, path: str | os.PathLike[str]) -> Path:
    """``torch.save(obj, path)`` atomically (temp file in the same directory, fsync, ``os.replace``)."""

    def write(f: Any) -> None:
        rec = _Recording(f)
        try:
            torch.save(obj, rec)
        except RuntimeError:
            if rec.error is not None:
                raise rec.error from None
            raise

    return atomic_write(path, write)


def atomic_write_text(path: str | os.PathLike[str], text: str) -> Path:
    """Write UTF-8 ``text`` to ``path`` atomically."""
    return atomic_write_bytes(path, text.encode("utf-8"))


class AtomicAppender:
    """A file written in parts and published whole: chunks go to a temp file next to ``path``;
    :meth:`commit` fsyncs and renames it over ``path``, :meth:`abort` (or an exception inside a
    ``with`` block) deletes it. Readers never see a part, however many chunks a stream writes, and
    the writer never holds more than one chunk: what streaming 100,000 samples to one file needs.
    """

    def __init__(self, path: str | os.PathLike[str], text: bool = True):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd, self._tmp = _make_temp(self.path)
        self._f = os.fdopen(fd, "w", encoding="utf-8", newline="") if text else os.fdopen(fd, "wb")

    @property
    def file(self) -> Any:
        """The open temp file (for writers that want a file object, e.g. RDKit's SDWriter)."""
        return self._f

    def write(self, data: Any) -> None:
        try:
            self._f.write(data)
        except OSError as e:
            self.abort()
            if e.errno is not None and not e.filename:
                raise type(e)(e.errno, e.strerror or str(e), str(self.path)) from None
            raise

    def commit(self) -> Path:
        try:
            self._f.flush()
            os.fsync(self._f.fileno())
            self._f.close()
            os.replace(self._tmp, self.path)
        except BaseException:
            self.abort()
            raise
        _fsync_dir(self.path.parent)
        return self.path

    def abort(self) -> None:
        try:
            self._f.close()
        except OSError:
            pass
        try:
            os.unlink(self._tmp)
        except OSError:
            pass

    def __enter__(self) -> "AtomicAppender":
        return self

    def __exit__(self, exc_type: Any, *_: Any) -> None:
        if exc_type is None:
            self.commit()
        else:
            self.abort()


def file_sha256(path: str | os.PathLike[str]) -> str:
    """sha256 of a file's bytes, read in 1 MiB pieces (weights files are large)."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()
