"""The calendar cog: the notice dispatcher and ``/calendar`` for everyone.

The dispatcher is one registered due-work job (``calendar``); after each run it asks the
scheduler to wake it when the next notice is due, so start-up never builds one job per notice.
The buttons are in ``views.py``; what other cogs ask of the dispatcher in ``notices.py``.
"""

from __future__ import annotations

import io
import logging
from datetime import UTC, datetime, timedelta

import discord
from discord import app_commands
from discord.ext import commands

from bot.calendar import personal
from bot.calendar.engine import EngineConfig, new_worker_id, run_due
from bot.discord_app import CohortBot
from bot.discord_chat import DiscordChat
from bot.timeparse import autocomplete_zones
from cogs._shared.base import FeatureCog
from cogs._shared.declare import command
from cogs._shared.replies import reply_private, send_private
from cogs.calendar.views import CalendarButton
from cogs.teams.views import availability_command

log = logging.getLogger(__name__)

JOB = "calendar"


class CalendarCog(
    FeatureCog, commands.GroupCog, group_name="calendar", group_description="Your calendar"
):
    """Upcoming deadlines and tutorials, your time zone, reminders and calendar feed."""

    def __init__(self, bot: CohortBot) -> None:
        super().__init__(bot)
        self.chat = DiscordChat(bot)
        self.config = EngineConfig(worker_id=new_worker_id())
        self._wake_at: datetime | None = None

    async def cog_load(self) -> None:
        self.bot.scheduler.register(JOB, self._run_due_once)
        self.bot.add_dynamic_items(CalendarButton)

    async def run_due(self) -> None:
        """Send what is due. One run at a time in this process (the scheduler's job lock): a
        command that sends before replying waits for a scheduled run already sending, so what
        it reads back is what was really sent. None once stopping (``Application.stop``
        waits for the run under way)."""
        await self.bot.scheduler.run_now(JOB)

    async def _run_due_once(self) -> None:
        report = await run_due(
            self.bot.db,
            self.chat,
            now=self.now(),
            config=self.config,
            clock=self.bot.clock.now,
            on_outcome=lambda outcome: self.bot.metrics.notices.labels(outcome=outcome).inc(),
            sender=self.bot.outbox,
        )
        self.wake_at(report.next_due_at)

    def wake_at(self, at: datetime | None) -> None:
        """One pending wake at a time: the earliest moment anything is due."""
        if at is None:
            return
        now = self.now()
        if self._wake_at is not None and now < self._wake_at <= at:
            return
        self._wake_at = at
        delay = max(0.0, (at - now).total_seconds())
        # APScheduler runs on real time; the bot's clock may be the demo's.
        self.bot.scheduler.wake(JOB, at=datetime.now(UTC) + timedelta(seconds=delay))

    @command("calendar upcoming")
    async def upcoming(self, interaction: discord.Interaction) -> None:
        await self.answer(interaction, personal.upcoming, cohort=False)

    @command("calendar timezone")
    async def timezone(self, interaction: discord.Interaction, zone: str) -> None:
        await self.answer(
            interaction, personal.set_timezone, zone=zone, cohort=False, send=reply_private
        )

    @timezone.autocomplete("zone")
    async def _zone_choices(
        self, interaction: discord.Interaction, current: str
    ) -> list[app_commands.Choice[str]]:
        """Time zones for both commands that take one (``availability`` below)."""
        return [app_commands.Choice(name=z, value=z) for z in autocomplete_zones(current)]

    @command("calendar availability")
    async def availability(
        self, interaction: discord.Interaction, times: str | None = None, zone: str | None = None
    ) -> None:
        await availability_command(interaction, times, zone)  # the teams feature

    availability.autocomplete("zone")(_zone_choices)

    @command("calendar reminders")
    async def reminders(self, interaction: discord.Interaction, enabled: bool) -> None:
        await self.answer(
            interaction, personal.set_reminders, enabled=enabled, cohort=False, send=reply_private
        )

    @command("calendar quiet-hours")
    async def quiet_hours(
        self,
        interaction: discord.Interaction,
        start: str | None = None,
        end: str | None = None,
    ) -> None:
        await self.answer(
            interaction,
            personal.set_quiet_hours,
            start=start,
            end=end,
            cohort=False,
            send=reply_private,
        )

    @command("calendar ics")
    async def ics(self, interaction: discord.Interaction) -> None:
        result = await self.call(
            interaction, personal.calendar_file, public_url=self.bot.settings.public_url
        )
        await send_private(
            interaction,
            content=result.render(),
            file=discord.File(io.BytesIO(result.data), filename=result.filename),
        )

    @command("calendar reset-feed")
    async def reset_feed(self, interaction: discord.Interaction) -> None:
        await self.answer(
            interaction,
            personal.reset_feed,
            public_url=self.bot.settings.public_url,
            cohort=False,
            send=reply_private,
        )
