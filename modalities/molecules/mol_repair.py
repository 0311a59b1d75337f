"""Reading a decoded molecule graph as chemistry: RDKit sanitisation, GDSS's charge rule and valency
correction, canonical SMILES. Nothing here fixes a molecule silently: :func:`sanitize_or_none` only
accepts or rejects, and :func:`correct_mol` says whether it had to change anything."""

from __future__ import annotations

from contextlib import contextmanager


__all__ = [
    "rdkit_quiet",
    "bond_types",
    "BOND_CLASS",
    "gdss_charge_rule",
    "sanitize_or_none",
    "correct_mol",
    "canonical_smiles",
    "fragment_count",
]


@contextmanager
def rdkit_quiet():
    """Silence RDKit's logger inside the block (decoding and loading count failures themselves)."""
    from rdkit import rdBase

    blocker = rdBase.BlockLogs()
    try:
        yield
    finally:
        del blocker


BOND_CLASS = {"SINGLE": 1, "DOUBLE": 2, "TRIPLE": 3, "AROMATIC": 4}


def bond_types() -> dict:
    from rdkit import Chem

    BT = Chem.BondType
    return {1: BT.SINGLE, 2: BT.DOUBLE, 3: BT.TRIPLE, 4: BT.AROMATIC}


_DEFAULT_VALENCE = {"N": 3, "O": 2, "S": 2}


def gdss_charge_rule(rw) -> None:
    # Without charges in the encoding, an N/O/S with one bond order too many is read as the
    # cation (e.g. [N+] of nitro groups, [O+]); this is GDSS's construct_mol rule.
    for atom in rw.GetAtoms():
        sym = atom.GetSymbol()
        if sym in _DEFAULT_VALENCE and atom.GetFormalCharge() == 0:
            v = sum(b.GetBondTypeAsDouble() for b in atom.GetBonds())
            if v - _DEFAULT_VALENCE[sym] == 1:
                atom.SetFormalCharge(1)


def sanitize_or_none(rw):
    """RWMol -> sanitized Mol, or None when RDKit's SanitizeMol fails (no fixing of any kind)."""
    from rdkit import Chem

    mol = Chem.Mol(rw)
    with rdkit_quiet():
        try:
            Chem.SanitizeMol(mol)
        except Exception:  # RDKit raises several exception types (valence, kekulization, ...)
            return None
    return mol


def correct_mol(rw, largest_fragment: bool = True, max_steps: int = 200):
    """GDSS-style valency correction. RWMol -> (sanitized Mol or None, needed_correction: bool).

    While some atom exceeds its allowed valence, lower that atom's highest-order bond by one
    (a single bond is removed). Then sanitize; optionally keep the largest fragment (by heavy
    atoms). Returns None only when the result still fails sanitization (e.g. an aromatic ring
    that cannot be kekulized).
    """
    from rdkit import Chem

    mol = Chem.RWMol(rw)
    needed = False
    bt = bond_types()
    for _ in range(max_steps):
        mol.UpdatePropertyCache(strict=False)
        with rdkit_quiet():
            problems = [p for p in Chem.DetectChemistryProblems(mol) if p.GetType() == "AtomValenceException"]
        if not problems:
            break
        needed = True
        atom = mol.GetAtomWithIdx(problems[0].GetAtomIdx())
        bonds = sorted(atom.GetBonds(), key=lambda b: b.GetBondTypeAsDouble(), reverse=True)
        if not bonds:
            break  # an isolated atom over valence (e.g. charge) cannot be fixed by bonds
        b = bonds[0]
        i, j, order = b.GetBeginAtomIdx(), b.GetEndAtomIdx(), b.GetBondTypeAsDouble()
        mol.RemoveBond(i, j)
        # aromatic (1.5) drops to single; double to single; triple to double
        new = {3.0: 2, 2.0: 1, 1.5: 1}.get(order)
        if new is not None:
            mol.AddBond(i, j, bt[new])
    out = sanitize_or_none(mol)
    if out is not None and largest_fragment:
        frags = Chem.GetMolFrags(out, asMols=True, sanitizeFrags=False)
        if len(frags) > 1:
            out = max(frags, key=lambda f: f.GetNumAtoms())
            out = sanitize_or_none(out)
    return out, needed


def canonical_smiles(mol) -> str | None:
    """Canonical SMILES without stereo or isotopes (the encoding carries neither); None for None."""
    from rdkit import Chem

    if mol is None:
        return None
    return Chem.MolToSmiles(mol, isomericSmiles=False)


def fragment_count(mol) -> int:
    """Number of disconnected fragments of a molecule (1 = one connected molecule)."""
    from rdkit import Chem

    return len(Chem.GetMolFrags(mol))
