"""What the representation alone costs: held-out real clips scored as they are, and after the model's own
path back to audio (encode → log-mel → inverse mel + Griffin-Lim), with the same classifier metrics
pfgm-eval reports. A generator cannot beat the decoded row.

    OMP_NUM_THREADS=1 python benchmarks/audio_floor.py [--recipe speech_digits] [--griffin-lim-iters 32]

Writes benchmarks/results/audio_floor_<recipe>.json.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import torch

from pfgm.modalities.audio.writers import AudioClip
from pfgm.modalities.base import build_modality
from pfgm.core.atomic import atomic_write_text
from pfgm.recipes.cli import compose

KEYS = ("fid", "fid_real", "is", "real_is", "mis", "am", "max_softmax", "spectral_distance", "spectral_distance_real")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--recipe", default="speech_digits")
    ap.add_argument("--griffin-lim-iters", type=int, default=None)
    a = ap.parse_args()
    torch.set_num_threads(1)
    opts = dict(compose("train", [f"recipe={a.recipe}"])["modality"])
    if a.griffin_lim_iters is not None:
        opts["griffin_lim_iters"] = a.griffin_lim_iters
    m = build_modality(opts)
    w, labels = m.waves("test")
    rate = m.sample_rate
    lab = [int(y) for y in labels] if labels is not None else [None] * len(w)
    raw = [AudioClip(x.numpy(), rate, y) for x, y in zip(w, lab)]
    t0 = time.perf_counter()
    decoded = m.decode(m.encode_waves(w))
    secs = time.perf_counter() - t0
    rows = {"raw": m.evaluate(raw).metrics, "decoded": m.evaluate(decoded).metrics}
    print(f"| held-out clips ({len(w)}) | " + " | ".join(KEYS) + " |")
    print("| --- " * (len(KEYS) + 1) + "|")
    for name, r in rows.items():
        print(f"| {name} | " + " | ".join(f"{r.get(k, float('nan')):.3f}" for k in KEYS) + " |")
    report = {"recipe": a.recipe, "num_clips": len(w), "griffin_lim_iters": m.griffin_lim_iters,
              "decode_seconds": round(secs, 3), **rows,
              "command": f"OMP_NUM_THREADS=1 python benchmarks/audio_floor.py --recipe {a.recipe}"}  # fmt: skip
    out = Path("benchmarks/results") / f"audio_floor_{a.recipe}.json"
    atomic_write_text(out, json.dumps(report, indent=2) + "\n")
    print(f"→ {out}")


if __name__ == "__main__":
    main()
