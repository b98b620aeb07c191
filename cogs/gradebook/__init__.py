"""Gradebook: ``/marks``, ``/gradebook`` and ``/privacy``.

The extension entry point (``setup``); the cog is in ``cog.py``.
"""

from __future__ import annotations

from discord.ext import commands

from bot.discord_app import CohortBot
from cogs.gradebook.cog import Gradebook

__all__ = ["Gradebook", "setup"]


async def setup(bot: commands.Bot) -> None:
    assert isinstance(bot, CohortBot)
    await bot.add_cog(Gradebook(bot))
