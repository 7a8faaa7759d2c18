"""The study's graph metrics with Leiden and betweenness in forked workers equal one process.

Also: equal to the standalone functions the study used before (fast_leiden,
fast_community_stability, fast_broker_ranking), and the reduced stability seeds at scale are
used only by default and stated.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from analysis.network import fast
from analysis.network.fast_graph import from_networkx
from analysis.network.fast_lanes import GraphLanes, LeidenTask, PivotTask
from tests.unit.test_network_fast import random_directed


@pytest.fixture(scope="module")
def graph():
    g = from_networkx(random_directed(n=1500, m=9000, seed=5))
    assert g.is_bot.any()  # the brokers' Leiden runs on the bot-free graph: its own task
    return g


def _metrics(graph, processes):
    return fast.start_network_metrics(
        graph, seeds=(0, 1, 2), k=60, exact_max_nodes=0, processes=processes
    ).finish()


@pytest.fixture(scope="module")
def both(graph):
    # one process first: it runs PageRank (OpenMP) here, after which a forked worker that ran
    # OpenMP would hang; the workers must not (fast_lanes module docstring)
    return _metrics(graph, 1), _metrics(graph, 2)


def test_workers_equal_one_process(both):
    one, two = both
    assert one["communities"].partition == two["communities"].partition
    assert one["communities"].modularity == two["communities"].modularity
    assert one["stability"] == two["stability"]
    a, b = one["brokers"], two["brokers"]
    assert a.betweenness_method == b.betweenness_method
    assert "60 pivot" in a.betweenness_method
    cols = ["member_id", "rank", "community", "degree", "clusters_reached", "is_staff"]
    pd.testing.assert_frame_equal(a.members[cols], b.members[cols])
    for col in ["betweenness", "constraint", "participation"]:
        x, y = a.members[col].to_numpy(), b.members[col].to_numpy()
        assert np.allclose(x, y, rtol=1e-12, atol=1e-15, equal_nan=True), col
    pd.testing.assert_frame_equal(a.bridges, b.bridges)
    pd.testing.assert_frame_equal(one["overview"].top, two["overview"].top)
    assert one["dependency"] == two["dependency"]


def test_equal_to_the_standalone_functions(graph, both):
    one, _ = both
    parts = fast.fast_leiden(graph, seed=0, n_iterations=fast.LEIDEN_ITERATIONS)
    assert parts.partition == one["communities"].partition
    stab = fast.fast_community_stability(
        graph, seeds=(0, 1, 2), n_iterations=fast.LEIDEN_ITERATIONS
    )
    assert stab.modularity == one["stability"].modularity
    assert stab.ari_mean == pytest.approx(one["stability"].ari_mean, abs=1e-12)
    assert stab.ari_min == pytest.approx(one["stability"].ari_min, abs=1e-12)
    nb_parts = fast.fast_leiden(
        graph.without_bots().undirected(), seed=0, n_iterations=fast.LEIDEN_ITERATIONS
    )
    ref = fast.fast_broker_ranking(
        graph, k=60, exact_max_nodes=0, communities=nb_parts, seed=0
    ).members
    ours = one["brokers"].members
    assert ours["member_id"].tolist() == ref["member_id"].tolist()
    assert (ours["community"].to_numpy() == ref["community"].to_numpy()).all()
    for col in ["betweenness", "constraint", "participation"]:
        x, y = ours[col].to_numpy(), ref[col].to_numpy()
        assert np.allclose(x, y, rtol=1e-12, atol=1e-15, equal_nan=True), col
    ref_se = fast.fast_betweenness(
        graph.without_bots().undirected(), exact_max_nodes=0, k=60, seed=0
    ).stderr
    assert ref_se is not None and ref_se.gt(0).any()


def test_stability_seeds_at_scale_are_the_default_only_and_stated(graph, monkeypatch):
    assert fast.stability_seeds(fast.STABILITY_SCALE_EDGES - 1) == (0, 1, 2, 3)
    assert fast.stability_seeds(fast.STABILITY_SCALE_EDGES) == (0, 1)
    monkeypatch.setattr(fast, "STABILITY_SCALE_EDGES", graph.n_edges)
    scaled = fast.start_network_metrics(graph, processes=1).finish()
    stab = scaled["stability"]
    assert stab.seeds == (0, 1)
    assert "two seeds (0, 1) instead of 4" in stab.method
    assert "1 Leiden iteration per run instead of 2" in stab.method
    assert stab.method in stab.summary() and stab.to_dict()["method"] == stab.method
    assert stab.ari_min == stab.ari_mean  # one pair
    one_iteration = fast.fast_leiden(graph, seed=0, n_iterations=1)
    assert scaled["communities"].partition == one_iteration.partition
    assert stab.modularity[0] == one_iteration.modularity
    chosen = fast.start_network_metrics(graph, seeds=(0, 1, 2), processes=1).finish()
    assert chosen["stability"].seeds == (0, 1, 2)
    assert "seeds" not in chosen["stability"].method
    assert "1 Leiden iteration" in chosen["stability"].method  # iterations still the default
    both_chosen = fast.start_network_metrics(
        graph, seeds=(0, 1, 2), n_iterations=2, processes=1
    ).finish()
    assert both_chosen["stability"].method == ""
    two = fast.fast_leiden(graph, seed=0, n_iterations=2)
    assert both_chosen["communities"].partition == two.partition
    monkeypatch.setattr(fast, "STABILITY_SCALE_EDGES", graph.n_edges + 1)
    small = fast.start_network_metrics(graph, processes=1).finish()["stability"]
    assert small.seeds == (0, 1, 2, 3) and small.method == ""
    assert "method" not in small.to_dict()


class _Boom:
    def __call__(self):
        raise RuntimeError("task failed")

    def prepare(self):
        pass


def test_lanes_return_each_task_and_raise_a_failed_one(graph):
    und = graph.undirected()
    tasks = {"leiden": LeidenTask(und, 3, 2), "pivots": PivotTask(und, [0, 5, 9])}
    with GraphLanes(tasks, 2) as lanes:
        labels, modularity = lanes.get("leiden")
        raw = lanes.get("pivots")
    with GraphLanes(tasks, 1) as lanes:
        assert (lanes.get("leiden")[0] == labels).all()
        assert lanes.get("leiden")[1] == modularity
        assert np.allclose(lanes.get("pivots"), raw, rtol=1e-12, atol=0)
    assert raw.sum() > 0
    lanes = GraphLanes({"boom": _Boom(), "pivots": PivotTask(und, [1])}, 2)
    with pytest.raises(RuntimeError, match="task failed"):
        lanes.get("boom")
    lanes.close()
