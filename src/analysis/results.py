"""The shared shape of study results (the style of statsmodels results and lifelines fitters).

A study returns a frozen dataclass with plain fields that mixes in :class:`Result`: it then has
``.to_frame()``, ``.summary()``, ``.plot(ax=None)`` and a notebook ``_repr_html_()`` built from
the first two, with every piece of text escaped.
"""

from __future__ import annotations

import html
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
