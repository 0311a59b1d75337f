"""Where the toolkit keeps what it downloads or builds for itself (data sets, scorer networks)."""

from __future__ import annotations

import os
import tempfile
import warnings
from pathlib import Path

from pfgm.core.errors import PfgmError

__all__ = ["CacheDirError", "cache_dir", "check_cache_setting", "data_root"]

#: the fallback cache chosen in this process when ~/.cache/pfgm cannot be written (warned about once)
_fallback: list[Path] = []


class CacheDirError(PfgmError, NotADirectoryError):
    """``$PFGM_CACHE`` names a file, or a folder that cannot be created or written. One line naming the setting."""


def check_cache_setting() -> Path | None:
    """The folder ``$PFGM_CACHE`` names, created if missing; None when it is not set.

    Raises :class:`CacheDirError` naming the setting when it is a file, or a folder that cannot be
    created or written: the user chose that place, so it is an error, not a silent fallback (the
    command-line tools check this before any work, so a run never fails at its end for it).
    """
    env = os.environ.get("PFGM_CACHE")
    if not env:
        return None
    p = Path(env).expanduser()
    if p.exists() and not p.is_dir():
        raise CacheDirError(
            f"PFGM_CACHE={env} is a file, not a folder; point PFGM_CACHE at a folder (or unset it to use ~/.cache/pfgm)"
        )
    why = _writable_dir(p)
    if why is not None:
        raise CacheDirError(
            f"PFGM_CACHE={env} cannot be used as the cache folder ({why}); point PFGM_CACHE at a folder you can write"
        )
    return p


def _writable_dir(p: Path) -> str | None:
    """None if ``p`` is (or could be made) a writable folder, else why not."""
    try:
        p.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        return e.strerror or str(e)
    if not os.access(p, os.W_OK | os.X_OK):
        return "not writable"
    # os.access says yes to root on a read-only mount: a probe file is the only sure test
    try:
        fd, probe = tempfile.mkstemp(prefix=".pfgm-probe-", dir=p)
        os.close(fd)
        os.unlink(probe)
    except OSError as e:
        return e.strerror or str(e)
    return None


def _temporary_cache(why: str, default: Path) -> Path:
    """A per-user folder under the system's temp dir, chosen once per process with one warning."""
    if _fallback:
        return _fallback[0]
    uid = os.getuid() if hasattr(os, "getuid") else "user"
    p = Path(tempfile.gettempdir()) / f"pfgm-cache-{uid}"
    try:
        p.mkdir(mode=0o700, exist_ok=True)
        if p.is_symlink() or not p.is_dir() or (hasattr(os, "getuid") and p.stat().st_uid != os.getuid()):
            raise PermissionError("not this user's folder")
    except OSError:  # taken by someone else: a private one for this process
        p = Path(tempfile.mkdtemp(prefix="pfgm-cache-"))
    _fallback.append(p)
    warnings.warn(
        f"pfgm: the cache folder {default} cannot be written ({why}); caching in {p} instead, which the "
        "system may delete: set PFGM_CACHE to a writable folder to keep the cache",
        stacklevel=3,
    )
    return p


def cache_dir() -> Path:
    """Things the toolkit builds itself (scorer networks, synthesised data): ``$PFGM_CACHE`` or ``~/.cache/pfgm``.

    A ``$PFGM_CACHE`` that is a file or cannot be written is an error naming it. When the default
    cannot be written (a read-only home), a temporary per-user folder is used with one warning
    naming PFGM_CACHE, instead of failing at the end of the work that wanted to cache something.
    """
    chosen = check_cache_setting()
    if chosen is not None:
        return chosen
    default = Path.home() / ".cache" / "pfgm"
    why = _writable_dir(default)
    return default if why is None else _temporary_cache(why, default)


def data_root() -> Path:
    """Downloaded data sets (QM9, ZINC, SpeechCommands): ``$PFGM_DATA`` or ``~/.cache/pfgm``."""
    env = os.environ.get("PFGM_DATA")
    return Path(env).expanduser() if env else Path.home() / ".cache" / "pfgm"
