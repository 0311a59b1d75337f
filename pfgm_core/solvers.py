"""ODE solvers for the probability flow dx/dσ = (x − D(x, σ))/σ, the same for every D.

Only the training perturbation and the prior change with D (Xu et al. 2023, Sec. 4), so
every EDM-family solver applies. Solvers are plain functions with one signature,
k-diffusion style:

    solver(model, x, sigmas, *, callback=None, disable=True, alpha=0.0, mask=None, generator=None) -> x

``model(x, sigma)`` returns the denoised estimate (float64) for x (B, *shape) at the float sigma; ``sigmas`` is a
decreasing 1-D tensor ending in 0 (see schedule.py). The step arithmetic runs in float64; the
network runs in its own dtype (``sample`` builds ``model`` from the network with the wrappers of
denoiser_wrappers.py). Only the current state is kept, so memory does not grow with the number of steps.

``alpha`` injects errors as in PFGM++'s robustness study: x ← x + α·σ_i·ε, ε ~ N(0, I), before
each step. Every solver works on its own copy of ``x``: the caller's tensor is never changed.
``callback`` receives a dict with i, x, sigma, sigma_next, denoised (live tensors that
the solver keeps updating in place: clone what you keep).

heun and euler also take ``step_hook(d) -> x``: called after ``callback`` with the same dict, it
returns the x the solve goes on from, d["x"] itself or a new (B, *shape) float64 tensor that the
solver then owns and updates in place (steering returns the resampled particles, x[rows]). A hook
returns a new tensor rather than writing into d["x"], so the solver's state has a single writer.
"""

from __future__ import annotations

import math
from functools import partial
from typing import Callable

import torch
from torch import Tensor
from tqdm.auto import tqdm

from .denoiser_wrappers import Counted, SelfConditioned, guided, in_net_dtype
from .errors import ConfigError
from .steering import Resampler, Steering

__all__ = ["sample", "sample_euler", "sample_heun", "sample_dpmpp_2m", "SOLVERS", "nfe_for"]

Model = Callable[[Tensor, Tensor], Tensor]
StepHook = Callable[[dict], Tensor]


def _steps(sigmas: Tensor, disable: bool):
    return tqdm(range(len(sigmas) - 1), disable=disable, desc="sampling", leave=False)


def _perturb(x: Tensor, sigma: float, alpha: float, mask: Tensor | None, generator) -> Tensor:
    if alpha == 0.0:
        return x
    eps = torch.randn(x.shape, generator=generator, dtype=x.dtype, device=x.device)
    if mask is not None:
        eps.mul_(mask)
    return x.add_(eps, alpha=alpha * sigma)


# The updates below work in place on tensors the solver owns: on CPU every full-size temporary
# is a fresh allocation with its page faults, which is most of the solver's cost beside the net.
# σ's are Python floats (exact float64) so scalars never broadcast as tensors.


def _churn(
    x: Tensor,
    s: float,
    gamma: float,
    churn_sigma_min: float,
    churn_sigma_max: float,
    churn_noise: float,
    mask: Tensor | None,
    generator,
) -> tuple[Tensor, float]:
    """EDM's stochastic step (Karras et al. 2022, Alg. 2, lines 5-6): for σ in [churn_sigma_min, churn_sigma_max]
    raise σ to σ̂ = (1 + γ)σ by adding fresh noise of variance σ̂² − σ² (times churn_noise²)."""
    if gamma <= 0 or not churn_sigma_min <= s <= churn_sigma_max:
        return x, s
    s_hat = s * (1 + gamma)
    eps = torch.randn(x.shape, generator=generator, dtype=x.dtype, device=x.device)
    if mask is not None:
        eps.mul_(mask)
    return x.add_(eps, alpha=churn_noise * math.sqrt(s_hat**2 - s**2)), s_hat


def _end_step(x: Tensor, i: int, s: float, s_next: float, den: Tensor, callback, step_hook: StepHook | None) -> Tensor:
    """Show the finished step to ``callback``, then let ``step_hook`` say which x the solve goes on from."""
    if callback is None and step_hook is None:
        return x
    d = {"i": i, "x": x, "sigma": s, "sigma_next": s_next, "denoised": den}
    if callback is not None:
        callback(d)
    return x if step_hook is None else step_hook(d)


def _gamma(churn: float, num_steps: int) -> float:
    return min(churn / num_steps, math.sqrt(2) - 1) if churn > 0 else 0.0


@torch.no_grad()
def sample_euler(
    model: Model,
    x: Tensor,
    sigmas: Tensor,
    *,
    callback=None,
    disable: bool = True,
    alpha: float = 0.0,
    mask: Tensor | None = None,
    generator=None,
    churn: float = 0.0,
    churn_sigma_min: float = 0.0,
    churn_sigma_max: float = math.inf,
    churn_noise: float = 1.0,
    step_hook: StepHook | None = None,
) -> Tensor:
    """First-order Euler steps in σ (1 NFE per step); churn > 0 adds EDM's stochastic step as in
    :func:`sample_heun` (k-diffusion's ``s_churn``)."""
    sig = sigmas.tolist()
    x = x.clone()  # the steps below work in place; never on the caller's tensor
    gamma_max = _gamma(churn, len(sig) - 1)
    for i in _steps(sigmas, disable):
        s, s_next = sig[i], sig[i + 1]
        x = _perturb(x, s, alpha, mask, generator)
        x, s = _churn(x, s, gamma_max, churn_sigma_min, churn_sigma_max, churn_noise, mask, generator)
        den = model(x, s)
        # x ← x + (σ' − σ)(x − D)/σ  =  (σ'/σ)·x + (1 − σ'/σ)·D
        x = x.mul_(s_next / s).add_(den, alpha=1 - s_next / s)
        x = _end_step(x, i, s, s_next, den, callback, step_hook)
    return x


@torch.no_grad()
def sample_heun(
    model: Model,
    x: Tensor,
    sigmas: Tensor,
    *,
    callback=None,
    disable: bool = True,
    alpha: float = 0.0,
    mask: Tensor | None = None,
    generator=None,
    churn: float = 0.0,
    churn_sigma_min: float = 0.0,
    churn_sigma_max: float = math.inf,
    churn_noise: float = 1.0,
    step_hook: StepHook | None = None,
) -> Tensor:
    """EDM's 2nd-order sampler (Karras et al. 2022): Heun's method, Euler on the last step to σ = 0.
    NFE = 2·steps − 1.

    churn = 0 is the deterministic Algorithm 1. churn > 0 is the stochastic Algorithm 2: for σ_i in
    [churn_sigma_min, churn_sigma_max], first raise σ_i to σ̂ = (1 + γ)σ_i, γ = min(churn/steps, √2 − 1), by
    adding fresh noise of variance σ̂² − σ_i² (times churn_noise²), then take the Heun step from σ̂.
    The added noise is Gaussian: exact for D = ∞; for finite D an approximation (Student-t kernels
    do not compose), close when D ≫ 1.
    """
    sig = sigmas.tolist()
    x = x.clone()  # the steps below work in place; never on the caller's tensor
    gamma_max = _gamma(churn, len(sig) - 1)
    for i in _steps(sigmas, disable):
        s, s_next = sig[i], sig[i + 1]
        x = _perturb(x, s, alpha, mask, generator)
        x, s = _churn(x, s, gamma_max, churn_sigma_min, churn_sigma_max, churn_noise, mask, generator)
        h = s_next - s
        den = model(x, s)
        d = torch.sub(x, den).div_(s)
        if s_next > 0:
            x_next = torch.add(x, d, alpha=h)
            d.add_(x_next.sub_(model(x_next, s_next)).div_(s_next))  # d + d'
            x = x.add_(d, alpha=0.5 * h)
        else:
            x = x.add_(d, alpha=h)
        x = _end_step(x, i, s, s_next, den, callback, step_hook)
    return x


@torch.no_grad()
def sample_dpmpp_2m(
    model: Model,
    x: Tensor,
    sigmas: Tensor,
    *,
    callback=None,
    disable: bool = True,
    alpha: float = 0.0,
    mask: Tensor | None = None,
    generator=None,
) -> Tensor:
    """DPM-Solver++(2M) (Lu et al. 2022, Alg. 2) in σ form, 1 NFE per step.

    With t = −ln σ and h = t_{i+1} − t_i, the data-prediction update is exact for a constant
    denoised estimate:  x_{i+1} = (σ_{i+1}/σ_i)·x_i − expm1(−h)·D̂,  where D̂ extrapolates the last
    two denoised estimates linearly in t (first order on the first step and into σ = 0).
    """
    sig = sigmas.tolist()
    x = x.clone()  # the steps below work in place; never on the caller's tensor
    old_den, h_last = None, None
    for i in _steps(sigmas, disable):
        s, s_next = sig[i], sig[i + 1]
        x = _perturb(x, s, alpha, mask, generator)
        den = model(x, s)
        if s_next == 0:
            x = den.clone()
        else:
            h = math.log(s) - math.log(s_next)
            c = -math.expm1(-h)
            x = x.mul_(s_next / s)
            if old_den is None:
                x.add_(den, alpha=c)
            else:
                r = h_last / h
                x.add_(den, alpha=c * (1 + 1 / (2 * r))).add_(old_den, alpha=-c / (2 * r))
            h_last = h
        old_den = den
        if callback is not None:
            callback({"i": i, "x": x, "sigma": s, "sigma_next": s_next, "denoised": den})
    return x


SOLVERS: dict[str, Callable[..., Tensor]] = {
    "euler": sample_euler,
    "heun": sample_heun,
    "dpmpp_2m": sample_dpmpp_2m,
}


def nfe_for(solver: str, num_steps: int) -> int:
    """Network evaluations a solver spends on ``num_steps`` steps (the last one ending at σ = 0)."""
    if solver == "heun":
        return 2 * num_steps - 1
    if solver in SOLVERS:
        return num_steps
    raise ConfigError(f"unknown solver {solver!r}; available: {', '.join(SOLVERS)}")


def _steering_hook(particles: Resampler, self_cond: SelfConditioned | None) -> StepHook:
    """Steering as a step hook: the solve goes on from the resampled rows of x, and the
    self-conditioning estimate moves with its particle (it is that particle's last estimate)."""

    def hook(d: dict) -> Tensor:
        rows = particles.after_step(d["denoised"], d["sigma_next"])
        if rows is None:
            return d["x"]
        if self_cond is not None:
            self_cond.reorder(rows)
        return d["x"][rows.to(d["x"].device)]

    return hook


def sample(
    denoiser: Callable[..., Tensor],
    x_init: Tensor,
    sigmas: Tensor,
    solver: str = "heun",
    *,
    mask: Tensor | None = None,
    cond: Tensor | None = None,
    guidance: float = 1.0,
    alpha: float = 0.0,
    generator: torch.Generator | None = None,
    callback: Callable[[dict], None] | None = None,
    disable: bool = True,
    info: dict | None = None,
    steering: Steering | None = None,
    wrap: Callable[[Callable[..., Tensor]], Callable[..., Tensor]] | None = None,
    **solver_options: float,
) -> Tensor:
    """Solve the probability-flow ODE from ``x_init`` (the prior draw at sigmas[0]) to σ = 0.

    denoiser(x, sigma, cond=..., mask=...) → denoised, or denoiser(x, sigma) when neither is used.
    x_init: (B, *shape); sigmas: 1-D, decreasing, ending in 0; mask like x_init; cond (B,) / (B, k).
    guidance w: D = D_uncond + w·(D_cond − D_uncond) (classifier-free; w = 1 is plain conditional).
    ``info``, when given, receives {"nfe": number of denoiser calls, "solver": name}.
    ``solver_options`` go to the solver (heun and euler: churn, churn_sigma_min, churn_sigma_max, churn_noise).
    A self-conditioning denoiser (``denoiser.self_condition``) is fed its own previous output.
    ``steering`` (heun, euler; :mod:`pfgm_core.steering`): x_init holds ``particles`` consecutive rows per
    sample, resampled within their group after every step by the reward of the denoised estimate and
    once more at σ = 0; every row of a group is then a draw from the tilted law (take one per group).
    ``wrap``, when given, is the caller's own layer: wrap(net) → a callable of net's signature, where
    net(x (B, *shape), σ (B,), [self_cond=…]) is the denoiser with cond, mask and guidance applied, one row
    per sample of x_init (guidance's doubled batch is built inside net). Region redesign puts its known
    entries back here (redesign.KeepKnown).
    Returns x at σ = 0 in x_init's dtype.
    """
    if solver not in SOLVERS:
        raise ConfigError(f"unknown solver {solver!r}; available: {', '.join(SOLVERS)}")
    if sigmas.dim() != 1 or len(sigmas) < 2:
        raise ValueError("sigmas must be a 1-D tensor with at least 2 entries")
    sig = sigmas.to(device=x_init.device, dtype=torch.float64)
    if not bool((sig[1:] < sig[:-1]).all()) or float(sig[-1]) < 0:
        raise ValueError("sigmas must be strictly decreasing and non-negative")
    steer = steering is not None and steering.particles > 1
    if steer and solver not in ("heun", "euler"):
        raise ConfigError(f"steering resamples the solver's state between steps: use heun or euler, not {solver!r}")

    # the solvers' model(x, σ), layered as in denoiser_wrappers.py
    self_conditioning = bool(getattr(denoiser, "self_condition", False))
    net = denoiser
    if cond is not None and guidance != 1.0:
        net = guided(denoiser, cond, guidance, mask)
    elif cond is not None or mask is not None or self_conditioning:
        net = partial(denoiser, cond=cond, mask=mask)  # else denoiser(x, σ) alone: a bare net need take no keywords
    if wrap is not None:
        net = wrap(net)
    self_cond = SelfConditioned(net) if self_conditioning else None
    model = Counted(in_net_dtype(net if self_cond is None else self_cond, x_init.dtype))

    m64 = None if mask is None else mask.to(torch.float64)
    if steer:
        particles = Resampler(steering, x_init.shape[0], m64, generator)
        solver_options = {**solver_options, "step_hook": _steering_hook(particles, self_cond)}
    x = SOLVERS[solver](
        model,
        x_init.to(torch.float64),
        sig,
        callback=callback,
        disable=disable,
        alpha=alpha,
        mask=m64,
        generator=generator,
        **solver_options,
    )
    if m64 is not None:
        x = x * m64
    if steer:
        x = x[particles.final(x).to(x.device)]
    if info is not None:
        info["nfe"] = model.calls
        info["solver"] = solver
    return x.to(x_init.dtype)
