"""Newcomer integration from integer contact arrays equals the original string-keyed version.

The reference below is the original front end of ``newcomer_integration`` (contact pairs as
member-id strings grouped in pandas, vertices numbered in Python) with the networkx snapshots
(the oracle); the module now numbers members on the engine
(:mod:`analysis.network.integration_contacts`). Random communities with staff, bots,
self-replies, service messages and inferred replies.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from analysis.data import Community, utc_timestamp
from analysis.network.integration import (
    _NetworkxSnapshots,
    first_contact_expr,
    newcomer_integration,
)
from analysis.network.integration_contacts import contact_arrays
from analysis.schema import Tables
from tests.conftest import make_members, make_messages


def _reference(community, *, weeks=4, start=None, end=None, include_inferred=False):
    """The original implementation (members and cohorts frames)."""
    people = community.execute(
        community.members.select("member_id", "joined_at", "is_staff", "is_bot")
    )
    contacts = community.execute(first_contact_expr(community, include_inferred=include_inferred))
    bots = set(people.loc[people["is_bot"].astype(bool), "member_id"])
    staff = set(people.loc[people["is_staff"].astype(bool), "member_id"])
    contacts = contacts[~contacts["source"].isin(bots) & ~contacts["target"].isin(bots)]
    lo = contacts["source"] < contacts["target"]
    a = np.where(lo, contacts["source"], contacts["target"])
    b = np.where(lo, contacts["target"], contacts["source"])
    pairs = (
        pd.DataFrame({"a": a, "b": b, "at": pd.to_datetime(contacts["first_at"], utc=True)})
        .groupby(["a", "b"], as_index=False)["at"]
        .min()
        .sort_values(["at", "a", "b"], kind="stable")
        .reset_index(drop=True)
    )
    newcomers = people[~people["is_staff"].astype(bool) & ~people["is_bot"].astype(bool)].copy()
    newcomers["joined_at"] = pd.to_datetime(newcomers["joined_at"], utc=True)
    if start is not None:
        newcomers = newcomers[newcomers["joined_at"] >= utc_timestamp(start)]
    if end is not None:
        newcomers = newcomers[newcomers["joined_at"] < utc_timestamp(end)]
    horizon = pd.Timedelta(days=7 * weeks)
    newcomers["snapshot_end"] = (newcomers["joined_at"] + horizon).dt.ceil("D")
    newcomers["observed"] = (newcomers["joined_at"] + horizon) <= community.last_message_at()
    nodes = sorted(set(pairs["a"]) | set(pairs["b"]) | set(newcomers["member_id"]))
    index = {v: i for i, v in enumerate(nodes)}
    edges = np.column_stack(
        [pairs["a"].map(index).to_numpy(int), pairs["b"].map(index).to_numpy(int)]
    ).reshape(-1, 2)
    times = pairs["at"].dt.tz_convert("UTC").dt.tz_localize(None).to_numpy("datetime64[ns]")
    member_mask = np.array([v not in staff for v in nodes], dtype=bool)
    out = {}
    snapshot = _NetworkxSnapshots(len(nodes), edges)
    observed = newcomers[newcomers["observed"]]
    for end_at, group in observed.groupby("snapshot_end", sort=True):
        upto = int(np.searchsorted(times, np.datetime64(end_at.tz_localize(None), "ns")))
        targets = np.array([index[v] for v in group["member_id"]], dtype=int)
        k, d = snapshot(upto, member_mask, targets)
        out.update(zip(group["member_id"], zip(k.tolist(), d.tolist(), strict=True), strict=True))
    return newcomers, out


def _community(seed: int) -> Community:
    rng = np.random.default_rng(seed)
    n = 120
    people = []
    for i in range(n):
        day = pd.Timestamp("2024-01-01") + pd.Timedelta(hours=int(rng.integers(0, 24 * 150)))
        people.append((f"m{i:03d}", str(day), bool(rng.random() < 0.06), bool(rng.random() < 0.04)))
    authors = [p[0] for p in people]
    rows, sources = [], []
    t0 = pd.Timestamp("2024-01-01")
    times = np.sort(rng.integers(0, 200 * 24 * 60, 900))
    # a busy group of 12 replies among itself, so that there is a core
    hubs = authors[:12]
    for j, minute in enumerate(times):
        author = (
            hubs[rng.integers(12)] if rng.random() < 0.5 else authors[rng.integers(len(authors))]
        )
        parent = None
        if j and rng.random() < 0.8:
            parent = rows[int(rng.integers(max(0, j - 40), j))][0]
        when = str(t0 + pd.Timedelta(minutes=int(minute)))
        kind = "service" if rng.random() < 0.03 else "message"
        rows.append((f"x{j}", author, when, parent, kind))
        sources.append("inferred" if parent is not None and rng.random() < 0.2 else None)
    messages = make_messages(rows)
    inferred = np.array([s == "inferred" for s in sources])
    messages.loc[inferred, "reply_source"] = "inferred"
    return Community.from_tables(Tables(members=make_members(people), messages=messages))


@pytest.mark.parametrize("seed", [0, 1])
@pytest.mark.parametrize(
    "options",
    [{}, {"include_inferred": True}, {"start": "2024-02-01", "end": "2024-04-15"}, {"weeks": 2}],
)
def test_integration_equals_the_string_keyed_reference(seed, options):
    community = _community(seed)
    result = newcomer_integration(community, **options)
    newcomers, ref = _reference(community, **options)
    members = result.members.set_index("member_id")
    assert set(members.index) == set(newcomers["member_id"])
    observed = members[members["observed"]]
    assert len(observed) == len(ref) > 20
    assert observed["reached"].any() and not observed["reached"].all()
    for member, (k, d) in ref.items():
        row = members.loc[member]
        assert row["core_number"] == k, member
        if np.isfinite(d):
            assert row["reached"] and row["distance"] == d, member
        else:
            assert not row["reached"] and np.isnan(row["distance"]), member
    assert (members.loc[~members["observed"], "core_number"] == 0).all()


def test_contact_arrays_pairs_and_flags():
    community = _community(3)
    contacts = contact_arrays(community)
    a, b = contacts.edges[:, 0], contacts.edges[:, 1]
    assert (a < b).all()
    assert len(np.unique(a * contacts.n_nodes + b)) == len(a)  # each unordered pair once
    assert (np.diff(contacts.times.astype(np.int64)) >= 0).all()
    people = contacts.people
    node = people["node"].to_numpy(np.int64)
    bot_nodes = node[people["is_bot"].to_numpy(bool)]
    assert not np.isin(contacts.edges, bot_nodes).any()
    staff_nodes = node[people["is_staff"].to_numpy(bool)]
    assert not contacts.member_mask[staff_nodes].any()
    assert contacts.member_mask[node[~people["is_staff"].to_numpy(bool)]].all()
    assert contacts.n_nodes == len(people)
    assert sorted(node.tolist()) == list(range(len(people)))


def test_summary_without_any_newcomer_reached():
    community = _community(0)
    result = newcomer_integration(community, end="2024-01-02")  # no contact in the first day
    assert result.n_observed > 0 and result.share_reached == 0
    assert "nan" not in result.summary()
    assert result.summary().startswith("4 weeks after joining, 0% of")
