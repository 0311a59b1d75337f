"""The modality adapter protocol and the registry recipes look modalities up in.

A modality turns its objects (images, molecules, sequences, ...) into tensors the
modality-agnostic core understands, and back:

    data set ──encode──▶ Encoded(x, mask, cond) ──core──▶ x̂ ──decode──▶ objects ──▶ write / evaluate

The core only ever sees ``Encoded``: a float tensor ``x`` of shape (B, *shape), an optional
``mask`` of the same shape (1 = a real entry, 0 = padding; each sample's dimension N_i is
``mask[i].sum()``), and an optional ``cond``: integer class labels of shape (B,) where -1
means "no label" (classifier-free guidance), or float properties of shape (B, k) where NaN
means "no value".

A new modality subclasses :class:`Modality`, declares its options as a dataclass (``Options``),
registers it with ``@register_modality("name")`` and is then usable from any recipe as
``modality: {name: <name>, ...options}``. See docs/adding_a_modality.md.
"""

from __future__ import annotations

import abc
import dataclasses
import inspect
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, ClassVar, Iterable, Mapping, NamedTuple, Sequence

import torch
from torch import Tensor, nn

from pfgm.core.errors import ConfigError, PfgmError, UnknownNameError

if TYPE_CHECKING:
    import argparse


@dataclass
class Encoded:
    """A batch in the core's terms. Shapes: x (B, *shape); mask like x or None; cond (B,) / (B, k) or None;
    fixed like x or None: 1 where an entry is known (region redesign; x holds its value there)."""

    x: Tensor
    mask: Tensor | None = None
    cond: Tensor | None = None
    fixed: Tensor | None = None

    def to(self, device: torch.device | str) -> "Encoded":
        def mv(t: Tensor | None) -> Tensor | None:
            return None if t is None else t.to(device, non_blocking=True)

        return Encoded(mv(self.x), mv(self.mask), mv(self.cond), mv(self.fixed))

    def __len__(self) -> int:
        return self.x.shape[0]


class EncodedDataset(torch.utils.data.Dataset):
    """A data set of already-encoded tensors (the common case: encode once, train many epochs).

    x: (M, *shape); mask: like x or None; cond: (M,) / (M, k) or None.
    """

    def __init__(self, x: Tensor, mask: Tensor | None = None, cond: Tensor | None = None):
        if mask is not None and mask.shape != x.shape:
            raise ValueError(f"mask shape {tuple(mask.shape)} does not match x shape {tuple(x.shape)}")
        if cond is not None and cond.shape[0] != x.shape[0]:
            raise ValueError(f"cond has {cond.shape[0]} rows but x has {x.shape[0]}")
        self.x, self.mask, self.cond = x, mask, cond

    def __len__(self) -> int:
        return self.x.shape[0]

    def __getitem__(self, i: int) -> Encoded:
        return Encoded(self.x[i], None if self.mask is None else self.mask[i], None if self.cond is None else self.cond[i])

    def take(self, idx: Tensor) -> Encoded:
        """A batch by fancy indexing (the trainer's fast path; no per-item Python loop). idx: (B,) long."""
        return Encoded(self.x[idx], None if self.mask is None else self.mask[idx], None if self.cond is None else self.cond[idx])


def stack_batch(items: Sequence[Encoded]) -> Encoded:
    """DataLoader collate_fn for items from :class:`EncodedDataset` (no batch dim per item)."""

    def stack(name: str) -> Tensor | None:
        return None if getattr(items[0], name) is None else torch.stack([getattr(i, name) for i in items])

    return Encoded(stack("x"), stack("mask"), stack("cond"), stack("fixed"))


@dataclass
class Evaluation:
    """What :meth:`Modality.evaluate` returns: numbers, and notes a person should read beside them
    (a metric skipped for a missing package, the reference's own score, ...)."""

    metrics: dict[str, float] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)


class Modality(abc.ABC):
    """Adapter between one modality's objects and the core's tensors.

    Subclasses take their options as keyword arguments (they come from the recipe's ``modality:``
    config block, or from a checkpoint's stored :meth:`config`), declare them in an ``Options``
    dataclass that checks them (:meth:`parse_options`), and implement the abstract methods below.
    """

    #: registry name, set by :func:`register_modality`
    name: ClassVar[str] = ""
    #: number of classes for integer conditioning (0 = unconditional)
    num_classes: int = 0
    #: options a user may change on a trained checkpoint at sample time (``pfgm-sample modality.X=...``);
    #: each names a constructor option stored under the same attribute name
    SAMPLE_OPTIONS: ClassVar[tuple[str, ...]] = ()
    #: the dataclass of this modality's options: one field per option (its type, its default, a docstring) and a
    #: ``check()`` method that holds every rule on their values, each once. ``__init__(**options)`` turns the
    #: options into it with :meth:`parse_options`. None: the ``__init__`` keywords are the options (a plugin's).
    Options: ClassVar[type | None] = None

    def __new__(cls, *args: Any, **kwargs: Any) -> "Modality":
        # Remember the constructor options so config() can rebuild the modality from a checkpoint.
        obj = super().__new__(cls)
        obj._options = dict(kwargs)
        return obj

    def config(self) -> dict[str, Any]:
        """Options that rebuild this modality without reading data: the constructor's keyword
        arguments plus any data-derived facts (channel count, atom types, size histogram...).

        Stored in checkpoints; ``type(self)(**config())`` must be able to build the same backbone,
        layout and decoder. Override to add derived facts. Plain types only.
        """
        return dict(getattr(self, "_options", {}))

    @classmethod
    def option_names(cls) -> list[str] | None:
        """The options this modality takes, in order: the fields of its ``Options``, else its ``__init__``'s
        keywords; None when that takes ``**kwargs`` and no ``Options`` names them (any name goes)."""
        if cls.Options is not None:
            return [f.name for f in dataclasses.fields(cls.Options)]
        params = inspect.signature(cls.__init__).parameters
        if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values()):
            return None
        return [k for k in params if k != "self"]

    @classmethod
    def check_option_names(cls, names: Iterable[str]) -> None:
        """Raise a one-line :class:`~pfgm.core.errors.ConfigError` naming each option in ``names`` this modality
        does not take, and listing those it does."""
        known = cls.option_names()
        unknown = [] if known is None else sorted(set(names) - set(known))
        if unknown:
            raise ConfigError(f"modality {cls.name!r} has no option {', '.join(unknown)}; its options: {', '.join(known)}")

    @classmethod
    def parse_options(cls, options: Mapping[str, Any]) -> Any:
        """The options given (a recipe's ``modality:`` block less its name, or a stored :meth:`config`) as an
        ``Options`` instance, checked: an unknown name or a refused value is a ConfigError naming it. Options not
        given take the dataclass's defaults; :meth:`config` still returns only those given."""
        if cls.Options is None:
            raise TypeError(f"{cls.__qualname__} declares no Options dataclass")
        cls.check_option_names(options)
        parsed = cls.Options(**options)
        parsed.check()
        return parsed

    def set_sample_options(self, **options: Any) -> None:
        """Apply sample-time options (e.g. a fixed node count or class label) to a loaded modality.

        Only names in ``SAMPLE_OPTIONS`` are accepted; anything else is an error naming what is.
        Values are checked by :meth:`check_sample_options`, before anything is sampled.
        """
        unknown = sorted(set(options) - set(self.SAMPLE_OPTIONS))
        if unknown:
            have = ", ".join(self.SAMPLE_OPTIONS) or "none"
            raise ConfigError(f"modality {self.name!r} has no sample-time option {', '.join(unknown)} (it has: {have})")
        before = {k: getattr(self, k) for k in options}
        for k, v in options.items():
            setattr(self, k, v)
        try:
            self.check_sample_options()
        except Exception:
            for k, v in before.items():  # a refused value leaves the modality as it was
                setattr(self, k, v)
            raise

    def check_sample_options(self) -> None:
        """Raise :class:`~pfgm.core.errors.ConfigError` naming the option when a sample-time option has a bad value.
        Default: nothing to check."""

    @abc.abstractmethod
    def dataset(self, split: str = "train") -> torch.utils.data.Dataset:
        """The encoded data set; items are :class:`Encoded` without a batch dim. split: "train" | "test".

        Usually an :class:`EncodedDataset` (held in memory, batched by fancy indexing). Data that does
        not fit in memory or needs per-step augmentation (random crops) returns an object with
        ``__len__`` and ``item(index, seed) -> Encoded`` instead: the trainer then streams it through a
        DataLoader with ``trainer.num_workers`` workers, ``seed`` a function of (run seed, step,
        position), so augmentation is reproducible and training resumes bit for bit.
        """

    def collate(self, items: Sequence[Encoded]) -> Encoded:
        """DataLoader collate_fn; the default stacks fixed-shape items."""
        return stack_batch(items)

    @abc.abstractmethod
    def backbone(self, **kwargs: Any) -> nn.Module:
        """Build the network F(x_in, c_noise, cond=None, mask=None) -> tensor shaped like x_in.

        ``kwargs`` is the recipe's ``backbone:`` block. c_noise has shape (B,).
        """

    @abc.abstractmethod
    def blank(self, num: int, generator: torch.Generator) -> Encoded:
        """What to sample: ``num`` zero tensors of the sample shape, their mask and cond (and, for region
        redesign, the known values in x with ``fixed`` marking them).

        Variable-size modalities draw the sizes here (from the histogram pinned in ``config()``),
        using ``generator`` only, so a sample is a function of its seed. Must not read the data set.
        """

    @abc.abstractmethod
    def decode(self, x: Tensor, mask: Tensor | None = None, cond: Tensor | None = None) -> list[Any]:
        """Tensors (B, *shape) -> B objects (an invalid object may be None; it is counted, not dropped).

        ``cond`` is what the samples were generated with (labels, properties), for objects that carry it.
        """

    def decode_samples(self, x: Tensor, mask: Tensor | None = None, cond: Tensor | None = None) -> list[Any]:
        """:meth:`decode` for generated tensors: a sample holding NaN or ±inf (a diverged network, an
        overflowing solver) is None, invalid and counted, never decoded into a normal-looking object
        (NaN pixels decode to black, NaN one-hots to the first token). Its row is zeroed before
        :meth:`decode` so that no decoder has to handle NaN."""
        real = x if mask is None else torch.where(mask != 0, x, torch.zeros((), dtype=x.dtype, device=x.device))
        bad = ~torch.isfinite(real.flatten(1)).all(1)
        if not bool(bad.any()):
            return self.decode(x, mask, cond)
        clean = torch.where(bad.view(-1, *[1] * (x.ndim - 1)), torch.zeros((), dtype=x.dtype, device=x.device), x)
        return [None if b else o for o, b in zip(self.decode(clean, mask, cond), bad.tolist())]

    @property
    def one_hot_classes(self) -> int | None:
        """K when every real entry of the encoded data is a shifted one-hot vector of K ≥ 2 classes on the
        last axis (:mod:`modalities.shared.onehot`), which ``pfgm.objective=categorical`` needs; else None."""
        return None

    def snap(self, x: Tensor, mask: Tensor | None = None) -> Tensor:
        """The nearest clean data point to each estimate x (B, *shape), for ``sampler.snap_below``
        (:mod:`pfgm_core.snapping`). Only categorical modalities have one; the default refuses."""
        raise ConfigError(f"the {self.name} modality has no snapping (sampler.snap_below); leave it at 0")

    def connect(self, x: Tensor, mask: Tensor) -> Tensor:
        """Each estimate x (B, *shape) with its pieces joined, for ``sampler.connect_sigma_max``
        (:mod:`pfgm_core.snapping`). Only graph modalities have pieces; the default refuses."""
        raise ConfigError(f"the {self.name} modality has no connecting (sampler.connect_sigma_max); leave it at 0")

    def sampler_hooks(self) -> list[Callable[[Callable[..., Tensor]], Callable[..., Tensor]]]:
        """Wrappers of the denoiser that sampling applies in order, after autoguidance and the σ-band
        projections (``snap``, ``connect``): a hook a modality needs (a projection, a constraint, a
        correction) lives in its own package. Each takes the denoiser ``(x, sigma, **kw) → x̂`` and
        returns one; the default is none."""
        return []

    def reward(self, x: Tensor, mask: Tensor | None = None) -> Tensor:
        """A reward (B,) of estimates x (B, *shape) to steer sampling toward (``sampler.particles``,
        :mod:`pfgm_core.steering`). Only modalities with a scorer of their own have one; the default refuses."""
        raise ConfigError(f"the {self.name} modality has no reward to steer by (sampler.particles); leave it at 1")

    @abc.abstractmethod
    def write(self, objects: Sequence[Any], out: Path) -> list[Path]:
        """Write objects to ``out`` (a folder, or a file whose extension names the format). Returns paths written."""

    def open_sink(self, out: Path) -> "SampleSink":
        """A writer that takes the decoded samples batch by batch (``pfgm-sample`` streams through it).

        The default keeps the decoded objects and calls :meth:`write` once at the end: memory grows
        with the objects (not with the raw tensors, which are dropped per batch). A modality whose
        formats can be appended (one SMILES per line, one file per image) overrides this with a
        sink that keeps one batch, so any number of samples fits in bounded memory.
        """
        return CollectingSink(self, out)

    def check_evaluate(self) -> None:
        """Raise, in one line, what :meth:`evaluate` needs and this machine lacks (a program, a package):
        pfgm-eval calls it before sampling, so a missing tool is named before the work, not after it.
        Default: nothing is needed."""

    def evaluate(self, objects: Sequence[Any], samples: Encoded | None = None) -> Evaluation:
        """Quality metrics of generated objects against held-out data, with notes. Default: none.

        ``samples`` is the generated batch the objects were decoded from (x, mask, cond), for metrics of
        the raw samples (e.g. molecule validity after valency correction).
        """
        return Evaluation()


class SampleSink(abc.ABC):
    """Receives decoded samples in index order, batch by batch; publishes the output at ``close``.

    Until ``close`` returns, nothing at ``out`` looks complete (parts live in temp files); ``abort``
    discards them.
    """

    @abc.abstractmethod
    def add(self, objects: Sequence[Any]) -> None:
        """The next batch of decoded objects (None = invalid sample)."""

    @abc.abstractmethod
    def close(self) -> list[Path]:
        """Finish and publish; returns the paths written."""

    def abort(self) -> None:
        """Discard what was written so far (the default sink has nothing on disk yet)."""


class CollectingSink(SampleSink):
    """The default: collect every object, then one ``modality.write``."""

    def __init__(self, modality: Modality, out: Path):
        self.modality, self.out, self.objects = modality, Path(out), []

    def add(self, objects: Sequence[Any]) -> None:
        self.objects.extend(objects)

    def close(self) -> list[Path]:
        return list(self.modality.write(self.objects, self.out))


class Diagnostic(NamedTuple):
    """One ``pfgm-diagnose GROUP NAME`` subcommand, owned by the modality whose errors it explains.

    A modality's ``diagnose`` module lists its subcommands in ``DIAGNOSTICS = {GROUP: {NAME: Diagnostic}}``
    and ``pfgm.recipes.diagnose`` reads that table. ``help`` is the line the listing shows; ``add_args``
    adds the subcommand's arguments to its parser; ``run`` prints the report for the parsed arguments,
    and its docstring is the subcommand's ``--help`` text.
    """

    help: str
    add_args: Callable[[argparse.ArgumentParser], None]
    run: Callable[[argparse.Namespace], None]


_REGISTRY: dict[str, type[Modality]] = {}

#: entry-point group through which every modality is found, the built-in ones (pfgm's pyproject.toml)
#: and a separate package's alike:
#:   [project.entry-points."pfgm.modalities"]  mymod = "my_pkg.module"   (the module registers "mymod")
ENTRY_POINT_GROUP = "pfgm.modalities"
#: the pip extra a built-in modality's module needs, named when its import fails
EXTRAS: dict[str, str] = {
    "pfgm.modalities.images": "images",
    "pfgm.modalities.graphs": "graphs",
    "pfgm.modalities.molecules": "graphs",
    "pfgm.modalities.sequences": "sequences",
    "pfgm.modalities.audio": "audio",
}


class ModalityUnavailable(PfgmError, ImportError):
    """A known modality whose module failed to import (usually a missing optional dependency)."""


def register_modality(name: str) -> Callable[[type[Modality]], type[Modality]]:
    """Class decorator: make a Modality subclass available to recipes as ``modality.name=<name>``."""

    def deco(cls: type[Modality]) -> type[Modality]:
        if not (isinstance(cls, type) and issubclass(cls, Modality)):
            raise TypeError(f"@register_modality({name!r}) must decorate a Modality subclass, got {cls!r}")
        other = _REGISTRY.get(name)
        if other is not None and other.__qualname__ != cls.__qualname__:
            raise ValueError(f"modality name {name!r} is already registered to {other.__module__}.{other.__qualname__}")
        cls.name = name
        _REGISTRY[name] = cls
        return cls

    return deco


def _entry_points() -> dict[str, str]:
    """{name: module} declared by installed packages in the ``pfgm.modalities`` group."""
    from importlib.metadata import entry_points

    return {ep.name: ep.value.split(":")[0] for ep in entry_points(group=ENTRY_POINT_GROUP)}


def modality_source(name: str) -> tuple[str, str | None] | None:
    """(module to import, extra to install or None) for a modality name an installed package declares."""
    module = _entry_points().get(name)
    return None if module is None else (module, EXTRAS.get(module))


def modality_names() -> list[str]:
    """Every name a recipe may use: declared through the entry-point group (built-in or not), or registered."""
    return sorted(set(_entry_points()) | set(_REGISTRY))


def get_modality(name: str) -> type[Modality]:
    """The class registered as ``name``, importing its module first if needed.

    An import that fails is reported as what it is (the missing package and the extra to install),
    never as "unknown modality".
    """
    import importlib

    if name not in _REGISTRY:
        source = modality_source(name)
        if source is None:
            raise UnknownNameError(f"unknown modality {name!r}; available: {', '.join(modality_names())}")
        module, extra = source
        try:
            importlib.import_module(module)
        except ImportError as e:
            hint = f'; install it with: pip install "pfgm[{extra}]"' if extra else ""
            raise ModalityUnavailable(f"modality {name!r} cannot be loaded: importing {module} failed ({e}){hint}") from e
        if name not in _REGISTRY:
            raise KeyError(f"module {module} was imported but registers no modality named {name!r}")
    return _REGISTRY[name]


def build_modality(options: dict[str, Any]) -> Modality:
    """Instantiate from a plain dict ``{name: ..., **options}``. Only registered classes can be built.

    An option the class does not take is an error naming it and the options it has.
    """
    opts = dict(options)
    if "name" not in opts:
        raise ConfigError("modality config needs a 'name' field naming a registered modality")
    cls = get_modality(str(opts.pop("name")))
    cls.check_option_names(opts)
    return cls(**opts)
