"""What the console scripts share: one-line errors with a non-zero exit, the recipe catalogue,
and config composition for code and tests (the same tree the Hydra apps use)."""

from __future__ import annotations

import contextlib
import sys
from importlib import resources
from typing import Any, Iterator

import yaml

from modalities.base import ModalityUnavailable
from pfgm_core.checkpoint import CheckpointError

CONFIG_MODULE = "configs"
#: errors that are the user's input, reported in one line (a bug still shows its traceback)
USER_ERRORS = (ValueError, FileNotFoundError, FileExistsError, NotADirectoryError, IsADirectoryError, KeyError,
               CheckpointError, PermissionError, ModalityUnavailable)


@contextlib.contextmanager
def user_errors(prog: str) -> Iterator[None]:
    try:
        yield
    except USER_ERRORS as e:
        msg = e.args[0] if isinstance(e, KeyError) and e.args else e
        print(f"{prog}: error: {msg}", file=sys.stderr)
        sys.exit(1)


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
