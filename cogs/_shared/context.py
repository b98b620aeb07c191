"""The command context every cog command opens: the caller and cohort, roster-checked.

Cogs stay thin: parse the interaction, open the context (roster check), call one service,
render the result.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any, Concatenate, ParamSpec, TypeVar

import discord

from bot.access.context import CommandContext, open_context
from bot.access.permissions import Caller
from bot.db.models import Cohort
from bot.discord_app import CohortBot
from bot.discord_chat import chat_user

__all__ = ["as_caller", "command_context", "guild_key", "in_context"]


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


P = ParamSpec("P")
T = TypeVar("T")


async def in_context(
    bot: CohortBot,
    interaction: discord.Interaction,
    func: Callable[Concatenate[Any, Caller, Cohort, P], Awaitable[T]],
    /,
    *args: P.args,
    **kwargs: P.kwargs,
) -> T:
    """One cohort service call, ``func(session, caller, cohort, ...)``, in the command context
    (the session is typed ``Any`` here: cogs import nothing of SQLAlchemy)."""
    async with command_context(bot, interaction) as ctx:
        return await func(ctx.session, ctx.caller, ctx.cohort, *args, **kwargs)


async def as_caller(
    bot: CohortBot,
    interaction: discord.Interaction,
    func: Callable[Concatenate[Any, Caller, P], Awaitable[T]],
    /,
    *args: P.args,
    **kwargs: P.kwargs,
) -> T:
    """The same for a service call that needs no cohort, ``func(session, caller, ...)``."""
    async with command_context(bot, interaction) as ctx:
        return await func(ctx.session, ctx.caller, *args, **kwargs)
