"""How germline-like a heavy-chain variable region (VH) is, region by region in IMGT numbering.

Every training VH of the ``olga_vh`` source is a human germline V gene up to its conserved Cys (IMGT 104),
a CDR3, and a germline J gene from its conserved Trp (IMGT 118). A generated VH a biologist would keep has
the same make-up: frameworks close to ONE germline V gene (FR1–FR3) and one J gene (FR4). IMGT regions:

    FR1 1–26 · CDR1 27–38 · FR2 39–55 · CDR2 56–65 · FR3 66–104 · CDR3 105–117 · FR4 118–128

Numbering a sample (``method``):

* ``anarci``: ANARCI's IMGT scheme, the field's numbering tool (``pip install anarci``; it runs the HMMER
  3.3 binaries, Debian package ``hmmer``; the ``hmmer`` wheel's HMMER 3.4 output is misread by ANARCI).
* ``alignment``: global alignment (BLOSUM62, gap open −10, extend −1; the sample's overhangs free) to each
  germline V gene, a sample residue taking the IMGT number of the germline residue it aligns to; residues
  inserted between two germline residues are insertions (in the CDR when one neighbour is in a CDR). The
  germline V genes' numbers were made once by ANARCI and ship in ``data/ighv_imgt.json``
  (``python -m pfgm.modalities.sequences.germline --write-table`` remakes it). FR4 is aligned the same way to
  each J gene's FR4 (WGQGTLVTVSS …, IMGT 118–128) in the rest of the sample.
* ``auto``: ANARCI where it runs, else alignment (:func:`numbering_method` says which).

Identity to a gene in a region: over the union of the IMGT positions either the sample or the gene occupies
in the region (plus the sample's insertions there), the share where both carry the same residue. A gene
scores 1 against itself; k substitutions in a framework of n positions score 1 − k/n; a deletion or an
insertion counts as one mismatch per residue. The nearest V gene is the one with the highest identity over
IMGT 1–104, the nearest J the one with the highest FR4 identity. A sample *keeps germline frameworks* when
one V gene is ≥ 90 % identical in each of FR1, FR2 and FR3 and one J gene ≥ 90 % in FR4.
"""

from __future__ import annotations

import difflib
import functools
import json
import logging
import math
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from pfgm.core.errors import ConfigError

log = logging.getLogger(__name__)

__all__ = [
    "REGIONS",
    "IMGT_REGIONS",
    "FRAMEWORKS",
    "Gene",
    "GermlineCall",
    "germline_genes",
    "gene",
    "numbering_method",
    "number",
    "aligned_vh",
    "germline_calls",
    "germline_summary",
    "identity_to",
    "label_matches",
]

#: IMGT regions (inclusive position ranges)
IMGT_REGIONS = {
    "fr1": (1, 26),
    "cdr1": (27, 38),
    "fr2": (39, 55),
    "cdr2": (56, 65),
    "fr3": (66, 104),
    "cdr3": (105, 117),
    "fr4": (118, 128),
}
REGIONS = tuple(IMGT_REGIONS)
V_REGIONS = ("fr1", "cdr1", "fr2", "cdr2", "fr3")
FRAMEWORKS = ("fr1", "fr2", "fr3", "fr4")
#: a framework at least this identical to one germline gene counts as germline
FRAMEWORK_THRESHOLD = 0.9
TABLE = Path(__file__).with_name("data") / "ighv_imgt.json"
_V_LEN, _J0, _J_LEN = 104, 118, 11  # V positions 1..104; FR4 118..128
#: per V position 1..104 (index 0 → IMGT 1), the region's index in V_REGIONS
_V_REGION_OF = np.asarray(
    [next(i for i, r in enumerate(V_REGIONS) if IMGT_REGIONS[r][0] <= p <= IMGT_REGIONS[r][1]) for p in range(1, _V_LEN + 1)]
)
#: alignment candidates: the V genes with the best alignment scores get a full numbering
TOP_V = 3


def region_of(pos: int) -> str:
    for r, (a, b) in IMGT_REGIONS.items():
        if a <= pos <= b:
            return r
    raise ValueError(f"IMGT position {pos} is outside 1..128")


@dataclass(frozen=True)
class Gene:
    """A germline gene: V genes up to their Cys 104 (IMGT 1–104), J genes from their Trp 118 (FR4)."""

    name: str
    aa: str
    positions: tuple[int, ...]  # the IMGT position of each residue
    tail: str = ""  # J genes: the templated end of the CDR3 before the Trp (YFDY for IGHJ4)

    def codes(self, length: int, first: int) -> np.ndarray:
        """Residues as bytes on positions first .. first+length−1 (0 where the gene has a gap)."""
        out = np.zeros(length, np.uint8)
        for p, a in zip(self.positions, self.aa):
            out[p - first] = ord(a)
        return out


def _translate(nt: str) -> str:
    from Bio.Seq import Seq

    return str(Seq(nt[: len(nt) // 3 * 3]).translate())


def _olga_v_fragments(model: str) -> list[tuple[str, str]]:
    """(name, amino acids up to and including the conserved Cys) of OLGA's V genes without a stop codon there."""
    from .antibody import olga_model

    out = []
    for name, cut, full in olga_model(model)["genomic"].genV:
        if not cut:
            continue
        v = _translate(full)[: (len(full) - len(cut)) // 3 + 1]
        if "*" not in v and v.endswith("C"):
            out.append((name, v))
    return out


@functools.lru_cache(maxsize=4)
def germline_genes(model: str = "human_B_heavy") -> tuple[tuple[Gene, ...], tuple[Gene, ...]]:
    """(V genes, J genes) of OLGA's model, V numbered by the shipped ANARCI table.

    A V gene of the model that the table lacks (another OLGA version) is left out with one warning.
    """
    from .antibody import olga_model

    table = json.loads(TABLE.read_text(encoding="utf-8"))["genes"]
    vs, missing = [], []
    for name, aa in _olga_v_fragments(model):
        row = table.get(name)
        if row is None or row["aa"] != aa:
            missing.append(name)
            continue
        vs.append(Gene(name, aa, tuple(int(p) for p in row["imgt"])))
    if missing:
        log.warning(
            "germline: %d V gene(s) of OLGA's %s are not in %s and are left out: %s",
            len(missing),
            model,
            TABLE.name,
            ", ".join(missing[:5]) + (" …" if len(missing) > 5 else ""),
        )
    js = []
    for name, cut, full in olga_model(model)["genomic"].genJ:
        fr4 = _translate(full[len(cut) - 3 :])[:_J_LEN]  # from the anchor Trp codon, the last of the CDR3 part
        tail = _translate(cut[len(cut) % 3 : -3])
        if fr4.startswith("W") and "*" not in fr4:
            js.append(Gene(name, fr4, tuple(range(_J0, _J0 + len(fr4))), tail))
    return tuple(vs), tuple(js)


def gene(name: str, model: str = "human_B_heavy") -> Gene:
    """A V or J gene by name (IGHV3-23*01, IGHJ4*02); an unknown name is a one-line error listing close ones."""
    vs, js = germline_genes(model)
    by = {g.name: g for g in (*vs, *js)}
    if name in by:
        return by[name]
    close = difflib.get_close_matches(name, list(by), n=5, cutoff=0.5)
    raise ConfigError(
        f"unknown germline gene {name!r} in OLGA's {model}; close names: "
        f"{', '.join(close) if close else 'none'} ({len(vs)} V and {len(js)} J genes)"
    )


# -- numbering --------------------------------------------------------------------------------------


@dataclass
class Numbered:
    """One sample in IMGT numbering: residues on V positions 1..104 and FR4 118..128 (0 = gap), the residues
    inserted between numbered positions ((sort key, residue), the key just above the position they follow),
    and the CDR3 (IMGT 105–117) as a string."""

    v: np.ndarray = field(default_factory=lambda: np.zeros(_V_LEN, np.uint8))
    j: np.ndarray = field(default_factory=lambda: np.zeros(_J_LEN, np.uint8))
    extra: list[tuple[float, str]] = field(default_factory=list)
    cdr3: str = ""

    @property
    def v_ins(self) -> np.ndarray:
        out = np.zeros(len(V_REGIONS), np.int64)
        for key, _ in self.extra:
            if key < _V_LEN + 1:
                out[_V_REGION_OF[int(key) - 1]] += 1
        return out

    @property
    def j_ins(self) -> int:
        return sum(key >= _J0 for key, _ in self.extra)

    def region(self, name: str) -> str:
        """The sample's residues in an IMGT region, insertions in place."""
        if name == "cdr3":
            return self.cdr3
        a, b = IMGT_REGIONS[name]
        arr, first = (self.j, _J0) if name == "fr4" else (self.v, 1)
        items = [(float(p), chr(arr[p - first])) for p in range(a, b + 1) if arr[p - first]]
        items += [(k, r) for k, r in self.extra if a <= k < b + 1]
        return "".join(r for _, r in sorted(items))


def _from_imgt(items: Sequence[tuple[tuple[int, str], str]]) -> Numbered:
    """Numbered from ANARCI's [((position, insertion code), residue)] (residue '-' for a gap)."""
    n = Numbered()
    cdr3 = []
    for k, ((pos, ins), a) in enumerate(items):
        if a == "-" or not 1 <= pos <= 128:
            continue
        ins = ins.strip()
        if 105 <= pos <= 117:
            cdr3.append(a)
        elif ins:
            n.extra.append((pos + 0.5 + k * 1e-4, a))  # after the position, in ANARCI's order
        elif pos <= _V_LEN:
            n.v[pos - 1] = ord(a)
        else:
            n.j[pos - _J0] = ord(a)
    n.cdr3 = "".join(cdr3)
    return n


@functools.lru_cache(maxsize=1)
def _aligner():
    from Bio.Align import PairwiseAligner, substitution_matrices

    a = PairwiseAligner()
    a.mode = "global"
    a.substitution_matrix = substitution_matrices.load("BLOSUM62")
    a.open_gap_score, a.extend_gap_score = -10.0, -1.0
    # target = the gene, query = the sample: sample residues over either end of the gene cost nothing
    if "end_insertion_score" in dir(a):  # (reading it raises when its left and right scores differ)
        a.end_insertion_score = 0.0
    else:  # Biopython < 1.86
        a.target_end_gap_score = 0.0
    return a


def _clean(seq: str) -> str:
    """Letters BLOSUM62 knows (anything else becomes X, which matches nothing germline)."""
    return "".join(c if c in "ARNDCQEGHILKMFPSTWYVBZX" else "X" for c in seq.upper())


def _transfer(g: Gene, seq: str, aligned) -> tuple[dict[int, str], dict[int, str], int, int]:
    """Per gene residue index the sample's residue, the residues inserted after a gene residue index, and
    the sample's first and one-past-last aligned index."""
    tb, qb = aligned
    res: dict[int, str] = {}
    ins: dict[int, str] = {}
    prev_t = prev_q = None
    for (t0, t1), (q0, q1) in zip(tb, qb):
        if prev_t is not None and q0 > prev_q:
            ins[prev_t - 1] = ins.get(prev_t - 1, "") + seq[prev_q : int(q0)]
        for k in range(int(t1 - t0)):
            res[int(t0) + k] = seq[int(q0) + k]
        prev_t, prev_q = int(t1), int(q1)
    first = int(qb[0][0]) if len(qb) else 0
    return res, ins, first, (prev_q if prev_q is not None else 0)


def _insertion_key(g: Gene, after: int, k: int) -> float:
    """Sort key of the k-th residue inserted after gene residue ``after``: inside a CDR when either neighbour
    is in one (CDRs vary in length, frameworks do not), else just after the preceding residue."""
    p = g.positions[after]
    nxt = g.positions[after + 1] if after + 1 < len(g.positions) else p + 1
    if not region_of(p).startswith("cdr") and region_of(nxt).startswith("cdr"):
        return nxt - 0.5 + k * 1e-3  # just before the CDR's first residue, in the CDR
    return p + 0.01 + k * 1e-3


def _number_v_by(g: Gene, seq: str) -> tuple[Numbered, int]:
    """The sample numbered through its alignment to V gene g; and the index after its last V residue."""
    al = _aligner().align(g.aa, seq)[0]
    res, ins, _, end = _transfer(g, seq, al.aligned)
    n = Numbered()
    for i, a in res.items():
        n.v[g.positions[i] - 1] = ord(a)
    for after, r in ins.items():
        n.extra += [(_insertion_key(g, after, k), a) for k, a in enumerate(r)]
    return n, end


def _number_j(seq: str, start: int, js: Sequence[Gene], n: Numbered) -> int:
    """Fill n's FR4 from the best-aligned J gene in seq[start:]; returns the sample index where FR4 begins."""
    rest = seq[start:]
    best = None
    for g in js:
        if not rest:
            break
        al = _aligner().align(g.aa, rest)[0]
        res, ins, first, _ = _transfer(g, rest, al.aligned)
        j = np.zeros(_J_LEN, np.uint8)
        for i, a in res.items():
            j[g.positions[i] - _J0] = ord(a)
        extra = [(g.positions[after] + 0.01 + k * 1e-3, a) for after, r in ins.items() for k, a in enumerate(r)]
        ident = _identity(j, g.codes(_J_LEN, _J0), len(extra))
        if best is None or ident > best[0]:
            best = (ident, j, extra, first)
    if best is None:
        return len(seq)
    _, n.j, extra, first = best
    n.extra += extra
    return start + first


def _identity(s: np.ndarray, g: np.ndarray, ins: int | np.ndarray = 0) -> float:
    union = int(((s > 0) | (g > 0)).sum()) + int(np.sum(ins))
    return float(((s == g) & (s > 0)).sum()) / union if union else math.nan


def _v_identities(n: Numbered, G: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per V gene (rows of G, (genes, 104) codes): identity per V region (genes, 5) and over 1–104 (genes,)."""
    s = n.v[None, :]
    match = (s == G) & (s > 0)
    union = (s > 0) | (G > 0)
    R = len(V_REGIONS)
    onehot = np.eye(R, dtype=np.int64)[_V_REGION_OF]  # (104, R)
    m = match.astype(np.int64) @ onehot
    u = union.astype(np.int64) @ onehot + n.v_ins[None, :]
    with np.errstate(invalid="ignore", divide="ignore"):
        per = np.where(u > 0, m / np.maximum(u, 1), np.nan)
    total = m.sum(1) / np.maximum(u.sum(1), 1)
    return per, total


# -- calls ------------------------------------------------------------------------------------------


@dataclass
class GermlineCall:
    """One sample's nearest germline genes and identities (0 everywhere when it could not be numbered)."""

    v: str | None
    j: str | None
    identity: dict[str, float]  # fr1, cdr1, fr2, cdr2, fr3 to the nearest V; fr4 to the nearest J
    v_identity: float  # over IMGT 1–104 to the nearest V
    frameworks_germline: bool  # FR1–FR3 ≥ 90 % to one V gene and FR4 ≥ 90 % to one J gene
    numbered: bool
    cdr3: str = ""


def _anarci_status() -> str | None:
    """None when ANARCI can number here, else why not (one line)."""
    try:
        import anarci  # noqa: F401
    except ImportError:
        return "ANARCI is not installed (pip install anarci; it needs Debian's hmmer)"
    if shutil.which("hmmscan") is None:
        return "ANARCI is installed but HMMER's hmmscan is not on PATH (apt-get install hmmer)"
    return None


@functools.lru_cache(maxsize=1)
def _anarci_works() -> str | None:
    why = _anarci_status()
    if why is not None:
        return why
    try:  # the hmmer wheel's HMMER 3.4 output breaks ANARCI's parser: try one germline gene
        v = germline_genes()[0][0]
        out = _anarci_number([v.aa + "ARDGYFDYWGQGTLVTVSS"])
        if out[0] is None or out[0].v[103] != ord("C"):
            return "ANARCI did not number a germline gene here"
    except Exception as e:  # noqa: BLE001 - any failure of the outside tool means: fall back
        return f"ANARCI failed here ({type(e).__name__}: {e})"
    return None


def numbering_method(method: str = "auto") -> tuple[str, str]:
    """(the method used: anarci | alignment, a one-line note saying which and why)."""
    if method not in ("auto", "anarci", "alignment"):
        raise ConfigError(f"numbering must be auto, anarci or alignment, got {method!r}")
    if method == "alignment":
        return "alignment", "germline regions by alignment to germline genes (IMGT numbers from ANARCI's table)"
    why = _anarci_works()
    if why is None:
        return "anarci", "germline regions by ANARCI's IMGT numbering"
    if method == "anarci":
        raise RuntimeError(f"numbering=anarci: {why}")
    return "alignment", f"germline regions by alignment to germline genes ({why})"


def _anarci_number(seqs: Sequence[str]) -> list[Numbered | None]:
    import contextlib
    import io
    import warnings

    from anarci import anarci

    with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()):
        warnings.simplefilter("ignore")  # Biopython's SearchIO warns on every HMMER record; ANARCI prints species notes
        numbered, _, _ = anarci(
            [(f"s{i}", _clean(s).replace("X", "G") or "G") for i, s in enumerate(seqs)],
            scheme="imgt",
            output=False,
            allow={"H"},
            ncpu=1,
        )
    return [None if not doms else _from_imgt(doms[0][0]) for doms in numbered]


def germline_calls(seqs: Sequence[str], method: str = "auto", model: str = "human_B_heavy") -> tuple[list[GermlineCall], str]:
    """Each sequence's nearest germline V and J genes with per-region identities; and the numbering note."""
    used, note = numbering_method(method)
    vs, js = germline_genes(model)
    G = np.stack([g.codes(_V_LEN, 1) for g in vs])
    J = np.stack([g.codes(_J_LEN, _J0) for g in js])
    calls: list[GermlineCall] = []
    if used == "anarci":
        for s, n in zip(seqs, _anarci_number(seqs)):
            calls.append(_call_numbered(n, vs, js, G, J) if n is not None else _unnumbered())
    else:
        for s in seqs:
            calls.append(_call_aligned(_clean(s), vs, js, G, J))
    return calls, note


def _unnumbered() -> GermlineCall:
    return GermlineCall(None, None, {r: 0.0 for r in (*V_REGIONS, "fr4")}, 0.0, False, False)


def _j_call(n: Numbered, js: Sequence[Gene], J: np.ndarray) -> tuple[int, np.ndarray]:
    """The nearest J gene by FR4 identity (J1, J4 and J5 share an FR4: ties go to the J whose templated CDR3
    end matches more of the sample's CDR3 end), and every J's FR4 identity."""
    ids = np.nan_to_num(np.asarray([_identity(n.j, J[k], n.j_ins) for k in range(len(js))]), nan=0.0)
    tied = np.flatnonzero(ids == ids.max())
    end = n.cdr3[::-1]
    k = max(tied, key=lambda t: (sum(a == b for a, b in zip(end, js[t].tail[::-1])), -t))
    return int(k), ids


def _fw_ok(per: np.ndarray) -> np.ndarray:
    fw = [V_REGIONS.index(r) for r in ("fr1", "fr2", "fr3")]
    return (np.nan_to_num(per[:, fw], nan=0.0) >= FRAMEWORK_THRESHOLD).all(1)


def _call_numbered(n: Numbered, vs, js, G, J) -> GermlineCall:
    per, total = _v_identities(n, G)
    k = int(np.argmax(total))
    jk, jids = _j_call(n, js, J)
    ident = {r: float(np.nan_to_num(per[k, i], nan=0.0)) for i, r in enumerate(V_REGIONS)}
    ident["fr4"] = float(jids[jk])
    ok = bool(_fw_ok(per).any() and jids.max() >= FRAMEWORK_THRESHOLD)
    return GermlineCall(vs[k].name, js[jk].name, ident, float(total[k]), ok, True, n.cdr3)


def _align_number(seq: str, vs, js, G) -> tuple[Numbered, int, np.ndarray, float, bool]:
    """Number seq through the best of its TOP_V best-scoring V genes (and the best J): (numbering, that V's
    index, its per-region identities, its identity over 1–104, whether any candidate keeps FR1–FR3 ≥ 90 %)."""
    scores = np.asarray([_aligner().score(g.aa, seq) for g in vs])
    best = None
    any_fw = False
    for k in np.argsort(-scores, kind="stable")[:TOP_V]:
        n, end = _number_v_by(vs[k], seq)
        per, total = _v_identities(n, G[k : k + 1])
        any_fw |= bool(_fw_ok(per)[0])
        if best is None or total[0] > best[0]:
            best = (float(total[0]), int(k), per[0], n, end)
    total, k, per, n, end = best
    j_start = _number_j(seq, end, js, n)
    n.cdr3 = seq[end:j_start]
    return n, k, per, total, any_fw


def _call_aligned(seq: str, vs, js, G, J) -> GermlineCall:
    if not seq:
        return _unnumbered()
    n, k, per, total, any_fw = _align_number(seq, vs, js, G)
    jk, jids = _j_call(n, js, J)
    ident = {r: float(np.nan_to_num(per[i], nan=0.0)) for i, r in enumerate(V_REGIONS)}
    ident["fr4"] = float(jids[jk])
    return GermlineCall(vs[k].name, js[jk].name, ident, total, bool(any_fw and jids.max() >= FRAMEWORK_THRESHOLD), True, n.cdr3)


def number(seq: str, method: str = "auto", model: str = "human_B_heavy") -> Numbered | None:
    """One sequence in IMGT numbering (``.region("cdr1")`` …); by alignment, through its nearest V gene.
    None when ANARCI does not take it for a heavy chain (or the sequence is empty)."""
    used, _ = numbering_method(method)
    if used == "anarci":
        return _anarci_number([seq])[0]
    vs, js = germline_genes(model)
    seq = _clean(seq)
    if not seq:
        return None
    return _align_number(seq, vs, js, np.stack([g.codes(_V_LEN, 1) for g in vs]))[0]


#: IMGT slots outside the CDR3 in the aligned layout: positions 1–104 and FR4 118–128
ALIGNED_FIXED = _V_LEN + _J_LEN


def _slots(n: Numbered, cdr3_width: int) -> str | None:
    if n.extra or len(n.cdr3) > cdr3_width:
        return None
    c, h = n.cdr3, (len(n.cdr3) + 1) // 2
    cdr3 = c[:h] + "-" * (cdr3_width - len(c)) + c[h:]
    as_text = lambda a: "".join(chr(x) if x else "-" for x in a)  # noqa: E731
    return as_text(n.v) + cdr3 + as_text(n.j)


def aligned_vh(
    vh: str, cdr3_width: int, v: str | None = None, cdr3_span: Sequence[int] | None = None, model: str = "human_B_heavy"
) -> str | None:
    """A heavy chain laid onto fixed IMGT slots, so that column i is the same structural position in every chain:
    positions 1–104 ('-' where the chain has none, e.g. IMGT 10 in most genes), the CDR3 (IMGT 105–117) in
    ``cdr3_width`` slots filled from both ends toward the middle (IMGT's rule: a CDR3 grows and shrinks at its
    centre, where 111/112 and their insertions sit), and FR4 118–128. Removing the '-' gives the chain back.

    With the V gene's name and the C … W slice (``cdr3_span``, what olga_vh records carry) the layout is read off the gene's IMGT
    numbering; otherwise the chain is numbered by alignment. None when it does not fit: a CDR3 longer than
    ``cdr3_width``, or residues inserted outside the CDR3.
    """
    n = None
    if v is not None and cdr3_span is not None:
        g = gene(v, model)
        c, w = int(cdr3_span[0]), int(cdr3_span[1]) - 1  # vh[c:w+1] is C … W: the Cys 104 to the Trp 118
        if vh[: c + 1] == g.aa and len(vh) - w <= _J_LEN:
            n = Numbered(cdr3=vh[c + 1 : w])
            n.v = g.codes(_V_LEN, 1)
            n.j[: len(vh) - w] = np.frombuffer(vh[w:].encode("ascii"), np.uint8)
    if n is None:
        n = number(vh, "alignment", model)
        if n is None:
            return None
    return _slots(n, cdr3_width)


def identity_to(
    seq: str, v: str, j: str | None = None, method: str = "alignment", model: str = "human_B_heavy"
) -> dict[str, float]:
    """Per-region identity of one sequence to the named V gene (and FR4 to the named J gene)."""
    gv = gene(v, model)
    if not gv.name.startswith("IGHV"):
        raise ConfigError(f"{v!r} is not a V gene")
    gj = gene(j, model) if j is not None else None
    _, js = germline_genes(model)
    used, _ = numbering_method(method)
    if used == "anarci":
        n = _anarci_number([seq])[0]
        if n is None:
            return {r: 0.0 for r in (*V_REGIONS, "fr4", "v")}
    else:
        n, end = _number_v_by(gv, _clean(seq))
        _number_j(_clean(seq), end, [gj] if gj else js, n)
    per, total = _v_identities(n, gv.codes(_V_LEN, 1)[None, :])
    out = {r: float(per[0, i]) for i, r in enumerate(V_REGIONS)}
    out["v"] = float(total[0])
    if gj is not None:
        out["fr4"] = _identity(n.j, gj.codes(_J_LEN, _J0), n.j_ins)
    return out


def label_matches(
    calls: Sequence[GermlineCall], requested: Sequence[tuple[str | None, str | None]], model: str = "human_B_heavy"
) -> dict[str, float]:
    """Share of samples whose nearest V (J) gene is the one they were generated with, over samples with a request.

    Alleles with the same amino acids cannot be told apart by any caller, so a call counts as the request
    when the two genes' germline amino acids are equal.
    """
    vs, js = germline_genes(model)
    aa = {g.name: g.aa for g in (*vs, *js)}
    same = lambda call, req: call is not None and (call == req or (req in aa and aa.get(call) == aa[req]))  # noqa: E731
    rows = [(c, r) for c, r in zip(calls, requested) if r[0] is not None or r[1] is not None]
    if not rows:
        return {}
    v = [same(c.v, r[0]) for c, r in rows if r[0] is not None]
    j = [same(c.j, r[1]) for c, r in rows if r[1] is not None]
    both = [(r[0] is None or same(c.v, r[0])) and (r[1] is None or same(c.j, r[1])) for c, r in rows]
    out = {"germline_label_match": float(np.mean(both))}
    if v:
        out["germline_v_match"] = float(np.mean(v))
    if j:
        out["germline_j_match"] = float(np.mean(j))
    return out


def germline_summary(calls: Sequence[GermlineCall], prefix: str = "germline_") -> dict[str, float]:
    """Means of the per-region identities, the share keeping germline frameworks, and the share numbered."""
    if not calls:
        return {}
    out = {f"{prefix}{r}_identity": float(np.mean([c.identity[r] for c in calls])) for r in (*V_REGIONS, "fr4")}
    out[f"{prefix}v_identity"] = float(np.mean([c.v_identity for c in calls]))
    out[f"{prefix}frameworks_90"] = float(np.mean([c.frameworks_germline for c in calls]))
    out[f"{prefix}numbered"] = float(np.mean([c.numbered for c in calls]))
    return out


# -- the shipped table ------------------------------------------------------------------------------


def build_table(model: str = "human_B_heavy") -> dict[str, Any]:
    """ANARCI's IMGT numbering of every functional V gene of OLGA's model (needs ANARCI and hmmer).

    Each gene is numbered with a CDR3 and FR4 appended (ARDGYFDYW GQGTLVTVSS) so ANARCI sees a whole domain;
    only the gene's own residues (up to its Cys 104) are kept.
    """
    import anarci as anarci_pkg

    why = _anarci_status()
    if why is not None:
        raise RuntimeError(why)
    frags = _olga_v_fragments(model)
    from anarci import anarci

    numbered, _, _ = anarci([(n, v + "ARDGYFDYWGQGTLVTVSS") for n, v in frags], scheme="imgt", output=False, allow={"H"}, ncpu=1)
    genes = {}
    for (name, v), doms in zip(frags, numbered):
        if not doms or doms[0][1] != 0:
            raise RuntimeError(f"ANARCI did not number {name} from its first residue")
        keys = [k for k, a in doms[0][0] if a != "-"][: len(v)]
        if any(ins.strip() for _, ins in keys) or keys[-1][0] != 104:
            raise RuntimeError(f"{name}: unexpected numbering {keys[-3:]} (insertions, or the Cys not at 104)")
        genes[name] = {"aa": v, "imgt": [p for p, _ in keys]}
    return {
        "about": f"IMGT numbering by ANARCI {getattr(anarci_pkg, '__version__', '')} of the functional V genes "
        f"of OLGA's {model} model, residues 1 to the conserved Cys 104 "
        "(python -m pfgm.modalities.sequences.germline --write-table)".replace("ANARCI  ", "ANARCI "),
        "genes": genes,
    }


def _main(argv: Sequence[str] | None = None) -> int:
    import argparse

    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--write-table", action="store_true", help=f"remake {TABLE} with ANARCI")
    args = p.parse_args(argv)
    if args.write_table:
        TABLE.parent.mkdir(exist_ok=True)
        t = build_table()
        rows = ",\n".join(f"{json.dumps(k)}: {json.dumps(v)}" for k, v in t["genes"].items())
        TABLE.write_text(f'{{"about": {json.dumps(t["about"])},\n"genes": {{\n{rows}\n}}}}\n', encoding="utf-8")
        print(f"wrote {TABLE}")
    return 0


if __name__ == "__main__":
    raise SystemExit(_main())
