"""One parser for every slash command's text: ``create module:MATH70097 title:"Week 1"``.

Slack hands a command its words as one string. Each command declares its options
(``Option``) once; this module turns the text into typed values or one sentence naming the
field that is wrong, and lists the required fields still missing (the adapter then asks for
them in a modal instead of refusing).
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

Kind = Literal["text", "integer", "boolean", "user"]

#: Slack clients often turn typed quotes into typographic ones.
_QUOTES = str.maketrans({"“": '"', "”": '"', "„": '"', "‘": "'", "’": "'"})
#: A member as Slack writes a mention in an escaped command (``<@U123|alice>``), or typed.
_MENTION = re.compile(r"<@([UW][A-Z0-9]+)(?:\|[^>]*)?>")
_TRUE = {"true", "yes", "y", "on", "1"}
_FALSE = {"false", "no", "n", "off", "0"}


class ParseError(ValueError):
    """One sentence for the user; nothing was done. ``field``: the option it is about, if one
    (a modal shows the sentence under that field)."""

    def __init__(self, sentence: str, field: str | None = None) -> None:
        super().__init__(sentence)
        self.field = field


@dataclass(frozen=True)
class Option:
    name: str
    description: str = ""
    required: bool = False
    kind: Kind = "text"
    #: Shown as a multi-line box when the modal asks for it.
    long: bool = False
    #: The only values accepted (Discord's choices), compared in lower case.
    choices: tuple[str, ...] = ()


@dataclass(frozen=True)
class Parsed:
    """What the text said: the subcommand, the values given, the required ones missing."""

    path: tuple[str, ...]
    values: dict[str, Any]
    missing: tuple[str, ...] = ()


@dataclass(frozen=True)
class Shape:
    """A command's options, as the parser needs them (``slackapp.commands.table`` holds the
    handlers)."""

    path: tuple[str, ...]
    options: tuple[Option, ...] = field(default_factory=tuple)

    @property
    def usage(self) -> str:
        parts = [f"/{' '.join(self.path)}"]
        for o in self.options:
            parts.append(f"{o.name}:…" if o.required else f"[{o.name}:…]")
        return " ".join(parts)


def tokens(text: str) -> list[str]:
    """Words, with quoted values kept whole (``title:"Week 1: bias"`` is one token)."""
    try:
        return shlex.split(text.translate(_QUOTES), posix=True)
    except ValueError:
        raise ParseError(
            'A quote is not closed: put a value with spaces in "double quotes".'
        ) from None


def convert(option: Option, raw: str) -> Any:
    """A value of the option's kind, or a sentence naming the option. A ``user`` is a member
    id (from a mention) or what was typed (a handle or an e-mail), resolved by the adapter."""
    if option.kind == "user":
        mention = _MENTION.fullmatch(raw.strip())
        return mention.group(1) if mention else raw.strip().lstrip("@")
    raw = unescape(raw)
    if option.choices:
        word = raw.strip().lower()
        if word not in option.choices:
            raise ParseError(
                f"`{option.name}` must be one of {', '.join(option.choices)}, not `{raw}`.",
                option.name,
            )
        return word
    if option.kind == "integer":
        try:
            return int(raw)
        except ValueError:
            raise ParseError(
                f"`{option.name}` must be a whole number, not `{raw}`.", option.name
            ) from None
    if option.kind == "boolean":
        word = raw.strip().lower()
        if word in _TRUE:
            return True
        if word in _FALSE:
            return False
        raise ParseError(f"`{option.name}` must be true or false, not `{raw}`.", option.name)
    return raw


def unescape(text: str) -> str:
    """Slack sends command text with ``&``, ``<`` and ``>`` as entities."""
    return text.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")


def parse(command: str, text: str, shapes: Mapping[tuple[str, ...], Shape]) -> Parsed:
    """``/command text`` against the declared shapes: a subcommand word first when the
    command has subcommands, then ``name:value`` options in any order."""
    words = tokens(text)
    root = command.lstrip("/").lower()
    subs = sorted(path[1] for path in shapes if len(path) == 2 and path[0] == root)
    path: tuple[str, ...] = (root,)
    if subs:
        if not words or ":" in words[0]:
            raise ParseError(f"Say what to do: /{root} {' | '.join(subs)}.")
        sub = words.pop(0).lower()
        if sub not in subs:
            raise ParseError(f"/{root} has no `{sub}`; try one of: {', '.join(subs)}.")
        path = (root, sub)
    shape = shapes.get(path)
    if shape is None:
        raise ParseError(f"/{root} is not a command here.")
    return Parsed(path, *_options(shape, words))


def _options(shape: Shape, words: Sequence[str]) -> tuple[dict[str, Any], tuple[str, ...]]:
    by_name = {o.name: o for o in shape.options}
    values: dict[str, Any] = {}
    for word in words:
        name, colon, raw = word.partition(":")
        name = name.strip().lower().replace("-", "_")
        if not colon:
            raise ParseError(f"`{word}` is not an option: write name:value, e.g. {shape.usage}.")
        option = by_name.get(name)
        if option is None:
            known = ", ".join(by_name) or "none"
            raise ParseError(f"/{' '.join(shape.path)} has no option `{name}` (options: {known}).")
        if name in values:
            raise ParseError(f"`{name}` is given twice.")
        if not raw.strip():
            raise ParseError(f"`{name}` is empty: write {name}:value.")
        values[name] = convert(option, raw.strip())
    missing = tuple(o.name for o in shape.options if o.required and o.name not in values)
    return values, missing


def merge(
    shape: Shape, given: Mapping[str, Any], typed: Mapping[str, str | None]
) -> dict[str, Any]:
    """The values from the text plus those typed into the modal (converted the same way)."""
    by_name = {o.name: o for o in shape.options}
    values = dict(given)
    for name, raw in typed.items():
        if name in by_name and raw is not None and str(raw).strip():
            values[name] = convert(by_name[name], str(raw).strip())
    missing = [o.name for o in shape.options if o.required and o.name not in values]
    if missing:
        raise ParseError(f"`{missing[0]}` is required.", missing[0])
    return values
