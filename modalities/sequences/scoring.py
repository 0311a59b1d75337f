"""The metric sets ``SequenceModality.evaluate`` reports: protein/antibody, RNA, and generic sequences.

Each set scores the generated sequences against the held-out reference and, with the same code,
a training subset of the reference's size against it (keys ending ``_heldout``): what a perfect
generator would score, the ceiling beside each number. Novelty is against the whole training split
(the held-out set's own novelty is its overlap with training), nearest-neighbour edit distances
against a training subset of the reference's size.
"""

from __future__ import annotations

import math
from typing import Any, Callable, Sequence

import numpy as np

from . import metrics as M

__all__ = ["protein_metrics", "vh_metrics", "rna_metrics", "generic_metrics"]

#: at most this many sequences enter the all-pairs internal diversity
DIVERSITY_SAMPLE = 500


def _set_stats(
    x: Sequence[str], test: Sequence[str], train_all: Sequence[str], train_ref: Sequence[str], symbols: str
) -> dict[str, float]:
    sub = list(x[:DIVERSITY_SAMPLE])
    near = M.nearest_edit_distance(sub, train_ref) if sub else np.full(0, math.nan)
    return {
        "uniqueness": M.uniqueness(x),
        "novelty": M.novelty(x, train_all),
        "nearest_train_edit": float(near.mean()) if sub else math.nan,
        "nearest_train_edit_median": float(np.median(near)) if sub else math.nan,
        "internal_diversity": M.internal_diversity(sub),
        "length_wasserstein": M.length_wasserstein(x, test),
        "composition_js": M.composition_js(x, test, symbols),
        "mean_length": float(np.mean([len(s) for s in x])) if len(x) else math.nan,
    }


#: metrics that compare a set's distribution with the held-out reference: their ceiling is a training
#: subset scored against it (the reference against itself would be 0 by construction)
_VS_REFERENCE = (
    "length_wasserstein",
    "composition_js",
    "descriptor_w",
    "conformity",
    "mfe_wasserstein",
    "gc_wasserstein",
    "kmer",
    "bp_distance_wasserstein",
)


def _both(
    fn: Callable[[Sequence[str]], dict[str, float]], gen: Sequence[str], test: Sequence[str], train_ref: Sequence[str]
) -> dict[str, float]:
    """fn(gen), and ``<key>_heldout``: the held-out set's own value (its uniqueness, its novelty vs
    training, ...) or, for distances to the reference, a training subset's distance to it."""
    out = dict(fn(gen))
    own, sub = fn(test), fn(train_ref)
    for k in list(out):
        src = sub if k.startswith(_VS_REFERENCE) else own
        if k in src:
            out[f"{k}_heldout"] = src[k]
    return out


def generic_metrics(gen, test, train_all, train_ref, symbols) -> dict[str, float]:
    return _both(lambda x: _set_stats(x, test, train_all, train_ref, symbols), gen, test, train_ref)


def _pgen_cached(seqs: Sequence[str], olga_model: str, key: dict[str, Any] | None, which: str) -> np.ndarray:
    from .antibody import log10_pgen

    if key is None:
        return log10_pgen(seqs, olga_model)
    from .cache import cached_json

    vals = cached_json(
        "olga_pgen",
        {**key, "which": which, "model": olga_model, "seqs_hash": hash_seqs(seqs)},
        lambda: [None if not math.isfinite(v) else v for v in log10_pgen(seqs, olga_model).tolist()],
    )
    return np.asarray([-math.inf if v is None else v for v in vals], dtype=np.float64)


def hash_seqs(seqs: Sequence[str]) -> str:
    import hashlib

    return hashlib.sha256("\n".join(seqs).encode()).hexdigest()[:16]


def protein_metrics(
    gen, test, train_all, train_ref, symbols, cdr3_of=None, olga_model="human_B_heavy", pgen_samples=1000, cache_key=None
) -> tuple[dict[str, float], list[str]]:
    notes: list[str] = []
    ref_desc = M.protparam_descriptors(test)

    def one(x: Sequence[str]) -> dict[str, float]:
        out = _set_stats(x, test, train_all, train_ref, symbols)
        if len(x) >= 2:
            d = M.protparam_descriptors(x)
            out["descriptor_wasserstein"], per = M.descriptor_wasserstein(d, ref_desc)
            out.update({f"descriptor_w_{k}": v for k, v in per.items()})
            out["conformity"] = M.conformity(d, ref_desc)
        return out

    m = _both(one, gen, test, train_ref)
    if cdr3_of is not None:
        test_cdr3, ref_cdr3 = cdr3_of(test), cdr3_of(train_ref)
        ref_lp = _pgen_cached(test_cdr3, olga_model, cache_key, "test")
        real_lp = _pgen_cached(ref_cdr3, olga_model, cache_key, "train_ref")
        g = list(gen[:pgen_samples])
        if len(gen) > pgen_samples:
            notes.append(f"OLGA Pgen on the first {pgen_samples} of {len(gen)} samples (modality.pgen_samples)")
        gen_lp = _pgen_cached(cdr3_of(g), olga_model, None, "gen")
        ref_mean = M.pgen_summary(ref_lp)["log10_pgen_mean"]
        conserved = lambda cd: float(np.mean([bool(c) and c[0] == "C" and c[-1] in "WF" for c in cd])) if cd else math.nan  # noqa: E731
        m.update(M.pgen_summary(gen_lp))
        m.update({f"{k}_heldout": v for k, v in M.pgen_summary(ref_lp).items()})
        m["log10_pgen_gap"] = m["log10_pgen_mean"] - ref_mean
        m["log10_pgen_gap_heldout"] = M.pgen_summary(real_lp)["log10_pgen_mean"] - ref_mean  # sampling noise of the gap
        m["pgen_ks"], m["pgen_ks_heldout"] = M.pgen_ks(gen_lp, ref_lp), M.pgen_ks(real_lp, ref_lp)
        m["conserved_c_w"], m["conserved_c_w_heldout"] = conserved(cdr3_of(g)), conserved(test_cdr3)
        found = [c for c in test_cdr3 if c]
        m["j_end_tv"] = M.end_motif_tv([c for c in cdr3_of(gen) if c], found)
        m["j_end_tv_heldout"] = M.end_motif_tv([c for c in ref_cdr3 if c], found)
    notes.append(
        f"reference = {len(test)} held-out sequences; <metric>_heldout = the held-out set's own value, "
        f"or for distances to the reference a training subset of the same size (the ceiling); "
        "log10 Pgen means are over Pgen > 0"
    )
    return m, notes


def vh_metrics(
    gen: Sequence[str],
    test: Sequence[str],
    train_all: Sequence[str],
    cdr3_of: Callable[[Sequence[str]], list[str]],
    numbering: str = "auto",
    limit: int = 1000,
    antiberty: int = 0,
    requested: Sequence[tuple[str | None, str | None]] | None = None,
) -> tuple[dict[str, float], list[str]]:
    """Heavy chains: germline identity per IMGT region (germline.py) and CDR3 novelty, each beside the held-out set's.

    ``germline_<region>_identity``: mean identity to the nearest germline V (FR1–FR3, CDR1–2) or J (FR4);
    ``germline_frameworks_90``: the share whose FR1–FR3 are ≥ 90 % identical to one V gene and FR4 to one J;
    ``cdr3_novelty``: the share whose CDR3 (C … W) is found and is not the CDR3 of any training sequence.
    ``requested`` (V, J) per sample (germline-conditioned models): ``germline_label_match`` is the share of the
    labelled samples whose nearest V and J genes are the requested ones (or germline-identical to them),
    ``germline_v_match`` / ``germline_j_match`` each alone.
    The first ``limit`` samples are scored. ``antiberty=n``: also AntiBERTy's pseudo-log-likelihood per residue
    (``antiberty_pll`` and its SE) of the first n samples and n held-out sequences, 8 residues each (plm.py).
    """
    from .germline import germline_calls, germline_summary

    g = list(gen[:limit])
    notes = []
    if len(gen) > limit:
        notes.append(f"germline identities on the first {limit} of {len(gen)} samples (modality.pgen_samples)")
    calls, note = germline_calls(g, numbering)
    ref_calls, _ = germline_calls(list(test), numbering)
    m = germline_summary(calls)
    if requested is not None:
        from .germline import label_matches

        m.update(label_matches(calls, list(requested[:limit])))
    m.update({f"{k}_heldout": v for k, v in germline_summary(ref_calls).items()})
    train_cdr3 = {c for c in cdr3_of(train_all) if c}
    novel = lambda x: float(np.mean([bool(c) and c not in train_cdr3 for c in cdr3_of(x)])) if len(x) else math.nan  # noqa: E731
    m["cdr3_novelty"], m["cdr3_novelty_heldout"] = novel(gen), novel(test)
    notes.append(note)
    if antiberty:
        from . import plm

        try:
            plm.weights_path()
        except ImportError as e:
            notes.append(f"antiberty_pll not computed: {e}")
        else:
            m.update(plm.pll_summary(plm.pseudo_log_likelihood(list(gen[:antiberty]), positions=8), "antiberty_pll"))
            m.update(
                {
                    f"{k}_heldout": v
                    for k, v in plm.pll_summary(
                        plm.pseudo_log_likelihood(list(test[:antiberty]), positions=8), "antiberty_pll"
                    ).items()
                }
            )
            notes.append(
                f"antiberty_pll: AntiBERTy pseudo-log-likelihood per residue (nats) of {min(antiberty, len(gen))} "
                f"samples and {min(antiberty, len(test))} held-out sequences, 8 random residues each; _se its SE"
            )
    return m, notes


def rna_metrics(gen, test, train_all, train_ref, target: str | None) -> dict[str, float]:
    from .rna import bp_distance, fold, gc_content, pair_rate

    t_struct, t_mfe = fold(test)
    t_bp = bp_distance(t_struct, target) if target else None

    def one(x: Sequence[str]) -> dict[str, float]:
        out = {
            "uniqueness": M.uniqueness(x),
            "novelty": M.novelty(x, train_all),
            "nearest_train_edit": float(M.nearest_edit_distance(list(x[:DIVERSITY_SAMPLE]), train_ref).mean())
            if len(x)
            else math.nan,
            "internal_diversity": M.internal_diversity(list(x[:DIVERSITY_SAMPLE])),
        }
        if not len(x):
            return out
        st, mfe = fold(x)
        out["mfe_mean"] = float(mfe.mean())
        out["mfe_wasserstein"] = M.wasserstein(mfe, t_mfe)
        out["gc_wasserstein"] = M.wasserstein(gc_content(x), gc_content(test))
        for k in (3, 4, 5):
            out[f"kmer{k}_distance"] = M.kmer_spectrum_distance(x, test, k)
        out["kmer_distance"] = float(np.mean([out[f"kmer{k}_distance"] for k in (3, 4, 5)]))
        if target:
            bp = bp_distance(st, target)
            ok = bp >= 0
            out["fold_to_target"] = float(np.mean([s == target for s in st]))
            out["stem_pair_rate"] = pair_rate(x, target)
            out["bp_distance_mean"] = float(bp[ok].mean()) if ok.any() else math.nan
            out["bp_distance_wasserstein"] = M.wasserstein(bp[ok], t_bp[t_bp >= 0])
        return out

    return _both(one, gen, test, train_ref)
