"""Reading record files (SMILES, FASTA, Stockholm, CSV, ...) with line numbers, and counting what was skipped.

A loader reads records and keeps or skips each one. Nothing is dropped silently: a
:class:`LoadReport` counts every skip by reason and keeps the first few line numbers or record ids,
and its one-line summary names the file. Input that cannot be read at all (a binary file, a file in
another encoding) raises :class:`RecordError` naming the file and the line, never a codec traceback.
"""

from __future__ import annotations

import gzip
import io
import logging
import os
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Iterator

from pfgm.core.errors import DataError

__all__ = ["MAX_REPORTED", "RecordError", "DataLoadWarning", "LoadReport", "open_text", "numbered_lines"]

log = logging.getLogger(__name__)

#: how many offending lines / record ids a report keeps per reason
MAX_REPORTED = 5


class RecordError(DataError):
    """A record (or the whole file) cannot be read. ``str()`` is ``path:line: [record] message``."""

    def __init__(self, path: str | os.PathLike, line: int | None, message: str, record: str | None = None):
        self.path, self.line, self.record, self.message = str(path), line, record, message
        where = self.path if line is None else f"{self.path}:{line}"
        super().__init__(f"{where}: {'' if record is None else f'[{record}] '}{message}")


class DataLoadWarning(UserWarning):
    """Records were skipped while loading (the message says how many and where)."""


@dataclass
class LoadReport:
    """What a loader read (``records``), kept, and skipped by reason (with the first lines / ids);
    ``fixed``: records kept after a declared repair (a stop codon stripped), counted by repair."""

    source: str
    records: int = 0
    kept: int = 0
    header: bool = False
    skipped: dict[str, int] = field(default_factory=dict)
    examples: dict[str, list[str | int]] = field(default_factory=dict)
    fixed: dict[str, int] = field(default_factory=dict)

    def seen(self, n: int = 1) -> None:
        self.records += n

    def keep(self, n: int = 1) -> None:
        self.kept += n

    def skip(self, reason: str, line: int | None = None, record: str | None = None) -> None:
        """Count one skipped record under ``reason``; keep its line number or record id as an example."""
        self.skipped[reason] = self.skipped.get(reason, 0) + 1
        ex = self.examples.setdefault(reason, [])
        example = line if line is not None else record
        if example is not None and len(ex) < MAX_REPORTED:
            ex.append(example)

    def fix(self, repair: str, line: int | None = None, record: str | None = None) -> None:
        """Count one record kept after ``repair``; its line or id is kept as an example, as for skips."""
        self.fixed[repair] = self.fixed.get(repair, 0) + 1
        ex = self.examples.setdefault(repair, [])
        example = line if line is not None else record
        if example is not None and len(ex) < MAX_REPORTED:
            ex.append(example)

    def count(self, reason: str) -> int:
        return self.skipped.get(reason, 0)

    def lines(self, reason: str) -> list[str | int]:
        """The first (≤ MAX_REPORTED) line numbers or record ids skipped for ``reason``."""
        return list(self.examples.get(reason, []))

    def summary(self) -> str:
        parts = [f"{self.source}: kept {self.kept} of {self.records} records"]
        if self.header:  # said, so a first record wrongly taken for a header would not go unseen
            parts.append("a header row skipped (not counted as a record)")
        for reason, n in (*self.skipped.items(), *self.fixed.items()):
            ex = self.examples.get(reason, [])
            if not ex:
                parts.append(f"{n} {reason}")
                continue
            what = "lines" if all(isinstance(e, int) for e in ex) else "e.g."
            more = ", ..." if n > len(ex) else ""
            parts.append(f"{n} {reason} ({what} {', '.join(map(str, ex))}{more})")
        return "; ".join(parts)

    def warn(self) -> None:
        """A :class:`DataLoadWarning` with the summary when anything was skipped or repaired (and a log line either way)."""
        if self.skipped or self.fixed:
            warnings.warn(self.summary(), DataLoadWarning, stacklevel=3)
        log.info(self.summary())

    def to_dict(self) -> dict:
        return {
            "source": self.source,
            "records": self.records,
            "kept": self.kept,
            "header": self.header,
            "skipped": dict(self.skipped),
            "fixed": dict(self.fixed),
            "examples": {k: list(v) for k, v in self.examples.items()},
        }


def open_text(path: str | os.PathLike, what: str = "file") -> IO[str]:
    """Open a text file (``.gz`` transparently) as strict UTF-8, a leading byte-order mark dropped (editors on
    Windows write one; left in, it would glue itself to the first header or SMILES); a missing file is FileNotFoundError
    naming it, a binary file (NUL bytes in its first 8 KiB) a RecordError. Decoding errors further in
    surface through :func:`numbered_lines` with their line number."""
    p = Path(path)
    if not p.exists():
        raise FileNotFoundError(f"{what} not found: {p}")
    if p.is_dir():
        raise RecordError(p, None, f"is a directory, expected a {what}")
    raw = gzip.open(p, "rb") if p.suffix == ".gz" else open(p, "rb")
    try:
        head = raw.peek(8192)[:8192] if hasattr(raw, "peek") else b""
    except (OSError, EOFError) as e:
        raw.close()
        raise RecordError(p, None, f"cannot be read ({type(e).__name__}: {e})") from None
    if b"\x00" in head:
        raw.close()
        raise RecordError(p, 1, f"looks like a binary file (NUL bytes), expected a text {what}")
    return io.TextIOWrapper(raw, encoding="utf-8-sig", errors="strict", newline=None)


def numbered_lines(path: str | os.PathLike, what: str = "file") -> Iterator[tuple[int, str]]:
    """(1-based line number, line without its newline) for every line of a text file.

    A line that is not valid UTF-8 raises RecordError with its number (the lines before it were yielded).
    """
    with open_text(path, what) as f:
        n = 0
        while True:
            try:
                line = f.readline()
            except UnicodeDecodeError as e:
                raise RecordError(path, n + 1, f"is not UTF-8 text ({e.reason} at byte {e.start} of the chunk)") from None
            if not line:
                return
            n += 1
            yield n, line.rstrip("\r\n")
