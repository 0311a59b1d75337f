"""The real-data floor of the graph MMDs: the training split scored against the test split.

    python benchmarks/graph_floor.py                       # community-small as our generator makes it
    python benchmarks/graph_floor.py --file community_small_gdss.txt   # GDSS's exact graphs

A model's MMDs (pfgm-bench) are read against this: a perfect sampler of the training
distribution scores about the floor, not zero, on a 20-graph test split.
"""

from __future__ import annotations

import argparse
import json

from pfgm.modalities.graphs import graph_sources
from pfgm.modalities.graphs import metrics as M


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--file", help="a community-small description file ('SIZE:u-v,…' lines)")
    ap.add_argument("--test-fraction", type=float, default=0.2)
    args = ap.parse_args()
    graphs = (
        graph_sources.load_graphs("community_small_file", path=args.file)
        if args.file
        else graph_sources.load_graphs("community_small")
    )
    train, test = graph_sources.split_graphs(graphs, args.test_fraction)
    row = {
        "train": len(train),
        "test": len(test),
        "degree": M.degree_mmd(test, train),
        "clustering": M.clustering_mmd(test, train),
        "orbit": M.orbit_mmd(test, train),
    }
    print(json.dumps(row))


if __name__ == "__main__":
    main()
