"""The shared shape of study results (the style of statsmodels results and lifelines fitters).

A study returns a frozen dataclass with plain fields that mixes in :class:`Result`: it then has
``.to_frame()``, ``.summary()``, ``.plot(ax=None)`` and a notebook ``_repr_html_()`` built from
the first two, with every piece of text escaped.
"""

from __future__ import annotations

import html
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pandas as pd


class Result:
    """Mixin for study results. Subclasses implement ``to_frame`` and ``summary``."""

    #: Title shown above the result in notebooks and reports.
    title: str = "Result"

    def to_frame(self) -> pd.DataFrame:  # pragma: no cover - abstract
        raise NotImplementedError

    def summary(self) -> str:  # pragma: no cover - abstract
        raise NotImplementedError

    def plot(self, ax: Any = None) -> Any:  # pragma: no cover - optional
        raise NotImplementedError(f"{type(self).__name__} has no plot")

    def _repr_html_(self) -> str:
        from analysis.formats import format_frame

        table = format_frame(self.to_frame())
        return (
            f'<div class="wb-result"><h4>{html.escape(self.title)}</h4>'
            f"<p>{html.escape(self.summary())}</p>{table}</div>"
        )

    def __str__(self) -> str:
        return f"{self.title}\n{self.summary()}\n{self.to_frame().to_string()}"


@dataclass(frozen=True)
class NotAvailable(Result):
    """Stands in for a result the data cannot support (a documented fallback of a study).

    A study that runs several analyses keeps going when one of them has too little data (a
    community with one member has no newcomers to compare); that part becomes a
    ``NotAvailable`` whose summary says why, whose table is empty and whose plot is the reason
    in words, so notebooks render it like any other result.

    Attributes
    ----------
    title : str
        What could not be computed.
    reason : str
        Why (the message of the error the analysis raised).
    """

    reason: str
    title: str = "Not available"

    def to_frame(self) -> pd.DataFrame:
        return pd.DataFrame()

    def summary(self) -> str:
        return f"{self.title}: not available — {self.reason}"

    def plot(self, ax: Any = None) -> Any:
        import matplotlib.pyplot as plt

        if ax is None:
            _, ax = plt.subplots(figsize=(8, 1.2))
        ax.text(0, 0.5, self.summary(), va="center", wrap=True)
        ax.axis("off")
        return ax

    def to_dict(self) -> dict[str, Any]:
        return {"available": False, "reason": self.reason}


def available_or_reason(title: str, compute: Callable[[], Any]) -> Any:
    """``compute()``, or :class:`NotAvailable` with the reason when it raises ``ValueError``."""
    try:
        return compute()
    except ValueError as exc:
        return NotAvailable(reason=str(exc), title=title)
