"""Molecule and graph data sets: SMILES/CSV/SDF files, RDKit's NCI set, MOSES, QM9, ZINC250k, synthetic graphs.

Molecule loaders return a :class:`MoleculeSet` (RDKit Mols, their SMILES, and a :class:`LoadReport`
that counts everything skipped: unparsable records with their line numbers, molecules above
``max_atoms``, molecules the graph encoding cannot carry). Nothing is dropped silently: every
skip is counted, and a warning names the file and the first offending lines.

Generic graph generators follow the GDSS/GraphRNN protocols with an explicit seed
(numpy ``default_rng``), so the same seed always gives the same graphs.
"""

from __future__ import annotations

import csv
import gzip
import importlib.util
import io
import logging
import os
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, Iterator, Sequence

import numpy as np

log = logging.getLogger(__name__)

class DataLoadWarning(UserWarning):
    """Records were skipped while loading (the message says how many and where)."""


#: how many offending line numbers a report keeps
MAX_REPORTED_LINES = 5

DEFAULT_DATA_ROOT = os.environ.get("PFGM_DATA", os.path.join(os.path.expanduser("~"), ".cache", "pfgm"))


# --------------------------------------------------------------------------------------------
# Reports
# --------------------------------------------------------------------------------------------


@dataclass
class LoadReport:
    """What a molecule loader read and skipped. Line numbers are 1-based (records for SDF)."""

    source: str
    records: int = 0
    kept: int = 0
    unparsable: int = 0
    unparsable_lines: list[int] = field(default_factory=list)
    too_large: int = 0
    unsupported: int = 0  # radicals, dative bonds, ... (what the encoding cannot carry)
    unsupported_examples: list[str] = field(default_factory=list)
    header: bool = False

    def add_unparsable(self, line_no: int) -> None:
        self.unparsable += 1
        if len(self.unparsable_lines) < MAX_REPORTED_LINES:
            self.unparsable_lines.append(line_no)

    def add_unsupported(self, why: str) -> None:
        self.unsupported += 1
        if len(self.unsupported_examples) < MAX_REPORTED_LINES:
            self.unsupported_examples.append(why)

    def summary(self) -> str:
        parts = [f"{self.source}: kept {self.kept} of {self.records} records"]
        if self.unparsable:
            parts.append(f"{self.unparsable} unparsable (lines {', '.join(map(str, self.unparsable_lines))}"
                         f"{', ...' if self.unparsable > len(self.unparsable_lines) else ''})")
        if self.too_large:
            parts.append(f"{self.too_large} above max_atoms")
        if self.unsupported:
            parts.append(f"{self.unsupported} not encodable (e.g. {self.unsupported_examples[0]})")
        return "; ".join(parts)

    def to_dict(self) -> dict:
        return dict(self.__dict__)


@dataclass
class MoleculeSet:
    """Parsed molecules with their canonical SMILES (no stereo) and the load report."""

    mols: list
    smiles: list[str]
    report: LoadReport

    def __len__(self) -> int:
        return len(self.mols)


# --------------------------------------------------------------------------------------------
# Reading records
# --------------------------------------------------------------------------------------------

_HEADER_WORDS = {"smiles", "smile", "canonical_smiles", "smiles1", "mol", "molecule", "structure"}


def _open_text(path: Path):
    if path.suffix == ".gz":
        return io.TextIOWrapper(gzip.open(path, "rb"), encoding="utf-8", errors="replace")
    return open(path, encoding="utf-8", errors="replace")


def read_smiles_records(
    path: str | os.PathLike, column: str | int | None = None, header: bool | str = "auto", delimiter: str | None = None
) -> tuple[list[tuple[int, str]], bool]:
    """Read SMILES strings from a .smi/.txt (whitespace-separated) or .csv/.tsv file (optionally .gz).

    column: a column name (needs a header) or 0-based index; default: the column named like
      'smiles' if the header has one, else the first.
    header: True / False / "auto" (a first row whose SMILES field does not parse, or whose fields
      include a name like 'smiles', is a header).
    Returns ([(line_number, smiles)], header_was_present). Blank lines and '#' comments are skipped.
    Raises ValueError naming the file if it has no records at all.
    """
    from rdkit import Chem

    from .encoding import rdkit_quiet

    p = Path(path)
    if not p.exists():
        raise FileNotFoundError(f"SMILES file not found: {p}")
    suffixes = [s.lower() for s in p.suffixes if s.lower() != ".gz"]
    kind = suffixes[-1] if suffixes else ".smi"
    rows: list[tuple[int, list[str]]] = []
    with _open_text(p) as f:
        if kind in (".csv", ".tsv"):
            delim = delimiter or ("\t" if kind == ".tsv" else ",")
            for i, row in enumerate(csv.reader(f, delimiter=delim), start=1):
                if row and any(c.strip() for c in row) and not row[0].lstrip().startswith("#"):
                    rows.append((i, [c.strip() for c in row]))
        else:
            for i, line in enumerate(f, start=1):
                s = line.strip()
                if s and not s.startswith("#"):
                    rows.append((i, s.split(delimiter) if delimiter else s.split()))
    if not rows:
        raise ValueError(f"{p}: file is empty (no SMILES records)")

    first = rows[0][1]
    has_header: bool
    if header == "auto":
        lowered = [c.lower() for c in first]
        if isinstance(column, str) or any(c in _HEADER_WORDS for c in lowered):
            has_header = True
        else:
            idx = column if isinstance(column, int) else 0
            with rdkit_quiet():
                has_header = idx >= len(first) or Chem.MolFromSmiles(first[idx]) is None
            # a single unparsable first line in a header-less file would be lost as a "header";
            # only call it a header when it looks like words, not like a broken SMILES
            if has_header and idx < len(first) and not first[idx].replace("_", "").replace(" ", "").isalpha():
                has_header = False
    else:
        has_header = bool(header)

    if isinstance(column, str):
        if not has_header:
            raise ValueError(f"{p}: column {column!r} given by name but the file has no header row")
        names = [c.lower() for c in first]
        if column.lower() not in names:
            raise ValueError(f"{p}: no column named {column!r}; columns are {first}")
        col = names.index(column.lower())
    elif isinstance(column, int):
        col = column
    else:
        names = [c.lower() for c in first] if has_header else []
        col = next((names.index(w) for w in ("smiles", "canonical_smiles", "smiles1", "smile") if w in names), 0)

    body = rows[1:] if has_header else rows
    out = [(i, r[col] if col < len(r) else "") for i, r in body]
    if not out:
        raise ValueError(f"{p}: file has a header but no SMILES records")
    return out, has_header


def parse_smiles_records(records: Iterable[tuple[int, str]], report: LoadReport) -> Iterator[tuple[object, str]]:
    """(line, SMILES) -> (Mol, SMILES) for those RDKit parses; failures go into ``report``."""
    from rdkit import Chem

    from .encoding import rdkit_quiet

    for line_no, smi in records:
        report.records += 1
        # the report counts failures; RDKit's own messages would flood the log
        with rdkit_quiet():
            mol = Chem.MolFromSmiles(smi) if smi else None
        if mol is None:
            report.add_unparsable(line_no)
            continue
        yield mol, smi


def filter_molecules(pairs: Iterable[tuple[object, str]], report: LoadReport, max_atoms: int | None,
                     limit: int | None = None) -> MoleculeSet:
    """Keep molecules with ≤ max_atoms heavy atoms that the graph encoding can carry; count the rest."""
    from .encoding import canonical_smiles

    mols, smiles = [], []
    for mol, smi in pairs:
        if max_atoms is not None and mol.GetNumHeavyAtoms() > max_atoms:
            report.too_large += 1
            continue
        why = encodability_problem(mol)
        if why:
            report.add_unsupported(f"{smi}: {why}")
            continue
        mols.append(mol)
        smiles.append(canonical_smiles(mol))
        if limit is not None and len(mols) >= limit:
            break
    report.kept = len(mols)
    _announce(report)
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


def _announce(report: LoadReport) -> None:
    if report.kept == 0:
        raise ValueError(f"{report.source}: no usable molecules ({report.summary()})")
    if report.unparsable or report.unsupported:
        warnings.warn(report.summary(), DataLoadWarning, stacklevel=2)
    log.info(report.summary())


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


def load_smiles_file(path: str | os.PathLike, column: str | int | None = None, header: bool | str = "auto",
                     max_atoms: int | None = 20, limit: int | None = None) -> MoleculeSet:
    """SMILES from a .smi/.txt/.csv/.tsv file (see :func:`read_smiles_records`), filtered to ≤ max_atoms."""
    records, has_header = read_smiles_records(path, column=column, header=header)
    report = LoadReport(source=str(path), header=has_header)
    return filter_molecules(parse_smiles_records(records, report), report, max_atoms, limit)


def load_sdf(path: str | os.PathLike, max_atoms: int | None = 20, limit: int | None = None) -> MoleculeSet:
    """Molecules from an SDF file (optionally .gz); record numbers of unreadable entries are reported."""
    from rdkit import Chem

    from .encoding import rdkit_quiet

    p = Path(path)
    if not p.exists():
        raise FileNotFoundError(f"SDF file not found: {p}")
    if p.stat().st_size == 0:
        raise ValueError(f"{p}: file is empty (no SDF records)")
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
                report.records += 1
                if mol is None:
                    report.add_unparsable(i)
                    continue
                yield mol, Chem.MolToSmiles(mol)

    ms = filter_molecules(pairs(), report, max_atoms, limit)
    return ms


def load_nci(max_atoms: int | None = 20, limit: int | None = None) -> MoleculeSet:
    """RDKit's NCI first-5K sample (≈3,900 molecules at max_atoms=20). Offline."""
    return load_smiles_file(nci_path(), column=0, header=False, max_atoms=max_atoms, limit=limit)


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


def load_moses(split: str = "train", max_atoms: int | None = None, limit: int | None = None) -> MoleculeSet:
    """MOSES ({train, test, test_scaffolds}) from the molsets wheel (1.58M train SMILES; CSV column 'SMILES')."""
    d = moses_data_dir()
    p = d / f"{split}.csv.gz"
    if not p.exists():
        raise FileNotFoundError(f"MOSES split {split!r} not found at {p}; available: {sorted(x.name for x in d.iterdir())}")
    return load_smiles_file(p, column="SMILES", header=True, max_atoms=max_atoms, limit=limit)


def load_qm9(root: str | os.PathLike | None = None, max_atoms: int | None = 9, limit: int | None = None) -> MoleculeSet:
    """QM9 (≈134k molecules, ≤ 9 heavy atoms) through ``torch_geometric.datasets.QM9``. Downloads on first use."""
    try:
        from torch_geometric.datasets import QM9
    except ImportError as e:  # pragma: no cover - depends on the environment
        raise ImportError("QM9 needs torch_geometric: pip install torch-geometric") from e
    root = Path(root or os.path.join(DEFAULT_DATA_ROOT, "qm9"))
    ds = QM9(str(root))
    smiles = getattr(ds._data, "smiles", None)
    if smiles is None:
        raise RuntimeError(f"{root}: this QM9 copy was processed without RDKit and has no SMILES; delete "
                           f"{root / 'processed'} and load again with rdkit installed")
    report = LoadReport(source=f"QM9 ({root})")
    return filter_molecules(parse_smiles_records(enumerate(smiles, start=1), report), report, max_atoms, limit)


#: ZINC's 28 atom tokens as torch_geometric ships them (benchmarking-gnns vocabulary): element, H, charge
ZINC_ATOM_TOKENS = [
    "C", "O", "N", "F", "C H1", "S", "Cl", "O -", "N H1 +", "Br", "N H3 +", "N H2 +", "N +", "N -",
    "S -", "I", "P", "O H1 +", "N H1 -", "O +", "S +", "P H1", "P H2", "C H2 -", "P +", "S H1 +",
    "C H1 -", "P H1 +",
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

    from .encoding import _bond_types, sanitize_or_none

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


def load_zinc250k(root: str | os.PathLike | None = None, split: str = "train", max_atoms: int | None = 38,
                  limit: int | None = None) -> MoleculeSet:
    """ZINC250k (torch_geometric ``ZINC(subset=False)``: 249,456 molecules; splits train/val/test).

    The PyG copy stores graphs, not SMILES; molecules are rebuilt from its atom/bond vocabulary.
    Downloads on first use.
    """
    try:
        from torch_geometric.datasets import ZINC
    except ImportError as e:  # pragma: no cover
        raise ImportError("ZINC250k needs torch_geometric: pip install torch-geometric") from e
    root = Path(root or os.path.join(DEFAULT_DATA_ROOT, "zinc"))
    ds = ZINC(str(root), subset=False, split=split)
    report = LoadReport(source=f"ZINC250k/{split} ({root})")

    def records():
        for i in range(len(ds)):
            d = ds[i]
            smi = zinc_graph_to_smiles(d.x.view(-1).tolist(), d.edge_index.numpy(), d.edge_attr.view(-1).tolist())
            yield i + 1, smi or ""

    return filter_molecules(parse_smiles_records(records(), report), report, max_atoms, limit)


def load_molecules(source: str = "nci", path: str | os.PathLike | None = None, column: str | int | None = None,
                   max_atoms: int | None = 20, limit: int | None = None, root: str | None = None,
                   split: str = "train") -> MoleculeSet:
    """Dispatch on ``source``: nci | smiles | csv | sdf | file (by extension) | moses | qm9 | zinc250k."""
    s = source.lower()
    if s == "nci":
        return load_nci(max_atoms, limit)
    if s in ("smiles", "smi", "csv", "txt", "file", "sdf"):
        if path is None:
            raise ValueError(f"source {source!r} needs a path")
        sfx = "".join(Path(path).suffixes).lower()
        if s == "sdf" or ".sdf" in sfx:
            return load_sdf(path, max_atoms, limit)
        return load_smiles_file(path, column=column, max_atoms=max_atoms, limit=limit)
    if s == "moses":
        return load_moses(split, max_atoms, limit)
    if s == "qm9":
        return load_qm9(root, max_atoms, limit)
    if s in ("zinc", "zinc250k"):
        return load_zinc250k(root, split, max_atoms, limit)
    raise ValueError(f"unknown molecule source {source!r}; use nci, smiles, csv, sdf, moses, qm9 or zinc250k")


# --------------------------------------------------------------------------------------------
# Generic graphs (networkx)
# --------------------------------------------------------------------------------------------


def community_graph(size: int, rng: np.random.Generator, p_intra: float = 0.7, p_inter: float = 0.05):
    """One GDSS community-small graph with ``size // 2 * 2`` nodes.

    Two communities, each ``gnp_random_graph(size // 2, p_intra, seed=i)`` for i = 0, 1 (so for a
    given size the communities are always the same graphs), joined by bridges: every cross pair
    independently with probability p_inter · 2 / (size // 2), and one bridge between the first
    nodes of the two communities when none was drawn.
    """
    import networkx as nx

    c = size // 2
    g = nx.disjoint_union_all([nx.gnp_random_graph(c, p_intra, seed=i) for i in range(2)])
    comps = [sorted(cc) for cc in sorted(nx.connected_components(g), key=min)]
    p_bridge = p_inter * 2 / c
    for a in range(len(comps)):
        for b in range(a + 1, len(comps)):
            added = False
            for u in comps[a]:
                for v in comps[b]:
                    if rng.random() < p_bridge:
                        g.add_edge(u, v)
                        added = True
            if not added:
                g.add_edge(comps[a][0], comps[b][0])
    return g


def community_small(num: int = 100, seed: int = 0, min_nodes: int = 12, max_nodes: int = 20):
    """GDSS/GraphRNN community-small: sizes uniform in [12, 20], halved per community (so 12–20, even)."""
    rng = np.random.default_rng(seed)
    return [community_graph(int(rng.integers(min_nodes, max_nodes + 1)), rng) for _ in range(num)]


def community_small_from_spec(lines: Iterable[str]):
    """Graphs from 'SIZE:u-v,u-v' lines (the format of a community-small description file)."""
    import networkx as nx

    graphs = []
    for line in lines:
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        size_s, _, bridges = line.partition(":")
        c = int(size_s) // 2
        g = nx.disjoint_union_all([nx.gnp_random_graph(c, 0.7, seed=i) for i in range(2)])
        for e in filter(None, bridges.split(",")):
            u, v = e.split("-")
            g.add_edge(int(u), int(v))
        graphs.append(g)
    return graphs


def community_small_file(path: str | None = None, seed: int = 0):
    """community-small from a description file ('SIZE:u-v,…' lines, '#' comments), e.g. the exact
    100 graphs of the GDSS benchmark, in the file's order (so GDSS's split applies). ``seed`` is unused."""
    if not path:
        raise ValueError("dataset community_small_file needs data.path: a file of 'SIZE:u-v,u-v' lines")
    p = Path(path)
    if not p.is_file():
        raise FileNotFoundError(f"community-small description file {p} does not exist")
    lines = p.read_text().splitlines()
    for no, line in enumerate(lines, 1):
        text = line.strip()
        if not text or text.startswith("#"):
            continue
        size_s, sep, bridges = text.partition(":")
        pairs = [e.split("-") for e in filter(None, bridges.split(","))]
        ok = sep and size_s.isdigit() and int(size_s) >= 2 and int(size_s) % 2 == 0 and all(
            len(e) == 2 and e[0].isdigit() and e[1].isdigit() and max(int(e[0]), int(e[1])) < int(size_s) for e in pairs)
        if not ok:
            raise ValueError(f"{p}, line {no}: expected 'SIZE:u-v,u-v' with an even SIZE and nodes < SIZE, got {text!r}")
    graphs = community_small_from_spec(lines)
    if not graphs:
        raise ValueError(f"{p} holds no graphs (only comments or blank lines)")
    return graphs


def grid_graphs(num: int = 100, seed: int = 0, min_side: int = 10, max_side: int = 19):
    """GDSS grid: 2-D grids with both sides uniform in [10, 19] (100–361 nodes), nodes relabelled 0..n−1."""
    import networkx as nx

    rng = np.random.default_rng(seed)
    out = []
    for _ in range(num):
        m, n = (int(v) for v in rng.integers(min_side, max_side + 1, size=2))
        out.append(nx.convert_node_labels_to_integers(nx.grid_2d_graph(m, n)))
    return out


def ego_small(num: int = 200, seed: int = 0, min_nodes: int = 4, max_nodes: int = 18, source: str = "synthetic",
              root: str | None = None):
    """Ego-small: radius-1 ego graphs with 4–18 nodes (GDSS takes 200 of CiteSeer's).

    source 'citeseer': the real CiteSeer citation graph through torch_geometric's Planetoid
    (downloads). source 'synthetic' (default, offline): the same extraction from a seeded
    power-law cluster graph (networkx ``powerlaw_cluster_graph(4000, 2, 0.3)``), whose skewed
    degrees and triangles give ego graphs of a similar kind. Not CiteSeer: published ego-small
    numbers are not comparable with this variant.
    """
    import networkx as nx

    if source == "citeseer":
        from torch_geometric.datasets import Planetoid
        from torch_geometric.utils import to_networkx

        ds = Planetoid(root or os.path.join(DEFAULT_DATA_ROOT, "planetoid"), "CiteSeer")
        G = to_networkx(ds[0], to_undirected=True)
        G = G.subgraph(max(nx.connected_components(G), key=len)).copy()
        G = nx.convert_node_labels_to_integers(G)
        order = list(G.nodes())
    elif source == "synthetic":
        G = nx.powerlaw_cluster_graph(4000, 2, 0.3, seed=seed)
        order = list(np.random.default_rng(seed).permutation(G.number_of_nodes()))
    else:
        raise ValueError(f"ego_small source must be 'synthetic' or 'citeseer', got {source!r}")
    out = []
    for v in order:
        e = nx.ego_graph(G, v, radius=1)
        if min_nodes <= e.number_of_nodes() <= max_nodes:
            e = nx.Graph(e)
            e.remove_edges_from(nx.selfloop_edges(e))
            out.append(nx.convert_node_labels_to_integers(e))
            if len(out) >= num:
                break
    return out


GRAPH_DATASETS = {"community_small": community_small, "community_small_file": community_small_file,
                  "ego_small": ego_small, "grid": grid_graphs}


def load_graphs(name: str, seed: int = 0, **kw):
    """A generic graph data set by name: community_small | community_small_file | ego_small | grid."""
    try:
        fn = GRAPH_DATASETS[name]
    except KeyError:
        raise ValueError(f"unknown graph data set {name!r}; choose from {sorted(GRAPH_DATASETS)}") from None
    return fn(seed=seed, **kw)


def split_graphs(graphs: Sequence, test_fraction: float = 0.2) -> tuple[list, list]:
    """GDSS split: the first ``int(test_fraction · len)`` graphs are the test set, the rest train. -> (train, test)."""
    k = int(test_fraction * len(graphs))
    return list(graphs[k:]), list(graphs[:k])
