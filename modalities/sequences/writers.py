"""FASTA output: generated ids, per-sequence scores in the description, and for RNA the dot-bracket line.

    >gen_000001 len=18 log10_pgen=-9.41
    CARDGYSSGWYFDYW

RNA records follow ViennaRNA's RNAfold layout, the MFE structure on the line after the sequence:

    >gen_000001 len=30 mfe=-8.90 bp_distance=0 folds_to_target=1
    GGCAUCCGAAAGGAUGCC...
    ....((((((((......))))))))....

Written atomically (pfgm_core.atomic): a reader sees the old file or the whole new one.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any, Sequence

from pfgm.core.atomic import atomic_write_text

__all__ = ["fasta_text", "write_fasta"]


def _fmt(v: Any) -> str:
    if isinstance(v, float):
        if math.isinf(v):
            return "-inf" if v < 0 else "inf"
        return f"{v:.4g}"
    return str(v)


def fasta_text(
    seqs: Sequence[str | None],
    scores: Sequence[dict[str, Any]] | None = None,
    structures: Sequence[str] | None = None,
    prefix: str = "gen",
    width: int = 0,
) -> str:
    """FASTA text; ``None`` sequences (invalid samples) are written as empty records marked invalid=1."""
    lines = []
    for i, s in enumerate(seqs):
        desc = {"len": 0 if s is None else len(s), **(scores[i] if scores else {})}
        if s is None:
            desc["invalid"] = 1
        lines.append(f">{prefix}_{i + 1:06d} " + " ".join(f"{k}={_fmt(v)}" for k, v in desc.items()))
        body = s or ""
        if width and len(body) > width:
            lines.extend(body[j : j + width] for j in range(0, len(body), width))
        else:
            lines.append(body)
        if structures is not None and s is not None:
            lines.append(structures[i])
    return "\n".join(lines) + "\n"


def write_fasta(
    path: str | Path,
    seqs: Sequence[str | None],
    scores: Sequence[dict[str, Any]] | None = None,
    structures: Sequence[str] | None = None,
    prefix: str = "gen",
) -> Path:
    return atomic_write_text(path, fasta_text(seqs, scores, structures, prefix))
