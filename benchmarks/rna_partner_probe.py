"""Does an RNA denoiser read a base's pairing partner? Change one stem base of held-out hairpins,
keep the noise, and measure how much the predicted probability of its complement at the partner moves.

    python benchmarks/rna_partner_probe.py CHECKPOINT [--num 400]

A net that has learnt the pairing moves it a lot at intermediate σ; one that models positions
independently does not move it at all. Prints the mean shift per σ.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from pfgm.modalities.sequences.rna import VALID_PAIRS, target_pairs  # noqa: E402
from pfgm.recipes.build import load_checkpoint  # noqa: E402

COMPLEMENT = {"A": "U", "U": "A", "G": "C", "C": "G"}  # Watson-Crick; GU wobble left out


def probe(checkpoint: str, num: int = 400, sigmas=(0.3, 0.6, 1.0, 2.0), seed: int = 0) -> dict[float, float]:
    modality, den, _ = load_checkpoint(checkpoint)
    assert all(a + COMPLEMENT[a] in VALID_PAIRS for a in COMPLEMENT)
    syms = list(modality.alphabet.symbols)
    x = modality.dataset("test").x[:num]
    g = torch.Generator().manual_seed(seed)
    rows = torch.arange(len(x))
    out = {}
    for sigma in sigmas:
        shifts = []
        for i, j in target_pairs(modality.target):
            changed = x.clone()
            new = (x[:, i].argmax(-1) + torch.randint(1, 4, (len(x),), generator=g)) % 4
            changed[:, i] = -0.5
            changed[rows, i, new] = 0.5
            noise = torch.randn(x.shape, generator=g) * sigma
            s = torch.full((len(x),), sigma)
            with torch.no_grad():
                before, after = den(x + noise, s), den(changed + noise, s)
            comp = torch.tensor([syms.index(COMPLEMENT[syms[k]]) for k in new.tolist()])
            shifts.append((after[rows, j, comp] - before[rows, j, comp]).mean().item())
        out[sigma] = sum(shifts) / len(shifts)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("checkpoint")
    ap.add_argument("--num", type=int, default=400)
    a = ap.parse_args()
    for sigma, shift in probe(a.checkpoint, a.num).items():
        print(f"sigma {sigma}: mean shift of P(partner = complement of the new base) {shift:+.3f}")


if __name__ == "__main__":
    main()
