"""Writers for generated graphs (edge lists, PNG drawing), and the sidecar summary every sample writer keeps.

Invalid samples (None) are never written as blank records and never dropped silently: every
writer returns a summary with the number written and the number invalid, and a sidecar JSON
(``<name>.json`` next to a file target, ``summary.json`` in a folder target) records it, naming
the files relative to itself. The molecule writers (:mod:`modalities.molecules.writers`) keep the
same summary.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any, Sequence

from pfgm.core.atomic import atomic_write, atomic_write_text
from pfgm.core.errors import ConfigError

GRAPH_FORMATS = (".txt", ".edgelist", ".png")


def sample_summary(num: int, invalid: list[int], kind: str) -> dict[str, Any]:
    """The sidecar record of a write: counts, invalid indices, files written (filled in later), notes."""
    return {
        "kind": kind,
        "num_samples": num,
        "num_valid": num - len(invalid),
        "num_invalid": len(invalid),
        "invalid_indices": invalid,
        "files": [],
        "notes": [],
    }


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
    summary = sample_summary(len(graphs), [i for i, g in enumerate(graphs) if g is None], "graphs")
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
