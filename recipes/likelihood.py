"""Held-out likelihood of a checkpoint: ``pfgm-eval checkpoint=… likelihood=true``.

The test split's items are integrated through the probability-flow ODE up to σ_max, where the
prior is the exact PFGM++ t density (:func:`pfgm_core.likelihood.log_likelihood`). What is
measured is log p_{σ_min}(x): the data dequantised by the kernel at σ_min. Reported per real
entry (bits/dim, for images and audio) and, for one-hot data (sequences, graphs), in nats per
token (a token is K entries of the one-hot), each with its standard error over the items
(which includes Hutchinson's estimator noise when the trace is estimated).
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass
from typing import Any

import torch

from pfgm.core.config import PFGMConfig
from pfgm.core.errors import ConfigError, DataError
from pfgm.core.kernel import per_sample_dims
from pfgm.core.likelihood import log_likelihood

__all__ = ["LikelihoodOptions", "held_out_likelihood"]


@dataclass(frozen=True)
class LikelihoodOptions:
    """How the held-out likelihood is computed: pfgm-eval's (and pfgm-bench sweep's) ``likelihood_*`` keys.

    num_items: test items integrated (``likelihood_samples``); steps: ODE steps from σ_min to σ_max
    (``likelihood_steps``, 3 network calls each); exact: the exact trace, N backward passes
    (``likelihood_exact``), instead of Hutchinson's one-probe estimate.
    """

    num_items: int = 256
    steps: int = 64
    exact: bool = False

    def __post_init__(self) -> None:
        for key, v in (("likelihood_samples", self.num_items), ("likelihood_steps", self.steps)):
            if isinstance(v, bool) or not isinstance(v, int) or v < 2:
                raise ConfigError(f"{key} must be a whole number ≥ 2, got {v!r}")
        if not isinstance(self.exact, bool):
            raise ConfigError(f"likelihood_exact must be true or false, got {self.exact!r}")

    @classmethod
    def from_config(cls, c: dict[str, Any]) -> LikelihoodOptions:
        """From a pfgm-eval config (absent or null keys keep the defaults)."""
        given = {"num_items": "likelihood_samples", "steps": "likelihood_steps", "exact": "likelihood_exact"}
        return cls(**{field: c[key] for field, key in given.items() if c.get(key) is not None})


def held_out_likelihood(
    modality: Any,
    den: Any,
    pfgm: PFGMConfig,
    D: float,
    options: LikelihoodOptions = LikelihoodOptions(),
    *,
    batch_size: int = 64,
    seed: int = 0,
    device: torch.device | str = "cpu",
) -> dict[str, float]:
    """Mean negative log-likelihood of the first ``num_items`` test items (bits/dim, nats/token), under the
    prior of ``pfgm`` (the checkpoint's parsed pfgm section: ``Checkpoint.pfgm``) at ``D``, on its σ range.

    -> bits_per_dim and its SE, likelihood_items, likelihood_nfe; for one-hot data also nats_per_token
    and its SE."""
    num_items, steps = options.num_items, options.steps
    kernel = pfgm.kernel(D)
    data = modality.dataset("test")
    n = min(num_items, len(data))
    if n < 2:
        raise DataError(f"the test split holds {len(data)} item(s); the likelihood needs at least 2")
    gen = torch.Generator(device=device).manual_seed(seed)
    dtype = next(itertools.chain(den.parameters(), den.buffers())).dtype  # the network's own precision

    def in_net_precision(z, sigma, cond=None, mask=None):  # the ODE runs in float64, the network in its own
        m = None if mask is None else mask.to(dtype)
        return den(z.to(dtype), sigma.to(dtype), cond=cond, mask=m).to(torch.float64)

    nll, dims = [], []
    for lo in range(0, n, batch_size):
        idx = torch.arange(lo, min(n, lo + batch_size))
        batch = data.take(idx) if hasattr(data, "take") else modality.collate([data[int(i)] for i in idx])
        batch = batch.to(device)
        out = log_likelihood(
            in_net_precision,
            batch.x.to(torch.float64),
            kernel,
            sigma_min=pfgm.sigma_min,
            sigma_max=pfgm.sigma_max,
            num_steps=steps,
            mask=batch.mask,
            cond=batch.cond,
            exact=options.exact,
            num_probes=1,
            generator=gen,
        )
        nll.append(-out["logp"].cpu())
        dims.append(per_sample_dims(batch.x, batch.mask).to(torch.float64).cpu())
    nll_t, dims_t = torch.cat(nll), torch.cat(dims)
    bpd = nll_t / (dims_t * math.log(2))
    report = {
        "bits_per_dim": bpd.mean().item(),
        "bits_per_dim_se": bpd.std().item() / math.sqrt(n),
        "likelihood_items": n,
        "likelihood_nfe": 3 * steps + 1,
    }
    K = modality.one_hot_classes
    if K:
        per_token = nll_t / (dims_t / K)
        report.update(nats_per_token=per_token.mean().item(), nats_per_token_se=per_token.std().item() / math.sqrt(n))
    return report
