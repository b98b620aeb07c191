"""Calendar: the notice dispatcher, RSVP/check-in/extension buttons and ``/calendar``.

The extension entry point (``setup``); the cog is in ``cog.py``.
"""

from __future__ import annotations

from discord.ext import commands

from bot.discord_app import CohortBot
from cogs.calendar.cog import CalendarCog

__all__ = ["CalendarCog", "setup"]


async def setup(bot: commands.Bot) -> None:
    assert isinstance(bot, CohortBot)
    await bot.add_cog(CalendarCog(bot))
