"""Tests of pfgm_core.config: the pfgm section is parsed once, typos and bad values are errors naming the key."""

from __future__ import annotations

import math

import pytest

from pfgm.core.config import PFGMConfig, format_D, parse_D
from pfgm.core.loss import CategoricalLoss, PFGMLoss
from pfgm.core.schedule import LogNormalSigma, LogUniformSigma


@pytest.mark.parametrize(
    "raw, want", [("inf", math.inf), (None, math.inf), ("Infinity", math.inf), (128, 128.0), ("2048", 2048.0), (1, 1.0)]
)
def test_parse_D_spellings(raw, want):
    assert parse_D(raw) == want


@pytest.mark.parametrize("raw", [0, 0.5, -3, "abc", True, float("nan")])
def test_parse_D_refuses(raw):
    with pytest.raises(ValueError, match="D"):
        parse_D(raw)


def test_unknown_key_is_named_with_the_known_ones():
    with pytest.raises(ValueError, match=r"pfgm\.DD.*known: D, sigma_min"):
        PFGMConfig.from_dict({"D": 128, "DD": 3})


@pytest.mark.parametrize(
    "bad, key",
    [
        ({"sigma_min": "abc"}, "sigma_min"),
        ({"P_std": 0}, "P_std"),
        ({"sigma_min": 10, "sigma_max": 1}, "sigma_min"),
        ({"sigma_dist": "cosine"}, "sigma_dist"),
        ({"cond_drop_prob": 1.5}, "cond_drop_prob"),
        ({"sigma_data": -1}, "sigma_data"),
        ({"objective": "l1"}, "objective"),
    ],
)
def test_bad_values_name_the_key(bad, key):
    with pytest.raises(ValueError, match=key):
        PFGMConfig.from_dict({"D": 128, **bad})


def test_round_trip_and_builders():
    c = PFGMConfig.from_dict({"D": "inf", "sigma_data": 0.5, "P_mean": -0.5})
    assert c.to_dict()["D"] == "inf" and PFGMConfig.from_dict(c.to_dict()) == c
    assert c.kernel().is_gaussian and c.kernel(D=64).D == 64
    s = c.sigma_sampler()
    assert isinstance(s, LogNormalSigma) and s.P_mean == -0.5
    assert isinstance(PFGMConfig.from_dict({"sigma_dist": "loguniform"}).sigma_sampler(), LogUniformSigma)
    assert c.loss().sigma_data == 0.5
    with pytest.raises(ValueError, match="auto"):
        PFGMConfig.from_dict({"D": 1}).loss()
    assert format_D(math.inf) == "inf" and format_D(3.0) == 3.0


def test_objective_picks_the_loss():
    assert type(PFGMConfig.from_dict({"sigma_data": 0.5}).loss()) is PFGMLoss
    cat = PFGMConfig.from_dict({"sigma_data": 0.5, "objective": "categorical", "P_mean": -0.5})
    loss = cat.loss()
    assert isinstance(loss, CategoricalLoss) and loss.sigma_sampler.P_mean == -0.5
    assert PFGMConfig.from_dict(cat.to_dict()) == cat
