"""The sequence diagnostics of ``pfgm-diagnose rna`` and ``pfgm-diagnose cdr3``: how generated RNA
misfolds, whether an RNA denoiser reads a base's pairing partner, the fold rate of a family's positive
design alone, and where a CDR3 model's Pgen gap comes from.

ViennaRNA and OLGA are imported by the functions that fold or score; the recipes' loaders inside the
runs, so importing a modality never pulls in the command layer.
"""

from __future__ import annotations

import argparse
import json
import random
from collections import Counter
from typing import Sequence

import numpy as np
import torch

from pfgm.core.errors import ConfigError

from ..base import Diagnostic
from .rna import TARGETS, fold, misfold_report, positive_design, target_pairs

__all__ = ["DIAGNOSTICS", "partner_probe"]

# -------------------------------------------------------------------------------------------------
# rna misfolds


def _misfolds_args(ap: argparse.ArgumentParser) -> None:
    ap.add_argument("fasta", help="generated RNA, e.g. pfgm-sample's out=x.fasta (dot-bracket lines are read past)")
    ap.add_argument("target", help=f"a built-in family ({', '.join(sorted(TARGETS))}) or a dot-bracket string")
    ap.add_argument("--top", type=int, default=8, help="commonest MFE structures to list (default %(default)s)")


def misfolds(args: argparse.Namespace) -> None:
    """How generated RNA misfolds: which helices of the target its MFE structure keeps, and by how much an
    alternative fold beats the target.

    pfgm-sample checkpoint=zoo:rna_trna num_samples=200 seed=5 out=x.fasta
    pfgm-diagnose rna misfolds x.fasta trna        # a family name or a dot-bracket target

    Prints the report as JSON (fold rate, for each helix of the target the share of samples whose MFE
    structure holds all of its pairs, and two energies, kcal/mol, ViennaRNA at 37 °C: the target's own
    energy on each sample and its MFE), then the commonest MFE structures under the target. A family
    member has gap 0 by construction. A sample whose target energy is at the family's level but whose
    MFE is far below it has the right stems and a stronger alternative fold: a failure of negative
    design, not of pairing.
    """
    from .alphabet import Alphabet
    from .parsers import read_sequences

    target = TARGETS.get(args.target, args.target)
    if set(target) - set("()."):
        raise ConfigError(
            f"target {args.target!r} is neither a built-in family ({', '.join(sorted(TARGETS))}) nor a dot-bracket string"
        )
    items, _ = read_sequences(args.fasta, Alphabet("rna"))
    rep = misfold_report([it.seq for it in items], target, args.top)
    print(json.dumps({k: v for k, v in rep.items() if k != "top_structures"}, indent=1))
    print(f"target  {target}")
    for st, n in rep["top_structures"]:
        print(f"{n:6d}  {st}")


# -------------------------------------------------------------------------------------------------
# rna partner-probe

COMPLEMENT = {"A": "U", "U": "A", "G": "C", "C": "G"}  # Watson-Crick; GU wobble left out


def partner_probe(
    checkpoint: str, num: int = 400, sigmas: Sequence[float] = (0.3, 0.6, 1.0, 2.0), seed: int = 0
) -> dict[float, float]:
    """{σ: mean shift of the denoiser's P(partner = complement of the new base)} when one stem base of
    ``num`` held-out family members is changed and the noise kept."""
    from pfgm.recipes.build import load_checkpoint

    modality, den, _ = load_checkpoint(checkpoint)
    if modality.name != "sequences" or getattr(modality, "target", None) is None:
        raise ConfigError(f"{checkpoint}: not an RNA-family checkpoint (a sequences model with a target structure)")
    syms = list(modality.alphabet.symbols)
    x = modality.dataset("test").x[:num]
    g = torch.Generator().manual_seed(seed)
    rows = torch.arange(len(x))
    out = {}
    for sigma in sigmas:
        shifts = []
        for i, j in target_pairs(modality.target):
            changed = x.clone()
            new = (x[:, i].argmax(-1) + torch.randint(1, 4, (len(x),), generator=g)) % 4
            changed[:, i] = -0.5
            changed[rows, i, new] = 0.5
            noise = torch.randn(x.shape, generator=g) * sigma
            s = torch.full((len(x),), sigma)
            with torch.no_grad():
                before, after = den(x + noise, s), den(changed + noise, s)
            comp = torch.tensor([syms.index(COMPLEMENT[syms[k]]) for k in new.tolist()])
            shifts.append((after[rows, j, comp] - before[rows, j, comp]).mean().item())
        out[sigma] = sum(shifts) / len(shifts)
    return out


def _partner_args(ap: argparse.ArgumentParser) -> None:
    ap.add_argument("checkpoint", help="an RNA-family run dir, export or zoo:NAME (e.g. zoo:rna_hairpin)")
    ap.add_argument("--num", type=int, default=400, help="held-out sequences to probe (default %(default)s)")


def partner(args: argparse.Namespace) -> None:
    """Does an RNA denoiser read a base's pairing partner? Change one stem base of held-out family members,
    keep the noise, and measure how much the predicted probability of its complement at the partner moves.

    pfgm-diagnose rna partner-probe CHECKPOINT [--num 400]

    A net that has learnt the pairing moves it a lot at intermediate σ; one that models positions
    independently does not move it at all. Prints the mean shift per σ.
    """
    for sigma, shift in partner_probe(args.checkpoint, args.num).items():
        print(f"sigma {sigma}: mean shift of P(partner = complement of the new base) {shift:+.3f}")


# -------------------------------------------------------------------------------------------------
# rna positive-design

#: the recipe that trains each built-in family (its modality options make the family)
_FAMILY_RECIPES = {"trna": "rna_trna", "hairpin": "rna_hairpin"}


def _positive_args(ap: argparse.ArgumentParser) -> None:
    ap.add_argument("family", choices=sorted(TARGETS))
    ap.add_argument("--num", type=int, default=1000, help="sequences to draw (default %(default)s)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--num-sequences", type=int, default=None, help="family size (default: the recipe's)")


def positive(args: argparse.Namespace) -> None:
    """The fold-to-target rate of an RNA family's positive design alone: what a generator gets that has
    learnt every target pair's base-pair frequencies and every unpaired position's base frequencies from
    the training split, and nothing else (each pair and each unpaired base drawn independently).

    pfgm-diagnose rna positive-design trna [--num 1000] [--seed 0]

    A generator at this level has learnt the family's pairing but none of its negative design (no
    alternative helix more stable than the target), which is what makes a sequence a family member. The
    held-out set folds at 1.0 by construction, so the two rates bracket a model's fold-to-target rate.
    Prints one JSON line.
    """
    from pfgm.recipes.build import make_modality
    from pfgm.recipes.cli import compose

    opts = dict(compose("train", [f"recipe={_FAMILY_RECIPES[args.family]}"])["modality"])
    if args.num_sequences:
        opts["num_sequences"] = args.num_sequences
    train = make_modality(opts).sequences("train")
    target = TARGETS[args.family]
    structs, _ = fold(positive_design(train, target, args.num, args.seed))
    rate = float(np.mean([s == target for s in structs]))
    print(
        json.dumps(
            {
                "family": args.family,
                "train_size": len(train),
                "num": args.num,
                "seed": args.seed,
                "positive_design_fold_rate": rate,
            }
        )
    )


# -------------------------------------------------------------------------------------------------
# cdr3 errors


def _substitutions(num: int) -> None:
    from .alphabet import PROTEIN
    from .antibody import generate_heavy, log10_pgen

    seqs = [r["cdr3"] for r in generate_heavy(num, seed=123)]
    rng = random.Random(0)

    def mutate(s: str, k: int) -> str:
        out = list(s)
        for i in rng.sample(range(1, len(s) - 1), k):  # inside the conserved C…W
            out[i] = rng.choice([a for a in PROTEIN if a != out[i]])
        return "".join(out)

    for k in (0, 1, 2, 3):
        lp = log10_pgen([mutate(s, k) if k else s for s in seqs])
        ok = np.isfinite(lp)
        print(f"{k} substitutions: mean log10 Pgen {lp[ok].mean():.2f} (Pgen > 0: {ok.mean():.3f})")


def _residue_counts(seqs: list[str]) -> tuple[Counter, int]:
    return Counter("".join(seqs)), sum(map(len, seqs))


def _ends(checkpoint: str, snap: float) -> None:
    from pfgm.recipes.sample import generate_from_checkpoint

    from . import metrics as M

    mod, gen, _, _ = generate_from_checkpoint(
        {
            "checkpoint": checkpoint,
            "num_samples": 1000,
            "seed": 0,
            "device": "cpu",
            "sampler": {"snap_below": snap} if snap else {},
            "progress": False,
        }
    )
    test_all, train_all = mod.sequences("test"), mod.sequences("train")
    rng = np.random.default_rng(12345)  # pfgm-eval's reference draw (SequenceModality.evaluate)
    n = min(mod.eval_reference, len(test_all), len(train_all))
    test = [test_all[i] for i in rng.permutation(len(test_all))[:n]]
    train_ref = [train_all[i] for i in rng.permutation(len(train_all))[:n]]
    print(f"J-end TV {M.end_motif_tv(gen, test):.3f} (train subset, the ceiling: {M.end_motif_tv(train_ref, test):.3f})")
    g, r = Counter(s[-5:] for s in gen), Counter(s[-5:] for s in test)
    print("end   samples  held out")
    for e, _ in (g + r).most_common(8):
        print(f"{e}  {g[e] / len(gen):.3f}    {r[e] / len(test):.3f}")
    (cg, ng), (cr, nr) = _residue_counts(gen), _residue_counts(test)
    moved = sorted(cr, key=lambda a: -abs(cg[a] / ng - cr[a] / nr))[:4]
    print("residue shares (samples / held out):", ", ".join(f"{a} {cg[a] / ng:.3f} / {cr[a] / nr:.3f}" for a in moved))


def _errors_args(ap: argparse.ArgumentParser) -> None:
    part = ap.add_subparsers(dest="part", required=True, metavar="{substitutions,ends}")
    sub = part.add_parser("substitutions", help="the Pgen cost of 1-3 random substitutions in real CDR3s")
    sub.add_argument("--num", type=int, default=150, help="OLGA CDR3s to mutate (default %(default)s)")
    ends = part.add_parser("ends", help="the J ends and residue shares of a checkpoint's samples")
    ends.add_argument("checkpoint", help="a CDR3 run dir, export or zoo:NAME (e.g. zoo:cdr3)")
    ends.add_argument("snap_below", nargs="?", type=float, default=0.0, help="sample with sampler.snap_below=S (default: off)")


def errors(args: argparse.Namespace) -> None:
    """Where a CDR3 model's Pgen gap comes from: the cost of substitutions, and the J-gene ends it writes.

    OMP_NUM_THREADS=1 pfgm-diagnose cdr3 errors substitutions          # Pgen cost of 1-3 random substitutions
    OMP_NUM_THREADS=1 pfgm-diagnose cdr3 errors ends CHECKPOINT [S]    # J ends and residue shares, snap_below S

    substitutions: 150 OLGA CDR3s (seed 123), each with k random substitutions inside the conserved C…W,
    scored by OLGA. ends: 1,000 samples (seed 0) against pfgm-eval's held-out reference: the commonest
    J ends, the J-end total-variation distance (and the train subset's, the ceiling), and the residue
    shares that moved most.
    """
    if args.part == "substitutions":
        _substitutions(args.num)
    else:
        _ends(args.checkpoint, args.snap_below)


#: pfgm-diagnose rna|cdr3 NAME: read by pfgm.recipes.diagnose
DIAGNOSTICS = {
    "rna": {
        "misfolds": Diagnostic(
            "how generated RNA misfolds: which target helices survive, how far the target sits above the MFE",
            _misfolds_args,
            misfolds,
        ),
        "partner-probe": Diagnostic("whether an RNA denoiser reads a base's pairing partner", _partner_args, partner),
        "positive-design": Diagnostic(
            "the fold rate of an RNA family's positive design alone (pairs and bases drawn independently)",
            _positive_args,
            positive,
        ),
    },
    "cdr3": {
        "errors": Diagnostic(
            "where a CDR3 model's Pgen gap comes from: the cost of substitutions, the J-gene ends it writes",
            _errors_args,
            errors,
        ),
    },
}
