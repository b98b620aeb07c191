"""How the gradebook answers: exports as attachments, the student view as embeds."""

from __future__ import annotations

import io

import discord

from bot.gradebook.export import ExportFile
from bot.gradebook.reader import RenderedView
from bot.text import EMBED_LIMITS
from cogs._shared.replies import send_long, send_private

__all__ = ["send_embeds", "send_export"]


async def send_export(interaction: discord.Interaction, text: str, file: ExportFile) -> None:
    """A private answer of any length with the file on its last message."""
    attachment = discord.File(io.BytesIO(file.data), filename=file.filename)
    await send_long(interaction, text, file=attachment)


async def send_embeds(interaction: discord.Interaction, view: RenderedView) -> None:
    """A long private answer as embeds: one message up to 6,000 characters (the student view
    for a whole module fits), more messages only beyond that."""
    title, chunks = view.title, view.parts or ("(nothing)",)
    messages: list[list[discord.Embed]] = [[]]
    used = len(title)
    for index, chunk in enumerate(chunks):
        if messages[-1] and (used + len(chunk) > EMBED_LIMITS.total or len(messages[-1]) == 10):
            messages.append([])
            used = 0
        embed = discord.Embed(title=title if index == 0 else None, description=chunk)
        messages[-1].append(embed)
        used += len(chunk)
    for embeds in messages:
        await send_private(interaction, embeds=embeds)
