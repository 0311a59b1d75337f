"""pfgm-eval: a checkpoint → samples → the modality's metrics as JSON.

    pfgm-eval checkpoint=runs/x num_samples=1000 [out=metrics.json] [sampler.steps=18] [D=inf]
"""

from __future__ import annotations

import json
import math
from pathlib import Path

from pfgm_core.checkpoint import atomic_write_bytes, resolve_checkpoint
from pfgm_core.distributed import cleanup, init_distributed

from .build import plain
from .cli import user_errors
from .sample import generate_from_checkpoint

__all__ = ["main"]


def _default_out(checkpoint: str) -> Path:
    p = Path(checkpoint)
    return p / "eval.json" if p.is_dir() else resolve_checkpoint(p).parent / "eval.json"


def _hydra_main() -> None:
    import hydra

    @hydra.main(version_base="1.3", config_path="pkg://configs", config_name="eval")
    def app(cfg) -> None:
        c = plain(cfg)
        with user_errors("pfgm-eval"):
            dist = init_distributed(c.get("device", "auto"))
            try:
                modality, objects, info = generate_from_checkpoint(c, dist)
            finally:
                cleanup()
            if not dist.is_main:
                return
            metrics = modality.evaluate(objects)
            report = {**info, "metrics": {k: (None if isinstance(v, float) and math.isnan(v) else v) for k, v in metrics.items()}}
            out = Path(c["out"]) if c.get("out") else _default_out(c["checkpoint"])
            atomic_write_bytes(out, json.dumps(report, indent=2, default=str).encode())
            print(json.dumps(report, default=str))

    app()


def main() -> None:
    _hydra_main()


if __name__ == "__main__":
    main()
