"""Seaborn figures in one house style (colour-blind-safe palette, readable at laptop width)."""

from __future__ import annotations

PALETTE = "colorblind"


def use_house_style() -> None:
    """Apply the workbench's seaborn theme; call once at the top of a notebook."""
    import matplotlib as mpl
    import seaborn as sns

    sns.set_theme(context="notebook", style="whitegrid", palette=PALETTE)
    mpl.rcParams.update(
        {
            "figure.dpi": 100,
            "savefig.dpi": 100,
            "figure.figsize": (9, 3.5),
            "axes.titleweight": "bold",
            "axes.spines.top": False,
            "axes.spines.right": False,
        }
    )
