"""What tutors and students type into calendar commands, checked: one-sentence refusals.

Shared by the tutorial, deadline and extension services (``bot.calendar.service``).
"""

from __future__ import annotations

import re
from datetime import date, timedelta

from bot.calendar import messages as M
from bot.errors import UserError, shown

_URL = re.compile(r"^https?://[^\s<>]+$")
_DATE = re.compile(r"^\s*(\d{4})-(\d{1,2})-(\d{1,2})\s*$")


def _offsets_in_words(offsets: list[timedelta]) -> str:
    words = [M.in_words(o) for o in sorted(offsets, reverse=True)]
    return words[0] if len(words) == 1 else ", ".join(words[:-1]) + " and " + words[-1]


def _title(text: str) -> str:
    title = " ".join(text.split())
    if not title:
        raise UserError("Give a title, e.g. Week 3: kernels.")
    if len(title) > 200:
        raise UserError(f"The title is {len(title)} characters long; keep it to 200.")
    return title


def _until(text: str) -> date:
    match = _DATE.match(text)
    if match is None:
        raise UserError(f"Could not read {shown(text)} as an end date; use e.g. 2026-03-31.")
    try:
        return date(int(match[1]), int(match[2]), int(match[3]))
    except ValueError:
        raise UserError(f"{shown(text)} is not a real date; use e.g. 2026-03-31.") from None
