"""pfgm-sample: a checkpoint → N seeded samples, written in the modality's formats.

    pfgm-sample checkpoint=runs/x num_samples=64 seed=0 out=samples/
    pfgm-sample checkpoint=runs/mols/ema.safetensors num_samples=1000 out=mols.smi sampler.steps=35
    pfgm-sample checkpoint=runs/x pfgm.D=inf sampler.solver=dpmpp_2m sampler.alpha=0.1
    pfgm-sample checkpoint=runs/mols num_samples=100 out=mols12.smi modality.num_nodes=12
    pfgm-sample checkpoint=runs/digits num_samples=64 out=sevens/ modality.label=7

``modality.<option>=`` is any sample-time option the checkpoint's modality declares
(``SAMPLE_OPTIONS``); no config file lists them and no ``+`` is needed.

Sample i depends only on seed + i (not on batch size... of other samples, nor on the world size),
so `torchrun --nproc_per_node=K -m recipes.sample ...` writes the same files faster.
"""

from __future__ import annotations

import json
import math
import re
import sys
import warnings
from pathlib import Path
from typing import Any

from modalities.base import Encoded
from pfgm_core.config import PFGMConfig, parse_D
from pfgm_core.distributed import cleanup, init_distributed
from pfgm_core.generate import generate

from .build import generate_config, load_checkpoint, plain, sigmas_for
from .cli import user_errors

__all__ = ["generate_from_checkpoint", "sample_D", "open_overrides", "main"]

#: override prefixes whose keys the config files do not list (a modality's own sample-time options)
OPEN_GROUPS = ("modality",)


def open_overrides(argv: list[str], groups: tuple[str, ...] = OPEN_GROUPS) -> list[str]:
    """``modality.X=v`` → ``++modality.X=v``: Hydra then adds the key whatever it is, so a modality's
    sample-time options need no entry in sample.yaml/eval.yaml. Other arguments pass unchanged."""
    pat = re.compile(rf"^({'|'.join(map(re.escape, groups))})\.[^=]+=")
    return [f"++{a}" if pat.match(a) else a for a in argv]


def sample_D(c: dict[str, Any], trained: Any) -> float:
    """The prior's D: ``pfgm.D`` (or the short alias ``D``) if given, else the trained one.

    A network trained with finite D sampled at another D works (the sampling ODE is the same for
    every D; only the prior changes) and says so once.
    """
    given = (c.get("pfgm") or {}).get("D")
    alias = c.get("D")
    if given is not None and alias is not None and parse_D(given) != parse_D(alias):
        raise ValueError(f"pfgm.D={given} and D={alias} disagree; give one of them")
    D_trained = parse_D(trained)
    D = parse_D(given if given is not None else alias) if (given is not None or alias is not None) else D_trained
    if D != D_trained:
        fmt = lambda d: "inf" if math.isinf(d) else f"{d:g}"
        warnings.warn(f"sampling at D={fmt(D)} a network trained at D={fmt(D_trained)}: the prior changes, "
                      "the denoiser was fitted to the other kernel", stacklevel=2)
    return D


def generate_from_checkpoint(c: dict[str, Any], dist=None) -> tuple[Any, list[Any], dict[str, Any], Encoded]:
    """(modality, decoded objects, info, the generated tensors) for a plain sample/eval config."""
    dist = dist or init_distributed(c.get("device", "auto"))
    modality, den, config = load_checkpoint(c["checkpoint"], dist.device)
    options = {k: v for k, v in (c.get("modality") or {}).items() if v is not None}
    if options:
        modality.set_sample_options(**options)
    D = sample_D(c, config["pfgm"]["D"])
    kernel = PFGMConfig.from_dict(config["pfgm"], "checkpoint pfgm").kernel(D)
    g = generate_config(config, c.get("sampler"), c["num_samples"], c["seed"])
    info: dict[str, Any] = {}
    x, mask, cond = generate(den, kernel, modality.blank, sigmas_for(g, dist.device), g, device=dist.device,
                             rank=dist.rank, world=dist.world_size, progress=c.get("progress", True), info=info)
    objects = modality.decode(x, mask, cond)
    info.update(modality=modality.name, D=D, solver=g.solver, steps=g.steps, num_samples=g.num_samples, seed=g.seed)
    return modality, objects, info, Encoded(x, mask, cond)


def _hydra_main() -> None:
    import hydra

    @hydra.main(version_base="1.3", config_path="pkg://configs", config_name="sample")
    def app(cfg) -> None:
        c = plain(cfg)
        with user_errors("pfgm-sample"):
            dist = init_distributed(c.get("device", "auto"))
            try:
                modality, objects, info, _ = generate_from_checkpoint(c, dist)
            finally:
                cleanup()
            if dist.is_main:
                paths = modality.write(objects, Path(c["out"]))
                invalid = sum(o is None for o in objects)
                info.update(written=[str(p) for p in paths][:5], num_written_files=len(paths), invalid=invalid)
                print(json.dumps(info, default=str))

    app()


def main() -> None:
    sys.argv[1:] = open_overrides(sys.argv[1:])
    _hydra_main()


if __name__ == "__main__":
    main()
