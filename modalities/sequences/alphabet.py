"""Sequence alphabets: the symbols a model's one-hot channels stand for, and how raw text is cleaned.

An :class:`Alphabet` maps a cleaned sequence to class indices and back. Padding is not a symbol:
padded positions are zero vectors with mask 0, so a sample of length L lives in exactly L·K
dimensions. Aligned data adds the gap '-' as one more symbol (a gap is a real, generated entry).

Cleaning (:meth:`Alphabet.normalise`): whitespace removed, upper-cased; RNA also turns T into U
(DNA-style files of RNA families), and '.' gaps (Stockholm) into '-'. What is left that is not a
symbol is either an *ambiguity code* (X, B, Z, ... for proteins; N, R, Y, ... for nucleotides) or
a *foreign* character (a digit, 'E' in RNA); :meth:`Alphabet.check` names which, and the loader
applies the declared policy to both: ``error`` (RecordError naming file, line and record) or
``skip`` (the record is dropped and counted).
"""

from __future__ import annotations

from typing import Sequence

from pfgm.core.errors import ConfigError, DataError

__all__ = ["PROTEIN", "RNA", "GAP", "AMBIGUITY", "Alphabet", "SymbolError"]

#: the 20 standard amino acids, alphabetical by one-letter code
PROTEIN = "ACDEFGHIKLMNPQRSTVWY"
#: RNA nucleotides
RNA = "ACGU"
#: the gap symbol of aligned data
GAP = "-"
#: IUPAC ambiguity and non-standard codes, per kind (selenocysteine U and pyrrolysine O are not
#: among the 20 channels, so they are treated as ambiguous: a declared policy, not a silent drop)
AMBIGUITY = {"protein": frozenset("XBZJUO*"), "rna": frozenset("NRYKMSWBDHV")}


class SymbolError(DataError):
    """A cleaned sequence holds a character that is not a symbol. ``position`` is 0-based."""

    def __init__(self, char: str, position: int, kind: str, ambiguous: bool):
        self.char, self.position, self.kind, self.ambiguous = char, position, kind, ambiguous
        what = "ambiguity code" if ambiguous else "character"
        tail = "" if ambiguous else f" is not in the {kind} alphabet"
        super().__init__(f"{what} {char!r} at position {position + 1}{tail}")


class Alphabet:
    """kind: "protein" | "rna" | "custom" (then ``symbols`` is required); gap: add '-' as a symbol."""

    def __init__(self, kind: str = "protein", symbols: str | Sequence[str] | None = None, gap: bool = False):
        kind = str(kind).lower()
        if kind not in ("protein", "rna", "custom"):
            raise ConfigError(f"alphabet must be protein, rna or custom, got {kind!r}")
        base = {"protein": PROTEIN, "rna": RNA}.get(kind)
        syms = "".join(symbols) if symbols is not None else base
        if syms is None:
            raise ConfigError("a custom alphabet needs its symbols, e.g. symbols: ACGT")
        syms = syms.upper()
        if len(set(syms)) != len(syms) or GAP in syms:
            raise ConfigError(f"alphabet symbols must be distinct single characters without '-': {syms!r}")
        self.kind, self.gap = kind, bool(gap)
        self.symbols = syms + (GAP if gap else "")
        self._index = {c: i for i, c in enumerate(self.symbols)}

    @property
    def size(self) -> int:
        """K, the number of one-hot channels (the gap included when aligned)."""
        return len(self.symbols)

    def __repr__(self) -> str:
        return f"Alphabet({self.kind!r}, symbols={self.symbols!r})"

    def to_config(self) -> dict:
        return {"alphabet": self.kind, "symbols": self.symbols.rstrip(GAP) if self.gap else self.symbols, "aligned": self.gap}

    def normalise(self, seq: str) -> str:
        """Upper case, no whitespace; RNA: T→U; '.' gaps → '-' (then dropped unless the alphabet has gaps)."""
        s = "".join(seq.split()).upper().replace(".", GAP)
        if self.kind == "rna":
            s = s.replace("T", "U")
        if not self.gap:
            s = s.replace(GAP, "")
        return s

    def check(self, seq: str) -> str:
        """The cleaned sequence, or SymbolError for its first character that is not a symbol."""
        for i, c in enumerate(seq):
            if c not in self._index:
                raise SymbolError(c, i, self.kind, c in AMBIGUITY.get(self.kind, ()))
        return seq

    def encode(self, seq: str) -> list[int]:
        """Class indices of a cleaned sequence (SymbolError on a non-symbol)."""
        self.check(seq)
        return [self._index[c] for c in seq]

    def decode(self, idx: Sequence[int]) -> str:
        return "".join(self.symbols[int(i)] for i in idx)
