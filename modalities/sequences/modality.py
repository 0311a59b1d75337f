"""The ``sequences`` modality: antibody CDR3s and heavy chains, RNA families, or any FASTA/CSV/Stockholm/GenBank file.

Sequences are one-hot (B, L_max, K) with a per-position mask (see :mod:`.encoding`); lengths are drawn
from the training histogram pinned in ``config()``, so sampling a checkpoint never reads data.
Region redesign: ``template`` (a sequence file) and ``redesign`` (a region name such as ``cdr3``, or
1-based positions ``95-102,110``) make ``blank`` return the template with ``fixed`` marking every
position outside the region; the core keeps those on their PFGM++ path (pfgm_core/redesign.py).

The options (the recipe's ``modality:`` block, the sources among them) are :class:`SequenceOptions`.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import torch
from torch import Tensor, nn

from pfgm.core.errors import ConfigError, DataError
from pfgm.modalities.shared.sizes import SizeHistogram

from ..base import Encoded, EncodedDataset, Evaluation, Modality
from .alphabet import GAP, Alphabet
from .encoding import SequenceCodec

log = logging.getLogger(__name__)

SOURCES = ("olga_cdr3", "olga_vh", "rna_family", "rna_family_null", "file")
KINDS = ("cdr3", "vh", "rna", "protein")
_DATA_VERSION = 1  # bump when a generated set changes for the same options


def _default_kind(source: str, alphabet: str) -> str:
    return {"olga_cdr3": "cdr3", "olga_vh": "vh", "rna_family": "rna", "rna_family_null": "rna"}.get(
        source, "rna" if alphabet == "rna" else "protein"
    )


def _ungap(s: str) -> str:
    return s.replace(GAP, "")


def parse_positions(spec: str, length: int) -> list[int]:
    """'95-102,110' (1-based, inclusive) → sorted 0-based positions inside [0, length)."""
    out: set[int] = set()
    for part in str(spec).replace(" ", "").split(","):
        m = re.fullmatch(r"(\d+)(?:-(\d+))?", part)
        if not m:
            raise ConfigError(f"modality.redesign: cannot read {part!r}; give a region name (cdr3) or positions like 95-102,110")
        a, b = int(m.group(1)), int(m.group(2) or m.group(1))
        if not 1 <= a <= b <= length:
            raise ConfigError(f"modality.redesign: positions {part} outside the template's 1..{length}")
        out.update(range(a - 1, b))
    return sorted(out)


@dataclass(frozen=True)
class SequenceOptions:
    """The options of the ``sequences`` modality (the recipe's ``modality:`` block), and their rules (:meth:`check`)."""

    source: str = "olga_cdr3"
    """Where the sequences come from. ``olga_cdr3``: CDR3 amino-acid sequences from OLGA's human IGH model
    (offline). ``olga_vh``: full heavy-chain variable regions assembled from OLGA's germline V/J (no
    hypermutation). ``rna_family``: members of an inverse-folded family (``family`` or ``target``).
    ``rna_family_null``: the same family's positive-design null model (rna.positive_design of its training
    split): target pairs and per-position bases as the family has them, drawn independently; trained with the
    family's recipe, it is the guide that points autoguidance (``sampler.guide``) at what the null lacks, the
    family's negative design. ``file``: ``path`` to a FASTA / Stockholm / GenBank / CSV file, alphabet declared."""
    alphabet: str = "protein"
    """protein | rna | custom (with ``symbols``). The olga sources need protein; the RNA families are rna."""
    symbols: str | None = None
    """The symbols of a custom alphabet."""
    aligned: bool = False
    """Fixed length with '-' gaps as a symbol. With olga_vh, chains are laid on fixed IMGT slots
    (germline.aligned_vh): column i is the same structural position in every chain, the CDR3 in
    max_length − 115 slots."""
    path: str | None = None
    """source file: the sequence file (unset: a demo FASTA of 5,000 OLGA CDR3s, written to the cache folder)."""
    format: str | None = None
    """source file: fasta | stockholm | genbank | csv | tsv (unset: from the file's extension)."""
    column: str | int | None = None
    """source file, CSV: the column holding the sequences (a name or an index)."""
    id_column: str | int | None = None
    """source file, CSV: the column holding the record ids."""
    unknown: str = "error"
    """error | skip: records with ambiguity codes, foreign characters or no sequence."""
    max_length: int | None = None
    """Longer records are skipped (counted); also L_max of the tensors. Unset: 30 for olga_cdr3 (99.5 % of
    OLGA's IGH CDR3s), 140 for olga_vh, the target's length for an RNA family, else the longest sequence."""
    num_sequences: int = 20000
    """How many sequences a generated source (olga, rna_family) makes."""
    test_fraction: float = 0.1
    """The share held out as the test split (0: none)."""
    seed: int = 0
    """Seeds the generated data and the split."""
    olga_model: str = "human_B_heavy"
    """OLGA's recombination model (generation and Pgen)."""
    kind: str | None = None
    """cdr3 | vh | rna | protein: which scores evaluate and write report (unset: from the source and alphabet)."""
    family: str | None = None
    """The RNA target structure by name: hairpin | trna (rna.TARGETS)."""
    target: str | None = None
    """The RNA target structure as a dot-bracket string (instead of ``family``)."""
    lengths: Sequence[int] | None = None
    """The training length histogram, pinned by ``config()`` so that sampling reads no data."""
    length: int | None = None
    """Sample-time: every sample this long (unset: lengths drawn from the histogram)."""
    template: str | None = None
    """Sample-time region redesign: a sequence file of templates (sample s redesigns template s mod T)."""
    redesign: str | None = None
    """Sample-time region redesign: the region of each template to generate, a region name (cdr3) or
    1-based positions like ``95-102,110``; the rest is kept."""
    eval_reference: int = 500
    """Held-out (and train-ceiling) sequences the metrics compare with; also at eval time
    (``pfgm-eval … modality.eval_reference=2000``): log10 Pgen spreads ~3.9 orders, so 500 held-out CDR3s fix
    their own mean only to ±0.18."""
    pgen_samples: int = 1000
    """At most this many generated sequences get OLGA Pgen (and, for vh, germline calls) in evaluate."""
    write_pgen: bool = True
    """Put log10 Pgen in the FASTA descriptions (OLGA, ~0.1-0.2 s per sequence)."""
    numbering: str = "auto"
    """vh germline identities by auto | anarci | alignment (germline.py; auto = ANARCI where it runs)."""
    antiberty: int = 0
    """vh, at eval time: score this many samples and held-out sequences by AntiBERTy's pseudo-log-likelihood per
    residue (plm.py, 8 residues each; ~4 s a sequence on one CPU thread); 0 = off."""
    germline_cond: bool = False
    """olga_vh: condition on each chain's V and J gene (germline_labels.py; train with pfgm.cond_drop_prob > 0
    for guidance)."""
    germline: dict[str, Any] | None = None
    """The V/J vocabulary of a germline-conditioned model, pinned by ``config()``."""
    label: str | None = None
    """Sample-time, germline_cond: the V/J genes to request (IGHV3-23/IGHJ4, or a V gene alone: J drawn as
    training pairs it); ``none`` = unconditional; unset = pairs drawn by training frequency."""

    def check(self) -> None:
        """Raise a ConfigError naming the first option whose value is refused. The sample-time values that need
        the trained model (length, label, template) are checked by ``SequenceModality.check_sample_options``."""
        from .rna import TARGETS

        if self.source not in SOURCES:
            raise ConfigError(f"modality.source must be one of {', '.join(SOURCES)}, got {self.source!r}")
        if self.unknown not in ("error", "skip"):
            raise ConfigError(f"modality.unknown must be error or skip, got {self.unknown!r}")
        if self.source.startswith("olga") and self.alphabet != "protein":
            raise ConfigError(f"source {self.source} makes protein sequences; alphabet must be protein, got {self.alphabet!r}")
        if self.kind and self.kind not in KINDS:
            raise ConfigError(f"modality.kind must be one of {', '.join(KINDS)}, got {self.kind!r}")
        if self.target is None and self.family is not None and self.family not in TARGETS:
            raise ConfigError(
                f"modality.family must be one of {', '.join(TARGETS)} (or give target: <dot-bracket>), got {self.family!r}"
            )
        if self.source.startswith("rna_family") and self.target is None and self.family is None:
            raise ConfigError(f"source {self.source} needs family: hairpin | trna, or target: <dot-bracket structure>")
        if self.numbering not in ("auto", "anarci", "alignment"):
            raise ConfigError(f"modality.numbering must be auto, anarci or alignment, got {self.numbering!r}")
        if isinstance(self.antiberty, bool) or not isinstance(self.antiberty, int) or self.antiberty < 0:
            raise ConfigError(f"modality.antiberty must be a number of sequences >= 0 (0 = off), got {self.antiberty!r}")
        if self.germline_cond and self.source != "olga_vh":
            raise ConfigError(
                f"modality.germline_cond labels chains by their V and J genes: it needs source olga_vh, got {self.source!r}"
            )


class SequenceModality(Modality):
    """Sequences as one-hot (B, L_max, K) with a per-position mask. Options: :class:`SequenceOptions`."""

    Options = SequenceOptions
    SAMPLE_OPTIONS = (
        "length",
        "template",
        "redesign",
        "write_pgen",
        "pgen_samples",
        "eval_reference",
        "numbering",
        "antiberty",
        "label",
    )
    #: what ``write`` takes: a folder ("" — samples.fasta inside) or a FASTA file
    OUT_FORMATS = ("", ".fasta", ".fa", ".fas", ".faa", ".fna")

    def __init__(self, **options: Any):
        o: SequenceOptions = self.parse_options(options)
        self.options = o
        alphabet = "rna" if o.source.startswith("rna_family") else o.alphabet
        self.source, self.path, self.format, self.column, self.id_column = o.source, o.path, o.format, o.column, o.id_column
        self.unknown, self.num_sequences, self.test_fraction, self.seed = o.unknown, int(o.num_sequences), o.test_fraction, o.seed
        self.olga_model = o.olga_model
        self.alphabet = Alphabet(alphabet, o.symbols, gap=o.aligned)
        self.aligned = bool(o.aligned)
        self.kind = o.kind or _default_kind(o.source, alphabet)
        from .rna import TARGETS

        target = TARGETS[o.family] if o.target is None and o.family is not None else o.target
        self.family, self.target = o.family, target
        max_length = o.max_length
        if max_length is None and o.source == "olga_cdr3":
            max_length = 30  # 99.5 % of OLGA's IGH CDR3s; longer ones are skipped and counted
        if max_length is None and o.source == "olga_vh":
            max_length = 140
        if max_length is None and target is not None:
            max_length = len(target)
        self.hist = SizeHistogram([int(c) for c in o.lengths]) if o.lengths is not None else None
        self.max_length = int(max_length) if max_length is not None else (self.hist.max_size if self.hist else None)
        self.length, self.template, self.redesign = o.length, o.template, o.redesign
        self.eval_reference, self.pgen_samples, self.write_pgen = int(o.eval_reference), int(o.pgen_samples), bool(o.write_pgen)
        self.numbering, self.antiberty = o.numbering, o.antiberty
        self.germline_cond, self.label = bool(o.germline_cond), o.label
        from .germline_labels import GermlineVocab

        self.vocab = GermlineVocab.from_config(o.germline) if o.germline is not None else None
        self._genes: dict[str, list[tuple[str, str]]] | None = None
        self._data: dict[str, list[str]] | None = None
        self._templates: list[tuple[str, str, list[int]]] | None = None
        self.notes: list[str] = []
        self.report = None

    # -- data ------------------------------------------------------------------------------

    def _generated(self) -> tuple[list[str | None], list[tuple[str, str]] | None]:
        """The generated sequences (None: does not fit the aligned layout) and, for OLGA, each one's (V, J) alleles."""
        from .cache import cached_json

        n = self.num_sequences
        if self.source in ("olga_cdr3", "olga_vh"):
            from .antibody import generate_heavy

            vh = self.source == "olga_vh"
            key = {"v": _DATA_VERSION, "model": self.olga_model, "n": n, "seed": self.seed, "vh": vh}
            recs = cached_json("olga_heavy", key, lambda: generate_heavy(n, self.seed, self.olga_model, vh=vh))
            genes = [(r["v"], r["j"]) for r in recs]
            if vh and self.aligned:  # fixed IMGT slots; None where the CDR3 does not fit (skipped and counted)
                from .germline import aligned_vh

                w = self._cdr3_slots()
                return [aligned_vh(r["vh"], w, r["v"], r["cdr3_span"], self.olga_model) for r in recs], genes
            return [r["vh" if vh else "cdr3"] for r in recs], genes
        import RNA

        from .rna import inverse_family, positive_design

        key = {"v": _DATA_VERSION, "target": self.target, "n": n, "seed": self.seed, "vienna": RNA.__version__}
        members = cached_json("rna_family", key, lambda: inverse_family(self.target, n, self.seed))
        if self.source == "rna_family":
            return members, None
        # the null of the family's training split (the split _load makes of the members), so that a
        # guide never saw the held-out members the metrics compare with
        train = [members[i] for i in self._split(len(members))["train"]]
        return positive_design(train, self.target, n, self.seed), None

    def _demo_fasta(self) -> str:
        """With no path, the fasta recipe runs on a FASTA of 5,000 OLGA CDR3s written to the cache folder."""
        from pfgm.modalities.shared.paths import cache_dir

        from .antibody import generate_heavy
        from .writers import write_fasta

        if self.alphabet.kind != "protein":
            raise ConfigError("source: file needs path: <FASTA / Stockholm / GenBank / CSV file> (the demo file is protein)")
        path = cache_dir() / f"demo_cdr3_v{_DATA_VERSION}.fasta"
        if not path.exists():
            recs = generate_heavy(5000, seed=7)
            write_fasta(path, [r["cdr3"] for r in recs], [{"v": r["v"], "j": r["j"]} for r in recs], prefix="olga")
        log.warning("modality.path is not set: training on the demo file %s (OLGA CDR3s)", path)
        return str(path)

    def _load(self) -> dict[str, list[str]]:
        if self._data is not None:
            return self._data
        from pfgm.modalities.shared.records import LoadReport

        if self.source == "file":
            from .parsers import read_sequences

            path = self.path or self._demo_fasta()
            items, self.report = read_sequences(
                path, self.alphabet, self.format, self.column, self.id_column, self.unknown, self.max_length
            )
            seqs = [i.seq for i in items]
        else:
            raw, raw_genes = self._generated()
            self.report = LoadReport(f"{self.source} (seed {self.seed})")
            seqs, genes = [], []
            raw_genes = raw_genes or [None] * len(raw)
            for s, g in zip(raw, raw_genes):
                self.report.seen()
                if s is None:
                    self.report.skip(
                        f"CDR3 longer than the aligned layout's {self._cdr3_slots()} CDR3 slots "
                        f"(max_length {self.max_length} − {self._fixed_slots()} framework slots)"
                    )
                    continue
                if self.max_length is not None and len(s) > self.max_length:
                    self.report.skip(f"longer than max_length {self.max_length}")
                    continue
                self.report.keep()
                seqs.append(s)
                genes.append(g)
        if self.report.skipped or self.report.fixed:
            self.notes.append(self.report.summary())
            log.warning(self.report.summary())
        split = self._split(len(seqs))
        if seqs and not len(split["train"]):  # the held-out split took every sequence
            raise DataError(
                f"{self.report.source}: {len(seqs)} usable sequence(s), and modality.test_fraction="
                f"{self.test_fraction} holds out {len(split['test'])} for the test split, leaving none to "
                "train on; give more sequences, or modality.test_fraction=0 (no held-out split)"
            )
        if len(seqs) < 2:
            raise DataError(f"{self.report.source}: need at least 2 sequences, kept {len(seqs)}")
        self._data = {name: [seqs[i] for i in idx] for name, idx in split.items()}
        if self.source != "file":
            self._genes = {name: [genes[i] for i in idx] for name, idx in split.items()}
        if self.germline_cond and self.vocab is None:
            from .germline_labels import GermlineVocab

            self.vocab = GermlineVocab.from_records(self._genes["train"])
        if self.max_length is None:
            self.max_length = max(len(s) for s in seqs)
        if self.hist is None:
            self.hist = SizeHistogram.from_sizes([len(s) for s in self._data["train"]], self.max_length)
        return self._data

    @staticmethod
    def _fixed_slots() -> int:
        from .germline import ALIGNED_FIXED

        return ALIGNED_FIXED

    def _cdr3_slots(self) -> int:
        """olga_vh with aligned: the CDR3 slots of the IMGT layout (germline.aligned_vh): max_length less 1–104 and FR4."""
        w = int(self.max_length) - self._fixed_slots()
        if w < 13:
            raise ConfigError(
                f"aligned olga_vh lays chains on IMGT slots: 115 framework slots and the CDR3 in the rest of "
                f"max_length; max_length {self.max_length} leaves {w} CDR3 slots, give at least 128"
            )
        return w

    def _split(self, n: int) -> dict[str, np.ndarray]:
        """Indices of the held-out ("test") and training items among n, seeded."""
        perm = np.random.default_rng(self.seed).permutation(n)
        k = max(1, int(round(self.test_fraction * n))) if self.test_fraction > 0 else 0
        return {"test": perm[:k], "train": perm[k:]}

    @property
    def codec(self) -> SequenceCodec:
        if self.max_length is None:
            self._load()
        return SequenceCodec(self.alphabet, self.max_length)

    def sequences(self, split: str = "train") -> list[str]:
        return list(self._load()[split])

    def config(self) -> dict[str, Any]:
        """Options with the alphabet, L_max and the length histogram pinned (sampling reads no data)."""
        self._load()
        cfg = {
            **super().config(),
            "alphabet": self.alphabet.kind,
            "symbols": self.alphabet.to_config()["symbols"],
            "aligned": self.aligned,
            "max_length": self.max_length,
            "lengths": self.hist.to_config(),
            "kind": self.kind,
            "target": self.target,
        }
        if self.germline_cond:
            cfg["germline"] = self.vocab.to_config()
        for k in ("template", "redesign", "length", "label"):
            cfg.pop(k, None)  # sample-time options are not part of the trained model
        return cfg

    def dataset(self, split: str = "train") -> torch.utils.data.Dataset:
        x, mask = self.codec.encode(self._load()[split])
        if self.germline_cond:
            return EncodedDataset(x, mask, self.vocab.encode(self._genes[split]))
        return EncodedDataset(x, mask)

    def backbone(self, **kw: Any) -> nn.Module:
        """``pair_features: true`` (RNA with a target structure) hands the net each position's partner;
        ``pair_features: extended`` also the pair that would extend a helix (see rna.helix_extensions);
        ``fold_features: true`` (RNA, with self-conditioning) what the net's estimate folds into (fold_features.py)."""
        from .backbone import build_backbone

        L = self.max_length if self.max_length else self.codec.max_length
        pair_features = kw.pop("pair_features", False)
        if pair_features not in (False, True, "extended"):
            raise ConfigError(f"backbone.pair_features must be false, true or extended, got {pair_features!r}")
        if pair_features:
            if self.target is None or len(self.target) != L:
                raise ConfigError(
                    "backbone.pair_features needs an RNA target structure as long as the sequences "
                    f"(modality.family or modality.target); have target={self.target!r}, length {L}"
                )
            from .rna import helix_extensions, partners

            kw["partners"] = [partners(self.target)] + ([helix_extensions(self.target)] if pair_features == "extended" else [])
        fold_features = kw.pop("fold_features", False)
        if not isinstance(fold_features, bool):
            raise ConfigError(f"backbone.fold_features must be true or false, got {fold_features!r}")
        if fold_features:
            if self.alphabet.kind != "rna" or self.aligned:
                raise ConfigError(
                    f"backbone.fold_features folds RNA with ViennaRNA: needs an unaligned rna alphabet, "
                    f"have {self.alphabet.kind}{' (aligned)' if self.aligned else ''}"
                )
            from .fold_features import FoldFeatures

            target = self.target if self.target is not None and len(self.target) == L else None
            kw["fold"] = FoldFeatures(self.alphabet.to_config()["symbols"], target)
        if self.germline_cond:
            kw["num_classes"] = self.vocab.sizes
        return build_backbone(self.alphabet.size, L, **kw)

    # -- sampling ------------------------------------------------------------------------

    def check_sample_options(self) -> None:
        if self.length is not None:
            L = self.max_length if self.max_length is not None else self.codec.max_length
            if isinstance(self.length, bool) or not isinstance(self.length, int) or not 1 <= self.length <= L:
                raise ConfigError(
                    f"modality.length must be an integer in [1, {L}] (the checkpoint's max_length), got {self.length!r}"
                )
        for name in ("eval_reference", "pgen_samples"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, int) or v < 1:
                raise ConfigError(f"modality.{name} must be a positive integer, got {v!r}")
        if (self.template is None) != (self.redesign is None):
            raise ConfigError("region redesign needs both modality.template=<file> and modality.redesign=<region or positions>")
        self._templates = None
        if self.label is not None:
            if not self.germline_cond:
                raise ConfigError("modality.label asks for V/J genes: it needs a model trained with modality.germline_cond=true")
            if str(self.label).lower() != "none":
                self.vocab.parse(self.label)
        if self.template is not None:
            self._template_list()

    def _template_list(self) -> list[tuple[str, str, list[int]]]:
        """[(id, sequence, free positions)] of the template file (read at sample time; user input, not training data)."""
        if self._templates is not None:
            return self._templates
        from .parsers import read_sequences

        items, _ = read_sequences(self.template, self.alphabet, policy="error")
        out = []
        for it in items:
            if len(it.seq) > self.max_length:
                raise DataError(f"template {it.id} has length {len(it.seq)} > the checkpoint's max_length {self.max_length}")
            spec = str(self.redesign).strip().lower()
            if spec == "cdr3":
                from .antibody import find_cdr3

                span = (1, len(it.seq) - 1) if self.kind == "cdr3" else find_cdr3(it.seq)
                if span is None:
                    raise DataError(
                        f"template {it.id}: no CDR3 found (a Y[YFH]C … WG.G motif); give positions instead, e.g. modality.redesign=99-110"
                    )
                free = list(range(*span))
            else:
                free = parse_positions(spec, len(it.seq))
            out.append((it.id, it.seq, free))
        if not out:
            raise DataError(f"template file {self.template} holds no sequences")
        self._templates = out
        return out

    def blank(self, num: int, generator: torch.Generator) -> Encoded:
        """Zeros of the sample shape with lengths drawn from the pinned histogram (or ``length``);
        with a template, the template's one-hot in x and ``fixed`` = 1 outside the redesigned region.
        Sample with seed s uses template s mod T (so seed 0.. covers the templates in order)."""
        codec = SequenceCodec(self.alphabet, self.max_length)
        if self.template is not None:
            temps = self._template_list()
            first = generator.initial_seed()
            pick = [temps[(first + k) % len(temps)] for k in range(num)]
            x, mask = codec.encode([p[1] for p in pick])
            fixed = mask.clone()
            for k, (_, _, free) in enumerate(pick):
                fixed[k, free] = 0
            return Encoded(x, mask, self._blank_labels(num, generator, templates=True), fixed)
        if self.length is not None:
            lengths = torch.full((num,), int(self.length), dtype=torch.long)
        else:
            lengths = self.hist.sample(num, generator)
        mask = codec.length_mask(lengths)
        return Encoded(torch.zeros_like(mask), mask, self._blank_labels(num, generator))

    def _blank_labels(self, num: int, generator: torch.Generator, templates: bool = False) -> Tensor | None:
        """(num, 2) V/J labels of a germline-conditioned model: the request, or pairs drawn by training frequency;
        −1 (none) for ``label=none`` and for templates (their genes are not known)."""
        if not self.germline_cond:
            return None
        null = self.label is not None and str(self.label).lower() == "none"
        labels = self.vocab.draw(num, generator, None if self.label is None or null else self.vocab.parse(self.label))
        if templates or null:
            labels.fill_(-1)
        return labels

    def decode(self, x: Tensor, mask: Tensor | None = None, cond: Tensor | None = None) -> list[Any]:
        return SequenceCodec(self.alphabet, self.max_length).decode(x, mask)

    @property
    def one_hot_classes(self) -> int:
        return self.alphabet.size

    def reward(self, x: Tensor, mask: Tensor | None = None) -> Tensor:
        """RNA with a target structure: −(E(target) − MFE) in kcal/mol of each estimate's argmax sequence
        (ViennaRNA), 0 when the target is its MFE structure. ``sampler.particles=k`` steers by it
        (pfgm_core.steering): the family tilted toward sequences with no stabler alternative fold."""
        if self.kind != "rna" or self.target is None:
            raise ConfigError(
                "sampler.particles steers by the folding energy gap: it needs RNA with a target structure "
                f"(modality.family or modality.target); have kind={self.kind!r}, target={self.target!r}"
            )
        from .rna import fold_with_target

        seqs = self.decode(x, mask)
        if any(len(s) != len(self.target) for s in seqs):
            raise ConfigError(
                f"steering by the folding gap needs sequences as long as the target ({len(self.target)} nt); "
                f"got lengths {sorted({len(s) for s in seqs})}"
            )
        _, mfe, e_target = fold_with_target(seqs, self.target)
        return torch.as_tensor(mfe - e_target, dtype=torch.float64)

    def snap(self, x: Tensor, mask: Tensor | None = None) -> Tensor:
        return SequenceCodec(self.alphabet, self.max_length).snap(x, mask)

    # -- scores, writing, evaluation ------------------------------------------------------

    def _cdr3_of(self, seqs: Sequence[str]) -> list[str]:
        """The CDR3 junction (C … W) each sequence's Pgen is computed on ('' when there is none)."""
        if self.kind == "cdr3":
            return list(seqs)
        from .antibody import find_cdr3

        out = []
        for s in seqs:
            span = find_cdr3(s)
            out.append("" if span is None else s[span[0] - 1 : span[1] + 1])
        return out

    def scores(self, seqs: Sequence[str]) -> tuple[list[dict[str, Any]], list[str] | None]:
        """Per-sequence scores for the FASTA descriptions, and RNA structures (None for proteins)."""
        seqs = [_ungap(s) for s in seqs]
        if self.alphabet.kind == "rna":
            from .rna import bp_distance, fold

            structs, mfe = fold(seqs)
            rows = [{"mfe": float(e)} for e in mfe]
            if self.target is not None:
                d = bp_distance(structs, self.target)
                for r, di, st in zip(rows, d, structs):
                    r["bp_distance"], r["folds_to_target"] = int(di), int(st == self.target)
            return rows, structs
        rows: list[dict[str, Any]] = [{} for _ in seqs]
        if self.alphabet.kind == "protein":
            from .metrics import protparam_descriptors

            desc = protparam_descriptors(seqs)
            for r, d in zip(rows, desc):
                r["pI"], r["gravy"] = float(d[0]), float(d[1])
        if self.kind in ("cdr3", "vh") and self.write_pgen:
            from .antibody import log10_pgen

            cdr3 = self._cdr3_of(seqs)
            lp = log10_pgen(cdr3, self.olga_model)
            for r, c, p in zip(rows, cdr3, lp):
                if self.kind == "vh":
                    r["cdr3"] = c or "none"
                r["log10_pgen"] = float(p)
        return rows, None

    def write(self, objects: Sequence[Any], out: Path) -> list[Path]:
        from .writers import write_fasta

        out = Path(out)
        if out.suffix.lower() not in (".fasta", ".fa", ".fas", ".faa", ".fna"):
            out = out / "samples.fasta"  # a folder
        good = [s for s in objects if s is not None]
        rows, structs = self.scores(good) if good else ([], None)
        it_rows, it_st = iter(rows), iter(structs or [])
        all_rows = [next(it_rows) if s is not None else {} for s in objects]
        all_st = [next(it_st) if s is not None else "" for s in objects] if structs is not None else None
        if self.template is not None:
            for r in all_rows:
                r["redesign"] = str(self.redesign).replace(" ", "")
        return [write_fasta(out, list(objects), all_rows, all_st)]

    def _requested(self, objects: Sequence[Any], samples: Encoded | None) -> list[tuple[str | None, str | None]] | None:
        """The (V, J) alleles each decodable sample was generated with (germline_cond), aligned with them."""
        if not self.germline_cond or samples is None or samples.cond is None:
            return None
        names = self.vocab.names(samples.cond.cpu())
        return [n for o, n in zip(objects, names) if o is not None]

    def evaluate(self, objects: Sequence[Any], samples: Encoded | None = None) -> Evaluation:
        """Metrics of generated sequences vs held-out ones; every metric also for the held-out set itself
        (``<name>_heldout``: the train split scored the same way against it, the ceiling)."""
        from . import scoring

        data = self._load()
        gen = [_ungap(s) for s in objects if s is not None]
        rng = np.random.default_rng(12345)
        n_ref = min(self.eval_reference, len(data["test"]), len(data["train"]))
        test = [_ungap(data["test"][i]) for i in rng.permutation(len(data["test"]))[:n_ref]]
        train_all = [_ungap(s) for s in data["train"]]
        train_ref = [train_all[i] for i in rng.permutation(len(train_all))[:n_ref]]
        notes = list(self.notes)
        if len(objects) != len(gen):
            notes.append(f"{len(objects) - len(gen)} of {len(objects)} samples could not be decoded")
        if self.alphabet.kind == "rna":
            m = scoring.rna_metrics(gen, test, train_all, train_ref, self.target)
        elif self.alphabet.kind == "protein":
            m, more = scoring.protein_metrics(
                gen,
                test,
                train_all,
                train_ref,
                self.alphabet.symbols.replace(GAP, ""),
                cdr3_of=self._cdr3_of if self.kind in ("cdr3", "vh") else None,
                olga_model=self.olga_model,
                pgen_samples=self.pgen_samples,
                cache_key={
                    "source": self.source,
                    "seed": self.seed,
                    "n": self.num_sequences,
                    "path": self.path,
                    "max_length": self.max_length,
                    "ref": n_ref,
                },
            )
            notes += more
            if self.kind == "vh":
                vh, more = scoring.vh_metrics(
                    gen,
                    test,
                    train_all,
                    self._cdr3_of,
                    self.numbering,
                    self.pgen_samples,
                    self.antiberty,
                    requested=self._requested(objects, samples),
                )
                m.update(vh)
                notes += more
        else:
            m = scoring.generic_metrics(gen, test, train_all, train_ref, self.alphabet.symbols.replace(GAP, ""))
        m["num_samples"] = float(len(objects))
        return Evaluation({k: float(v) for k, v in m.items()}, notes)
