"""Planted interest groups (topic clusters) in the simulator are recovered by Leiden.

Recovery metric: the adjusted Rand index (Hubert & Arabie 1985) between the Leiden partition of
the reply graph and the planted groups, over the non-core members in the graph. Staff, the bot and
the core are left out of the comparison: they answer across groups by design.
"""

from __future__ import annotations

import pytest

from analysis.data import Community
from analysis.ingest import ingest_raw_dir
from analysis.network.communities import adjusted_rand_index, leiden_communities
from analysis.network.reply import reply_graph
from analysis.pseudonym import Pseudonymizer
from analysis.synth.config import SynthConfig
from analysis.synth.generate import generate_from_config


def _recovery(tmp_path, affinity: float) -> tuple[float, int, int]:
    cfg = SynthConfig(n_members=2000, seed=5, months=8, interest_affinity=affinity)
    truth = generate_from_config(tmp_path, cfg)
    graph = reply_graph(Community.from_tables(ingest_raw_dir(tmp_path)))
    found = leiden_communities(graph, seed=0)
    pseudonyms = Pseudonymizer()
    planted = {pseudonyms.member_id("telegram", u): g for u, g in truth.interest_groups.items()}
    nodes = sorted(v for v in found.partition if v in planted)
    ari = adjusted_rand_index([found.partition[v] for v in nodes], [planted[v] for v in nodes])
    return ari, len(nodes), found.n_communities


@pytest.mark.slow
def test_leiden_recovers_planted_interest_groups(tmp_path):
    ari, n, k = _recovery(tmp_path, 0.8)
    assert n > 500
    assert 4 <= k <= 7  # four planted groups, plus at most a few around staff and the core
    assert ari > 0.6, f"ARI {ari:.3f} over {n} members"


@pytest.mark.slow
def test_without_affinity_groups_are_not_found(tmp_path):
    """Groups drawn but never used for replies: any partition Leiden finds is unrelated to them."""
    ari, n, _ = _recovery(tmp_path, 1e-9)
    assert n > 500
    assert abs(ari) < 0.05, f"ARI {ari:.3f} over {n} members"
