"""Private answers: any length, in as many messages as it takes; one text for "we failed".

Every cog answers through here so a long answer is split the same way everywhere (at paragraph
breaks, ``bot.text.split_for_discord``) and nobody is pinged by an echo.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import discord

from bot.discord_app import GENERIC_FAILURE, NO_PINGS, send_ephemeral
from bot.text import split_for_discord

__all__ = [
    "GENERIC_FAILURE",
    "NO_PINGS",
    "defer_private",
    "reply_private",
    "send_long",
    "send_parts",
    "send_private",
]


async def reply_private(interaction: discord.Interaction, text: str) -> None:
    """One private message (capped at Discord's length), answered or followed up."""
    await send_ephemeral(interaction, text)


async def send_private(interaction: discord.Interaction, **message: Any) -> None:
    """One private message: the response if the interaction is not answered yet, else a
    follow-up (after a defer, or after the first part of a long answer)."""
    if interaction.response.is_done():
        await interaction.followup.send(ephemeral=True, allowed_mentions=NO_PINGS, **message)
    else:
        await interaction.response.send_message(
            ephemeral=True, allowed_mentions=NO_PINGS, **message
        )


async def send_parts(
    interaction: discord.Interaction,
    parts: Sequence[str],
    *,
    file: discord.File | None = None,
) -> None:
    """Messages already cut to size; the file goes with the last."""
    chunks = list(parts) or ["(nothing)"]
    for index, chunk in enumerate(chunks):
        if file is not None and index == len(chunks) - 1:
            await send_private(interaction, content=chunk, file=file)
        else:
            await send_private(interaction, content=chunk)


async def send_long(
    interaction: discord.Interaction, text: str, *, file: discord.File | None = None
) -> None:
    """A private answer of any length: split at paragraph breaks into several messages."""
    await send_parts(interaction, split_for_discord(text), file=file)


async def defer_private(interaction: discord.Interaction) -> None:
    """Work that can take a few seconds: say "thinking" privately first (once)."""
    if not interaction.response.is_done():
        await interaction.response.defer(ephemeral=True, thinking=True)
