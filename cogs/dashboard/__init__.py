"""Dashboard: ``/dashboard`` sends the caller a single-use sign-in link by DM.

The extension entry point (``setup``); the cog is in ``cog.py``.
"""

from __future__ import annotations

from discord.ext import commands

from bot.discord_app import CohortBot
from cogs.dashboard.cog import Dashboard

__all__ = ["Dashboard", "setup"]


async def setup(bot: commands.Bot) -> None:
    assert isinstance(bot, CohortBot)
    await bot.add_cog(Dashboard(bot))
