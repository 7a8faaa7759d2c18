"""The Stack Exchange adapter and the health studies against an independent pandas computation.

The real dump of History Meta (``shared/data/stackexchange-history-meta``, CC BY-SA 3.0) is read
twice: by :func:`analysis.ingest.stackexchange.read_stackexchange` and the studies on the engine,
and here, directly from the XML with ``pandas.read_xml``, by code that shares nothing with the
package but the documented definitions:

* authors are ``OwnerUserId``/``UserId``; deleted accounts (no id) are told apart by their
  ``OwnerDisplayName``/``UserDisplayName``; the ``Community`` user (Id -1) is a bot and is left
  out, as the studies leave bots out by default;
* a question's first response is the earliest answer to it, or comment on it or on one of its
  answers, by another (non-bot) author; response time is measured from the question;
* the 24 h response share counts questions at least 24 h older than the last message of the dump.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from analysis import config
from analysis.data import Community
from analysis.health import activity
from analysis.health.responsiveness import response_rate, time_to_first_response
from analysis.ingest.stackexchange import read_accepted_answers, read_stackexchange
from analysis.pseudonym import Pseudonymizer

DUMP = config.SHARED_DIR / "data" / "stackexchange-history-meta"
BOT = "-1"

pytestmark = pytest.mark.skipif(
    not (DUMP / "Posts.xml").is_file(),
    reason=f"shared Stack Exchange dump not found at {DUMP} (read in place, never copied)",
)


def _author(ids: pd.Series, names: pd.Series) -> pd.Series:
    key = ids.map(lambda v: None if pd.isna(v) else str(int(v)))
    deleted = names.map(lambda n: "deleted" if pd.isna(n) or not str(n).strip() else f"deleted:{n}")
    return key.where(key.notna(), deleted)


@pytest.fixture(scope="module")
def raw() -> dict[str, pd.DataFrame]:
    posts = pd.read_xml(DUMP / "Posts.xml", parser="etree")
    comments = pd.read_xml(DUMP / "Comments.xml", parser="etree")
    users = pd.read_xml(DUMP / "Users.xml", parser="etree")
    for frame in (posts, comments, users):
        frame["at"] = pd.to_datetime(frame["CreationDate"]).dt.tz_localize("UTC")
    posts = posts[posts["PostTypeId"].isin([1, 2])].copy()
    posts["author"] = _author(posts["OwnerUserId"], posts.get("OwnerDisplayName"))
    comments["author"] = _author(comments["UserId"], comments["UserDisplayName"])
    posts["question"] = np.where(posts["PostTypeId"] == 1, posts["Id"], posts["ParentId"])
    question_of = posts.set_index("Id")["question"]
    comments["question"] = question_of.reindex(comments["PostId"]).to_numpy()
    users["author"] = users["Id"].astype(str)
    return {"posts": posts, "comments": comments, "users": users}


@pytest.fixture(scope="module")
def community() -> Community:
    tables = read_stackexchange(DUMP, pseudonymizer=Pseudonymizer(key="validation-key"))
    return Community.from_tables(tables, name="history-meta")


@pytest.fixture(scope="module")
def events(raw) -> pd.DataFrame:
    """Every question, answer and comment: author, time, question (thread) and type."""
    p, c = raw["posts"], raw["comments"]
    return pd.concat(
        [
            pd.DataFrame(
                {
                    "author": p["author"],
                    "at": p["at"],
                    "question": p["question"],
                    "is_question": p["PostTypeId"] == 1,
                }
            ),
            pd.DataFrame(
                {
                    "author": c["author"],
                    "at": c["at"],
                    "question": c["question"],
                    "is_question": False,
                }
            ),
        ],
        ignore_index=True,
    )


def test_counts_of_questions_answers_comments(raw, community):
    kinds = community.execute(community.messages.kind.value_counts()).set_index("kind")
    counts = kinds.iloc[:, 0].to_dict()
    assert counts == {
        "post": int((raw["posts"]["PostTypeId"] == 1).sum()),
        "message": int((raw["posts"]["PostTypeId"] == 2).sum()),
        "comment": len(raw["comments"]),
    }
    # The data README: 556 questions, 1,095 answers, 3,454 comments.
    assert counts == {"post": 556, "message": 1095, "comment": 3454}
    assert community.provenance("messages.created_at").startswith("observed")


def test_accepted_answers_match_the_dump(raw):
    accepted = read_accepted_answers(DUMP)
    expected = raw["posts"]["AcceptedAnswerId"].notna().sum()
    assert len(accepted) == expected == 181
    assert accepted["answer_in_dump"].all()


def test_members_and_threads(raw, community):
    members = community.execute(community.members)
    deleted = set(raw["posts"]["author"]) | set(raw["comments"]["author"])
    deleted = {a for a in deleted if a.startswith("deleted")}
    assert len(members) == len(raw["users"]) + len(deleted)
    assert int(members["is_bot"].sum()) == 1
    msgs = community.execute(community.messages)
    assert msgs["thread_id"].nunique() == int((raw["posts"]["PostTypeId"] == 1).sum())
    on_answers = msgs[msgs["kind"] == "comment"]["reply_to_id"].isin(
        msgs.loc[msgs["kind"] == "message", "message_id"]
    )
    expected = raw["comments"]["PostId"].isin(
        raw["posts"].loc[raw["posts"]["PostTypeId"] == 2, "Id"]
    )
    assert int(on_answers.sum()) == int(expected.sum())


def test_monthly_active_authors_equal_pandas(events, community):
    ours = activity(community, period="month").to_frame().set_index("period_start")["authors"]
    people = events[events["author"] != BOT]
    month = people["at"].dt.tz_convert(None).dt.to_period("M").dt.start_time
    theirs = people.groupby(month)["author"].nunique()
    theirs = theirs.reindex(pd.date_range(theirs.index.min(), theirs.index.max(), freq="MS"))
    theirs = theirs.fillna(0).astype("int64")
    assert len(ours) == len(theirs) == 83
    assert ours.to_numpy().tolist() == theirs.to_numpy().tolist()
    assert ours.index.tolist() == theirs.index.tolist()


def _first_responses(events: pd.DataFrame) -> pd.DataFrame:
    people = events[events["author"] != BOT]
    questions = people[people["is_question"]][["question", "author", "at"]]
    questions = questions.rename(columns={"author": "asker", "at": "asked_at"})
    replies = people[~people["is_question"]].merge(questions, on="question")
    replies = replies[replies["author"] != replies["asker"]]
    first = replies.groupby("question")["at"].min().rename("first_at")
    out = questions.set_index("question").join(first)
    out["seconds"] = (out["first_at"] - out["asked_at"]).dt.total_seconds()
    return out


def test_time_to_first_response_and_24h_share(events, community):
    q = _first_responses(events)
    data_end = events["at"].max()
    median_s = float(q["seconds"].median())
    exposed = q["asked_at"] + pd.Timedelta(hours=24) <= data_end
    share = float((exposed & (q["seconds"] <= 86400)).sum() / exposed.sum())
    # The independent figures (reported in the hand-over).
    assert median_s > 0 and 0 < share < 1
    ttfr = time_to_first_response(community)
    assert ttfr.overall["all"]["n"] == int(q["seconds"].notna().sum())
    assert abs(ttfr.overall["all"]["median_minutes"] * 60 - median_s) <= 1.0
    rate = response_rate(community, within=("24h",))
    assert rate.overall["24h"]["exposed"] == int(exposed.sum())
    assert rate.overall["24h"]["rate"] == pytest.approx(share, abs=0, rel=0)


def test_monthly_cohort_retention_equal_pandas(events, raw, community):
    retention = pytest.importorskip(
        "analysis.health.retention", reason="analysis.health.retention is not written yet"
    )
    ours = retention.cohort_retention(community, cohort="month").to_frame()

    people = events[events["author"] != BOT]
    first = people.groupby("author")["at"].min()
    users = raw["users"].set_index("author")["at"]
    joined = pd.concat([users, first[~first.index.isin(users.index)]])
    joined = joined[joined.index != BOT]
    joined = joined.where(~(joined > first.reindex(joined.index)), first.reindex(joined.index))
    length = 30 * 86400
    ev = people.assign(joined=joined.reindex(people["author"]).to_numpy())
    offset = np.floor(ev["at"].astype("int64") // 10**9) - np.floor(
        ev["joined"].astype("int64") // 10**9
    )
    ev = ev.assign(period=offset // length)[(offset >= 0) & (offset // length < 12)]
    cohort = joined.dt.tz_convert(None).dt.to_period("M").dt.start_time
    ev["cohort_start"] = cohort.reindex(ev["author"]).to_numpy()
    active = ev.groupby(["cohort_start", "period"])["author"].nunique()
    sizes = cohort.value_counts().sort_index()
    lo, hi = events["at"].min(), events["at"].max()
    bounds = joined.groupby(cohort).agg(["min", "max"])

    assert ours.drop_duplicates("cohort_start").set_index("cohort_start")[
        "cohort_size"
    ].to_dict() == (sizes.to_dict())
    for row in ours.itertuples(index=False):
        key = (row.cohort_start, row.period)
        assert row.active == int(active.get(key, 0)), key
        b = bounds.loc[row.cohort_start]
        observed = (b["min"] + pd.Timedelta(days=30 * row.period) >= lo) and (
            b["max"] + pd.Timedelta(days=30 * (row.period + 1)) <= hi
        )
        assert row.observed == observed, key
