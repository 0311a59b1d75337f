"""Solvers end to end against the closed-form oracle denoiser, convergence order, NFE, guidance."""

import math

import pytest
import torch
from scipy import stats

from pfgm.core import OracleDenoiser, PFGMKernel, karras_sigmas, sample
from pfgm.core.solvers import SOLVERS, nfe_for

N, K, NS = 16, 5, 2000
W = torch.tensor([0.1, 0.15, 0.2, 0.25, 0.3], dtype=torch.float64)


def _points(seed=0, K=K):
    return torch.randn(K, N, generator=torch.Generator().manual_seed(seed), dtype=torch.float64) * 0.5


def _check_lands(x, pts, weights, mask=None):
    d = torch.cdist(x, pts)
    dm, idx = d.min(1)
    assert (dm < 1e-2).double().mean() >= 0.99
    cnt = torch.bincount(idx, minlength=len(pts)).double()
    assert stats.chisquare(cnt.numpy(), (weights / weights.sum() * len(x)).numpy()).pvalue > 1e-3


@pytest.mark.parametrize("D", [1, 4, 128, math.inf])
@pytest.mark.parametrize("solver,steps", [("heun", 18), ("dpmpp_2m", 24)])
def test_oracle_lands_on_data(D, solver, steps):
    pts = _points()
    k = PFGMKernel(D)
    x0 = k.prior((NS, N), 80.0, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    info = {}
    x = sample(OracleDenoiser(pts, D, W), x0, karras_sigmas(steps, 0.002, 80.0), solver, info=info)
    assert info["nfe"] == nfe_for(solver, steps) == (2 * steps - 1 if solver == "heun" else steps)
    _check_lands(x, pts, W)


def test_oracle_weights_matter():
    """Negative control: samples from uniform weights fail the χ² test against W."""
    pts = _points()
    k = PFGMKernel(4)
    x0 = k.prior((NS, N), 80.0, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    x = sample(OracleDenoiser(pts, 4), x0, karras_sigmas(18, 0.002, 80.0), "heun")
    with pytest.raises(AssertionError):
        _check_lands(x, pts, W)


@pytest.mark.parametrize("D", [1, 4, 128, math.inf])
@pytest.mark.parametrize("solver,steps", [("heun", 18), ("dpmpp_2m", 24)])
def test_oracle_masked_variable_size(D, solver, steps):
    """Points of sizes 8, 12, 16 padded to 16; each sample is solved in its own N_i dims."""
    sizes = torch.tensor([8, 8, 12, 12, 16, 16])
    masks = (torch.arange(N)[None] < sizes[:, None]).double()
    pts = _points(seed=2, K=6) * masks
    w = torch.tensor([0.05, 0.15, 0.1, 0.2, 0.3, 0.2], dtype=torch.float64)
    g = torch.Generator().manual_seed(3)
    # a layout draws each sample's size with the total weight of that size, as a modality would
    size_w = torch.stack([w[sizes == s].sum() for s in (8, 12, 16)])
    pick = torch.multinomial(size_w, NS, replacement=True, generator=g)
    mask = (torch.arange(N)[None] < torch.tensor([8, 12, 16])[pick][:, None]).double()
    k = PFGMKernel(D)
    x0 = k.prior((NS, N), 80.0, mask=mask, generator=g, dtype=torch.float64)
    x = sample(OracleDenoiser(pts, D, w, masks=masks), x0, karras_sigmas(steps, 0.002, 80.0), solver, mask=mask)
    assert (x[mask == 0] == 0).all()
    _check_lands(x, pts, w)


def _order_errors(solver, D, steps_list):
    pts = torch.randn(64, N, generator=torch.Generator().manual_seed(0), dtype=torch.float64) * 0.5
    orc = OracleDenoiser(pts, D)
    x0 = PFGMKernel(D).prior((128, N), 80.0, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    # stop at σ = 0.5, where the flow is smooth, so the error measures the solver alone
    sig = lambda n: karras_sigmas(n, 0.5, 80.0)[:-1]
    ref = sample(orc, x0, sig(1024), "heun")
    return [(sample(orc, x0, sig(n), solver) - ref).norm(dim=1).median().item() for n in steps_list]


@pytest.mark.parametrize("D", [4, math.inf])
def test_convergence_order(D):
    e = _order_errors("heun", D, [32, 64])
    assert 3.2 < e[0] / e[1] < 5.5, e
    e = _order_errors("euler", D, [32, 64])
    assert 1.7 < e[0] / e[1] < 2.4, e
    e = _order_errors("dpmpp_2m", D, [64, 128])
    assert 3.0 < e[0] / e[1] < 5.5, e


def test_alpha_injection_changes_result_and_uses_generator():
    pts = _points()
    orc = OracleDenoiser(pts, 4)
    x0 = PFGMKernel(4).prior((64, N), 80.0, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    sig = karras_sigmas(10, 0.002, 80.0)
    base = sample(orc, x0, sig, "euler")
    a = sample(orc, x0, sig, "euler", alpha=0.1, generator=torch.Generator().manual_seed(9))
    b = sample(orc, x0, sig, "euler", alpha=0.1, generator=torch.Generator().manual_seed(9))
    assert torch.equal(a, b) and not torch.equal(a, base)


def test_callback_and_float32_network():
    pts = _points()
    orc = OracleDenoiser(pts, math.inf)
    seen = []
    x0 = PFGMKernel().prior((8, N), 80.0, generator=torch.Generator().manual_seed(0))
    x = sample(orc, x0, karras_sigmas(5, 0.002, 80.0), "heun", callback=lambda d: seen.append((d["i"], d["x"].dtype)))
    assert x.dtype == torch.float32
    assert [i for i, _ in seen] == list(range(5)) and all(dt == torch.float64 for _, dt in seen)


def test_classifier_free_guidance():
    """A toy conditional denoiser: guidance w extrapolates D_u + w·(D_c − D_u)."""
    calls = []

    def den(x, s, cond=None, mask=None):
        calls.append(x.shape[0])
        target = torch.where(cond[:, None] >= 0, torch.ones_like(x), torch.zeros_like(x))
        return target

    x0 = torch.zeros(4, 3)
    cond = torch.tensor([0, 1, 2, 3])
    x = sample(den, x0, karras_sigmas(1, 0.002, 1.0), "euler", cond=cond, guidance=2.5)
    torch.testing.assert_close(x, torch.full((4, 3), 2.5))
    assert calls == [8]  # one batched call for conditional and unconditional


@pytest.mark.parametrize("bad", [torch.tensor([1.0, 2.0, 0.0]), torch.tensor([[1.0, 0.0]]), torch.tensor([1.0])])
def test_bad_sigmas(bad):
    with pytest.raises(ValueError):
        sample(lambda x, s: x, torch.zeros(2, 2), bad)


def test_unknown_solver():
    with pytest.raises(ValueError, match="unknown solver"):
        sample(lambda x, s: x, torch.zeros(2, 2), karras_sigmas(3, 0.1, 1.0), solver="rk99")


@pytest.mark.parametrize("solver", ["euler", "heun", "dpmpp_2m"])
@pytest.mark.parametrize("guided", [False, True])
def test_self_conditioning_feeds_back_the_previous_output(solver, guided):
    """A self-conditioning denoiser gets zeros first, then exactly what its previous call returned
    (after guidance, when guided)."""
    given, returned = [], []

    class SelfCond:
        self_condition = True

        def __call__(self, x, s, cond=None, mask=None, self_cond=None):
            given.append(self_cond[: x.shape[0] // 2 if guided else None].clone())
            out = 0.3 * x + 0.1 * self_cond + (0.0 if cond is None else (cond >= 0).to(x.dtype)[:, None])
            d = out.to(torch.float64)
            returned.append(d[: x.shape[0] // 2] + 2.0 * (d[: x.shape[0] // 2] - d[x.shape[0] // 2 :]) if guided else d)
            return out

    x0 = torch.randn(4, 3, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    cond = torch.tensor([0, 1, 2, 3]) if guided else None
    sample(SelfCond(), x0, karras_sigmas(4, 0.002, 1.0), solver, cond=cond, guidance=3.0 if guided else 1.0)
    assert len(given) == nfe_for(solver, 4)
    assert torch.equal(given[0], torch.zeros(4, 3, dtype=torch.float64))
    for prev_out, now_in in zip(returned[:-1], given[1:]):
        torch.testing.assert_close(now_in, prev_out)


@pytest.mark.parametrize("solver,steps", [("heun", 18), ("euler", 80)])  # first order needs more steps
@pytest.mark.parametrize("D", [128, math.inf])
def test_stochastic_sampler_lands_on_data_with_the_right_weights(D, solver, steps):
    """EDM Alg. 2 (churn) with the oracle: still on the data, still in proportion, same NFE,
    reproducible from the generator, and different from the deterministic path."""
    pts = _points()
    k = PFGMKernel(D)
    x0 = k.prior((NS, N), 80.0, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    orc = OracleDenoiser(pts, D, W)
    sig = karras_sigmas(steps, 0.002, 80.0)
    info = {}
    run = lambda seed: sample(
        orc,
        x0,
        sig,
        solver,
        generator=torch.Generator().manual_seed(seed),
        info=info,
        churn=30.0,
        churn_sigma_min=0.05,
        churn_sigma_max=50.0,
    )
    x = run(0)
    assert info["nfe"] == nfe_for(solver, steps)
    _check_lands(x, pts, W)
    assert torch.equal(x, run(0))
    det = sample(orc, x0, sig, solver)
    assert (x - det).norm(dim=1).gt(1e-3).any()  # the noise changed some trajectories


def test_churn_options_are_checked():
    from pfgm.core.generate import GenerateConfig

    with pytest.raises(ValueError, match="heun and euler"):
        GenerateConfig(solver="dpmpp_2m", churn=1.0)
    assert GenerateConfig(solver="euler", churn=1.0).solver_options()["churn"] == 1.0
    with pytest.raises(ValueError, match="churn"):
        GenerateConfig(churn=-1.0)
    assert GenerateConfig(churn=0.0).solver_options() == {}


@pytest.mark.parametrize("solver", ["euler", "heun"])
def test_alpha_injection_noise_has_scale_alpha_sigma_at_each_step(solver):
    """With D(x) = x the ODE does not move x, so what the sampler adds is the injected noise alone:
    x += α·σ_i·ε before step i, independent across steps, i.e. variance α²·Σ σ_i² per entry."""
    alpha, sigmas = 0.2, torch.tensor([3.0, 1.5, 0.5, 0.0], dtype=torch.float64)
    x0 = torch.zeros(20000, 4, dtype=torch.float64)
    x = sample(lambda z, s, **k: z.clone(), x0.clone(), sigmas, solver, alpha=alpha, generator=torch.Generator().manual_seed(0))
    want = alpha**2 * float(sigmas[:-1].square().sum())
    var = x.var().item()
    assert abs(var - want) < 4 * want * math.sqrt(2 / x.numel())  # 4 standard errors of a sample variance
    assert abs(x.mean().item()) < 4 * math.sqrt(want / x.numel())


@pytest.mark.parametrize("solver", ["euler", "heun"])
def test_step_hook_returns_the_x_the_solver_goes_on_from(solver):
    """The hook's tensor (here x with its rows swapped, after every step) is what the solve continues
    from, and the tensor it was shown is not written to afterwards: the solver owns its state."""
    model = lambda x, s: 0.5 * x  # noqa: E731 - row-wise linear, so swapping rows commutes with the solve
    x0 = torch.tensor([[1.0, 2.0], [3.0, 4.0]], dtype=torch.float64)
    sig = karras_sigmas(3, 0.01, 10.0)
    shown = []

    def swap_rows(d):
        shown.append((d["x"], d["x"].clone()))
        return d["x"].flip(0)

    x = SOLVERS[solver](model, x0, sig, step_hook=swap_rows)
    assert len(shown) == 3
    assert torch.equal(x, SOLVERS[solver](model, x0, sig).flip(0))  # three swaps: swapped
    assert all(torch.equal(t, kept) for t, kept in shown)


def test_wrap_layer_sees_one_row_per_sample_inside_guidance():
    """sample's ``wrap`` wraps the net after cond, mask and guidance are applied: it is called with the
    B solver rows (guidance builds its 2B batch inside), and an identity wrap changes nothing."""
    den = lambda x, s, cond=None, mask=None: torch.where(cond[:, None] >= 0, x * 0.5 + 0.1 * cond[:, None], x * 0.9)  # noqa: E731
    x0 = torch.randn(3, 4, generator=torch.Generator().manual_seed(0), dtype=torch.float64) * 10
    sig, cond = karras_sigmas(4, 0.01, 10.0), torch.tensor([0, 1, 2])
    rows = []

    def wrap(net):
        def wrapped(x, s, **kw):
            rows.append(x.shape[0])
            return net(x, s, **kw)

        return wrapped

    x = sample(den, x0, sig, "heun", cond=cond, guidance=2.0, wrap=wrap)
    assert rows and set(rows) == {3}
    assert torch.equal(x, sample(den, x0, sig, "heun", cond=cond, guidance=2.0))
