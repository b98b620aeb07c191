"""Peer assessment: ``/exercise``, ``/submit`` and the review forms.

The extension entry point (``setup``); the cog is in ``cog.py``.
"""

from __future__ import annotations

from discord.ext import commands

from bot.discord_app import CohortBot
from cogs.peer.cog import Peer

__all__ = ["Peer", "setup"]


async def setup(bot: commands.Bot) -> None:
    assert isinstance(bot, CohortBot)
    await bot.add_cog(Peer(bot))
