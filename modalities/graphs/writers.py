"""Writers for generated molecules (.smi, .sdf with 2-D coordinates, PNG grid) and graphs (edge lists, PNG).

Invalid samples (None) are never written as blank records and never dropped silently: every
writer returns a summary with the number written and the number invalid, and a sidecar JSON
(``<name>.json`` next to a file target, ``summary.json`` in a folder target) records it, naming
the files relative to itself.
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

MOL_FORMATS = (".smi", ".sdf", ".png")
GRAPH_FORMATS = (".txt", ".edgelist", ".png")


def _summary(num: int, invalid: list[int], kind: str) -> dict[str, Any]:
    return {"kind": kind, "num_samples": num, "num_valid": num - len(invalid),
            "num_invalid": len(invalid), "invalid_indices": invalid, "files": [], "notes": []}


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
    img = Draw.MolsToGridImage([m for _, m in items], molsPerRow=mols_per_row, subImgSize=(200, 200),
                               legends=[f"#{i}" for i, _ in items])
    atomic_write(path, lambda f: img.save(f, format="PNG"))
    return len(items)


class MoleculeSink(SampleSink):
    """Molecules to ``out`` batch by batch: a folder (samples.smi, samples.sdf, samples.png,
    summary.json) or a file whose extension is .smi, .sdf or .png (plus a sidecar ``<stem>.json``).

    .smi (one canonical SMILES per valid molecule) and .sdf stream through temp files published at
    close, so memory holds one batch; the PNG grid keeps the first ``max_drawn`` valid molecules.
    """

    def __init__(self, out: Path, max_drawn: int = 64,
                 on_close: Callable[[dict[str, Any], list[Path]], None] | None = None):
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
        summary = _summary(self.count, self.invalid, "molecules")
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
        summary["files"] = [os.path.relpath(p, self.side.parent) for p in paths]  # relative: the folder may be published elsewhere
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


def write_edge_lists(graphs: Sequence[Any], path: Path) -> int:
    """All graphs in one text file: a '# graph i: n nodes, m edges' line, then one 'u v' line per edge."""
    lines = []
    for i, g in enumerate(graphs):
        lines.append(f"# graph {i}: {g.number_of_nodes()} nodes, {g.number_of_edges()} edges\n")
        lines.extend(f"{u} {v}\n" for u, v in sorted(g.edges()))
    atomic_write_text(path, "".join(lines))
    return len(graphs)


def read_edge_lists(path: Path) -> list:
    """Inverse of :func:`write_edge_lists` (isolated nodes kept via the node count)."""
    import networkx as nx

    graphs = []
    for line in Path(path).read_text().splitlines():
        if line.startswith("# graph"):
            n = int(line.split(":")[1].split()[0])
            g = nx.Graph()
            g.add_nodes_from(range(n))
            graphs.append(g)
        elif line.strip():
            u, v = map(int, line.split())
            graphs[-1].add_edge(u, v)
    return graphs


def write_graph_png(graphs: Sequence[Any], path: Path, max_graphs: int = 16) -> bool:
    """Draw up to ``max_graphs`` graphs in a grid with networkx + matplotlib. False if matplotlib is missing."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return False
    import math

    import networkx as nx

    gs = list(graphs)[:max_graphs]
    cols = max(1, min(4, len(gs)))
    rows = max(1, math.ceil(len(gs) / cols))
    fig, axes = plt.subplots(rows, cols, figsize=(3 * cols, 3 * rows), squeeze=False)
    for ax in axes.flat:
        ax.axis("off")
    for ax, (i, g) in zip(axes.flat, enumerate(gs)):
        nx.draw(g, pos=nx.spring_layout(g, seed=0), ax=ax, node_size=30, width=0.8)
        ax.set_title(f"#{i}: n={g.number_of_nodes()}", fontsize=8)
    fig.tight_layout()
    atomic_write(path, lambda f: fig.savefig(f, dpi=100, format="png"))
    plt.close(fig)
    return True


def write_graphs(graphs: Sequence[Any], out: Path) -> tuple[list[Path], dict[str, Any]]:
    """Write graphs to ``out``: a folder (graphs.edgelist, graphs.png if matplotlib, summary.json) or a
    .txt/.edgelist/.png file (plus sidecar ``<stem>.json``). -> (paths, summary)."""
    out = Path(out)
    summary = _summary(len(graphs), [i for i, g in enumerate(graphs) if g is None], "graphs")
    valid = [g for g in graphs if g is not None]
    if out.suffix.lower() in GRAPH_FORMATS:
        out.parent.mkdir(parents=True, exist_ok=True)
        targets = [out]
        side = out.with_suffix(".json")
    elif out.suffix:
        raise ConfigError(f"cannot write graphs to {out}: use a folder or a file ending in {', '.join(GRAPH_FORMATS)}")
    else:
        out.mkdir(parents=True, exist_ok=True)
        targets = [out / "graphs.edgelist", out / "graphs.png"]
        side = out / "summary.json"
    paths = []
    for p in targets:
        if p.suffix.lower() == ".png":
            if not write_graph_png(valid, p):
                summary["notes"].append("PNG skipped: matplotlib is not installed")
                continue
        else:
            write_edge_lists(valid, p)
        paths.append(p)
    summary["files"] = [os.path.relpath(p, side.parent) for p in paths]  # relative: the folder may be published elsewhere
    atomic_write_text(side, json.dumps(summary, indent=2))
    return paths + [side], summary
