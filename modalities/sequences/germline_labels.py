"""Germline labels for heavy chains: each VH's V and J gene as two integer conditions.

With ``germline_cond: true`` a model learns p(VH | V gene, J gene) with classifier-free guidance, so a user
can ask for "IGHV3-23*01 / IGHJ4*02 with a new CDR3" (``modality.label=IGHV3-23/IGHJ4``). The vocabulary
(gene names in a fixed order and how often each (V, J) pair occurs in training) is stored in the
checkpoint's modality config, so sampling reads no data; a sample with no request draws its pair from
the training frequencies, which keeps the repertoire's gene usage.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass
from typing import Any, Sequence

import torch
from torch import Tensor

from pfgm.core.errors import ConfigError

__all__ = ["GermlineVocab"]


def _gene_of(allele: str) -> str:
    """IGHV3-23*01 → IGHV3-23 (the name a user usually gives)."""
    return allele.split("*", 1)[0]


@dataclass(frozen=True)
class GermlineVocab:
    """Gene names by label index and the training counts of each (V, J) pair."""

    v_genes: tuple[str, ...]
    j_genes: tuple[str, ...]
    pairs: tuple[tuple[int, int, int], ...]  # (v index, j index, training count), count > 0

    @classmethod
    def from_records(cls, genes: Sequence[tuple[str, str]]) -> "GermlineVocab":
        """From each training sequence's (V allele, J allele)."""
        if not genes:
            raise ConfigError("germline_cond needs training sequences with known V and J genes; have none")
        vs, js = sorted({v for v, _ in genes}), sorted({j for _, j in genes})
        vi, ji = {v: i for i, v in enumerate(vs)}, {j: i for i, j in enumerate(js)}
        counts: dict[tuple[int, int], int] = {}
        for v, j in genes:
            key = (vi[v], ji[j])
            counts[key] = counts.get(key, 0) + 1
        return cls(tuple(vs), tuple(js), tuple((v, j, n) for (v, j), n in sorted(counts.items())))

    @classmethod
    def from_config(cls, cfg: dict[str, Any]) -> "GermlineVocab":
        return cls(tuple(cfg["v_genes"]), tuple(cfg["j_genes"]), tuple(tuple(int(a) for a in p) for p in cfg["pairs"]))

    def to_config(self) -> dict[str, Any]:
        return {"v_genes": list(self.v_genes), "j_genes": list(self.j_genes), "pairs": [list(p) for p in self.pairs]}

    @property
    def sizes(self) -> list[int]:
        """Classes per label field: [V genes, J genes] (the backbone's ``num_classes``)."""
        return [len(self.v_genes), len(self.j_genes)]

    def encode(self, genes: Sequence[tuple[str, str]]) -> Tensor:
        """(M, 2) long labels of (V allele, J allele) pairs; a gene outside the vocabulary is −1 (no label)."""
        vi, ji = {v: i for i, v in enumerate(self.v_genes)}, {j: i for i, j in enumerate(self.j_genes)}
        return torch.tensor([[vi.get(v, -1), ji.get(j, -1)] for v, j in genes], dtype=torch.long).reshape(-1, 2)

    def _lookup(self, name: str, names: tuple[str, ...], kind: str) -> int:
        """Index of an allele (IGHV3-23*01) or of a gene's most used allele in training (IGHV3-23)."""
        if name in names:
            return names.index(name)
        alleles = [i for i, a in enumerate(names) if _gene_of(a) == name]
        if alleles:
            col = 0 if kind == "V" else 1
            use = {i: sum(p[2] for p in self.pairs if p[col] == i) for i in alleles}
            return max(alleles, key=lambda i: (use[i], -i))
        choices = sorted(set(names) | {_gene_of(a) for a in names})
        close = difflib.get_close_matches(name, choices, n=5, cutoff=0.5)
        raise ConfigError(
            f"modality.label: unknown {kind} gene {name!r}; close names: {', '.join(close) if close else 'none'} "
            f"(this model knows {len(names)} {kind} alleles, e.g. {names[0]})"
        )

    def parse(self, request: str) -> tuple[int, int | None]:
        """'IGHV3-23/IGHJ4', 'IGHV3-23*01/IGHJ4*02' or 'IGHV3-23' (J drawn given V) → (V index, J index or None)."""
        parts = [p.strip() for p in str(request).split("/")]
        if not 1 <= len(parts) <= 2 or not parts[0] or (len(parts) == 2 and not parts[1]):
            raise ConfigError(
                f"modality.label must name a V gene and optionally a J gene as V/J, e.g. IGHV3-23/IGHJ4; got {request!r}"
            )
        v = self._lookup(parts[0], self.v_genes, "V")
        if len(parts) == 1:
            if not any(p[0] == v for p in self.pairs):
                raise ConfigError(f"modality.label: {parts[0]} never occurs in training; name its J gene too")
            return v, None
        return v, self._lookup(parts[1], self.j_genes, "J")

    def draw(self, num: int, generator: torch.Generator, request: tuple[int, int | None] | None = None) -> Tensor:
        """(num, 2) labels: pairs drawn by training frequency (always, so the noise that follows does not depend
        on the request), then the request: V (and J) fixed; with V alone, J drawn from the pairs with that V."""
        counts = torch.tensor([float(p[2]) for p in self.pairs], dtype=torch.float64)
        pick = torch.multinomial(counts, num, replacement=True, generator=generator)
        u = torch.rand(num, generator=generator, dtype=torch.float64)
        table = torch.tensor([[p[0], p[1]] for p in self.pairs], dtype=torch.long)
        out = table[pick].clone()
        if request is None:
            return out
        v, j = request
        out[:, 0] = v
        if j is not None:
            out[:, 1] = j
            return out
        with_v = torch.tensor([p[0] == v for p in self.pairs])
        cdf = torch.cumsum(counts * with_v, 0)
        cdf = cdf / cdf[-1]
        out[:, 1] = table[torch.searchsorted(cdf, u, right=True).clamp_max(len(self.pairs) - 1), 1]
        return out

    def names(self, labels: Tensor) -> list[tuple[str | None, str | None]]:
        """(V allele, J allele) per row of (M, 2) labels; None for −1."""
        return [(self.v_genes[v] if v >= 0 else None, self.j_genes[j] if j >= 0 else None) for v, j in labels.tolist()]
