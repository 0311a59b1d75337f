"""The fragment diagnosis's graph pieces (modalities/molecules/fragments.py): components, stats, joining."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("rdkit")

from pfgm.modalities.molecules import fragments as frag  # noqa: E402
from pfgm.modalities.molecules.mol_vocab import MolVocab  # noqa: E402

VOCAB = MolVocab(["C", "N", "O", "F"], kekulize=True, charges=False)


def bonds_of(n, edges):
    b = np.zeros((n, n), dtype=np.int64)
    for i, j, k in edges:
        b[i, j] = b[j, i] = k
    return b


def test_components_largest_first():
    b = bonds_of(6, [(0, 1, 1), (1, 2, 1), (4, 5, 2)])
    assert [sorted(c) for c in frag.components(b)] == [[0, 1, 2], [4, 5], [3]]


def test_stats_count_isolated_atoms_and_fragments():
    graphs = [
        (np.array([0, 0, 2]), bonds_of(3, [(0, 1, 1)])),  # CC + isolated O
        (np.array([0, 0, 0]), bonds_of(3, [(0, 1, 1), (1, 2, 1)])),
    ]  # propane
    st = frag.graph_stats(VOCAB, graphs)
    assert st["fragments_raw"] == {"1": 0.5, "2": 0.5}
    assert st["samples_with_isolated_atom"] == 0.5 and st["multi_fragment_only_isolated_atoms"] == 1.0
    assert st["isolated_atom_elements"] == {"O": 1} and st["valid_connected"] == 0.5


def test_join_uses_the_best_scored_pair_with_free_valence():
    atoms = np.array([0, 0, 3, 2])  # C C F O; F-C bonded, the O is alone
    b = bonds_of(4, [(0, 1, 1), (1, 2, 1)])
    margin = np.full((4, 4), -1.0)
    margin[2, 3] = margin[3, 2] = 0.9  # best score, but F has no free valence
    margin[0, 3] = margin[3, 0] = 0.1
    joined = frag.join_fragments(VOCAB, atoms, b, margin)
    assert joined[0, 3] == 1 and joined[2, 3] == 0 and len(frag.components(joined)) == 1
