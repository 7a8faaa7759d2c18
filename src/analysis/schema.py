"""The canonical tables: the one data contract between ingest and the studies.

Every adapter in :mod:`analysis.ingest` produces these tables and every study reads only them.
They are pandera schemas (https://pandera.readthedocs.io); :func:`validate` checks a table and
raises :class:`SchemaValidationError` whose message names the table, the column, the rule and the
first offending rows.

Conventions
-----------
* Ids are strings (platform ids are converted; member ids are keyed pseudonyms).
* Every timestamp is timezone-aware UTC (``datetime64[ns, UTC]``). A naive timestamp is an error,
  never silently assumed to be UTC; an aware timestamp in another zone is converted to UTC.
* Optional columns may be entirely null but must be present, so every table has one shape.

Tables
------
``members``      one row per member of the community (staff and bots included, flagged).
``messages``     every message, post, comment and service event, with its conversation.
``channels``     chats, channels, forum topics and threads that messages live in.
``reactions``    reactions to messages (per reactor where the platform names them).
``mentions``     members a message mentions (where the platform marks mentions).
``customers``    accounts in the CRM; ``member_id`` links a customer to a community member.
``orders``       purchases by customers.
``assignments``  experiment assignments: which unit saw which variant, when.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from typing import Any

import pandas as pd
import pandera.pandas as pa
from pandera.errors import SchemaErrors

UTC_DTYPE = pd.DatetimeTZDtype("ns", "UTC")

REPLY_SOURCES = ("explicit", "inferred", "none")
MESSAGE_KINDS = ("post", "comment", "message", "service")
CHANNEL_KINDS = ("group", "channel", "topic", "thread", "forum")


def _str(nullable: bool = False, unique: bool = False, checks: list | None = None) -> pa.Column:
    return pa.Column(str, nullable=nullable, unique=unique, checks=checks or [])


def _ts(nullable: bool = False) -> pa.Column:
    return pa.Column(UTC_DTYPE, nullable=nullable)


MEMBERS = pa.DataFrameSchema(
    {
        "member_id": _str(unique=True),
        "platform": _str(),
        "joined_at": _ts(),
        "source": _str(nullable=True),
        "is_staff": pa.Column(bool),
        "is_bot": pa.Column(bool),
        "display_name": _str(nullable=True),
        "referred_by": _str(nullable=True),
    },
    name="members",
    strict=True,
    ordered=False,
)

MESSAGES = pa.DataFrameSchema(
    {
        "message_id": _str(unique=True),
        "platform": _str(),
        "channel_id": _str(),
        "thread_id": _str(),
        "member_id": _str(),
        "created_at": _ts(),
        "reply_to_id": _str(nullable=True),
        "reply_source": _str(checks=[pa.Check.isin(REPLY_SOURCES)]),
        "kind": _str(checks=[pa.Check.isin(MESSAGE_KINDS)]),
        "text": _str(nullable=True),
        "text_len": pa.Column("int64", checks=[pa.Check.ge(0)]),
        "n_reactions": pa.Column("int64", checks=[pa.Check.ge(0)]),
    },
    checks=[
        pa.Check(
            lambda df: df["reply_to_id"].isna() == (df["reply_source"] == "none"),
            name="reply_source is 'none' exactly when reply_to_id is null",
        ),
    ],
    name="messages",
    strict=True,
    ordered=False,
)

CHANNELS = pa.DataFrameSchema(
    {
        "channel_id": _str(unique=True),
        "platform": _str(),
        "name": _str(nullable=True),
        "kind": _str(checks=[pa.Check.isin(CHANNEL_KINDS)]),
        "parent_id": _str(nullable=True),
    },
    name="channels",
    strict=True,
    ordered=False,
)

REACTIONS = pa.DataFrameSchema(
    {
        "message_id": _str(),
        "member_id": _str(nullable=True),
        "emoji": _str(),
        "count": pa.Column("int64", checks=[pa.Check.ge(1)]),
        "reacted_at": _ts(nullable=True),
    },
    name="reactions",
    strict=True,
    ordered=False,
)

MENTIONS = pa.DataFrameSchema(
    {
        "message_id": _str(),
        "member_id": _str(),
    },
    unique=["message_id", "member_id"],
    name="mentions",
    strict=True,
    ordered=False,
)

CUSTOMERS = pa.DataFrameSchema(
    {
        "customer_id": _str(unique=True),
        "member_id": _str(nullable=True),
        "first_seen_at": _ts(),
    },
    name="customers",
    strict=True,
    ordered=False,
)

ORDERS = pa.DataFrameSchema(
    {
        "order_id": _str(unique=True),
        "customer_id": _str(),
        "ordered_at": _ts(),
        "amount": pa.Column(
            float, checks=[pa.Check(lambda s: pd.Series(s).abs() < 1e12, name="finite amount")]
        ),
        "currency": _str(checks=[pa.Check.str_matches(r"^[A-Z]{3}$")]),
    },
    name="orders",
    strict=True,
    ordered=False,
)

ASSIGNMENTS = pa.DataFrameSchema(
    {
        "experiment_id": _str(),
        "unit_id": _str(),
        "variant": _str(),
        "assigned_at": _ts(),
        "cluster_id": _str(nullable=True),
    },
    unique=["experiment_id", "unit_id"],
    name="assignments",
    strict=True,
    ordered=False,
)

SCHEMAS: dict[str, pa.DataFrameSchema] = {
    s.name: s
    for s in (
        MEMBERS,
        MESSAGES,
        CHANNELS,
        REACTIONS,
        MENTIONS,
        CUSTOMERS,
        ORDERS,
        ASSIGNMENTS,
    )
}
REQUIRED_TABLES = ("members", "messages")


class SchemaValidationError(ValueError):
    """A table broke the data contract.

    Attributes
    ----------
    table : str
        Name of the canonical table.
    failures : pandas.DataFrame
        pandera's failure cases (column, check, failure_case, index).
    """

    def __init__(self, table: str, message: str, failures: pd.DataFrame | None = None):
        super().__init__(message)
        self.table = table
        self.failures = failures if failures is not None else pd.DataFrame()


def ibis_schema(name: str) -> Any:
    """The ibis schema of canonical table ``name`` (strings, UTC timestamps, ints, floats)."""
    import ibis

    types = {}
    for col, spec in SCHEMAS[name].columns.items():
        dtype = spec.dtype.type
        if isinstance(dtype, pd.DatetimeTZDtype):
            types[col] = "timestamp('UTC')"
        elif str(spec.dtype) in ("str", "object"):
            types[col] = "string"
        elif str(spec.dtype) == "bool":
            types[col] = "boolean"
        elif str(spec.dtype) == "int64":
            types[col] = "int64"
        else:
            types[col] = "float64"
    return ibis.schema(types)


def empty_table(name: str) -> pd.DataFrame:
    """An empty frame with the columns and dtypes of canonical table ``name``."""
    schema = SCHEMAS[name]
    data = {}
    for col, spec in schema.columns.items():
        dtype = spec.dtype.type if spec.dtype is not None else object
        if str(spec.dtype) == "str":
            dtype = object
        data[col] = pd.Series([], dtype=dtype)
    return pd.DataFrame(data)


def _coerce_timestamps(name: str, df: pd.DataFrame, source: str) -> pd.DataFrame:
    schema = SCHEMAS[name]
    out = df
    for col, spec in schema.columns.items():
        if col not in df.columns or not isinstance(spec.dtype.type, pd.DatetimeTZDtype):
            continue
        series = df[col]
        if series.isna().all() and not isinstance(series.dtype, pd.DatetimeTZDtype):
            converted = pd.Series(pd.NaT, index=series.index, dtype=UTC_DTYPE)
        elif isinstance(series.dtype, pd.DatetimeTZDtype):
            converted = series.dt.tz_convert("UTC").astype(UTC_DTYPE)
        elif pd.api.types.is_datetime64_dtype(series.dtype):
            raise SchemaValidationError(
                name,
                f"{source}: table '{name}', column '{col}': timestamps have no time zone "
                f"(dtype {series.dtype}); expected timezone-aware UTC. Convert with "
                f"`.dt.tz_localize(<the export's zone>)` at ingest; naive times are never "
                f"assumed to be UTC.",
            )
        else:
            raise SchemaValidationError(
                name,
                f"{source}: table '{name}', column '{col}': expected timezone-aware UTC "
                f"timestamps, got dtype {series.dtype} (first value {series.iloc[0]!r}).",
            )
        if out is df:
            out = df.copy()
        out[col] = converted
    return out


#: How far past the current time a timestamp may lie (clock differences, exports made ahead).
FUTURE_TOLERANCE = pd.Timedelta(days=1)


def _check_not_future(name: str, df: pd.DataFrame, source: str) -> None:
    """Timestamps later than now + :data:`FUTURE_TOLERANCE` are a broken clock, not data."""
    limit = pd.Timestamp.now(tz="UTC") + FUTURE_TOLERANCE
    for col, spec in SCHEMAS[name].columns.items():
        if not isinstance(spec.dtype.type, pd.DatetimeTZDtype) or col not in df.columns:
            continue
        late = df[col] > limit
        if late.any():
            first = df.loc[late, col].head(5)
            now = f"{limit - FUTURE_TOLERANCE:%Y-%m-%d %H:%M}"
            raise SchemaValidationError(
                name,
                f"{source}: table '{name}', column '{col}': {int(late.sum())} timestamps are in "
                f"the future (rows {first.index.tolist()}: "
                f"{[t.isoformat() for t in first]}; now is {now} UTC). A clock was wrong or the "
                f"times are not what the export says; "
                f"fix or drop those rows.",
            )


def _describe_failures(name: str, failures: pd.DataFrame, source: str, max_rows: int = 5) -> str:
    lines = [f"{source}: table '{name}' breaks the data contract:"]
    failures = failures.copy()
    failures["column"] = failures["column"].fillna("<table>")
    for (column, check), group in failures.groupby(["column", "check"], sort=False, dropna=False):
        rows = group["index"].dropna().tolist()
        values = group["failure_case"].tolist()
        shown_rows = ", ".join(str(r) for r in rows[:max_rows])
        shown_vals = ", ".join(repr(v) for v in values[:max_rows])
        more = f" (and {len(group) - max_rows} more)" if len(group) > max_rows else ""
        where = f"rows {shown_rows}{more}" if rows else "the table"
        lines.append(
            f"  - column '{column}': rule {check!s} failed at {where}; offending values: "
            f"{shown_vals}"
        )
    return "\n".join(lines)


def validate(name: str, df: pd.DataFrame, *, source: str = "<memory>") -> pd.DataFrame:
    """Validate ``df`` as canonical table ``name`` and return it with canonical dtypes.

    Parameters
    ----------
    name : str
        One of :data:`SCHEMAS` (``members``, ``messages``, ...).
    df : pandas.DataFrame
        The table. Timestamp columns must be timezone-aware; they are converted to UTC
        nanoseconds. Missing or extra columns are errors.
    source : str
        Where the table came from (a file path), used in error messages.

    Raises
    ------
    SchemaValidationError
        Naming the table, the column, the rule and the first offending rows and values.
    """
    if name not in SCHEMAS:
        raise KeyError(f"unknown canonical table {name!r}; expected one of {sorted(SCHEMAS)}")
    schema = SCHEMAS[name]
    missing = [c for c in schema.columns if c not in df.columns]
    extra = [c for c in df.columns if c not in schema.columns]
    if missing or extra:
        parts = []
        if missing:
            parts.append(f"missing columns {missing}")
        if extra:
            parts.append(f"unexpected columns {extra}")
        raise SchemaValidationError(
            name,
            f"{source}: table '{name}' has {' and '.join(parts)}; expected exactly "
            f"{list(schema.columns)}.",
        )
    df = _coerce_timestamps(name, df, source)
    _check_not_future(name, df, source)
    try:
        return schema.validate(df, lazy=True)[list(schema.columns)]
    except SchemaErrors as exc:
        failures = exc.failure_cases
        raise SchemaValidationError(
            name, _describe_failures(name, failures, source), failures
        ) from None


@dataclass
class Tables:
    """The canonical tables of one dataset, as pandas frames (optional ones may be ``None``)."""

    members: pd.DataFrame
    messages: pd.DataFrame
    channels: pd.DataFrame | None = None
    reactions: pd.DataFrame | None = None
    #: Who a message mentions (``@name`` entities, Discord ``mentions``, Slack ``<@U…>``, VK
    #: ``[id…|…]``): one row per (message, mentioned member); optional.
    mentions: pd.DataFrame | None = None
    customers: pd.DataFrame | None = None
    orders: pd.DataFrame | None = None
    assignments: pd.DataFrame | None = None
    #: Field -> "observed" | "inferred" | "mixed" | "partial" | "absent", e.g.
    #: ``{"messages.reply_to_id": "observed"}``; keys ending ``_n`` hold counts as decimal strings.
    provenance: dict[str, str] = field(default_factory=dict)

    def items(self) -> list[tuple[str, pd.DataFrame]]:
        """The tables that are present, as ``(name, frame)`` pairs."""
        return [
            (f.name, getattr(self, f.name))
            for f in fields(self)
            if f.name in SCHEMAS and getattr(self, f.name) is not None
        ]

    def validated(self, *, source: str = "<memory>") -> Tables:
        """Validate every present table and check the links between them."""
        out = {name: validate(name, df, source=source) for name, df in self.items()}
        result = Tables(**out, provenance=dict(self.provenance))
        check_links(result, source=source)
        return result


def check_links(tables: Tables, *, source: str = "<memory>") -> None:
    """Check referential integrity between tables (ids that must exist elsewhere)."""
    known_members = set(tables.members["member_id"])

    def _check(table: str, column: str, values: pd.Series, target: str) -> None:
        values = values.dropna()
        bad = values[~values.isin(known_members)] if target == "members" else values
        if len(bad):
            raise SchemaValidationError(
                table,
                f"{source}: table '{table}', column '{column}': {len(bad)} values have no row in "
                f"'{target}' (first: {bad.head(5).tolist()}); every {column} must be a known "
                f"member_id.",
            )

    _check("messages", "member_id", tables.messages["member_id"], "members")
    if tables.reactions is not None:
        _check("reactions", "member_id", tables.reactions["member_id"], "members")
        unknown = ~tables.reactions["message_id"].isin(tables.messages["message_id"])
        if unknown.any():
            raise SchemaValidationError(
                "reactions",
                f"{source}: table 'reactions', column 'message_id': {int(unknown.sum())} "
                f"reactions point at messages that do not exist (first: "
                f"{tables.reactions.loc[unknown, 'message_id'].head(5).tolist()}).",
            )
    if tables.mentions is not None:
        _check("mentions", "member_id", tables.mentions["member_id"], "members")
        unknown = ~tables.mentions["message_id"].isin(tables.messages["message_id"])
        if unknown.any():
            raise SchemaValidationError(
                "mentions",
                f"{source}: table 'mentions', column 'message_id': {int(unknown.sum())} "
                f"mentions point at messages that do not exist (first: "
                f"{tables.mentions.loc[unknown, 'message_id'].head(5).tolist()}).",
            )
    if tables.channels is not None:
        unknown = ~tables.messages["channel_id"].isin(tables.channels["channel_id"])
        if unknown.any():
            raise SchemaValidationError(
                "messages",
                f"{source}: table 'messages', column 'channel_id': {int(unknown.sum())} messages "
                f"are in channels missing from 'channels' (first: "
                f"{tables.messages.loc[unknown, 'channel_id'].unique()[:5].tolist()}).",
            )
    if tables.orders is not None and tables.customers is not None:
        unknown = ~tables.orders["customer_id"].isin(tables.customers["customer_id"])
        if unknown.any():
            raise SchemaValidationError(
                "orders",
                f"{source}: table 'orders', column 'customer_id': {int(unknown.sum())} orders "
                f"belong to customers missing from 'customers' (first: "
                f"{tables.orders.loc[unknown, 'customer_id'].head(5).tolist()}).",
            )
