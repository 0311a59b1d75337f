"""The molecule modality: molecule data sets → flat masked graph tensors → core → RDKit Mols.

Molecules are graphs of atom and bond classes (:class:`~modalities.molecules.mol_vocab.MolVocab`)
in the generic graph layout (:mod:`modalities.graphs.flat`), with the graphs' network and
node-count sampling; every sample's dimension is its own atom count. Sampling draws atom counts
from the training distribution (or uses ``num_nodes``), with the caller's generator only.
"""

from __future__ import annotations

import logging
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import torch
from torch import Tensor, nn

from pfgm.core.errors import ConfigError, DataError
from ..base import Encoded, EncodedDataset, Evaluation, Modality, SampleSink, register_modality
from ..graphs.backbone import build_backbone
from ..graphs.flat import GraphLayout, decode_classes
from ..graphs.modality import check_num_nodes, node_counts
from ..shared.sizes import SizeHistogram
from .mol_list import MolList
from .mol_repair import correct_mol, sanitize_or_none
from .mol_vocab import MolVocab, UnsupportedMolecule, vocab_from_mols
from .writers import MOL_FORMATS

log = logging.getLogger(__name__)


# --------------------------------------------------------------------------------------------
# Molecular properties for conditioning
# --------------------------------------------------------------------------------------------


def _prop_fns() -> dict[str, Any]:
    from rdkit.Chem import Crippen, Descriptors, QED, rdMolDescriptors

    from .metrics import sa_scores

    return {
        "qed": QED.qed,
        "logp": Crippen.MolLogP,
        "mw": Descriptors.MolWt,
        "tpsa": rdMolDescriptors.CalcTPSA,
        "sa": lambda m: sa_scores([m])[0],
        "num_rings": rdMolDescriptors.CalcNumRings,
    }


PROPERTY_NAMES = ("qed", "logp", "mw", "tpsa", "sa", "num_rings")


def molecule_properties(mols: Sequence, names: Sequence[str]) -> np.ndarray:
    """(M, k) raw property values (names from PROPERTY_NAMES)."""
    fns = _prop_fns()
    bad = [n for n in names if n not in fns]
    if bad:
        raise ConfigError(f"unknown molecule properties {bad}; available: {list(PROPERTY_NAMES)}")
    return np.array([[float(fns[n](m)) for n in names] for m in mols], dtype=np.float64).reshape(len(mols), len(names))


@dataclass(frozen=True)
class MoleculeOptions:
    """The options of the ``molecules`` modality (the recipe's ``modality:`` block), and their rules (:meth:`check`)."""

    source: str = "nci"
    """nci | smiles | csv | sdf | moses | qm9 | zinc250k."""
    path: str | None = None
    """The file of a smiles / csv / sdf source (zinc250k: its CSV)."""
    column: str | int | None = None
    """csv: the column holding the SMILES (a name or an index)."""
    max_atoms: int | None = 20
    """Heavy-atom limit: larger molecules are filtered with a count. Also n_max of the layout (unset: the largest)."""
    kekulize: bool = True
    """Bonds none/single/double/triple (True) or + aromatic (False)."""
    charges: bool = True
    """Formal-charge variants are separate atom types."""
    unknown_atoms: str = "error"
    """error | other | skip: an atom type outside ``atom_types`` raises (naming SMILES and element), becomes the
    '*' type, or drops the molecule (counted)."""
    test_fraction: float = 0.1
    """The random held-out split (MOSES, QM9 and ZINC use their benchmark test splits: QM9's and
    ZINC250k-from-CSV's are GDSS's, shipped in modalities/molecules/splits/)."""
    seed: int = 0
    """Seeds the random split."""
    cond_properties: Sequence[str] = ()
    """Properties to condition on, e.g. [qed, logp] (PROPERTY_NAMES); standardised with the training mean/std
    into cond (B, k)."""
    atom_types: Sequence[str] | None = None
    """An explicit list like [C, N, O, F, N+, O-]; unset: every type in the data set. Pinned by ``config()``."""
    cond_target: dict[str, float] | None = None
    """Sample-time: {name: raw value} for conditional sampling (properties not named are NaN = null)."""
    num_nodes: int | None = None
    """Sample-time: sample this many atoms instead of drawing counts from the training set."""
    limit: int | None = None
    """Read at most this many molecules."""
    root: str | None = None
    """The download folder for QM9 / ZINC."""
    largest_fragment: bool = True
    """The corrected decoding keeps the largest fragment (GDSS)."""
    fcd: bool = True
    """Compute FCD in evaluate (loads ChemNet, ~2 s)."""
    nspdk: bool = True
    """Compute NSPDK MMD in evaluate (modalities/graphs/nspdk.py, EDeN's features)."""
    gdss_metrics: bool = False
    """evaluate also reports GDSS's table columns on the valency-corrected largest-fragment molecules
    (uniqueness/novelty/fcd/nspdk ``_corrected``); the qm9 and zinc250k recipes turn it on. Never changes sampling."""
    size_histogram: Sequence[int] | None = None
    """The heavy-atom count histogram, pinned by ``config()`` so that a checkpoint samples without the data set."""
    cond_stats: dict[str, list[float]] | None = None
    """The property scaling ({mean: [...], std: [...]}), pinned by ``config()`` like ``size_histogram``."""
    fragments: str | None = None
    """largest | skip | keep: a salt or mixture record ("CC(=O)[O-].[Na+]") becomes its largest fragment, is
    skipped, or is kept as a disconnected graph; counted in the load report. Unset: largest for smiles/csv/sdf
    files, keep for the published sets (nci, moses, qm9, zinc250k)."""

    def check(self) -> None:
        """Raise a ConfigError naming the first option whose value is refused (the sample-time values that need
        the trained model, num_nodes and cond_target, by ``MoleculeModality.check_sample_options``)."""
        from .molecule_sources import check_fragments

        if self.unknown_atoms not in ("error", "other", "skip"):
            raise ConfigError(f"unknown_atoms must be error, other or skip; got {self.unknown_atoms!r}")
        if self.fragments is not None:
            check_fragments(self.fragments, "modality.fragments")


@register_modality("molecules")
class MoleculeModality(Modality):
    """Molecular graphs (heavy atoms; implicit hydrogens) from SMILES/SDF files, NCI, MOSES, QM9 or ZINC250k.

    Options: :class:`MoleculeOptions`. The atom types, size histogram and property scaling are pinned by
    :meth:`config`, so that a checkpoint samples, decodes and writes without reading the data set.
    """

    Options = MoleculeOptions
    SAMPLE_OPTIONS = ("num_nodes", "cond_target")
    OUT_FORMATS = ("",) + MOL_FORMATS  # a folder, or one .smi / .sdf / .png file

    def __init__(self, **options: Any):
        o: MoleculeOptions = self.parse_options(options)
        self.options = o
        self.fragments = o.fragments
        self.source, self.path, self.column = o.source, o.path, o.column
        self.max_atoms, self.kekulize, self.charges = o.max_atoms, o.kekulize, o.charges
        self.unknown_atoms, self.test_fraction, self.seed = o.unknown_atoms, o.test_fraction, o.seed
        self.cond_properties = tuple(o.cond_properties or ())
        self.atom_types = list(o.atom_types) if o.atom_types else None
        self.cond_target = dict(o.cond_target or {})
        self.num_nodes, self.limit, self.root = o.num_nodes, o.limit, o.root
        self.largest_fragment, self.use_fcd, self.use_nspdk = o.largest_fragment, o.fcd, o.nspdk
        self.gdss_metrics = o.gdss_metrics
        self._datasets: dict[str, EncodedDataset] = {}
        self._loaded = False
        self.last_write_summary: dict[str, Any] | None = None
        # What sampling needs, pinned by a checkpoint's config; otherwise derived from the data on first use.
        self._vocab = self._make_vocab(self.atom_types) if self.atom_types else None
        self._sizes = SizeHistogram(o.size_histogram) if o.size_histogram else None
        self._cond_stats = None if o.cond_stats is None else (np.asarray(o.cond_stats["mean"]), np.asarray(o.cond_stats["std"]))

    def _make_vocab(self, atom_types: Sequence[str]) -> MolVocab:
        mode = "error" if self.unknown_atoms == "skip" else self.unknown_atoms
        return MolVocab(list(atom_types), self.kekulize, self.charges, mode)

    def _pinned(self) -> bool:
        return self._vocab is not None and self._sizes is not None and (not self.cond_properties or self._cond_stats is not None)

    # -- data ------------------------------------------------------------------------------

    def _load(self) -> None:
        if self._loaded:
            return
        from .molecule_sources import load_molecules

        official_test = self.source.lower() in ("moses", "qm9", "zinc", "zinc250k")  # the benchmarks' own test splits
        kw = dict(
            source=self.source,
            path=self.path,
            column=self.column,
            max_atoms=self.max_atoms,
            limit=self.limit,
            root=self.root,
            fragments=self.fragments,
        )
        main = load_molecules(split="train", **kw)
        self.reports = [main.report]
        if official_test:
            test = load_molecules(split="test", **kw)
            self.reports.append(test.report)
            train_m, train_s, test_m, test_s = main.mols, main.smiles, test.mols, test.smiles
        else:
            perm = np.random.default_rng(self.seed).permutation(len(main))
            k = max(1, int(round(self.test_fraction * len(main)))) if self.test_fraction > 0 else 0
            if k >= len(main):  # the held-out split took every molecule: say so, not "none left after filtering"
                raise DataError(
                    f"{main.report.source}: {len(main)} usable molecule(s), and modality.test_fraction="
                    f"{self.test_fraction} holds out {k} for the test split, leaving none to train on; give "
                    "more molecules, or modality.test_fraction=0 (no held-out split)"
                )
            te, tr = perm[:k], perm[k:]
            train_m, train_s = main.mols.take(tr), [main.smiles[i] for i in tr]
            test_m, test_s = main.mols.take(te), [main.smiles[i] for i in te]

        if self._vocab is None:
            # every type present (train and test), so the whole data set is encodable
            self._vocab = vocab_from_mols(
                train_m + test_m, self.kekulize, self.charges, "other" if self.unknown_atoms == "other" else "error"
            )
        n_max = self.max_atoms or max(m.GetNumAtoms() for m in train_m + test_m)

        self.train_mols, self.train_smiles, self.skipped = self._encodable(train_m, train_s)
        self.test_mols, self.test_smiles, skipped_test = self._encodable(test_m, test_s)
        self.skipped += skipped_test
        if not self.train_mols:
            raise DataError(f"no training molecules left from {self.source} after filtering")
        if self._sizes is None:
            self._sizes = SizeHistogram.from_sizes([m.GetNumAtoms() for m in self.train_mols], n_max)
        if self.cond_properties and self._cond_stats is None:
            raw = molecule_properties(self.train_mols, self.cond_properties)
            self._cond_stats = (raw.mean(0), raw.std(0) + 1e-8)
        self._loaded = True
        log.info(
            "molecules: %d train / %d test, %d atom types %s, n_max=%d",
            len(self.train_mols),
            len(self.test_mols),
            self._vocab.node_dim,
            self._vocab.atom_types,
            n_max,
        )

    def _encodable(self, mols: list, smiles: list[str]) -> tuple[list, list[str], int]:
        if self.unknown_atoms != "skip":
            return mols, smiles, 0
        keep_m, keep_s, skipped = MolList(), [], 0
        for m, s in zip(mols, smiles):
            try:
                self._vocab.mol_to_graph(m, s)
            except UnsupportedMolecule:
                skipped += 1
                continue
            keep_m.append(m)
            keep_s.append(s)
        if skipped:
            warnings.warn(f"{self.source}: skipped {skipped} molecules with atom types outside {self._vocab.atom_types}")
        return keep_m, keep_s, skipped

    def _need(self) -> None:
        """Read the data only when the checkpoint did not pin what sampling needs (older checkpoints)."""
        if not self._pinned():
            self._load()

    @property
    def vocab(self) -> MolVocab:
        self._need()
        return self._vocab  # type: ignore[return-value]

    @property
    def sizes(self) -> SizeHistogram:
        """The heavy-atom count histogram of the training molecules (index = count)."""
        self._need()
        return self._sizes  # type: ignore[return-value]

    @property
    def graph_layout(self) -> GraphLayout:
        """The flat layout (n_max, F, C) of this modality's tensors."""
        return self.vocab.layout(self.sizes.max_size)

    def config(self) -> dict[str, Any]:
        """Constructor options with the vocabulary, size histogram and property scaling pinned, so a
        checkpoint samples without the data set and never re-derives its network shape from data."""
        out = {**super().config(), "atom_types": list(self.vocab.atom_types), "size_histogram": self.sizes.to_config()}
        if self.cond_properties:
            self._need()
            mean, std = self._cond_stats  # type: ignore[misc]
            out["cond_stats"] = {"mean": [float(v) for v in mean], "std": [float(v) for v in std]}
        return out

    def _cond(self, mols: Sequence) -> Tensor | None:
        if not self.cond_properties:
            return None
        self._need()
        mean, std = self._cond_stats  # type: ignore[misc]
        return torch.tensor((molecule_properties(mols, self.cond_properties) - mean) / std, dtype=torch.float32)

    def encode(self, mols: Sequence, smiles: Sequence[str] | None = None) -> Encoded:
        """RDKit Mols -> Encoded(x, mask, cond) in this modality's layout."""
        x, mask = self.vocab.encode(mols, self.graph_layout.n_max, smiles)
        return Encoded(x, mask, self._cond(mols))

    def dataset(self, split: str = "train") -> EncodedDataset:
        self._load()
        if split not in ("train", "test"):
            raise ValueError(f"split must be 'train' or 'test', got {split!r}")
        if split not in self._datasets:  # encode once; recipes may ask again (e.g. for the test split)
            mols, smi = (self.train_mols, self.train_smiles) if split == "train" else (self.test_mols, self.test_smiles)
            enc = self.encode(mols, smi)
            self._datasets[split] = EncodedDataset(enc.x, enc.mask, enc.cond)
        return self._datasets[split]

    # -- model and sampling ----------------------------------------------------------------

    def backbone(self, **kwargs: Any) -> nn.Module:
        kwargs = dict(kwargs)
        kwargs.setdefault("cond_dim", len(self.cond_properties))
        L = self.graph_layout
        return build_backbone(L.n_max, L.node_dim, L.edge_dim, **kwargs)

    def check_sample_options(self) -> None:
        check_num_nodes(self.num_nodes, self.graph_layout.n_max)
        if not isinstance(self.cond_target, dict):
            raise ConfigError(f"modality.cond_target must be a mapping {{property: value}}, got {self.cond_target!r}")
        unknown = sorted(set(self.cond_target) - set(self.cond_properties))
        if unknown:
            raise ConfigError(
                f"modality.cond_target names {unknown}, but the model is conditioned on "
                f"{list(self.cond_properties) or 'no properties'}"
            )

    def blank(self, num: int, generator: torch.Generator) -> Encoded:
        self.check_sample_options()
        n = node_counts(self.num_nodes, self.sizes, num, generator)
        L = self.graph_layout
        mask = L.mask(n)
        cond = None
        if self.cond_properties:
            mean, std = self._cond_stats  # type: ignore[misc]
            row = [
                (self.cond_target[p] - mean[i]) / std[i] if p in self.cond_target else float("nan")
                for i, p in enumerate(self.cond_properties)
            ]
            cond = torch.tensor(row, dtype=torch.float32).expand(num, -1).clone()
        return Encoded(torch.zeros(num, L.dim), mask, cond)

    def _raw(self, x: Tensor, mask: Tensor | None) -> list:
        if mask is None:
            mask = torch.ones_like(x)
        return [self.vocab.graph_to_rwmol(a, b) for a, b in decode_classes(self.graph_layout, x, mask)]

    def decode(self, x: Tensor, mask: Tensor | None = None, cond: Tensor | None = None) -> list[Any]:
        """x, mask (B, dim) -> sanitized RDKit Mols, None where RDKit rejects the graph (no correction)."""
        return [sanitize_or_none(rw) for rw in self._raw(x, mask)]

    def snap(self, x: Tensor, mask: Tensor | None = None) -> Tensor:
        return self.graph_layout.snap(x, mask)

    def connect(self, x: Tensor, mask: Tensor) -> Tensor:
        """One bridge between the pieces of each estimate that falls apart (``sampler.connect_sigma_max``),
        only between atoms whose argmax bonds leave room for one more single bond."""
        orders, valences = self.vocab.bond_orders.to(x.device), self.vocab.max_valences.to(x.device)

        def free(nodes: Tensor, edges: Tensor) -> Tensor:
            return orders[edges.argmax(-1)].sum(-1) + 1 <= valences[nodes.argmax(-1)]

        return self.graph_layout.bridge(x, mask, free)

    def decode_corrected(self, x: Tensor, mask: Tensor | None = None) -> list[Any]:
        """Like :meth:`decode`, with GDSS-style valency correction (and largest fragment)."""
        return [correct_mol(rw, self.largest_fragment)[0] for rw in self._raw(x, mask)]

    # -- output ----------------------------------------------------------------------------

    def write(self, objects: Sequence[Any], out: Path) -> list[Path]:
        sink = self.open_sink(out)
        sink.add(objects)
        return sink.close()

    def open_sink(self, out: Path) -> SampleSink:
        """Streams .smi / .sdf batch by batch (bounded memory for any number of samples)."""
        from .writers import MoleculeSink

        return MoleculeSink(Path(out), on_close=self._written)

    def _written(self, summary: dict[str, Any], paths: list[Path]) -> None:
        self.last_write_summary = summary
        if summary["num_invalid"]:
            log.warning(
                "%d of %d molecules are invalid and were not written (see %s)",
                summary["num_invalid"],
                summary["num_samples"],
                paths[-1],
            )

    def evaluate(self, objects: Sequence[Any], samples: Encoded | None = None) -> Evaluation:
        """Metrics vs the test split (novelty vs the training split); see :mod:`.metrics`.

        With ``samples`` (the generated tensors), validity after GDSS's valency correction too.
        """
        from .metrics import molecule_metrics

        self._load()
        corrected = None if samples is None else self.decode_corrected(samples.x, samples.mask)
        res = molecule_metrics(
            objects,
            self.train_smiles,
            self.test_mols,
            self.test_smiles,
            corrected=corrected,
            with_fcd=self.use_fcd,
            with_nspdk=self.use_nspdk,
            ref_fragments=True,
            gdss=self.gdss_metrics,
        )
        notes = [v for k, v in res.items() if k.endswith("_note")]
        return Evaluation({k: float(v) for k, v in res.items() if not k.endswith("_note")}, notes)
