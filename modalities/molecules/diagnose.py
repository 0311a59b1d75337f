"""The molecules diagnostics of ``pfgm-diagnose molecules``: why a checkpoint's samples are invalid
(``failures``), why they come in pieces (``fragments``), and whether either goes with the drawn atom
count (``fragments-by-size``).

Every diagnostic samples as pfgm-sample does, with the checkpoint's sampler and its σ-band projections
(``--set connect_sigma_max=0`` samples without bridging), and decodes exactly as the modality does (no
correction). The recipes' loaders are imported inside the runs, so importing a modality never pulls in
the command layer.
"""

from __future__ import annotations

import argparse
import collections
import json
from typing import Any

import numpy as np
import torch
from rdkit import Chem, RDLogger

from pfgm.core.errors import ConfigError

from ..base import Diagnostic
from ..graphs.flat import GraphLayout, decode_classes
from .fragments import components, graph_stats, join_fragments
from .mol_repair import fragment_count, sanitize_or_none
from .mol_vocab import MolVocab

__all__ = ["DIAGNOSTICS", "sanitize_error", "overvalent_carbons"]

Graphs = list[tuple[np.ndarray, np.ndarray]]


def _sampler_override(kv: str) -> tuple[str, object]:
    """``KEY=VALUE`` → (key, value): a number where it reads as one (``steps`` an integer), else the text."""
    key, sep, value = kv.partition("=")
    if not sep:
        raise ConfigError(f"--set expects KEY=VALUE, got {kv!r}")
    try:
        return key, float(value) if key != "steps" else int(value)
    except ValueError:
        return key, value


def _add_sampling_args(ap: argparse.ArgumentParser, num: int, example: str) -> None:
    ap.add_argument("checkpoint", help="a run dir, a .safetensors export or zoo:NAME")
    ap.add_argument("--num", type=int, default=num, help="samples to draw (default %(default)s)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument(
        "--set",
        nargs="*",
        default=[],
        metavar="KEY=VALUE",
        help=f"sampler overrides, as pfgm-sample's sampler.KEY (e.g. {example})",
    )


def _sample(
    args: argparse.Namespace, D: str | None = None, trace: bool = False
) -> tuple[Any, dict[str, Any], float, torch.Tensor, torch.Tensor | None, _FragmentTrace | None]:
    """(modality, config, the prior's D, the generated x, its mask, the fragment trace or None).

    Samples exactly as pfgm-sample does (the checkpoint's sampler plus ``--set``, its σ-band projections
    such as bridging included), on the CPU; ``trace`` records every solver call (:class:`_FragmentTrace`)."""
    from pfgm.core.distributed import init_distributed
    from pfgm.core.generate import generate
    from pfgm.recipes.build import load_checkpoint
    from pfgm.recipes.sample import _generation

    RDLogger.DisableLog("rdApp.*")
    ckpt = load_checkpoint(args.checkpoint)
    c = {
        "num_samples": args.num,
        "seed": args.seed,
        "sampler": dict(_sampler_override(kv) for kv in args.set),
        "pfgm": {"D": D},
        "progress": False,
    }
    (den, *rest), kw, info = _generation(c, init_distributed("cpu"), *ckpt, ckpt.pfgm)
    tr = _FragmentTrace(den, ckpt.modality.graph_layout) if trace else None
    x, mask, _ = generate(den if tr is None else tr, *rest, **kw)
    return ckpt.modality, ckpt.config, info["D"], x, mask, tr


# -------------------------------------------------------------------------------------------------
# failures


def sanitize_error(vocab: MolVocab, atoms: np.ndarray, bonds: np.ndarray) -> str | None:
    """None if the graph sanitises (decoded exactly as the modality decodes), else RDKit's complaint."""
    rw = vocab.graph_to_rwmol(atoms, bonds)
    try:
        Chem.SanitizeMol(rw)
        return None
    except Exception as e:  # RDKit raises several exception types; the message is what we count
        words = str(e).split()
        # "Explicit valence for atom # 3 C, 5, is greater than permitted": keep the element and valence
        return " ".join(words[:3] + words[6:8]) if words[:2] == ["Explicit", "valence"] else " ".join(words[:3])


def overvalent_carbons(vocab: MolVocab, graphs: Graphs) -> tuple[collections.Counter, int, int]:
    """Carbons whose bond orders sum above 4: (their sorted bond-order patterns, how many sit on a
    ring, how many in all). Two double bonds on a ring carbon is a kekulé alternation failure."""
    import networkx as nx

    patterns: collections.Counter = collections.Counter()
    in_ring = total = 0
    for atoms, bonds in graphs:
        bonds = np.asarray(bonds)
        g = nx.from_numpy_array((bonds > 0).astype(int))
        ring_atoms = {v for cycle in nx.cycle_basis(g) for v in cycle}
        for i, a in enumerate(atoms):
            orders = sorted(int(k) for k in bonds[i][bonds[i] > 0])
            if vocab.atom_types[a] == "C" and sum(orders) > 4:
                patterns[tuple(orders)] += 1
                in_ring += i in ring_atoms
                total += 1
    return patterns, in_ring, total


def _failures_args(ap: argparse.ArgumentParser) -> None:
    _add_sampling_args(ap, 200, "solver=euler steps=35")


def failures(args: argparse.Namespace) -> None:
    """Why generated molecules are invalid: RDKit's sanitisation errors, counted, and bond density vs the data.

    pfgm-diagnose molecules failures CHECKPOINT [--num 200] [--seed 0] [--set churn_sigma_max=5 ...]

    For every invalid sample, the first words of RDKit's error (e.g. "Explicit valence for C, 5"), then
    which over-valent carbons sit on rings and with which bond orders (kekulé failures), and the bonds
    and atoms per molecule beside the first 500 training graphs'.
    """
    modality, _, _, x, mask, _ = _sample(args)
    layout, vocab = modality.graph_layout, modality.vocab
    gen = decode_classes(layout, x, mask)
    errors = collections.Counter(sanitize_error(vocab, a, np.asarray(b)) for a, b in gen)
    train = modality.dataset("train")
    ref = decode_classes(layout, train.x[:500], train.mask[:500])
    density = lambda graphs: float(np.mean([(np.asarray(b) > 0).sum() / 2 / max(len(a), 1) for a, b in graphs]))
    print(f"valid: {errors.pop(None, 0)} of {len(gen)}")
    for msg, n in errors.most_common():
        print(f"  {n:4d}  {msg}")
    print(f"bonds per atom: generated {density(gen):.3f}, training {density(ref):.3f}")
    patterns, in_ring, total = overvalent_carbons(vocab, gen)
    print(f"over-valent carbons: {total}, on a ring: {in_ring}; bond-order patterns: {patterns.most_common(4)}")
    print(
        f"atoms per molecule: generated {np.mean([len(a) for a, _ in gen]):.2f}, training {np.mean([len(a) for a, _ in ref]):.2f}"
    )


# -------------------------------------------------------------------------------------------------
# fragments


class _FragmentTrace:
    """Wraps the denoiser and keeps (σ, the share of samples whose denoised graph is in pieces) per call."""

    def __init__(self, den: Any, layout: GraphLayout) -> None:
        self.den, self.layout = den, layout
        self.trace: list[tuple[float, float]] = []

    def __getattr__(self, name: str) -> Any:  # anything the solver asks of the denoiser
        return getattr(self.den, name)

    def __call__(self, x: torch.Tensor, sigma: Any, *args: Any, **kwargs: Any) -> torch.Tensor:
        out = self.den(x, sigma, *args, **kwargs)
        mask = kwargs.get("mask")
        if mask is None:
            mask = torch.ones_like(out)
        graphs = decode_classes(self.layout, out, mask)
        multi = np.mean([len(components(np.asarray(b))) > 1 for _, b in graphs])
        s = float(torch.as_tensor(sigma).flatten()[0])
        self.trace.append((round(s, 4), round(float(multi), 4)))
        return out


def _fragments_args(ap: argparse.ArgumentParser) -> None:
    _add_sampling_args(ap, 500, "churn=0 or solver=heun steps=18")
    ap.add_argument("--D", default=None, help="override the checkpoint's D at sampling (inf or a number)")
    ap.add_argument(
        "--trajectory",
        action="store_true",
        help="also report, per solver call, the share of denoised predictions that are in pieces",
    )
    ap.add_argument("--ref", type=int, default=5000, help="training graphs to describe the data with (default %(default)s)")
    ap.add_argument("--out", default=None, help="write the report as JSON here too")


def fragments(args: argparse.Namespace) -> None:
    """Why sampled molecules come in pieces: fragment counts of samples vs the data, and where the pieces come from.

    pfgm-diagnose molecules fragments CHECKPOINT [--num 500] [--seed 0] [--D 128] [--set churn=0 ...]
        [--trajectory] [--out results.json]

    Reports, as JSON, for the samples and for the training data (its encoded graphs decoded back, so
    both go through the same code):

    - the fragment-count distribution of the raw graphs (all samples) and of the valid molecules;
    - isolated atoms (degree 0): how many samples have one, and how many multi-fragment samples are
      "one molecule + isolated atoms" only; which elements the isolated atoms are;
    - the drawn atom count n vs the size of the largest fragment, and the multi-fragment rate by n;
    - the sizes of the non-largest fragments;
    - with --trajectory, per solver call, the share of denoised estimates in pieces, as the solver sees
      them (after bridging: add --set connect_sigma_max=0 to see the network alone);
    - a decoding-time counterfactual that keeps what the model sampled: join the fragments with the
      single bonds the model itself scored highest (edge channel margin "bond" − "none") among atom
      pairs with free valence (Kruskal over fragments), then sanitize. Reported as what
      valid_connected would become; it is not what the modality decodes.
    """
    from pfgm.core.atomic import atomic_write_text

    torch.set_num_threads(1)
    modality, cfg, D, x, mask, trace = _sample(args, args.D, trace=args.trajectory)
    layout, vocab = modality.graph_layout, modality.vocab
    gen = decode_classes(layout, x, mask)
    train = modality.dataset("train")
    k = min(args.ref, len(train))
    pick = torch.randperm(len(train), generator=torch.Generator().manual_seed(0))[:k]
    ref = decode_classes(layout, train.x[pick], train.mask[pick])

    # the model's own bond-vs-none margin for every pair, for the joining counterfactual
    _, edges = layout.unpack(x.detach().float())
    margin_all = (edges[..., 1:].amax(-1) - edges[..., 0]).numpy()
    joined_ok = joined_was_valid = 0
    best_cross, present = [], []  # margins: the best pair between fragments; the bonds decoded
    for b, (atoms, bonds) in enumerate(gen):
        n = len(atoms)
        bonds = np.asarray(bonds)
        mg = margin_all[b, :n, :n]
        iu = np.triu_indices(n, 1)
        present.extend(mg[iu][bonds[iu] > 0].tolist())
        comps = components(bonds)
        if len(comps) > 1:
            main_c = set(comps[0])
            best_cross.append(max(mg[i, j] for i in main_c for j in range(n) if j not in main_c))
        jb = join_fragments(vocab, atoms, bonds, mg)
        mol = sanitize_or_none(vocab.graph_to_rwmol(atoms, jb))
        ok = mol is not None and fragment_count(mol) == 1
        joined_ok += ok
        joined_was_valid += ok and sanitize_or_none(vocab.graph_to_rwmol(atoms, bonds)) is not None
    q = lambda v: [round(float(x), 3) for x in np.quantile(v, [0.1, 0.5, 0.9])] if len(v) else []

    report = {
        "checkpoint": str(args.checkpoint),
        "num_samples": args.num,
        "seed": args.seed,
        "D": str(D),
        "step": cfg.get("step"),
        "data_graphs": k,
        "sampler_overrides": list(args.set),
        "samples": graph_stats(vocab, gen),
        "data": graph_stats(vocab, ref),
        "valid_connected_if_fragments_joined_by_model_scores": round(joined_ok / max(len(gen), 1), 4),
        "of_which_valid_before_joining": round(joined_was_valid / max(len(gen), 1), 4),
        # bond-vs-none margin (x_bond − x_none of the final sample; the data's entries are ±0.5, so 1.0
        # is a confident bond, −1.0 a confident none): quantiles 10/50/90 %
        "margin_of_decoded_bonds_q10_50_90": q(present),
        "margin_of_best_pair_between_main_fragment_and_rest_q10_50_90": q(best_cross),
    }
    if trace is not None:
        # (σ of the call, share of the batch's denoised graphs with > 1 fragment); one entry per call
        by_sigma: dict[float, list[float]] = collections.defaultdict(list)
        for sg, share_ in trace.trace:  # batches repeat the schedule: average over them
            by_sigma[sg].append(share_)
        report["denoised_multi_fragment_share_by_sigma"] = [[sg, round(float(np.mean(v)), 4)] for sg, v in by_sigma.items()]
    text = json.dumps(report, indent=2)
    print(text)
    if args.out:
        atomic_write_text(args.out, text + "\n")


# -------------------------------------------------------------------------------------------------
# fragments by size

#: the drawn atom counts grouped as the molecules recipe's sizes spread (max_atoms 20)
_SIZE_BUCKETS = (("<=10", 10), ("11-15", 15), ("16-20", 20))


def _by_size_args(ap: argparse.ArgumentParser) -> None:
    ap.add_argument("checkpoint", nargs="?", default="zoo:molecules", help="a run dir, a .safetensors export or zoo:NAME")
    ap.add_argument("--num", type=int, default=1000, help="samples to draw (default %(default)s)")
    ap.add_argument("--seed", type=int, default=0)


def fragments_by_size(args: argparse.Namespace) -> None:
    """Validity and single-fragment share of a molecules checkpoint by the drawn atom count n.

    pfgm-diagnose molecules fragments-by-size [CHECKPOINT] [--num 1000] [--seed 0]   (default zoo:molecules)

    Samples with the checkpoint's sampler, as pfgm-sample does, and prints a Markdown table: whether
    fragments come with size.
    """
    from pfgm.recipes.sample import generate_from_checkpoint

    modality, objs, _, samples = generate_from_checkpoint(
        {
            "checkpoint": args.checkpoint,
            "num_samples": args.num,
            "seed": args.seed,
            "device": "cpu",
            "sampler": {},
            "progress": False,
        }
    )
    rows = {name: [0, 0, 0] for name, _ in _SIZE_BUCKETS}  # requested, valid, valid and one fragment
    for n, mol in zip(modality.graph_layout.n_nodes(samples.mask).tolist(), objs):
        row = rows[next((name for name, top in _SIZE_BUCKETS if n <= top), _SIZE_BUCKETS[-1][0])]
        row[0] += 1
        if mol is not None:
            row[1] += 1
            row[2] += len(Chem.GetMolFrags(mol)) == 1
    print("| atoms | requested | validity | valid and connected |\n| --- | --- | --- | --- |")
    for name, (req, valid, connected) in rows.items():
        print(f"| {name} | {req} | {valid / max(req, 1):.3f} | {connected / max(req, 1):.3f} |")


#: pfgm-diagnose molecules NAME: read by pfgm.recipes.diagnose
DIAGNOSTICS = {
    "molecules": {
        "failures": Diagnostic(
            "why generated molecules are invalid: RDKit's errors counted, over-valent ring carbons", _failures_args, failures
        ),
        "fragments": Diagnostic(
            "why molecules come out in pieces: isolated atoms, bond margins between fragments, the σ at which pieces form",
            _fragments_args,
            fragments,
        ),
        "fragments-by-size": Diagnostic(
            "validity and single-fragment share by the drawn atom count", _by_size_args, fragments_by_size
        ),
    }
}
