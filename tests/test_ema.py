"""Tests for pfgm_core.ema: EDM-style half-life EMA (closed form, half-life semantics, ramp-up, state)."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from pfgm.core.checkpoint import check_plain
from pfgm.core.ema import EMA, unwrap_model


def _net() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(3, 4), nn.BatchNorm1d(4), nn.Linear(4, 2))


def _fill(model: nn.Module, value: float) -> None:
    with torch.no_grad():
        for p in model.parameters():
            p.fill_(value)


def test_copy_is_frozen_and_independent():
    model = _net()
    ema = EMA(model)
    assert all(not p.requires_grad for p in ema.model.parameters())
    assert not ema.model.training
    _fill(model, 5.0)
    assert all((p != 5.0).any() for p in ema.model.parameters())


def test_closed_form_constant_target():
    """With a constant live model, after k updates: ema = target + (init - target) * prod(beta_i)."""
    model = _net()
    ema = EMA(model, halflife_kimg=0.1, rampup_ratio=0.2)  # halflife 100 samples, ramp-up active early
    init = [p.detach().clone() for p in ema.model.parameters()]
    _fill(model, 2.0)
    prod, cur, bs = 1.0, 64, 16  # start at cur_nimg > 0 so the first beta is not 0
    betas = []
    for _ in range(40):
        b = ema.update(model, cur_nimg=cur, batch_size=bs)
        betas.append(b)
        prod *= b
        cur += bs
    # The ramp-up must have been effective for the first updates and then capped at the half-life.
    assert betas[0] == pytest.approx(0.5 ** (bs / (64 * 0.2)))
    assert betas[-1] == pytest.approx(0.5 ** (bs / 100.0))
    assert 1e-4 < prod < 0.5  # the check below is not vacuous
    for p, p0 in zip(ema.model.parameters(), init):
        expected = 2.0 + (p0 - 2.0) * prod
        torch.testing.assert_close(p, expected, rtol=1e-5, atol=1e-6)


def test_halflife_semantics():
    """At constant beta (no ramp-up), after halflife samples the distance to the target halves."""
    model = _net()
    ema = EMA(model, halflife_kimg=0.512, rampup_ratio=None)  # 512 samples
    init = [p.detach().clone() for p in ema.model.parameters()]
    _fill(model, -1.0)
    bs = 32
    for i in range(512 // bs):
        ema.update(model, cur_nimg=10**6 + i * bs, batch_size=bs)
    for p, p0 in zip(ema.model.parameters(), init):
        torch.testing.assert_close(p - (-1.0), 0.5 * (p0 - (-1.0)), rtol=1e-5, atol=1e-6)
    # and the halving does not depend on the batch size
    ema2 = EMA(_net(), halflife_kimg=0.512, rampup_ratio=None)
    for i in range(512 // 128):
        ema2.update(model, cur_nimg=10**6, batch_size=128)
    for p, q in zip(ema.model.parameters(), ema2.model.parameters()):
        torch.testing.assert_close(p, q, rtol=1e-5, atol=1e-6)


def test_rampup_first_step_copies_model_and_buffers():
    model = _net()
    _fill(model, 3.0)
    with torch.no_grad():
        model[1].running_mean.fill_(7.0)
    ema = EMA(_net())
    beta = ema.update(model, cur_nimg=0, batch_size=8)
    assert beta == 0.0
    for p in ema.model.parameters():
        assert torch.all(p == 3.0)
    assert torch.all(ema.model[1].running_mean == 7.0)
    assert ema.halflife_nimg(10**9) == 500_000


def test_dataparallel_wrapper_is_unwrapped():
    model = _net()
    wrapped = nn.DataParallel(model)  # stands in for DDP: same ``.module`` layout
    assert unwrap_model(wrapped) is model
    ema = EMA(wrapped)
    assert set(ema.model.state_dict()) == set(model.state_dict())
    _fill(model, 1.5)
    ema.update(wrapped, cur_nimg=0, batch_size=4)
    assert all(torch.all(p == 1.5) for p in ema.model.parameters())


def test_state_dict_round_trip():
    model = _net()
    ema = EMA(model, halflife_kimg=10, rampup_ratio=None)
    _fill(model, 0.25)
    ema.update(model, cur_nimg=100, batch_size=1000)
    sd = ema.state_dict()
    check_plain(sd)  # loadable with weights_only=True
    other = EMA(_net(), halflife_kimg=1, rampup_ratio=0.1)
    other.load_state_dict(sd)
    assert other.halflife_kimg == 10 and other.rampup_ratio is None
    for a, b in zip(ema.model.state_dict().values(), other.model.state_dict().values()):
        assert torch.equal(a, b)
    # a bare module state dict (e.g. from exported weights) also loads
    third = EMA(_net())
    third.load_state_dict(ema.model.state_dict())
    for a, b in zip(ema.model.parameters(), third.model.parameters()):
        assert torch.equal(a, b)


def test_invalid_arguments():
    with pytest.raises(ValueError):
        EMA(_net(), halflife_kimg=-1)
    assert math.isclose(EMA(_net(), halflife_kimg=0).beta(10, 1), 0.0)
