"""Leiden stability on the fast path: the sparse ARI equals the dense one, and reusing a run or
forking the seeds changes nothing; the betweenness pivot groups keep the networkx estimate."""

from __future__ import annotations

import networkx as nx
import numpy as np
import pytest

from analysis.network import brokers as B
from analysis.network.communities import adjusted_rand_index
from analysis.network.fast_betweenness import fast_betweenness
from analysis.network.fast_graph import from_networkx
from analysis.network.fast_metrics import fast_leiden
from analysis.network.fast_stability import ari, fast_community_stability


def test_sparse_ari_equals_dense_ari():
    rng = np.random.default_rng(0)
    for n, ka, kb in [(50, 3, 4), (500, 40, 7), (2, 1, 2), (30, 30, 1)]:
        a, b = rng.integers(0, ka, n), rng.integers(0, kb, n)
        assert abs(ari(a, b) - adjusted_rand_index(a.tolist(), b.tolist())) < 1e-12
    same = rng.integers(0, 5, 100)
    assert ari(same, same) == pytest.approx(1.0)
    assert ari(np.zeros(10), np.arange(10)) == pytest.approx(
        adjusted_rand_index([0] * 10, range(10))
    )
    with pytest.raises(ValueError, match="different lengths"):
        ari(np.zeros(3), np.zeros(4))


@pytest.fixture(scope="module")
def graph():
    g = nx.relaxed_caveman_graph(12, 8, 0.2, seed=3)
    g = nx.relabel_nodes(g, {v: f"m{v:03d}" for v in g})
    nx.set_edge_attributes(g, 1, "weight")
    return from_networkx(g)


def test_stability_with_known_run_and_processes_equals_sequential(graph):
    plain = fast_community_stability(graph, seeds=range(4), n_iterations=2)
    first = fast_leiden(graph, seed=0, n_iterations=2)
    reused = fast_community_stability(
        graph, seeds=range(4), n_iterations=2, known={0: first}, processes=2
    )
    assert reused.seeds == plain.seeds and reused.best_seed == plain.best_seed
    assert np.allclose(reused.modularity, plain.modularity, atol=1e-12)
    assert reused.ari_mean == pytest.approx(plain.ari_mean, abs=1e-12)
    assert reused.ari_min == pytest.approx(plain.ari_min, abs=1e-12)
    assert 0 < plain.ari_min <= plain.ari_mean <= 1


def test_pivot_groups_keep_the_networkx_estimate(graph):
    und = graph.undirected()
    ref = B.betweenness(und.to_networkx(), exact_max_nodes=0, k=30, seed=4, engine="networkx")
    for batches, processes in [(1, 1), (7, 1), (10, 2)]:
        ours = fast_betweenness(
            und, exact_max_nodes=0, k=30, seed=4, batches=batches, processes=processes
        )
        diff = np.abs(ours.values.to_numpy() - ref.values.reindex(und.names).to_numpy()).max()
        assert diff < 1e-9
        assert (ours.stderr is None) == (batches == 1)
    assert ours.stderr.notna().all() and (ours.stderr >= 0).all()
    assert ours.top_relative_error() > 0
