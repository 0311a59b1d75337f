"""A trained model in Python: load a checkpoint, sample, stream, write and evaluate its objects.

    import pfgm
    model = pfgm.load("zoo:digits")                  # a run dir, a .safetensors export or zoo:NAME
    images = model.sample(8, seed=0, steps=10)        # 8 uint8 arrays (8, 8, 1)
    model.write(images, "digits.png")                # the extension names the format

The examples in the docstrings below run as doctests (tests/test_api.py), ``model`` being ``pfgm.load("zoo:digits")``.

Every call goes through the functions ``pfgm-sample`` and ``pfgm-eval`` use (recipes/sample.py,
recipes/build.py), so ``model.sample(n, seed=s, **options)`` draws the same objects as
``pfgm-sample checkpoint=… num_samples=n seed=s sampler.X=… modality.Y=…``.
"""

from __future__ import annotations

import contextlib
import math
import os
from pathlib import Path
from typing import Any, Iterator, Sequence

import numpy as np
import torch

from pfgm.modalities.base import Encoded, Modality
from pfgm.core.config import PFGMConfig
from pfgm.core.distributed import DistInfo, init_distributed
from pfgm.core.errors import ConfigError
from pfgm.core.generate import SAMPLER_KEYS, generate_batches

__all__ = ["Model", "Samples", "Metrics", "load", "SAMPLER_OPTIONS"]

#: the keys of the sampler section (``sampler.X=`` on the command line), taken by name by sample/stream
SAMPLER_OPTIONS: tuple[str, ...] = tuple(sorted(SAMPLER_KEYS))


class Samples(list):
    """The objects :meth:`Model.sample` drew, in seed order: a plain list of the modality's objects
    (an invalid one is None, as in pfgm-sample's count), with what made them attached.

    Attributes:
        tensors: the generated tensors (x (n, ...), mask, cond) the objects were decoded from; :meth:`Model.evaluate`
            passes them on for metrics of the raw samples, as pfgm-eval does.
        info: solver, steps, D, seed, NFE per sample: the JSON line pfgm-sample prints.
    """

    tensors: Encoded | None = None
    info: dict[str, Any]

    def __init__(self, objects: Sequence[Any] = (), tensors: Encoded | None = None, info: dict[str, Any] | None = None):
        super().__init__(objects)
        self.tensors = tensors
        self.info = dict(info or {})


class Metrics(dict):
    """The modality's metrics of some objects, as pfgm-eval reports them: {name: number or None (not
    computable, NaN in the scorer)}; ``notes`` holds what a person should read beside the numbers."""

    notes: list[str]

    def __init__(self, metrics: dict[str, Any], notes: Sequence[str] = ()):
        super().__init__(metrics)
        self.notes = list(notes)


def _plain(v: Any) -> Any:
    # numpy and torch scalars (np.int64(18), torch.tensor(0.5)) → Python numbers: the sampler's
    # checks take int/float, as the YAML values of the command line are
    if isinstance(v, np.generic) or (isinstance(v, torch.Tensor) and v.numel() == 1):
        return v.item()
    return v


def _seed(seed: Any) -> int:
    seed = _plain(seed)
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise ConfigError(f"seed must be a whole number ≥ 0, got {seed!r}")
    return seed


def _count(n: Any) -> int:
    n = _plain(n)
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise ConfigError(f"n (the number of samples) must be a whole number ≥ 1, got {n!r}")
    return n


class Model:
    """A trained PFGM++ model: the EMA network, its modality adapter and the config it was trained with.

    Made by :func:`load` or :func:`pfgm.train`; not constructed directly.

    Attributes:
        modality: the modality adapter (``modality.name``: "images", "graphs", "sequences", "audio", ...).
        config: the stored run config (plain dict): modality, backbone, pfgm, sampler, trainer sections.
        D: the augmented dimension the network was trained at (``math.inf``: EDM).
        denoiser: the EMA denoiser, a ``torch.nn.Module`` in eval mode on ``device``.
        device: where sampling runs.
        source: what was loaded (the run dir, file or ``zoo:NAME`` as given).
        summary: for a model :func:`pfgm.train` returned, its training summary (steps, final loss, ...); else None.
    """

    def __init__(
        self,
        modality: Modality,
        denoiser: torch.nn.Module,
        config: dict[str, Any],
        dist: DistInfo,
        source: str,
        summary: dict[str, Any] | None = None,
        pfgm: PFGMConfig | None = None,
    ):
        self.modality = modality
        self.denoiser = denoiser
        self.config = config
        # config's pfgm section as the loader parsed it (recipes.build.Checkpoint.pfgm): D, the prior, the σ range
        self._pfgm = pfgm if pfgm is not None else PFGMConfig.from_dict(config["pfgm"], "checkpoint pfgm")
        self.source = source
        self.summary = summary
        self._dist = dist

    @property
    def D(self) -> float:
        return self._pfgm.D

    @property
    def device(self) -> torch.device:
        return self._dist.device

    def __repr__(self) -> str:
        params = sum(p.numel() for p in self.denoiser.parameters())
        D = "inf" if math.isinf(self.D) else f"{self.D:g}"
        return f"pfgm.Model({self.source!r}: {self.modality.name}, D={D}, {params / 1e3:.0f}k parameters)"

    # --------------------------------------------------------------------------------------------
    # options by name

    def _split(self, options: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any], Any]:
        """{name: value} → (sampler section, modality sample options, D): the three places pfgm-sample's
        ``sampler.X=``, ``modality.Y=`` and ``pfgm.D=`` go. An unknown name is a ConfigError naming it.

        None means "the checkpoint's value", as a null in sample.yaml does. The sampler's names are looked
        up first: a modality can't take over ``steps``."""
        sampler, modality, D = {}, {}, None
        for k, v in options.items():
            v = _plain(v)
            if k == "D":
                D = v
            elif k in SAMPLER_OPTIONS:
                sampler[k] = v
            elif k in self.modality.SAMPLE_OPTIONS:
                if v is not None:  # pfgm-sample drops a null modality.X too (load_for_sampling)
                    modality[k] = v
            else:
                raise ConfigError(self._unknown(k))
        return sampler, modality, D

    def _unknown(self, name: str, sampler: bool = True) -> str:
        own = ", ".join(self.modality.SAMPLE_OPTIONS) or "none"
        known = f"sampler options: {', '.join(SAMPLER_OPTIONS)}; D; " if sampler else ""
        return f"unknown option {name!r}: {known}the {self.modality.name} modality's options: {own}"

    @contextlib.contextmanager
    def _options(self, options: dict[str, Any]) -> Iterator[None]:
        """The modality's sample-time options for the length of one call, then the previous values back:
        a model sampled with label=7 does not keep drawing sevens."""
        if not options:
            yield
            return
        before = {k: getattr(self.modality, k) for k in options}
        self.modality.set_sample_options(**options)  # checks the values; a refused one changes nothing
        try:
            yield
        finally:
            for k, v in before.items():  # values the modality held before were valid: no second check
                setattr(self.modality, k, v)

    def _modality_options(self, options: dict[str, Any]) -> dict[str, Any]:
        # write and evaluate take only the modality's own options (write_pgen, eval_reference, ...)
        for k in options:
            if k not in self.modality.SAMPLE_OPTIONS:
                raise ConfigError(self._unknown(k, sampler=False))
        return {k: _plain(v) for k, v in options.items()}

    # --------------------------------------------------------------------------------------------
    # sampling

    def stream(
        self, n: int, seed: int = 0, batch_size: int | None = None, progress: bool = False, **options: Any
    ) -> Iterator[list[Any]]:
        """Draw ``n`` objects batch by batch: yields one list of objects per batch, in seed order.

        Memory holds one batch, whatever ``n`` is. Object i is a function of ``seed + i`` alone (not of
        the batch size), except that sampler noise injected per batch (``alpha``, ``churn``) follows the
        batching, as in pfgm-sample.

        Args:
            n: how many objects.
            seed: sample i uses seed + i.
            batch_size: samples per batch (default: the checkpoint's ``sampler.batch_size``).
            progress: show a progress bar on stderr.
            **options: by name, as :meth:`sample` takes them.

        Example:
            >>> [len(batch) for batch in model.stream(10, seed=0, batch_size=4, steps=6)]
            [4, 4, 2]
        """
        if batch_size is not None:
            options = {**options, "batch_size": batch_size}
        yield from (objects for objects, _, _ in self._batches(n, seed, progress, options))

    def _batches(
        self, n: int, seed: int, progress: bool, options: dict[str, Any]
    ) -> Iterator[tuple[list[Any], Encoded, dict[str, Any]]]:
        from pfgm.recipes.sample import _generation
        from pfgm.recipes.validate import check_sample

        n, seed = _count(n), _seed(seed)
        sampler, modality_options, D = self._split(options)
        # the config pfgm-sample composes from sample.yaml: null means "the checkpoint's value"
        c = {
            "checkpoint": self.source,
            "num_samples": n,
            "seed": seed,
            "sampler": sampler,
            "pfgm": {"D": D},
            "modality": modality_options,
            "progress": bool(progress),
        }
        check_sample(c, eval_=True)  # pfgm-sample's checks of types and ranges, before any work
        with self._options(modality_options):
            args, kw, info = _generation(c, self._dist, self.modality, self.denoiser, self.config, self._pfgm)
            for _, x, mask, cond in generate_batches(*args, **kw):
                # decoded batch by batch, as pfgm-sample's stream does (a decoder may be batch-seeded);
                # decode_samples: a diverged (non-finite) sample is None, as pfgm-sample counts it
                yield self.modality.decode_samples(x, mask, cond), Encoded(x, mask, cond), info

    def sample(self, n: int, seed: int = 0, progress: bool = False, **options: Any) -> Samples:
        """Draw ``n`` objects: the same ones ``pfgm-sample`` writes for this checkpoint, seed and options.

        Args:
            n: how many objects.
            seed: sample i uses seed + i, so ``sample(10, seed=0)[3]`` is ``sample(1, seed=3)[0]``.
            progress: show a progress bar on stderr.
            **options: by name. A sampler option (any key of the sampler section, ``sampler.X=`` of the
                command line: steps, solver, rho, alpha, guidance, churn, batch_size, sigma_max, particles,
                guide, guide_weight, ...); ``D`` (the prior's D, default the trained one); or one of the
                modality's sample options (``modality.SAMPLE_OPTIONS``: images ``label``, graphs ``num_nodes``,
                sequences ``length``/``template``, ...), applied for this call only.

        Returns:
            a :class:`Samples` list of n objects (images: uint8 arrays (H, W, C); molecules: RDKit
            molecules; sequences and audio: the modality's records; None where a sample is invalid),
            with ``.tensors`` and ``.info``.

        Raises:
            pfgm.core.errors.ConfigError: an unknown option (naming it) or a bad value (a ValueError too).

        Example:
            >>> sevens = model.sample(16, seed=0, steps=18, solver="heun", label=7)
            >>> len(sevens), sevens[0].shape, sevens[0].dtype.name, sevens.info["steps"]
            (16, (8, 8, 1), 'uint8', 18)
            >>> model.sample(3, seed=0, stepz=4)
            Traceback (most recent call last):
            pfgm.core.errors.ConfigError: unknown option 'stepz': sampler options: alpha, ...
        """
        objects: list[Any] = []
        parts: list[Encoded] = []
        info: dict[str, Any] = {}
        for batch, encoded, info in self._batches(n, seed, progress, options):
            objects += batch
            parts.append(encoded)
        cat = lambda name: None if getattr(parts[0], name) is None else torch.cat([getattr(p, name) for p in parts])  # noqa: E731
        return Samples(objects, Encoded(cat("x"), cat("mask"), cat("cond")), info)

    # --------------------------------------------------------------------------------------------
    # output and metrics

    def write(self, objects: Sequence[Any], path: str | os.PathLike[str], overwrite: bool = False, **options: Any) -> list[Path]:
        """Write objects in the modality's formats, as pfgm-sample's ``out=`` does.

        Args:
            objects: what :meth:`sample` or :meth:`stream` returned (or a slice of it).
            path: a folder (no extension: every format the modality writes, e.g. one PNG per image plus a
                grid), or a file whose extension names the format (``mols.smi``, ``mols.sdf``,
                ``seqs.fasta``, ``digits.png``, ``digits.npz``, ``clips.wav``). A folder is written whole
                or not at all and must not hold files pfgm-sample did not write.
            overwrite: a file ``path`` that pfgm did not write (a user's seqs.fasta) is refused unless this is true.
            **options: the modality's sample options that shape the output (e.g. sequences ``write_pgen=False``).

        Returns:
            the paths written.

        Example:
            >>> images = model.sample(8, seed=0)
            >>> [p.name for p in model.write(images, "digits.png")]       # one grid
            ['digits.png']
            >>> [p.name for p in model.write(images[:2], "samples")]      # a folder: every format
            ['grid.png', '000000.png', '000001.png', 'samples.npz']
        """
        from pfgm.recipes.sample import check_out, write_samples

        out = Path(os.fspath(path)).expanduser()
        with self._options(self._modality_options(options)):
            check_out(self.modality, out, overwrite)
            return write_samples(self.modality, list(objects), out)

    def evaluate(self, objects: Sequence[Any], **options: Any) -> Metrics:
        """The modality's metrics of ``objects`` against its held-out data: what pfgm-eval reports.

        Given what :meth:`sample` returned (a :class:`Samples`), its tensors go to the metrics of raw
        samples too (e.g. molecule validity after valency correction), exactly as in pfgm-eval.

        Args:
            objects: generated objects.
            **options: the modality's sample options that shape the metrics (e.g. sequences ``eval_reference=2000``).

        Returns:
            a :class:`Metrics` dict {name: value or None}, with ``.notes``.

        Example:
            >>> metrics = model.evaluate(model.sample(64, seed=0))
            >>> sorted(metrics)
            ['confident_fraction', 'confident_fraction_real', 'digits_fd', 'digits_fd_floor', 'digits_fd_same_n', 'precision', 'recall']
        """
        tensors = getattr(objects, "tensors", None)
        if tensors is not None and len(tensors) != len(objects):
            tensors = None  # objects changed after sampling: their tensors no longer describe them
        with self._options(self._modality_options(options)):
            ev = self.modality.evaluate(list(objects), tensors)
        # NaN → None, as pfgm-eval writes its JSON
        return Metrics({k: (None if isinstance(v, float) and math.isnan(v) else v) for k, v in ev.metrics.items()}, ev.notes)


def load(checkpoint: str | os.PathLike[str], device: str | torch.device = "auto") -> Model:
    """Load a trained model: a run directory, a ``.safetensors`` export, a ``.pt`` training state, or
    ``zoo:NAME`` (a shipped checkpoint; ``pfgm-zoo`` lists them). As pfgm-sample's ``checkpoint=``.

    Args:
        checkpoint: where the weights are.
        device: "auto" (CUDA when available, else CPU), "cpu", "cuda", "cuda:1" or a ``torch.device``.

    Returns:
        a :class:`Model`.

    Raises:
        CheckpointError: the file is missing, corrupt or not a pfgm checkpoint (the message names it).
        FileNotFoundError: an unknown ``zoo:NAME`` (the message lists the entries).
        ConfigError: ``checkpoint`` or ``device`` is not one of the forms above.

    Loading never runs code from the file (safetensors, or ``torch.load(weights_only=True)``).

    Example:
        >>> model = pfgm.load("zoo:digits")
        >>> model.modality.name, model.D, model.config["modality"]["dataset"]
        ('images', 16.0, 'digits')
    """
    from pfgm.recipes.build import load_checkpoint

    if isinstance(checkpoint, os.PathLike):
        checkpoint = os.fspath(checkpoint)
    if not isinstance(checkpoint, str) or not checkpoint.strip():
        raise ConfigError(f"checkpoint must name a run directory, a .safetensors or .pt file, or zoo:NAME; got {checkpoint!r}")
    if not isinstance(device, (str, torch.device)):
        raise ConfigError(f"device must be 'auto', 'cpu', 'cuda', 'cuda:N' or a torch.device, got {device!r}")
    dist = init_distributed(device)
    ckpt = load_checkpoint(checkpoint, dist.device)
    return Model(ckpt.modality, ckpt.denoiser, ckpt.config, dist, checkpoint, pfgm=ckpt.pfgm)
