"""Autoguidance against a closed form, and through the CLI path.

For data N(0, a²) the exact denoiser at σ is a²/(a²+σ²)·x, and for a guide fitted to N(0, b²) it is
b²/(b²+σ²)·x. The guided probability-flow ODE dx/dσ = (x − D_w)/σ is then linear in x and
integrates in closed form (pfgm_core/autoguidance.py): from σ = T to 0 it multiplies x by
√(b²/(b²+T²))·[(b²+T²)a² / ((a²+T²)b²)]^(w/2).
"""

from __future__ import annotations

import math

import pytest
import torch

from pfgm.core import PFGMKernel, karras_sigmas, sample
from pfgm.core.autoguidance import AutoGuided, check_guide_weight
from pfgm.core.generate import GenerateConfig

T = 80.0


def _gaussian(var: float):
    return lambda x, s: x * (var / (var + s.reshape(-1, *[1] * (x.dim() - 1)) ** 2))


def _closed_form_gain(a: float, b: float, w: float) -> float:
    a2, b2, T2 = a * a, b * b, T * T
    return math.sqrt(b2 / (b2 + T2)) * ((b2 + T2) * a2 / ((a2 + T2) * b2)) ** (w / 2)


@pytest.mark.parametrize("w", [0.0, 1.0, 2.0, 3.5])
@pytest.mark.parametrize("solver", ["heun", "dpmpp_2m"])
def test_guided_ode_matches_the_closed_form(w, solver):
    a, b = 0.5, 0.8  # the guide is too wide: the model's error, exaggerated
    x_T = torch.randn(16, 3, generator=torch.Generator().manual_seed(0), dtype=torch.float64) * math.sqrt(a * a + T * T)
    den = AutoGuided(_gaussian(a * a), _gaussian(b * b), w)
    x_0 = sample(den, x_T, karras_sigmas(400, 1e-4, T), solver)
    gain = _closed_form_gain(a, b, w)
    assert torch.allclose(x_0 / x_T, torch.full_like(x_T, gain), rtol=2e-3), (x_0 / x_T)[0, 0].item()
    # the law this maps the prior to: spread a·(a/b)^(w−1) at large T; w = 1 is the model's own a
    assert abs(gain * math.sqrt(a * a + T * T) - a * (a / b) ** (w - 1)) < 1e-3


def test_a_guide_equal_to_the_model_changes_nothing():
    """D₀ + w·(D₁ − D₀) with D₁ = D₀ is D₀ exactly, whatever w: the guided sampler is bit-identical."""
    k = PFGMKernel(128)
    x_T = k.prior((8, 5), T, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    model = _gaussian(0.3)
    plain = sample(model, x_T, karras_sigmas(12, 0.002, T), "heun")
    guided = sample(AutoGuided(model, model, 4.0), x_T, karras_sigmas(12, 0.002, T), "heun")
    assert torch.equal(plain, guided)


def test_self_conditioning_reaches_only_the_nets_that_take_it():
    seen = {}

    class Net:
        def __init__(self, name, sc):
            self.name, self.self_condition = name, sc

        def __call__(self, x, s, **kw):
            seen[self.name] = sorted(kw)
            return x * 0.5

    den = AutoGuided(Net("model", True), Net("guide", False), 2.0)
    assert den.self_condition
    out = den(torch.ones(2, 3), torch.ones(2), mask=None, self_cond=torch.zeros(2, 3))
    assert seen == {"model": ["mask", "self_cond"], "guide": ["mask"]}
    assert torch.equal(out, torch.full((2, 3), 0.5))
    assert not AutoGuided(Net("a", False), Net("b", False), 2.0).self_condition


@pytest.mark.parametrize("bad", [-0.5, math.nan, math.inf, True, "2"])
def test_guide_weight_is_checked(bad):
    with pytest.raises(ValueError, match="guide_weight"):
        check_guide_weight(bad)


def test_generate_config_needs_a_guide_for_a_weight():
    with pytest.raises(ValueError, match="needs sampler.guide"):
        GenerateConfig(guide_weight=2.0)
    with pytest.raises(ValueError, match="sampler.guide must be a checkpoint"):
        GenerateConfig(guide="  ", guide_weight=2.0)
    assert GenerateConfig(guide="runs/x", guide_weight=2.0).guide_weight == 2.0


def test_autoguidance_through_the_cli_path(tmp_path):
    """sampler.guide on a one-step hairpin checkpoint: guiding by itself reproduces the plain samples exactly,
    an independently trained guide changes them, a guide of the family's null model is taken (and its data
    difference reported), and a guide of another family (another length) is refused before sampling."""
    from pfgm.recipes.sample import generate_from_checkpoint
    from test_recipes import _one_step_checkpoint

    run = _one_step_checkpoint("rna_hairpin", tmp_path / "a")
    other_seed = _one_step_checkpoint("rna_hairpin", tmp_path / "b", ["trainer.seed=1"])  # same data, its own weights
    trna = _one_step_checkpoint("rna_trna", tmp_path / "c")
    null = _one_step_checkpoint("rna_hairpin", tmp_path / "d", ["modality.source=rna_family_null"])

    def draw(**sampler):
        c = {
            "checkpoint": str(run),
            "num_samples": 3,
            "seed": 0,
            "device": "cpu",
            "sampler": {"steps": 3, **sampler},
            "progress": False,
        }
        return generate_from_checkpoint(c)

    _, _, _, plain = draw()
    _, _, info, itself = draw(guide=str(run), guide_weight=3.0)
    assert info["guide_weight"] == 3.0 and torch.equal(plain.x, itself.x)
    assert info["guide_data_differs"] == []
    with pytest.raises(ValueError, match="does not encode data as the model does"):
        draw(guide=str(trna), guide_weight=2.0)
    with pytest.warns(UserWarning, match="does nothing at sampler.guide_weight=1"):
        _, _, _, same = draw(guide=str(trna))
    assert torch.equal(plain.x, same.x)
    _, _, _, guided = draw(guide=str(other_seed), guide_weight=2.0)
    assert torch.isfinite(guided.x).all() and not torch.equal(plain.x, guided.x)
    _, _, info, by_null = draw(guide=str(null), guide_weight=2.0)
    assert info["guide_data_differs"] == ["source"] and torch.isfinite(by_null.x).all()
