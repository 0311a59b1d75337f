"""Recipes that installed packages bring, found by name like the shipped ones.

A package declares, in its pyproject.toml,

    [project.entry-points."pfgm.modalities"]
    toy = "pfgm_toy.modality"        # importing it registers the modality "toy"
    [project.entry-points."pfgm.recipes"]
    toy = "pfgm_toy.recipes"         # a package whose folder holds recipe YAMLs (toy_ring.yaml, ...)

and `pfgm-train recipe=toy_ring` finds the recipe: each YAML is stored in Hydra's ConfigStore under
the ``recipe`` group before the config is composed. A shipped recipe of the same name wins.
"""

from __future__ import annotations

import warnings
from importlib import resources
from importlib.metadata import entry_points
from typing import Any

import yaml

from pfgm.core.errors import ConfigError

__all__ = ["RECIPE_GROUP", "plugin_recipes", "register_plugin_recipes"]

RECIPE_GROUP = "pfgm.recipes"


def plugin_recipes() -> dict[str, tuple[str, dict[str, Any]]]:
    """{recipe name: (the package that brings it, its YAML as data)} over the ``pfgm.recipes`` entry points."""
    out: dict[str, tuple[str, dict[str, Any]]] = {}
    for ep in entry_points(group=RECIPE_GROUP):
        module = ep.value.split(":")[0]
        try:
            folder = resources.files(module)
        except ModuleNotFoundError as e:
            warnings.warn(f"entry point {RECIPE_GROUP}:{ep.name} names {module!r}, which does not import ({e})", stacklevel=2)
            continue
        for f in sorted(folder.iterdir(), key=lambda p: p.name):
            if f.name.endswith(".yaml"):
                try:
                    data = yaml.safe_load(f.read_text(encoding="utf-8")) or {}
                except yaml.YAMLError as e:
                    raise ConfigError(f"{module}/{f.name}: not a recipe YAML ({e})") from None
                if not isinstance(data, dict):
                    raise ConfigError(f"{module}/{f.name}: a recipe must be a mapping, got {type(data).__name__}")
                out.setdefault(f.name[:-5], (module, data))
    return out


def register_plugin_recipes(shipped: set[str]) -> None:
    """Store every plugin recipe not shadowed by a shipped one in Hydra's ConfigStore (group ``recipe``)."""
    from hydra.core.config_store import ConfigStore
    from omegaconf import OmegaConf

    store = ConfigStore.instance()
    for name, (module, data) in plugin_recipes().items():
        if name in shipped:
            warnings.warn(f"recipe {name!r} from {module} is shadowed by the shipped recipe of that name", stacklevel=2)
            continue
        store.store(group="recipe", name=name, node=OmegaConf.create(data), package="_global_", provider=module)
