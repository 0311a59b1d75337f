"""Where a CDR3 model's Pgen gap comes from: the cost of substitutions, and the J-gene ends it writes.

    OMP_NUM_THREADS=1 python benchmarks/cdr3_errors.py substitutions          # Pgen cost of 1-3 random substitutions
    OMP_NUM_THREADS=1 python benchmarks/cdr3_errors.py ends CHECKPOINT [S]    # J ends and residue shares, snap_below S

`substitutions`: 150 OLGA CDR3s (seed 123), each with k random substitutions inside the conserved C…W,
scored by OLGA. `ends`: 1,000 samples (seed 0) against pfgm-eval's held-out reference: the commonest
J ends, the J-end total-variation distance (and the train subset's, the ceiling), and the residue
shares that moved most.
"""

from __future__ import annotations

import random
import sys
from collections import Counter

import numpy as np


def substitutions() -> None:
    from pfgm.modalities.sequences.alphabet import PROTEIN
    from pfgm.modalities.sequences.antibody import generate_heavy, log10_pgen

    seqs = [r["cdr3"] for r in generate_heavy(150, seed=123)]
    rng = random.Random(0)

    def mutate(s: str, k: int) -> str:
        s = list(s)
        for i in rng.sample(range(1, len(s) - 1), k):
            s[i] = rng.choice([a for a in PROTEIN if a != s[i]])
        return "".join(s)

    for k in (0, 1, 2, 3):
        lp = log10_pgen([mutate(s, k) if k else s for s in seqs])
        ok = np.isfinite(lp)
        print(f"{k} substitutions: mean log10 Pgen {lp[ok].mean():.2f} (Pgen > 0: {ok.mean():.3f})")


def residue_counts(seqs: list[str]) -> tuple[Counter, int]:
    return Counter("".join(seqs)), sum(map(len, seqs))


def ends(checkpoint: str, snap: float) -> None:
    from pfgm.modalities.sequences import metrics as M
    from pfgm.recipes.sample import generate_from_checkpoint

    mod, gen, _, _ = generate_from_checkpoint(
        {
            "checkpoint": checkpoint,
            "num_samples": 1000,
            "seed": 0,
            "device": "cpu",
            "sampler": {"snap_below": snap} if snap else {},
            "progress": False,
        }
    )
    data = mod._load()
    rng = np.random.default_rng(12345)  # pfgm-eval's reference draw (SequenceModality.evaluate)
    n = min(mod.eval_reference, len(data["test"]), len(data["train"]))
    test = [data["test"][i] for i in rng.permutation(len(data["test"]))[:n]]
    train_ref = [data["train"][i] for i in rng.permutation(len(data["train"]))[:n]]
    print(f"J-end TV {M.end_motif_tv(gen, test):.3f} (train subset, the ceiling: {M.end_motif_tv(train_ref, test):.3f})")
    g, r = Counter(s[-5:] for s in gen), Counter(s[-5:] for s in test)
    print("end   samples  held out")
    for e, _ in (g + r).most_common(8):
        print(f"{e}  {g[e] / len(gen):.3f}    {r[e] / len(test):.3f}")
    (cg, ng), (cr, nr) = residue_counts(gen), residue_counts(test)
    moved = sorted(cr, key=lambda a: -abs(cg[a] / ng - cr[a] / nr))[:4]
    print("residue shares (samples / held out):", ", ".join(f"{a} {cg[a] / ng:.3f} / {cr[a] / nr:.3f}" for a in moved))


if __name__ == "__main__":
    if sys.argv[1:2] == ["substitutions"]:
        substitutions()
    elif sys.argv[1:2] == ["ends"] and len(sys.argv) >= 3:
        ends(sys.argv[2], float(sys.argv[3]) if len(sys.argv) > 3 else 0.0)
    else:
        sys.exit(__doc__)
