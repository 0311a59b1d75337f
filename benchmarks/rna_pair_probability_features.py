"""An experiment, not an option of the package: the rna recipes' fold features computed from the base-pair
probabilities of the net's estimate (McCaskill's partition function) instead of its MFE structure. The same
seven channels, so the backbone is unchanged: the probability-weighted partner estimate, P(paired), each
position's ensemble defect against the target, and (E(target) - G_ensemble) / 10 kcal/mol.

    python benchmarks/rna_pair_probability_features.py train recipe=rna_trna run_dir=runs/trna_pp trainer.max_steps=2000
    python benchmarks/rna_pair_probability_features.py eval checkpoint=runs/trna_pp num_samples=300 seed=0 out=pp.json

Training and sampling must both run through this script (the features are patched in here). A step costs
2.2x one without fold features (one partition function per estimate); the result is a row of
benchmarks/results/sequences_rna_trna_guidance.json (docs/results.md).
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import RNA
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from pfgm.modalities.sequences import fold_features as ff  # noqa: E402
from pfgm.modalities.sequences.rna import partners as structure_partners  # noqa: E402


def call(self, estimate: torch.Tensor, m: torch.Tensor) -> torch.Tensor:
    B, L, K = estimate.shape
    res = torch.zeros(B, L, self.channels)
    est = estimate.detach().float().cpu()
    tp = np.asarray(structure_partners(self.target))
    rows, seqs = self.decoded(estimate, m)
    for b, s in zip(rows, seqs):
        n = len(s)
        fc = RNA.fold_compound(s)
        _, mfe = fc.mfe()
        fc.exp_params_rescale(mfe)
        _, G = fc.pf()
        P = np.array(fc.bpp())[1 : n + 1, 1 : n + 1]
        P = P + P.T
        Pt = torch.from_numpy(P).float()
        res[b, :n, :K] = Pt @ est[b, :n]
        pp = Pt.sum(1)
        res[b, :n, K] = pp
        if self.target is not None and n == len(self.target):
            et = fc.eval_structure(self.target)
            idx = np.arange(n)
            paired_t = tp[:n] >= 0
            defect = np.where(paired_t, 1.0 - P[idx, np.clip(tp[:n], 0, None)], P.sum(1))
            res[b, :n, K + 1] = torch.from_numpy(defect).float()
            res[b, :n, K + 2] = (et - G) / 10.0
    return res.to(estimate.device, estimate.dtype) * m[..., :1].to(estimate.dtype)


def main() -> None:
    modes = {"train": "pfgm.recipes.train", "eval": "pfgm.recipes.evaluate"}
    if len(sys.argv) < 2 or sys.argv[1] not in modes:
        raise SystemExit(__doc__)
    ff.FoldFeatures.__call__ = call
    import importlib

    importlib.import_module(modes[sys.argv.pop(1)]).main()


if __name__ == "__main__":
    main()
