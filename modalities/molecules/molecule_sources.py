"""Molecule data sets: SMILES/CSV/SDF files, RDKit's NCI set, MOSES, QM9, ZINC250k.

Loaders return a :class:`MoleculeSet` (RDKit Mols, their SMILES, and the shared
:class:`~modalities.shared.records.LoadReport` that counts everything skipped: unparsable records
with their line numbers, molecules above ``max_atoms``, molecules the graph encoding cannot carry).
Nothing is dropped silently: every skip is counted, and a warning names the file and the first
offending lines.
"""

from __future__ import annotations

import csv
import functools
import gzip
import importlib.util
import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Iterator, Sequence

import numpy as np

from pfgm.core.errors import ConfigError, DataError
from ..shared.paths import data_root
from ..shared.records import LoadReport, RecordError, numbered_lines
from .mol_list import MolList

log = logging.getLogger(__name__)


@dataclass
class MoleculeSet:
    """Parsed molecules (compact: see :mod:`.mol_list`) with their canonical SMILES (no stereo) and the load report."""

    mols: MolList
    smiles: list[str]
    report: LoadReport

    def __len__(self) -> int:
        return len(self.mols)


# --------------------------------------------------------------------------------------------
# Reading records
# --------------------------------------------------------------------------------------------

#: skip reasons in a molecule LoadReport
UNPARSABLE, TOO_LARGE, NOT_ENCODABLE = "unparsable", "above max_atoms", "not encodable"

#: what a record of several disconnected pieces (a salt "CC(=O)[O-].[Na+]", a solvate, a mixture) becomes:
#: its largest fragment (RDKit's LargestFragmentChooser: most atoms), nothing (skipped), or the whole
#: disconnected graph. Each is counted in the load report under the name below.
FRAGMENT_POLICIES = ("largest", "skip", "keep")
LARGEST_FRAGMENT = "multi-fragment records reduced to their largest fragment (fragments=largest)"
MULTI_FRAGMENT_SKIPPED = "multi-fragment records skipped (fragments=skip)"
MULTI_FRAGMENT_KEPT = "multi-fragment records kept whole (fragments=keep)"


def default_fragments(source: str) -> str:
    """The policy when none is given: "largest" for the user's files (smiles/csv/sdf: a salt's counter-ion
    is not part of the molecule a model should learn), "keep" for the published benchmark sets (nci,
    moses, qm9, zinc250k), read as published so their numbers stay comparable: 43 of RDKit's NCI
    sample at max_atoms=20 are multi-fragment (docs/molecule_benchmarks.md and zoo:molecules were
    measured with them), QM9, ZINC250k and MOSES hold none. The load report counts them either way."""
    return "keep" if source.lower() in ("nci", "moses", "qm9", "zinc", "zinc250k") else "largest"


def check_fragments(fragments: str, key: str = "fragments") -> str:
    if fragments not in FRAGMENT_POLICIES:
        raise ConfigError(f"{key} must be one of {', '.join(FRAGMENT_POLICIES)}, got {fragments!r}")
    return fragments


def largest_fragment(mol):
    """The fragment of ``mol`` with the most atoms (ties: RDKit's LargestFragmentChooser's order)."""
    from rdkit.Chem.MolStandardize import rdMolStandardize

    return rdMolStandardize.LargestFragmentChooser(preferOrganic=False).choose(mol)


_HEADER_WORDS = {"smiles", "smile", "canonical_smiles", "smiles1", "mol", "molecule", "structure"}
#: header names of the SMILES column, in the order one is chosen when a header has several
_SMILES_NAMES = ("smiles", "canonical_smiles", "smiles1", "smile")


def _is_header(first: list[str], column: int | None) -> bool:
    """Whether a first row is a header: its SMILES field (``column``, else the one named like 'smiles',
    else the first) does not parse as SMILES, and the row reads as names (a known column name, or
    words). A record whose name field happens to say "molecule 1" parses, so it is kept as a record;
    a lone broken SMILES is counted as unparsable, not dropped as a header."""
    from rdkit import Chem

    from .mol_repair import rdkit_quiet

    lowered = [c.lower() for c in first]
    idx = column if column is not None else next((lowered.index(w) for w in _SMILES_NAMES if w in lowered), 0)
    if idx >= len(first):
        return True
    with rdkit_quiet():
        if Chem.MolFromSmiles(first[idx]) is not None:
            return False
    return any(c in _HEADER_WORDS for c in lowered) or first[idx].replace("_", "").replace(" ", "").isalpha()


def read_smiles_records(
    path: str | os.PathLike, column: str | int | None = None, header: bool | str = "auto", delimiter: str | None = None
) -> tuple[list[tuple[int, str]], bool]:
    """Read SMILES strings from a .smi/.txt (whitespace-separated) or .csv/.tsv file (optionally .gz).

    column: a column name (needs a header) or 0-based index; default: the column named like
      'smiles' if the header has one, else the first.
    header: True / False / "auto" (a first row whose SMILES field does not parse and that reads as
      column names, see :func:`_is_header`).
    Returns ([(line_number, smiles)], header_was_present). Blank lines and '#' comments are skipped.
    Raises ValueError naming the file if it has no records at all.
    """
    p = Path(path)
    suffixes = [s.lower() for s in p.suffixes if s.lower() != ".gz"]
    kind = suffixes[-1] if suffixes else ".smi"
    rows: list[tuple[int, list[str]]] = []
    csv_delim = (delimiter or ("\t" if kind == ".tsv" else ",")) if kind in (".csv", ".tsv") else None
    for i, line in numbered_lines(p, "SMILES file"):
        s = line.strip()
        if not s or s.startswith("#"):
            continue
        if csv_delim is not None:
            try:
                row = next(csv.reader([line], delimiter=csv_delim), [])
            except csv.Error as e:  # e.g. a field longer than the csv module's limit
                raise RecordError(p, i, f"not a readable CSV row ({e})") from None
            if row and any(c.strip() for c in row):
                rows.append((i, [c.strip() for c in row]))
        else:
            rows.append((i, s.split(delimiter) if delimiter else s.split()))
    if not rows:
        raise DataError(f"{p}: file is empty (no SMILES records)")

    first = rows[0][1]
    has_header: bool
    if header == "auto":
        # a column given by name needs a header row
        has_header = isinstance(column, str) or _is_header(first, column if isinstance(column, int) else None)
    else:
        has_header = bool(header)

    if isinstance(column, str):
        if not has_header:
            raise DataError(f"{p}: column {column!r} given by name but the file has no header row")
        names = [c.lower() for c in first]
        if column.lower() not in names:
            raise DataError(f"{p}: no column named {column!r}; columns are {first}")
        col = names.index(column.lower())
    elif isinstance(column, int):
        col = column
    else:
        names = [c.lower() for c in first] if has_header else []
        col = next((names.index(w) for w in _SMILES_NAMES if w in names), 0)

    body = rows[1:] if has_header else rows
    out = [(i, r[col] if col < len(r) else "") for i, r in body]
    if not out:
        raise DataError(f"{p}: file has a header but no SMILES records")
    return out, has_header


def parse_smiles_records(records: Iterable[tuple[int, str]], report: LoadReport) -> Iterator[tuple[object, str]]:
    """(line, SMILES) -> (Mol, SMILES) for those RDKit parses; failures go into ``report``."""
    from rdkit import Chem

    from .mol_repair import rdkit_quiet

    for line_no, smi in records:
        report.seen()
        # the report counts failures; RDKit's own messages would flood the log
        with rdkit_quiet():
            mol = Chem.MolFromSmiles(smi) if smi else None
        if mol is None:
            report.skip(UNPARSABLE, line=line_no)
            continue
        yield mol, smi


def filter_molecules(
    pairs: Iterable[tuple[object, str]],
    report: LoadReport,
    max_atoms: int | None,
    limit: int | None = None,
    fragments: str = "keep",
) -> MoleculeSet:
    """Keep molecules with ≤ max_atoms heavy atoms that the graph encoding can carry; count the rest.
    A multi-fragment record is first reduced, skipped or kept whole by ``fragments`` (see FRAGMENT_POLICIES)."""
    from rdkit import Chem

    from .mol_repair import canonical_smiles, rdkit_quiet

    check_fragments(fragments)
    mols, smiles = MolList(), []
    for mol, smi in pairs:
        repair = None  # counted once the record is kept (a reduced salt may still be above max_atoms)
        if len(Chem.GetMolFrags(mol)) > 1:
            if fragments == "skip":
                report.skip(MULTI_FRAGMENT_SKIPPED, record=smi)
                continue
            if fragments == "largest":
                with rdkit_quiet():
                    mol = largest_fragment(mol)
            repair = LARGEST_FRAGMENT if fragments == "largest" else MULTI_FRAGMENT_KEPT
        if max_atoms is not None and mol.GetNumHeavyAtoms() > max_atoms:
            report.skip(TOO_LARGE)
            continue
        why = encodability_problem(mol)
        if why:
            report.skip(NOT_ENCODABLE, record=f"{smi}: {why}")
            continue
        if repair is not None:
            report.fix(repair, record=smi)
        mols.append(mol)
        smiles.append(canonical_smiles(mol))
        if limit is not None and len(mols) >= limit:
            break
    report.kept = len(mols)
    if report.kept == 0:
        raise DataError(f"{report.source}: no usable molecules ({report.summary()})")
    report.warn()
    return MoleculeSet(mols, smiles, report)


def encodability_problem(mol) -> str | None:
    """Why the graph encoding cannot carry ``mol`` (radicals, non-covalent bond types), or None."""
    for a in mol.GetAtoms():
        if a.GetNumRadicalElectrons():
            return f"radical on {a.GetSymbol()}"
    for b in mol.GetBonds():
        if str(b.GetBondType()) not in ("SINGLE", "DOUBLE", "TRIPLE", "AROMATIC"):
            return f"{b.GetBondType()} bond"
    return None


# --------------------------------------------------------------------------------------------
# Molecule sources
# --------------------------------------------------------------------------------------------


def nci_path() -> Path:
    """RDKit's bundled NCI sample: ``RDDataDir/NCI/first_5K.smi`` (tab-separated 'SMILES id', no header)."""
    from rdkit import RDConfig

    p = Path(RDConfig.RDDataDir) / "NCI" / "first_5K.smi"
    if not p.exists():
        raise FileNotFoundError(f"RDKit's NCI sample is missing at {p}; this RDKit build does not ship its Data folder")
    return p


def load_smiles_file(
    path: str | os.PathLike,
    column: str | int | None = None,
    header: bool | str = "auto",
    max_atoms: int | None = 20,
    limit: int | None = None,
    fragments: str = "largest",
) -> MoleculeSet:
    """SMILES from a .smi/.txt/.csv/.tsv file (see :func:`read_smiles_records`), filtered to ≤ max_atoms;
    salts and mixtures by ``fragments`` (their largest fragment by default, counted in the report)."""
    check_fragments(fragments)
    records, has_header = read_smiles_records(path, column=column, header=header)
    report = LoadReport(source=str(path), header=has_header)
    return filter_molecules(parse_smiles_records(records, report), report, max_atoms, limit, fragments)


def load_sdf(
    path: str | os.PathLike, max_atoms: int | None = 20, limit: int | None = None, fragments: str = "largest"
) -> MoleculeSet:
    """Molecules from an SDF file (optionally .gz); record numbers of unreadable entries are reported."""
    from rdkit import Chem

    from .mol_repair import rdkit_quiet

    p = Path(path)
    if not p.exists():
        raise FileNotFoundError(f"SDF file not found: {p}")
    if p.stat().st_size == 0:
        raise DataError(f"{p}: file is empty (no SDF records)")
    report = LoadReport(source=str(p))

    def pairs():
        fh = gzip.open(p, "rb") if p.suffix == ".gz" else open(p, "rb")
        with fh:
            supplier = Chem.ForwardSDMolSupplier(fh)
            i = 0
            while True:
                with rdkit_quiet():
                    try:
                        mol = next(supplier)
                    except StopIteration:
                        break
                i += 1
                report.seen()
                if mol is None:
                    report.skip(UNPARSABLE, line=i)
                    continue
                yield mol, Chem.MolToSmiles(mol)

    ms = filter_molecules(pairs(), report, max_atoms, limit, check_fragments(fragments))
    return ms


def load_nci(max_atoms: int | None = 20, limit: int | None = None, fragments: str = "keep") -> MoleculeSet:
    """RDKit's NCI first-5K sample (≈3,900 molecules at max_atoms=20). Offline. Its multi-fragment
    records are kept whole by default (see :func:`default_fragments`)."""
    return load_smiles_file(nci_path(), column=0, header=False, max_atoms=max_atoms, limit=limit, fragments=fragments)


def moses_data_dir() -> Path:
    """The folder of the `molsets` wheel's SMILES files, found without importing `moses`."""
    spec = importlib.util.find_spec("moses")
    if spec is None or not spec.submodule_search_locations:
        raise ImportError(
            "MOSES data needs the 'molsets' package: pip install molsets --no-deps "
            "(its own pinned dependencies are old; the SMILES files are all pfgm reads)"
        )
    d = Path(list(spec.submodule_search_locations)[0]) / "dataset" / "data"
    if not d.exists():
        raise FileNotFoundError(f"the installed 'moses' package has no data folder at {d}; reinstall molsets")
    return d


def load_moses(
    split: str = "train", max_atoms: int | None = None, limit: int | None = None, fragments: str = "keep"
) -> MoleculeSet:
    """MOSES ({train, test, test_scaffolds}) from the molsets wheel (1.58M train SMILES; CSV column 'SMILES')."""
    d = moses_data_dir()
    p = d / f"{split}.csv.gz"
    if not p.exists():
        raise FileNotFoundError(f"MOSES split {split!r} not found at {p}; available: {sorted(x.name for x in d.iterdir())}")
    return load_smiles_file(p, column="SMILES", header=True, max_atoms=max_atoms, limit=limit, fragments=fragments)


# --------------------------------------------------------------------------------------------
# Benchmark splits (package data: modalities/molecules/splits/, see its NOTICE.md)
# --------------------------------------------------------------------------------------------

#: rows of the full QM9 file (GDB indices 1..133,885) that the benchmark split indexes
QM9_ROWS = 133_885


def split_file(name: str) -> Path:
    """The shipped test-split file ``splits/<name>_test_idx.json`` (name: qm9 or zinc250k)."""
    p = Path(__file__).parent / "splits" / f"{name}_test_idx.json"
    if not p.exists():
        raise FileNotFoundError(f"test split {name!r} is missing from the package at {p}; reinstall pfgm")
    return p


def qm9_test_gdb_indices(path: str | os.PathLike | None = None) -> set[int]:
    """GDB indices of the QM9 test split, read as GDSS reads MoFlow's file.

    GDSS uses each entry ``int(idx)`` as a 0-based row of the 133,885-row QM9 file, whose rows are
    in GDB order, so the test molecule is GDB index ``int(idx) + 1`` (MoFlow itself reads
    ``int(idx)``; the published tables we compare with follow GDSS).
    """
    import json

    with open(path or split_file("qm9")) as f:
        idx = json.load(f)["valid_idxs"]
    return {int(i) + 1 for i in idx}


def zinc250k_test_rows(path: str | os.PathLike | None = None) -> set[int]:
    """0-based data rows of 250k_rndm_zinc_drugs_clean_3.csv in the ZINC250k test split (GDSS's reading)."""
    import json

    with open(path or split_file("zinc250k")) as f:
        return {int(i) for i in json.load(f)}


def _check_split(split: str) -> None:
    if split not in ("train", "test", "all"):
        raise ConfigError(f"split must be train, test or all; got {split!r}")


# --------------------------------------------------------------------------------------------
# QM9
# --------------------------------------------------------------------------------------------


def qm9pack_data_dir() -> Path | None:
    """The data folder of the ``qm9pack`` wheel, found without importing it (its ``__init__`` imports
    pkg_resources, which current setuptools no longer ships); None when it is not installed."""
    spec = importlib.util.find_spec("qm9pack")
    if spec is None or not spec.submodule_search_locations:
        return None
    d = Path(list(spec.submodule_search_locations)[0]) / "data"
    return d if d.exists() else None


def read_qm9pack(data_dir: str | os.PathLike) -> list[tuple[int, str]]:
    """(GDB index, SMILES) for every molecule in qm9pack's ``qm9_part{1,2,3}.csv``, in GDB order.

    Matched by the ``Index`` column: the 3,054 molecules the QM9 authors flagged as uncharacterised
    are absent, so a row's position is not its GDB index. Read once per process (the train and
    test splits both come from it; the files hold 225 MB of coordinates around the SMILES).
    """
    return list(_read_qm9pack(str(Path(data_dir).resolve())))


@functools.lru_cache(maxsize=2)
def _read_qm9pack(data_dir: str) -> tuple[tuple[int, str], ...]:
    d = Path(data_dir)
    parts = sorted(d.glob("qm9_part*.csv"))
    if not parts:
        raise FileNotFoundError(f"no qm9_part*.csv in {d}; reinstall qm9pack")
    csv.field_size_limit(1 << 26)  # the XYZ/frequency columns are long
    out: list[tuple[int, str]] = []
    for p in parts:
        with open(p, newline="", encoding="utf-8") as f:
            reader = csv.reader(f)
            header = next(reader)
            try:
                ci, cs = header.index("Index"), header.index("SMILES")
            except ValueError:
                raise DataError(f"{p}: expected columns 'Index' and 'SMILES', found {header[:6]}") from None
            for row in reader:
                if len(row) > max(ci, cs):  # blank separator lines have no fields
                    out.append((int(row[ci]), row[cs]))
    out.sort()
    return tuple(out)


def _qm9_torch_geometric(root: Path) -> list[tuple[int, str]]:
    """(GDB index, SMILES) from ``torch_geometric.datasets.QM9`` (downloads on first use)."""
    try:
        from torch_geometric.datasets import QM9
    except ImportError as e:  # pragma: no cover - depends on the environment
        raise ImportError("QM9 needs the qm9pack wheel (pip install 'pfgm[qm9]') or torch_geometric") from e
    ds = QM9(str(root))
    smiles = getattr(ds._data, "smiles", None)
    names = getattr(ds._data, "name", None)
    if smiles is None:
        raise RuntimeError(
            f"{root}: this QM9 copy was processed without RDKit and has no SMILES; delete "
            f"{root / 'processed'} and load again with rdkit installed"
        )
    if names is None:  # pragma: no cover - old torch_geometric
        raise RuntimeError(
            f"{root}: this QM9 copy has no molecule names ('gdb_N'), so the benchmark split "
            "cannot be applied; install qm9pack (pip install 'pfgm[qm9]')"
        )
    return [(int(str(n).rsplit("_", 1)[-1]), s) for n, s in zip(names, smiles)]


def load_qm9(
    root: str | os.PathLike | None = None,
    max_atoms: int | None = 9,
    limit: int | None = None,
    split: str = "train",
    test_indices: set[int] | None = None,
    fragments: str = "keep",
) -> MoleculeSet:
    """QM9 (≤ 9 heavy atoms; 130,831 characterised molecules) with the GDSS benchmark split.

    Read offline from the qm9pack wheel when it is installed, else through torch_geometric
    (download). split: train (every molecule outside the test split: 117,917 from qm9pack), test
    (the split's molecules that exist in the data: of its 13,082 GDB indices, see
    :func:`qm9_test_gdb_indices`, 12,914 are in qm9pack; the other 168 are uncharacterised
    molecules), or all.
    The report's line numbers are GDB indices.
    """
    _check_split(split)
    d = qm9pack_data_dir()
    if d is not None:
        pairs, where = read_qm9pack(d), f"qm9pack ({d})"
    else:
        r = Path(root or data_root() / "qm9")
        pairs, where = _qm9_torch_geometric(r), f"torch_geometric ({r})"
    test = qm9_test_gdb_indices() if test_indices is None else set(test_indices)
    if split != "all":
        pairs = [(i, s) for i, s in pairs if (i in test) == (split == "test")]
    report = LoadReport(source=f"QM9/{split} from {where}")
    return filter_molecules(parse_smiles_records(pairs, report), report, max_atoms, limit, fragments)


#: ZINC's 28 atom tokens as torch_geometric ships them (benchmarking-gnns vocabulary): element, H, charge
ZINC_ATOM_TOKENS = [
    "C",
    "O",
    "N",
    "F",
    "C H1",
    "S",
    "Cl",
    "O -",
    "N H1 +",
    "Br",
    "N H3 +",
    "N H2 +",
    "N +",
    "N -",
    "S -",
    "I",
    "P",
    "O H1 +",
    "N H1 -",
    "O +",
    "S +",
    "P H1",
    "P H2",
    "C H2 -",
    "P +",
    "S H1 +",
    "C H1 -",
    "P H1 +",
]


def _zinc_token(token: str) -> tuple[str, int, int]:
    parts = token.split()
    sym, h, q = parts[0], 0, 0
    for t in parts[1:]:
        if t.startswith("H"):
            h = int(t[1:] or 1)
        elif t in ("+", "-"):
            q = 1 if t == "+" else -1
    return sym, h, q


def zinc_graph_to_smiles(atom_idx: Sequence[int], edge_index: np.ndarray, bond_idx: Sequence[int]) -> str | None:
    """One torch_geometric ZINC graph (atom tokens, edges, bond classes 1/2/3) -> SMILES, or None."""
    from rdkit import Chem

    from .mol_repair import bond_types as _bond_types, sanitize_or_none

    rw = Chem.RWMol()
    for a in atom_idx:
        sym, h, q = _zinc_token(ZINC_ATOM_TOKENS[int(a)])
        atom = Chem.Atom(sym)
        atom.SetFormalCharge(q)
        if h:
            atom.SetNumExplicitHs(h)
        rw.AddAtom(atom)
    bt = _bond_types()
    for (i, j), k in zip(np.asarray(edge_index).T.tolist(), bond_idx):
        if i < j:
            rw.AddBond(int(i), int(j), bt[int(k)])
    mol = sanitize_or_none(rw)
    return None if mol is None else Chem.MolToSmiles(mol)


def load_zinc250k(
    root: str | os.PathLike | None = None,
    split: str = "train",
    max_atoms: int | None = 38,
    limit: int | None = None,
    fragments: str = "keep",
) -> MoleculeSet:
    """ZINC250k (torch_geometric ``ZINC(subset=False)``: 249,456 molecules; splits train/val/test).

    The PyG copy stores graphs, not SMILES; molecules are rebuilt from its atom/bond vocabulary.
    Downloads on first use.
    """
    try:
        from torch_geometric.datasets import ZINC
    except ImportError as e:  # pragma: no cover
        raise ImportError("ZINC250k needs torch_geometric: pip install torch-geometric") from e
    root = Path(root or data_root() / "zinc")
    ds = ZINC(str(root), subset=False, split=split)
    report = LoadReport(source=f"ZINC250k/{split} ({root})")

    def records():
        for i in range(len(ds)):
            d = ds[i]
            smi = zinc_graph_to_smiles(d.x.view(-1).tolist(), d.edge_index.numpy(), d.edge_attr.view(-1).tolist())
            yield i + 1, smi or ""

    return filter_molecules(parse_smiles_records(records(), report), report, max_atoms, limit, fragments)


def read_zinc250k_csv(path: str | os.PathLike, column: str = "smiles") -> list[tuple[int, int, str]]:
    """(0-based data row, first line number, SMILES) of a 250k_rndm_zinc_drugs_clean_3.csv-style file.

    Read with a real CSV reader over the whole file: that file's SMILES fields end in a newline
    inside the quotes, so a record spans two lines. SMILES are stripped.
    """
    from ..shared.records import open_text

    rows: list[tuple[int, int, str]] = []
    with open_text(path, "ZINC250k CSV") as f:
        reader = csv.reader(f)
        header = next(reader, None)
        if header is None:
            raise DataError(f"{path}: file is empty (no ZINC250k records)")
        names = [h.strip().lower() for h in header]
        if column.lower() not in names:
            raise DataError(f"{path}: no column named {column!r}; columns are {header}")
        col = names.index(column.lower())
        start = reader.line_num + 1
        for row in reader:
            if row:
                rows.append((len(rows), start, row[col].strip() if col < len(row) else ""))
            start = reader.line_num + 1
    if not rows:
        raise DataError(f"{path}: file has a header but no records")
    return rows


def load_zinc250k_csv(
    path: str | os.PathLike,
    split: str = "train",
    max_atoms: int | None = 38,
    limit: int | None = None,
    column: str = "smiles",
    test_rows: set[int] | None = None,
    fragments: str = "keep",
) -> MoleculeSet:
    """ZINC250k from a user's CSV (the 250k_rndm_zinc_drugs_clean_3.csv layout) with the GDSS split.

    The shipped split lists 0-based data rows (GDSS's reading); split: train | test | all.
    The report's line numbers are file lines.
    """
    _check_split(split)
    rows = read_zinc250k_csv(path, column)
    test = zinc250k_test_rows() if test_rows is None else set(test_rows)
    if split != "all":
        rows = [r for r in rows if (r[0] in test) == (split == "test")]
    report = LoadReport(source=f"ZINC250k/{split} ({path})", header=True)
    return filter_molecules(parse_smiles_records(((ln, s) for _, ln, s in rows), report), report, max_atoms, limit, fragments)


def load_molecules(
    source: str = "nci",
    path: str | os.PathLike | None = None,
    column: str | int | None = None,
    max_atoms: int | None = 20,
    limit: int | None = None,
    root: str | None = None,
    split: str = "train",
    fragments: str | None = None,
) -> MoleculeSet:
    """Dispatch on ``source``: nci | smiles | csv | sdf | file (by extension) | moses | qm9 | zinc250k.

    split (moses, qm9, zinc250k): the benchmark's train or test split (or all).
    fragments: largest | skip | keep for salts and mixtures; None = :func:`default_fragments`.
    """
    s = source.lower()
    f = check_fragments(default_fragments(s) if fragments is None else fragments)
    if s == "nci":
        return load_nci(max_atoms, limit, fragments=f)
    if s in ("smiles", "smi", "csv", "txt", "file", "sdf"):
        if path is None:
            raise ConfigError(f"source {source!r} needs a path")
        sfx = "".join(Path(path).suffixes).lower()
        if s == "sdf" or ".sdf" in sfx:
            return load_sdf(path, max_atoms, limit, fragments=f)
        return load_smiles_file(path, column=column, max_atoms=max_atoms, limit=limit, fragments=f)
    if s == "moses":
        return load_moses(split, max_atoms, limit, fragments=f)
    if s == "qm9":
        return load_qm9(root, max_atoms, limit, split=split, fragments=f)
    if s in ("zinc", "zinc250k"):
        if path is not None:  # a user's CSV with the GDSS split; else torch_geometric's copy and split
            return load_zinc250k_csv(
                path, split, max_atoms, limit, column=column if isinstance(column, str) else "smiles", fragments=f
            )
        return load_zinc250k(root, split, max_atoms, limit, fragments=f)
    raise ConfigError(f"unknown molecule source {source!r}; use nci, smiles, csv, sdf, moses, qm9 or zinc250k")
