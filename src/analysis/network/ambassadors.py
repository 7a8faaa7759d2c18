"""Ambassador candidates: members who bring people in and carry the conversation across groups.

A community manager asks two different questions of the network. *Who could mentor?* — members
who answer other people's questions (:meth:`analysis.network.study.NetworkStudy.candidates`,
ranked by the expertise z-score of Zhang, Ackerman & Adamic 2007). *Who could be an
ambassador?* — members who make newcomers welcome, bring new members, and talk across the
community's clusters. This module answers the second with a documented, configurable rule; every
candidate comes with the evidence that put them on the list.

Evidence, per non-staff, non-bot member
---------------------------------------
welcomed
    Newcomers whose first message this member was the first to answer (explicit replies; a
    newcomer's first message and its first reply as in
    :func:`analysis.network.dependency.newcomer_first_reply_expr`).
referrals
    Members whose ``members.referred_by`` names this member.
clusters_reached
    Distinct reply-graph communities among the member's neighbours (Louvain, seeded; as in
    :class:`analysis.network.brokers.BrokerRanking`), and the Guimerà–Amaral participation
    coefficient ``P = 1 − Σ_s (k_s / k)²`` (Guimerà & Amaral 2005, *Nature* 433, 895).

Rule
----
A member is a candidate when ``welcomed ≥ min_welcomed`` or ``referrals ≥ min_referrals``, and
their replies reach at least ``min_clusters`` communities. Candidates are ranked by
``welcomed + referral_weight · referrals`` (ties: more clusters reached, then member id).
The defaults (3 newcomers welcomed or 1 referral; 2 clusters; a referral counts as 2 welcomes)
are a starting point for a community manager to tune, not a statistical threshold.
"""

from __future__ import annotations

from typing import Any

import pandas as pd

from analysis.data import Community
from analysis.network.dependency import newcomer_first_reply_expr

__all__ = ["ambassador_candidates", "ambassador_evidence_expr"]

COLUMNS = [
    "member",
    "welcomed",
    "referrals",
    "clusters reached",
    "participation",
    "score",
    "reason",
]


def ambassador_evidence_expr(community: Community) -> Any:
    """Per non-staff, non-bot member: ``member_id``, ``welcomed``, ``referrals`` (ibis).

    Only members with at least one welcome or referral are returned.
    """
    firsts = newcomer_first_reply_expr(community)
    welcomes = firsts.filter(firsts.responder_id.notnull() & ~firsts.responder_is_staff)
    welcomes = welcomes.group_by(member_id=welcomes.responder_id).aggregate(
        welcomed=welcomes.count()
    )
    members = community.members
    referred = members.filter(members.referred_by.notnull())
    referrals = referred.group_by(member_id=referred.referred_by).aggregate(
        referrals=referred.count()
    )
    people = members.filter(~members.is_staff & ~members.is_bot).select("member_id")
    joined = people.left_join(welcomes, people.member_id == welcomes.member_id).select(
        member_id=people.member_id, welcomed=welcomes.welcomed.fill_null(0)
    )
    joined = joined.left_join(referrals, joined.member_id == referrals.member_id).select(
        member_id=joined.member_id,
        welcomed=joined.welcomed,
        referrals=referrals.referrals.fill_null(0),
    )
    return joined.filter((joined.welcomed > 0) | (joined.referrals > 0))


def ambassador_candidates(
    community: Community,
    broker_members: pd.DataFrame,
    *,
    min_welcomed: int = 3,
    min_referrals: int = 1,
    min_clusters: int = 2,
    referral_weight: float = 2.0,
    top_n: int = 10,
) -> pd.DataFrame:
    """Rank ambassador candidates by the rule in the module docstring.

    Parameters
    ----------
    community : Community
    broker_members : pandas.DataFrame
        ``BrokerRanking.members`` of the same community and window (``member_id``,
        ``clusters_reached``, ``participation``).
    min_welcomed, min_referrals, min_clusters, referral_weight : number
        The rule's thresholds and the weight of a referral in the score.
    top_n : int
        Candidates returned.

    Returns
    -------
    pandas.DataFrame
        Columns ``member``, ``welcomed``, ``referrals``, ``clusters reached``, ``participation``,
        ``score``, ``reason``; at most ``top_n`` rows, best first. Empty (same columns) when
        nobody qualifies.
    """
    evidence = community.execute(ambassador_evidence_expr(community))
    reach = broker_members.loc[:, ["member_id", "clusters_reached", "participation"]]
    table = evidence.merge(reach, on="member_id", how="left")
    table["clusters_reached"] = table["clusters_reached"].fillna(0).astype(int)
    qualifies = (table["welcomed"] >= min_welcomed) | (table["referrals"] >= min_referrals)
    table = table[qualifies & (table["clusters_reached"] >= min_clusters)].copy()
    if table.empty:
        return pd.DataFrame({c: [] for c in COLUMNS})
    table["score"] = table["welcomed"] + referral_weight * table["referrals"]
    table = table.sort_values(
        ["score", "clusters_reached", "member_id"], ascending=[False, False, True]
    ).head(top_n)
    reasons = []
    for row in table.itertuples():
        parts = []
        if row.welcomed:
            parts.append(f"first to answer {int(row.welcomed)} newcomers")
        if row.referrals:
            parts.append(f"brought {int(row.referrals)} members")
        parts.append(f"replies reach {int(row.clusters_reached)} clusters")
        reasons.append("; ".join(parts))
    return pd.DataFrame(
        {
            "member": table["member_id"].to_numpy(),
            "welcomed": table["welcomed"].astype(int).to_numpy(),
            "referrals": table["referrals"].astype(int).to_numpy(),
            "clusters reached": table["clusters_reached"].to_numpy(),
            "participation": table["participation"].round(2).to_numpy(),
            "score": table["score"].to_numpy(),
            "reason": reasons,
        }
    )
