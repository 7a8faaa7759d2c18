"""The CSV files beside the export: members, experiment assignments, CRM customers and orders.

Formats are defined in the package docstring (:mod:`analysis.synth`).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from analysis.synth.clock import MSK, iso_times

if TYPE_CHECKING:
    from analysis.synth.crm import Crm
    from analysis.synth.model import Simulation

__all__ = ["write_csvs"]


def write_csvs(out: Path, sim: Simulation, crm: Crm) -> None:
    """Write ``members.csv``, ``assignments.csv``, ``customers.csv`` and ``orders.csv``."""
    roster = {"user_id": sim.uid, "source": sim.source, "referred_by": sim.referred_by}
    pd.DataFrame(roster | {"role": sim.role}).to_csv(out / "members.csv", index=False)
    units = np.flatnonzero(sim.unit)
    pd.DataFrame(
        {
            "experiment_id": sim.cfg.experiment_id,
            "unit_id": sim.uid[units],
            "variant": np.where(sim.arm[units] == 1, "treatment", "control"),
            "assigned_at": iso_times(sim.join[units], suffix="Z"),
            "cluster_id": "",
        }
    ).to_csv(out / "assignments.csv", index=False)
    n_acc = crm.person.size
    order = np.lexsort((crm.order_account, crm.ordered_at))
    acc_order = np.lexsort((np.arange(n_acc), crm.signed_up_at))  # customer ids in signup order
    cid = np.empty(n_acc, dtype=object)
    cid[acc_order] = _numbered_ids("c", n_acc, 7)
    tg = np.where(crm.person >= 0, sim.uid[np.maximum(crm.person, 0)], "")
    customers = {"customer_id": cid[acc_order], "telegram_user_id": tg[acc_order]}
    customers["signed_up_at"] = iso_times(crm.signed_up_at[acc_order], suffix="Z")
    pd.DataFrame(customers).to_csv(out / "customers.csv", index=False)
    n_orders = crm.order_account.size
    orders = {
        "order_id": _numbered_ids("o", n_orders, 8),
        "customer_id": cid[crm.order_account[order]],
    }
    orders["ordered_at"] = iso_times(crm.ordered_at[order], offset=MSK, suffix="+03:00")
    orders |= {"amount": np.round(crm.order_amount[order], 2), "currency": "RUB"}
    pd.DataFrame(orders).to_csv(out / "orders.csv", index=False, float_format="%.2f")


def _numbered_ids(prefix: str, n: int, width: int) -> np.ndarray:
    """``prefix`` + 1..n zero-padded to ``width`` digits, e.g. ``c0000001``."""
    return np.char.add(prefix, np.char.zfill(np.arange(1, n + 1).astype(str), width))
