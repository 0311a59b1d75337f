"""Validity and single-fragment share of a molecules checkpoint by the drawn atom count n.

    OMP_NUM_THREADS=1 python benchmarks/molecule_fragments_by_size.py [CHECKPOINT]   (default runs/zoo/molecules)

1,000 samples, seed 0, the checkpoint's sampler. Says whether fragments come with size.
"""

import collections
import sys

from rdkit import Chem

from pfgm.recipes.sample import generate_from_checkpoint

ckpt = sys.argv[1] if len(sys.argv) > 1 else "runs/zoo/molecules"
mod, objs, info, samples = generate_from_checkpoint(
    {"checkpoint": ckpt, "num_samples": 1000, "seed": 0, "device": "cpu", "sampler": {}, "progress": False}
)
n = mod.graph_layout.n_nodes(samples.mask).tolist()
rows = collections.defaultdict(lambda: [0, 0, 0])  # n bucket -> [requested, valid, valid and one fragment]
for ni, m in zip(n, objs):
    b = "<=10" if ni <= 10 else ("11-15" if ni <= 15 else "16-20")
    rows[b][0] += 1
    if m is not None:
        rows[b][1] += 1
        rows[b][2] += len(Chem.GetMolFrags(m)) == 1
print("| atoms | requested | validity | valid and connected |\n| --- | --- | --- | --- |")
for b in ("<=10", "11-15", "16-20"):
    r = rows[b]
    print(f"| {b} | {r[0]} | {r[1] / max(r[0], 1):.3f} | {r[2] / max(r[0], 1):.3f} |")
