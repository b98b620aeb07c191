"""The one reply shape of a granted extension, whichever command granted it.

``/deadline extend``, ``/deadline decide`` (approve), ``/prompt extend`` and ``/exercise extend``
all answer the tutor in this shape, then add whether the student was told.
"""

from __future__ import annotations

from datetime import datetime

from bot.timeparse import discord_timestamp


def granted(
    *,
    extension_id: int,
    student: str,
    item: str,
    module_code: str,
    until: datetime,
    was: datetime,
    follows: str,
) -> str:
    """``Extension #12: Ada now has until <t> for **Essay** (M1) instead of <t>. <follows>``

    ``item`` names the item as its feature does (``**Essay**``, ``prompt #3 **Week 3**``);
    ``follows`` says what the new time changes for them, in one sentence.
    """
    return (
        f"Extension #{extension_id}: {student} now has until {discord_timestamp(until)} for "
        f"{item} ({module_code}) instead of {discord_timestamp(was)}. {follows}"
    )
