"""House formats for numbers and tables in reports (thousands separators, percentages, intervals).

Every report shows numbers the same way: integers as ``12,345``, shares as ``23.5%``, intervals
as ``2.1–4.5`` (en dash, as in the Chicago Manual of Style §6.78), missing values as ``—``.
:func:`format_frame` applies them to a whole data frame; :func:`analysis.viz.use_house_style`
makes it the HTML display of every data frame in a study notebook.
"""

from __future__ import annotations

import html
import math
from typing import Any

import numpy as np
import pandas as pd

__all__ = ["fmt_int", "fmt_interval", "fmt_number", "fmt_pct", "format_frame"]


# ---- house formats for numbers and tables ----------------------------------------------------
#: Column names read as shares in [0, 1] and shown as percentages.
_PERCENT_WORDS = ("share", "rate", "pct", "percent", "prob", "proportion", "stickiness")
#: Suffix pairs joined into one interval column ``"<low>–<high>"``.
_INTERVAL_PAIRS = (("_low", "_high"), ("_lo", "_hi"), ("_lower", "_upper"))


def fmt_int(value: Any) -> str:
    """An integer with thousands separators: ``12345`` → ``"12,345"``; missing → ``"—"``."""
    if value is None or (isinstance(value, float) and math.isnan(value)) or value is pd.NA:
        return "—"
    return f"{int(round(float(value))):,}"


def fmt_number(value: Any, digits: int = 3) -> str:
    """A real number for a reader: thousands separators from 1,000, else ``digits`` significant.

    ``1234.5`` → ``"1,234"``; ``12.345`` → ``"12.3"``; ``0.01234`` → ``"0.0123"``; missing →
    ``"—"``. Negative zero prints as ``"0"``.
    """
    if value is None or value is pd.NA:
        return "—"
    v = float(value)
    if math.isnan(v):
        return "—"
    if math.isinf(v):
        return "∞" if v > 0 else "−∞"
    if abs(v) >= 10 ** (digits - 1) or v == 0:
        text = f"{v:,.0f}"
    else:
        text = f"{v:#.{digits}g}".rstrip("0").rstrip(".")
        if "e" in text:
            text = f"{v:.{digits - 1}e}"
    return "0" if text in ("-0", "-0.0") else text


def fmt_pct(value: Any, decimals: int = 1) -> str:
    """A share in [0, 1] as a percentage: ``0.2345`` → ``"23.5%"``; missing → ``"—"``."""
    if value is None or value is pd.NA or math.isnan(float(value)):
        return "—"
    text = f"{100 * float(value):,.{decimals}f}%"
    return text[1:] if text.startswith("-") and float(text[1:-1].replace(",", "")) == 0 else text


def fmt_interval(low: Any, high: Any, *, percent: bool = False, digits: int = 3) -> str:
    """An interval as ``"2.1–4.5"`` (en dash); percentages as ``"2.1–4.5%"``."""
    if percent:
        lo, hi = fmt_pct(low), fmt_pct(high)
        return f"{lo[:-1]}–{hi}" if lo.endswith("%") and hi.endswith("%") else f"{lo}–{hi}"
    return f"{fmt_number(low, digits)}–{fmt_number(high, digits)}"


def _is_percent(name: str, values: pd.Series) -> bool:
    lowered = name.lower()
    if not any(w in lowered for w in _PERCENT_WORDS):
        return False
    finite = pd.to_numeric(values, errors="coerce").dropna()
    return bool(len(finite)) and bool(finite.between(0, 1).all())


def format_frame(frame: pd.DataFrame, *, max_rows: int = 30) -> str:
    """A data frame as house-style HTML; every cell escaped.

    Integers get thousands separators (:func:`fmt_int`); share-like columns (name contains
    ``share``, ``rate``, ``pct``, ``prob``...) holding values in [0, 1] become percentages
    (:func:`fmt_pct`); pairs ``x_low``/``x_high`` (or ``_lo/_hi``, ``_lower/_upper``) and cells
    holding a 2-tuple become one interval ``"2.1–4.5"`` (:func:`fmt_interval`); other reals use
    :func:`fmt_number`; missing values show as ``—``. At most ``max_rows`` rows are shown.
    """
    df = frame.head(max_rows).copy()
    columns = [str(c) for c in df.columns]
    df.columns = columns
    for lo_suffix, hi_suffix in _INTERVAL_PAIRS:
        for col in list(df.columns):
            if not col.endswith(lo_suffix):
                continue
            base = col[: -len(lo_suffix)]
            hi_col = base + hi_suffix
            if hi_col not in df.columns:
                continue
            pct = _is_percent(base or col, pd.concat([df[col], df[hi_col]]))
            joined = [
                fmt_interval(a, b, percent=pct) for a, b in zip(df[col], df[hi_col], strict=True)
            ]
            position = df.columns.get_loc(col)
            df = df.drop(columns=[col, hi_col])
            label = base if base.endswith("ci") else f"{base} interval".strip()
            df.insert(position, label, joined)
    cells: dict[str, list[str]] = {}
    numeric: set[str] = set()
    for col in df.columns:
        values = df[col]
        if pd.api.types.is_bool_dtype(values):
            cells[col] = ["yes" if v else "no" for v in values]
        elif pd.api.types.is_integer_dtype(values):
            cells[col] = [fmt_int(v) for v in values]
            numeric.add(col)
        elif pd.api.types.is_float_dtype(values):
            fmt = fmt_pct if _is_percent(col, values) else fmt_number
            cells[col] = [fmt(v) for v in values]
            numeric.add(col)
        elif pd.api.types.is_datetime64_any_dtype(values):
            cells[col] = [_fmt_time(v) for v in values]
        else:
            cells[col] = [_fmt_cell(v) for v in values]
            if col.endswith("interval"):
                numeric.add(col)
    esc = html.escape
    show_index = not isinstance(df.index, pd.RangeIndex)
    head = "<th></th>" if show_index else ""
    head += "".join(
        f'<th class="{"wb-num" if c in numeric else "wb-text"}">{esc(c)}</th>' for c in df.columns
    )
    rows = []
    for i, label in enumerate(df.index):
        row = f"<th>{esc(_fmt_cell(label))}</th>" if show_index else ""
        row += "".join(
            f'<td class="{"wb-num" if c in numeric else "wb-text"}">{esc(cells[c][i])}</td>'
            for c in df.columns
        )
        rows.append(f"<tr>{row}</tr>")
    table = (
        f'<table class="dataframe wb-table"><thead><tr>{head}</tr></thead>'
        f"<tbody>{''.join(rows)}</tbody></table>"
    )
    if len(frame) > max_rows:
        table += f"<p><small>First {max_rows:,} of {len(frame):,} rows.</small></p>"
    return table


def _fmt_time(value: Any) -> str:
    if value is None or value is pd.NaT or (isinstance(value, float) and math.isnan(value)):
        return "—"
    ts = pd.Timestamp(value)
    if ts.hour == ts.minute == ts.second == 0:
        return ts.strftime("%Y-%m-%d")
    return ts.strftime("%Y-%m-%d %H:%M")


def _fmt_cell(value: Any) -> str:
    if isinstance(value, tuple) and len(value) == 2:
        a, b = value
        if all(isinstance(x, (int, float, np.integer, np.floating)) for x in (a, b)):
            return fmt_interval(a, b)
    if value is None or value is pd.NA or value is pd.NaT:
        return "—"
    if isinstance(value, float) and math.isnan(value):
        return "—"
    if isinstance(value, (np.integer, int)) and not isinstance(value, bool):
        return fmt_int(value)
    if isinstance(value, (np.floating, float)):
        return fmt_number(value)
    return str(value)
