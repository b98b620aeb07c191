"""``/teams`` on Slack: survey, forming (a dry run, then a "Create these teams" button),
moves, pair rules, the teams and their export, each the same service call and roster check as
``cogs/teams/cog.py``.

Slack differences: the survey arrives in the student's DM, one message per question with a
button per choice (a private answer cannot hold buttons that come back to the bot); the
proposal's confirm button arrives in the tutor's DM the same way; the export goes to the
tutor's DM as a file. ``BUTTONS`` are routed by ``slackapp.buttons``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from bot.chat import Button, ButtonStyle, OutgoingMessage
from bot.errors import UserError
from bot.teams import service
from bot.teams.threads import add_to_thread, create_teams
from slackapp.commands.common import member, send_file
from slackapp.commands.gradebook import required_number
from slackapp.commands.parse import Option, Shape
from slackapp.commands.table import Call, SlackCommand

CONFIRM = "cb:teams:confirm:{set_id}"
ANSWER = "cb:teams:answer:{question_id}:{choice}"
_KEEP = ("apart", "together", "either")


async def _dm(call: Call, text: str, buttons: tuple[Button, ...] = ()) -> None:
    await call.services.chat.dm(
        call.user.platform_user_id, OutgoingMessage(text=text, buttons=buttons)
    )


async def survey(call: Call, values: Mapping[str, Any]) -> str:
    result = await call.in_context(service.survey, module_code=values["module"])
    if not result.questions:
        return result.render()
    for number, question in enumerate(result.questions, 1):
        mine = f" (your answer: {question.answer})" if question.answer else ""
        await _dm(
            call,
            f"{result.module_code} team survey, question {number}: **{question.text}**{mine}",
            tuple(
                Button(choice, ANSWER.format(question_id=question.id, choice=choice))
                for choice in question.choices
            ),
        )
    return (
        f"{result.render()}\nThe questions are in your direct messages with me: press your "
        "answer under each; only your tutors see them."
    )


async def answer(call: Call, match: re.Match[str], source: str) -> str:
    """A choice pressed under a survey question (the button's id names both)."""
    return await call.in_context(
        service.answer_survey,
        question_id=int(match["id"]),
        choice=match["choice"],
        now=call.now,
    )


async def survey_set(call: Call, values: Mapping[str, Any]) -> str:
    result = await call.in_context(
        service.set_survey, module_code=values["module"], text=values["questions"], now=call.now
    )
    return result.render()


async def survey_check(call: Call, values: Mapping[str, Any]) -> None:
    """A tutor of the module, before the form opens (as Discord reads the current survey)."""
    await call.in_context(service.survey_text, module_code=values["module"])


def _size(values: Mapping[str, Any], name: str) -> int:
    value = int(values[name])
    if not 1 <= value <= 12:
        raise UserError(f"`{name}` must be between 1 and 12, not {value}.")
    return value


async def form(call: Call, values: Mapping[str, Any]) -> str:
    hours = required_number(values, "min_hours")
    if not 0 <= hours <= 40:
        raise UserError(f"`min_hours` must be between 0 and 40, not {hours:g}.")
    proposal = await call.in_context(
        service.form,
        module_code=values["module"],
        size_min=_size(values, "size_min"),
        size_max=_size(values, "size_max"),
        min_hours=hours,
        now=call.now,
        avoid_previous=bool(values.get("avoid_previous", True)),
    )
    return await _propose(call, proposal, bool(values.get("dry_run", True)))


async def reform(call: Call, values: Mapping[str, Any]) -> str:
    proposal = await call.in_context(service.reform, module_code=values["module"], now=call.now)
    return await _propose(call, proposal, bool(values.get("dry_run", True)))


async def _propose(call: Call, proposal: service.Proposal, dry_run: bool) -> str:
    if not dry_run:
        return await create(call, proposal.set_id)
    await _dm(
        call,
        f"Create the teams of dry run #{proposal.set_id}? Each gets a private channel with its "
        "members and you.",
        (
            Button(
                "Create these teams",
                CONFIRM.format(set_id=proposal.set_id),
                ButtonStyle.SUCCESS,
            ),
        ),
    )
    return f"{proposal.render()}\nTo create them, press *Create these teams* in our DM."


async def create(call: Call, set_id: int) -> str:
    """Confirm a proposal, then open its team channels (``bot.teams.threads``)."""
    return await create_teams(
        call.context,
        call.services.db,
        call.services.chat,
        call.services.outbox,
        set_id,
        now=call.now,
        staff_user_id=call.user.platform_user_id,
    )


async def confirm(call: Call, match: re.Match[str], source: str) -> str:
    return await create(call, int(match["id"]))


async def move(call: Call, values: Mapping[str, Any]) -> str:
    team = int(values["team"])
    if not 1 <= team <= 1000:
        raise UserError(f"`team` must be a team number from 1, not {team}.")
    moved = await call.in_context(
        service.move,
        module_code=values["module"],
        student=await member(call, values["student"]),
        team_number=team,
        now=call.now,
    )
    text = moved.text
    if moved.thread_id and moved.user_id:
        problem = await add_to_thread(
            call.services.chat, moved.thread_id, moved.user_id, moved.thread_note
        )
        text += " " + (problem or "They were added to the team's channel.")
    return text


async def pair(call: Call, values: Mapping[str, Any]) -> str:
    keep = str(values["keep"]).strip().lower()
    if keep not in _KEEP:
        raise UserError(f"`keep` must be apart, together or either, not `{values['keep']}`.")
    return await call.in_context(
        service.set_pair,
        module_code=values["module"],
        first=await member(call, values["student"]),
        second=await member(call, values["other"]),
        rule=keep,
    )


async def export(call: Call, values: Mapping[str, Any]) -> str:
    result = await call.in_context(service.export, module_code=values["module"])
    return await send_file(call, result.text, result.filename, result.data)


_MODULE = Option("module", "Module code, e.g. MATH70097", required=True)
_STUDENT = Option("student", "The student: @name, or their e-mail", required=True, kind="user")
_DRY = Option("dry_run", "Show the teams to you first (default true)", kind="boolean")

COMMANDS: tuple[SlackCommand, ...] = (
    SlackCommand(Shape(("teams", "survey"), (_MODULE,)), survey),
    SlackCommand(
        Shape(("teams", "survey-set"), (_MODULE,)),
        survey_set,
        check=survey_check,
        form=(
            Option(
                "questions",
                f"One question a line, e.g. {service.SURVEY_EXAMPLE.splitlines()[0]}",
                required=True,
                long=True,
            ),
        ),
    ),
    SlackCommand(
        Shape(
            ("teams", "form"),
            (
                _MODULE,
                Option("size_min", "Smallest team", required=True, kind="integer"),
                Option("size_max", "Largest team", required=True, kind="integer"),
                Option("min_hours", "Hours in a row every team shares each week", True),
                _DRY,
                Option("avoid_previous", "Keep earlier teammates apart", kind="boolean"),
            ),
        ),
        form,
    ),
    SlackCommand(Shape(("teams", "reform"), (_MODULE, _DRY)), reform),
    SlackCommand(
        Shape(
            ("teams", "move"),
            (_MODULE, _STUDENT, Option("team", "Team number", required=True, kind="integer")),
        ),
        move,
    ),
    SlackCommand(
        Shape(
            ("teams", "pair"),
            (
                _MODULE,
                _STUDENT,
                Option("other", "Another student (@name)", required=True, kind="user"),
                Option("keep", "apart, together, or either (clears the rule)", required=True),
            ),
        ),
        pair,
    ),
    SlackCommand(Shape(("teams", "export"), (_MODULE,)), export),
)
