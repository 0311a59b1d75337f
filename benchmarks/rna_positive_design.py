"""The fold-to-target rate of an RNA family's *positive design* alone: what a generator gets that has
learnt every target pair's base-pair frequencies and every unpaired position's base frequencies
from the training split, and nothing else (each pair and each unpaired base drawn independently).

    python benchmarks/rna_positive_design.py trna [--num 1000] [--seed 0]

A generator at this level has learnt the family's pairing but none of its negative design (no
alternative helix more stable than the target), which is what makes a sequence a family member. The
held-out set folds at 1.0 by construction, so the two rates bracket a model's fold-to-target rate.
Prints one JSON line.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from pfgm.modalities.sequences.rna import TARGETS, fold, positive_design  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("family", choices=sorted(TARGETS))
    ap.add_argument("--num", type=int, default=1000)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--num-sequences", type=int, default=None, help="family size (default: the recipe's)")
    a = ap.parse_args()
    from pfgm.recipes.build import make_modality
    from pfgm.recipes.cli import compose

    recipe = {"trna": "rna_trna", "hairpin": "rna_hairpin"}[a.family]
    opts = dict(compose("train", [f"recipe={recipe}"])["modality"])
    if a.num_sequences:
        opts["num_sequences"] = a.num_sequences
    train = make_modality(opts).sequences("train")
    target = TARGETS[a.family]
    seqs = positive_design(train, target, a.num, a.seed)
    structs, _ = fold(seqs)
    rate = float(np.mean([s == target for s in structs]))
    print(
        json.dumps(
            {"family": a.family, "train_size": len(train), "num": a.num, "seed": a.seed, "positive_design_fold_rate": rate}
        )
    )


if __name__ == "__main__":
    main()
