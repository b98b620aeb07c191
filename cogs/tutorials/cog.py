"""``/tutorial``: tutors schedule, move and cancel live tutorials and read attendance."""

from __future__ import annotations

import discord
from discord import app_commands
from discord.ext import commands

from bot.calendar import service
from bot.discord_app import CohortBot
from cogs._shared.context import in_context
from cogs._shared.declare import slash
from cogs._shared.metadata import extras
from cogs._shared.replies import send_long
from cogs.calendar.notices import calendar_change

SETUP = "tutorial"


class Tutorials(commands.GroupCog, group_name="tutorial", group_description="Live tutorials"):
    def __init__(self, bot: CohortBot) -> None:
        self.bot = bot
        super().__init__()

    @slash(
        None,
        "add",
        "Schedule a tutorial (optionally weekly or fortnightly until a date).",
        extras(
            "staff",
            {
                "module": "MATH70097",
                "title": "Week 1 live session",
                "start": "2030-01-15 18:00",
                "duration": "1h",
            },
        ),
        module="Module code, e.g. MATH70097",
        title="What the session is about",
        start="First session, e.g. 2026-03-02 18:00 (cohort time) or 2026-03-02T18:00Z",
        duration="Length (1h, 1h30m) or end time (19:30)",
        join_link="Where to join, e.g. https://teams.example.org/...",
        repeat="Repeat the session",
        until="Last date a repeating session may fall on, e.g. 2026-03-31",
        reminders="Reminder offsets before each session (default 24h,15m)",
    )
    @app_commands.choices(
        repeat=[
            app_commands.Choice(name="once", value="none"),
            app_commands.Choice(name="weekly", value="weekly"),
            app_commands.Choice(name="fortnightly", value="fortnightly"),
        ]
    )
    async def add(
        self,
        interaction: discord.Interaction,
        module: str,
        title: str,
        start: str,
        duration: str,
        join_link: str | None = None,
        repeat: str = "none",
        until: str | None = None,
        reminders: str | None = None,
    ) -> None:
        result = await calendar_change(
            self.bot,
            interaction,
            service.add_tutorial,
            module_code=module,
            title=title,
            start=start,
            duration=duration,
            join_url=join_link,
            repeat=repeat,
            until=until,
            reminders=reminders,
            now=self.bot.clock.now(),
        )
        await send_long(interaction, result.render())

    @slash(
        None,
        "move",
        "Move one session, or every upcoming session of the series.",
        extras("staff", {"start": "2030-01-16 18:00"}, setup=SETUP),
        tutorial="Tutorial number (shown when it was scheduled and in /calendar upcoming)",
        start="New start of that session (or of the next session, for the series)",
        session="Session number to move; leave out to move the whole series",
    )
    async def move(
        self,
        interaction: discord.Interaction,
        tutorial: int,
        start: str,
        session: int | None = None,
    ) -> None:
        result = await calendar_change(
            self.bot,
            interaction,
            service.move_tutorial,
            event_id=tutorial,
            start=start,
            sequence=session,
            now=self.bot.clock.now(),
        )
        await send_long(interaction, result.render())

    @slash(
        None,
        "cancel",
        "Cancel one session, or every upcoming session of the series.",
        extras("staff", {}, setup=SETUP),
        tutorial="Tutorial number",
        session="Session number; leave out to cancel the series",
    )
    async def cancel(
        self, interaction: discord.Interaction, tutorial: int, session: int | None = None
    ) -> None:
        result = await calendar_change(
            self.bot,
            interaction,
            service.cancel_tutorial,
            event_id=tutorial,
            sequence=session,
            now=self.bot.clock.now(),
        )
        await send_long(interaction, result.render())

    @slash(
        None,
        "attendance",
        "Who checked in and who answered going / maybe / not going, per session.",
        extras("staff", {}, setup=SETUP),
        tutorial="Tutorial number",
        session="Session number (default: the latest one started)",
    )
    async def attendance(
        self, interaction: discord.Interaction, tutorial: int, session: int | None = None
    ) -> None:
        result = await in_context(
            self.bot,
            interaction,
            service.attendance,
            event_id=tutorial,
            sequence=session,
            now=self.bot.clock.now(),
        )
        await send_long(interaction, result.render())
