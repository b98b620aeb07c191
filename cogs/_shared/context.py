"""What every cog shares: the command context and private replies.

Cogs stay thin: parse the interaction, open the context (roster check), call one service,
render the result.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import discord

from bot.access.context import CommandContext, open_context
from bot.discord_app import NO_PINGS, CohortBot, send_ephemeral
from bot.discord_chat import chat_user
from bot.input_checks import text_problem


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


async def reply_private(interaction: discord.Interaction, text: str) -> None:
    await send_ephemeral(interaction, text)


class CheckedModal(discord.ui.Modal):
    """A form whose typed text passes the same checks as command options (no NUL or other
    control characters, something visible) before ``on_submit`` runs."""

    async def interaction_check(self, interaction: discord.Interaction, /) -> bool:
        for item in self.children:
            if isinstance(item, discord.ui.TextInput):
                problem = text_problem(str(item.label), item.value)
                if problem is not None:
                    await send_ephemeral(interaction, problem)
                    return False
        return True


__all__ = ["NO_PINGS", "CheckedModal", "command_context", "guild_key", "reply_private"]
