"""The data contract: errors name table, column, rule and rows; timestamps are UTC."""

from __future__ import annotations

import pandas as pd
import pytest

from analysis.schema import (
    SCHEMAS,
    SchemaValidationError,
    Tables,
    empty_table,
    ibis_schema,
    validate,
)
from tests.conftest import make_members, make_messages


@pytest.mark.parametrize("name", sorted(SCHEMAS))
def test_empty_tables_are_valid(name):
    assert validate(name, empty_table(name)).empty
    assert list(ibis_schema(name)) == list(SCHEMAS[name].columns)


def test_duplicate_ids_and_nulls_are_named():
    members = make_members([("a", "2024-01-01", False, False), ("a", "2024-01-02", False, False)])
    members.loc[1, "joined_at"] = pd.NaT
    with pytest.raises(SchemaValidationError) as err:
        validate("members", members, source="members.csv")
    text = str(err.value)
    assert "members.csv" in text and "table 'members'" in text
    assert "column 'member_id'" in text and "field_uniqueness" in text and "rows 0, 1" in text
    assert "column 'joined_at'" in text and "not_nullable" in text
    assert err.value.table == "members" and len(err.value.failures) >= 3


def test_missing_and_extra_columns():
    members = make_members([("a", "2024-01-01", False, False)]).drop(columns="is_bot")
    with pytest.raises(SchemaValidationError, match=r"missing columns \['is_bot'\]"):
        validate("members", members)
    with pytest.raises(SchemaValidationError, match=r"unexpected columns \['age'\]"):
        validate("members", make_members([("a", "2024-01-01", False, False)]).assign(age=3))


def test_naive_timestamps_are_rejected_and_other_zones_converted():
    members = make_members([("a", "2024-01-01", False, False)])
    naive = members.assign(joined_at=pd.Timestamp("2024-01-01"))
    with pytest.raises(SchemaValidationError, match="no time zone"):
        validate("members", naive, source="x.parquet")
    moscow = members.assign(joined_at=pd.Timestamp("2024-01-01 03:00", tz="Europe/Moscow"))
    out = validate("members", moscow)
    assert out.loc[0, "joined_at"] == pd.Timestamp("2024-01-01 00:00", tz="UTC")
    assert str(out["joined_at"].dtype) == "datetime64[ns, UTC]"


def test_enums_and_reply_consistency():
    messages = make_messages([("1", "a", "2024-01-01", None), ("2", "a", "2024-01-01", "1")])
    bad = messages.assign(kind=["message", "tweet"])
    with pytest.raises(SchemaValidationError, match="column 'kind'.*'tweet'"):
        validate("messages", bad)
    inconsistent = messages.assign(reply_source=["none", "none"])
    with pytest.raises(SchemaValidationError, match="reply_source is 'none' exactly when"):
        validate("messages", inconsistent)


def test_links_between_tables():
    members = make_members([("a", "2024-01-01", False, False)])
    messages = make_messages([("1", "ghost", "2024-01-01", None)])
    with pytest.raises(SchemaValidationError, match="ghost"):
        Tables(members=members, messages=messages).validated()
