"""Sequence files → cleaned records, with line numbers and a count of everything skipped.

Formats (by ``format=`` or the file's extension, ``.gz`` allowed): FASTA (Biopython's
``SimpleFastaParser``), Stockholm and GenBank (Biopython's ``SeqIO``), and CSV / TSV such as OAS
data units (a column chosen by name or index; OAS's first line of JSON metadata is skipped).

Every record is cleaned by the :class:`~modalities.sequences.alphabet.Alphabet` and checked. A
record with an ambiguity code or a foreign character, or an empty record, follows ``policy``:
``error`` raises :class:`RecordError` (``path:line: [record-id] message``), ``skip`` drops it and
counts it in the :class:`LoadReport`. A file that cannot be read as text (binary, not UTF-8) or a
FASTA file whose first sequence line has no '>' header is always an error. Records longer than
``max_length`` are skipped and counted (a size limit, not a fault of the file). A protein record
ending in '*' (the stop codon translated FASTA files carry) has it stripped and counted
(``stop_codons="strip"``, the default); ``"keep"`` leaves it to ``policy`` like any other code.
"""

from __future__ import annotations

import csv
import io
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pfgm.core.errors import ConfigError
from pfgm.modalities.shared.records import LoadReport, RecordError, numbered_lines, open_text

from .alphabet import Alphabet, SymbolError

__all__ = ["SeqItem", "read_sequences", "guess_format", "FORMATS", "STOP_CODON_POLICIES", "STOP_STRIPPED"]

#: what a trailing '*' (a translated stop codon) on a protein record does: stripped (counted), or kept as a symbol
STOP_CODON_POLICIES = ("strip", "keep")
#: the load report's name for records whose trailing stop codon was stripped
STOP_STRIPPED = "trailing '*' stop codons stripped"

FORMATS = {
    "fasta": (".fa", ".fasta", ".fas", ".fna", ".faa", ".ffn", ".frn"),
    "stockholm": (".sto", ".stk", ".sth", ".stockholm"),
    "genbank": (".gb", ".gbk", ".genbank", ".gbff"),
    "csv": (".csv", ".tsv"),
}


@dataclass
class SeqItem:
    """One cleaned sequence. line: where its record starts in the file (1-based; None if unknown)."""

    id: str
    seq: str
    line: int | None = None
    description: str = ""
    meta: dict[str, Any] = field(default_factory=dict)


def guess_format(path: str | Path) -> str:
    name = Path(path).name.lower()
    if name.endswith(".gz"):
        name = name[:-3]
    for fmt, exts in FORMATS.items():
        if name.endswith(exts):
            return fmt
    raise ConfigError(f"cannot tell the format of {path} from its extension; set format: fasta | stockholm | genbank | csv")


def _admit(
    item: SeqItem,
    raw: str,
    alphabet: Alphabet,
    policy: str,
    max_length: int | None,
    path: Path,
    report: LoadReport,
    out: list[SeqItem],
    stop_codons: str = "strip",
) -> None:
    report.seen()
    seq = alphabet.normalise(raw)
    if stop_codons == "strip" and alphabet.kind == "protein" and seq.endswith("*"):
        # a translation's stop, not part of the protein; only the last one: an inner '*' is a premature stop
        seq = seq[:-1]
        report.fix(STOP_STRIPPED, line=item.line)
    if not seq:
        if policy == "error":
            raise RecordError(path, item.line, "empty record (no sequence)", record=item.id)
        report.skip("empty records", line=item.line)
        return
    try:
        alphabet.check(seq)
    except SymbolError as e:
        reason = "with ambiguity codes" if e.ambiguous else f"with characters outside the {alphabet.kind} alphabet"
        if policy == "error":
            raise RecordError(path, item.line, f"{e} (set unknown: skip to drop such records)", record=item.id) from None
        report.skip(reason, line=item.line)
        return
    if max_length is not None and len(seq) > max_length:
        report.skip(f"longer than max_length {max_length}", line=item.line)
        return
    item.seq = seq
    report.keep()
    out.append(item)


#: a dot-bracket structure line, optionally with RNAfold's energy: "((..)).. (-3.20)"
_STRUCTURE_LINE = re.compile(r"^(?=[^()]*[()])[().\[\]{}<>]+(\s+\(\s*-?\d+(\.\d+)?\))?\s*$")


def _read_fasta(path: Path, emit) -> None:
    from Bio.SeqIO.FastaIO import SimpleFastaParser

    # Line numbers of the headers first: Biopython's parser silently drops text before the first
    # '>' (a missing header would lose a sequence without a word), and it reports no lines.
    headers: list[int] = []
    for n, text in numbered_lines(path, "FASTA file"):
        if text.startswith(">"):
            headers.append(n)
        elif text.strip() and not headers and not text.startswith(";"):
            raise RecordError(path, n, "sequence line before the first '>' header (missing header?)")
    with open_text(path, "FASTA file") as f:
        # RNAfold-style files (ours included) put the dot-bracket structure under the sequence
        body = (line for line in f if not _STRUCTURE_LINE.match(line))
        for k, (title, seq) in enumerate(SimpleFastaParser(body)):
            rid = title.split(None, 1)[0] if title.strip() else f"record{k + 1}"
            desc = title.split(None, 1)[1] if len(title.split(None, 1)) > 1 else ""
            emit(SeqItem(rid, "", headers[k], desc), seq)


def _read_biopython(path: Path, fmt: str, emit) -> None:
    from Bio import SeqIO

    starts: dict[str, int] = {}
    locus: list[int] = []
    for n, text in numbered_lines(path, f"{fmt} file"):
        if fmt == "genbank" and text.startswith("LOCUS"):
            locus.append(n)
        elif fmt == "stockholm" and text.strip() and not text.startswith(("#", "//")):
            starts.setdefault(text.split()[0], n)
    with open_text(path, f"{fmt} file") as f:
        try:
            records = list(SeqIO.parse(f, fmt))
        except (ValueError, AssertionError) as e:  # Biopython's Stockholm parser asserts on malformed lines
            first = (str(e).strip().splitlines() or ["malformed input"])[0]
            raise RecordError(path, None, f"not a readable {fmt} file: {first}") from None
    if not records and fmt == "stockholm":
        raise RecordError(path, 1, "no Stockholm alignment found (expected '# STOCKHOLM 1.0' ... '//')")
    for k, r in enumerate(records):
        line = locus[k] if fmt == "genbank" and k < len(locus) else starts.get(r.id)
        try:
            raw = str(r.seq)
        except Exception:  # GenBank records with an undefined sequence (CONTIG-only entries)
            raw = ""
        emit(SeqItem(r.id, "", line, r.description if r.description != r.id else ""), raw)


def _read_csv(path: Path, column: str | int | None, id_column: str | int | None, emit) -> None:
    if column is None:
        raise ConfigError(f"{path}: a CSV source needs column: <name or index> (e.g. cdr3_aa, sequence_alignment_aa)")
    delim = "\t" if ".tsv" in path.name.lower() else ","
    with open_text(path, "CSV file") as f:
        try:
            first = f.readline()
        except UnicodeDecodeError:
            raise RecordError(path, 1, "is not UTF-8 text") from None
        offset = 0
        if first.lstrip().startswith(('"{', "{")):  # OAS data units: one JSON metadata line
            offset, first = 1, f.readline()
        reader = csv.reader(io.StringIO(first + f.read()), delimiter=delim)
        try:
            header = next(reader)
        except StopIteration:
            raise RecordError(path, 1 + offset, "empty CSV file (no header row)") from None

        def col(c, what):
            if isinstance(c, int) or (isinstance(c, str) and c.isdigit()):
                i = int(c)
                if not 0 <= i < len(header):
                    raise RecordError(path, 1 + offset, f"{what} index {i} out of range ({len(header)} columns)")
                return i
            if c not in header:
                raise RecordError(path, 1 + offset, f"no {what} {c!r}; columns: {', '.join(header[:20])}")
            return header.index(c)

        ci = col(column, "column")
        ii = (
            col(id_column, "id column")
            if id_column is not None
            else (header.index("sequence_id") if "sequence_id" in header else None)
        )
        for row in reader:
            line = reader.line_num + offset
            if not any(x.strip() for x in row):
                continue
            rid = row[ii] if ii is not None and ii < len(row) else f"row{line}"
            emit(
                SeqItem(rid, "", line, meta={h: v for h, v in zip(header, row) if h != header[ci]}),
                row[ci] if ci < len(row) else "",
            )


def read_sequences(
    path: str | Path,
    alphabet: Alphabet,
    format: str | None = None,
    column: str | int | None = None,
    id_column: str | int | None = None,
    policy: str = "error",
    max_length: int | None = None,
    stop_codons: str = "strip",
) -> tuple[list[SeqItem], LoadReport]:
    """(kept records, report) from one file. policy: error | skip (ambiguity codes, foreign characters, empty records);
    stop_codons: strip | keep (a protein record's trailing '*')."""
    if policy not in ("error", "skip"):
        raise ConfigError(f"unknown: must be error or skip, got {policy!r}")
    if stop_codons not in STOP_CODON_POLICIES:
        raise ConfigError(f"stop_codons must be {' or '.join(STOP_CODON_POLICIES)}, got {stop_codons!r}")
    path = Path(path).expanduser()
    fmt = (format or guess_format(path)).lower()
    report = LoadReport(str(path))
    out: list[SeqItem] = []
    emit = lambda item, raw: _admit(item, raw, alphabet, policy, max_length, path, report, out, stop_codons)  # noqa: E731
    if fmt == "fasta":
        _read_fasta(path, emit)
    elif fmt in ("stockholm", "genbank"):
        _read_biopython(path, fmt, emit)
    elif fmt in ("csv", "tsv"):
        _read_csv(path, column, id_column, emit)
    else:
        raise ConfigError(f"unknown sequence format {fmt!r}; expected one of {', '.join(FORMATS)}")
    if alphabet.gap and out and len({len(i.seq) for i in out}) > 1:
        lens = sorted({len(i.seq) for i in out})
        bad = next(i for i in out if len(i.seq) != len(out[0].seq))
        raise RecordError(path, bad.line, f"aligned mode needs one length, found lengths {lens[:6]}", record=bad.id)
    return out, report
