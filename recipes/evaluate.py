"""pfgm-eval: a checkpoint → samples → the modality's metrics as JSON.

pfgm-eval checkpoint=runs/x num_samples=1000 [out=metrics.json] [sampler.steps=18] [pfgm.D=inf]
"""

from __future__ import annotations

import json
import math
import sys
from pathlib import Path

from pfgm.core.atomic import atomic_write_bytes
from pfgm.core.checkpoint import resolve_checkpoint
from pfgm.core.distributed import cleanup, init_distributed
from pfgm.core.errors import ConfigError

from .build import plain
from .cli import check_writable, job_path, multirun_job, run_hydra, sigterm_as_interrupt, user_errors
from .sample import load_for_sampling, open_overrides, sample_loaded
from .validate import check_eval

__all__ = ["main"]


def check_out_file(out: Path) -> None:
    """The report path must be a writable file name (checked before any sampling)."""
    if out.is_dir():
        raise IsADirectoryError(f"out={out} is a directory; give a file name such as {out / 'eval.json'}")
    check_writable(out)


def _default_out(checkpoint: str) -> Path:
    from pfgm import zoo as pfgm_zoo

    if pfgm_zoo.is_zoo(checkpoint):  # never into the installed package: beside the user
        return Path(f"eval-{checkpoint[len(pfgm_zoo.PREFIX) :]}.json")
    p = Path(checkpoint)
    return p / "eval.json" if p.is_dir() else resolve_checkpoint(p).parent / "eval.json"


def _likelihood(c: dict, ckpt, D: float, dist) -> dict[str, float]:
    """The held-out likelihood of the checkpoint already loaded for sampling, at the D it sampled with."""
    from .likelihood import LikelihoodOptions, held_out_likelihood

    return held_out_likelihood(
        ckpt.modality,
        ckpt.denoiser,
        ckpt.pfgm,
        D,
        LikelihoodOptions.from_config(c),
        seed=c.get("seed", 0),
        device=dist.device,
    )


def _image_metric_options(c: dict, modality) -> None:
    """metrics= / fid_features= (FID, KID, IS, PR of cifar10 and edm image checkpoints) → the modality's options."""
    given = {k: c[k] for k in ("metrics", "fid_features") if c.get(k) is not None}
    if not given:
        return
    if not set(given) <= set(getattr(modality, "SAMPLE_OPTIONS", ())):
        raise ConfigError(
            f"{'/'.join(f'{k}=' for k in given)} choose the image metrics of cifar10 and edm checkpoints; "
            f"the {modality.name} modality computes its own"
        )
    modality.set_sample_options(**given)


def _hydra_main() -> None:
    import hydra

    @hydra.main(version_base="1.3", config_path="pkg://pfgm.configs", config_name="eval")
    def app(cfg) -> None:
        with user_errors("pfgm-eval"), sigterm_as_interrupt():
            c = plain(cfg)
            check_eval(c)
            dist = init_distributed(c.get("device", "auto"))
            out = Path(c["out"]) if c.get("out") else _default_out(c["checkpoint"])
            out = Path(job_path(out, multirun_job()))  # --multirun: eval.json → eval-<job>.json, one per job
            if dist.is_main:
                check_out_file(out)  # before the work, not after it
            try:
                ckpt = load_for_sampling(c, dist)
                _image_metric_options(c, ckpt.modality)
                if dist.is_main:
                    ckpt.modality.check_evaluate()  # a missing tool the metrics need is named before sampling
                modality, objects, info, samples = sample_loaded(c, dist, *ckpt, pfgm=ckpt.pfgm)
            finally:
                cleanup()
            if not dist.is_main:
                return
            ev = modality.evaluate(objects, samples)
            metrics = dict(ev.metrics)
            if c.get("likelihood"):
                metrics.update(_likelihood(c, ckpt, info["D"], dist))
            report = {
                **info,
                "metrics": {k: (None if isinstance(v, float) and math.isnan(v) else v) for k, v in metrics.items()},
                "notes": list(ev.notes),
            }
            text = json.dumps(report, indent=2, default=str)
            print(json.dumps(report, default=str))  # printed first: a failed write still shows the numbers
            atomic_write_bytes(out, text.encode())

    run_hydra("pfgm-eval", app)


def main() -> None:
    with user_errors("pfgm-eval"):
        sys.argv[1:] = open_overrides(sys.argv[1:])
    _hydra_main()


if __name__ == "__main__":
    main()
