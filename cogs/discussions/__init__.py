"""Discussions: ``/prompt``, the Answer button and forms, and thread recording.

The extension entry point (``setup``); the cog is in ``cog.py``.
"""

from __future__ import annotations

from discord.ext import commands

from bot.discord_app import CohortBot
from cogs.discussions.cog import Discussions

__all__ = ["Discussions", "setup"]


async def setup(bot: commands.Bot) -> None:
    assert isinstance(bot, CohortBot)
    await bot.add_cog(Discussions(bot))
