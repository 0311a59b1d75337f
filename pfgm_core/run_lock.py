"""One training per run dir: a lock file holding the owner's pid and host.

``run_dir/.lock`` is created atomically (written to a temp file, then hard-linked into place, so a
reader never sees it half written and two starters cannot both win). A second training into the
same run dir refuses with a message naming the owner. A lock left behind by a crashed run
(``kill -9``, power loss) does not block: if its host is this host and its pid is gone, it is
stale and taken over. A lock of another host is never judged stale (its pids mean nothing here):
the message says to remove it by hand if that run is gone.
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
import time
import warnings
from pathlib import Path
from typing import Any

from .errors import PfgmError

__all__ = ["LOCK_NAME", "RunLocked", "RunLock", "read_lock", "live_owner"]

LOCK_NAME = ".lock"


class RunLocked(PfgmError, FileExistsError):
    """The run dir is held by another live training."""


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, owned by someone else
        return True
    return True


def _pid_start(pid: int) -> str | None:
    """The process's start time in clock ticks (Linux), so a reused pid is not mistaken for the owner."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[19]
    except (OSError, IndexError):
        return None


def read_lock(path: Path) -> dict[str, Any] | None:
    """The lock's content, or None if there is no lock; an unreadable lock reads as {} (treated as live)."""
    try:
        return json.loads(path.read_text())
    except FileNotFoundError:
        return None
    except (OSError, ValueError):
        return {}


def _mine(info: dict[str, Any]) -> bool:
    """The lock was written by this process."""
    return info.get("pid") == os.getpid() and info.get("host") == socket.gethostname()


def _stale(info: dict[str, Any]) -> bool:
    if info.get("host") != socket.gethostname() or not isinstance(info.get("pid"), int):
        return False
    pid = info["pid"]
    if not _pid_alive(pid):
        return True
    start = info.get("start")
    return start is not None and _pid_start(pid) not in (None, start)


def live_owner(run_dir: str | os.PathLike[str]) -> dict[str, Any] | None:
    """The lock of another live training that holds ``run_dir`` now, or None (no lock, a stale one, or
    this process's own).

    Readers (pfgm-sample, pfgm-eval) use it to say that the weights they found are a mid-run export.
    """
    info = read_lock(Path(run_dir) / LOCK_NAME)
    return None if info is None or _stale(info) or _mine(info) else info


class RunLock:
    """``with RunLock(run_dir): ...`` holds the run dir for this process; released on exit."""

    def __init__(self, run_dir: str | os.PathLike[str]):
        self.run_dir = Path(run_dir)
        self.path = self.run_dir / LOCK_NAME
        self.held = False

    def acquire(self) -> "RunLock":
        self.run_dir.mkdir(parents=True, exist_ok=True)
        me = {
            "pid": os.getpid(),
            "host": socket.gethostname(),
            "start": _pid_start(os.getpid()),
            "since": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        }
        tmp = self.run_dir / f".lock.{os.getpid()}.tmp"
        tmp.write_text(json.dumps(me))
        try:
            for _ in range(3):
                try:
                    os.link(tmp, self.path)  # atomic: fails if a lock exists
                    self.held = True
                    return self
                except FileExistsError:
                    info = read_lock(self.path)
                    if info is None:
                        continue  # released meanwhile: try again
                    if _mine(info):
                        raise RunLocked(f"run_dir {self.run_dir} is already locked by this process")
                    if not _stale(info):
                        raise RunLocked(
                            f"run_dir {self.run_dir} is in use by pid {info.get('pid', '?')} on host "
                            f"{info.get('host', '?')} (since {info.get('since', '?')}; lock file {self.path}); "
                            "wait for it to finish, choose another run_dir, or delete the lock file if that run is gone"
                        )
                    # move the stale lock aside atomically, then check it was the stale one: if another
                    # starter took over in between, it was their fresh lock, which goes back in place
                    aside = self.run_dir / f".lock.stale.{os.getpid()}"
                    try:
                        os.rename(self.path, aside)
                    except FileNotFoundError:
                        continue
                    if read_lock(aside) != info:
                        with contextlib.suppress(OSError):
                            os.link(aside, self.path)
                        aside.unlink(missing_ok=True)
                        continue
                    aside.unlink(missing_ok=True)
                    warnings.warn(f"{self.path}: stale lock of pid {info['pid']} (no longer running) taken over", stacklevel=2)
            raise RunLocked(f"run_dir {self.run_dir}: could not take the lock {self.path} (other processes keep taking it)")
        finally:
            tmp.unlink(missing_ok=True)

    def release(self) -> None:
        if not self.held:
            return
        self.held = False
        info = read_lock(self.path)
        if info and _mine(info):
            self.path.unlink(missing_ok=True)

    def __enter__(self) -> "RunLock":
        return self.acquire()

    def __exit__(self, *exc: Any) -> None:
        self.release()
