"""What people are called and what they write: user ids, display names, message wording, emoji.

Templates
---------
``TEMPLATES[kind]`` lists the wordings of one message kind (:mod:`analysis.synth.kinds`). A
wording is a plain string or a tuple of parts; a part is plain text or an entity
``(type, text)`` / ``(type, text, href)`` as in Telegram's ``text_entities``. Placeholders:
``{first}`` the author's first name (introductions), ``{thing}`` a topic of conversation from
``THINGS`` and ``{slug}`` that topic as a URL path. A message's random ``variant`` picks the
wording and the topic (see :mod:`analysis.synth.telegram_writer`).
"""

from __future__ import annotations

import numpy as np

from analysis.synth.kinds import ANSWER, FOLLOWUP, INTRO, ROOT, STAFF_ANSWER, THANKS

__all__ = [
    "BOT_NAME",
    "DIGEST",
    "EMOJI",
    "EMOJI_P",
    "HOSTILE_COMMUNITY_SUFFIX",
    "HOSTILE_NAMES",
    "HOSTILE_TEXTS",
    "HOSTILE_TOPIC_SUFFIXES",
    "TEMPLATES",
    "THINGS",
    "draw_names",
    "draw_user_ids",
]

BOT_NAME = "Club Digest Bot"
#: The bot's daily digest; ``msgs`` and ``joins`` count the previous Moscow day.
DIGEST = (
    "☀️ Доброе утро! За вчера: {msgs} сообщений, {joins} новых участников. "
    "Welcome to everyone who joined! 👋"
)
#: Reaction emoji and the probability of each as a message's first reaction.
EMOJI = ("👍", "❤", "🔥", "😁", "🙏", "👏", "🤔", "🎉")
EMOJI_P = np.array([0.35, 0.15, 0.15, 0.1, 0.08, 0.08, 0.05, 0.04])


# ---- people's ids and names ---------------------------------------------------------------------
def draw_user_ids(rng, n: int) -> np.ndarray:
    """``n`` distinct Telegram-style ids ``user<9-10 digits>`` (object array of str)."""
    values = np.empty(0, np.int64)
    while values.size < n:
        draw = np.concatenate([values, rng.integers(100_000_000, 7_999_999_999, n - values.size)])
        _, first = np.unique(draw, return_index=True)
        values = draw[np.sort(first)]
    return np.char.add("user", values.astype(str)).astype(object)


_RU_M = "Александр Дмитрий Максим Сергей Андрей Алексей Иван Михаил Никита Егор Артём Павел"
_RU_F = "Анна Мария Елена Ольга Наталья Екатерина Татьяна Юлия Дарья Алина Ксения Полина Софья"
_RU_LAST = "Иванов Смирнов Кузнецов Попов Васильев Петров Соколов Михайлов Новиков Фёдоров Морозов"
_RU_LAST += " Волков Лебедев Козлов Егоров Орлов Зайцев Белов"
_EN_M = "Alex Dmitry Max Sergey Ivan Nikita Mike John Daniel Artem Kirill Tim"
_EN_F = "Kate Maria Anna Olga Julia Daria Alina Sarah Emily Nastya Lena Sofia"
_EN_LAST = "Ivanov Petrov Smirnov Volkov Orlov Sokolov Kim Smith Lee Brown Novak Popov"


def draw_names(rng, n: int) -> tuple[np.ndarray, np.ndarray]:
    """Display names and first names of ``n`` people (Russian and English, both genders)."""
    lists = [(s.split(), t.split()) for s, t in ((_RU_M, _RU_LAST), (_RU_F, _RU_LAST))]
    lists += [(s.split(), _EN_LAST.split()) for s in (_EN_M, _EN_F)]
    kind = rng.choice(4, size=n, p=[0.33, 0.32, 0.18, 0.17])
    u_first, u_last, style = rng.random(n), rng.random(n), rng.random(n)
    names, firsts = np.empty(n, dtype=object), np.empty(n, dtype=object)
    for i in range(n):
        first_names, last_names = lists[kind[i]]
        first = first_names[int(u_first[i] * len(first_names))]
        last = last_names[int(u_last[i] * len(last_names))]
        if kind[i] % 2 and last[-1] in "вн":
            last += "а"  # Смирнова, Ivanova
        elif kind[i] % 2 and last.endswith(("ov", "ev", "in")):
            last += "a"
        firsts[i] = first
        names[i] = f"{first} {last}" if style[i] >= 0.3 else f"{first} {last[0]}."
        if style[i] < 0.2:
            names[i] = first
    return names, firsts


# ---- what they write ---------------------------------------------------------------------------
#: Topics of conversation filled into ``{thing}``.
THINGS = ("pandas", "SQL", "A/B-тесты", "дашборды", "Airflow", "ClickHouse", "dbt", "Docker")
THINGS += ("retention", "Jupyter", "feature store", "юнит-экономика", "ML-пайплайны", "Power BI")
_B, _L, _M = "bold", "link", "mention"
TEMPLATES: dict[int, tuple] = {
    INTRO: (
        "Всем привет! Я {first}, занимаюсь аналитикой, интересна тема «{thing}» 👋",
        "Hi everyone! New here, mostly interested in {thing} 🙂",
        ("Привет! Меня зовут ", (_B, "{first}"), ". Подскажите, с чего начать?"),
        "Добрый день! Пришёл по совету друга, хочу разобраться с темой «{thing}»",
    ),
    ROOT: (
        "Подскажите по теме «{thing}»: с чего лучше начать?",
        "How do you handle {thing} in production?",
        ("Вопрос по теме ", (_B, "{thing}"), ": у кого-нибудь получалось? 🤔"),
        "Кто-нибудь сталкивался с такой ошибкой? Тема «{thing}», второй день мучаюсь 😅",
        "Is there a good guide for {thing}? Thanks in advance 🙏",
        "Сделал небольшой проект на тему «{thing}», буду рад фидбеку 🚀",
        ("Check ", (_B, "this"), " out: ", (_L, "https://github.com/example/{slug}")),
        "Кто идёт на митап в субботу? Можно собраться вместе 🙌",
        ("Завтра стрим: ", (_B, "{thing}"), ", подключайтесь! ", (_M, "@dac_events")),
        "Кто чем занимается на выходных? Делитесь планами 😄",
        "Anyone else working from a café today? ☕",
    ),
    STAFF_ANSWER: (
        "Привет! Это поддержка. Напишите, пожалуйста, версию и шаги — разберёмся 🙌",
        ("Hi! Please see our ", ("text_link", "FAQ", "https://docs.example.com/faq"), " first"),
        "Спасибо за вопрос! Передали команде, вернёмся с ответом сегодня",
        (
            "Добро пожаловать! Правила и полезные ссылки в закрепе, ",
            (_M, "@dac_support"),
            " на связи",
        ),
    ),
    ANSWER: (
        "Попробуй обновить до последней версии, у меня помогло",
        ("У нас был гайд: ", (_L, "https://docs.example.com/{slug}")),
        "Great question! I usually start with the docs, then ask here 👍",
        "Да, было такое. Нужно поменять настройки в конфиге",
        "Добро пожаловать! 🙂 Посмотри закреплённое сообщение, там всё есть",
    ),
    FOLLOWUP: (
        "+1, тоже интересно",
        "А если посмотреть в сторону «{thing}»?",
        "Agree 💯",
        ("Вот тут подробнее: ", (_L, "https://example.com/{slug}")),
        "Не совсем так, лучше сначала проверить логи",
        "Same here, following 👀",
    ),
    THANKS: (
        "Спасибо, помогло! 🙏",
        "Thanks, that worked!",
        ("Спасибо ", (_B, "огромное"), "! Разобрался 🙂"),
    ),
}


# ---- hostile user text (SynthConfig.hostile_strings) -------------------------------------------
#: Display names given to a few ordinary members when ``hostile_strings`` is on: markup that
#: would run script if unescaped, a ``javascript:`` URL, right-to-left overrides (U+202E,
#: U+202C, U+2067) that reverse the text after them, template syntax and a 10,000-character name.
#: Every one must appear in HTML as inert text.
HOSTILE_NAMES = (
    '<script>document.title="pwned-name"</script>',
    "<img src=x onerror=\"document.title='pwned-img'\">",
    "<a href=\"javascript:document.title='pwned-link'\">Click me</a>",
    "javascript:document.title='pwned-url'",
    "Анна \u202eгнилос\u202c Petrova",
    '"><svg onload="document.title=\'pwned-svg\'"></svg>',
    "\u2067Admin\u2069 {{7*7}} ${7*7} <!--",
    "Долгое Имя " + "Ж" * 10_000,
)
#: Appended to the community's name (the title block of every report shows it).
HOSTILE_COMMUNITY_SUFFIX = ' <script>document.title="pwned-community"</script> \u202eabc\u202c'
#: Appended to the forum topic titles, in ``TOPICS`` order (channel names in tables and plots).
#: No ``$`` (matplotlib would read it as mathtext) and no bidi controls (fonts lack the glyphs).
HOSTILE_TOPIC_SUFFIXES = (
    ' <script>document.title="pwned-topic"</script>',
    " <img src=x onerror=\"document.title='pwned-topic-img'\">",
    ' <a href="javascript:document.title=1">link</a>',
    " </td></tr></table><b>broken</b>",
)
#: Thread openers written instead of the usual wording for some roots (variant % 7 == 0).
HOSTILE_TEXTS = (
    '<script>document.title="pwned-text"</script> Is this escaped?',
    (
        "See ",
        ("text_link", "this guide", "javascript:document.title='pwned-href'"),
        " <img src=x onerror=\"document.title='pwned-text-img'\">",
    ),
    '\u202eReversed text\u202c and <iframe src="https://example.com"></iframe>',
)
