"""The one error type for unreadable checkpoint and weight files: the message names the path and the problem."""

from __future__ import annotations

import os
from pathlib import Path

__all__ = ["CheckpointError", "first_line"]


class CheckpointError(Exception):
    """A checkpoint or weights file is missing, corrupt, foreign or unsafe. The message names the path."""

    def __init__(self, path: str | os.PathLike[str], problem: str) -> None:
        self.path = Path(path)
        self.problem = problem
        super().__init__(f"{self.path}: {problem}")


def first_line(msg: str, limit: int = 200) -> str:
    line = next((ln.strip() for ln in msg.splitlines() if ln.strip()), "")
    return line[:limit] if line else "no details"
