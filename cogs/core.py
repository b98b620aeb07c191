"""Core commands every member can use: what the bot is and whether it is healthy."""

from __future__ import annotations

import logging

import discord
from discord import app_commands
from discord.ext import commands

from bot.access.identity import ChannelInfo, link_guild
from bot.discord_app import NO_PINGS, CohortBot

log = logging.getLogger(__name__)


class Core(commands.Cog):
    def __init__(self, bot: CohortBot) -> None:
        self.bot = bot

    @commands.Cog.listener()
    async def on_guild_available(self, guild: discord.Guild) -> None:
        await self._link(guild)

    @commands.Cog.listener()
    async def on_guild_join(self, guild: discord.Guild) -> None:
        await self._link(guild)

    async def _link(self, guild: discord.Guild) -> None:
        channels = [ChannelInfo(str(c.id), c.name) for c in guild.text_channels]
        roles = [ChannelInfo(str(r.id), r.name) for r in guild.roles]
        async with self.bot.db.session() as session:
            link = await link_guild(session, str(guild.id), channels, roles)
        if link is None:
            log.warning("server %s (%s) is not linked to any cohort", guild.name, guild.id)
        elif link.unbound_modules:
            log.warning(
                "cohort %s: no channel found for %s",
                link.cohort_code,
                ", ".join(link.unbound_modules),
            )

    @app_commands.command(
        name="about",
        description="What cohortbot is and which version runs here.",
        extras={"audience": "member", "example": {}},
    )
    async def about(self, interaction: discord.Interaction) -> None:
        await interaction.response.send_message(
            f"cohortbot {self.bot.version}: graded discussions, peer review, tutorials and "
            "deadlines for this cohort. Marks shown by the bot are provisional until released.",
            ephemeral=True,
            allowed_mentions=NO_PINGS,
        )


async def setup(bot: commands.Bot) -> None:
    assert isinstance(bot, CohortBot)
    await bot.add_cog(Core(bot))
