"""``/tutorial`` on Slack: tutors schedule, move and cancel live tutorials and read
attendance, each the same service call and roster check as ``cogs/tutorials/cog.py``."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from bot.calendar import service
from slackapp.commands.calendar_common import calendar_change
from slackapp.commands.common import integer
from slackapp.commands.parse import Option, Shape
from slackapp.commands.table import Call, SlackCommand


async def add(call: Call, values: Mapping[str, Any]) -> str:
    result = await calendar_change(
        call,
        service.add_tutorial,
        module_code=values["module"],
        title=values["title"],
        start=values["start"],
        duration=values["duration"],
        join_url=values.get("join_link"),
        repeat=values.get("repeat", "none"),
        until=values.get("until"),
        reminders=values.get("reminders"),
        now=call.now,
    )
    return result.render()


async def move(call: Call, values: Mapping[str, Any]) -> str:
    result = await calendar_change(
        call,
        service.move_tutorial,
        event_id=int(values["tutorial"]),
        start=values["start"],
        sequence=integer(values, "session"),
        now=call.now,
    )
    return result.render()


async def cancel(call: Call, values: Mapping[str, Any]) -> str:
    result = await calendar_change(
        call,
        service.cancel_tutorial,
        event_id=int(values["tutorial"]),
        sequence=integer(values, "session"),
        now=call.now,
    )
    return result.render()


_TUTORIAL = Option("tutorial", "Tutorial number", required=True, kind="integer")

COMMANDS: tuple[SlackCommand, ...] = (
    SlackCommand(
        Shape(
            ("tutorial", "add"),
            (
                Option("module", "Module code, e.g. MATH70097", required=True),
                Option("title", "What the session is about", required=True),
                Option("start", "First session, e.g. 2026-03-02 18:00", required=True),
                Option("duration", "Length (1h, 1h30m) or end time (19:30)", required=True),
                Option("join_link", "Where to join, e.g. https://teams.example.org/..."),
                Option("repeat", "none, weekly or fortnightly"),
                Option("until", "Last date a repeating session may fall on"),
                Option("reminders", "Reminder offsets before each session (default 24h,15m)"),
            ),
        ),
        add,
    ),
    SlackCommand(
        Shape(
            ("tutorial", "move"),
            (
                _TUTORIAL,
                Option("start", "New start of that session (or of the series)", required=True),
                Option("session", "Session number; leave out for the series", kind="integer"),
            ),
        ),
        move,
    ),
    SlackCommand(
        Shape(
            ("tutorial", "cancel"),
            (
                _TUTORIAL,
                Option("session", "Session number; leave out for the series", kind="integer"),
            ),
        ),
        cancel,
    ),
)
