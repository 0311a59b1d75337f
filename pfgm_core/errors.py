"""The project's user-error types: what the user gave (a setting, a file, a record, a checkpoint) cannot be used.

The console scripts print a :class:`PfgmError` as one line and exit 1; any other exception (a plain
``ValueError`` or ``KeyError`` included) is a bug and keeps its traceback. The types that stand for a
bad value also derive from ``ValueError`` (and :class:`UnknownNameError` from ``KeyError``), so code
that caught those before still catches them.
"""

from __future__ import annotations

import os
from pathlib import Path

__all__ = ["PfgmError", "ConfigError", "DataError", "UnknownNameError", "CheckpointError", "first_line"]


class PfgmError(Exception):
    """Base of the errors that are the user's input, not a bug: the message says what to change."""


class ConfigError(PfgmError, ValueError):
    """A config value, option or argument that is not allowed; the message names the setting."""


class DataError(PfgmError, ValueError):
    """An input data file or record that cannot be used; the message names the file (and the record)."""


class UnknownNameError(ConfigError, KeyError):
    """A name (a modality, a data set) that nothing is registered under; the message lists the known ones."""

    def __str__(self) -> str:  # the message as given, not KeyError's quoted repr
        return str(self.args[0]) if len(self.args) == 1 else super().__str__()


class CheckpointError(PfgmError):
    """A checkpoint or weights file is missing, corrupt, foreign or unsafe. The message names the path."""

    def __init__(self, path: str | os.PathLike[str], problem: str) -> None:
        self.path = Path(path)
        self.problem = problem
        super().__init__(f"{self.path}: {problem}")


def first_line(msg: str, limit: int = 200) -> str:
    """The first non-blank line of ``msg``, at most ``limit`` characters ("no details" if there is none)."""
    line = next((ln.strip() for ln in msg.splitlines() if ln.strip()), "")
    return line[:limit] if line else "no details"
