"""What the console scripts share: one-line errors with a non-zero exit, the recipe catalogue,
and config composition for code and tests (the same tree the Hydra apps use)."""

from __future__ import annotations

import contextlib
import errno
import os
import sys
from pathlib import Path
from importlib import resources
from typing import Any, Iterator

import yaml

from modalities.base import ModalityUnavailable
from pfgm_core.checkpoint import CheckpointError

CONFIG_MODULE = "configs"
#: errors that are the user's input, reported in one line (a bug still shows its traceback)
USER_ERRORS = (ValueError, FileNotFoundError, FileExistsError, NotADirectoryError, IsADirectoryError, KeyError,
               CheckpointError, PermissionError, ModalityUnavailable)


#: errno values that are the machine's state, not a bug: reported in one line naming the file
_DISK_ERRNOS = {errno.ENOSPC, errno.EDQUOT, errno.EROFS, errno.EACCES, errno.EPERM, errno.EIO, errno.EFBIG}


def resume_command(prog: str, run_dir: Any, argv: list[str] | None = None) -> str:
    """The command line that continues an interrupted run: the same arguments, the run dir made explicit, resume=true."""
    args = [a for a in (sys.argv[1:] if argv is None else argv) if not a.lstrip("+").startswith("resume=")]
    if run_dir is not None and not any(a.lstrip("+").startswith("run_dir=") for a in args):
        args.append(f"run_dir={run_dir}")
    if prog == "pfgm-train":
        args.append("resume=true")
    return " ".join([prog, *args])


@contextlib.contextmanager
def user_errors(prog: str, run_dir: Any = None) -> Iterator[None]:
    """Report the user's errors, a full disk and interrupts in one line and exit non-zero.

    ``run_dir``: a folder this command may have created (Hydra makes it before the app runs); if the
    command fails and leaves it empty, it is removed, so a refused run writes nothing.
    """
    from pfgm_core.trainer import TrainingInterrupted

    try:
        yield
    except TrainingInterrupted as e:
        print(f"{prog}: {e}; resume with: {resume_command(prog, e.run_dir)}", file=sys.stderr)
        sys.exit(e.exit_code)
    except BaseException as e:
        if run_dir:
            with contextlib.suppress(OSError):
                os.rmdir(run_dir)  # only succeeds if empty
        if isinstance(e, KeyboardInterrupt):
            print(f"{prog}: interrupted before training started or while sampling; nothing new was saved", file=sys.stderr)
            sys.exit(130)
        if isinstance(e, USER_ERRORS):
            msg = e.args[0] if isinstance(e, KeyError) and e.args else e
            print(f"{prog}: error: {msg}", file=sys.stderr)
            sys.exit(1)
        if isinstance(e, OSError) and e.errno in _DISK_ERRNOS:
            where = f" writing {e.filename}" if e.filename else ""
            print(f"{prog}: error: {e.strerror or e}{where} (files written before are intact)", file=sys.stderr)
            sys.exit(1)
        raise


def recipe_catalogue() -> dict[str, list[tuple[str, str]]]:
    """{group: [(recipe, description)]} read from the shipped configs/recipe/*.yaml."""
    out: dict[str, list[tuple[str, str]]] = {}
    for f in sorted(resources.files(CONFIG_MODULE).joinpath("recipe").iterdir(), key=lambda p: p.name):
        if not f.name.endswith(".yaml"):
            continue
        data = yaml.safe_load(f.read_text()) or {}
        out.setdefault(str(data.get("group", "other")), []).append((f.name[:-5], str(data.get("description", ""))))
    return out


def print_catalogue(file=sys.stdout) -> None:
    print("usage: pfgm-train recipe=<name> [run_dir=runs/x] [pfgm.D=128] [trainer.max_steps=N] [resume=true]\n", file=file)
    print("recipes:", file=file)
    for group, items in recipe_catalogue().items():
        print(f"  {group}:", file=file)
        for name, desc in items:
            print(f"    {name:<18} {desc}", file=file)


def compose(config_name: str, overrides: list[str] | None = None) -> dict[str, Any]:
    """Compose a config as the app would (no run dir is created) and return it as plain data."""
    from hydra import compose as hcompose, initialize_config_module
    from omegaconf import OmegaConf

    with initialize_config_module(CONFIG_MODULE, version_base="1.3"):
        cfg = hcompose(config_name=config_name, overrides=list(overrides or []))
    return OmegaConf.to_container(cfg, resolve=False)


def check_writable(out: Path) -> None:
    """Refuse, naming it, an output path whose nearest existing folder is not writable (before any work)."""
    probe = out if out.is_dir() else (out.parent if str(out.parent) else Path("."))
    while not probe.exists() and probe != probe.parent:
        probe = probe.parent
    if not os.access(probe, os.W_OK):
        raise PermissionError(f"cannot write out={out}: {probe} is not writable")
