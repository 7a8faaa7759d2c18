"""The Telegram Desktop export (``telegram/result.json``), streamed one message per line.

Format defined in the package docstring (:mod:`analysis.synth`). Memory stays proportional to the
simulation's numpy arrays, never to a list of all message dicts: messages are written in chunks
and repeated pieces (names, message texts) are serialised once.

With ``SynthConfig.hostile_strings`` the writer swaps in hostile user text
(:data:`~analysis.synth.texts.HOSTILE_NAMES` for a few ordinary members spread over the roster,
the community-name and topic-title suffixes, :data:`~analysis.synth.texts.HOSTILE_TEXTS` for
some thread openers). It draws no random numbers, so every id, time and count is unchanged.

Mentions: one in five first answers and follow-ups (``variant % 5 == 0``) to another member's
message opens by addressing that member with a ``mention_name`` entity (their first name and
user id), as Telegram writes a mention of a user without a username.
"""

from __future__ import annotations

import json
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from analysis.synth.clock import DAY, MSK, iso_times
from analysis.synth.config import TOPICS
from analysis.synth.kinds import ANSWER, BOT, FOLLOWUP, INTRO, JOIN, ROOT, TOPIC
from analysis.synth.texts import (
    DIGEST,
    EMOJI,
    HOSTILE_COMMUNITY_SUFFIX,
    HOSTILE_NAMES,
    HOSTILE_TEXTS,
    HOSTILE_TOPIC_SUFFIXES,
    TEMPLATES,
    THINGS,
)

if TYPE_CHECKING:
    from analysis.synth.model import Simulation

__all__ = ["display_names", "topic_titles", "write_telegram_export"]


_JOINED = '"action": "join_group_by_link", "inviter": "Group", "text": "", "text_entities": []}'


def write_telegram_export(
    path: Path, sim: Simulation, ev: dict[str, np.ndarray], rx: dict[str, np.ndarray], chat_id: int
) -> dict[str, int]:
    """Write the export to ``path``; return topic title → id of its ``topic_created`` message.

    Parameters
    ----------
    path : Path
        The ``result.json`` to (over)write.
    sim : Simulation
        People's names and ids, the community name, the digests' counts.
    ev : dict
        :meth:`Simulation.events`: per message in id order ``t``, ``kind``, ``author``,
        ``reply_to`` (0 = none), ``topic``, ``variant``; and ``topic_ids``.
    rx : dict
        :meth:`Simulation.reactions`: reaction entries sorted by message.
    chat_id : int
        The export's ``id``.
    """
    hostile = bool(getattr(sim.cfg, "hostile_strings", False))
    names, uid = [_dumps(x) for x in display_names(sim)], sim.uid
    titles = topic_titles(hostile)
    community = sim.cfg.community_name + (HOSTILE_COMMUNITY_SUFFIX if hostile else "")
    e_start = np.searchsorted(rx["msg"], np.arange(ev["t"].size + 1))
    with open(path, "w", encoding="utf-8", newline="\n") as fh:
        fh.write(f'{{\n "name": {_dumps(community)},\n "type": "public_supergroup",\n')
        fh.write(f' "id": {chat_id},\n "messages": [\n')
        for lo in range(0, ev["t"].size, 50_000):
            hi = min(lo + 50_000, ev["t"].size)
            dates = iso_times(ev["t"][lo:hi], offset=MSK).tolist()
            t, kind, author, reply_to, topic, variant = (
                ev[k][lo:hi].tolist()
                for k in ("t", "kind", "author", "reply_to", "topic", "variant")
            )
            e_lo = int(e_start[lo])
            starts = (e_start[lo : hi + 1] - e_lo).tolist()
            reactions = _reactions_json(rx, slice(e_lo, int(e_start[hi])), names, uid)
            lines = []
            for j in range(hi - lo):
                k, who = kind[j], author[j]
                line = f'{{"id": {lo + j + 1}, "type": "{"service" if k < INTRO else "message"}", '
                line += f'"date": "{dates[j]}", "date_unixtime": "{t[j]}", '
                if k == JOIN:
                    line += f'"actor": {names[who]}, "actor_id": "{uid[who]}", {_JOINED}'
                elif k == TOPIC:
                    line += (
                        f'"actor": {names[0]}, "actor_id": "{uid[0]}", "action": "topic_created", '
                    )
                    line += (
                        f'"title": {_dumps(titles[topic[j]])}, "text": "", "text_entities": []}}'
                    )
                else:
                    line += f'"from": {names[who]}, "from_id": "{uid[who]}", '
                    if reply_to[j]:
                        line += f'"reply_to_message_id": {reply_to[j]}, '
                    if k == BOT:
                        text = _digest(sim, (t[j] + MSK) // DAY)
                        line += _body(text, [{"type": "plain", "text": text}])
                    else:
                        first = sim.first_name[who] if k == INTRO else ""
                        body = _text_json(k, variant[j], first, hostile)
                        addressee = _addressee(sim, ev, k, variant[j], reply_to[j], who)
                        if addressee >= 0:
                            body = _mention_json(sim.first_name[addressee], uid[addressee], body)
                        line += body
                    if starts[j + 1] > starts[j]:
                        line += (
                            f', "reactions": [{", ".join(reactions[starts[j] : starts[j + 1]])}]'
                        )
                    line += "}"
                lines.append(line)
            fh.write(("  " if lo == 0 else ",\n  ") + ",\n  ".join(lines))
        fh.write("\n ]\n}\n")
    return {title: int(ev["topic_ids"][i]) for i, title in enumerate(titles)}


def display_names(sim: Simulation) -> np.ndarray:
    """Everyone's display name as written; with ``hostile_strings`` some are hostile.

    The hostile names go to ordinary members spread evenly over the roster (staff, the bot and
    the first member keep theirs), so some of them post and react in any community size.
    """
    names = np.array(sim.name, dtype=object)
    if not getattr(sim.cfg, "hostile_strings", False):
        return names
    first, n = sim.n_staff + 2, names.size
    step = max(1, (n - first) // (len(HOSTILE_NAMES) + 1))
    for k, hostile in enumerate(HOSTILE_NAMES):
        i = first + (k + 1) * step
        if i < n:
            names[i] = hostile
    return names


def topic_titles(hostile: bool) -> tuple[str, ...]:
    """Forum topic titles in ``TOPICS`` order, with the hostile suffixes when asked."""
    if not hostile:
        return TOPICS
    return tuple(t + s for t, s in zip(TOPICS, HOSTILE_TOPIC_SUFFIXES, strict=True))


def _reactions_json(rx: dict, rows: slice, names: list[str], uid: np.ndarray) -> list[str]:
    """Serialised reaction entries ``rows`` (recent reactors: most recent first)."""
    dates = iso_times(rx["when"][rows], offset=MSK).tolist()
    who, valid = rx["who"][rows].tolist(), rx["valid"][rows].tolist()
    out = []
    counts, emoji = rx["count"][rows].tolist(), rx["emoji"][rows].tolist()
    for e, count in enumerate(counts):
        recent = ", ".join(
            f'{{"from": {names[p]}, "from_id": "{uid[p]}", "date": "{d}"}}'
            for p, ok, d in zip(who[e], valid[e], dates[e], strict=True)
            if ok
        )
        out.append(
            f'{{"type": "emoji", "count": {count}, "emoji": "{EMOJI[emoji[e]]}", '
            f'"recent": [{recent}]}}'
        )
    return out


def _digest(sim: Simulation, local_day: int) -> str:
    """The bot's digest text posted on Moscow day number ``local_day``."""
    i = local_day - sim.digest_day0
    msgs, joins = int(sim.digest_msgs[i]), int(sim.digest_joins[i])
    return DIGEST.format(msgs=msgs, joins=joins)


def _dumps(value: Any) -> str:
    """Compact JSON, non-ASCII kept as is (as Telegram Desktop writes it)."""
    return json.dumps(value, ensure_ascii=False)


def _addressee(sim: Simulation, ev: dict, kind: int, variant: int, reply_to: int, who: int) -> int:
    """The person a reply addresses by name (see the module docstring), or -1."""
    if kind not in (ANSWER, FOLLOWUP) or variant % 5 or not reply_to:
        return -1
    target = int(ev["author"][reply_to - 1])
    if target == who or sim.role[target] != "member":
        return -1
    return target


def _mention_json(first: str, user_id: str, body: str) -> str:
    """Prefix a serialised message body with a ``mention_name`` of ``first`` (``user_id``)."""
    doc = json.loads("{" + body + "}")
    mention = {"type": "mention_name", "text": first, "user_id": int(user_id.removeprefix("user"))}
    entities = [mention, {"type": "plain", "text": ", "}, *doc["text_entities"]]
    text = doc["text"] if isinstance(doc["text"], list) else [doc["text"]]
    parts = [mention, ", ", *text]
    return _body(parts, entities)


def _body(text: Any, entities: list[dict[str, str]]) -> str:
    """The serialised ``"text": ..., "text_entities": ...`` pair of a message."""
    return f'"text": {_dumps(text)}, "text_entities": {_dumps(entities)}'


@lru_cache(maxsize=16384)
def _text_json(kind: int, variant: int, first: str, hostile: bool = False) -> str:
    """``"text": ..., "text_entities": ...`` of a message, serialised; ``variant`` picks wording.

    With ``hostile``, thread openers whose ``variant % 7 == 0`` use a hostile text instead.
    """
    template = TEMPLATES[kind][variant % len(TEMPLATES[kind])]
    if hostile and kind == ROOT and variant % 7 == 0:
        template = HOSTILE_TEXTS[(variant // 7) % len(HOSTILE_TEXTS)]
    thing = THINGS[(variant // 16) % len(THINGS)]
    fill = {
        "thing": thing,
        "first": first,
        "slug": thing.lower().replace(" ", "-").replace("/", ""),
    }
    if isinstance(template, str):
        text = template.format(**fill)
        return _body(text, [{"type": "plain", "text": text}])
    parts: list[Any] = []
    entities = []
    for part in template:
        if isinstance(part, str):
            parts.append(part.format(**fill))
            entities.append({"type": "plain", "text": parts[-1]})
        else:
            entity = {"type": part[0], "text": part[1].format(**fill)}
            if len(part) > 2:
                entity["href"] = part[2]
            parts.append(entity)
            entities.append(entity)
    return _body(parts, entities)
