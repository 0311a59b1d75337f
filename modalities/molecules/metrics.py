"""Quality metrics for generated molecules: validity, uniqueness, novelty, FCD, NSPDK, SA, QED, type and ring TVs.

Molecule conventions (stated because papers differ):
- validity: fraction of *all* samples that RDKit sanitizes without any correction;
- validity_corrected: the same after GDSS-style valency correction (when the raw graphs are known);
- uniqueness: distinct canonical SMILES / valid samples;
- novelty (MOSES): distinct valid SMILES not in the training set / distinct valid SMILES;
- uniqueness_lf, novelty_lf: the same after keeping each valid sample's largest fragment (the
  protocol's reading: a dotted SMILES counts by its main molecule);
- valid_connected: valid AND one connected molecule, over the number requested; fragments_k:
  shares of valid samples with k = 1, 2, 3+ fragments;
- with ``gdss=True`` and the corrected decodings: GDSS's table columns as its sampler computes
  them, on the valency-corrected largest-fragment molecules: uniqueness_corrected,
  novelty_corrected, fcd_corrected (vs the reference SMILES), nspdk_corrected (vs the reference
  graphs). GDSS's "validity w/o correction" is ``validity``;
- FCD: Fréchet ChemNet Distance between valid samples and the reference set (ChemNet features
  from fcd_torch on CPU; the shared Fréchet distance of modalities.shared.frechet);
- SA, QED: means over valid samples (SA from RDKit Contrib's sascorer; lower = easier);
- atom_tv, bond_tv: total-variation distance ½ Σ |p − q| between the atom-type (symbol + charge)
  and bond-type frequencies of valid samples and the reference set;
- rings: ring_size_tv, the same distance between the ring-size frequencies (RDKit's smallest set of
  smallest rings, sizes 3…7 and 8+), and rings_per_mol, aromatic_rings_per_mol with the reference's
  ref_* beside them. A chemist looks at rings first: samples whose rings are 3-, 4-, 7- or 8-membered
  where the data's are benzene-like pass validity and connectivity and still read as wrong.
- NSPDK: the NSPDK MMD of :mod:`modalities.graphs.metrics` on graphs labelled with atom symbols and
  bond orders (:func:`mols_to_nx`), as GDSS reports it for molecules.
"""

from __future__ import annotations

import os
import sys
from collections import Counter
from typing import Any, Iterable, Sequence

import numpy as np

from ..graphs.metrics import nspdk_mmd
from ..shared.frechet import feature_frechet_distance
from ..shared.sets import novelty, uniqueness


def validity(objects: Sequence[Any]) -> float:
    """Fraction of samples that are not None (decoded without correction). 0 for no samples."""
    return sum(o is not None for o in objects) / len(objects) if len(objects) else 0.0


def total_variation(p: Counter | dict, q: Counter | dict) -> float:
    """½ Σ_k |p_k/Σp − q_k/Σq| over the union of keys (1.0 if either side is empty)."""
    sp, sq = sum(p.values()), sum(q.values())
    if sp == 0 or sq == 0:
        return 1.0
    return 0.5 * sum(abs(p.get(k, 0) / sp - q.get(k, 0) / sq) for k in set(p) | set(q))


def atom_type_counts(mols: Iterable) -> Counter:
    """Counts of atom types (symbol with formal charge, e.g. 'N+', 'O-') over heavy atoms."""
    from .mol_vocab import atom_key

    c: Counter = Counter()
    for m in mols:
        c.update(atom_key(a.GetSymbol(), a.GetFormalCharge()) for a in m.GetAtoms())
    return c


def bond_type_counts(mols: Iterable) -> Counter:
    """Counts of RDKit bond types ('SINGLE', 'DOUBLE', 'TRIPLE', 'AROMATIC', ...) of sanitized molecules."""
    c: Counter = Counter()
    for m in mols:
        c.update(str(b.GetBondType()) for b in m.GetBonds())
    return c


def ring_size_counts(mols: Iterable) -> Counter:
    """Counts of ring sizes over the molecules' smallest sets of smallest rings; 8 stands for 8 or more."""
    c: Counter = Counter()
    for m in mols:
        c.update(min(len(r), 8) for r in m.GetRingInfo().AtomRings())
    return c


def ring_metrics(mols: Sequence, ref_mols: Sequence) -> dict[str, float]:
    """ring_size_tv, rings_per_mol and aromatic_rings_per_mol of sanitized molecules, with the reference's ref_*."""
    from rdkit.Chem import rdMolDescriptors

    def per_mol(ms: Sequence) -> tuple[float, float]:
        if not ms:
            return float("nan"), float("nan")
        rings = sum(m.GetRingInfo().NumRings() for m in ms) / len(ms)
        return rings, sum(rdMolDescriptors.CalcNumAromaticRings(m) for m in ms) / len(ms)

    (r, a), (rr, ra) = per_mol(mols), per_mol(ref_mols)
    return {
        "ring_size_tv": total_variation(ring_size_counts(mols), ring_size_counts(ref_mols)),
        "rings_per_mol": r,
        "ref_rings_per_mol": rr,
        "aromatic_rings_per_mol": a,
        "ref_aromatic_rings_per_mol": ra,
    }


def _sascorer():
    from rdkit import RDConfig

    path = os.path.join(RDConfig.RDContribDir, "SA_Score")
    if path not in sys.path:
        sys.path.append(path)
    import sascorer  # type: ignore[import-not-found]

    return sascorer


def sa_scores(mols: Iterable) -> list[float]:
    """Synthetic accessibility (Ertl & Schuffenhauer; 1 easy … 10 hard) per molecule."""
    s = _sascorer()
    return [float(s.calculateScore(m)) for m in mols]


def qed_scores(mols: Iterable) -> list[float]:
    """RDKit QED (drug-likeness in [0, 1]) per molecule."""
    from rdkit.Chem import QED

    return [float(QED.qed(m)) for m in mols]


_FCD = None


def chemnet_activations(smiles: Sequence[str]) -> np.ndarray:
    """(M, 512) ChemNet penultimate activations (fcd_torch, CPU; its weights ship with the package)."""
    global _FCD
    import warnings

    from fcd_torch import FCD

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if _FCD is None:
            _FCD = FCD(device="cpu", n_jobs=1)
        return np.asarray(_FCD.get_predictions(list(smiles)), dtype=np.float64)


def fcd(smiles: Sequence[str], ref_smiles: Sequence[str]) -> float:
    """Fréchet ChemNet Distance (ChemNet features from fcd_torch, the shared Fréchet distance). NaN if < 2 on a side."""
    if len(smiles) < 2 or len(ref_smiles) < 2:
        return float("nan")
    return feature_frechet_distance(chemnet_activations(smiles), chemnet_activations(ref_smiles))


def fragment_counts(mols: Iterable) -> list[int]:
    """Disconnected fragments per molecule (1 = one connected molecule)."""
    from .mol_repair import fragment_count

    return [fragment_count(m) for m in mols]


def fragment_shares(counts: Sequence[int]) -> dict[str, float]:
    """{fragments_1, fragments_2, fragments_3plus}: shares of molecules with that many fragments (NaN if none)."""
    n = len(counts)
    if n == 0:
        return {"fragments_1": float("nan"), "fragments_2": float("nan"), "fragments_3plus": float("nan")}
    return {
        "fragments_1": sum(c == 1 for c in counts) / n,
        "fragments_2": sum(c == 2 for c in counts) / n,
        "fragments_3plus": sum(c >= 3 for c in counts) / n,
    }


def largest_fragment(mol):
    """The fragment with the most heavy atoms (the molecule itself when it is connected)."""
    from rdkit import Chem

    frags = Chem.GetMolFrags(mol, asMols=True, sanitizeFrags=False)
    return mol if len(frags) <= 1 else max(frags, key=lambda f: f.GetNumAtoms())


def molecule_metrics(
    objects: Sequence[Any],
    train_smiles: Iterable[str],
    ref_mols: Sequence,
    ref_smiles: Sequence[str],
    corrected: Sequence[Any] | None = None,
    with_fcd: bool = True,
    with_nspdk: bool = True,
    ref_fragments: bool = False,
    gdss: bool = False,
) -> dict[str, Any]:
    """All molecule metrics for decoded samples (Mol or None) against a reference (test) set.

    Values are floats. ``valid_connected`` is the share of the samples requested that are valid AND
    one connected molecule: validity counts a SMILES with dots as valid, which a chemist would not.
    ``fragments_k`` are the shares of valid samples with k fragments (k = 1, 2, 3+); with
    ``ref_fragments`` the reference set's single-fragment share comes beside them (``ref_fragments_1``).
    With ``gdss`` and ``corrected`` (the valency-corrected decodings, largest fragment kept), the
    ``*_corrected`` columns GDSS's tables report (see the module docstring).
    """
    from .mol_repair import canonical_smiles

    valid = [m for m in objects if m is not None]
    smi = [canonical_smiles(m) for m in valid]
    smi_lf = [canonical_smiles(largest_fragment(m)) for m in valid]
    frags = fragment_counts(valid)
    out: dict[str, float] = {
        "num_samples": float(len(objects)),
        "validity": validity(objects),
        "valid_connected": float(sum(k == 1 for k in frags)) / len(objects) if objects else float("nan"),
        **fragment_shares(frags),
        "uniqueness": uniqueness(smi),
        "novelty": novelty(smi, train_smiles),
        "uniqueness_lf": uniqueness(smi_lf),
        "novelty_lf": novelty(smi_lf, train_smiles),
    }
    if corrected is not None:
        out["validity_corrected"] = validity(corrected)
    if valid:
        out["sa"] = float(np.mean(sa_scores(valid)))
        out["qed"] = float(np.mean(qed_scores(valid)))
    else:
        out["sa"] = out["qed"] = float("nan")
    out["atom_tv"] = total_variation(atom_type_counts(valid), atom_type_counts(ref_mols))
    out["bond_tv"] = total_variation(bond_type_counts(valid), bond_type_counts(ref_mols))
    out.update(ring_metrics(valid, ref_mols))
    if ref_fragments:
        out["ref_fragments_1"] = fragment_shares(fragment_counts(ref_mols))["fragments_1"]
    # the reference's mean NSPDK features, computed once for both columns
    ref_graphs = _nspdk_mean(mols_to_nx(ref_mols)) if with_nspdk else None
    if with_fcd:
        out["fcd"] = fcd(smi, list(ref_smiles))
    if with_nspdk:
        out["nspdk"] = nspdk_mmd(ref_graphs, mols_to_nx(valid)) if valid else float("nan")
    if gdss and corrected is not None:
        fixed = [m for m in corrected if m is not None]
        smi_c = [canonical_smiles(m) for m in fixed]
        out["uniqueness_corrected"] = uniqueness(smi_c)
        out["novelty_corrected"] = novelty(smi_c, train_smiles)
        if with_fcd:
            out["fcd_corrected"] = fcd(smi_c, list(ref_smiles))
        if with_nspdk:
            out["nspdk_corrected"] = nspdk_mmd(ref_graphs, mols_to_nx(fixed)) if fixed else float("nan")
    return out


def _nspdk_mean(graphs: Sequence):
    from ..graphs.nspdk import nspdk_mean

    return nspdk_mean(graphs)


def mols_to_nx(mols: Iterable) -> list:
    """RDKit Mols -> networkx graphs with node label = atom symbol and edge label = bond order (GDSS's NSPDK input)."""
    import networkx as nx

    out = []
    for m in mols:
        g = nx.Graph()
        for a in m.GetAtoms():
            g.add_node(a.GetIdx(), label=a.GetSymbol())
        for b in m.GetBonds():
            g.add_edge(b.GetBeginAtomIdx(), b.GetEndAtomIdx(), label=int(b.GetBondTypeAsDouble()))
        out.append(g)
    return out
