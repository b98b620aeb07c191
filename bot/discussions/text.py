"""Text rules for discussion posts and for the bot's own long messages.

Word counting decides marks, so its rules are fixed here and shown to students on request
(``WORD_COUNT_RULES``). A word is a whitespace-separated token containing at least one letter or
digit, after removing what is not the student's own prose:

- fenced code blocks (```...```) are dropped: code is not discussion, and pasting a notebook cell
  must not meet a word minimum; inline code (`pandas.merge`) counts, as it sits in a sentence;
- block quotes ("> ..." lines, and everything after ">>> ") are dropped: quoted words are someone
  else's;
- bare and <bracketed> URLs count as nothing; a masked link ``[the paper](https://...)`` counts
  its visible text;
- Discord markup counts as nothing: user, role and channel mentions (<@123>, <@&123>, <#123>),
  custom emoji (<:name:id>), timestamps (<t:1700000000:R>), slash-command mentions, @everyone and
  @here; Unicode emoji and punctuation alone are not words;
- markdown markers (**, __, ~~, ||, #, list bullets and numbers) are not words; hyphenated words
  and contractions are one word; em and en dashes separate words; a run of CJK characters
  without spaces counts as one word (the programme is taught in English).

An unterminated ``` is not a code block (Discord shows it as literal text), so it is counted.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

__all__ = [
    "DISCORD_MESSAGE_LIMIT",
    "EMBED_LIMITS",
    "WORD_COUNT_RULES",
    "EmbedLimits",
    "EmbedText",
    "count_words",
    "embed_problems",
    "fit_embed",
    "neutralise_mentions",
    "split_for_discord",
    "truncate",
]

DISCORD_MESSAGE_LIMIT = 2000

WORD_COUNT_RULES = (
    "Words are counted in your own prose: code blocks, quoted text (> lines), links, mentions "
    "and emoji are not counted; inline code and the visible text of a link are."
)

_FENCED_CODE = re.compile(r"```.*?```", re.DOTALL)
_MASKED_LINK = re.compile(r"\[([^\]\n]*)\]\(\s*<?https?://[^)\s]*>?\s*\)")
_BRACKET_URL = re.compile(r"<https?://[^>\s]+>")
_BARE_URL = re.compile(r"https?://\S+")
_DISCORD_TOKEN = re.compile(
    r"<(?:@[!&]?\d+|#\d+|a?:\w+:\d+|t:-?\d+(?::[tTdDfFR])?|/[^:<>\n]+:\d+|id:\w+)>"
)
_EVERYONE_HERE = re.compile(r"@(?:everyone|here)\b")
_LIST_MARKER = re.compile(r"^\s*(?:[-*+]|\d+[.)])\s+", re.MULTILINE)
_LETTER_OR_DIGIT = re.compile(r"[^\W_]")  # what str.isalnum accepts, one character


def count_words(text: str) -> int:
    """Count the words a student wrote, by the rules in this module's docstring.

    It runs on every recorded message, so each removal step is skipped when the characters it
    needs are absent; a plain answer costs one ``str.split`` and a test per token.
    """
    if "```" in text:
        text = _FENCED_CODE.sub(" ", text)
    if ">" in text:
        text = _drop_quotes(text)
    if "](" in text:
        text = _MASKED_LINK.sub(r" \1 ", text)
    if "<" in text:
        text = _BRACKET_URL.sub(" ", text)
    if "://" in text:
        text = _BARE_URL.sub(" ", text)
    if "<" in text:
        text = _DISCORD_TOKEN.sub(" ", text)
    if "@" in text:
        text = _EVERYONE_HERE.sub(" ", text)
    if "." in text or ")" in text:
        # Only numbered markers matter: a bullet (-, *, +) holds no letter or digit anyway.
        if "\n" in text:
            text = _LIST_MARKER.sub(" ", text)
        else:  # one line: only its start can hold a marker, and anchored matching is cheap
            marker = _LIST_MARKER.match(text)
            if marker is not None:
                text = " " + text[marker.end() :]
    if "\u2013" in text or "\u2014" in text:
        text = text.replace("\u2013", " ").replace("\u2014", " ")
    words = 0
    for token in text.split():  # str.split and the regex \s agree on what is whitespace
        if token.isalnum() or _LETTER_OR_DIGIT.search(token):
            words += 1
    return words


def _drop_quotes(text: str) -> str:
    kept: list[str] = []
    for line in text.split("\n"):
        stripped = line.lstrip()
        if stripped == ">>>" or stripped.startswith(">>> "):
            break
        if stripped == ">" or stripped.startswith("> "):
            continue
        kept.append(line)
    return "\n".join(kept)


# --------------------------------------------------------------------------- splitting

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
