"""``/dashboard``: a sign-in link to the web dashboard, by direct message, for anyone on the roster;
and the weekly early-warning digest job (``bot.dashboard.digest``).

Tutors see their modules, admins the whole cohort, students their own page: the web pages
check that, so the command is the same for everyone.
"""

from __future__ import annotations

import logging

import discord
from discord.ext import commands

from bot.dashboard.messages import request_link
from bot.discord_app import CohortBot
from cogs._shared.context import in_context
from cogs._shared.declare import command
from cogs._shared.replies import reply_private

log = logging.getLogger(__name__)


JOB = "early-warning-digest"


class Dashboard(commands.Cog):
    def __init__(self, bot: CohortBot) -> None:
        self.bot = bot

    async def run_digests(self) -> None:
        """The weekly digest job (registered with ``bot.runtime``'s platform-free work)."""
        await self.bot.work.digests_once()

    @command("dashboard")
    async def dashboard(self, interaction: discord.Interaction) -> None:
        settings = self.bot.settings
        link = await in_context(
            self.bot,
            interaction,
            request_link,
            now=self.bot.clock.now(),
            secret=(
                settings.dashboard_secret.get_secret_value() if settings.dashboard_secret else None
            ),
            public_url=settings.public_url,
        )
        delivery = await self.bot.outbox.delivery([link.message_key])
        if delivery.missed:
            log.info("dashboard link DM to %s failed: %s", interaction.user.id, delivery.missed)
            # Only the caller sees an ephemeral reply, so the link can go there instead.
            await reply_private(
                interaction,
                "I could not send you a direct message, so here is your link (works once, "
                f"for 10 minutes; do not share it):\n{link.url}",
            )
            return
        if delivery.pending or not delivery.told:
            await reply_private(
                interaction,
                "Sending you a sign-in link by direct message is still under way. It works "
                "once, within 10 minutes; if none arrives, type /dashboard again.",
            )
            return
        await reply_private(
            interaction,
            "I sent you a sign-in link by direct message. It works once, within 10 minutes.",
        )
