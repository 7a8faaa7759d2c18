"""The internal kinds of message, in an order the other modules rely on.

Service kinds (``JOIN``, ``TOPIC``) come before ``INTRO``: ``kind >= INTRO`` is a regular message
(Telegram ``type`` ``message``), ``kind < INTRO`` a service one. Thread roots are ``INTRO`` (a
member's first message) and ``ROOT``; replies are ``STAFF_ANSWER`` and ``ANSWER`` (the first
answer), ``FOLLOWUP`` and ``THANKS`` (a further reply by the root's author); ``BOT`` is the bot's
daily digest.
"""

__all__ = [
    "ANSWER",
    "BOT",
    "FOLLOWUP",
    "INTRO",
    "JOIN",
    "ROOT",
    "STAFF_ANSWER",
    "THANKS",
    "TOPIC",
]

JOIN, TOPIC, INTRO, ROOT, STAFF_ANSWER, ANSWER, FOLLOWUP, THANKS, BOT = range(9)
