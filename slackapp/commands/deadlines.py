"""``/deadline`` on Slack: assessment items, extensions (granted, requested, decided) and
feedback release, each the same service call and roster check as ``cogs/deadlines/cog.py``."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from bot.calendar import service
from bot.errors import UserError
from slackapp.commands.calendar_common import (
    calendar_change,
    told_tutors,
    with_delivery,
)
from slackapp.commands.common import member
from slackapp.commands.parse import Option, Shape
from slackapp.commands.table import Call, SlackCommand

_DECISIONS = ("approve", "deny")


async def extend(call: Call, values: Mapping[str, Any]) -> str:
    student = await member(call, values["student"])
    result = await calendar_change(
        call,
        service.grant_extension,
        event_id=int(values["item"]),
        student=student,
        due=values["due"],
        reason=values["reason"],
        now=call.now,
    )
    return await with_delivery(call, result.render(), result.notice_keys)


async def request(call: Call, values: Mapping[str, Any]) -> str:
    result = await call.as_caller(
        service.request_extension,
        event_id=int(values["item"]),
        due=values["due"],
        reason=values["reason"],
        now=call.now,
    )
    call.services.work.wake_calendar(result.next_due_at)
    return result.render() + "\n" + await told_tutors(call, result.notice_keys)


async def decide(call: Call, values: Mapping[str, Any]) -> str:
    decision = str(values["decision"]).strip().lower()
    if decision not in _DECISIONS:
        # Discord offers the two as choices; here a typo must not count as a denial.
        raise UserError(f"`decision` must be approve or deny, not `{values['decision']}`.")
    result = await call.as_caller(
        service.decide_extension,
        extension_id=int(values["request"]),
        approve=decision == "approve",
        now=call.now,
    )
    call.services.work.wake_calendar(result.next_due_at)
    return await with_delivery(call, result.render(), result.notice_keys)


async def feedback_released(call: Call, values: Mapping[str, Any]) -> str:
    result = await calendar_change(
        call, service.feedback_released, event_id=int(values["item"]), now=call.now
    )
    return result.render()


_ITEM = Option("item", "Deadline number (see /calendar upcoming)", required=True, kind="integer")

COMMANDS: tuple[SlackCommand, ...] = (
    SlackCommand(
        Shape(
            ("deadline", "extend"),
            (
                _ITEM,
                Option(
                    "student", "The student: @name, or their e-mail", required=True, kind="user"
                ),
                Option("due", "Their new deadline", required=True),
                Option("reason", "Reason reference, e.g. the MC case number", required=True),
            ),
        ),
        extend,
    ),
    SlackCommand(
        Shape(
            ("deadline", "request"),
            (
                _ITEM,
                Option("due", "The deadline you ask for", required=True),
                Option("reason", "Reason reference, e.g. your MC case number", required=True),
            ),
        ),
        request,
    ),
    SlackCommand(
        Shape(
            ("deadline", "decide"),
            (
                Option("request", "Request number", required=True, kind="integer"),
                Option("decision", "approve or deny", required=True),
            ),
        ),
        decide,
    ),
    SlackCommand(
        Shape(
            ("deadline", "feedback-released"),
            (Option("item", "Feedback return item number", required=True, kind="integer"),),
        ),
        feedback_released,
    ),
)
