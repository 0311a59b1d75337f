"""The QM9 table under the GDSS protocol: published rows beside pfgm's, D = ∞ and the recipe's D, from one pfgm-bench run.

    OMP_NUM_THREADS=1 pfgm-bench recipe=qm9 Ds=[inf,128] num_samples=10000 out=benchmarks/results/qm9.json
    python benchmarks/qm9_table.py [benchmarks/results/qm9.json]

On two cores the two D run faster as two one-thread benches side by side, one D each; the table
then merges their JSONs and refuses rows that differ in recipe, steps, solver or sample count:

    OMP_NUM_THREADS=1 pfgm-bench recipe=qm9 'Ds=[128]' num_samples=10000 out=benchmarks/results/qm9_D128.json &
    OMP_NUM_THREADS=1 pfgm-bench recipe=qm9 'Ds=[inf]' num_samples=10000 out=benchmarks/results/qm9_Dinf.json
    python benchmarks/qm9_table.py benchmarks/results/qm9_D128.json benchmarks/results/qm9_Dinf.json

Columns as the papers report them (10,000 samples): validity without correction (our
``validity``: RDKit sanitises the decoded graph with nothing fixed, over the number requested),
NSPDK MMD and FCD against the test split, computed as GDSS's sampler does on the
valency-corrected largest-fragment molecules (``nspdk_corrected``, ``fcd_corrected``). Beside
them pfgm's own columns: valid and one connected molecule over the number requested,
uniqueness and novelty after keeping the largest fragment, and FCD / NSPDK of the uncorrected
valid samples. A row with no run says "not run"; numbers are never filled in by hand.
"""

from __future__ import annotations

import argparse
import json
import math
from pathlib import Path

RESULTS = Path(__file__).parent / "results" / "qm9.json"

#: (model, validity w/o correction %, NSPDK, FCD) as printed in the papers' QM9 tables (10,000 samples)
PUBLISHED = [
    ("GDSS (Jo et al. 2022)", 95.72, 0.003, 2.900),
    ("DiGress (as re-run by GruM)", 98.19, 0.0003, 0.095),
    ("GruM (Jo et al. 2024)", 99.69, 0.0002, 0.108),
]


def _f(v, fmt: str) -> str:
    return "–" if v is None or (isinstance(v, float) and math.isnan(v)) else format(v, fmt)


#: what rows of one table must share, whichever bench run they come from
SAME = ("max_steps", "solver", "steps", "nfe", "num_samples")


def rows_from(*paths: Path) -> dict[str, dict]:
    """D label ('inf', '128', …) -> the bench row, from one or more pfgm-bench JSONs (missing files are
    skipped). Rows from several runs must agree on the recipe and on :data:`SAME`, else ValueError."""
    rows: dict[str, dict] = {}
    recipes: set[str] = set()
    for path in paths:
        if not path.exists():
            continue
        data = json.loads(path.read_text())
        recipes.add(str(data.get("recipe")))
        for r in data.get("rows", []):
            D = str(r["D"])
            if D in rows:
                raise ValueError(f"{path}: D = {D} is already given by another file")
            rows[D] = {**r, "_file": str(path)}
    if len(recipes) > 1:
        raise ValueError(f"rows come from different recipes: {sorted(recipes)}")
    for key in SAME:
        seen = {str(r.get(key)) for r in rows.values()}
        if len(seen) > 1:
            raise ValueError(
                f"rows differ in {key}: " + ", ".join(f"D={D}: {r.get(key)} ({r['_file']})" for D, r in rows.items())
            )
    return rows


def table(ours: dict[str, dict], Ds: tuple[str, ...] = ("inf", "128")) -> str:
    head = (
        "| model | valid w/o corr. (%) ↑ | NSPDK ↓ | FCD ↓ | valid & connected (%) | unique (%) | novel (%) "
        "| FCD uncorr. | NSPDK uncorr. | NFE | train s | sample + score s |"
    )
    lines = [head, "|" + "|".join(["---"] * (head.count("|") - 1)) + "|"]
    for name, val, nspdk, fcd in PUBLISHED:
        lines.append(f"| {name} | {val:.2f} | {nspdk:g} | {fcd:.3f} | | | | | | | | |")
    for D in Ds:
        label = f"pfgm, D = {'∞' if D == 'inf' else D}"
        r = ours.get(D)
        if r is None:
            lines.append(f"| {label} | not run | not run | not run | | | | | | | | |")
            continue
        pct = lambda k: _f(None if r.get(k) is None else 100 * r[k], ".2f")
        lines.append(
            f"| {label} | {pct('validity')} | {_f(r.get('nspdk_corrected'), '.4f')} | {_f(r.get('fcd_corrected'), '.3f')} "
            f"| {pct('valid_connected')} | {pct('uniqueness_lf')} | {pct('novelty_lf')} | {_f(r.get('fcd'), '.3f')} "
            f"| {_f(r.get('nspdk'), '.4f')} | {r.get('nfe', '–')} | {_f(r.get('train_seconds'), '.0f')} "
            f"| {_f(r.get('sample_seconds'), '.0f')} |"
        )
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("results", nargs="*", default=[str(RESULTS)], help="pfgm-bench JSON(s) (default %(default)s)")
    args = ap.parse_args()
    paths = [Path(p) for p in args.results]
    try:
        ours = rows_from(*paths)
    except ValueError as e:  # rows that were not made alike: say which, in one line
        ap.error(str(e))
    print(table(ours))
    if not ours:
        print(f"\n(no pfgm-bench results at {', '.join(map(str, paths))}: run the command in this script's docstring)")
    else:
        n = {r.get("num_samples") for r in ours.values()}
        print(f"\nfrom {', '.join(sorted({r['_file'] for r in ours.values()}))}; samples per row: {sorted(n)}")


if __name__ == "__main__":
    main()
