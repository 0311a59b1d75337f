"""σ schedules: Karras discretisation and the training σ distributions."""

import math

import pytest
import torch
from scipy import stats

from pfgm.core.schedule import LogNormalSigma, LogUniformSigma, karras_sigmas


def test_karras_endpoints_and_shape():
    s = karras_sigmas(18, 0.002, 80.0)
    assert s.shape == (19,) and s.dtype == torch.float64 and s[-1] == 0
    assert math.isclose(s[0].item(), 80.0) and math.isclose(s[-2].item(), 0.002, rel_tol=1e-12)
    assert (s[1:] < s[:-1]).all()
    # ρ-th roots are equally spaced
    r = s[:-1] ** (1 / 7)
    torch.testing.assert_close(r[1:] - r[:-1], torch.full((17,), (r[1] - r[0]).item(), dtype=torch.float64))


def test_karras_single_step_and_errors():
    assert karras_sigmas(1, 0.1, 5.0).tolist() == [5.0, 0.0]
    with pytest.raises(ValueError):
        karras_sigmas(0, 0.1, 1.0)
    with pytest.raises(ValueError):
        karras_sigmas(5, 2.0, 1.0)


def test_lognormal_and_loguniform_laws():
    g = torch.Generator().manual_seed(0)
    s = LogNormalSigma(-1.2, 1.2)(20_000, g)
    assert stats.kstest(s.log().numpy(), stats.norm(-1.2, 1.2).cdf).pvalue > 1e-3
    u = LogUniformSigma(0.01, 10.0)(20_000, g)
    assert stats.kstest(u.log().numpy(), stats.uniform(math.log(0.01), math.log(1000)).cdf).pvalue > 1e-3
