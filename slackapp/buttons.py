"""Buttons on Slack: a click's ``action_id`` is the custom id the service gave the button
(``bot.chat.Button``), routed here by pattern to the same service call as on Discord.

Like the command table, each button is declared once (``BUTTONS``); a handler returns the text
of the clicker's private answer.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from bot.calendar import service as calendar
from bot.db.models import RsvpResponse
from slackapp.commands import teams
from slackapp.commands.table import Call

ButtonHandler = Callable[[Call, re.Match[str], str], Awaitable[str]]

_RSVP = {
    "going": RsvpResponse.GOING,
    "maybe": RsvpResponse.MAYBE,
    "notgoing": RsvpResponse.NOT_GOING,
}


@dataclass(frozen=True)
class SlackButton:
    pattern: re.Pattern[str]
    run: ButtonHandler


async def rsvp(call: Call, match: re.Match[str], source: str) -> str:
    answer = await call.as_caller(
        calendar.rsvp,
        occurrence_id=int(match["id"]),
        response=_RSVP[match["action"]],
        now=call.now,
    )
    call.services.work.wake_calendar(answer.next_due_at)
    return answer.render()


async def check_in(call: Call, match: re.Match[str], source: str) -> str:
    done = await call.as_caller(
        calendar.check_in, occurrence_id=int(match["id"]), now=call.now, source_ref=source
    )
    return done.render()


async def decide_extension(call: Call, match: re.Match[str], source: str) -> str:
    decided = await call.as_caller(
        calendar.decide_extension,
        extension_id=int(match["id"]),
        approve=match["action"] == "approve",
        now=call.now,
    )
    call.services.work.wake_calendar(decided.next_due_at)
    return decided.render()


BUTTONS: tuple[SlackButton, ...] = (
    SlackButton(re.compile(r"cb:calendar:(?P<action>going|maybe|notgoing):(?P<id>\d+)"), rsvp),
    SlackButton(re.compile(r"cb:calendar:(?P<action>checkin):(?P<id>\d+)"), check_in),
    SlackButton(re.compile(r"cb:calendar:(?P<action>approve|deny):(?P<id>\d+)"), decide_extension),
    # The buttons of /teams on Slack (the survey's choices, a proposal's confirmation).
    SlackButton(re.compile(r"cb:teams:confirm:(?P<id>\d+)"), teams.confirm),
    SlackButton(re.compile(r"cb:teams:answer:(?P<id>\d+):(?P<choice>.+)"), teams.answer),
)


def route(action_id: str) -> tuple[SlackButton, re.Match[str]] | None:
    """The button declared for this custom id, and what its pattern read from it."""
    for button in BUTTONS:
        match = button.pattern.fullmatch(action_id)
        if match is not None:
            return button, match
    return None
