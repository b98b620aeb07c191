"""Chat text every feature sends: long messages split at Discord's limit (code fences kept
balanced, lines and words not broken), mentions neutralised, embeds fitted to Discord's limits.

Platform rules as numbers, no platform import: the Discord adapter and every feature's renderer
use the same splitting and limits.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

__all__ = [
    "DISCORD_MESSAGE_LIMIT",
    "EMBED_LIMITS",
    "MARKER_ROOM",
    "EmbedLimits",
    "EmbedText",
    "about_text",
    "embed_problems",
    "fit_embed",
    "neutralise_mentions",
    "split_for_discord",
    "truncate",
]

DISCORD_MESSAGE_LIMIT = 2000
#: Room a message the bot sends on its own leaves for its marker line (``bot.chat.with_marker``:
#: a line break, ``-# cohortbot `` and the marker), so the text as sent still fits the limit.
MARKER_ROOM = 48


def about_text(version: str) -> str:
    """``/about``'s answer on every platform."""
    return (
        f"cohortbot {version}: graded discussions, peer review, tutorials and deadlines for "
        "this cohort. Marks shown by the bot are provisional until released."
    )


_FENCE = "```"
_CLOSE_FENCE = "\n```"
_MIN_SPLIT_LIMIT = 40
_FENCE_LANG = re.compile(r"[\w+#.-]{1,20}")  # a language tag worth carrying over, e.g. python


def split_for_discord(text: str, limit: int = DISCORD_MESSAGE_LIMIT) -> list[str]:
    """Split text into messages of at most ``limit`` characters, keeping the reading intact.

    Cuts at the last paragraph break that fits, else the last line break, else the last space,
    else mid-word (only a single word longer than ``limit`` forces that). A code block cut in two
    is closed at the end of one message and reopened (same language) at the start of the next,
    so both halves still render as code. Whitespace at a cut is dropped; nothing else is.
    Returns no messages for blank text.
    """
    if limit < _MIN_SPLIT_LIMIT:
        raise ValueError(f"limit must be at least {_MIN_SPLIT_LIMIT} characters, got {limit}")
    chunks: list[str] = []
    rest = text.strip()
    while rest:
        if len(rest) <= limit:
            chunks.append(rest)
            break
        budget = limit - len(_CLOSE_FENCE) if _FENCE in rest[:limit] else limit
        cut = _cut_point(rest, budget, _fence_line_end(rest))
        head = rest[:cut].rstrip() or rest[:cut]
        tail = rest[cut:].lstrip(" \n")
        opening = _open_fence(head)
        if opening is not None:
            head += _CLOSE_FENCE
            tail = opening + "\n" + tail
        chunks.append(head)
        rest = tail
    return chunks


def _cut_point(text: str, budget: int, after: int) -> int:
    """Where to cut: the last separator within budget that leaves real content before it.

    ``after`` keeps a reopened fence line (```lang) from being cut off on its own, which would
    otherwise loop forever on a long code line.
    """
    for separator in ("\n\n", "\n", " "):
        # A separator right at the budget still leaves a full chunk before it.
        at = text.rfind(separator, after + 1, budget + 1)
        if at > after and text[:at].strip():
            return at
    return budget


def _fence_line_end(text: str) -> int:
    """Index of the newline ending a leading fence line (```lang), or 0 if none leads."""
    if not text.startswith(_FENCE):
        return 0
    end = text.find("\n")
    return end if end != -1 else 0


def _open_fence(chunk: str) -> str | None:
    """The fence line to reopen with if ``chunk`` ends inside a code block, else None."""
    opening: str | None = None
    position = 0
    while (at := chunk.find(_FENCE, position)) != -1:
        if opening is None:
            line_end = chunk.find("\n", at)
            lang = chunk[at + 3 : line_end] if line_end != -1 else ""
            if not _FENCE_LANG.fullmatch(lang):
                lang = ""
            opening = _FENCE + lang
        else:
            opening = None
        position = at + len(_FENCE)
    return opening


# --------------------------------------------------------------------------- mentions

_ZWSP = "\u200b"
_EVERYONE_HERE_ANY = re.compile(r"@(everyone|here)")
_ROLE_MENTION = re.compile(r"<@&(\d+)>")
_USER_MENTION = re.compile(r"<@(!?\d+)>")


def neutralise_mentions(text: str, *, users: bool = False) -> str:
    """Make echoed user text unable to ping, even if a send forgets ``allowed_mentions``.

    ``allowed_mentions=none`` is the real defence; this is the second one. A zero-width space
    after the ``@`` breaks @everyone, @here and role mentions while leaving them readable. User
    mentions are kept by default (they render as names, and cannot ping under allowed_mentions
    none); pass ``users=True`` to break them as well.
    """
    text = _EVERYONE_HERE_ANY.sub("@" + _ZWSP + r"\1", text)
    text = _ROLE_MENTION.sub("<@" + _ZWSP + r"&\1>", text)
    if users:
        text = _USER_MENTION.sub("<@" + _ZWSP + r"\1>", text)
    return text


# --------------------------------------------------------------------------- embeds


@dataclass(frozen=True, slots=True)
class EmbedLimits:
    """Discord's documented embed limits, in characters."""

    title: int = 256
    description: int = 4096
    fields: int = 25
    field_name: int = 256
    field_value: int = 1024
    footer: int = 2048
    author: int = 256
    total: int = 6000


EMBED_LIMITS = EmbedLimits()
_ELLIPSIS = "…"


@dataclass(frozen=True, slots=True)
class EmbedText:
    """The text parts of an embed, so they can be checked and fitted before building one."""

    title: str = ""
    description: str = ""
    fields: tuple[tuple[str, str], ...] = ()
    footer: str = ""
    author: str = ""

    @property
    def total(self) -> int:
        """Characters counted toward Discord's 6000-character embed total."""
        return (
            len(self.title)
            + len(self.description)
            + sum(len(name) + len(value) for name, value in self.fields)
            + len(self.footer)
            + len(self.author)
        )


def embed_problems(embed: EmbedText, limits: EmbedLimits = EMBED_LIMITS) -> list[str]:
    """Every limit the embed breaks, one sentence each; empty when Discord would accept it."""
    problems: list[str] = []
    for part, text, limit in (
        ("title", embed.title, limits.title),
        ("description", embed.description, limits.description),
        ("footer", embed.footer, limits.footer),
        ("author name", embed.author, limits.author),
    ):
        if len(text) > limit:
            problems.append(f"The {part} is {len(text)} characters; the limit is {limit}.")
    if len(embed.fields) > limits.fields:
        problems.append(f"The embed has {len(embed.fields)} fields; the limit is {limits.fields}.")
    for number, (name, value) in enumerate(embed.fields, start=1):
        if not name.strip() or not value.strip():
            problems.append(f"Field {number} needs both a name and a value.")
        if len(name) > limits.field_name:
            problems.append(
                f"Field {number}'s name is {len(name)} characters; the limit is "
                f"{limits.field_name}."
            )
        if len(value) > limits.field_value:
            problems.append(
                f"Field {number}'s value is {len(value)} characters; the limit is "
                f"{limits.field_value}."
            )
    if embed.total > limits.total:
        problems.append(f"The embed has {embed.total} characters; the limit is {limits.total}.")
    return problems


def truncate(text: str, limit: int, ellipsis: str = _ELLIPSIS) -> str:
    """Shorten to at most ``limit`` characters, ending in an ellipsis when something was cut."""
    if limit < 0:
        raise ValueError("limit must not be negative")
    if len(text) <= limit:
        return text
    if limit <= len(ellipsis):
        return text[:limit]
    return text[: limit - len(ellipsis)].rstrip() + ellipsis


def fit_embed(embed: EmbedText, limits: EmbedLimits = EMBED_LIMITS) -> EmbedText:
    """Truncate an embed's parts until Discord would accept it, cutting the least vital first.

    Each part is first cut to its own limit (fields beyond the 25th are dropped; an empty field
    name or value becomes a dash). If the total is still over, text is cut in this order until it
    fits: the description, field values from the last field backwards, the footer, field names
    from the last backwards, the author, and the title last: it says what the embed is.
    """
    title = truncate(embed.title, limits.title)
    description = truncate(embed.description, limits.description)
    footer = truncate(embed.footer, limits.footer)
    author = truncate(embed.author, limits.author)
    names = [truncate(n, limits.field_name) if n.strip() else "-" for n, _ in embed.fields]
    values = [truncate(v, limits.field_value) if v.strip() else "-" for _, v in embed.fields]
    del names[limits.fields :], values[limits.fields :]

    def excess() -> int:
        parts = (title, description, footer, author, *names, *values)
        return sum(len(part) for part in parts) - limits.total

    description = _shrink(description, excess())
    for index in reversed(range(len(values))):
        values[index] = _shrink(values[index], excess(), floor=1)
    footer = _shrink(footer, excess())
    for index in reversed(range(len(names))):
        names[index] = _shrink(names[index], excess(), floor=1)
    author = _shrink(author, excess())
    title = _shrink(title, excess(), floor=1)
    return EmbedText(
        title=title,
        description=description,
        fields=tuple(zip(names, values, strict=True)),
        footer=footer,
        author=author,
    )


def _shrink(text: str, excess: int, floor: int = 0) -> str:
    """Cut ``text`` by at least ``excess`` characters, keeping ``floor`` characters at least."""
    if excess <= 0:
        return text
    return truncate(text, max(floor, len(text) - excess))
