"""``/tutorial``: tutors schedule, move and cancel live tutorials and read attendance.

Each command is one calendar service call answered with its text (``forward``); the notices
it plans wake the dispatcher (``NoticeCommands``).
"""

from __future__ import annotations

import discord
from discord.ext import commands

from bot.calendar import service
from cogs._shared.base import forward
from cogs._shared.declare import command
from cogs.calendar.notices import NoticeCommands

#: Option names users see -> the calendar service's parameters.
EVENT = {"module": "module_code", "tutorial": "event_id", "session": "sequence"}


class Tutorials(
    NoticeCommands, commands.GroupCog, group_name="tutorial", group_description="Live tutorials"
):
    @command("tutorial add")
    @forward(service.add_tutorial, rename={**EVENT, "join_link": "join_url"})
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
    ) -> None: ...

    @command("tutorial move")
    @forward(service.move_tutorial, rename=EVENT)
    async def move(
        self,
        interaction: discord.Interaction,
        tutorial: int,
        start: str,
        session: int | None = None,
    ) -> None: ...

    @command("tutorial cancel")
    @forward(service.cancel_tutorial, rename=EVENT)
    async def cancel(
        self, interaction: discord.Interaction, tutorial: int, session: int | None = None
    ) -> None: ...

    @command("tutorial attendance")
    @forward(service.attendance, rename=EVENT)
    async def attendance(
        self, interaction: discord.Interaction, tutorial: int, session: int | None = None
    ) -> None: ...
