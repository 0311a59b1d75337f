"""What the net's current answer folds into: ViennaRNA features of the self-conditioning estimate.

A denoiser trained on sequences alone learns the *positive* design of an RNA family (every target
pair complementary) but not the *negative* design (no alternative structure more stable): measured
on the tRNA-like family, the samples' target-structure energy is the family's, −16.7 kcal/mol, while
their MFE is −21.6 (docs/sequences.md). Nothing in the input tells the net which alternative helices
its answer forms. These features do: the self-conditioning estimate (the net's previous clean
estimate, Analog Bits) is decoded by argmax, folded (MFE), and every position receives

* its MFE partner's estimate (K channels; zero when unpaired) and a "paired" flag,
* with a target structure: a flag "paired differently from the target" and, broadcast over the
  sequence, the estimate's energy gap E(target) − E(MFE) in units of 10 kcal/mol (0 when it folds
  to the target).

In training the estimate comes from a first pass at the same σ (half the batch), so the net sees
misfolding answers next to the family sequence they should have been; at sampling time every solver
step folds the previous step's estimate. A sample without an estimate (all-zero input) gets all-zero
features. The folding runs on the CPU (rna.fold_with_target: one MFE and one target evaluation per
sequence and call); a training step costs 1.01x (hairpin) and 1.02x (tRNA) of one without
(benchmarks/fold_features_cost.py).
"""

from __future__ import annotations


import torch
from torch import Tensor

from pfgm.core.errors import ConfigError
from .rna import fold_with_target
from .rna import partners as structure_partners

__all__ = ["FoldFeatures"]


class FoldFeatures:
    """Callable: (self-conditioning estimate (B, L, K), mask (B, L, 1)) → features (B, L, channels)."""

    def __init__(self, symbols: str, target: str | None = None):
        if sorted(symbols) != sorted("ACGU"):
            raise ConfigError(f"backbone.fold_features folds RNA: the alphabet must be ACGU, got {symbols!r}")
        self.symbols, self.target = symbols, target
        self._target_partner = None if target is None else torch.tensor(structure_partners(target), dtype=torch.long)

    @property
    def channels(self) -> int:
        return len(self.symbols) + 1 + (2 if self.target is not None else 0)

    def decoded(self, estimate: Tensor, m: Tensor) -> tuple[list[int], list[str]]:
        """(the rows that have an estimate and a length, each one's argmax sequence): what gets folded."""
        lengths = m[:, :, 0].round().long().sum(1).cpu()
        has = (estimate.detach().abs().flatten(1).sum(1) > 0).cpu()
        rows = [b for b in range(estimate.shape[0]) if bool(has[b]) and int(lengths[b]) > 0]
        cls = estimate.detach().argmax(-1).cpu()
        return rows, ["".join(self.symbols[c] for c in cls[b, : int(lengths[b])].tolist()) for b in rows]

    def __call__(self, estimate: Tensor, m: Tensor) -> Tensor:
        B, L, K = estimate.shape
        out = torch.zeros(B, L, self.channels, dtype=estimate.dtype, device=estimate.device)
        rows, seqs = self.decoded(estimate, m)
        if not rows:
            return out
        structs, mfes, targets = fold_with_target(seqs, self.target)
        partner = torch.full((B, L), -1, dtype=torch.long)
        gap = torch.zeros(B)
        for b, st, e, et in zip(rows, structs, mfes.tolist(), targets.tolist()):
            partner[b, : len(st)] = torch.tensor(structure_partners(st), dtype=torch.long)
            gap[b] = (et - e) / 10.0
        partner = partner.to(estimate.device)
        paired = (partner >= 0).to(estimate.dtype).unsqueeze(-1)  # (B, L, 1)
        take = partner.clamp_min(0).unsqueeze(-1).expand(B, L, K)
        out[..., :K] = estimate.detach().gather(1, take) * paired
        out[..., K : K + 1] = paired
        if self.target is not None:
            tp = torch.full((L,), -1, dtype=torch.long)
            n = min(L, len(self._target_partner))
            tp[:n] = self._target_partner[:n]
            wrong = (partner != tp.to(partner.device).unsqueeze(0)).to(estimate.dtype)
            has_rows = torch.zeros(B, dtype=estimate.dtype, device=estimate.device)
            has_rows[torch.tensor(rows, device=estimate.device)] = 1.0
            out[..., K + 1] = wrong * has_rows.unsqueeze(1)
            out[..., K + 2] = gap.to(estimate.device, estimate.dtype).unsqueeze(1)
        return out * m[..., :1].to(out.dtype)
