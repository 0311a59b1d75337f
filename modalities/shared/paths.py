"""Where the toolkit keeps what it downloads or builds for itself (data sets, scorer networks)."""

from __future__ import annotations

import os
from pathlib import Path

__all__ = ["cache_dir", "data_root"]


def cache_dir() -> Path:
    """Things the toolkit builds itself (scorer networks, synthesised data): ``$PFGM_CACHE`` or ``~/.cache/pfgm``."""
    env = os.environ.get("PFGM_CACHE")
    return Path(env).expanduser() if env else Path.home() / ".cache" / "pfgm"


def data_root() -> Path:
    """Downloaded data sets (QM9, ZINC, SpeechCommands): ``$PFGM_DATA`` or ``~/.cache/pfgm``."""
    env = os.environ.get("PFGM_DATA")
    return Path(env).expanduser() if env else Path.home() / ".cache" / "pfgm"
