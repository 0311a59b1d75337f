"""pfgm-sample: a checkpoint → N seeded samples, written in the modality's formats.

    pfgm-sample checkpoint=runs/x num_samples=64 seed=0 out=samples/
    pfgm-sample checkpoint=runs/mols/ema.safetensors num_samples=1000 out=mols.smi sampler.steps=35
    pfgm-sample checkpoint=runs/x D=inf sampler.solver=dpmpp_2m sampler.alpha=0.1
    pfgm-sample checkpoint=runs/mols num_samples=100 out=mols12.smi modality.num_nodes=12
    pfgm-sample checkpoint=runs/digits num_samples=64 out=sevens/ modality.label=7

Sample i depends only on seed + i (not on batch size... of other samples, nor on the world size),
so `torchrun --nproc_per_node=K -m recipes.sample ...` writes the same files faster.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import torch

from pfgm_core.distributed import cleanup, init_distributed
from pfgm_core.generate import generate
from pfgm_core.kernel import PFGMKernel

from .build import generate_config, load_checkpoint, parse_D, plain, sigmas_for
from .cli import user_errors

__all__ = ["generate_from_checkpoint", "main"]


def generate_from_checkpoint(c: dict[str, Any], dist=None) -> tuple[Any, list[Any], dict[str, Any]]:
    """(modality, decoded objects, info) for a plain sample/eval config."""
    dist = dist or init_distributed(c.get("device", "auto"))
    modality, den, config = load_checkpoint(c["checkpoint"], dist.device)
    options = {k: v for k, v in (c.get("modality") or {}).items() if v is not None}
    if options:
        modality.set_sample_options(**options)
    D = parse_D(c["D"]) if c.get("D") is not None else parse_D(config["pfgm"]["D"])
    g = generate_config(config, c.get("sampler"), c["num_samples"], c["seed"])
    info: dict[str, Any] = {}
    x, mask, _ = generate(den, PFGMKernel(D), modality.layout, sigmas_for(g, dist.device), g, device=dist.device,
                          rank=dist.rank, world=dist.world_size, progress=c.get("progress", True), info=info)
    objects = modality.decode(x, mask)
    info.update(modality=modality.name, D=D, solver=g.solver, steps=g.steps, num_samples=g.num_samples, seed=g.seed)
    return modality, objects, info


def _hydra_main() -> None:
    import hydra

    @hydra.main(version_base="1.3", config_path="pkg://configs", config_name="sample")
    def app(cfg) -> None:
        c = plain(cfg)
        with user_errors("pfgm-sample"):
            dist = init_distributed(c.get("device", "auto"))
            try:
                modality, objects, info = generate_from_checkpoint(c, dist)
            finally:
                cleanup()
            if dist.is_main:
                paths = modality.write(objects, Path(c["out"]))
                invalid = sum(o is None for o in objects)
                info.update(written=[str(p) for p in paths][:5], num_written_files=len(paths), invalid=invalid)
                print(json.dumps(info, default=str))

    app()


def main() -> None:
    _hydra_main()


if __name__ == "__main__":
    main()
