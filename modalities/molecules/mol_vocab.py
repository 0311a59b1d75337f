"""Molecules ⇄ graphs of atom and bond classes: atom type names and the :class:`MolVocab`."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import cached_property
from typing import Iterable, Sequence

import numpy as np
import torch
from torch import Tensor

from pfgm.core.errors import ConfigError, DataError
from ..graphs.flat import GraphLayout, encode_classes
from .mol_repair import BOND_CLASS, bond_types, gdss_charge_rule, sanitize_or_none

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
        raise ConfigError(f"not an atom type name: {key!r} (expected e.g. 'C', 'N+', 'O-', 'Co+3', 'NH')")
    sym, h, q = m.groups()
    num_h = 0 if not h else (1 if h == "H" else int(h[1:]))
    charge = 0 if not q else (1 if q[0] == "+" else -1) * (int(q[1:]) if len(q) > 1 else 1)
    return sym, charge, num_h


class UnsupportedMolecule(DataError):
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
    """

    atom_types: list[str]
    kekulize: bool = True
    charges: bool = True
    unknown_atoms: str = "error"
    _index: dict[str, int] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        if self.unknown_atoms not in ("error", "other"):
            raise ConfigError(f"unknown_atoms must be 'error' or 'other', got {self.unknown_atoms!r}")
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

    @cached_property
    def bond_orders(self) -> Tensor:
        """(C,) the bond order of each bond class: none 0, single 1, double 2, triple 3, aromatic 1.5."""
        return torch.tensor([0.0, 1.0, 2.0, 3.0, 1.5][: self.edge_dim])

    @cached_property
    def max_valences(self) -> Tensor:
        """(F,) the most bond orders an atom of each type takes: the element's largest valence in
        RDKit's table, raised by the charge for N, P, O, S, Se (onium ions) and lowered by |charge|
        otherwise, less the type's H count; without charge types N, O and S take one more (the
        cation that decoding reads back, :func:`gdss_charge_rule`). The '*' type takes 4."""
        from rdkit import Chem

        table = Chem.GetPeriodicTable()
        out = []
        for t in self.atom_types:
            sym, charge, num_h = parse_atom_key(t)
            if sym == OTHER:
                out.append(4.0)
                continue
            v = max(table.GetValenceList(sym))
            v += charge if sym in ("N", "P", "O", "S", "Se") else -abs(charge)
            if not self.charges and sym in ("N", "O", "S") and charge == 0:
                v += 1
            out.append(float(v - num_h))
        return torch.tensor(out)

    def layout(self, n_max: int) -> GraphLayout:
        return GraphLayout(n_max, self.node_dim, self.edge_dim)

    def to_dict(self) -> dict:
        return {
            "atom_types": list(self.atom_types),
            "kekulize": self.kekulize,
            "charges": self.charges,
            "unknown_atoms": self.unknown_atoms,
        }

    # -- encoding ------------------------------------------------------------------------

    def key_of(self, atom) -> str:
        """The type name of an RDKit atom under this vocabulary (may be outside atom_types)."""
        charge = atom.GetFormalCharge() if self.charges else 0
        # In aromatic mode an aromatic heteroatom's H count is not implied by its bonds (pyridine n
        # vs pyrrole [nH] both have two aromatic bonds), so it becomes part of the type.
        aromatic_h = not self.kekulize and atom.GetIsAromatic() and atom.GetSymbol() != "C"
        num_h = atom.GetTotalNumHs() if aromatic_h else 0
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
            k = BOND_CLASS.get(str(b.GetBondType()))
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
                    f"molecule {smiles[i] if smiles else i} has {len(a)} heavy atoms, more than n_max={n_max}"
                )
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
            if num_h:
                atom.SetNumExplicitHs(num_h)
                atom.SetIsAromatic(True)
            rw.AddAtom(atom)
        bt = bond_types()
        bonds = np.asarray(bonds)
        for i, j in zip(*np.nonzero(np.triu(bonds, k=1))):
            i, j, k = int(i), int(j), int(bonds[i, j])
            rw.AddBond(i, j, bt[k])
            if k == 4:
                rw.GetBondBetweenAtoms(i, j).SetIsAromatic(True)
                rw.GetAtomWithIdx(i).SetIsAromatic(True)
                rw.GetAtomWithIdx(j).SetIsAromatic(True)
        if not self.charges:
            gdss_charge_rule(rw)
        return rw

    def decode(self, x: Tensor, mask: Tensor, n_max: int) -> list:
        """x, mask (B, dim) of the n_max layout (the inverse of :meth:`encode`) -> sanitized Mol or None each."""
        from ..graphs.flat import decode_classes

        return [self.decode_graph(a, b) for a, b in decode_classes(self.layout(n_max), x, mask)]

    def decode_graph(self, atoms: Sequence[int], bonds: np.ndarray | Tensor):
        """Graph classes -> sanitized RDKit Mol, or None if RDKit rejects it (no correction)."""
        return sanitize_or_none(self.graph_to_rwmol(atoms, bonds))


def vocab_from_mols(
    mols: Iterable, kekulize: bool = True, charges: bool = True, unknown_atoms: str = "error", min_count: int = 1
) -> MolVocab:
    """Atom types present in ``mols`` (those seen in ≥ min_count molecules), most frequent first."""
    from collections import Counter

    probe = MolVocab(["C"], kekulize=kekulize, charges=charges)
    per_mol: Counter[str] = Counter()
    total: Counter[str] = Counter()
    for m in mols:
        keys = [probe.key_of(a) for a in m.GetAtoms()]
        total.update(keys)
        per_mol.update(set(keys))
    types = sorted((k for k in per_mol if per_mol[k] >= min_count), key=lambda k: (-total[k], k))
    return MolVocab(types, kekulize=kekulize, charges=charges, unknown_atoms=unknown_atoms)
