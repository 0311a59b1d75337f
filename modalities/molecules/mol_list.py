"""A compact list of RDKit molecules: each kept as its binary pickle, rebuilt when read.

A parsed RDKit Mol costs about 12 KB of memory against a few hundred bytes pickled, so a training
set held as Mols outgrows the tensors encoded from it many times over (benchmarks/load.py's training
table, 3,876 → 38,760 QM9 SMILES: RSS +515 MB with Mols, +54 MB with this list). Rebuilding a Mol from its pickle takes microseconds and
keeps atoms, bonds, charges and aromaticity flags exactly.
"""

from __future__ import annotations

from typing import Any, Iterable, Iterator, Sequence, overload


class MolList(Sequence):
    """Sequence of RDKit Mols stored as ``Mol.ToBinary()`` bytes. Indexing returns a fresh Mol."""

    def __init__(self, mols: Iterable[Any] = ()):
        self._bins: list[bytes] = [m.ToBinary() for m in mols]

    @classmethod
    def _of(cls, bins: list[bytes]) -> "MolList":
        out = cls()
        out._bins = bins
        return out

    def append(self, mol: Any) -> None:
        self._bins.append(mol.ToBinary())

    def __len__(self) -> int:
        return len(self._bins)

    @overload
    def __getitem__(self, i: int) -> Any: ...
    @overload
    def __getitem__(self, i: slice) -> "MolList": ...

    def __getitem__(self, i):
        if isinstance(i, slice):
            return MolList._of(self._bins[i])
        from rdkit import Chem

        return Chem.Mol(self._bins[i])

    def __iter__(self) -> Iterator[Any]:
        from rdkit import Chem

        for b in self._bins:
            yield Chem.Mol(b)

    def take(self, indices: Iterable[int]) -> "MolList":
        """The molecules at ``indices``, still compact."""
        return MolList._of([self._bins[int(i)] for i in indices])

    def __add__(self, other: "MolList | Sequence[Any]") -> "MolList":
        other_bins = other._bins if isinstance(other, MolList) else [m.ToBinary() for m in other]
        return MolList._of(self._bins + other_bins)

    def nbytes(self) -> int:
        return sum(len(b) for b in self._bins)
