"""The radius shell of the kernel (an F law) and the states a sampler visits, against closed forms."""

import math

import pytest
import torch
from scipy import stats

from pfgm.core.kernel import PFGMKernel
from pfgm.core.shell import candidate_Ds, covering_D, shell_quantiles, visited_log_ratio
from pfgm.core.solvers import sample


@pytest.mark.parametrize("N,D", [(64, 4), (64, 64), (120, 15), (1000, 128), (64, math.inf)])
def test_shell_quantiles_are_half_log_F(N, D):
    """‖n‖²/(σ²N) ~ F(N, D) (χ²_N/N at D = ∞), so log ρ's quantiles are ½·log of F's."""
    probs = (0.01, 0.5, 0.9, 0.99)
    law = stats.chi2(N, scale=1 / N) if math.isinf(D) else stats.f(N, D)
    want = [0.5 * math.log(law.ppf(p)) for p in probs]
    got = shell_quantiles(N, D, probs)
    assert got == pytest.approx(want, abs=3e-3)


def test_shell_widens_as_D_falls():
    reach = [shell_quantiles(64, D, (0.9,))[0] for D in (2, 4, 16, 64, 512, math.inf)]
    assert reach == sorted(reach, reverse=True) and reach[0] > 1.0 > 0.2 > reach[-1]


def test_candidates_span_N_over_64_to_8N_and_inf():
    assert candidate_Ds(64) == [2, 4, 8, 16, 32, 64, 128, 256, 512, math.inf]
    assert candidate_Ds(1000)[0] == 16 and candidate_Ds(1000)[-2] == 8000


def test_covering_D_is_the_largest_D_that_reaches_the_states():
    N = 64
    gaussian = shell_quantiles(N, math.inf, (0.9,))[0]
    assert covering_D(N, gaussian - 0.01) == math.inf  # states inside the Gaussian shell: diffusion
    for visited in (0.2, 0.3, 0.5, 0.8):
        D = covering_D(N, visited)
        assert shell_quantiles(N, D, (0.9,))[0] >= visited
        larger = [d for d in candidate_Ds(N) if d > D]
        assert shell_quantiles(N, larger[0], (0.9,))[0] < visited  # the next larger D falls short
    answers = [covering_D(N, v) for v in (0.1, 0.2, 0.3, 0.5, 0.8)]
    assert answers == sorted(answers, reverse=True) and len(set(answers)) == 5  # the answer moves with the states
    assert covering_D(N, 50.0) == 2  # nothing reaches: the smallest candidate
    assert covering_D(N, 0.3, candidates=[4, 64, math.inf]) == 4
    assert covering_D(N, 5.0, candidates=[1, 4, math.inf]) == 4  # D = 1 is never advised
    with pytest.raises(ValueError, match="no candidate"):
        covering_D(N, 0.3, candidates=[1])


@pytest.mark.parametrize("D", [4.0, 64.0, math.inf])
def test_visited_states_of_the_exact_flow_are_the_prior_shell(D):
    """Data = a point mass at 0: the oracle denoiser is 0 and Euler scales x by σ'/σ, so every state
    keeps the prior's ρ = ‖x‖/(σ√N), whose law is the shell of the prior's D."""
    N, n = 32, 4000
    x0 = PFGMKernel(D).prior((n, N), 50.0, None, torch.Generator().manual_seed(1)).double()
    sigmas = torch.tensor([50.0, 10.0, 1.0, 0.1, 0.0], dtype=torch.float64)
    seen = visited_log_ratio(lambda x, s, **k: torch.zeros_like(x), lambda den: sample(den, x0, sigmas, "euler"))
    assert seen["log_ratio"].shape == (4, n) and seen["sigma"].tolist() == [50.0, 10.0, 1.0, 0.1]
    assert torch.allclose(seen["log_ratio"], seen["log_ratio"][:1].expand(4, -1), atol=1e-9)
    probs = (0.1, 0.5, 0.9)
    got = torch.quantile(seen["log_ratio"][0], torch.tensor(probs, dtype=torch.float64)).tolist()
    assert got == pytest.approx(shell_quantiles(N, D, probs), abs=0.02)


def test_visited_skips_sigma_min_and_honours_masks():
    x0 = torch.randn(8, 6, dtype=torch.float64)
    mask = torch.ones(8, 6, dtype=torch.float64)
    mask[:, 3:] = 0
    x0 = x0 * mask
    sigmas = torch.tensor([2.0, 1.0, 0.002, 0.0], dtype=torch.float64)
    seen = visited_log_ratio(
        lambda x, s, **k: torch.zeros_like(x), lambda den: sample(den, x0 * 2.0, sigmas, "euler", mask=mask), sigma_min=0.002
    )
    assert seen["sigma"].tolist() == [2.0, 1.0]
    want = (x0.norm(dim=1) / math.sqrt(3)).log()  # ρ in each sample's own 3 real dims
    assert torch.allclose(seen["log_ratio"][0], want, atol=1e-9)
    with pytest.raises(ValueError, match="sigma_min"):
        visited_log_ratio(lambda x, s, **k: x, lambda den: sample(den, x0, sigmas[2:], "euler"), sigma_min=1.0)
