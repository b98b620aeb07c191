"""Deadlines: ``/deadline`` (assessment items, extensions, feedback release).

The extension entry point (``setup``); the cog is in ``cog.py``.
"""

from __future__ import annotations

from discord.ext import commands

from bot.discord_app import CohortBot
from cogs.deadlines.cog import Deadlines

__all__ = ["Deadlines", "setup"]


async def setup(bot: commands.Bot) -> None:
    assert isinstance(bot, CohortBot)
    await bot.add_cog(Deadlines(bot))
