"""Covariate balance between the treated and (weighted) controls: standardised differences.

Standardised mean difference (SMD) of covariate ``x``
    ``(mean_T=1(x) − mean_w,T=0(x)) / sqrt((s²_1 + s²_0) / 2)``, where the control mean is
    weighted by the estimator's control weights (odds for weighting, times used for matching;
    all ones "before") and the denominator is the *unweighted* pooled standard deviation of the
    two groups, the same before and after adjustment so the two columns are comparable (Austin
    2009, Stat. Med. 28(25); Stuart 2010, Stat. Sci. 25(1)). ``|SMD| < 0.1`` is the usual
    threshold for adequate balance (Austin 2009).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd

__all__ = ["BALANCE_THRESHOLD", "balance_table"]

#: |SMD| below which a covariate counts as balanced (Austin 2009).
BALANCE_THRESHOLD = 0.1


def balance_table(
    frame: pd.DataFrame,
    treatment: str,
    covariates: Sequence[str],
    control_weights: Mapping[str, np.ndarray],
) -> pd.DataFrame:
    """Balance of each covariate before and after each adjustment.

    Parameters
    ----------
    frame : DataFrame
        The design frame.
    treatment : str
        0/1 column.
    covariates : sequence of str
        Columns to check.
    control_weights : mapping
        Method name → weights of the controls, in the order the controls appear in ``frame``.

    Returns
    -------
    DataFrame
        Index ``covariate``; columns ``mean_treated``, ``mean_control`` (unweighted),
        ``smd_before`` and ``smd_<method>`` per method (definition in the module docstring).
    """
    t = frame[treatment].to_numpy(dtype=float) == 1
    rows = []
    for cov in covariates:
        x = frame[cov].to_numpy(dtype=float)
        x1, x0 = x[t], x[~t]
        sd = float(np.sqrt((x1.var(ddof=1) + x0.var(ddof=1)) / 2))
        row = {
            "covariate": cov,
            "mean_treated": float(x1.mean()),
            "mean_control": float(x0.mean()),
        }
        row["smd_before"] = (x1.mean() - x0.mean()) / sd if sd > 0 else 0.0
        for method, w in control_weights.items():
            m0 = float(np.sum(w * x0) / np.sum(w))
            row[f"smd_{method}"] = (x1.mean() - m0) / sd if sd > 0 else 0.0
        rows.append(row)
    return pd.DataFrame(rows).set_index("covariate")
