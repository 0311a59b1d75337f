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
import json
from typing import Sequence

from pfgm.modalities.sequences.rna import TARGETS, misfold_report


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
