"""Seeded simulator of an online community with planted ground truth (demo data + test oracle).

:func:`generate_community` writes one Telegram forum supergroup in the real Telegram Desktop export
format plus the CSV files a company keeps beside it, and returns :class:`GroundTruth`: the planted
parameters the studies must recover. Everything is drawn from one
``numpy.random.default_rng(seed)``: the same configuration gives byte-identical files.

Files written into ``out_dir``
------------------------------
``telegram/result.json``
    ``{"name", "type": "public_supergroup", "id", "messages": [...]}``, one message per line,
    sorted by ``id`` (ids increase with time). ``date`` is Moscow local time (UTC+3) without an
    offset and ``date_unixtime`` the unix seconds as a string, as Telegram Desktop writes them.
    Service messages: ``join_group_by_link`` (``actor``, ``actor_id``, ``inviter``) for every
    person at their join time, and ``topic_created`` (``title``) for Questions, Showcase, Events
    and Off-topic by the founder at the start. Regular messages: ``from``, ``from_id``
    (``user<9-10 digits>``), ``text`` (a string or an entity list), ``text_entities``, optional
    ``reactions`` (``recent`` names at most three reactors, never the author) and
    ``reply_to_message_id``: a thread root in a topic points at the topic's ``topic_created``
    message; a reply points at the message it answers (same topic); roots in the General area and
    the bot's daily digest have none.
``members.csv``
    ``user_id, source, referred_by, role``: everyone in the export. ``role`` is member, staff or
    bot; ``source`` is one of organic, ads, referral, partner, event (empty for staff and the
    bot); ``referred_by`` is the referrer's ``user_id`` (an earlier member) for referrals only.
``customers.csv``
    ``customer_id`` (``c0000001``... in signup order), ``telegram_user_id`` (empty for
    non-members), ``signed_up_at`` (UTC, ``Z``).
``orders.csv``
    ``order_id``, ``customer_id``, ``ordered_at`` (Moscow time with ``+03:00``), ``amount``
    (2 dp), ``currency`` (``RUB``).
``assignments.csv``
    ``experiment_id``, ``unit_id`` (Telegram user id), ``variant`` (control | treatment),
    ``assigned_at`` (UTC, ``Z``; the unit's join time), ``cluster_id`` (empty).
``ground_truth.json``
    :meth:`GroundTruth.to_dict`.

How the planted outcomes are kept exact
---------------------------------------
Per member the simulator first draws the outcomes the studies measure (see :class:`SynthConfig`):
``first_post_7d``, whether the first message is answered, whether the member returns in days
7-35 after it, and ``retained_week4``. It derives from them when the member may post (first-post
time, churn time, a silent week 4) and then generates messages: roots from each member's schedule
(forced posts where an outcome needs one) and replies only by people allowed to post at that
moment. So every measured outcome equals its draw, and the planted probabilities are the exact
per-unit Bernoulli probabilities.

Modules
-------
``config``
    :class:`SynthConfig` (every parameter, defined) and :class:`GroundTruth` (every planted
    quantity, defined).
``generate``
    :func:`generate_community` and :func:`generate_from_config`: run the steps, write the files,
    assemble the :class:`GroundTruth`.
``model``
    The simulation of people and messages: roster, planted outcomes, thread roots, replies,
    message order and ids, reactions.
``crm``
    CRM accounts, which of them belong to members (self-selection) and their orders.
``sampling``
    Random draws: times with a daily and weekly rhythm, truncated lognormal delays, weighted
    picks among people who have already posted.
``clock``, ``kinds``, ``texts``
    Time units and formatting; the internal message kinds; user ids, names and message wording.
``telegram_writer``, ``csv_writer``
    The file formats: the streamed Telegram Desktop JSON export and the CSV files.

The random draws happen in a fixed order (roster, plan, roots, threads, message variants, chat id,
reactions, CRM); changing that order changes every file for a given seed.
"""

from analysis.synth.config import GroundTruth, SynthConfig
from analysis.synth.conversion_panel import ConversionPanel, generate_conversion_panel
from analysis.synth.generate import generate_community, generate_from_config
from analysis.synth.staggered_panel import StaggeredPanel, make_staggered_panel

__all__ = [
    "ConversionPanel",
    "GroundTruth",
    "StaggeredPanel",
    "SynthConfig",
    "generate_community",
    "generate_conversion_panel",
    "generate_from_config",
    "make_staggered_panel",
]
