"""BTYD customer summaries: transactions → frequency, recency, age and repeat mean spend.

Definitions (the convention of Fader, Hardie & Lee 2005 and the ``lifetimes`` package)
---------------------------------------------------------------------------------------
Purchase day
    Orders are collapsed to UTC calendar days: several orders by one customer on one day are one
    purchase whose value is their sum.
``frequency`` (x)
    Purchase days after the first one, up to and including the calibration end's day.
``recency`` (t_x)
    (last purchase day − first purchase day) / unit; 0 when ``frequency`` is 0.
``T``
    (calibration end's day − first purchase day) / unit. Units are days divided by the length
    of ``unit`` (``"W"``: weeks = days / 7, as in the CDNOW analysis; ``"D"``: days).
``monetary_value``
    Mean value of the *repeat* purchase days (the first is excluded); NaN when ``frequency``
    is 0 (``lifetimes`` writes 0 there, which Gamma–Gamma must not see).

Customers whose first order falls after the calibration end are not in the summary. The
aggregation is one ibis expression (:func:`customer_summary_expr`), run by the community's engine
or, for a pandas transaction log, by an in-process DuckDB.

References
----------
.. [1] Fader, P. S., Hardie, B. G. S. & Lee, K. L. (2005). "Counting your customers" the easy
   way. *Marketing Science* 24(2), 275-284 (CDNOW data preparation).
.. [2] lifetimes, ``summary_data_from_transaction_data``,
   https://lifetimes.readthedocs.io/en/latest/lifetimes.html#lifetimes.utils
"""

from __future__ import annotations

from typing import Any

import ibis
import numpy as np
import pandas as pd

from analysis.data import Community, utc_timestamp

__all__ = [
    "SUMMARY_COLUMNS",
    "community_customer_summary",
    "customer_summary",
    "customer_summary_expr",
    "membership_expr",
]

SUMMARY_COLUMNS = ["customer_id", "frequency", "recency", "T", "monetary_value"]
_DAY = 86_400


def _unit_days(unit: str) -> float:
    try:
        days = pd.Timedelta(1, unit=unit) / pd.Timedelta(days=1)
    except ValueError as exc:
        raise ValueError(
            f"unit must be a pandas time unit such as 'W' or 'D', got {unit!r}"
        ) from exc
    if days < 1:
        raise ValueError(f"unit must be at least a day (purchases are collapsed by day): {unit!r}")
    return days


def _day_index(value: Any) -> int:
    return int(utc_timestamp(value).floor("D").timestamp() // _DAY)


def customer_summary_expr(orders: Any, *, calibration_end: Any, unit: str = "W") -> Any:
    """Per-customer frequency, recency, T and repeat mean spend from an ``orders`` ibis table.

    ``orders`` needs ``customer_id``, ``ordered_at`` (UTC timestamp) and ``amount``. Orders on or
    before the calibration end's UTC day count. Definitions in the module docstring; the whole
    aggregation runs on the engine (DuckDB, Spark, ...).
    """
    divisor = _unit_days(unit)
    end_day = _day_index(calibration_end)
    day = (orders.ordered_at.epoch_seconds() // _DAY).cast("int64")
    dated = orders.select(customer_id=orders.customer_id, day=day, amount=orders.amount)
    dated = dated.filter(dated.day <= end_day)
    daily = dated.group_by(["customer_id", "day"]).aggregate(spend=dated.amount.sum())
    first = daily.group_by("customer_id").aggregate(first_day=daily.day.min())
    joined = daily.join(first, "customer_id")
    per = joined.group_by("customer_id").aggregate(
        first_day=joined.first_day.min(),
        last_day=joined.day.max(),
        n_days=joined.count(),
        repeat_spend=ibis.ifelse(joined.day > joined.first_day, joined.spend, 0.0).sum(),
    )
    frequency = per.n_days - 1
    return per.select(
        customer_id=per.customer_id,
        frequency=frequency.cast("int64"),
        recency=(per.last_day - per.first_day).cast("float64") / divisor,
        T=(ibis.literal(end_day) - per.first_day).cast("float64") / divisor,
        monetary_value=ibis.ifelse(
            frequency > 0, per.repeat_spend / frequency.cast("float64"), ibis.null("float64")
        ),
    )


def customer_summary(
    transactions: pd.DataFrame,
    *,
    calibration_end: Any,
    unit: str = "W",
    customer_col: str = "customer_id",
    datetime_col: str = "ordered_at",
    monetary_col: str = "amount",
) -> pd.DataFrame:
    """BTYD summary of a transaction log (pandas in, pandas out; computed by DuckDB).

    Parameters
    ----------
    transactions : pandas.DataFrame
        One row per transaction. Naive datetimes are read as UTC.
    calibration_end : date-like
        Last day of the calibration period (inclusive).
    unit : str, default "W"
        Time unit of recency and T (``"W"``: days / 7).
    customer_col, datetime_col, monetary_col : str
        Column names in ``transactions``.

    Returns
    -------
    pandas.DataFrame
        Indexed by ``customer_id`` (sorted) with ``frequency, recency, T, monetary_value``.
    """
    missing = [c for c in (customer_col, datetime_col, monetary_col) if c not in transactions]
    if missing:
        raise ValueError(
            f"transactions lack column(s) {missing}; they have {list(transactions.columns)}"
        )
    when = pd.to_datetime(transactions[datetime_col], errors="coerce", utc=True)
    amount = pd.to_numeric(transactions[monetary_col], errors="coerce")
    for field, bad, values in (
        (datetime_col, when.isna(), transactions[datetime_col]),
        (monetary_col, ~np.isfinite(amount), transactions[monetary_col]),
    ):
        if bad.any():
            i = int(np.flatnonzero(bad.to_numpy())[0])
            raise ValueError(
                f"transactions: row {i}, field '{field}': got {values.iloc[i]!r}; expected a "
                f"{'date/time' if field == datetime_col else 'finite number'}"
            )
    frame = pd.DataFrame(
        {
            "customer_id": transactions[customer_col].astype(str).to_numpy(),
            "ordered_at": when.array,
            "amount": amount.astype(float).to_numpy(),
        }
    )
    expr = customer_summary_expr(ibis.memtable(frame), calibration_end=calibration_end, unit=unit)
    out = ibis.duckdb.connect().execute(expr)
    return out.set_index("customer_id").sort_index()[SUMMARY_COLUMNS[1:]]


def membership_expr(community: Community) -> Any:
    """``customer_id, is_member`` per customer: linked to a member who is not staff or a bot."""
    customers = community.table("customers")
    members = community.members
    linked = members.filter(~members.is_staff & ~members.is_bot).select(
        linked_member=members.member_id
    )
    return customers.left_join(linked, customers.member_id == linked.linked_member).select(
        customer_id=customers.customer_id, is_member=linked.linked_member.notnull()
    )


def community_customer_summary(
    community: Community, *, calibration_end: Any = None, unit: str = "W"
) -> pd.DataFrame:
    """BTYD summary of a community's ``orders`` (on its engine) with an ``is_member`` column.

    ``calibration_end`` defaults to the day of the last order. Orders in more than one currency
    are an error (amounts would not be comparable).
    """
    orders = community.table("orders")
    currencies = community.execute(orders.select("currency").distinct())["currency"].tolist()
    if len(currencies) > 1:
        raise ValueError(
            f"dataset '{community.name}', table 'orders', field 'currency': found "
            f"{sorted(currencies)}; lifetime value needs one currency (convert first)"
        )
    if calibration_end is None:
        last = community.execute(orders.ordered_at.max())
        if last is None or pd.isna(last):
            raise ValueError(f"dataset '{community.name}' has no orders")
        calibration_end = last
    summary = customer_summary_expr(orders, calibration_end=calibration_end, unit=unit)
    labelled = summary.join(membership_expr(community), "customer_id")
    out = community.execute(labelled).sort_values("customer_id").reset_index(drop=True)
    # engines sum in no fixed order: round away the last bits so that fits are reproducible
    out["monetary_value"] = out["monetary_value"].round(6)
    return out[[*SUMMARY_COLUMNS, "is_member"]]
