"""Graphs and molecules as one flat masked vector, and molecules ⇄ (atom types, bond types).

Flat layout (what the core sees), for a graph with n ≤ n_max nodes, F node channels and C
edge channels:

    x = [ nodes (n_max × F) | upper-triangle pairs (n_max(n_max−1)/2 × C) ]   flattened, row-major

Pairs are ordered as ``torch.triu_indices(n_max, n_max, 1)`` (row by row: (0,1), (0,2), …, (1,2), …).
Only the upper triangle is stored, so whatever the core does per entry (noise, denoising) is
symmetric once unpacked: ``unpack`` mirrors the triangle. The mask is 1 on node rows i < n
(all F channels) and on pairs i < j < n (all C channels), so ``mask.sum()`` is the graph's own
dimension N_i = n·F + n(n−1)/2·C and padding never receives noise.

Values: a one-hot entry is stored as ``onehot − 0.5`` ∈ {−0.5, +0.5}. Every real entry then has
magnitude 0.5, so the data's RMS is exactly 0.5 whatever F, C and the class balance are, which
matches the EDM default σ_data = 0.5. Decoding takes the argmax over channels, which the shift
does not change. Generic graphs use C = 1 (the adjacency bit: +0.5 edge, −0.5 no edge, decoded by
the sign) and F = 0 (no node features: the mask alone says which nodes exist).
"""

from __future__ import annotations

import re
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Iterable, Sequence

import numpy as np
import torch
from torch import Tensor

from .pairs import PairIndex

#: offset subtracted from one-hot / adjacency bits (see module docstring)
ONEHOT_SHIFT = 0.5


@contextmanager
def rdkit_quiet():
    """Silence RDKit's logger inside the block (decoding and loading count failures themselves)."""
    from rdkit import rdBase

    blocker = rdBase.BlockLogs()
    try:
        yield
    finally:
        del blocker


# --------------------------------------------------------------------------------------------
# Flat layout
# --------------------------------------------------------------------------------------------


class GraphLayout:
    """The flat layout for graphs of at most ``n_max`` nodes with F node and C edge channels."""

    def __init__(self, n_max: int, node_dim: int, edge_dim: int):
        if n_max < 1:
            raise ValueError(f"n_max must be ≥ 1, got {n_max}")
        if node_dim < 0 or edge_dim < 1:
            raise ValueError(f"need node_dim ≥ 0 and edge_dim ≥ 1, got {node_dim}, {edge_dim}")
        self.n_max, self.node_dim, self.edge_dim = int(n_max), int(node_dim), int(edge_dim)
        self.pairs = PairIndex(self.n_max)  # the edge block holds the pairs i < j in its order
        self._subs: dict[tuple[int, torch.device], tuple["GraphLayout", Tensor]] = {}

    @property
    def num_pairs(self) -> int:
        return self.n_max * (self.n_max - 1) // 2

    @property
    def node_size(self) -> int:
        """Length of the node block of x."""
        return self.n_max * self.node_dim

    @property
    def dim(self) -> int:
        """Length of the flat vector x."""
        return self.node_size + self.num_pairs * self.edge_dim

    def __repr__(self) -> str:
        return f"GraphLayout(n_max={self.n_max}, node_dim={self.node_dim}, edge_dim={self.edge_dim}, dim={self.dim})"

    def sub(self, m: int, device: torch.device | str = "cpu") -> tuple["GraphLayout", Tensor]:
        """The layout of the first m nodes and the positions (dim_m,) of its entries in this layout's x.

        Real nodes are a prefix (see :meth:`mask`) and the pair order restricted to j < m is
        ``triu_indices(m)``'s, so ``x[:, pos]`` is a batch of graphs of at most m nodes in the
        m-layout, exactly. Cached per (m, device): the backbone asks for it on every forward.
        """
        if not 1 <= m <= self.n_max:
            raise ValueError(f"sub-layout size must lie in [1, {self.n_max}], got {m}")
        key = (int(m), torch.device(device))
        if key not in self._subs:
            node_pos = torch.arange(m * self.node_dim)
            pair_ids = torch.nonzero(self.pairs.j < m).flatten()  # pairs i < j < m, in order
            chan = torch.arange(self.edge_dim)
            pair_pos = self.node_size + (pair_ids.view(-1, 1) * self.edge_dim + chan).flatten()
            self._subs[key] = (GraphLayout(m, self.node_dim, self.edge_dim), torch.cat([node_pos, pair_pos]).to(key[1]))
        return self._subs[key]

    def mask(self, n_nodes: Tensor) -> Tensor:
        """(B,) node counts -> (B, dim) float mask: 1 on node rows i < n and pairs i < j < n."""
        n = torch.as_tensor(n_nodes).long().view(-1, 1)
        if (n > self.n_max).any() or (n < 0).any():
            raise ValueError(f"node counts must lie in [0, {self.n_max}], got {n.flatten().tolist()}")
        ar = torch.arange(self.n_max, device=n.device)
        node_m = (ar.view(1, -1) < n).float()  # (B, n_max)
        node_m = node_m.unsqueeze(-1).expand(-1, -1, self.node_dim).reshape(n.shape[0], -1)
        # pair (i, j) with i < j is real iff j < n
        pair_m = (self.pairs.ij(n.device)[1].view(1, -1) < n).float()
        pair_m = pair_m.unsqueeze(-1).expand(-1, -1, self.edge_dim).reshape(n.shape[0], -1)
        return torch.cat([node_m, pair_m], dim=1)

    def pack(self, nodes: Tensor, edges: Tensor, n_nodes: Tensor) -> tuple[Tensor, Tensor]:
        """nodes (B, n, F), edges (B, n, n, C) with n ≤ n_max, n_nodes (B,) -> x (B, dim), mask (B, dim).

        Only edges[:, i, j] with i < j is read. Entries outside the mask are set to 0.
        """
        B, n = nodes.shape[0], nodes.shape[1]
        if n > self.n_max or edges.shape[1:3] != (n, n):
            raise ValueError(f"nodes {tuple(nodes.shape)} / edges {tuple(edges.shape)} do not fit n_max={self.n_max}")
        if nodes.shape[2] != self.node_dim or edges.shape[3] != self.edge_dim:
            raise ValueError(
                f"expected {self.node_dim} node and {self.edge_dim} edge channels, got {nodes.shape[2]} and {edges.shape[3]}"
            )
        if n < self.n_max:  # pad to n_max
            pad = self.n_max - n
            nodes = torch.nn.functional.pad(nodes, (0, 0, 0, pad))
            edges = torch.nn.functional.pad(edges, (0, 0, 0, pad, 0, pad))
        mask = self.mask(torch.as_tensor(n_nodes, device=nodes.device)).to(nodes.dtype)
        x = self.pack_values(nodes, edges) * mask
        return x, mask

    def pack_values(self, nodes: Tensor, edges: Tensor) -> Tensor:
        """nodes (B, n_max, F), edges (B, n_max, n_max, C) -> x (B, dim), without masking."""
        B = nodes.shape[0]
        return torch.cat([nodes.reshape(B, -1), self.pairs.to_pairs(edges).reshape(B, -1)], dim=1)

    def unpack(self, x: Tensor) -> tuple[Tensor, Tensor]:
        """x (B, dim) -> nodes (B, n_max, F), edges (B, n_max, n_max, C), symmetric with a zero diagonal."""
        if x.shape[-1] != self.dim:
            raise ValueError(f"x has length {x.shape[-1]}, layout {self} needs {self.dim}")
        B = x.shape[0]
        nodes = x[:, : self.node_size].reshape(B, self.n_max, self.node_dim)
        tri = x[:, self.node_size :].reshape(B, self.num_pairs, self.edge_dim)
        return nodes, self.pairs.to_full(tri)

    def node_mask(self, mask: Tensor) -> Tensor:
        """Flat (B, dim) mask -> (B, n_max) float, 1 on real nodes.

        With F = 0 the node block is empty and a node counts as real when any pair touching it
        is real (so a 1-node graph has no real node there; generic graphs have ≥ 2 nodes).
        """
        B = mask.shape[0]
        if self.node_dim > 0:
            return mask[:, : self.node_size].reshape(B, self.n_max, self.node_dim)[..., 0]
        _, pm = self.unpack(mask.to(torch.float32))
        return (pm[..., 0].amax(dim=-1) > 0).to(mask.dtype)

    def n_nodes(self, mask: Tensor) -> Tensor:
        """Flat (B, dim) mask -> (B,) long node counts."""
        return self.node_mask(mask).sum(dim=1).round().long()


def pack(nodes: Tensor, edges: Tensor, n_nodes: Tensor) -> tuple[Tensor, Tensor]:
    """nodes (B, n_max, F), edges (B, n_max, n_max, C), n_nodes (B,) -> x, mask (B, dim); n_max, F, C from the shapes."""
    return GraphLayout(nodes.shape[1], nodes.shape[2], edges.shape[3]).pack(nodes, edges, n_nodes)


def unpack(x: Tensor, n_max: int, node_dim: int, edge_dim: int) -> tuple[Tensor, Tensor]:
    """x (B, dim) -> nodes (B, n_max, F), edges (B, n_max, n_max, C) symmetric. See :class:`GraphLayout`."""
    return GraphLayout(n_max, node_dim, edge_dim).unpack(x)


def encode_classes(
    layout: GraphLayout, node_cls: Sequence[Sequence[int]], edge_lists: Sequence[Iterable[tuple[int, int, int]]]
) -> tuple[Tensor, Tensor]:
    """Graphs as class indices -> x, mask (B, dim) in the ±0.5 one-hot convention.

    node_cls[b]: the class of each node (length n_b). edge_lists[b]: (i, j, edge_class) triples,
    edge class 0 meaning "no edge" (so it never needs listing). With edge_dim = 1 the single
    channel is the adjacency bit and edge classes must be 1.
    """
    B = len(node_cls)
    n = np.array([len(v) for v in node_cls], dtype=np.int64)
    F, C, N = layout.node_dim, layout.edge_dim, layout.n_max
    if B and n.max() > N:
        b = int(n.argmax())
        raise ValueError(f"graph {b} has {int(n[b])} nodes, more than n_max={N}")
    # numpy in the per-graph loop: torch's per-call overhead dominates on tiny tensors
    nodes = np.zeros((B, N, F), dtype=np.float32)
    cls = np.zeros((B, N, N), dtype=np.int64)  # edge class per pair, 0 = none
    for b in range(B):
        if F > 0 and n[b]:
            nodes[b, np.arange(n[b]), np.asarray(node_cls[b], dtype=np.int64)] = 1.0
        for i, j, k in edge_lists[b]:
            if not (0 <= k < max(C, 2)) or (C > 1 and k == 0):
                raise ValueError(f"graph {b}: edge class {k} out of range for {C} edge channels")
            cls[b, i, j] = cls[b, j, i] = k
    if C == 1:
        edges = (cls > 0).astype(np.float32)[..., None]
    else:
        edges = np.eye(C, dtype=np.float32)[cls]
    n_t = torch.from_numpy(n)
    return layout.pack(torch.from_numpy(nodes) - ONEHOT_SHIFT, torch.from_numpy(edges) - ONEHOT_SHIFT, n_t)


def decode_classes(layout: GraphLayout, x: Tensor, mask: Tensor) -> list[tuple[np.ndarray, np.ndarray]]:
    """x, mask (B, dim) -> per graph (node classes (n,), edge classes (n, n) symmetric, 0 = none), numpy int64.

    Node classes are the argmax over F channels (empty when F = 0); edge classes the argmax over
    C channels, or for C = 1 the sign of the adjacency value (> 0 = edge = class 1).
    """
    x = x.detach().float().cpu()
    nodes, edges = layout.unpack(x)
    counts = layout.n_nodes(mask.detach().cpu()).tolist()
    if layout.node_dim > 0:
        node_cls = nodes.argmax(-1).numpy()
    else:
        node_cls = np.zeros((x.shape[0], layout.n_max), np.int64)
    edge_cls = (edges[..., 0] > 0).long().numpy() if layout.edge_dim == 1 else edges.argmax(-1).numpy()
    out = []
    for b, n in enumerate(counts):
        ec = edge_cls[b, :n, :n].copy()
        np.fill_diagonal(ec, 0)
        out.append((node_cls[b, :n].copy(), ec))
    return out


# --------------------------------------------------------------------------------------------
# Molecules
# --------------------------------------------------------------------------------------------

_KEY_RE = re.compile(r"^(\*|[A-Z][a-z]?)(H\d*)?([+-]\d*)?$")
OTHER = "*"  # the "other" atom type (unknown_atoms: other); decodes to RDKit's dummy atom


def atom_key(symbol: str, charge: int = 0, num_h: int = 0) -> str:
    """Atom type name: symbol, then 'H'/'H2'… when an H count is part of the type, then '+', '-', '+2'…

    Examples: 'C', 'N+', 'O-', 'Co+3', 'NH' (aromatic [nH], only in aromatic mode).
    """
    h = "" if num_h == 0 else ("H" if num_h == 1 else f"H{num_h}")
    q = "" if charge == 0 else (("+" if charge > 0 else "-") + (str(abs(charge)) if abs(charge) > 1 else ""))
    return f"{symbol}{h}{q}"


def parse_atom_key(key: str) -> tuple[str, int, int]:
    """'N+' -> ('N', +1, 0); 'NH' -> ('N', 0, 1); 'Sb-3' -> ('Sb', -3, 0)."""
    m = _KEY_RE.match(key)
    if not m:
        raise ValueError(f"not an atom type name: {key!r} (expected e.g. 'C', 'N+', 'O-', 'Co+3', 'NH')")
    sym, h, q = m.groups()
    num_h = 0 if not h else (1 if h == "H" else int(h[1:]))
    charge = 0 if not q else (1 if q[0] == "+" else -1) * (int(q[1:]) if len(q) > 1 else 1)
    return sym, charge, num_h


class UnsupportedMolecule(ValueError):
    """A molecule the vocabulary cannot encode (element, bond type, radical, size)."""


@dataclass
class MolVocab:
    """Atom and bond classes of the molecule encoding.

    atom_types: atom type names (see :func:`atom_key`), e.g. ['C', 'N', 'O', 'N+', 'O-'].
    kekulize: bonds are none/single/double/triple (True) or also aromatic (False; then aromatic
      atoms that carry an explicit H, like pyrrole's [nH], get their own type 'NH').
    charges: formal charges are part of the atom type (False: charges are dropped on encoding and
      decoding puts +1 on N/O/S atoms whose valence exceeds the default by one, as GDSS does).
    unknown_atoms: what to do with an atom type outside ``atom_types``: 'error' (raise
      :class:`UnsupportedMolecule` naming SMILES and element) or 'other' (the '*' type).
    hydrogens: the type also carries the atom's hydrogen count ('C', 'CH', 'CH2', 'CH3', 'NH2'…;
      kekulé mode only). A typed atom's bond orders then sum to a known number, so valence becomes a
      local, per-atom fact the network can check. Decoding reads only element and charge and lets
      RDKit add the hydrogens the bonds leave room for: the count is a learned hint, not a rule.
    """

    atom_types: list[str]
    kekulize: bool = True
    charges: bool = True
    unknown_atoms: str = "error"
    hydrogens: bool = False
    _index: dict[str, int] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        if self.unknown_atoms not in ("error", "other"):
            raise ValueError(f"unknown_atoms must be 'error' or 'other', got {self.unknown_atoms!r}")
        if self.hydrogens and not self.kekulize:
            raise ValueError("hydrogens: true needs kekulize: true (aromatic mode types only [nH]-like atoms by H)")
        types = list(dict.fromkeys(self.atom_types))  # dedupe, keep order
        for t in types:
            parse_atom_key(t)
        if self.unknown_atoms == "other" and OTHER not in types:
            types.append(OTHER)
        self.atom_types = types
        self._index = {t: i for i, t in enumerate(types)}

    @property
    def bond_names(self) -> list[str]:
        names = ["none", "single", "double", "triple"]
        return names if self.kekulize else names + ["aromatic"]

    @property
    def node_dim(self) -> int:
        return len(self.atom_types)

    @property
    def edge_dim(self) -> int:
        return len(self.bond_names)

    def layout(self, n_max: int) -> GraphLayout:
        return GraphLayout(n_max, self.node_dim, self.edge_dim)

    def to_dict(self) -> dict:
        return {"atom_types": list(self.atom_types), "kekulize": self.kekulize, "charges": self.charges,
                "unknown_atoms": self.unknown_atoms, "hydrogens": self.hydrogens}

    # -- encoding ------------------------------------------------------------------------

    def key_of(self, atom) -> str:
        """The type name of an RDKit atom under this vocabulary (may be outside atom_types)."""
        charge = atom.GetFormalCharge() if self.charges else 0
        # In aromatic mode an aromatic heteroatom's H count is not implied by its bonds (pyridine n
        # vs pyrrole [nH] both have two aromatic bonds), so it becomes part of the type.
        aromatic_h = not self.kekulize and atom.GetIsAromatic() and atom.GetSymbol() != "C"
        num_h = atom.GetTotalNumHs() if aromatic_h or self.hydrogens else 0
        return atom_key(atom.GetSymbol(), charge, num_h)

    def index_of(self, atom, smiles: str = "") -> int:
        key = self.key_of(atom)
        i = self._index.get(key)
        if i is None:
            if self.unknown_atoms == "other":
                return self._index[OTHER]
            raise UnsupportedMolecule(
                f"molecule {smiles or '?'}: atom type {key!r} (element {atom.GetSymbol()}) is not in the "
                f"vocabulary {self.atom_types}; add it to atom_types or set unknown_atoms: other"
            )
        return i

    def mol_to_graph(self, mol, smiles: str = "") -> tuple[list[int], list[tuple[int, int, int]]]:
        """RDKit Mol (heavy atoms only) -> (atom classes, [(i, j, bond class)]).

        Raises :class:`UnsupportedMolecule` for radicals, unsupported bonds or atom types.
        """
        from rdkit import Chem

        smiles = smiles or Chem.MolToSmiles(mol)
        m = Chem.Mol(mol)
        if any(a.GetAtomicNum() == 1 for a in m.GetAtoms()):
            m = Chem.RemoveHs(m)
        for a in m.GetAtoms():
            if a.GetNumRadicalElectrons():
                # the graph has no place for unpaired electrons; decoding would fill them with H
                raise UnsupportedMolecule(f"molecule {smiles}: atom {a.GetSymbol()}{a.GetIdx()} is a radical")
        if self.kekulize:
            Chem.Kekulize(m, clearAromaticFlags=True)
        atoms = [self.index_of(a, smiles) for a in m.GetAtoms()]
        bonds = []
        for b in m.GetBonds():
            k = _BOND_CLASS.get(str(b.GetBondType()))
            if k is None or (k == 4 and self.kekulize):
                raise UnsupportedMolecule(f"molecule {smiles}: unsupported bond type {b.GetBondType()}")
            bonds.append((b.GetBeginAtomIdx(), b.GetEndAtomIdx(), k))
        return atoms, bonds

    def encode(self, mols: Sequence, n_max: int, smiles: Sequence[str] | None = None) -> tuple[Tensor, Tensor]:
        """RDKit Mols -> x, mask (B, dim) for a layout with n_max nodes."""
        layout = self.layout(n_max)
        graphs = [self.mol_to_graph(m, smiles[i] if smiles else "") for i, m in enumerate(mols)]
        for i, (a, _) in enumerate(graphs):
            if len(a) > n_max:
                raise UnsupportedMolecule(
                    f"molecule {smiles[i] if smiles else i} has {len(a)} heavy atoms, more than n_max={n_max}")
        return encode_classes(layout, [g[0] for g in graphs], [g[1] for g in graphs])

    # -- decoding ------------------------------------------------------------------------

    def graph_to_rwmol(self, atoms: Sequence[int], bonds: np.ndarray | Tensor):
        """(atom classes (n,), bond classes (n, n), 0 = none) -> RDKit RWMol, not sanitized."""
        from rdkit import Chem

        rw = Chem.RWMol()
        for a in atoms:
            sym, charge, num_h = parse_atom_key(self.atom_types[int(a)])
            atom = Chem.Atom(0 if sym == OTHER else sym)
            atom.SetFormalCharge(charge)
            if num_h and not self.hydrogens:
                atom.SetNumExplicitHs(num_h)
                atom.SetIsAromatic(True)
            rw.AddAtom(atom)
        bt = _bond_types()
        bonds = np.asarray(bonds)
        for i, j in zip(*np.nonzero(np.triu(bonds, k=1))):
            i, j, k = int(i), int(j), int(bonds[i, j])
            rw.AddBond(i, j, bt[k])
            if k == 4:
                rw.GetBondBetweenAtoms(i, j).SetIsAromatic(True)
                rw.GetAtomWithIdx(i).SetIsAromatic(True)
                rw.GetAtomWithIdx(j).SetIsAromatic(True)
        if not self.charges:
            _gdss_charge_rule(rw)
        return rw

    def decode_graph(self, atoms: Sequence[int], bonds: np.ndarray | Tensor):
        """Graph classes -> sanitized RDKit Mol, or None if RDKit rejects it (no correction)."""
        return sanitize_or_none(self.graph_to_rwmol(atoms, bonds))

    def decode(self, x: Tensor, mask: Tensor) -> list:
        """x, mask (B, dim) -> list of sanitized Mol or None (no valency correction)."""
        layout = self.layout(_n_max_from_dim(x.shape[-1], self.node_dim, self.edge_dim))
        return [self.decode_graph(a, b) for a, b in decode_classes(layout, x, mask)]

    def decode_corrected(self, x: Tensor, mask: Tensor, largest_fragment: bool = True) -> list:
        """Like :meth:`decode` but with GDSS-style valency correction (see :func:`correct_mol`)."""
        layout = self.layout(_n_max_from_dim(x.shape[-1], self.node_dim, self.edge_dim))
        return [correct_mol(self.graph_to_rwmol(a, b), largest_fragment)[0] for a, b in decode_classes(layout, x, mask)]


_BOND_CLASS = {"SINGLE": 1, "DOUBLE": 2, "TRIPLE": 3, "AROMATIC": 4}


def _bond_types() -> dict:
    from rdkit import Chem

    BT = Chem.BondType
    return {1: BT.SINGLE, 2: BT.DOUBLE, 3: BT.TRIPLE, 4: BT.AROMATIC}


def _n_max_from_dim(dim: int, F: int, C: int) -> int:
    # dim = n F + n (n-1)/2 C; solve the quadratic and check it is exact
    import math

    a, b = C / 2.0, F - C / 2.0
    n = int(round((-b + math.sqrt(b * b + 4 * a * dim)) / (2 * a)))
    if n * F + n * (n - 1) // 2 * C != dim:
        raise ValueError(f"length {dim} is not a graph layout with {F} node and {C} edge channels")
    return n


def layout_for_dim(dim: int, node_dim: int, edge_dim: int) -> GraphLayout:
    """The layout whose flat length is ``dim`` (n_max solved from dim = n·F + n(n−1)/2·C)."""
    return GraphLayout(_n_max_from_dim(dim, node_dim, edge_dim), node_dim, edge_dim)


_DEFAULT_VALENCE = {"N": 3, "O": 2, "S": 2}


def _gdss_charge_rule(rw) -> None:
    # Without charges in the encoding, an N/O/S with one bond order too many is read as the
    # cation (e.g. [N+] of nitro groups, [O+]); this is GDSS's construct_mol rule.
    for atom in rw.GetAtoms():
        sym = atom.GetSymbol()
        if sym in _DEFAULT_VALENCE and atom.GetFormalCharge() == 0:
            v = sum(b.GetBondTypeAsDouble() for b in atom.GetBonds())
            if v - _DEFAULT_VALENCE[sym] == 1:
                atom.SetFormalCharge(1)


def sanitize_or_none(rw):
    """RWMol -> sanitized Mol, or None when RDKit's SanitizeMol fails (no fixing of any kind)."""
    from rdkit import Chem

    mol = Chem.Mol(rw)
    with rdkit_quiet():
        try:
            Chem.SanitizeMol(mol)
        except Exception:  # RDKit raises several exception types (valence, kekulization, ...)
            return None
    return mol


def correct_mol(rw, largest_fragment: bool = True, max_steps: int = 200):
    """GDSS-style valency correction. RWMol -> (sanitized Mol or None, needed_correction: bool).

    While some atom exceeds its allowed valence, lower that atom's highest-order bond by one
    (a single bond is removed). Then sanitize; optionally keep the largest fragment (by heavy
    atoms). Returns None only when the result still fails sanitization (e.g. an aromatic ring
    that cannot be kekulized).
    """
    from rdkit import Chem

    mol = Chem.RWMol(rw)
    needed = False
    bt = _bond_types()
    for _ in range(max_steps):
        mol.UpdatePropertyCache(strict=False)
        with rdkit_quiet():
            problems = [p for p in Chem.DetectChemistryProblems(mol) if p.GetType() == "AtomValenceException"]
        if not problems:
            break
        needed = True
        atom = mol.GetAtomWithIdx(problems[0].GetAtomIdx())
        bonds = sorted(atom.GetBonds(), key=lambda b: b.GetBondTypeAsDouble(), reverse=True)
        if not bonds:
            break  # an isolated atom over valence (e.g. charge) cannot be fixed by bonds
        b = bonds[0]
        i, j, order = b.GetBeginAtomIdx(), b.GetEndAtomIdx(), b.GetBondTypeAsDouble()
        mol.RemoveBond(i, j)
        # aromatic (1.5) drops to single; double to single; triple to double
        new = {3.0: 2, 2.0: 1, 1.5: 1}.get(order)
        if new is not None:
            mol.AddBond(i, j, bt[new])
    out = sanitize_or_none(mol)
    if out is not None and largest_fragment:
        frags = Chem.GetMolFrags(out, asMols=True, sanitizeFrags=False)
        if len(frags) > 1:
            out = max(frags, key=lambda f: f.GetNumAtoms())
            out = sanitize_or_none(out)
    return out, needed


def canonical_smiles(mol) -> str | None:
    """Canonical SMILES without stereo or isotopes (the encoding carries neither); None for None."""
    from rdkit import Chem

    if mol is None:
        return None
    return Chem.MolToSmiles(mol, isomericSmiles=False)


def vocab_from_mols(mols: Iterable, kekulize: bool = True, charges: bool = True, unknown_atoms: str = "error",
                    min_count: int = 1, hydrogens: bool = False) -> MolVocab:
    """Atom types present in ``mols`` (those seen in ≥ min_count molecules), most frequent first."""
    from collections import Counter

    probe = MolVocab(["C"], kekulize=kekulize, charges=charges, hydrogens=hydrogens)
    per_mol: Counter[str] = Counter()
    total: Counter[str] = Counter()
    for m in mols:
        keys = [probe.key_of(a) for a in m.GetAtoms()]
        total.update(keys)
        per_mol.update(set(keys))
    types = sorted((k for k in per_mol if per_mol[k] >= min_count), key=lambda k: (-total[k], k))
    return MolVocab(types, kekulize=kekulize, charges=charges, unknown_atoms=unknown_atoms, hydrogens=hydrogens)
