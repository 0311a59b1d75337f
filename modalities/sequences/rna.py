"""RNA families made offline by inverse folding with ViennaRNA, and the folding scores of generated RNA.

A family is every sequence that folds (minimum free energy, ViennaRNA's default energy model at
37 °C) into one target dot-bracket structure. ``RNA.inverse_fold`` designs a sequence from a random
start; a member is kept only if its MFE structure equals the target exactly (and only once), so the
family's own fold rate is 1 by construction. Runs are seeded (Python's generator for the starts,
``RNA.init_rand`` for ViennaRNA's own search).
"""

from __future__ import annotations

import collections
import random
from typing import Sequence

import numpy as np

from pfgm.core.errors import ConfigError, DataError

__all__ = [
    "TARGETS",
    "inverse_family",
    "positive_design",
    "fold",
    "fold_with_target",
    "bp_distance",
    "gc_content",
    "pair_rate",
    "helices",
    "misfold_report",
]

#: Watson-Crick and G·U wobble pairs
VALID_PAIRS = frozenset({"GC", "CG", "AU", "UA", "GU", "UG"})

#: target structures of the built-in families
TARGETS = {
    # a 30-nt stem-loop: 8-bp stem, 6-nt loop, 4 unpaired bases each side
    "hairpin": "....((((((((......))))))))....",
    # a 76-nt tRNA-like cloverleaf: acceptor stem (7 bp), D arm (4 bp), anticodon arm (5 bp),
    # T arm (5 bp), 3' tail
    "trna": "(((((((..((((........)))).(((((.......))))).....(((((.......))))))))))))....",
}


def _rna():
    import RNA

    return RNA


def inverse_family(target: str, num: int, seed: int, max_tries: int | None = None, progress: bool | None = None) -> list[str]:
    """num distinct sequences whose MFE structure is ``target`` (seeded; raises if max_tries run out).

    A 76-nt cloverleaf member takes ~0.16 s on one core (10,000 members: ~27 min), so a bar with rate
    and ETA shows (rank 0; ``progress=False`` silences it)."""
    from pfgm.core.progress import Progress

    RNA = _rna()
    rng = random.Random(seed)
    RNA.init_rand(seed)
    out: list[str] = []
    seen: set[str] = set()
    tries = 0
    limit = max_tries if max_tries is not None else 20 * num + 100
    with Progress(num, enabled=progress, desc="inverse folding", unit="seq") as bar:
        while len(out) < num:
            tries += 1
            if tries > limit:
                raise RuntimeError(f"inverse folding found {len(out)} of {num} members for {target} in {limit} tries")
            start = "".join(rng.choice("ACGU") for _ in target)
            seq, _ = RNA.inverse_fold(start, target)
            seq = seq.upper()
            if seq in seen or RNA.fold(seq)[0] != target:
                continue
            seen.add(seq)
            out.append(seq)
            bar.update()
    return out


def positive_design(members: Sequence[str], target: str, num: int, seed: int) -> list[str]:
    """num sequences from a family's *positive-design null model*: every target pair (i, j) drawn from
    the members' dinucleotide frequencies at (i, j), every unpaired base from its position's
    frequencies, all independently (seeded).

    Such sequences pair the target as the family does and have its per-position composition, but
    none of its negative design (no alternative helix more stable than the target): 1.1 % of the
    tRNA-like null folds to the target, 27 % of the hairpin's (``pfgm-diagnose rna positive-design``).
    A model of it is the guide that points autoguidance at the negative design (docs/sequences.md).
    """
    if not members or any(len(m) != len(target) for m in members):
        raise DataError(f"positive_design needs members of the target's length {len(target)}")
    rng = np.random.default_rng(seed)
    arr = np.array([list(m) for m in members])
    out = np.empty((num, len(target)), dtype="<U1")
    pairs = target_pairs(target)
    for i, j in pairs:
        dinuc, counts = np.unique(np.char.add(arr[:, i], arr[:, j]), return_counts=True)
        pick = rng.choice(dinuc, size=num, p=counts / counts.sum())
        out[:, i] = [p[0] for p in pick]
        out[:, j] = [p[1] for p in pick]
    paired = {k for pair in pairs for k in pair}
    for i in range(len(target)):
        if i not in paired:
            bases, counts = np.unique(arr[:, i], return_counts=True)
            out[:, i] = rng.choice(bases, size=num, p=counts / counts.sum())
    return ["".join(r) for r in out]


def fold(seqs: Sequence[str]) -> tuple[list[str], np.ndarray]:
    """MFE structures and energies (kcal/mol) of RNA sequences."""
    RNA = _rna()
    structs, mfes = [], []
    for s in seqs:
        st, e = RNA.fold(s)
        structs.append(st)
        mfes.append(e)
    return structs, np.asarray(mfes, dtype=np.float64)


def fold_with_target(seqs: Sequence[str], target: str | None) -> tuple[list[str], np.ndarray, np.ndarray]:
    """MFE structures, MFE energies and the target structure's energy on each sequence (kcal/mol; the
    MFE where there is no target or the lengths differ). E(target) − MFE ≥ 0, 0 exactly when the target
    is a minimum free energy structure: the negative-design gap."""
    RNA = _rna()
    structs, mfes, targets = [], [], []
    for s in seqs:
        fc = RNA.fold_compound(s)
        st, e = fc.mfe()
        structs.append(st)
        mfes.append(e)
        targets.append(fc.eval_structure(target) if target is not None and len(s) == len(target) else e)
    return structs, np.asarray(mfes, dtype=np.float64), np.asarray(targets, dtype=np.float64)


def bp_distance(structs: Sequence[str], target: str) -> np.ndarray:
    """Base-pair distance of each structure to the target; structures of another length get −1."""
    RNA = _rna()
    return np.asarray([RNA.bp_distance(s, target) if len(s) == len(target) else -1 for s in structs], dtype=np.float64)


def gc_content(seqs: Sequence[str]) -> np.ndarray:
    return np.asarray([(s.count("G") + s.count("C")) / max(len(s), 1) for s in seqs], dtype=np.float64)


def target_pairs(target: str) -> list[tuple[int, int]]:
    """Base pairs (i, j), i < j, of a dot-bracket structure; an unbalanced one is an error naming the position."""
    pairs, stack = [], []
    for i, c in enumerate(target):
        if c == "(":
            stack.append(i)
        elif c == ")":
            if not stack:
                raise ConfigError(f"target structure {target!r}: ')' at position {i + 1} closes nothing")
            pairs.append((stack.pop(), i))
        elif c != ".":
            raise ConfigError(f"target structure {target!r}: {c!r} at position {i + 1}; use '(', ')' and '.'")
    if stack:
        raise ConfigError(f"target structure {target!r}: '(' at position {stack[-1] + 1} is never closed")
    return sorted(pairs)


def partners(target: str) -> list[int]:
    """For each position of a dot-bracket structure, the index it pairs with (−1: unpaired)."""
    out = [-1] * len(target)
    for i, j in target_pairs(target):
        out[i], out[j] = j, i
    return out


def helix_extensions(target: str, min_loop: int = 3) -> list[int]:
    """For each unpaired position, the unpaired position it would pair with to extend a helix of the
    target (−1: none). From each helix end (a, b) the walk goes outward, (a−1, b+1), (a−2, b+2), …,
    and inward, (a+1, b−1), … while a hairpin loop keeps ≥ min_loop bases, as long as both are unpaired.

    These are the pairs a sequence must *not* form to fold to the target: on the hairpin family they
    were the commonest misfolds of a model that gets every target pair right (dangling bases
    complementary to their mirrors lengthen the stem; the loop's closing bases shrink the loop).
    Symmetric; a position reached by two walks keeps the first.
    """
    p, L = partners(target), len(target)
    out = [-1] * L
    for a, b in target_pairs(target):
        for step in (-1, 1):  # outward, inward
            i, k = a + step, b - step
            while 0 <= i < L and 0 <= k < L and i < k and p[i] < 0 and p[k] < 0 and out[i] < 0 and out[k] < 0:
                if step == 1 and k - i - 1 < min_loop:
                    break
                out[i], out[k] = k, i
                i, k = i + step, k - step
    return out


def pair_rate(seqs: Sequence[str], target: str) -> float:
    """Share of the target's base pairs (i, j) at which the sequences hold a GC, AU or GU pair.

    1 for every member of a family; 6/16 = 0.375 for independent uniform bases. It shows whether a
    model has learnt the pairing at all even when few samples fold exactly.
    """
    pairs = target_pairs(target)
    good = [s[i] + s[j] in VALID_PAIRS for s in seqs if len(s) == len(target) for i, j in pairs]
    return float(np.mean(good)) if good else float("nan")


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
    RNA = _rna()
    seqs = [s for s in seqs if len(s) == len(target)]
    if not seqs:
        raise DataError(f"no sequence of the target's length {len(target)}")
    structs, mfe = fold(seqs)
    e_target = np.asarray([RNA.fold_compound(s).eval_structure(target) for s in seqs], dtype=np.float64)
    gap = e_target - mfe
    dist = bp_distance(structs, target)
    kept = [set(target_pairs(st)) for st in structs]
    per_helix = {
        f"{h[0][0] + 1}-{h[0][1] + 1} ({len(h)} bp)": float(np.mean([set(h) <= k for k in kept])) for h in helices(target)
    }
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
