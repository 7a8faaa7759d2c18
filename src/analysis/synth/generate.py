"""Run the simulation, write the files and assemble the planted :class:`GroundTruth`."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from analysis.synth.clock import add_months, iso_times
from analysis.synth.config import STAFF_ROLES, GroundTruth, SynthConfig
from analysis.synth.crm import Crm, draw_crm
from analysis.synth.csv_writer import write_csvs
from analysis.synth.kinds import INTRO
from analysis.synth.model import Simulation
from analysis.synth.telegram_writer import write_telegram_export

__all__ = ["generate_community", "generate_from_config"]


def generate_community(
    out_dir: str | Path,
    *,
    n_members: int = 5000,
    seed: int = 0,
    start: str = "2024-01-01",
    months: int = 12,
    **overrides: Any,
) -> GroundTruth:
    """Simulate a community and write its files into ``out_dir``; return the planted truth.

    Parameters
    ----------
    out_dir : str or Path
        Created if missing; files are overwritten (formats: :mod:`analysis.synth`).
    n_members, seed, start, months
        Size, random seed, first day (UTC midnight, ``YYYY-MM-DD``) and length of the data.
    **overrides
        Any other :class:`SynthConfig` field, e.g. ``response_prob=0.7``.

    Returns
    -------
    GroundTruth
        The planted parameters and ids (also written to ``out_dir/ground_truth.json``).

    Raises
    ------
    TypeError
        An unknown override.
    ValueError
        Inconsistent parameters (see :class:`SynthConfig`).
    """
    cfg = SynthConfig(n_members=n_members, seed=seed, start=start, months=months, **overrides)
    return generate_from_config(out_dir, cfg)


def generate_from_config(out_dir: str | Path, cfg: SynthConfig) -> GroundTruth:
    """:func:`generate_community` for a ready :class:`SynthConfig`; returns :class:`GroundTruth`."""
    out = Path(out_dir)
    (out / "telegram").mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(cfg.seed)
    t0 = int(pd.Timestamp(cfg.start, tz="UTC").timestamp())
    t_end = add_months(cfg.start, cfg.months)
    sim = Simulation(cfg, rng, t0, t_end)
    sim.roster()
    sim.plan()
    sim.roots()
    sim.threads()
    events = sim.events()
    chat_id = int(rng.integers(1_100_000_000, 1_900_000_000))
    reactions = sim.reactions(events)
    export = out / "telegram" / "result.json"
    topics = write_telegram_export(export, sim, events, reactions, chat_id)
    crm = draw_crm(sim)
    write_csvs(out, sim, crm)
    kinds = events["kind"]
    n_messages, n_service = int((kinds >= INTRO).sum()), int((kinds < INTRO).sum())
    gt = _planted_truth(sim, chat_id, topics, crm, n_messages, n_service)
    with open(out / "ground_truth.json", "w", encoding="utf-8") as fh:
        json.dump(gt.to_dict(), fh, ensure_ascii=False, indent=2)
        fh.write("\n")
    return gt


def _planted_truth(
    sim: Simulation,
    chat_id: int,
    topics: dict[str, int],
    crm: Crm,
    n_messages: int,
    n_service: int,
) -> GroundTruth:
    """The :class:`GroundTruth` of a finished simulation (see its docstring for every field)."""
    cfg = sim.cfg
    staff = list(sim.uid[: sim.n_staff])
    arms = {"control": 0, "treatment": 1}
    metrics = {
        name: {arm: float(values[i]) for arm, i in arms.items()}
        for name, values in (
            ("first_post_7d", cfg.first_post_7d),
            ("retained_week4", cfg.retained_week4),
        )
    }
    purchase = crm.purchase | {
        "coefficients": {
            "intercept": cfg.purchase_intercept,
            "interest": cfg.purchase_interest_coef,
            "member": cfg.purchase_member_coef,
        },
        "selection_strength": cfg.selection_strength,
        "outcome": "≥1 order between signed_up_at and the end of the data",
    }
    if cfg.history_selection > 0:
        purchase["outcome_att_90d"] = (
            "≥1 order in the 90 days after joining (index date), among members whose account "
            "existed before joining: the estimand of analysis.conversion.member_effect"
        )
    return GroundTruth(
        seed=cfg.seed,
        n_members=cfg.n_members,
        start=str(iso_times(np.array([sim.t0]), suffix="Z")[0]),
        end=str(iso_times(np.array([sim.t_end]), suffix="Z")[0]),
        community_name=cfg.community_name,
        chat_id=chat_id,
        staff_ids=staff,
        staff_roles={uid: STAFF_ROLES[i] for i, uid in enumerate(staff)},
        bot_ids=[str(sim.uid[sim.bot])],
        core_ids=list(sim.uid[sim.core]),
        topics=topics,
        source_probs=dict(cfg.source_probs),
        response_prob=cfg.response_prob,
        response_max_hours=24.0,
        staff_answer_share=cfg.staff_answer_share,
        response_median_minutes={
            "staff": cfg.staff_response_median_min,
            "member": cfg.member_response_median_min,
        },
        response_sigma={"staff": cfg.staff_response_sigma, "member": cfg.member_response_sigma},
        newcomer_answer_prob=cfg.response_prob,
        newcomer_return_prob={
            "answered": cfg.return_prob_answered,
            "unanswered": cfg.return_prob_unanswered,
        },
        newcomer_return_window_days=[7, 35],
        core_inner_prob=cfg.core_inner_prob,
        core_reply_to_core_min=cfg.core_reply_to_core_min,
        experiment={
            "id": cfg.experiment_id,
            "window": [str(x) for x in iso_times(np.array(sim.window), suffix="Z")],
            "unit": "non-core members joining inside the window; assigned_at = join time",
            "metrics": metrics,
            "n_units": {arm: int((sim.unit & (sim.arm == i)).sum()) for arm, i in arms.items()},
        },
        purchase=purchase,
        n_messages=n_messages,
        n_service_messages=n_service,
        n_customers=int(crm.person.size),
        n_orders=int(crm.order_account.size),
        interest_groups={
            str(sim.uid[i]): int(sim.group[i]) for i in np.flatnonzero(sim.group >= 0)
        },
        interest_affinity=cfg.interest_affinity,
        realised={
            "n_roots": int(sim.r_t.size),
            "n_posters": int(sim.poster.sum()),
            "core_reply_to_core_share": sim.core_share,
            "answer_fallbacks": sim.answer_fallbacks,
        },
    )
