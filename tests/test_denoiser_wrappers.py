"""The wrappers that make a network the solvers' model: guidance, self-conditioning, dtypes, NFE."""

import math

import pytest
import torch

from pfgm.core import karras_sigmas
from pfgm.core.denoiser_wrappers import Counted, SelfConditioned, guided, in_net_dtype
from pfgm.core.solvers import SOLVERS, nfe_for


def _toy(calls=None):
    """D(x, σ) = 2x + σ with a label c ≥ 0, −x/(1 + σ) for the none label −1; zero off the mask."""

    def den(x, s, cond=None, mask=None):
        if calls is not None:
            calls.append((x.shape[0], cond.clone(), None if mask is None else mask.clone()))
        s = s[:, None]
        out = torch.where(cond[:, None] >= 0, 2 * x + s, -x / (1 + s))
        return out if mask is None else out * mask

    return den


@pytest.mark.parametrize("w", [0.0, 1.0, 2.5])
def test_guided_is_the_unconditional_plus_w_times_the_difference(w):
    x = torch.randn(3, 4, generator=torch.Generator().manual_seed(0))
    s = torch.tensor([0.5, 1.0, 2.0])
    d_c, d_u = 2 * x + s[:, None], -x / (1 + s[:, None])  # by hand, from the toy's formula
    calls = []
    out = guided(_toy(calls), torch.tensor([0, 1, 2]), w, None)(x, s)
    assert out.dtype == torch.float64
    torch.testing.assert_close(out, (d_u + w * (d_c - d_u)).double(), rtol=1e-6, atol=1e-6)
    # one batched call: the labels, then the none label
    assert len(calls) == 1 and calls[0][0] == 6 and calls[0][1].tolist() == [0, 1, 2, -1, -1, -1]


def test_guided_hands_both_halves_the_mask_and_the_self_conditioning_estimate():
    seen = {}

    def den(x, s, cond=None, mask=None, self_cond=None):
        seen.update(cond=cond, mask=mask, self_cond=self_cond)
        return torch.zeros_like(x)

    mask = torch.tensor([[1.0, 1.0, 0.0], [1.0, 0.0, 0.0]])
    prev = torch.tensor([[0.1, 0.2, 0.0], [0.3, 0.0, 0.0]])
    cond = torch.tensor([[0.5], [1.5]])
    guided(den, cond, 2.0, mask)(torch.zeros(2, 3), torch.ones(2), self_cond=prev)
    assert torch.equal(seen["mask"], torch.cat([mask, mask]))
    assert torch.equal(seen["self_cond"], torch.cat([prev, prev]))
    assert torch.equal(seen["cond"][:2], cond) and seen["cond"][2:].isnan().all()  # float cond: none is NaN


def test_self_conditioned_feeds_back_the_last_estimate_and_reorders_it():
    given = []

    def den(x, s, self_cond=None):
        given.append(self_cond.clone())
        return (x + s[:, None]).double()  # returned in float64, fed back in x's dtype

    sc = SelfConditioned(den)
    x = torch.tensor([[1.0, 2.0], [3.0, 4.0]])
    sc(x, torch.ones(2))
    sc(x, torch.full((2,), 2.0))
    assert torch.equal(given[0], torch.zeros(2, 2)) and torch.equal(given[1], x + 1)
    assert given[1].dtype == torch.float32
    sc.reorder(torch.tensor([1, 1]))
    sc(x, torch.ones(2))
    assert torch.equal(given[2], torch.tensor([[5.0, 6.0], [5.0, 6.0]]))  # row 1's estimate, x + 2


def test_in_net_dtype_casts_x_and_sigma_and_returns_float64():
    seen = {}

    def den(x, s):
        seen.update(x=x, s=s)
        return x * 2

    out = in_net_dtype(den, torch.bfloat16)(torch.tensor([[1.0, 3.0]], dtype=torch.float64), 0.25)
    assert seen["x"].dtype == seen["s"].dtype == torch.bfloat16 and seen["s"].tolist() == [0.25]
    assert out.dtype == torch.float64 and out.tolist() == [[2.0, 6.0]]


@pytest.mark.parametrize("solver", sorted(SOLVERS))
def test_counted_gives_each_solvers_nfe(solver):
    n = 7
    model = Counted(lambda x, s: 0.5 * x)
    SOLVERS[solver](model, torch.randn(3, 2, dtype=torch.float64), karras_sigmas(n, 0.01, 10.0))
    assert model.calls == nfe_for(solver, n) == {"heun": 2 * n - 1}.get(solver, n)


def test_counted_counts_a_guided_batch_as_one_call():
    model = Counted(in_net_dtype(guided(_toy(), torch.tensor([0, 1]), 2.0), torch.float32))
    SOLVERS["heun"](model, torch.ones(2, 3, dtype=torch.float64), karras_sigmas(4, 0.01, math.e))
    assert model.calls == 7
