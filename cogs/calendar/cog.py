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
from cogs._shared.context import as_caller, in_context
from cogs._shared.declare import slash
from cogs._shared.metadata import extras
from cogs._shared.replies import reply_private, send_long, send_private
from cogs.calendar.views import CalendarButton
from cogs.teams.views import availability_command

log = logging.getLogger(__name__)

JOB = "calendar"


class CalendarCog(commands.GroupCog, group_name="calendar", group_description="Your calendar"):
    """Upcoming deadlines and tutorials, your time zone, reminders and calendar feed."""

    def __init__(self, bot: CohortBot) -> None:
        self.bot = bot
        super().__init__()

    async def cog_load(self) -> None:
        # The dispatcher job itself is registered with the platform-free work (bot.runtime).
        self.bot.add_dynamic_items(CalendarButton)

    async def run_due(self) -> None:
        """Send what is due (``bot.runtime.ScheduledWork.run_calendar``)."""
        await self.bot.work.run_calendar()

    def wake(self, at: datetime | None) -> None:
        self.bot.work.wake_calendar(at)

    @property
    def config(self) -> EngineConfig:
        """The dispatcher's settings (held by ``bot.runtime.ScheduledWork``)."""
        return self.bot.work.calendar_config

    @config.setter
    def config(self, value: EngineConfig) -> None:
        self.bot.work.calendar_config = value

    @slash(
        None,
        "upcoming",
        "Your deadlines (extensions applied) and tutorials for the next four weeks.",
        extras("member", {}),
    )
    async def upcoming(self, interaction: discord.Interaction) -> None:
        result = await as_caller(self.bot, interaction, personal.upcoming, now=self.bot.clock.now())
        await send_long(interaction, result.render())

    @slash(
        None,
        "timezone",
        "Set your time zone (IANA name) for DMs and calendar files.",
        extras("member", {"zone": "Asia/Tokyo"}),
        zone="An IANA time zone such as Europe/London or Asia/Tokyo",
    )
    async def timezone(self, interaction: discord.Interaction, zone: str) -> None:
        result = await as_caller(self.bot, interaction, personal.set_timezone, zone=zone)
        await reply_private(interaction, result.text)

    @timezone.autocomplete("zone")
    async def _zone_choices(
        self, interaction: discord.Interaction, current: str
    ) -> list[app_commands.Choice[str]]:
        return [app_commands.Choice(name=z, value=z) for z in autocomplete_zones(current)]

    @slash(
        None,
        "availability",
        "When you are free each week for team work, in your own zone (a form).",
        extras("member", {"times": "Mon-Fri 19:00-23:00; Sat 10:00-16:00", "zone": "Asia/Tokyo"}),
        times="e.g. Mon-Fri 19:00-23:00; Sat 09:00-17:00 (leave both out for the form)",
        zone="Your IANA time zone, e.g. Asia/Tokyo",
    )
    async def availability(
        self, interaction: discord.Interaction, times: str | None = None, zone: str | None = None
    ) -> None:
        await availability_command(self.bot, interaction, times, zone)  # the teams feature

    @availability.autocomplete("zone")
    async def _availability_zones(
        self, interaction: discord.Interaction, current: str
    ) -> list[app_commands.Choice[str]]:
        return [app_commands.Choice(name=z, value=z) for z in autocomplete_zones(current)]

    @slash(
        None,
        "reminders",
        "Turn DM reminders on or off.",
        extras("member", {"enabled": False}),
        enabled="True to get DM reminders, False to stop them",
    )
    async def reminders(self, interaction: discord.Interaction, enabled: bool) -> None:
        result = await as_caller(self.bot, interaction, personal.set_reminders, enabled=enabled)
        await reply_private(interaction, result.text)

    @slash(
        None,
        "quiet-hours",
        "DM reminders due in this window wait until it ends; leave both out to clear.",
        extras("member", {"start": "22:00", "end": "07:00"}),
        start="Start, 24-hour HH:MM in your zone",
        end="End, HH:MM",
    )
    async def quiet_hours(
        self,
        interaction: discord.Interaction,
        start: str | None = None,
        end: str | None = None,
    ) -> None:
        result = await as_caller(
            self.bot, interaction, personal.set_quiet_hours, start=start, end=end
        )
        await reply_private(interaction, result.text)

    @slash(
        None,
        "ics",
        "Your personal calendar: an .ics file and a private feed address.",
        extras("member", {}),
    )
    async def ics(self, interaction: discord.Interaction) -> None:
        result = await in_context(
            self.bot,
            interaction,
            personal.calendar_file,
            now=self.bot.clock.now(),
            public_url=self.bot.settings.public_url,
        )
        await send_private(
            interaction,
            content=result.render(),
            file=discord.File(io.BytesIO(result.data), filename=result.filename),
        )

    @slash(
        None,
        "reset-feed",
        "Revoke your calendar feed address and get a new one.",
        extras("member", {}),
    )
    async def reset_feed(self, interaction: discord.Interaction) -> None:
        result = await as_caller(
            self.bot, interaction, personal.reset_feed, public_url=self.bot.settings.public_url
        )
        await reply_private(interaction, result.text)
