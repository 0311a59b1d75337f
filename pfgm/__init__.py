"""pfgm: PFGM++ generative models in Python: load a trained model, sample, write, evaluate, train.

    import pfgm
    model = pfgm.load("zoo:molecules")            # or a run dir, or a .safetensors export
    mols = model.sample(100, seed=0, steps=18)     # the modality's objects; sampler options by name
    model.write(mols, "mols.smi")                  # the extension names the format, as in the CLI
    run = pfgm.train("digits", run_dir="runs/d", overrides=["trainer.max_steps=200"])
    digits = run.sample(16, seed=0)                # train returns the trained model

The console scripts and this API share one code path: ``model.sample`` draws the same objects as
``pfgm-sample`` with the same checkpoint, seed and options, and ``pfgm.train`` trains the same
weights as ``pfgm-train`` with the same overrides. What a user gave that cannot be used (a setting, a
file, a checkpoint) raises a :class:`PfgmError` (``except pfgm.PfgmError``); anything else is a bug.
"""

from __future__ import annotations

from pfgm.core.errors import CheckpointError, ConfigError, DataError, PfgmError, UnknownNameError

from .model import SAMPLER_OPTIONS, Metrics, Model, Samples, load
from .training import compose_train, train

__all__ = [
    "load",
    "train",
    "Model",
    "Samples",
    "Metrics",
    "SAMPLER_OPTIONS",
    "compose_train",
    "PfgmError",
    "ConfigError",
    "DataError",
    "CheckpointError",
    "UnknownNameError",
]
