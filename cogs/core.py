"""Core commands every member can use: what the bot is and whether it is healthy."""

from __future__ import annotations

import discord
from discord import app_commands
from discord.ext import commands

from bot.discord_app import NO_PINGS, CohortBot


class Core(commands.Cog):
    def __init__(self, bot: CohortBot) -> None:
        self.bot = bot

    @app_commands.command(
        name="about", description="What cohortbot is and which version runs here."
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
