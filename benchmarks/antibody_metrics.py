"""Heavy chains judged as a biologist would: germline frameworks per IMGT region and an outside antibody
language model, a vh checkpoint's samples beside held-out real VHs (the ceiling).

    pfgm-sample checkpoint=runs/vh num_samples=1000 seed=0 out=vh.fasta modality.write_pgen=false
    OMP_NUM_THREADS=1 python benchmarks/antibody_metrics.py runs/vh --arm "vh, 600 steps" --samples vh.fasta \
        --pll-seqs 24 --pll-positions 8 --calibrate --out benchmarks/results/vh_germline.json

Each invocation adds one row (``--arm``) to the file's rows, or replaces the row of that name. Without
``--samples`` it samples ``--num`` sequences (seed 0) itself. Reports:

* every metric ``pfgm-eval`` reports for vh (modality.evaluate), among them the germline ones of
  modalities/sequences/germline.py, each with its ``_heldout`` value;
* the [antibody] issue's must-hold checks: ≥ 80 % of samples keep every framework ≥ 90 % germline,
  median nearest-training edit distance within 2× the held-out set's, CDR3 Pgen > 0 for ≥ 90 %,
  uniqueness ≥ 95 %, CDR3 novelty ≥ 90 %;
* AntiBERTy's pseudo-log-likelihood per residue (modalities/sequences/plm.py; needs
  ``pip install "antiberty==0.1.3"``) of the samples, the held-out set and calibration sets built from
  OLGA's germline genes: the V genes themselves (IMGT 1–104), V + a uniform random 12-residue CDR3 + IGHJ4's
  FR4 (WGQGTLVTVSS), that with 30 % of its residues replaced by uniform random ones, and the V genes with
  their residues shuffled. ``--pll-seqs`` sequences per set, ``--pll-positions`` masked residues each (a
  seeded random subset: an unbiased estimate of the all-residue mean; the SE is between sequences).
"""

from __future__ import annotations

import argparse
import json
import math
import shlex
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np  # noqa: E402

AAS = "ACDEFGHIKLMNPQRSTVWY"
JH4_FR4 = "WGQGTLVTVSS"


def read_fasta(path: str) -> list[str]:
    seqs, cur = [], []
    for line in Path(path).read_text().splitlines():
        if line.startswith(">"):
            if cur:
                seqs.append("".join(cur))
            cur = []
        elif line.strip():
            cur.append(line.strip())
    if cur:
        seqs.append("".join(cur))
    return seqs


def calibration_sets(n: int, seed: int) -> dict[str, list[str]]:
    from pfgm.modalities.sequences.germline import germline_genes

    rng = np.random.default_rng(seed)
    vs = [g.aa for g in germline_genes()[0]]
    pick = [vs[i] for i in rng.choice(len(vs), size=n, replace=n > len(vs))]
    random_cdr3 = [v + "".join(rng.choice(list(AAS), 12)) + JH4_FR4 for v in pick]

    def randomise(s: str, share: float) -> str:
        s = list(s)
        for i in rng.choice(len(s), size=int(round(share * len(s))), replace=False):
            s[i] = AAS[rng.integers(20)]
        return "".join(s)

    return {
        "germline_v_genes": pick,
        "germline_v_random_cdr3_jh4": random_cdr3,
        "random_cdr3_30pct_randomised": [randomise(s, 0.3) for s in random_cdr3],
        "germline_v_shuffled": ["".join(rng.permutation(list(v))) for v in pick],
    }


def must_hold(m: dict[str, float]) -> dict[str, dict[str, float | bool]]:
    def row(value, ceiling, ok):
        return {"samples": value, "heldout": ceiling, "holds": bool(ok)}

    near, near_h = m.get("nearest_train_edit_median", math.nan), m.get("nearest_train_edit_median_heldout", math.nan)
    return {
        "frameworks_90 >= 0.80": row(
            m.get("germline_frameworks_90"), m.get("germline_frameworks_90_heldout"), m.get("germline_frameworks_90", 0) >= 0.8
        ),
        "nearest_train_edit_median <= 2x heldout": row(near, near_h, near <= 2 * near_h),
        "pgen_positive >= 0.90": row(m.get("pgen_positive"), m.get("pgen_positive_heldout"), m.get("pgen_positive", 0) >= 0.9),
        "uniqueness >= 0.95": row(m.get("uniqueness"), m.get("uniqueness_heldout"), m.get("uniqueness", 0) >= 0.95),
        "cdr3_novelty >= 0.90": row(m.get("cdr3_novelty"), m.get("cdr3_novelty_heldout"), m.get("cdr3_novelty", 0) >= 0.9),
    }


ABOUT = (
    "Heavy chains (vh) against germline and an outside antibody language model: each row one checkpoint's samples, "
    "<metric>_heldout the held-out real VHs (the ceiling); germline_* from pfgm.modalities/sequences/germline.py "
    "(IMGT regions), antiberty_pll AntiBERTy's pseudo-log-likelihood per residue (nats, 8 random residues a "
    "sequence, _se its SE); antiberty_calibration: the same score on reference sets"
)


def _load(path: str | None) -> dict:
    if path and Path(path).exists():
        return json.loads(Path(path).read_text())
    return {"about": ABOUT, "rows": []}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("checkpoint", nargs="?", help="a vh run dir / .safetensors / zoo:NAME (not needed with only --calibrate)")
    ap.add_argument("--arm", default=None, help="the row's name (default: the checkpoint); a row of that name is replaced")
    ap.add_argument("--samples", default=None, help="a FASTA from pfgm-sample (else --num samples are drawn, seed 0)")
    ap.add_argument("--num", type=int, default=1000)
    ap.add_argument("--numbering", default="auto", choices=("auto", "anarci", "alignment"))
    ap.add_argument("--pll-seqs", type=int, default=40, help="sequences per set scored by AntiBERTy (0: none)")
    ap.add_argument("--pll-positions", type=int, default=8)
    ap.add_argument("--calibrate", action="store_true", help="also score the AntiBERTy reference sets")
    ap.add_argument("--no-eval", action="store_true", help="only the AntiBERTy scores")
    ap.add_argument("--note", action="append", default=[], help="a line to store with the row (how the checkpoint was made)")
    ap.add_argument("--out", default=None, help="a JSON file; the row is added to (or replaces its arm in) its rows")
    a = ap.parse_args()
    command = "OMP_NUM_THREADS=1 python benchmarks/antibody_metrics.py " + shlex.join(sys.argv[1:])
    doc = _load(a.out)

    def save():
        """Write doc, with the rows another invocation saved to the file meanwhile (another arm) kept."""
        if a.out:
            now = _load(a.out)
            mine = {r.get("arm") for r in doc["rows"]}
            doc["rows"] = [r for r in now["rows"] if r.get("arm") not in mine] + doc["rows"]
            for k, v in now.items():
                doc.setdefault(k, v)
            Path(a.out).write_text(json.dumps(doc, indent=1) + "\n")

    pll = None
    if a.pll_seqs:
        from pfgm.modalities.sequences import plm

        try:
            plm.weights_path()
            pll = plm
        except ImportError as e:
            print(f"antiberty_pll skipped: {e}", flush=True)

    def score(seqs):
        t = time.time()
        v = pll.pseudo_log_likelihood(seqs, positions=a.pll_positions, seed=0)
        return {**pll.pll_summary(v, "mean"), "n": len(seqs), "seconds": round(time.time() - t, 1)}

    if a.checkpoint:
        import torch

        import pfgm

        torch.manual_seed(0)
        model = pfgm.load(a.checkpoint)
        mod = model.modality
        if mod.kind != "vh":
            raise SystemExit(f"{a.checkpoint} is a {mod.kind!r} checkpoint; this benchmark scores heavy chains (vh)")
        samples = read_fasta(a.samples) if a.samples else list(model.sample(a.num, seed=0).objects)
        samples = [s.replace("-", "") for s in samples]  # an aligned model writes its gaps
        mod.numbering = a.numbering
        row = {
            "arm": a.arm or str(a.checkpoint),
            "max_steps": int(model.config.get("trainer", {}).get("max_steps", -1)),
            "aligned": bool(mod.aligned),
            "num_samples": len(samples),
            "command": command,
            "notes": list(a.note),
        }
        old = next((r for r in doc["rows"] if r.get("arm") == row["arm"]), None)
        if old is not None:  # keep what this invocation does not recompute
            row = {**old, **row, "notes": row["notes"] or old.get("notes", [])}
        if not a.no_eval:
            t = time.time()
            ev = mod.evaluate(samples)
            m = {k: float(v) for k, v in ev.metrics.items()}
            row.update(m)
            row["notes"] = list(row["notes"]) + [n for n in ev.notes if n not in row["notes"]]
            row["must_hold"] = must_hold(m)
            row["evaluate_seconds"] = round(time.time() - t, 1)
            print(json.dumps(row["must_hold"], indent=1), flush=True)
        if pll is not None:
            n = a.pll_seqs
            test = [s.replace("-", "") for s in mod.sequences("test")]
            for key, seqs in (("", [s for s in samples if s][:n]), ("_heldout", test[:n])):
                r = score(seqs)
                row[f"antiberty_pll{key}"], row[f"antiberty_pll_se{key}"] = r["mean"], r["mean_se"]
                print(f"antiberty_pll{key}", r, flush=True)
            row["antiberty_pll_sequences"], row["antiberty_pll_positions"] = n, a.pll_positions
        doc["rows"] = [r for r in doc["rows"] if r.get("arm") != row["arm"]] + [row]
        save()
    if a.calibrate and pll is not None:
        cal = {}
        for name, seqs in calibration_sets(a.pll_seqs, seed=0).items():
            cal[name] = score(seqs)
            print(name, cal[name], flush=True)
        doc["antiberty_calibration"] = {k: {"mean": v["mean"], "se": v["mean_se"], "n": v["n"]} for k, v in cal.items()}
        doc["antiberty_calibration_command"] = command
        save()
    print(json.dumps(doc, indent=1)[-3000:])


if __name__ == "__main__":
    main()
