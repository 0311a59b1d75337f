"""How generated RNA misfolds: which helices of the target its MFE structure keeps, and by how much an
alternative fold beats the target.

    pfgm-sample checkpoint=runs/trna_10k num_samples=200 seed=5 out=x.fasta
    python benchmarks/rna_misfolds.py x.fasta trna        # a family name or a dot-bracket target

Prints the commonest MFE structures, for each helix of the target the share of samples whose MFE
structure holds all of its pairs, and two energies (kcal/mol, ViennaRNA at 37 °C): the target's own
energy on each sample and its MFE. A family member has gap 0 by construction. A sample whose target
energy is at the family's level but whose MFE is far below it has the right stems and a stronger
alternative fold: a failure of negative design, not of pairing.
"""

from __future__ import annotations

import argparse
import collections
import json
import sys
from pathlib import Path
from typing import Sequence

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from pfgm.modalities.sequences.rna import TARGETS, bp_distance, fold, target_pairs  # noqa: E402


def helices(target: str) -> list[list[tuple[int, int]]]:
    """The target's helices: runs of stacked pairs (i, j), (i+1, j−1), …, 5' first."""
    out: list[list[tuple[int, int]]] = []
    for i, j in target_pairs(target):
        if out and out[-1][-1] == (i - 1, j + 1):
            out[-1].append((i, j))
        else:
            out.append([(i, j)])
    return out


def misfold_report(seqs: Sequence[str], target: str, top: int = 8) -> dict:
    """Fold rate, commonest MFE structures, per-helix kept share, the target-vs-MFE energies and the near
    misses (within 2 base pairs of the target; target within 1 kcal/mol of the MFE)."""
    import RNA

    seqs = [s for s in seqs if len(s) == len(target)]
    if not seqs:
        raise ValueError(f"no sequence of the target's length {len(target)}")
    structs, mfe = fold(seqs)
    e_target = np.asarray([RNA.fold_compound(s).eval_structure(target) for s in seqs], dtype=np.float64)
    gap = e_target - mfe
    dist = bp_distance(structs, target)
    kept = [set(target_pairs(st)) for st in structs]
    per_helix = {f"{h[0][0] + 1}-{h[0][1] + 1} ({len(h)} bp)": float(np.mean([set(h) <= k for k in kept]))
                 for h in helices(target)}
    return {
        "num": len(seqs),
        "fold_to_target": float(np.mean([st == target for st in structs])),
        "helix_kept": per_helix,
        "target_energy_mean": float(e_target.mean()),
        "mfe_mean": float(mfe.mean()),
        "energy_gap_mean": float(gap.mean()),
        "energy_gap_median": float(np.median(gap)),
        "gap_below_1_kcal": float(np.mean(gap < 1.0)),  # the target within 1 kcal/mol of the MFE: a near miss
        "within_2_bp": float(np.mean(dist <= 2)),
        "top_structures": collections.Counter(structs).most_common(top),
    }


def _read_fasta(path: str) -> list[str]:
    from pfgm.modalities.sequences.alphabet import Alphabet
    from pfgm.modalities.sequences.parsers import read_sequences

    items, _ = read_sequences(path, Alphabet("rna"))
    return [it.seq for it in items]


def main(argv: Sequence[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("fasta")
    ap.add_argument("target", help="a built-in family (hairpin, trna) or a dot-bracket string")
    ap.add_argument("--top", type=int, default=8)
    a = ap.parse_args(argv)
    target = TARGETS.get(a.target, a.target)
    rep = misfold_report(_read_fasta(a.fasta), target, a.top)
    print(json.dumps({k: v for k, v in rep.items() if k != "top_structures"}, indent=1))
    print(f"target  {target}")
    for st, n in rep["top_structures"]:
        print(f"{n:6d}  {st}")


if __name__ == "__main__":
    main()
