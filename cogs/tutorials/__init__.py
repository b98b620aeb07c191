"""Tutorials: ``/tutorial`` (schedule, move, cancel, attendance).

The extension entry point (``setup``); the cog is in ``cog.py``.
"""

from __future__ import annotations

from discord.ext import commands

from bot.discord_app import CohortBot
from cogs.tutorials.cog import Tutorials

__all__ = ["Tutorials", "setup"]


async def setup(bot: commands.Bot) -> None:
    assert isinstance(bot, CohortBot)
    await bot.add_cog(Tutorials(bot))
