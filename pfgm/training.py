"""Train a recipe from Python, as ``pfgm-train recipe=NAME run_dir=… <overrides>`` does, and get the model back.

    import pfgm
    model = pfgm.train("digits", run_dir="runs/d", overrides=["trainer.max_steps=200"])
    digits = model.sample(16, seed=0)

The config is composed by Hydra's compose API from the same packaged tree (configs/train.yaml and its
groups) the console script reads, and handed to the same ``recipes.train.run_training``: the same
overrides give the same EMA weights, bit for bit.
"""

from __future__ import annotations

import contextlib
import os
from typing import Any, Iterator, Sequence

from pfgm.core.errors import ConfigError
from pfgm.recipes.cli import CONFIG_MODULE

from .model import Model, load

__all__ = ["train", "compose_train"]


@contextlib.contextmanager
def _own_hydra() -> Iterator[None]:
    """Hydra's global state for one composition, left as it was found.

    A caller may already hold Hydra (a Hydra app, a notebook that called ``hydra.initialize``): its
    instance is set aside and put back, so pfgm.train works there, twice in a row, and leaves no trace.
    """
    from hydra import initialize_config_module
    from hydra.core.global_hydra import GlobalHydra

    gh = GlobalHydra.instance()
    held = gh.hydra
    gh.clear()
    try:
        with initialize_config_module(config_module=CONFIG_MODULE, version_base="1.3"):
            yield
    finally:
        GlobalHydra.instance().clear()
        if held is not None:
            GlobalHydra.instance().initialize(held)


def _overrides(overrides: Sequence[str] | None) -> list[str]:
    if overrides is None:
        return []
    if isinstance(overrides, (str, bytes)) or not all(isinstance(o, str) for o in overrides):
        raise ConfigError(f"overrides must be a list of strings such as ['trainer.max_steps=200'], got {overrides!r}")
    out = list(overrides)
    for o in out:
        key = o.lstrip("+~").split("=", 1)[0]
        if key == "recipe":
            raise ConfigError(f"overrides: {o!r} names the recipe; give it as train's first argument")
        if key == "run_dir":
            raise ConfigError(f"overrides: {o!r} names the run dir; give it as run_dir=")
    return out


def compose_train(
    recipe: str, run_dir: str | os.PathLike[str] | None = None, overrides: Sequence[str] | None = None
) -> dict[str, Any]:
    """The plain config ``pfgm-train recipe=RECIPE run_dir=RUN_DIR <overrides>`` trains with.

    As the console script does: ``run_dir`` absolute (Hydra's output dir; default ``runs/<timestamp>``
    in the current directory), ``recipe_name`` recorded, interpolations resolved.

    Raises:
        pfgm.core.errors.ConfigError: an unknown recipe or a malformed override (Hydra's message, in one line).
    """
    from hydra import compose
    from hydra.errors import HydraException
    from omegaconf import open_dict

    from pfgm.recipes.build import plain
    from pfgm.recipes.cli import apply_group_choices

    if not isinstance(recipe, str) or not recipe.strip() or "=" in recipe:
        raise ConfigError(f"recipe must name a recipe such as 'digits' (pfgm-train lists them), got {recipe!r}")
    args = [f"recipe={recipe}", *_overrides(overrides)]
    if run_dir is not None:
        run_dir = os.fspath(run_dir) if isinstance(run_dir, os.PathLike) else run_dir
        if not isinstance(run_dir, str) or not run_dir.strip():
            raise ConfigError(f"run_dir must name the run directory to write, got {run_dir!r}")
        args.append(f"run_dir={run_dir}")
    try:
        with _own_hydra():
            cfg = compose(config_name="train", overrides=args, return_hydra_config=True)
            apply_group_choices(cfg, args, "train")  # pfgm=edm in the overrides wins over the recipe
    except HydraException as e:
        first = str(e).strip().splitlines()[0]
        if f"recipe/{recipe}" in first:  # name the recipes there are, as pfgm-train's listing does
            from pfgm.recipes.cli import recipe_catalogue

            names = sorted(n for items in recipe_catalogue().values() for n, _ in items)
            raise ConfigError(f"recipe={recipe!r} is not a recipe; available: {', '.join(names)}") from e
        from pfgm.recipes.cli import _unknown_key

        # a mistyped key as pfgm-train reports it (with the closest known key), else Hydra's first line
        line = _unknown_key("pfgm.train", e.__cause__) if e.__cause__ is not None else None
        raise ConfigError(line.split(": error: ", 1)[1] if line else f"overrides {args[1:]}: {first}") from e
    # what hydra.main hands the app: the recipe it chose, the run dir as its output dir (absolute), no hydra node
    choice = cfg.hydra.runtime.choices.get("recipe")
    output_dir = os.path.abspath(str(cfg.hydra.run.dir))
    with open_dict(cfg):
        del cfg["hydra"]
    c = plain(cfg)  # an interpolation that does not resolve: a ConfigError naming the key
    c["recipe_name"] = choice
    c["run_dir"] = output_dir
    return c


def train(recipe: str, run_dir: str | os.PathLike[str] | None = None, overrides: Sequence[str] | None = None) -> Model:
    """Train ``recipe`` into ``run_dir`` and return the trained model (its EMA weights).

    The same as ``pfgm-train recipe=RECIPE run_dir=RUN_DIR <overrides>``: the same config, checks,
    run directory (resumable states, ``ema.safetensors``, metrics, previews) and the same weights.

    Args:
        recipe: a recipe name (``pfgm-train`` alone lists them): "digits", "molecules", "cdr3", ...
        run_dir: where the run goes (default ``runs/<timestamp>``). A run dir that already holds a run
            is refused unless the overrides say ``resume=true`` (continue it) or ``resume=auto``.
        overrides: command-line overrides, e.g. ``["pfgm.D=inf", "trainer.max_steps=2000", "resume=auto"]``.

    Returns:
        the trained :class:`pfgm.Model` (loaded from ``run_dir``); ``.summary`` holds the training summary.

    Raises:
        pfgm.core.errors.ConfigError: an unknown recipe, a malformed override or a bad value (naming it), before any work.
        FileExistsError: ``run_dir`` already holds a run and ``resume`` was not given.

    Example (a smoke-sized run; the recipe's own budget trains a useful model):
        >>> from pathlib import Path
        >>> model = pfgm.train("digits", run_dir="runs/d", overrides=["trainer.max_steps=5", "backbone.model_channels=8"])
        >>> model.summary["step"], model.modality.name, sorted(p.name for p in Path("runs/d").glob("*.safetensors"))
        (5, 'images', ['ema.safetensors'])
    """
    from pfgm.recipes.train import run_training

    c = compose_train(recipe, run_dir, overrides)
    summary = run_training(c)  # checks the whole config first, then sets up the process from trainer.device
    model = load(summary["run_dir"], device=(c.get("trainer") or {}).get("device", "auto"))
    model.summary = summary
    return model
