"""Project teams: ``/teams`` (survey, form with a dry run, show, move, re-form, pairs, export)
and the availability form behind ``/calendar availability``.

The extension entry point (``setup``); the cog is in ``cog.py``, buttons, menus and forms in
``views.py``.
"""

from __future__ import annotations

from discord.ext import commands

from bot.discord_app import CohortBot
from cogs.teams.cog import Teams

__all__ = ["Teams", "setup"]


async def setup(bot: commands.Bot) -> None:
    assert isinstance(bot, CohortBot)
    await bot.add_cog(Teams(bot))
