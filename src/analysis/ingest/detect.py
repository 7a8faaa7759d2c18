"""The export formats the workbench reads, how to recognise each, and how to call its adapter.

:data:`FORMATS` is the registry: one :class:`ExportFormat` per format, naming the adapter module
(imported lazily, so a format whose module is not installed costs nothing until it is used and
then fails with :class:`FormatUnavailableError`), the sub-folder it lives in inside a dataset
folder, and how its reader is called. :func:`detect_format` recognises a single export (file,
zip or folder); :func:`dataset_sources` lists the sources of a dataset folder
``data/raw/<name>/`` (layout in :mod:`analysis.ingest`).

How a single export is recognised (first match wins)
----------------------------------------------------
1. a ``.toml``/``.yaml``/``.yml`` file, or a folder holding ``mapping.toml`` (``.yaml``,
   ``.yml``) → ``generic``;
2. ``Posts.xml`` itself, or a folder holding it → ``stackexchange``;
3. a JSON file whose top-level object has ``chats``, or ``messages`` after ``id``/``type``, and no
   Discord ``guild``/``channel`` key (read with a streaming parser, ``ijson``, so a large export
   is not loaded; :func:`is_telegram_export`), or a folder holding such a ``result.json`` →
   ``telegram``;
4. each installed plugin adapter's own test, in the order ``discord`` (``is_discord_export``),
   ``slack`` (``is_slack_export``), ``vk`` (``is_vk_export``); a plugin whose module is missing
   is skipped, and a test that raises counts as "no".

A CSV or parquet file alone is not guessed: it needs a column mapping (``--map`` or a
``mapping.toml``, see :mod:`analysis.ingest.generic`).
"""

from __future__ import annotations

import importlib
import importlib.util
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType

import ijson

__all__ = [
    "FORMATS",
    "ExportFormat",
    "FormatUnavailableError",
    "UnknownFormatError",
    "dataset_sources",
    "detect_format",
    "format_module",
    "is_dataset_folder",
    "is_telegram_export",
    "source_inputs",
]


class UnknownFormatError(ValueError):
    """No known export format matches a path (the message lists what was tried)."""


class FormatUnavailableError(ValueError):
    """A format's adapter module is not installed in this version of the workbench."""


@dataclass(frozen=True)
class ExportFormat:
    """One export format.

    Attributes
    ----------
    name : str
        The ``--format`` value and the sub-folder name in a dataset folder.
    module : str
        The adapter module (imported only when needed).
    detector : str or None
        Name of the module's ``is_<format>_export(path) -> bool`` for plugin adapters (the
        built-in formats are recognised here, without importing the adapter).
    description : str
        What the user exports, in one line.
    """

    name: str
    module: str
    detector: str | None
    description: str


FORMATS: dict[str, ExportFormat] = {
    f.name: f
    for f in (
        ExportFormat(
            "telegram",
            "analysis.ingest.telegram",
            None,
            "Telegram Desktop JSON export (result.json, or a folder holding it)",
        ),
        ExportFormat(
            "discord",
            "analysis.ingest.discord",
            "is_discord_export",
            "Discord channel exports (DiscordChatExporter JSON)",
        ),
        ExportFormat(
            "slack", "analysis.ingest.slack", "is_slack_export", "Slack workspace export (zip)"
        ),
        ExportFormat("vk", "analysis.ingest.vk", "is_vk_export", "VK community export (JSON)"),
        ExportFormat(
            "stackexchange",
            "analysis.ingest.stackexchange",
            None,
            "Stack Exchange data dump folder (Posts.xml, Comments.xml, Users.xml)",
        ),
        ExportFormat(
            "generic",
            "analysis.ingest.generic",
            None,
            "any CSV/parquet dump with a column mapping (mapping.toml)",
        ),
    )
}
_PLUGINS = ("discord", "slack", "vk")
_MAX_JSON_EVENTS = 2_000_000
#: Top-level keys of other platforms' JSON exports that also have ``messages`` (Discord).
_OTHER_PLATFORM_KEYS = frozenset({"guild", "channel"})


def format_module(name: str) -> ModuleType:
    """The adapter module of format ``name``, imported now.

    Raises
    ------
    UnknownFormatError
        ``name`` is not a known format.
    FormatUnavailableError
        The adapter module is not installed.
    """
    if name not in FORMATS:
        raise UnknownFormatError(f"unknown format {name!r}; expected one of {sorted(FORMATS)}.")
    module = FORMATS[name].module
    try:
        return importlib.import_module(module)
    except ModuleNotFoundError as exc:
        if exc.name != module:  # the module exists but one of its imports is missing
            raise
        raise FormatUnavailableError(
            f"format {name!r} ({FORMATS[name].description}) needs the adapter module {module}, "
            f"which is not part of this installation yet; available formats: "
            f"{available_formats()}."
        ) from None


def available_formats() -> list[str]:
    """The formats whose adapter module can be imported."""
    out = []
    for name, fmt in FORMATS.items():
        try:
            found = importlib.util.find_spec(fmt.module) is not None
        except ModuleNotFoundError:
            found = False
        if found:
            out.append(name)
    return out


def is_telegram_export(path: str | os.PathLike) -> bool:
    """Whether ``path`` is a Telegram Desktop JSON export.

    True when the top-level object has ``chats`` (a full-account export) or ``messages`` after
    ``id`` or ``type`` (a chat export writes ``name, type, id, messages``), and no ``guild`` or
    ``channel`` key before it (a Discord export also has ``messages``). Streams the file
    (``ijson``) and stops at that key; invalid JSON is "no".
    """
    path = Path(path)
    if not path.is_file():
        return False
    keys: set[str] = set()
    try:
        with open(path, "rb") as fh:
            for n, (prefix, event, value) in enumerate(ijson.parse(fh)):
                if n == 0 and event != "start_map":
                    return False
                if prefix == "" and event == "map_key":
                    if value == "chats" or (value == "messages" and keys & {"id", "type"}):
                        return not keys & _OTHER_PLATFORM_KEYS
                    keys.add(value)
                if (prefix == "" and event == "end_map") or n > _MAX_JSON_EVENTS:
                    return False
    except (ijson.JSONError, UnicodeDecodeError, OSError):
        return False
    return False


def _plugin_detector(name: str) -> Callable[[Path], bool] | None:
    try:
        module = format_module(name)
    except FormatUnavailableError:
        return None
    return getattr(module, FORMATS[name].detector or "", None)


def _plugin_says(name: str, path: Path) -> bool:
    detector = _plugin_detector(name)
    if detector is None:
        return False
    try:
        return bool(detector(path))
    except Exception:  # a detector that cannot read the path has not recognised it
        return False


def detect_format(path: str | os.PathLike) -> str:
    """The format of one export (file, zip or folder); rules in the module docstring.

    Raises
    ------
    FileNotFoundError
        ``path`` does not exist.
    UnknownFormatError
        Nothing matched; the message says what was looked for.
    """
    from analysis.ingest.generic import MAPPING_FILES

    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"{path}: no such file or folder.")
    suffix = path.suffix.lower()
    if path.is_file():
        if suffix in (".toml", ".yaml", ".yml"):
            return "generic"
        if path.name.lower() == "posts.xml":
            return "stackexchange"
        if suffix == ".json" and is_telegram_export(path):
            return "telegram"
    else:
        if any((path / n).is_file() for n in MAPPING_FILES):
            return "generic"
        if (path / "Posts.xml").is_file():
            return "stackexchange"
        if is_telegram_export(path / "result.json"):
            return "telegram"
    for name in _PLUGINS:
        if _plugin_says(name, path):
            return name
    hint = ""
    if suffix in (".csv", ".parquet", ".tsv"):
        hint = (
            " A CSV or parquet file needs a column mapping: pass --map CANONICAL=COLUMN "
            "(with --platform) or write a mapping.toml (see analysis.ingest.generic)."
        )
    missing = [n for n in _PLUGINS if _plugin_detector(n) is None]
    unavailable = f" (not installed here: {', '.join(missing)})" if missing else ""
    raise UnknownFormatError(
        f"{path}: not a recognised export. Looked for: a mapping.toml (generic), Posts.xml "
        f"(Stack Exchange), a Telegram JSON with 'messages' or 'chats', and the Discord, Slack "
        f"and VK exports{unavailable}.{hint} Pass --format to name the format."
    )


def is_dataset_folder(path: str | os.PathLike) -> bool:
    """Whether ``path`` is a dataset folder: it has a sub-folder named after a format."""
    path = Path(path)
    return path.is_dir() and any((path / name).is_dir() for name in FORMATS)


def source_inputs(name: str, folder: Path) -> list[Path]:
    """What format ``name``'s reader gets for the sub-folder ``folder`` of a dataset folder.

    ``telegram``: ``*.json`` in the folder and every ``result.json`` below it; ``stackexchange``:
    the folder if it holds ``Posts.xml``, else each sub-folder that does (one site each);
    ``generic``: the folder's mapping file, else each sub-folder's; ``discord``: every ``*.json``
    and ``*.csv`` below the folder; ``vk``: every ``*.json`` below it; ``slack``: the folder if
    it is an export, else each ``*.zip`` and each sub-folder in it.
    """
    from analysis.ingest.generic import find_mapping

    if not folder.is_dir():
        return []
    if name == "telegram":
        found = {p.resolve() for p in folder.glob("*.json") if p.is_file()}
        found |= {p.resolve() for p in folder.rglob("result.json") if p.is_file()}
        return sorted(found)
    if name == "stackexchange":
        if (folder / "Posts.xml").is_file():
            return [folder]
        return sorted(p for p in folder.iterdir() if (p / "Posts.xml").is_file())
    if name == "generic":
        own = find_mapping(folder)
        if own is not None:
            return [own]
        subs = (find_mapping(p) for p in sorted(folder.iterdir()) if p.is_dir())
        return [m for m in subs if m is not None]
    if name == "discord":
        return sorted(p for p in folder.rglob("*") if p.suffix in (".json", ".csv"))
    if name == "vk":
        return sorted(p for p in folder.rglob("*.json") if p.is_file())
    if name == "slack":
        if _plugin_says("slack", folder):
            return [folder]
        return sorted(p for p in folder.iterdir() if p.suffix == ".zip" or p.is_dir())
    raise UnknownFormatError(f"unknown format {name!r}; expected one of {sorted(FORMATS)}.")


def dataset_sources(raw_dir: str | os.PathLike) -> dict[str, list[Path]]:
    """The sources of a dataset folder: ``{format: inputs}`` for each non-empty sub-folder."""
    raw_dir = Path(raw_dir)
    out = {}
    for name in FORMATS:
        inputs = source_inputs(name, raw_dir / name)
        if inputs:
            out[name] = inputs
    return out
