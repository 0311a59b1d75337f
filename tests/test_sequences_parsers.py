"""Sequence alphabets and parsers: cleaning, ambiguity policy, and malformed input named by file, line and record."""

import gzip

import pytest

pytest.importorskip("Bio", reason="the sequences extra (biopython) is not installed")

from pfgm.modalities.sequences.alphabet import Alphabet, SymbolError
from pfgm.modalities.sequences.parsers import guess_format, read_sequences
from pfgm.modalities.shared.records import RecordError

PROT = Alphabet("protein")
RNA = Alphabet("rna")


def test_alphabet_cleaning_and_codes():
    assert RNA.normalise(" acgt\nTTu ") == "ACGUUUU"  # lowercase, whitespace, T→U
    assert PROT.normalise("ca-r.d") == "CARD"  # gaps dropped when not aligned
    assert Alphabet("protein", gap=True).normalise("ca-r.d") == "CA-R-D"
    assert PROT.size == 20 and RNA.size == 4 and Alphabet("rna", gap=True).size == 5
    assert PROT.decode(PROT.encode("CARDW")) == "CARDW"
    with pytest.raises(SymbolError, match="ambiguity code 'X' at position 3"):
        PROT.check("CAXW")
    with pytest.raises(SymbolError, match="character 'E' at position 2 is not in the rna alphabet"):
        RNA.check("AEGU")
    with pytest.raises(ValueError, match="custom alphabet needs its symbols"):
        Alphabet("custom")


def _write(tmp_path, name, text):
    p = tmp_path / name
    p.write_text(text)
    return p


def test_fasta_records_and_line_numbers(tmp_path):
    p = _write(tmp_path, "a.fasta", ">s1 first one\nCARD\nGYW\n\n>s2\ncasw\n")
    items, rep = read_sequences(p, PROT)
    assert [(i.id, i.seq, i.line, i.description) for i in items] == [("s1", "CARDGYW", 1, "first one"), ("s2", "CASW", 5, "")]
    assert rep.kept == 2 and rep.records == 2


def test_fasta_missing_header(tmp_path):
    p = _write(tmp_path, "nohead.fa", "\nCARDW\n>s2\nCASW\n")
    with pytest.raises(RecordError, match=r"nohead\.fa:2: sequence line before the first '>' header"):
        read_sequences(p, PROT)


@pytest.mark.parametrize("policy", ["error", "skip"])
def test_empty_record(tmp_path, policy):
    p = _write(tmp_path, "e.fa", ">s1\nCARDW\n>empty\n>s3\nCASW\n")
    if policy == "error":
        with pytest.raises(RecordError, match=r"e\.fa:3: \[empty\] empty record"):
            read_sequences(p, PROT, policy=policy)
    else:
        items, rep = read_sequences(p, PROT, policy=policy)
        assert [i.id for i in items] == ["s1", "s3"]
        assert rep.count("empty records") == 1 and rep.lines("empty records") == [3]


@pytest.mark.parametrize("policy", ["error", "skip"])
def test_foreign_and_ambiguous_symbols(tmp_path, policy):
    p = _write(tmp_path, "r.fa", ">ok\nACGU\n>amb\nACNU\n>foreign\nACEU\n>ok2\nggcc\n")
    if policy == "error":
        with pytest.raises(RecordError, match=r"r\.fa:3: \[amb\] ambiguity code 'N' at position 3"):
            read_sequences(p, RNA, policy=policy)
        with pytest.raises(RecordError, match=r"f\.fa:3: \[foreign\] character 'E' .* not in the rna alphabet"):
            read_sequences(_write(tmp_path, "f.fa", ">ok\nACGU\n>foreign\nACEU\n"), RNA)
    else:
        items, rep = read_sequences(p, RNA, policy=policy)
        assert [i.seq for i in items] == ["ACGU", "GGCC"]
        assert rep.count("with ambiguity codes") == 1
        assert rep.count("with characters outside the rna alphabet") == 1
        assert rep.records == 4 and rep.kept == 2


def test_binary_file(tmp_path):
    p = tmp_path / "b.fasta"
    p.write_bytes(b">x\n\x00\x01\x02\xff")
    with pytest.raises(RecordError, match="binary"):
        read_sequences(p, PROT)


def test_max_length_is_a_counted_skip(tmp_path):
    p = _write(tmp_path, "l.fa", ">a\nCARDW\n>b\nCARDGGGGGW\n")
    items, rep = read_sequences(p, PROT, max_length=6)
    assert [i.id for i in items] == ["a"] and rep.count("longer than max_length 6") == 1


def test_gzip_fasta(tmp_path):
    p = tmp_path / "g.fa.gz"
    with gzip.open(p, "wt") as f:
        f.write(">a\nCARDW\n")
    assert guess_format(p) == "fasta"
    assert [i.seq for i in read_sequences(p, PROT)[0]] == ["CARDW"]


def test_stockholm_aligned_and_unaligned(tmp_path):
    p = _write(tmp_path, "fam.sto", "# STOCKHOLM 1.0\n#=GF ID test\nseq1  ACG-U.A\nseq2  ACGAUUA\n#=GC SS_cons <<..>>.\n//\n")
    items, _ = read_sequences(p, RNA)
    assert [(i.id, i.seq, i.line) for i in items] == [("seq1", "ACGUA", 3), ("seq2", "ACGAUUA", 4)]
    aligned, _ = read_sequences(p, Alphabet("rna", gap=True))
    assert [i.seq for i in aligned] == ["ACG-U-A", "ACGAUUA"]
    with pytest.raises(RecordError, match=r"bad\.sto: not a readable stockholm file"):
        read_sequences(_write(tmp_path, "bad.sto", "hello\n"), RNA)


def test_aligned_mode_needs_one_length(tmp_path):
    p = _write(tmp_path, "al.fa", ">a\nCA-DW\n>b\nCARW\n")
    with pytest.raises(RecordError, match=r"al\.fa:3: \[b\] aligned mode needs one length"):
        read_sequences(p, Alphabet("protein", gap=True))


GENBANK = """LOCUS       AB000001                  12 bp    RNA     linear   SYN 01-JAN-2000
DEFINITION  test record.
ACCESSION   AB000001
VERSION     AB000001.1
KEYWORDS    .
SOURCE      synthetic
  ORGANISM  synthetic
            other.
FEATURES             Location/Qualifiers
ORIGIN
        1 acgtacgtac gt
//
"""


def test_genbank(tmp_path):
    p = _write(tmp_path, "x.gb", GENBANK)
    items, _ = read_sequences(p, RNA)
    assert [(i.id, i.seq, i.line) for i in items] == [("AB000001.1", "ACGUACGUACGU", 1)]


def test_oas_csv_with_metadata_line_and_column(tmp_path):
    text = '"{""Species"": ""human"", ""Chain"": ""Heavy""}"\nsequence_id,cdr3_aa,v_call\nr1,CARDW,IGHV1\nr2,CAXW,IGHV3\n'
    p = _write(tmp_path, "unit.csv", text)
    items, rep = read_sequences(p, PROT, column="cdr3_aa", policy="skip")
    assert [(i.id, i.seq, i.line, i.meta["v_call"]) for i in items] == [("r1", "CARDW", 3, "IGHV1")]
    assert rep.lines("with ambiguity codes") == [4]
    with pytest.raises(RecordError, match=r"unit\.csv:2: no column 'cdr3'"):
        read_sequences(p, PROT, column="cdr3")
    with pytest.raises(RecordError, match=r"unit\.csv:4: \[r2\] ambiguity code 'X'"):
        read_sequences(p, PROT, column=1)
