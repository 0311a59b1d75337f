"""CDR H3 redesign of held-out heavy chains: are the fixed positions kept, and are the new CDR3s plausible?

    OMP_NUM_THREADS=1 python benchmarks/sequences_redesign.py runs/vh --num 100 \
        --out benchmarks/results/sequences_redesign.json

Works for a ``vh`` checkpoint (the CDR H3 between the framework's C and the J region's W) and for a
``cdr3`` one (everything between the conserved C and W). Takes the first ``--num`` held-out sequences of the checkpoint's data (seeded split), writes them
as a template FASTA, and samples them through the same path as
``pfgm-sample checkpoint=RUN modality.template=T.fasta modality.redesign=cdr3`` (seed s redesigns
template s). Reports: the share of samples whose every fixed position equals the template, the share
whose CDR3 changed, OLGA Pgen > 0 of the redesigned CDR3s (C … W), and the same Pgen numbers for the
templates' own CDR3s (the real ceiling).
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("checkpoint")
    ap.add_argument("--num", type=int, default=100)
    ap.add_argument("--region", default="cdr3")
    ap.add_argument("--out", default=None)
    ap.add_argument("--set", nargs="*", default=[], help="sampler overrides, e.g. steps=35 solver=euler")
    a = ap.parse_args()

    import torch

    torch.set_num_threads(1)
    from pfgm.modalities.sequences.antibody import find_cdr3, log10_pgen
    from pfgm.modalities.sequences.writers import write_fasta
    from pfgm.recipes.build import load_checkpoint
    from pfgm.recipes.sample import generate_from_checkpoint

    modality, _, _ = load_checkpoint(a.checkpoint, "cpu")
    templates = modality.sequences("test")[: a.num]
    with tempfile.TemporaryDirectory() as tmp:
        tpl = Path(tmp) / "templates.fasta"
        write_fasta(tpl, templates, prefix="heldout")
        sampler = {
            k: (float(v) if v.replace(".", "", 1).isdigit() and "." in v else int(v) if v.isdigit() else v)
            for k, v in (s.split("=", 1) for s in a.set)
        }
        c = {
            "checkpoint": a.checkpoint,
            "num_samples": len(templates),
            "seed": 0,
            "device": "cpu",
            "progress": False,
            "modality": {"template": str(tpl), "redesign": a.region},
            "sampler": sampler,
        }
        t0 = time.perf_counter()
        modality, objects, info, samples = generate_from_checkpoint(c)
        seconds = time.perf_counter() - t0
        free_sets = [set(f) for _, _, f in modality._template_list()]

    kept, changed, cdr3s, tpl_cdr3s = [], [], [], []
    for s, t, free in zip(objects, templates, free_sets):
        kept.append(len(s) == len(t) and all(s[i] == t[i] for i in range(len(t)) if i not in free))
        changed.append(any(s[i] != t[i] for i in free))
        lo, hi = min(free), max(free) + 1
        cdr3s.append(s[lo - 1 : hi + 1])  # the conserved C and W around the region, as OLGA defines a CDR3
        tpl_cdr3s.append(t[lo - 1 : hi + 1])
    gen_lp, tpl_lp = log10_pgen(cdr3s), log10_pgen(tpl_cdr3s)
    fin = lambda v: float(np.mean(v[np.isfinite(v)])) if np.isfinite(v).any() else math.nan  # noqa: E731
    report = {
        "checkpoint": a.checkpoint,
        "num": len(objects),
        "region": a.region,
        "sample_seconds": round(seconds, 1),
        "nfe_per_sample": info.get("nfe_per_sample"),
        "solver": info.get("solver"),
        "steps": info.get("steps"),
        "fixed_positions_identical": float(np.mean(kept)),
        "cdr3_changed": float(np.mean(changed)),
        "cdr3_identical_to_template": float(np.mean([c == t for c, t in zip(cdr3s, tpl_cdr3s)])),
        "pgen_positive": float(np.isfinite(gen_lp).mean()),
        "log10_pgen_mean": fin(gen_lp),
        "pgen_positive_templates": float(np.isfinite(tpl_lp).mean()),
        "log10_pgen_mean_templates": fin(tpl_lp),
        **(
            {"vh_motif_found_after": float(np.mean([find_cdr3(s) is not None for s in objects]))} if modality.kind == "vh" else {}
        ),
        "examples": [{"template": t, "redesigned": s} for t, s in list(zip(tpl_cdr3s, cdr3s))[:5]],
        "command": "OMP_NUM_THREADS=1 python benchmarks/sequences_redesign.py " + " ".join(sys.argv[1:]),
    }
    text = json.dumps(report, indent=2)
    print(text)
    if a.out:
        from pfgm.core.atomic import atomic_write_text

        atomic_write_text(a.out, text + "\n")


if __name__ == "__main__":
    main()
