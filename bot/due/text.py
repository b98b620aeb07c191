"""The one reply shape of a granted extension, whichever command granted it.

``/deadline extend``, ``/deadline decide`` (approve), ``/prompt extend`` and ``/exercise extend``
all answer the tutor in this shape, then add whether the student was told.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from bot.timeparse import discord_timestamp


@dataclass(frozen=True)
class Extended:
    """What a command's result knows of a grant: the reply's facts, named once for all of them."""

    extension_id: int
    student: str
    module_code: str
    due_at: datetime
    was_at: datetime

    def granted_text(self, item: str, follows: str) -> str:
        """``Extension #12: Ada now has until <t> for **Essay** (M1) instead of <t>. <follows>``

        ``item`` names the item as its feature does (``**Essay**``, ``prompt #3 **Week 3**``);
        ``follows`` says what the new time changes for them, in one sentence.
        """
        return (
            f"Extension #{self.extension_id}: {self.student} now has until "
            f"{discord_timestamp(self.due_at)} for {item} ({self.module_code}) instead of "
            f"{discord_timestamp(self.was_at)}. {follows}"
        )
