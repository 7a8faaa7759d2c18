"""Seaborn figures and tables in one house style (colour-blind-safe, readable at laptop width).

:func:`use_house_style` is called once at the top of every study notebook. It sets

* seaborn's ``whitegrid`` theme with the ``colorblind`` palette (Waskom 2021, *seaborn:
  statistical data visualization*, JOSS 6(60):3021; palette after Okabe & Ito 2008), whose
  first colour is the reports' accent colour (:data:`analysis.report.ACCENT`);
* figures 9 × 3.5 inches at 100 dpi (900 px wide: the report column is 1000 px and images
  shrink to fit a narrower window), no top/right spines, bold titles;
* in IPython, data frames displayed as the last expression of a cell are rendered with
  :func:`analysis.formats.format_frame`: thousands separators, percentages for shares, intervals
  as ``2.1–4.5``, every cell escaped.
"""

from __future__ import annotations

PALETTE = "colorblind"

#: matplotlib settings of the house style.
RC_PARAMS = {
    "figure.dpi": 100,
    "savefig.dpi": 100,
    "figure.figsize": (9, 3.5),
    "axes.titleweight": "bold",
    "axes.titlesize": 13,
    "axes.labelsize": 11,
    "xtick.labelsize": 10,
    "ytick.labelsize": 10,
    "legend.fontsize": 10,
    "axes.spines.top": False,
    "axes.spines.right": False,
}


def use_house_style() -> None:
    """Apply the workbench's seaborn theme and table formatting; call once per notebook."""
    import matplotlib as mpl
    import seaborn as sns

    sns.set_theme(context="notebook", style="whitegrid", palette=PALETTE)
    mpl.rcParams.update(RC_PARAMS)
    _register_frame_formatter()


def _register_frame_formatter() -> None:
    """Render ``pandas.DataFrame`` outputs with the house table format (IPython only)."""
    try:
        from IPython import get_ipython
    except ImportError:  # pragma: no cover - IPython is a dependency of the kernel
        return
    shell = get_ipython()
    if shell is None:
        return
    import pandas as pd

    from analysis.formats import format_frame

    shell.display_formatter.formatters["text/html"].for_type(pd.DataFrame, format_frame)
