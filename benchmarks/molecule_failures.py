"""Why generated molecules are invalid: RDKit's sanitisation errors, counted, and bond density vs the data.

    python benchmarks/molecule_failures.py CHECKPOINT [--num 200] [--seed 0] [--set churn_sigma_max=5 ...]

Samples at the checkpoint's own sampler settings, decodes without correction, and for every
invalid sample reports the first words of RDKit's error (e.g. "Explicit valence for C, 5"),
then which over-valent carbons sit on rings and with which bond orders (kekulé failures).
"""

from __future__ import annotations

import argparse
import collections

import numpy as np
from rdkit import Chem, RDLogger

from pfgm.modalities.graphs.flat import decode_classes
from pfgm.core.generate import generate
from pfgm.core.config import parse_D
from pfgm.core.kernel import PFGMKernel
from pfgm.recipes.build import generate_config, load_checkpoint, sigmas_for


def parse_override(kv: str) -> tuple[str, object]:
    key, sep, value = kv.partition("=")
    if not sep:
        raise SystemExit(f"--set expects KEY=VALUE, got {kv!r}")
    try:
        return key, float(value) if key != "steps" else int(value)
    except ValueError:
        return key, value


def sanitize_error(vocab, atoms, bonds: np.ndarray) -> str | None:
    """None if the graph sanitises (decoded exactly as the modality decodes), else RDKit's complaint."""
    rw = vocab.graph_to_rwmol(atoms, bonds)
    try:
        Chem.SanitizeMol(rw)
        return None
    except Exception as e:  # RDKit raises several exception types; the message is what we count
        words = str(e).split()
        # "Explicit valence for atom # 3 C, 5, is greater than permitted": keep the element and valence
        return " ".join(words[:3] + words[6:8]) if words[:2] == ["Explicit", "valence"] else " ".join(words[:3])


def overvalent_carbons(vocab, graphs) -> tuple[collections.Counter, int, int]:
    """Carbons whose bond orders sum above 4: (their sorted bond-order patterns, how many sit on a
    ring, how many in all). Two double bonds on a ring carbon is a kekulé alternation failure."""
    import networkx as nx

    patterns: collections.Counter = collections.Counter()
    in_ring = total = 0
    for atoms, bonds in graphs:
        bonds = np.asarray(bonds)
        g = nx.from_numpy_array((bonds > 0).astype(int))
        ring_atoms = {v for cycle in nx.cycle_basis(g) for v in cycle}
        for i, a in enumerate(atoms):
            orders = sorted(int(k) for k in bonds[i][bonds[i] > 0])
            if vocab.atom_types[a] == "C" and sum(orders) > 4:
                patterns[tuple(orders)] += 1
                in_ring += i in ring_atoms
                total += 1
    return patterns, in_ring, total


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("checkpoint")
    ap.add_argument("--num", type=int, default=200)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument(
        "--set",
        nargs="*",
        default=[],
        metavar="KEY=VALUE",
        help="sampler overrides, as pfgm-sample's sampler.KEY (e.g. solver=euler steps=35)",
    )
    args = ap.parse_args()
    RDLogger.DisableLog("rdApp.*")
    modality, den, cfg = load_checkpoint(args.checkpoint)
    g = generate_config(cfg, dict(parse_override(kv) for kv in args.set), args.num, args.seed)
    x, mask, _ = generate(den, PFGMKernel(parse_D(cfg["pfgm"]["D"])), modality.blank, sigmas_for(g), g, progress=False)
    layout = modality.graph_layout
    gen = decode_classes(layout, x, mask)
    errors = collections.Counter(sanitize_error(modality.vocab, a, np.asarray(b)) for a, b in gen)
    train = modality.dataset("train")
    ref = decode_classes(layout, train.x[:500], train.mask[:500])
    density = lambda graphs: float(np.mean([(np.asarray(b) > 0).sum() / 2 / max(len(a), 1) for a, b in graphs]))
    print(f"valid: {errors.pop(None, 0)} of {len(gen)}")
    for msg, n in errors.most_common():
        print(f"  {n:4d}  {msg}")
    print(f"bonds per atom: generated {density(gen):.3f}, training {density(ref):.3f}")
    patterns, in_ring, total = overvalent_carbons(modality.vocab, gen)
    print(f"over-valent carbons: {total}, on a ring: {in_ring}; bond-order patterns: {patterns.most_common(4)}")
    print(
        f"atoms per molecule: generated {np.mean([len(a) for a, _ in gen]):.2f}, training {np.mean([len(a) for a, _ in ref]):.2f}"
    )


if __name__ == "__main__":
    main()
