"""Brokers, roles, staff dependency and integration against networkx and the planted truth.

* igraph vs networkx (the oracle): exact betweenness within 1e-9 on Zachary's karate club and on
  a reply graph of the simulated community; sampled betweenness equals networkx's sampled
  estimate for the same pivots, and tracks the exact values (Pearson r ≥ 0.9, ≥ 7 of the exact
  top 10 in the sampled top 10 with k = 100 pivots; measured: r 0.987, 8 of 10); Burt's
  constraint; newcomer integration.
* Planted truth (analysis.synth, 2,000 members, seed 11): a newcomer's first message is answered
  first by staff with probability ``staff_answer_share`` (plus first answers that fell back to
  staff because no member could answer, ``realised["answer_fallbacks"]``); the planted core has
  higher betweenness and participation than the average member; staff only answer (z > 0,
  answer people) while the core discusses among itself.
* Engine parity: every ibis expression these modules add gives identical frames on DuckDB and
  Spark.
"""

from __future__ import annotations

import math

import networkx as nx
import numpy as np
import pandas as pd
import pytest

from analysis.data import Community
from analysis.network import brokers as B
from analysis.network.dependency import newcomer_first_reply_expr, staff_dependency
from analysis.network.evolution import monthly_reply_edges_expr, network_evolution
from analysis.network.integration import first_contact_expr, newcomer_integration
from analysis.network.reply import reply_graph
from analysis.network.roles import member_roles, member_roles_expr
from analysis.pseudonym import Pseudonymizer


@pytest.fixture(scope="module")
def synthetic(synthetic_dataset):
    processed, _, truth = synthetic_dataset
    community = Community.load(processed)
    pseudo = Pseudonymizer()
    staff = {pseudo.member_id("telegram", u) for u in truth.staff_ids}
    core = {pseudo.member_id("telegram", u) for u in truth.core_ids}
    return community, truth, staff, core


@pytest.fixture(scope="module")
def graph(synthetic):
    return reply_graph(synthetic[0])


@pytest.fixture(scope="module")
def undirected(graph):
    return B.undirected_view(B.without_bots(graph))


@pytest.fixture(scope="module")
def exact(undirected):
    return B.betweenness(undirected)


@pytest.fixture(scope="module")
def ranking(graph):
    return B.broker_ranking(graph, seed=0)


# ---- igraph vs networkx ----------------------------------------------------------------------
def test_exact_betweenness_equals_networkx_on_karate():
    g = nx.karate_club_graph()
    ours = B.betweenness(g)
    ref = nx.betweenness_centrality(g, normalized=True)
    assert ours.exact
    assert max(abs(ours.values[v] - ref[v]) for v in g) < 1e-9
    assert ours.values[0] == pytest.approx(0.437635281385281, abs=1e-9)  # Mr Hi


def test_exact_betweenness_equals_networkx_on_the_reply_graph(synthetic):
    # networkx's exact betweenness on the full year takes ~25 s; the first five months' reply
    # graph is the same kind of graph (staff hubs, a dense core, newcomer leaves) at a fraction
    g = B.undirected_view(B.without_bots(reply_graph(synthetic[0], end="2024-06-01")))
    assert g.number_of_nodes() > 200
    ours = B.betweenness(g)
    ref = nx.betweenness_centrality(g, normalized=True)
    assert max(abs(ours.values[v] - ref[v]) for v in g) < 1e-9


def test_sampled_betweenness_equals_networkx_for_the_same_pivots(undirected):
    ours = B.betweenness(undirected, exact_max_nodes=0, k=30, seed=4)
    ref = nx.betweenness_centrality(undirected, k=30, seed=4, normalized=True)
    assert not ours.exact and ours.k == 30
    assert max(abs(ours.values[v] - ref[v]) for v in undirected) < 1e-9


def test_sampled_betweenness_tracks_the_exact_values(undirected, exact):
    assert exact.exact and len(exact.values) > 800
    sampled = B.betweenness(undirected, exact_max_nodes=0, k=100, seed=0)
    a, b = exact.values, sampled.values.reindex(exact.values.index)
    assert np.corrcoef(a, b)[0, 1] >= 0.9
    top_exact = set(a.sort_values(ascending=False).index[:10])
    top_sampled = set(b.sort_values(ascending=False).index[:10])
    assert len(top_exact & top_sampled) >= 7
    # reproducible bit for bit with the same seed
    again = B.betweenness(undirected, exact_max_nodes=0, k=100, seed=0)
    assert again.values.equals(sampled.values)


def test_constraint_equals_networkx_on_the_reply_graph(graph):
    g = B.without_bots(graph)
    ours = B.burt_constraint(g)
    ref = nx.constraint(g, weight="weight")
    assert max(abs(ours[v] - ref[v]) for v in g if not math.isnan(ref[v])) < 1e-9


def test_integration_igraph_equals_networkx(synthetic):
    c = synthetic[0]
    a = newcomer_integration(c, end="2024-04-01", engine="igraph")
    b = newcomer_integration(c, end="2024-04-01", engine="networkx")
    assert a.n_observed > 300
    pd.testing.assert_frame_equal(a.members, b.members)
    pd.testing.assert_frame_equal(a.cohorts, b.cohorts)


# ---- planted truth ---------------------------------------------------------------------------
def test_newcomers_first_answered_by_staff_at_the_planted_rate(synthetic):
    c, truth, staff, _ = synthetic
    dep = staff_dependency(c)
    n = dep.n_newcomers_answered
    assert n > 500
    p = truth.staff_answer_share
    se = math.sqrt(p * (1 - p) / n)
    fallback = truth.realised["answer_fallbacks"] / n  # staff answers forced by the simulator
    assert p - 3 * se < dep.staff_first_reply_share < p + fallback + 3 * se
    # the answered share of first messages is the planted newcomer answer probability
    q = truth.newcomer_answer_prob
    assert abs(n / dep.n_newcomers - q) < 3 * math.sqrt(q * (1 - q) / dep.n_newcomers)
    assert dep.n_newcomers == truth.realised["n_posters"]
    assert dep.n_staff == len(staff)
    # members give 65% of first answers and the core talks among itself: the conversation does
    # not hang on staff (measured 3% cut off; a staff-only community would be 100%)
    assert dep.cut_off_share < 0.15
    assert dep.giant_share_before > 0.99


def test_planted_core_is_more_central_and_spans_more_clusters(synthetic, ranking):
    _, _, staff, core = synthetic
    m = ranking.members.set_index("member_id")
    members = m[~m["is_staff"]]
    in_core = members.loc[sorted(core & set(members.index))]
    assert len(in_core) == len(core)
    # measured: betweenness 5.1× the average member's, participation 0.71 vs 0.36
    assert in_core["betweenness"].mean() > 3 * members["betweenness"].mean()
    assert in_core["participation"].mean() > members["participation"].mean() + 0.2
    assert in_core["rank"].max() < 0.1 * len(m)
    # staff are the strongest brokers of a community whose newcomers they answer (measured:
    # ranks 1, 2, 6, 8; the two staff who answer least are passed by some core members)
    staff_ranks = m.loc[sorted(staff), "rank"]
    assert set(ranking.top().head(2)["member_id"]) <= staff
    assert staff_ranks.max() <= ranking.top_n
    assert ranking.top().loc[0, "reasons"][0].startswith("lies on")


def test_roles_staff_answer_and_core_discusses(synthetic):
    c, _, staff, core = synthetic
    roles = member_roles(c)
    m = roles.members.set_index("member_id")
    assert (m.loc[sorted(staff), "role"] == "answer person").all()
    assert (m.loc[sorted(staff), "q"] == 0).all() and (m.loc[sorted(staff), "z"] > 10).all()
    assert (m.loc[sorted(core), "role"] == "discussion person").all()
    assert set(roles.members.head(len(staff))["member_id"]) == staff


def test_evolution_on_the_simulated_year(synthetic):
    c, _, _, core = synthetic
    evo = network_evolution(c)
    frame = evo.to_frame()
    assert len(frame) == 12
    assert frame["n_replies"].sum() == sum(w for *_, w in reply_graph(c).edges(data="weight"))
    # the planted core never churns and keeps replying to itself: it is the innermost core of
    # most months (measured: all 8 in the core of every month)
    share = [len(core & set(ids)) / len(core) for ids in evo.cores.values()]
    assert np.median(share) >= 0.75


# ---- engine parity ---------------------------------------------------------------------------
def _sorted(frame: pd.DataFrame, keys: list[str]) -> pd.DataFrame:
    return frame.sort_values(keys).reset_index(drop=True)


@pytest.mark.spark
@pytest.mark.slow
@pytest.mark.parametrize(
    ("name", "build", "keys"),
    [
        ("newcomer first reply", lambda c: newcomer_first_reply_expr(c), ["member_id"]),
        ("member roles", lambda c: member_roles_expr(c, start="2024-03-01"), ["member_id"]),
        ("monthly edges", lambda c: monthly_reply_edges_expr(c), ["month", "source", "target"]),
        ("first contact", lambda c: first_contact_expr(c), ["source", "target"]),
    ],
)
def test_engine_parity(engines, name, build, keys):
    frames = []
    for community in engines:
        frame = _sorted(community.execute(build(community)), keys)
        for col in frame.columns:
            if pd.api.types.is_datetime64_any_dtype(frame[col]):
                values = frame[col]
                frame[col] = (
                    values.dt.tz_localize("UTC") if values.dt.tz is None else values
                ).dt.tz_convert("UTC")
        frames.append(frame)
    assert len(frames[0]) > 100, name
    pd.testing.assert_frame_equal(frames[0], frames[1], check_dtype=False)
