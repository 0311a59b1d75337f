"""pfgm-eval's held-out likelihood (recipes/likelihood.py) against the closed form of a finite point set."""

import math

import pytest
import torch

from pfgm.core import OracleDenoiser
from pfgm.core.config import PFGMConfig
from pfgm.core.errors import ConfigError
from pfgm.recipes.likelihood import LikelihoodOptions, held_out_likelihood
from toy_modality import Ring


def _mixture_logp(kernel, pts, x, s):
    """log p_σ(x) of a finite point set: the mean of the kernel's densities around its points."""
    comps = torch.stack([kernel.log_prob(x - p, s) for p in pts], 1)
    return torch.logsumexp(comps, 1) - math.log(len(pts))


@pytest.mark.parametrize("D", [16.0, math.inf], ids=["D16", "Dinf"])
def test_held_out_bits_per_dim_is_the_test_splits_closed_form(D):
    """With the oracle denoiser of the test split's points, the likelihood of the first num_items test
    items at the checkpoint's σ_min is the kernel mixture's: it integrates the test split (not the
    training split), at the D and σ range it is given."""
    ring = Ring(n=12, seed=3)
    test = ring.dataset("test").x.to(torch.float64)
    assert not torch.allclose(test, ring.dataset("train").x.to(torch.float64))
    pfgm = PFGMConfig(D=D, sigma_min=0.05, sigma_max=40.0, sigma_data=0.7)
    out = held_out_likelihood(ring, OracleDenoiser(test, D), pfgm, D, LikelihoodOptions(num_items=5, steps=150, exact=True))
    ref = -_mixture_logp(pfgm.kernel(D), test, test[:5], 0.05) / (2 * math.log(2))
    assert out["likelihood_items"] == 5 and out["likelihood_nfe"] == 3 * 150 + 1
    assert out["bits_per_dim"] == pytest.approx(ref.mean().item(), rel=0.01)
    assert out["bits_per_dim_se"] == pytest.approx(ref.std().item() / math.sqrt(5), rel=0.05)
    assert "nats_per_token" not in out  # the ring is not one-hot


def test_items_are_capped_by_the_test_split():
    ring = Ring(n=3)
    pfgm = PFGMConfig(sigma_min=0.05, sigma_max=40.0)
    out = held_out_likelihood(ring, OracleDenoiser(ring.dataset("test").x, math.inf), pfgm, math.inf, LikelihoodOptions(steps=4))
    assert out["likelihood_items"] == 3


@pytest.mark.parametrize(
    "given,needle",
    [
        ({"likelihood_steps": 1}, "likelihood_steps must be a whole number ≥ 2, got 1"),
        ({"likelihood_samples": 2.5}, "likelihood_samples must be a whole number ≥ 2, got 2.5"),
        ({"likelihood_samples": True}, "likelihood_samples must be a whole number ≥ 2, got True"),
        ({"likelihood_exact": "yes"}, "likelihood_exact must be true or false, got 'yes'"),
    ],
)
def test_bad_options_are_one_line_errors_naming_the_key(given, needle):
    with pytest.raises(ConfigError) as e:
        LikelihoodOptions.from_config(given)
    assert needle in str(e.value) and "\n" not in str(e.value)


def test_options_from_a_config_keep_defaults_for_null_keys():
    c = {"likelihood_samples": None, "likelihood_steps": 8, "likelihood_exact": True, "likelihood": True}
    assert LikelihoodOptions.from_config(c) == LikelihoodOptions(num_items=256, steps=8, exact=True)
