"""Checks every command's options pass before any command code runs, and a safe way to echo.

Discord lets a user send any unicode (NUL and other control characters included) up to 6,000
characters and integers up to ±9,007,199,254,740,991. The database cannot store NUL in text
(PostgreSQL refuses it) and its integer columns stop at 2**31 - 1, and Discord refuses a
message over 2,000 characters: so these limits are checked once, for every command, on the
raw options of the interaction, and refusals echo user text through ``bot.errors.shown``.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Iterable, Iterator, Mapping
from typing import Any

from bot.errors import UserError, shown

#: Integer columns (ids, counts, hours) are 32-bit on PostgreSQL; SQLite is wider, but the
#: same input must get the same answer on both.
INT_MIN, INT_MAX = -(2**31), 2**31 - 1
#: Numbers (weights, marks, points) are stored as NUMERIC with a few digits; nothing a person
#: types in a mark or a weight is this large.
NUMBER_LIMIT = 1e9
#: Discord's limit on a message's content.
MESSAGE_LIMIT = 2000

STRING, INTEGER, NUMBER = 3, 4, 10
SUB_COMMAND, SUB_COMMAND_GROUP = 1, 2
#: Allowed in text although they are control characters: line breaks and tabs (form fields).
ALLOWED_CONTROLS = frozenset("\n\r\t")


def cap_message(text: str, limit: int = MESSAGE_LIMIT) -> str:
    """Text that fits in one Discord message (cut with an ellipsis when longer)."""
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _visible(ch: str) -> bool:
    category = unicodedata.category(ch)
    return not (category[0] in "CZ" or ch in "\u3164\u115f\u1160\uffa0\u180e\u034f")


def text_problem(name: str, value: str) -> str | None:
    """Why ``value`` cannot be stored as given, as one sentence (None when it can)."""
    bad = next(
        (
            ch
            for ch in value
            if unicodedata.category(ch) in ("Cc", "Cs") and ch not in ALLOWED_CONTROLS
        ),
        None,
    )
    if bad is not None:
        return (
            f"`{name}` contains a control character (U+{ord(bad):04X}), which cannot be "
            "stored: please retype it."
        )
    # Blank text is each command's own case (it says what the field is for); text of only
    # zero-width or filler characters would pass a command's strip() and look empty.
    if value.strip() and not any(_visible(ch) for ch in value):
        return f"`{name}` has no visible characters: please type something."
    return None


def require_length(value: str, limit: int, *, empty: str, what: str, why: str = "") -> str:
    """``value`` (already normalised) if it is neither empty nor over ``limit`` characters;
    otherwise ``empty``, or "<what> is N characters; the limit is L<why>.", as a refusal."""
    if not value:
        raise UserError(empty)
    if len(value) > limit:
        raise UserError(f"{what} is {len(value)} characters; the limit is {limit:,}{why}.")
    return value


def check_text(name: str, value: str) -> str:
    """``value`` if it can be stored; otherwise a refusal (form fields use this)."""
    problem = text_problem(name, value)
    if problem is not None:
        raise UserError(problem)
    return value


def option_problem(name: str, kind: int, value: Any) -> str | None:
    if kind == STRING and isinstance(value, str):
        return text_problem(name, value)
    if kind == INTEGER and isinstance(value, int | float | str):
        try:
            number = int(value)
        except ValueError:
            return f"`{name}` must be a whole number."
        if not INT_MIN <= number <= INT_MAX:
            return (
                f"`{name}` must be a whole number between {INT_MIN:,} and {INT_MAX:,}; "
                f"{shown(value, 24)} is out of range."
            )
    if kind == NUMBER and isinstance(value, int | float | str):
        try:
            real = float(value)
        except ValueError:
            return f"`{name}` must be a number."
        if not -NUMBER_LIMIT <= real <= NUMBER_LIMIT:
            return (
                f"`{name}` must be a number between {-NUMBER_LIMIT:,.0f} and {NUMBER_LIMIT:,.0f}."
            )
    return None


def _leaf_options(options: Iterable[Mapping[str, Any]]) -> Iterator[Mapping[str, Any]]:
    for option in options:
        if option.get("type") in (SUB_COMMAND, SUB_COMMAND_GROUP):
            yield from _leaf_options(option.get("options") or [])
        else:
            yield option


def options_problem(data: Mapping[str, Any] | None) -> str | None:
    """The first problem in a slash command's raw options (the interaction's ``data``)."""
    for option in _leaf_options((data or {}).get("options") or []):
        name, kind = str(option.get("name")), int(option.get("type", 0))
        problem = option_problem(name, kind, option.get("value"))
        if problem is not None:
            return problem
    return None
