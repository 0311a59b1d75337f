"""Bridging graph estimates that fall apart (sampler.connect_sigma_*): GraphLayout.bridge, the molecule
vocabulary's valences, the σ band of ProjectedDenoiser, and the sampler wiring."""

from __future__ import annotations

import pytest
import torch

from pfgm.modalities.graphs.flat import GraphLayout, decode_classes, encode_classes
from pfgm.modalities.molecules.mol_vocab import MolVocab
from pfgm.core.generate import GenerateConfig
from pfgm.core.snapping import ProjectedDenoiser

# 5 atoms of 2 types, bonds none/single/double/triple: the path 0-1-2 and the single bond 3-4
L = GraphLayout(5, 2, 4)
PIECES = [(0, 1, 1), (1, 2, 1), (3, 4, 1)]


def _two_pieces(score: dict[tuple[int, int], float]) -> tuple[torch.Tensor, torch.Tensor]:
    """The two-piece graph as an estimate, with P(bond) of chosen non-bonded pairs raised below 1/2."""
    x, mask = encode_classes(L, [[0, 0, 1, 0, 0]], [PIECES])
    nodes, edges = L.unpack(x)
    for (i, j), p in score.items():  # "none" at 1 − p, single at p, in the ±0.5 convention
        edges[0, i, j, 0] = edges[0, j, i, 0] = 0.5 - p
        edges[0, i, j, 1] = edges[0, j, i, 1] = p - 0.5
    return L.pack_values(nodes, edges) * mask, mask


def _bonds(x: torch.Tensor, mask: torch.Tensor) -> set[tuple[int, int, int]]:
    ((_, b),) = decode_classes(L, x, mask)
    return {(int(i), int(j), int(b[i, j])) for i, j in zip(*torch.nonzero(torch.triu(torch.as_tensor(b), 1)).T)}


def test_the_likeliest_cross_pair_becomes_a_single_bond_and_nothing_else_moves():
    x, mask = _two_pieces({(2, 3): 0.3, (0, 4): 0.4, (0, 2): 0.45})  # (0, 2) is inside a piece: not a bridge
    out = L.bridge(x, mask)
    assert _bonds(out, mask) == set(PIECES) | {(0, 4, 1)}
    # pairs are stored row by row, (0, 1), (0, 2), (0, 3), (0, 4), …: only pair 3's four channels change
    changed = set((out != x).nonzero()[:, 1].tolist())
    assert changed and changed <= set(range(L.node_size + 3 * 4, L.node_size + 4 * 4))


def test_connected_estimates_and_padding_are_left_alone():
    x, mask = encode_classes(
        L, [[0, 0, 1, 0, 0], [0, 1, 0]], [[(0, 1, 1), (1, 2, 2), (2, 3, 1), (3, 4, 1)], [(0, 1, 1), (1, 2, 1)]]
    )
    assert torch.equal(L.bridge(x, mask), x)
    # a 3-atom graph in pieces is bridged inside its 3 real atoms, never to the padding
    y, m = encode_classes(L, [[0, 1, 0]], [[(0, 1, 1)]])
    assert _bonds(L.bridge(y, m), m) in ({(0, 1, 1), (0, 2, 1)}, {(0, 1, 1), (1, 2, 1)})


def test_allowed_ends_limit_the_bridge():
    x, mask = _two_pieces({(0, 4): 0.4, (2, 3): 0.3})
    allowed = torch.tensor([[False, True, True, True, True]])  # atom 0 may not take another bond
    assert _bonds(L.bridge(x, mask, lambda n, e: allowed), mask) == set(PIECES) | {(2, 3, 1)}
    none = torch.tensor([[True, True, True, False, False]])  # the second piece cannot take one
    assert torch.equal(L.bridge(x, mask, lambda n, e: none), x)


def test_one_bridge_per_call_joins_k_pieces_in_k_minus_one_calls():
    bits = GraphLayout(6, 0, 1)  # generic graphs: the edge bit
    edges = torch.full((1, 6, 6, 1), -0.5)
    for i, j in [(0, 1), (2, 3)]:  # pieces {0, 1}, {2, 3}, {4}, {5}
        edges[0, i, j] = edges[0, j, i] = 0.5
    mask = bits.mask(torch.tensor([6]))
    x = bits.pack_values(torch.zeros(1, 6, 0), edges) * mask
    from pfgm.modalities.graphs.structure import connected_components

    def pieces(v):
        _, e = bits.unpack(v)
        node, _ = connected_components(e[..., 0] > 0, torch.ones(1, 6))
        return round(float(node[0, 0, 2]) * 6)

    counts = [pieces(x)]
    for _ in range(4):
        x = bits.bridge(x, mask)
        counts.append(pieces(x))
    assert counts == [4, 3, 2, 1, 1]


def test_max_valences_hand_checked():
    v = MolVocab(["C", "N", "O", "F", "N+", "O-", "S", "Cl"], charges=True).max_valences
    assert v.tolist() == [4, 3, 2, 1, 4, 1, 6, 1]
    # without charge types, N/O/S take one more: decoding reads them back as cations (GDSS's rule)
    assert MolVocab(["C", "N", "O", "F"], charges=False).max_valences.tolist() == [4, 4, 3, 1]
    # an H count in the type (aromatic mode's pyrrole-like 'NH') takes its bonds' place
    assert MolVocab(["C", "N", "NH"], kekulize=False, charges=True).max_valences.tolist() == [4, 3, 2]
    assert MolVocab(["C"], kekulize=False).bond_orders.tolist() == [0, 1, 2, 3, 1.5]


def test_band_is_lo_inclusive_hi_exclusive_and_validated():
    seen = []
    den = ProjectedDenoiser(lambda x, s, **kw: x, lambda d, m: seen.append(1) or d + 1, lo=0.2, hi=1.5)
    out = den(torch.zeros(4, 2), torch.tensor([2.0, 1.5, 0.2, 0.1]))
    assert out[:, 0].tolist() == [0, 0, 1, 0]
    with pytest.raises(ValueError, match="lo < hi"):
        ProjectedDenoiser(lambda x, s: x, lambda d, m: d, lo=1.0, hi=1.0)
    with pytest.raises(ValueError, match="connect_sigma_min"):
        GenerateConfig(connect_sigma_min=2.0, connect_sigma_max=1.5)
    GenerateConfig(connect_sigma_min=2.0)  # no band (max 0): off, whatever min says
