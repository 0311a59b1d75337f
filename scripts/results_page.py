"""Write docs/results.md: every measured result in benchmarks/results/ as a table, with the command that made it.

    python scripts/results_page.py            # rewrite docs/results.md
    python scripts/results_page.py --check    # exit 1 if docs/results.md is not what this script writes

Each file in ``benchmarks/results`` becomes one section (its tables only: the prose that reads them
lives in the user guides). The command shown is the one stored in the file (``command``,
``commands``, ``train_command`` / ``eval_command``, per row where rows differ); for files that store
none, it is the one the result-file index of ``benchmarks/README.md`` gives. A file with neither is
an error, so a new result cannot land without the command that regenerates it.
"""

from __future__ import annotations

import argparse
import json
import math
import re
import subprocess
import sys
from collections import defaultdict
from pathlib import Path
from typing import Any, Iterable

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results"
INDEX = ROOT / "benchmarks" / "README.md"
OUT = ROOT / "docs" / "results.md"

# -------------------------------------------------------------------------------------------------
# which section a file belongs to, and the columns each kind of metrics shows

SECTIONS = [  # (title, file-name prefixes)
    ("Core", ("core_overhead", "objectives", "divergence_guard", "oracle_nfe", "d_sweep", "d_advice")),
    ("Images", ("digits",)),
    ("Audio", ("audio_",)),
    ("Graphs", ("community_small", "graph_")),
    ("Molecules", ("molecule", "qm9")),
    ("Sequences", ("sequences_", "fold_features", "vh_")),
    ("Reliability and load", ("reliability", "load")),
]

KIND_COLUMNS = {
    "digits": ["digits_fd", "digits_fd_same_n", "digits_fd_floor", "confident_fraction", "precision", "recall", "bits_per_dim"],
    "audio": [
        "is",
        "real_is",
        "fid",
        "fid_same_n",
        "fid_real",
        "max_softmax",
        "am",
        "spectral_distance",
        "pitch_accuracy",
        "pitch_in_tune",
        "label_accuracy",
    ],
    "graphs": ["degree", "cluster", "orbit", "spectral", "num_invalid", "bits_per_dim"],
    "molecules": [
        "validity",
        "valid_connected",
        "fragments_1",
        "uniqueness",
        "novelty",
        "fcd",
        "nspdk",
        "ring_size_tv",
        "aromatic_rings_per_mol",
        "validity_corrected",
        "fcd_corrected",
        "nspdk_corrected",
        "qed",
        "sa",
    ],
    "antibody": [
        "log10_pgen_gap",
        "log10_pgen_mean",
        "pgen_ks",
        "j_end_tv",
        "pgen_positive",
        "composition_js",
        "internal_diversity",
        "nearest_train_edit",
        "descriptor_wasserstein",
        "uniqueness",
        "novelty",
    ],
    "vh": [
        "germline_frameworks_90",
        "germline_fr1_identity",
        "germline_fr2_identity",
        "germline_fr3_identity",
        "germline_fr4_identity",
        "germline_cdr1_identity",
        "germline_cdr2_identity",
        "nearest_train_edit_median",
        "pgen_positive",
        "cdr3_novelty",
        "uniqueness",
        "antiberty_pll",
        "log10_pgen_gap",
    ],
    "rna": [
        "fold_to_target",
        "mfe_mean",
        "mfe_wasserstein",
        "bp_distance_mean",
        "stem_pair_rate",
        "kmer_distance",
        "internal_diversity",
        "nearest_train_edit",
        "uniqueness",
        "novelty",
    ],
}
#: a key that identifies the kind (first match wins)
KIND_MARKERS = [
    ("germline_frameworks_90", "vh"),
    ("fold_to_target", "rna"),
    ("log10_pgen_gap", "antibody"),
    ("log10_pgen_mean", "antibody"),
    ("digits_fd", "digits"),
    ("valid_connected", "molecules"),
    ("validity", "molecules"),
    ("degree", "graphs"),
    ("orbit", "graphs"),
    ("fid", "audio"),
    ("is", "audio"),
]
#: settings shown as columns when they differ between the rows of a table (else once, above it)
SETTINGS = [
    "D",
    "solver",
    "steps",
    "nfe",
    "nfe_per_sample",
    "num_samples",
    "seed",
    "guide",
    "guide_weight",
    "particles",
    "steer_lambda",
    "max_steps",
    "train_seconds",
]
#: keys that name a row, in order of preference
LABELS = ["arm", "sampler", "guidance", "snap_below", "D", "sigma", "mode", "restart", "num_samples", "seed"]
COMMAND_KEYS = ("command", "train_command", "eval_command")
MAX_COLUMNS = 15
#: the metrics a sweep table shows, per kind
SWEEP_METRICS = {
    "digits": ["digits_fd", "confident_fraction"],
    "graphs": ["degree", "cluster", "orbit"],
    "molecules": ["validity", "valid_connected", "fcd"],
    "antibody": ["log10_pgen_gap"],
    "rna": ["fold_to_target"],
    "audio": ["fid", "is"],
    "vh": ["germline_frameworks_90"],
}


# -------------------------------------------------------------------------------------------------
# formatting


def fmt(v: Any) -> str:
    if v is None:
        return ""
    if isinstance(v, bool):
        return "yes" if v else "no"
    if isinstance(v, int):
        return str(v)
    if isinstance(v, float):
        if math.isnan(v):
            return "nan"
        if math.isinf(v):
            return "∞" if v > 0 else "−∞"
        if v == int(v) and abs(v) < 1e6:
            return str(int(v))
        if abs(v) >= 1000:
            return f"{v:.0f}"
        return f"{v:.4g}"
    if isinstance(v, (list, tuple)):
        return ", ".join(fmt(x) for x in v)
    if isinstance(v, dict):
        return ", ".join(f"{k} {fmt(x)}" for k, x in v.items())
    s = str(v)
    return "∞" if s == "inf" else s


def cell(v: Any) -> str:
    return fmt(v).replace("|", "\\|").replace("\n", " ")


def code(s: str) -> str:
    """An inline code span holding ``s`` (longer fences when ``s`` has backticks)."""
    fence = "``" if "`" in s else "`"
    pad = " " if s.startswith("`") or s.endswith("`") else ""
    return f"{fence}{pad}{s}{pad}{fence}"


def table(header: list[str], rows: list[list[Any]]) -> list[str]:
    out = ["| " + " | ".join(cell(h) for h in header) + " |", "| " + " | ".join("---" for _ in header) + " |"]
    out += ["| " + " | ".join(cell(v) for v in r) + " |" for r in rows]
    return out


def is_number(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


# -------------------------------------------------------------------------------------------------
# rows: (label, flat dict of values, command or None)


def flatten(d: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """Scalars of ``d``, nested dicts joined with '.', except ``metrics`` (merged without prefix)."""
    out: dict[str, Any] = {}
    for k, v in d.items():
        if k in ("notes", "guide_data_differs") or k in COMMAND_KEYS:
            continue
        if isinstance(v, dict):
            out.update(flatten(v, "" if k == "metrics" else f"{prefix}{k}."))
        elif not isinstance(v, list):
            out[f"{prefix}{k}"] = v
    return out


def row_command(d: dict[str, Any]) -> str | None:
    cmds = [d[k] for k in COMMAND_KEYS if isinstance(d.get(k), str)]
    return " && ".join(cmds) if cmds else None


def kind_of(rows: Iterable[dict[str, Any]]) -> str | None:
    keys = set().union(*(r.keys() for r in rows))
    return next((kind for marker, kind in KIND_MARKERS if marker in keys), None)


def choose_label_keys(rows: list[dict[str, Any]]) -> list[str]:
    varying = [k for k in LABELS if any(k in r for r in rows) and len({fmt(r.get(k)) for r in rows}) > 1]
    return varying[:3]


def render_rows(
    named: list[tuple[str, dict[str, Any], str | None]], doc_command: str | None, extra: list[tuple[str, dict[str, Any]]] = ()
) -> list[str]:
    """One table (or one per kind of metrics) for rows named by the caller."""
    groups: dict[tuple, list[tuple[str, dict[str, Any], str | None]]] = defaultdict(list)
    for r in named:  # one table per kind of metrics and held-out reference (rows beside the same ceiling)
        groups[(kind_of([r[1]]), reference(r[1]))].append(r)
    out: list[str] = []
    for (kind, _), group in groups.items():
        out += _render_group(kind, group, doc_command, [e for e in extra if kind_of([e[1]]) == kind])
    return out


def reference(values: dict[str, Any]) -> tuple:
    """What identifies a row's held-out reference: its scores that depend on the reference alone."""
    keys = ("fold_to_target_heldout", "mfe_mean_heldout", "log10_pgen_mean_heldout", "internal_diversity_heldout")
    return tuple(fmt(values.get(k)) for k in keys)


def _render_group(
    kind: str | None,
    group: list[tuple[str, dict[str, Any], str | None]],
    doc_command: str | None,
    extra: list[tuple[str, dict[str, Any]]],
) -> list[str]:
    values = [v for _, v, _ in group]
    settings = [k for k in SETTINGS if any(k in v for v in values)]
    if "steps" in settings:  # the NFE follows from solver and steps
        settings = [k for k in settings if k not in ("nfe", "nfe_per_sample")]
    varying = [k for k in settings if len({fmt(v.get(k)) for v in values}) > 1]
    constant = [k for k in settings if k not in varying and values[0].get(k) is not None]
    if kind:
        metrics = [k for k in KIND_COLUMNS[kind] if any(is_number(v.get(k)) for v in values)]
    else:
        seen: dict[str, None] = {}
        for v in values:
            for k, x in v.items():
                if is_number(x) and k not in settings and not k.endswith("_heldout"):
                    seen.setdefault(k)
        metrics = list(seen)
    columns = (varying + metrics)[:MAX_COLUMNS]
    rows = [[label] + [v.get(k) for k in columns] for label, v, _ in group]
    rows += [[label] + [v.get(k) for k in columns] for label, v in extra]
    held = {k: next((v[f"{k}_heldout"] for v in values if is_number(v.get(f"{k}_heldout"))), None) for k in columns}
    if any(x is not None for x in held.values()):
        rows.append(["held out (the ceiling)"] + [held[k] for k in columns])
    out: list[str] = []
    if constant:
        out.append("All rows: " + ", ".join(f"{k} {fmt(values[0][k])}" for k in constant) + ".")
        out.append("")
    out += table([""] + columns, rows)
    cmds = [(label, c) for label, _, c in group if c and c != doc_command]
    if cmds:
        out += ["", "Commands:", ""]
        out += [f"- {label}: {code(c)}" for label, c in cmds]
    out.append("")
    return out


def list_rows(items: list[dict[str, Any]], doc_command: str | None, extra: list[tuple[str, dict[str, Any]]] = ()) -> list[str]:
    flats = [flatten(x) for x in items]
    keys = choose_label_keys(flats) or [k for k in LABELS if k in flats[0]][:1]
    named = []
    for i, (x, f) in enumerate(zip(items, flats)):
        label = " · ".join(
            f"{k} {fmt(f[k])}" if k in ("D", "seed", "sigma", "num_samples", "guidance") else fmt(f[k]) for k in keys if k in f
        ) or str(i + 1)
        for k in keys:
            f.pop(k, None)
        named.append((label, f, row_command(x)))
    return render_rows(named, doc_command, extra)


def dict_rows(items: dict[str, dict[str, Any]], doc_command: str | None) -> list[str]:
    named: list[tuple[str, dict[str, Any], str | None]] = []
    out: list[str] = []
    for key, x in items.items():
        if isinstance(x.get("rows"), list):  # a run with rows of its own: its own table
            out += [f"**{key}**", ""] + ([f"Command: {code(x['command'])}", ""] if x.get("command") else [])
            out += list_rows(x["rows"], x.get("command"))
        elif isinstance(x.get("evals"), dict):  # one training, several evaluations
            train = x.get("train_command")
            for ek, ev in x["evals"].items():
                named.append((f"{key} · {ek}", flatten(ev), " && ".join(c for c in (train, row_command(ev)) if c)))
        else:
            named.append((key, flatten(x), row_command(x)))
    return (render_rows(named, doc_command) if named else []) + out


# -------------------------------------------------------------------------------------------------
# files


def doc_command(doc: Any, name: str, index: dict[str, str]) -> str | None:
    if isinstance(doc, dict):
        if isinstance(doc.get("commands"), list):
            return " && ".join(doc["commands"])
        c = row_command(doc)
        if c:
            return c
    return index.get(name)


def description(doc: Any) -> str | None:
    if not isinstance(doc, dict):
        return None
    for k in ("what", "about", "note", "recipe"):
        if isinstance(doc.get(k), str):
            text = doc[k]
            return text if k != "recipe" else f"recipe: {text}"
    return None


def render_json(name: str, doc: Any, index: dict[str, str]) -> list[str]:
    command = doc_command(doc, name, index)
    rows_have_commands = _rows_have_commands(doc)
    if command is None and not rows_have_commands:
        raise SystemExit(
            f"benchmarks/results/{name}: no command stored in the file and none in the result-file index of benchmarks/README.md"
        )
    out = [f"## `{name}`", ""]
    desc = description(doc)
    if desc:
        out += [desc.rstrip(".") + ".", ""]
    if command:
        out += [f"Command: {code(command)}", ""]
    out += render_body(name, doc, command)
    return out


def _rows_have_commands(doc: Any) -> bool:
    if not isinstance(doc, dict):
        return False
    for key in ("rows", "runs"):
        rows = doc.get(key)
        items = rows.values() if isinstance(rows, dict) else rows if isinstance(rows, list) else []
        if items and all(isinstance(r, dict) and (row_command(r) or r.get("train_command")) for r in items):
            return True
    return False


def render_body(name: str, doc: Any, command: str | None) -> list[str]:
    special = SPECIAL.get(name)
    if special:
        return special(doc, command)
    if isinstance(doc, list):
        return list_rows(doc, command)
    skip = {"rows", "runs", "metrics", "_meta", *COMMAND_KEYS}
    extra = [(k, flatten(v)) for k, v in doc.items() if k not in skip and isinstance(v, dict) and kind_of([flatten(v)])]
    body: list[str] = []
    rows = doc.get("rows")
    if isinstance(rows, list):
        body += list_rows(rows, command, extra)
    elif isinstance(rows, dict):
        body += dict_rows(rows, command)
    if isinstance(doc.get("runs"), dict):
        body += dict_rows(doc["runs"], command)
    if isinstance(doc.get("metrics"), dict):  # one pfgm-eval result
        body += render_rows([(name.removesuffix(".json"), flatten(doc), None)], command, extra)
    used = {k for k, _ in extra} if body else set()
    scalars = {
        k: v
        for k, v in doc.items()
        if not isinstance(v, (dict, list)) and k not in skip and k not in ("what", "about", "note", "recipe", "machine")
    }
    if not body and scalars and not any(isinstance(v, dict) for k, v in doc.items() if k != "_meta"):
        body += table(["", "value"], [[k, v] for k, v in scalars.items()]) + [""]
        scalars = {}
    for key, v in doc.items():
        if key in skip or key in used:
            continue
        if isinstance(v, list) and v and all(isinstance(x, dict) for x in v):
            if any(is_number(x) for item in v for x in flatten(item).values()):
                body += [f"**{key}**", ""] + list_rows(v, command)
            else:  # examples: strings side by side
                cols = list(dict.fromkeys(k for item in v for k in item))
                body += [f"**{key}**", ""] + table(cols, [[item.get(c) for c in cols] for item in v]) + [""]
    if body:
        if scalars and isinstance(doc.get("rows"), list):
            body.insert(0, "Measured with: " + ", ".join(f"{k} {fmt(v)}" for k, v in scalars.items()) + ".")
            body.insert(1, "")
        for key, v in doc.items():  # small tables of scalars beside the rows
            if key not in skip and key not in used and isinstance(v, dict) and not kind_of([flatten(v)]):
                nums = {k: x for k, x in flatten(v).items() if is_number(x)}
                if nums:
                    body += [f"**{key}**", ""] + table(["", "value"], [[k, x] for k, x in nums.items()]) + [""]
        return body
    dicts = {k: v for k, v in doc.items() if isinstance(v, dict) and k != "_meta"}
    if dicts:
        body += dict_rows(dicts, command)
        meta = doc.get("_meta")
        if isinstance(meta, dict):
            body += ["Measured with: " + ", ".join(f"{k} {fmt(v)}" for k, v in meta.items()) + ".", ""]
    if scalars:
        body += table(["", "value"], [[k, v] for k, v in scalars.items()]) + [""]
    return body


# -------------------------------------------------------------------------------------------------
# files whose shape needs its own table


def _oracle(doc: list[dict[str, Any]], command: str | None) -> list[str]:
    Ds = sorted({str(r["D"]) for r in doc}, key=lambda d: math.inf if d == "inf" else float(d))
    cells: dict[tuple[str, int, int, float], dict[str, dict[str, Any]]] = defaultdict(dict)
    for r in doc:
        cells[(r["solver"], r["steps"], r["nfe"], r["alpha"])][str(r["D"])] = r
    out = ["Share of samples landed on a data point (and the visit frequencies' total variation), per D:", ""]
    rows = [
        [s, st, nfe, a] + [f"{fmt(v[d]['landed'])} ({fmt(v[d]['tv'])})" if d in v else "" for d in Ds]
        for (s, st, nfe, a), v in cells.items()
    ]
    return out + table(["solver", "steps", "NFE", "α"] + [f"D = {fmt(d)}" for d in Ds], rows) + [""]


def _size_groups(doc: dict[str, Any], command: str | None) -> list[str]:
    out = [f"Batch {doc['batch']}, n_max {doc['n_max']}, {doc['threads']} thread(s), {doc['reps']} repetitions.", ""]
    out += table(
        ["per-pass overhead (graphs)", "median speed-up vs padding"],
        [[k.split("@")[1], v] for k, v in doc["median_speedup"].items()],
    )
    rows = [
        [r["sigma"], r["mean_nodes"], r["max_abs_diff"], r["median_s"]["padded"]]
        + [r["median_s"][k] for k in doc["median_speedup"]]
        for r in doc["rows"]
    ]
    out += [""] + table(["σ", "mean nodes", "max |Δ output|", "padded s"] + [f"{k} s" for k in doc["median_speedup"]], rows)
    return out + [""]


def _fold_cost(doc: dict[str, Any], command: str | None) -> list[str]:
    rows = [
        [fam, v["batch"], v["length"], v["median_step_s"]["without"], v["median_step_s"]["with"], v["ratio"]]
        for fam, v in doc["families"].items()
    ]
    return table(["family", "batch", "length", "step s without", "step s with", "ratio"], rows) + [""]


def _fragments(doc: dict[str, Any], command: str | None) -> list[str]:
    rows, cmds = [], []
    for key, r in doc["runs"].items():
        s = r["samples"]
        rows.append(
            [
                key,
                fmt(r.get("sampler_overrides") or "—"),
                s["validity"],
                s["valid_connected"],
                s["fragments_raw"].get("1"),
                s["samples_with_isolated_atom"],
                r.get("valid_connected_if_fragments_joined_by_model_scores"),
                r["margin_of_best_pair_between_main_fragment_and_rest_q10_50_90"][1],
            ]
        )
        if r.get("command"):
            cmds.append(f"- {key}: {code(r['command'])}")
    out = table(
        [
            "run",
            "sampler overrides",
            "validity",
            "valid and connected",
            "raw graphs in one piece",
            "with an isolated atom",
            "valid and connected if joined",
            "median margin, best cross-fragment pair",
        ],
        rows,
    )
    return out + ["", "Commands:", ""] + cmds + [""]


def _reliability(doc: dict[str, Any], command: str | None) -> list[str]:
    out = ["The campaign's tables are in [Reliability](reliability.md). Its Load tables:", ""]
    for part, rows in doc.get("load", {}).items():
        if rows:
            keys = [k for k in rows[0] if not isinstance(rows[0][k], (dict, list))]
            out += [f"**{part}**", ""] + table(keys, [[r.get(k) for k in keys] for r in rows]) + [""]
    return out


def _snapping_mol(doc: dict[str, Any], command: str | None) -> list[str]:
    rows = [(k, flatten(v), None) for k, v in doc.items() if isinstance(v, dict)]
    return render_rows(rows, command)


SPECIAL = {
    "oracle_nfe.json": _oracle,
    "graph_size_groups.json": _size_groups,
    "fold_features_cost.json": _fold_cost,
    "qm9_fragments.json": _fragments,
    "reliability.json": _reliability,
    "molecules_snapping.json": _snapping_mol,
}


def render_sweep(name: str, records: list[dict[str, Any]]) -> list[str]:
    """A D sweep (JSON lines): per recipe, the mean over training seeds of each cell's main metrics."""
    out = [
        f"## `{name}`",
        "",
        "`pfgm-bench sweep`: each recipe trained at every D of a ladder and several training seeds, each run "
        "scored per sampler cell (solver and steps, error injection α, weight bits). Cells show the mean over "
        "training seeds (± its standard error where there are several).",
        "",
    ]
    by_recipe: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for r in records:
        by_recipe[r["recipe"]].append(r)
    for recipe, recs in sorted(by_recipe.items()):
        kind = kind_of(recs)
        metrics = [m for m in SWEEP_METRICS.get(kind or "", []) if any(is_number(r.get(m)) for r in recs)]
        Ds = sorted({str(r["D"]) for r in recs}, key=lambda d: math.inf if d == "inf" else float(d))
        seeds = sorted({r["seed"] for r in recs})
        steps = sorted({r["max_steps"] for r in recs})
        n = sorted({r["n_samples"] for r in recs if r["solver"] != "likelihood"})
        cmd = (
            f"pfgm-bench sweep recipe={recipe} 'ladder=[{','.join(Ds)}]' 'seeds=[{','.join(map(str, seeds))}]' "
            f"trainer.max_steps={','.join(map(str, steps))} num_samples={','.join(map(str, n))}"
        )
        N = sorted({r["N"] for r in recs})
        out += [
            f"**{recipe}** (N = {fmt(N[0]) if len(N) == 1 else fmt(N)}; {len(seeds)} training seed(s))",
            "",
            f"Command: {code(cmd)}",
            "",
        ]
        cells: dict[tuple, dict[str, list[dict[str, Any]]]] = defaultdict(lambda: defaultdict(list))
        for r in recs:
            cells[(r["solver"], r["steps"], r["alpha"], r["bits"])][str(r["D"])].append(r)
        for metric in metrics + (["bits_per_dim"] if any("bits_per_dim" in r for r in recs) else []):
            rows = []
            for (solver, st, alpha, bits), per_d in cells.items():
                vals = [_mean_se([r[metric] for r in per_d.get(d, []) if is_number(r.get(metric))]) for d in Ds]
                if any(vals):
                    name = solver if solver == "likelihood" else f"{solver} {st}"
                    rows.append([name, alpha, bits if bits is not None else "—"] + vals)
            if rows:
                out += [f"{metric}:", ""] + table(["cell", "α", "bits"] + [f"D = {fmt(d)}" for d in Ds], rows) + [""]
    return out


def render_advice(name: str, records: list[dict[str, Any]]) -> list[str]:
    """The D advisor's answers (JSON lines): one row per recipe and goal, with the command that asked."""
    out = [f"## `{name}`", "", "`pfgm-bench advise`: the D to train a recipe with, from a short D = ∞ pilot.", ""]
    rows, cmds = [], []
    for r in records:
        cands = r.get("candidates")
        cand = f" 'candidates=[{','.join(fmt(c).replace('∞', 'inf') for c in cands)}]'" if cands else ""
        label = f"{r['recipe']} · {r['goal']}"
        rows.append([label, r["D"], r.get("N"), r.get("D_over_N"), r.get("pilot_steps"), r.get("why")])
        command = f"pfgm-bench advise recipe={r['recipe']} goal={r['goal']}{cand}"
        cmds.append(f"- {label}: {code(command)}")
    return (
        out
        + table(["recipe · goal", "advised D", "N", "D / N", "pilot steps", "why"], rows)
        + ["", "Commands:", ""]
        + cmds
        + [""]
    )


def _mean_se(xs: list[float]) -> str:
    if not xs:
        return ""
    m = sum(xs) / len(xs)
    if len(xs) == 1:
        return fmt(m)
    se = math.sqrt(sum((x - m) ** 2 for x in xs) / (len(xs) - 1) / len(xs))
    return f"{fmt(m)} ± {se:.2g}"


# -------------------------------------------------------------------------------------------------


def read_index(path: Path = INDEX) -> dict[str, str]:
    """file name → command, from the table rows of benchmarks/README.md that name a result file."""
    commands: dict[str, str] = {}
    for line in path.read_text().splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")] if line.startswith("|") else []
        if len(cells) < 3:
            continue
        m = re.fullmatch(r"`(?:benchmarks/)?(?:results/)?([\w.-]+\.jsonl?)`", cells[0])
        spans = re.findall(r"`([^`]+)`", cells[-1])
        if m and spans:
            commands[m.group(1)] = " && ".join(spans)
    return commands


def section_of(name: str) -> str:
    for title, prefixes in SECTIONS:
        if name.startswith(prefixes):
            return title
    return "Other"


def result_files() -> list[tuple[str, str]]:
    """(name, text) of every .json / .jsonl in benchmarks/results, as git's index holds them.

    The index, not the working tree: the page then matches what a commit holds, whatever results are
    being written (a running sweep appends to its file) or lie untracked beside them. Outside a git
    checkout, the files on disk.
    """
    try:
        listing = subprocess.run(
            ["git", "ls-files", "-s", "--", "benchmarks/results"], cwd=ROOT, capture_output=True, text=True, check=True
        ).stdout
    except (OSError, subprocess.CalledProcessError):
        listing = ""
    files: list[tuple[str, str]] = []
    for line in listing.splitlines():
        meta, path = line.split("\t", 1)
        if Path(path).suffix in (".json", ".jsonl"):
            blob = subprocess.run(["git", "cat-file", "blob", meta.split()[1]], cwd=ROOT, capture_output=True, check=True).stdout
            files.append((Path(path).name, blob.decode()))
    if not listing:
        files = [(p.name, p.read_text()) for p in RESULTS.iterdir() if p.suffix in (".json", ".jsonl")]
    return sorted(files)


def build() -> str:
    index = read_index()
    parts: dict[str, list[str]] = defaultdict(list)
    for name, text in result_files():
        if name.endswith(".jsonl"):
            records = [json.loads(line) for line in text.splitlines() if line.strip()]
            if records and all({"recipe", "D", "seed", "solver", "steps"} <= r.keys() for r in records):
                parts[section_of(name)] += render_sweep(name, records)
            elif records and all({"recipe", "goal", "D"} <= r.keys() for r in records):
                parts[section_of(name)] += render_advice(name, records)
            else:
                parts[section_of(name)] += render_json(name, records, index)
        else:
            parts[section_of(name)] += render_json(name, json.loads(text), index)
    lines = [
        "# Results",
        "",
        "<!-- generated by scripts/results_page.py from benchmarks/results/: do not edit by hand -->",
        "",
        "Every measured result in `benchmarks/results/`, as tables, each with the command that regenerates it "
        "(timings come from the machine the file names, mostly one thread of a shared 2-core CPU). "
        "What the numbers mean is in the user guides; `benchmarks/README.md` indexes the scripts. "
        "Regenerate this page with `python scripts/results_page.py`.",
        "",
    ]
    for title in [t for t, _ in SECTIONS] + ["Other"]:
        if parts.get(title):
            lines += [f"## {title}", ""]
            lines += [re.sub(r"^## ", "### ", line) for line in parts[title]]
    text = "\n".join(lines).rstrip() + "\n"
    return re.sub(r"\n{3,}", "\n\n", text)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--check", action="store_true", help="exit 1 if the page is stale instead of writing it")
    ap.add_argument("--out", type=Path, default=OUT)
    a = ap.parse_args(argv)
    text = build()
    if a.check:
        if not a.out.is_file() or a.out.read_text() != text:
            print(
                f"{a.out.relative_to(ROOT) if a.out.is_relative_to(ROOT) else a.out} is stale: python scripts/results_page.py",
                file=sys.stderr,
            )
            return 1
        return 0
    a.out.write_text(text)
    print(f"wrote {a.out} ({len(text.splitlines())} lines)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
