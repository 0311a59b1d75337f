"""NSPDK feature map and MMD (modalities/graphs/nspdk.py) on hand-checked graphs."""

from __future__ import annotations

import math
import subprocess
import sys

import networkx as nx
import numpy as np
import pytest

from pfgm.modalities.graphs.nspdk import nspdk_features, nspdk_kernel, nspdk_matrix, nspdk_mmd


def mol_graph(atoms, bonds):
    """atoms: labels; bonds: (i, j, order)."""
    g = nx.Graph()
    for i, a in enumerate(atoms):
        g.add_node(i, label=a)
    for i, j, k in bonds:
        g.add_edge(i, j, label=k)
    return g


ETHANE = mol_graph(["C", "C"], [(0, 1, 1)])
ETHENE = mol_graph(["C", "C"], [(0, 1, 2)])


def test_single_atom_has_two_features_of_equal_weight():
    # the only pair is (v, v) at distance 0, radius 0: one pair feature and one half feature
    f = nspdk_features(mol_graph(["C"], []))
    assert len(f) == 2
    assert np.allclose(sorted(f.values()), [1 / math.sqrt(2)] * 2)


def test_identical_and_isomorphic_graphs_have_kernel_one():
    g = mol_graph(["C", "C", "O", "N"], [(0, 1, 1), (1, 2, 2), (1, 3, 1)])
    relabelled = nx.relabel_nodes(g, {0: 10, 1: 3, 2: 7, 3: 0})
    assert nspdk_kernel(g, g) == pytest.approx(1.0, abs=1e-12)
    assert nspdk_kernel(g, relabelled) == pytest.approx(1.0, abs=1e-12)


def test_bond_order_changes_only_the_radius_one_blocks():
    # C-C vs C=C: 4 blocks (R, D) in {0, 1}² of two features each, all values 1/(2√2); the R = 0
    # neighbourhoods (an atom C of degree 1) are the same, the R = 1 ones see the bond label
    f = nspdk_features(ETHANE)
    assert len(f) == 8 and np.allclose(list(f.values()), 1 / (2 * math.sqrt(2)))
    assert nspdk_kernel(ETHANE, ETHENE) == pytest.approx(0.5, abs=1e-12)
    assert nspdk_mmd([ETHANE], [ETHENE]) == pytest.approx(2 - 2 * 0.5, abs=1e-12)


def test_different_atoms_share_nothing():
    assert nspdk_kernel(mol_graph(["C"], []), mol_graph(["N"], [])) == pytest.approx(0.0, abs=1e-12)


def test_path_prefix_equals_path():
    # a node removed from P5 leaves a graph isomorphic to P4 (EDeN's own doctest)
    p4 = mol_graph(["C"] * 4, [(i, i + 1, 1) for i in range(3)])
    p5 = mol_graph(["C"] * 5, [(i, i + 1, 1) for i in range(4)])
    p5.remove_node(4)
    assert nspdk_kernel(p4, p5) == pytest.approx(1.0, abs=1e-12)


def test_rows_are_unit_norm_and_mmd_matches_the_kernel_matrix_formula():
    graphs = [
        ETHANE,
        ETHENE,
        mol_graph(["C", "O"], [(0, 1, 2)]),
        mol_graph(["C", "C", "C"], [(0, 1, 1), (1, 2, 1), (0, 2, 1)]),
        mol_graph(["N"], []),
    ]
    X = nspdk_matrix(graphs)
    assert np.allclose(np.asarray(X.multiply(X).sum(1)).ravel(), 1.0)
    A, B = X[:2], X[2:]
    direct = (A @ A.T).mean() + (B @ B.T).mean() - 2 * (A @ B.T).mean()
    assert nspdk_mmd(graphs[:2], graphs[2:]) == pytest.approx(float(direct), abs=1e-12)
    assert nspdk_mmd(graphs, graphs) == pytest.approx(0.0, abs=1e-12)


def test_empty_graphs_are_dropped_and_empty_sets_give_nan():
    assert nspdk_mmd([ETHANE], [ETHANE, nx.Graph()]) == pytest.approx(0.0, abs=1e-12)
    assert math.isnan(nspdk_mmd([ETHANE], [nx.Graph()]))


def test_features_do_not_depend_on_the_process_hash_seed():
    code = (
        "import networkx as nx; from pfgm.modalities.graphs.nspdk import nspdk_features; g = nx.Graph();"
        "g.add_node(0, label='C'); g.add_node(1, label='Cl'); g.add_edge(0, 1, label=1);"
        "print(sorted(nspdk_features(g).items()))"
    )
    outs = {
        subprocess.run(
            [sys.executable, "-c", code], capture_output=True, text=True, check=True, env={"PYTHONHASHSEED": s, "PATH": ""}
        ).stdout
        for s in ("1", "2")
    }
    assert len(outs) == 1


def test_same_features_as_eden_on_integer_labels():
    eden = pytest.importorskip("eden.graph", reason="EDeN (PyPI eden-kernel) is not installed")
    graphs = [
        mol_graph([6, 6, 8, 7, 6], [(0, 1, 1), (1, 2, 2), (1, 3, 1), (3, 4, 3)]),
        ETHANE.copy(),
        mol_graph([6] * 6, [(i, (i + 1) % 6, 1 + i % 2) for i in range(6)]),
    ]
    for g in graphs[1:2]:
        for v in g.nodes:
            g.nodes[v]["label"] = 6
    A = eden.vectorize(graphs, complexity=4, discrete=True).toarray()
    assert np.abs(A - nspdk_matrix(graphs).toarray()).max() < 1e-12
