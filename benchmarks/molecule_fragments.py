"""Why sampled molecules come in pieces: fragment counts of samples vs the data, and where the pieces come from.

    python benchmarks/molecule_fragments.py CHECKPOINT [--num 500] [--seed 0] [--D 128] [--set churn=0 ...]
        [--trajectory] [--out results.json]

Samples at the checkpoint's own sampler settings (35 NFE for the molecules recipe) and decodes
exactly as the modality does (no correction). Reports, for the samples and for the training data
(its encoded graphs decoded back, so both go through the same code):

- the fragment-count distribution of the raw graphs (all samples) and of the valid molecules;
- isolated atoms (degree 0): how many samples have one, and how many multi-fragment samples are
  "one molecule + isolated atoms" only; which elements the isolated atoms are;
- the drawn atom count n vs the size of the largest fragment, and the multi-fragment rate by n;
- the sizes of the non-largest fragments;
- a decoding-time counterfactual that keeps what the model sampled: join the fragments with the
  single bonds the model itself scored highest (edge channel margin "bond" − "none") among atom
  pairs with free valence (Kruskal over fragments), then sanitize. Reported as what
  valid_connected would become; it is not what the modality decodes.
"""

from __future__ import annotations

import argparse
import collections
import json
from pathlib import Path

import numpy as np
import torch
from rdkit import RDLogger

from pfgm.modalities.graphs.flat import decode_classes
from pfgm.modalities.molecules.fragments import components, graph_stats, join_fragments
from pfgm.modalities.molecules.mol_repair import fragment_count, sanitize_or_none
from pfgm.core.generate import generate
from pfgm.core.kernel import PFGMKernel
from pfgm.core.config import parse_D
from pfgm.recipes.build import generate_config, load_checkpoint, sigmas_for

from molecule_failures import parse_override  # the sibling script (python puts benchmarks/ on sys.path)


class Recorder:
    """Wraps the denoiser and keeps (σ, the share of samples whose denoised graph is in pieces) per call."""

    def __init__(self, den, layout, n_nodes: torch.Tensor | None = None):
        self.den, self.layout, self.trace = den, layout, []

    def __getattr__(self, name):  # anything the solver asks of the denoiser
        return getattr(self.den, name)

    def __call__(self, x, sigma, *args, **kwargs):
        out = self.den(x, sigma, *args, **kwargs)
        mask = kwargs.get("mask")
        if mask is None:
            mask = torch.ones_like(out)
        graphs = decode_classes(self.layout, out, mask)
        multi = np.mean([len(components(np.asarray(b))) > 1 for _, b in graphs])
        s = float(torch.as_tensor(sigma).flatten()[0])
        self.trace.append((round(s, 4), round(float(multi), 4)))
        return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("checkpoint")
    ap.add_argument("--num", type=int, default=500)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--D", default=None, help="override the checkpoint's D at sampling (inf or a number)")
    ap.add_argument(
        "--set",
        nargs="*",
        default=[],
        metavar="KEY=VALUE",
        help="sampler overrides, as pfgm-sample's sampler.KEY (e.g. churn=0 or solver=heun steps=18)",
    )
    ap.add_argument(
        "--trajectory",
        action="store_true",
        help="also report, per solver call, the share of denoised predictions that are in pieces",
    )
    ap.add_argument("--ref", type=int, default=5000, help="training graphs to describe the data with (default %(default)s)")
    ap.add_argument("--out", default=None, help="write the report as JSON here too")
    args = ap.parse_args()
    RDLogger.DisableLog("rdApp.*")
    torch.set_num_threads(1)
    modality, den, cfg = load_checkpoint(args.checkpoint)
    g = generate_config(cfg, dict(parse_override(kv) for kv in args.set), args.num, args.seed)
    D = parse_D(args.D if args.D is not None else cfg["pfgm"]["D"])
    layout, vocab = modality.graph_layout, modality.vocab
    rec = Recorder(den, layout) if args.trajectory else den
    x, mask, _ = generate(rec, PFGMKernel(D), modality.blank, sigmas_for(g), g, progress=False)
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
    if args.trajectory:
        # (σ of the call, share of the batch's denoised graphs with > 1 fragment); one entry per call
        by_sigma: dict[float, list[float]] = collections.defaultdict(list)
        for sg, share_ in rec.trace:  # batches repeat the schedule: average over them
            by_sigma[sg].append(share_)
        report["denoised_multi_fragment_share_by_sigma"] = [[sg, round(float(np.mean(v)), 4)] for sg, v in by_sigma.items()]
    text = json.dumps(report, indent=2)
    print(text)
    if args.out:
        Path(args.out).write_text(text + "\n")


if __name__ == "__main__":
    main()
