"""Antibody heavy chains offline, from OLGA's bundled human B-cell heavy-chain (IGH) recombination model.

* CDR3s: OLGA draws V(D)J recombination events (gene choice, deletions, insertions) and keeps
  productive junctions, giving CDR3 amino-acid sequences (conserved C … W included, IMGT 104–118)
  with their V and J genes.
* Full variable regions (VH): the germline V gene's nucleotides up to its CDR3 anchor (the conserved
  Cys codon), the generated junction, and the germline J gene after its anchor (the Trp codon),
  translated in frame with Biopython. These are *germline* framework regions: no somatic
  hypermutation, so real repertoires (OAS) are more diverse outside CDR3.
* Scores: OLGA's generation probability Pgen of a CDR3 amino-acid sequence (0 when the model cannot
  make it), the metric of how "immunologically plausible" a junction is.

OLGA draws from numpy's global generator; :func:`generate_heavy` seeds it and restores its state.
"""

from __future__ import annotations

import functools
import math
import os
import re
from typing import Any, Sequence

import numpy as np

from pfgm.core.errors import ConfigError

__all__ = ["olga_model", "generate_heavy", "assemble_vh", "find_cdr3", "log10_pgen", "CDR3_PATTERN"]

#: a VH's CDR3 (IMGT 105–117, without the conserved C and W): after the Cys that follows the
#: framework-3 'Y[YFH]C' motif, before the J region's 'WG.G'
CDR3_PATTERN = re.compile(r"(?<=[YFH]C)([A-Z]{1,40}?)(?=WG.G)")


@functools.lru_cache(maxsize=4)
def olga_model(name: str = "human_B_heavy") -> dict[str, Any]:
    """OLGA's bundled VDJ model by folder name: genomic data, generative model, sampler and Pgen."""
    import olga.generation_probability as gp
    import olga.load_model as lm
    import olga.sequence_generation as sg

    folder = os.path.join(os.path.dirname(lm.__file__), "default_models", name)
    if not os.path.isdir(folder):
        raise ConfigError(
            f"OLGA has no bundled model {name!r}; it ships: {', '.join(sorted(os.listdir(os.path.dirname(folder))))}"
        )
    gd = lm.GenomicDataVDJ()
    gd.load_igor_genomic_data(
        os.path.join(folder, "model_params.txt"),
        os.path.join(folder, "V_gene_CDR3_anchors.csv"),
        os.path.join(folder, "J_gene_CDR3_anchors.csv"),
    )
    gm = lm.GenerativeModelVDJ()
    gm.load_and_process_igor_model(os.path.join(folder, "model_marginals.txt"))
    return {
        "genomic": gd,
        "model": gm,
        "sampler": sg.SequenceGenerationVDJ(gm, gd),
        "pgen": gp.GenerationProbabilityVDJ(gm, gd),
        "name": name,
    }


def assemble_vh(v_index: int, j_index: int, cdr3_nt: str, model: str = "human_B_heavy") -> tuple[str, int, int] | None:
    """(VH amino acids, start, end) with vh[start:end] the CDR3 between the conserved C and W; None if not productive.

    V gene nucleotides before its anchor + the junction (TGT…TGG) + J nucleotides after its anchor.
    """
    from Bio.Seq import Seq

    gd = olga_model(model)["genomic"]
    _, v_cut, v_full = gd.genV[v_index]
    _, j_cut, j_full = gd.genJ[j_index]
    if not v_cut or not j_cut:
        return None
    nt = v_full[: len(v_full) - len(v_cut)] + cdr3_nt + j_full[len(j_cut) :]
    nt = nt[: len(nt) // 3 * 3]
    aa = str(Seq(nt).translate())
    if "*" in aa:
        return None
    start = (len(v_full) - len(v_cut)) // 3 + 1  # after the conserved C
    end = start + len(cdr3_nt) // 3 - 2  # before the conserved W
    return aa, start, end


def generate_heavy(num: int, seed: int, model: str = "human_B_heavy", vh: bool = False) -> list[dict[str, Any]]:
    """num productive CDR3s (and, with vh=True, their assembled VH): dicts with id, cdr3, v, j (and vh, cdr3_span)."""
    m = olga_model(model)
    gd, sampler = m["genomic"], m["sampler"]
    state = np.random.get_state()
    np.random.seed(seed)
    out: list[dict[str, Any]] = []
    try:
        while len(out) < num:
            nt, aa, v, j = sampler.gen_rnd_prod_CDR3()
            rec = {"id": f"olga{seed}_{len(out) + 1}", "cdr3": aa, "v": gd.genV[int(v)][0], "j": gd.genJ[int(j)][0]}
            if vh:
                built = assemble_vh(int(v), int(j), nt, model)
                if built is None:
                    continue
                rec["vh"], s, e = built
                rec["cdr3_span"] = [s - 1, e + 1]  # C … W, like the cdr3 field
            out.append(rec)
    finally:
        np.random.set_state(state)
    return out


def find_cdr3(vh: str) -> tuple[int, int] | None:
    """(start, end) of the CDR3 loop between the conserved C and W of a VH sequence (last match), or None."""
    last = None
    for m in CDR3_PATTERN.finditer(vh):
        last = m
    return None if last is None else (last.start(), last.end())


def log10_pgen(cdr3s: Sequence[str], model: str = "human_B_heavy") -> np.ndarray:
    """log10 Pgen of CDR3 amino-acid sequences (C … W); −inf where Pgen = 0 (also for non-CDR3 strings)."""
    pg = olga_model(model)["pgen"]
    out = np.full(len(cdr3s), -math.inf)
    for i, s in enumerate(cdr3s):
        if not s or not s.isalpha():
            continue
        try:
            p = float(pg.compute_aa_CDR3_pgen(s, print_warnings=False))
        except Exception:  # OLGA rejects letters outside its amino-acid alphabet
            p = 0.0
        if p > 0:
            out[i] = math.log10(p)
    return out
