"""``/calendar availability`` on Slack, the same service calls and roster checks as
``cogs/calendar/cog.py`` (the other ``/calendar`` commands are in the table).

Slack difference: ``availability`` without options shows the current hours and how to change
them (Discord's form is prefilled with them; a Slack modal here would start empty).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from bot.teams import availability as av
from bot.teams import service as teams
from slackapp.commands.parse import Option, Shape
from slackapp.commands.table import Call, SlackCommand

HOW = (
    f'Change them with /calendar availability times:"{av.EXAMPLE}" zone:Europe/London '
    "(either alone keeps the other)."
)


async def availability(call: Call, values: Mapping[str, Any]) -> str:
    times, zone = values.get("times"), values.get("zone")
    if times is None and zone is None:
        current = await call.in_context(teams.availability, now=call.now)
        return f"{current.render()}\n{HOW}"
    view = await call.in_context(teams.set_availability, text=times, zone=zone, now=call.now)
    return view.render()


COMMANDS: tuple[SlackCommand, ...] = (
    SlackCommand(
        Shape(
            ("calendar", "availability"),
            (
                Option("times", 'When you can meet each week, e.g. "Mon-Fri 18:00-22:00"'),
                Option("zone", "Your time zone, e.g. Europe/London"),
            ),
        ),
        availability,
    ),
)
