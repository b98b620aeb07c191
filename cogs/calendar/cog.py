"""The calendar cog: the notice dispatcher and ``/calendar`` for everyone.

The dispatcher is one registered due-work job (``calendar``); after each run it asks the
scheduler to wake it when the next notice is due, so start-up never builds one job per notice.
The buttons are in ``views.py``; what other cogs ask of the dispatcher in ``notices.py``.
"""

from __future__ import annotations

import io
import logging
from datetime import datetime

import discord
from discord import app_commands
from discord.ext import commands

from bot.calendar import personal
from bot.calendar.engine import EngineConfig
from bot.discord_app import CohortBot
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

    async def cog_load(self) -> None:
        # The dispatcher job itself is registered with the platform-free work (bot.runtime).
        self.bot.add_dynamic_items(CalendarButton)

    async def run_due(self) -> None:
        """Send what is due (``bot.runtime.ScheduledWork.run_calendar``)."""
        await self.bot.work.run_calendar()

    def wake_at(self, at: datetime | None) -> None:
        """One pending wake at a time: the earliest moment anything is due."""
        self.bot.work.wake_calendar(at)

    @property
    def config(self) -> EngineConfig:
        """The dispatcher's settings (held by ``bot.runtime.ScheduledWork``)."""
        return self.bot.work.calendar_config

    @config.setter
    def config(self, value: EngineConfig) -> None:
        self.bot.work.calendar_config = value

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
