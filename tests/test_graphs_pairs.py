"""PairIndex: the upper-triangle storage of symmetric pair tensors against dense computations."""

import torch

from pfgm.modalities.graphs.pairs import PairIndex


def _symmetric(B: int, n: int, C: int) -> torch.Tensor:
    t = torch.randn(B, n, n, C, dtype=torch.float64)
    t = t + t.transpose(1, 2)
    return t * (1 - torch.eye(n, dtype=t.dtype)).view(1, n, n, 1)


def test_counts_each_unordered_pair_once():
    p = PairIndex(5)
    assert len(p.i) == 10
    assert bool((p.i < p.j).all())
    assert len({(int(a), int(b)) for a, b in zip(p.i, p.j)}) == 10


def test_round_trip_of_a_symmetric_zero_diagonal_tensor():
    p, full = PairIndex(6), _symmetric(3, 6, 4)
    assert p.to_pairs(full).shape == (3, 15, 4)
    torch.testing.assert_close(p.to_full(p.to_pairs(full)), full, rtol=0, atol=0)


def test_to_full_is_symmetric_with_zero_diagonal_and_keeps_trailing_dims():
    p = PairIndex(4)
    pairs = torch.arange(6.0).view(1, 6)
    full = p.to_full(pairs)
    assert torch.equal(full, full.transpose(1, 2))
    assert torch.equal(torch.diagonal(full, dim1=1, dim2=2), torch.zeros(1, 4))
    assert full[0, 0, 1] == 0 and full[0, 2, 3] == 5 and full[0, 3, 2] == 5


def test_node_sum_equals_the_dense_row_sum():
    p, full = PairIndex(7), _symmetric(2, 7, 3)
    torch.testing.assert_close(p.node_sum(p.to_pairs(full)), full.sum(2))


def test_outer_gathers_both_endpoints():
    p = PairIndex(5)
    x = torch.randn(2, 5, 3, dtype=torch.float64)
    xi, xj = p.outer(x)
    dense_sum = x.unsqueeze(2) + x.unsqueeze(1)
    torch.testing.assert_close(xi + xj, p.to_pairs(dense_sum))


def test_gradients_flow_through_to_full_and_node_sum():
    p = PairIndex(4)
    pairs = torch.randn(2, 6, 3, dtype=torch.float64, requires_grad=True)
    torch.autograd.gradcheck(lambda t: p.to_full(t).square().sum() + p.node_sum(t).sin().sum(), (pairs,))
