"""Molecule graphs that come out in pieces: connected components of a decoded bond matrix, fragment and
isolated-atom statistics of a set of decoded graphs, and joining the pieces with the bonds the model
scored highest. The diagnosis behind ``pfgm-diagnose molecules fragments CHECKPOINT``; nothing
here changes what the modality decodes."""

from __future__ import annotations

import collections

import numpy as np

from .mol_repair import fragment_count, sanitize_or_none
from .mol_vocab import parse_atom_key

__all__ = ["components", "graph_stats", "join_fragments"]

# neutral valences: a joining bond never makes an atom charged (the decoder would read N with four
# bonds as N+ and O with three as O+)
_MAX_VALENCE = {"C": 4, "N": 3, "O": 2, "S": 2, "P": 3, "F": 1, "Cl": 1, "Br": 1, "I": 1, "B": 3, "Si": 4, "Se": 2}


def components(bonds: np.ndarray) -> list[list[int]]:
    """Connected components of a bond-class matrix (0 = none), largest first."""
    n = bonds.shape[0]
    seen, out = [False] * n, []
    for s in range(n):
        if seen[s]:
            continue
        stack, comp = [s], []
        seen[s] = True
        while stack:
            u = stack.pop()
            comp.append(u)
            for v in np.nonzero(bonds[u])[0]:
                if not seen[v]:
                    seen[v] = True
                    stack.append(int(v))
        out.append(comp)
    return sorted(out, key=len, reverse=True)


def graph_stats(vocab, graphs: list[tuple[np.ndarray, np.ndarray]]) -> dict:
    """Fragment / isolated-atom / size statistics of decoded graphs (atom classes, bond classes)."""
    frag_raw, frag_valid, iso_elems = collections.Counter(), collections.Counter(), collections.Counter()
    small_sizes = collections.Counter()
    with_iso = only_iso = multi = valid = 0
    by_n: dict[int, list[int]] = collections.defaultdict(lambda: [0, 0])  # n -> [samples, multi-fragment]
    gap = []  # n - largest fragment, multi-fragment samples
    for atoms, bonds in graphs:
        bonds = np.asarray(bonds)
        comps = components(bonds)
        k = len(comps)
        frag_raw[min(k, 4)] += 1
        n = len(atoms)
        by_n[n][0] += 1
        deg = (bonds > 0).sum(1)
        iso = [i for i in range(n) if deg[i] == 0]
        if iso and n > 1:
            with_iso += 1
            iso_elems.update(parse_atom_key(vocab.atom_types[atoms[i]])[0] for i in iso if len(comps) > 1)
        if k > 1:
            multi += 1
            by_n[n][1] += 1
            gap.append(n - len(comps[0]))
            small_sizes.update(min(len(c), 6) for c in comps[1:])
            if all(len(c) == 1 for c in comps[1:]):
                only_iso += 1
        mol = sanitize_or_none(vocab.graph_to_rwmol(atoms, bonds))
        if mol is not None:
            valid += 1
            frag_valid[min(fragment_count(mol), 4)] += 1
    total = len(graphs)
    share = lambda c, d: {("4+" if k == 4 else str(k)): round(v / max(d, 1), 4) for k, v in sorted(c.items())}
    return {
        "num": total,
        "fragments_raw": share(frag_raw, total),
        "fragments_valid": share(frag_valid, valid),
        "validity": round(valid / max(total, 1), 4),
        "valid_connected": round(frag_valid.get(1, 0) / max(total, 1), 4),
        "samples_with_isolated_atom": round(with_iso / max(total, 1), 4),
        "multi_fragment_only_isolated_atoms": round(only_iso / max(multi, 1), 4),
        "isolated_atom_elements": dict(iso_elems.most_common()),
        "mean_atoms_outside_largest_fragment": round(float(np.mean(gap)) if gap else 0.0, 3),
        "other_fragment_sizes": {("6+" if k == 6 else str(k)): v for k, v in sorted(small_sizes.items())},
        "multi_fragment_rate_by_atoms": {str(n): round(m / s, 3) for n, (s, m) in sorted(by_n.items()) if s >= 10},
    }


def join_fragments(vocab, atoms: np.ndarray, bonds: np.ndarray, margin: np.ndarray) -> np.ndarray:
    """Join the fragments with single bonds the model scored highest, between atoms with free valence."""
    bonds = bonds.copy()
    comps = components(bonds)
    if len(comps) == 1:
        return bonds
    comp_of = {v: c for c, comp in enumerate(comps) for v in comp}
    parent = list(range(len(comps)))

    def find(c: int) -> int:
        while parent[c] != c:
            parent[c] = parent[parent[c]]
            c = parent[c]
        return c

    used = bonds.sum(1).astype(int)  # bond orders per atom (class = order for single/double/triple)
    cap = [_MAX_VALENCE.get(parse_atom_key(vocab.atom_types[a])[0], 4) for a in atoms]
    n = len(atoms)
    pairs = sorted(((margin[i, j], i, j) for i in range(n) for j in range(i + 1, n) if comp_of[i] != comp_of[j]), reverse=True)
    for _, i, j in pairs:
        a, b = find(comp_of[i]), find(comp_of[j])
        if a == b or used[i] >= cap[i] or used[j] >= cap[j]:
            continue
        bonds[i, j] = bonds[j, i] = 1
        used[i] += 1
        used[j] += 1
        parent[a] = b
    return bonds
