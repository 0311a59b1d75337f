"""pfgm_core: the modality-agnostic PFGM++ core — kernel and prior, schedules, preconditioning,
loss, ODE solvers, likelihood, and the training engine. Imports torch only."""

from .kernel import PFGMKernel
from .loss import PFGMLoss
from .oracle import OracleDenoiser
from .precond import CategoricalDenoiser, Denoiser, estimate_sigma_data
from .schedule import LogNormalSigma, LogUniformSigma, karras_sigmas
from .solvers import SOLVERS, sample

__all__ = [
    "PFGMKernel",
    "PFGMLoss",
    "OracleDenoiser",
    "Denoiser",
    "CategoricalDenoiser",
    "estimate_sigma_data",
    "LogNormalSigma",
    "LogUniformSigma",
    "karras_sigmas",
    "SOLVERS",
    "sample",
]
