"""Buttons on Slack: a click's ``action_id`` is the custom id the service gave the button
(``bot.chat.Button``), routed here by pattern to the same service call as on Discord.

Like the command table, each button is declared once (``BUTTONS``); a handler returns the text
of the clicker's private answer, or a form to open (``slackapp.forms``). The bot's own forms are
declared once too (``FORMS``, by callback id).
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from bot.calendar import service as calendar
from bot.db.models import RsvpResponse
from bot.discussions.jobs import ANSWER_PREFIX
from slackapp.commands import discussions, peer, teams
from slackapp.commands.table import Call
from slackapp.forms import ButtonAnswer, FormHandler

ButtonHandler = Callable[[Call, re.Match[str], str], Awaitable[ButtonAnswer]]

_RSVP = {
    "going": RsvpResponse.GOING,
    "maybe": RsvpResponse.MAYBE,
    "notgoing": RsvpResponse.NOT_GOING,
}


@dataclass(frozen=True)
class SlackButton:
    pattern: re.Pattern[str]
    run: ButtonHandler
    #: It opens a form: every click does (a closed form can be opened again), while what the
    #: form records is claimed once when it is submitted.
    opens_form: bool = False


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
    # A review request's "Write review" (by DM) and a private-answer prompt's "Answer".
    SlackButton(re.compile(r"cb:peer:review:(?P<id>\d+)"), peer.review_button, opens_form=True),
    SlackButton(
        re.compile(re.escape(ANSWER_PREFIX) + r"(?P<id>\d+)"),
        discussions.answer_button,
        opens_form=True,
    ),
)

#: The bot's own modals, by callback id: what a submission of each runs.
FORMS: dict[str, FormHandler] = {peer.REVIEW_FORM: peer.save_review}


def route(action_id: str) -> tuple[SlackButton, re.Match[str]] | None:
    """The button declared for this custom id, and what its pattern read from it."""
    for button in BUTTONS:
        match = button.pattern.fullmatch(action_id)
        if match is not None:
            return button, match
    return None
