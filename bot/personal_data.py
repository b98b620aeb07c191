"""What every feature's part of the personal-data export reads with (``bot.gradebook.privacy``
assembles the export; the dashboard and teams add their own parts).

Each part gives times as ISO text (or null) and reads its rows the same way, so one export
reads alike whichever feature a part comes from.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

__all__ = ["iso", "rows"]


def iso(value: datetime | None) -> str | None:
    """A moment as the export shows it: ISO text, or null when there is none."""
    return None if value is None else value.isoformat()


async def rows(session: AsyncSession, stmt: Any) -> Sequence[Any]:
    """Every row a select gives, as tuples."""
    return (await session.execute(stmt)).all()
