"""Audio sampling speed as a real-time factor: seconds of audio generated per second of wall time (CPU).

    OMP_NUM_THREADS=1 python benchmarks/audio_rtf.py --checkpoint runs/speech [--num-samples 64] [--repeats 2]

Times sampling + decoding (``generate_from_checkpoint``: the ODE solve, then inverse mel + Griffin-Lim)
and decoding alone (the same tensors decoded again), at the checkpoint's sampler settings; reports the
median over repeats. RTF > 1 means faster than real time. Beside it, measured in the same run, the
machine's reference speed (forward+backward steps/s of the zoo builder's fixed MLP), so RTFs from
different machines can be compared. Writes benchmarks/results/audio_rtf.json.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path

import torch

from pfgm.core.atomic import atomic_write_text
from pfgm.recipes.sample import generate_from_checkpoint
from pfgm.zoo.build import reference_speed


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--checkpoint", required=True)
    ap.add_argument("--num-samples", type=int, default=64)
    ap.add_argument("--repeats", type=int, default=2)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--out", default="benchmarks/results/audio_rtf.json")
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    c = {
        "checkpoint": a.checkpoint,
        "num_samples": a.num_samples,
        "seed": 0,
        "device": "cpu",
        "D": None,
        "sampler": {},
        "progress": False,
    }
    totals, decodes, refs = [], [], []
    for _ in range(a.repeats):
        refs.append(reference_speed())
        t0 = time.perf_counter()
        modality, objects, info, enc = generate_from_checkpoint(c)
        totals.append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        modality.decode(enc.x, enc.mask, enc.cond)
        decodes.append(time.perf_counter() - t0)
    audio_s = sum(o.seconds for o in objects if o is not None)
    total, decode = statistics.median(totals), statistics.median(decodes)
    row = {
        "checkpoint": a.checkpoint, "threads": a.threads, "num_samples": a.num_samples, "audio_seconds": round(audio_s, 3),
        "solver": info["solver"], "steps": info["steps"], "nfe_per_sample": info.get("nfe_per_sample"),
        "griffin_lim_iters": getattr(modality, "griffin_lim_iters", None), "wall_seconds": round(total, 3),
        "decode_seconds": round(decode, 3), "rtf": round(audio_s / total, 3), "rtf_decode_only": round(audio_s / decode, 2),
        "reference_mlp_steps_per_s": round(statistics.median(refs), 1),
        "command": f"OMP_NUM_THREADS={a.threads} python benchmarks/audio_rtf.py --checkpoint {a.checkpoint} --num-samples {a.num_samples} "
                   f"--repeats {a.repeats} --threads {a.threads} --out {a.out}",
    }  # fmt: skip
    print(
        "| samples | audio s | NFE/sample | wall s (sample+decode) | decode s | RTF | RTF decode only | reference MLP steps/s |"
    )
    print("| --- | --- | --- | --- | --- | --- | --- | --- |")
    print(
        f"| {a.num_samples} | {audio_s:.1f} | {row['nfe_per_sample']} | {total:.2f} | {decode:.2f} | {row['rtf']:.2f} | "
        f"{row['rtf_decode_only']:.1f} | {row['reference_mlp_steps_per_s']} |"
    )
    out = Path(a.out)
    atomic_write_text(out, json.dumps(row, indent=2) + "\n")
    print(f"→ {out}")


if __name__ == "__main__":
    main()
