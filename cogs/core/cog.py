"""Core commands every member can use: what the bot is and whether it is healthy."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence

import discord
from discord.ext import commands

from bot.access.identity import ChannelInfo, link_guild, link_members
from bot.discord_app import NO_PINGS, CohortBot
from bot.discord_chat import chat_user
from bot.text import about_text
from cogs._shared.declare import command

log = logging.getLogger(__name__)

#: How long start-up waits for a member list the gateway had not finished sending.
MEMBER_LIST_WAIT = 60.0


class Core(commands.Cog):
    def __init__(self, bot: CohortBot) -> None:
        self.bot = bot

    @commands.Cog.listener()
    async def on_guild_available(self, guild: discord.Guild) -> None:
        await self._link(guild)
        await self._link_everyone(guild)

    @commands.Cog.listener()
    async def on_guild_join(self, guild: discord.Guild) -> None:
        await self._link(guild)
        await self._link_everyone(guild)

    @commands.Cog.listener()
    async def on_guild_channel_create(self, channel: discord.abc.GuildChannel) -> None:
        """A module channel created (or renamed) after start-up is bound at once."""
        await self._link(channel.guild)

    @commands.Cog.listener()
    async def on_guild_channel_update(
        self, before: discord.abc.GuildChannel, after: discord.abc.GuildChannel
    ) -> None:
        if before.name != after.name:
            await self._link(after.guild)

    @commands.Cog.listener()
    async def on_member_join(self, member: discord.Member) -> None:
        await self._link_members([member])

    @commands.Cog.listener()
    async def on_member_update(self, before: discord.Member, after: discord.Member) -> None:
        await self._link_members([after])

    async def _link_everyone(self, guild: discord.Guild) -> None:
        """The member list the gateway gave at start-up (chunked first when it was not)."""
        if not guild.chunked:
            try:
                await asyncio.wait_for(guild.chunk(), timeout=MEMBER_LIST_WAIT)
            except (TimeoutError, discord.HTTPException, discord.ClientException) as exc:
                log.warning(
                    "server %s: member list incomplete (%r); linking what came", guild.id, exc
                )
        await self._link_members(guild.members)

    async def _link_members(self, members: Sequence[discord.Member]) -> None:
        """Roster people the bot can now see get their platform account linked."""
        users = [chat_user(m) for m in members if not m.bot]
        if not users:
            return
        try:
            async with self.bot.db.session() as session:
                linked = await link_members(session, users)
        except Exception:
            log.exception("linking %d member(s) to the roster failed", len(users))
            return
        if linked:
            log.info("linked %d roster member(s) to their Discord account", linked)

    async def _link(self, guild: discord.Guild) -> None:
        channels = [ChannelInfo(str(c.id), c.name) for c in guild.text_channels]
        roles = [ChannelInfo(str(r.id), r.name) for r in guild.roles]
        try:
            async with self.bot.db.session() as session:
                link = await link_guild(session, str(guild.id), channels, roles)
        finally:
            self.bot.mark_linked(guild.id)
        if link is None:
            log.warning("server %s (%s) is not linked to any cohort", guild.name, guild.id)
        elif link.unbound_modules:
            log.warning(
                "cohort %s: no channel found for %s",
                link.cohort_code,
                ", ".join(link.unbound_modules),
            )

    @command("about")
    async def about(self, interaction: discord.Interaction) -> None:
        await interaction.response.send_message(
            about_text(self.bot.version),
            ephemeral=True,
            allowed_mentions=NO_PINGS,
        )
