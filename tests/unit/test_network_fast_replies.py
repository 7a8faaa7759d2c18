"""One engine query (analysis.network.fast_replies) gives the same reply graph, contacts,
newcomer integration and monthly evolution as the three separate queries."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from analysis.network.fast_evolution import fast_network_evolution
from analysis.network.fast_graph import fast_reply_graph
from analysis.network.fast_replies import contacts_from_pairs, graph_from_pairs, reply_pairs
from analysis.network.integration import newcomer_integration
from analysis.network.integration_contacts import contact_arrays
from tests.unit.test_network_integration import _community


@pytest.fixture(scope="module", params=[0, 1])
def community(request):
    return _community(request.param)


@pytest.fixture(scope="module")
def pairs(community):
    return reply_pairs(community)


def test_graph_equals_fast_reply_graph(community, pairs):
    ours, ref = graph_from_pairs(pairs), fast_reply_graph(community)
    assert ours.n_edges > 100 and ours.is_bot.any() and ours.is_staff.any()
    assert ours.names.tolist() == ref.names.tolist()
    for field in ["src", "dst", "weight", "is_staff", "is_bot"]:
        assert np.array_equal(getattr(ours, field), getattr(ref, field)), field
    assert ours.directed and ref.directed


def test_contacts_equal_contact_arrays(community, pairs):
    ours, ref = contacts_from_pairs(pairs), contact_arrays(community)
    assert ours.n_nodes == ref.n_nodes
    assert np.array_equal(ours.member_mask, ref.member_mask)
    # same numbering (both dense_rank of member_id): the same (time, a, b) rows
    a = sorted(zip(ours.times.tolist(), *ours.edges.T.tolist(), strict=True))
    b = sorted(zip(ref.times.tolist(), *ref.edges.T.tolist(), strict=True))
    assert a == b and len(a) > 100
    assert (np.diff(ours.times.astype(np.int64)) >= 0).all()
    pd.testing.assert_frame_equal(
        ours.people.sort_values("member_id").reset_index(drop=True),
        ref.people.sort_values("member_id").reset_index(drop=True),
    )


def test_integration_and_evolution_equal(community, pairs):
    a = newcomer_integration(community, contacts=contacts_from_pairs(pairs))
    b = newcomer_integration(community)
    pd.testing.assert_frame_equal(a.members, b.members)
    pd.testing.assert_frame_equal(a.cohorts, b.cohorts)
    assert a.members["reached"].any()
    e, f = fast_network_evolution(community, pairs=pairs), fast_network_evolution(community)
    pd.testing.assert_frame_equal(e.months, f.months)
    assert e.cores == f.cores
    assert e.months["n_edges"].sum() > 100
    with pytest.raises(ValueError, match="explicit replies only"):
        fast_network_evolution(community, pairs=pairs, include_inferred=True)
    with pytest.raises(ValueError, match="explicit replies only"):
        newcomer_integration(community, contacts=contacts_from_pairs(pairs), include_inferred=True)
