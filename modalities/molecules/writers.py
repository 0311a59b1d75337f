"""Writers for generated molecules: .smi, .sdf with 2-D coordinates, a PNG grid, streamed batch by batch.

Invalid samples (None) are never written as blank records and never dropped silently: every
writer returns a summary with the number written and the number invalid, and a sidecar JSON
(``<name>.json`` next to a file target, ``summary.json`` in a folder target) records it, naming
the files relative to itself (:func:`modalities.graphs.writers.sample_summary`, shared with the graph writers).
"""

from __future__ import annotations

import io
import json
import os
from pathlib import Path
from typing import Any, Callable, Sequence

from pfgm.modalities.base import SampleSink
from pfgm.core.atomic import AtomicAppender, atomic_write, atomic_write_text
from pfgm.core.errors import ConfigError
from ..graphs.writers import sample_summary

MOL_FORMATS = (".smi", ".sdf", ".png")


def _sdf_block(mols: Sequence[Any], first: int) -> str:
    """Valid molecules as SDF records with 2-D coordinates; each record's _Name is its sample index."""
    from rdkit import Chem
    from rdkit.Chem import AllChem

    buf = io.StringIO()
    with Chem.SDWriter(buf) as w:
        for i, m in enumerate(mols, start=first):
            if m is None:
                continue
            m = Chem.Mol(m)
            AllChem.Compute2DCoords(m)
            m.SetProp("_Name", f"sample_{i}")
            w.write(m)
    return buf.getvalue()


def write_mol_grid(items: Sequence[tuple[int, Any]], path: Path, mols_per_row: int = 8) -> int:
    """PNG grid (RDKit MolsToGridImage) of (sample index, molecule) pairs, labelled by index."""
    from rdkit.Chem import Draw

    if not items:
        return 0
    img = Draw.MolsToGridImage(
        [m for _, m in items], molsPerRow=mols_per_row, subImgSize=(200, 200), legends=[f"#{i}" for i, _ in items]
    )
    atomic_write(path, lambda f: img.save(f, format="PNG"))
    return len(items)


class MoleculeSink(SampleSink):
    """Molecules to ``out`` batch by batch: a folder (samples.smi, samples.sdf, samples.png,
    summary.json) or a file whose extension is .smi, .sdf or .png (plus a sidecar ``<stem>.json``).

    .smi (one canonical SMILES per valid molecule) and .sdf stream through temp files published at
    close, so memory holds one batch; the PNG grid keeps the first ``max_drawn`` valid molecules.
    """

    def __init__(self, out: Path, max_drawn: int = 64, on_close: Callable[[dict[str, Any], list[Path]], None] | None = None):
        out = Path(out)
        self.on_close = on_close
        if out.suffix.lower() in MOL_FORMATS:
            self.targets = {out.suffix.lower(): out}
            self.side = out.with_suffix(".json")
        elif out.suffix:
            raise ConfigError(f"cannot write molecules to {out}: use a folder or a file ending in {', '.join(MOL_FORMATS)}")
        else:
            self.targets = {".smi": out / "samples.smi", ".sdf": out / "samples.sdf", ".png": out / "samples.png"}
            self.side = out / "summary.json"
        self.streams = {ext: AtomicAppender(p) for ext, p in self.targets.items() if ext != ".png"}
        self.max_drawn, self.drawn = max_drawn, []
        self.count, self.invalid = 0, []
        self.summary: dict[str, Any] | None = None

    def add(self, mols: Sequence[Any]) -> None:
        from .mol_repair import canonical_smiles

        first = self.count
        self.count += len(mols)
        self.invalid.extend(i for i, m in enumerate(mols, start=first) if m is None)
        if ".smi" in self.streams:
            self.streams[".smi"].write("".join(canonical_smiles(m) + "\n" for m in mols if m is not None))
        if ".sdf" in self.streams:
            self.streams[".sdf"].write(_sdf_block(mols, first))
        room = self.max_drawn - len(self.drawn)
        if ".png" in self.targets and room > 0:
            self.drawn.extend([(i, m) for i, m in enumerate(mols, start=first) if m is not None][:room])

    def close(self) -> list[Path]:
        summary = sample_summary(self.count, self.invalid, "molecules")
        paths = []
        try:
            for ext, p in self.targets.items():
                if ext == ".png":
                    if write_mol_grid(self.drawn, p) == 0:
                        summary["notes"].append(f"{p.name} not written: no valid molecule to draw")
                        continue
                else:
                    self.streams[ext].commit()
                paths.append(p)
        except BaseException:
            self.abort()
            raise
        summary["files"] = [
            os.path.relpath(p, self.side.parent) for p in paths
        ]  # relative: the folder may be published elsewhere
        atomic_write_text(self.side, json.dumps(summary, indent=2))
        self.summary = summary
        if self.on_close is not None:
            self.on_close(summary, paths + [self.side])
        return paths + [self.side]

    def abort(self) -> None:
        for s in self.streams.values():
            s.abort()


def write_molecules(mols: Sequence[Any], out: Path) -> tuple[list[Path], dict[str, Any]]:
    """All of ``mols`` through one :class:`MoleculeSink`. -> (paths, summary)."""
    sink = MoleculeSink(out)
    sink.add(mols)
    paths = sink.close()
    return paths, sink.summary
