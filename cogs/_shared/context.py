"""The command context every cog command opens: the caller and cohort, roster-checked.

Cogs stay thin: parse the interaction, open the context (roster check), call one service,
render the result.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import discord

from bot.access.context import CommandContext, open_context
from bot.discord_app import CohortBot
from bot.discord_chat import chat_user

__all__ = ["command_context", "guild_key"]


@asynccontextmanager
async def command_context(
    bot: CohortBot, interaction: discord.Interaction
) -> AsyncIterator[CommandContext]:
    await bot.until_linked(interaction.guild_id)
    async with open_context(bot.db, guild_key(interaction), chat_user(interaction.user)) as ctx:
        yield ctx


def guild_key(interaction: discord.Interaction) -> str | None:
    """The server a command came from, as the roster knows it (None in a DM)."""
    return str(interaction.guild_id) if interaction.guild_id is not None else None
