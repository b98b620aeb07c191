"""``/prompt`` on Slack beyond create/list/close/mine/grade: edit, extend, grade-csv, scores,
release and answer, each the same service call as ``cogs/discussions/cog.py``.

Slack differences, said where they matter: a command cannot carry a file, so ``grade-csv``
takes the link of a CSV the tutor shared with the bot first; the scores CSV arrives in the
tutor's direct messages (a private answer cannot hold a file); ``answer`` and
``edit edit_text:true`` ask for the long text in a modal.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from bot.delivery import SLACK
from bot.discussions import service
from bot.discussions.grades_csv import MAX_CSV_BYTES
from slackapp.commands.common import (
    member,
    send_file,
    shared_file,
    told_all,
    told_one,
)
from slackapp.commands.parse import Option, Shape
from slackapp.commands.table import Call, SlackCommand
from slackapp.forms import CommandForm

log = logging.getLogger(__name__)

_PROMPT = Option("prompt", "Prompt number (see /prompt list)", required=True, kind="integer")
_STUDENT = Option("student", "The student: @name, or their e-mail", required=True, kind="user")


async def edit_check(call: Call, values: Mapping[str, Any]) -> None:
    """Refuse before the text modal opens (not a tutor, no such prompt, already open)."""
    await call.in_context(service.prompt_for_edit, int(values["prompt"]))


async def edit(call: Call, values: Mapping[str, Any]) -> str:
    private = values.get("private_answers")
    info = await call.in_context(
        service.edit_prompt,
        int(values["prompt"]),
        title=values.get("title"),
        body=values.get("text"),
        opens=values.get("opens"),
        closes=values.get("closes"),
        rubric=values.get("rubric"),
        private_answers=None if private is None else bool(private),
        now=call.now,
    )
    call.services.discussions.wake(info.opens_at)
    return f"Updated: {info.line}"


@dataclass(frozen=True)
class EditCommand(SlackCommand):
    """``edit_text:true`` without ``text`` asks for the new text in a modal."""

    def to_ask(self, given: Mapping[str, Any], missing: tuple[str, ...]) -> tuple[Option, ...]:
        if given.get("edit_text") and "text" not in given:
            missing = (*missing, "text")
        return super().to_ask(given, missing)


async def extend(call: Call, values: Mapping[str, Any]) -> str:
    student = await member(call, values["student"])
    result = await call.services.discussions.prompts.grant_extension(
        call.context,
        int(values["prompt"]),
        student=student,
        until=values["until"],
        reason=values["reason"],
        now=call.now,
    )
    told = told_one(await call.services.outbox.delivery([result.message_key]))
    return f"{result.render()} {told}"


async def grade_csv(call: Call, values: Mapping[str, Any]) -> str:
    # The caller's role first: a student is told the command is for tutors, and their link
    # is never looked up.
    await call.in_context(service.begin_grade_csv, int(values["prompt"]))
    csv = await shared_file(call, str(values["file"]))
    result = await call.in_context(
        service.grade_csv,
        int(values["prompt"]),
        data=lambda: csv.read(MAX_CSV_BYTES),
        filename=csv.filename,
        now=call.now,
    )
    if result.released and result.changed:
        call.services.discussions.wake()
    after = " Students are told of changes privately." if result.released else ""
    return (
        f"Saved quality marks and feedback for prompt #{result.prompt.id}: "
        f"{result.changed} changed, {result.unchanged} unchanged.{after}"
    )


async def scores(call: Call, values: Mapping[str, Any]) -> str:
    table = await call.services.discussions.prompts.score_table(
        call.context, int(values["prompt"]), now=call.now, platform=SLACK
    )
    state = "released" if table.prompt.released_at else "provisional, not released"
    head = f"Prompt #{table.prompt.id} “{table.prompt.title}” ({state}):"
    rows = [row.line + (f" [{row.notified}]" if row.notified else "") for row in table.rows]
    return await send_file(call, "\n".join([head, *rows]), table.csv_name, table.csv_data)


async def release(call: Call, values: Mapping[str, Any]) -> str:
    live = call.services.discussions
    result = await live.prompts.release(call.context, int(values["prompt"]), now=call.now)
    try:
        await live.run_due()
        # Not sent inline as on Discord: Slack's rate for chat.postMessage makes a class's
        # messages take tens of seconds; the answer says how many are still being sent.
        call.services.work.wake_outbox()
    except Exception:
        log.exception("releasing prompt %s: sending the marks failed; it retries", result.prompt.id)
        live.wake()
    async with call.services.db.session() as session:
        told = await service.release_delivery(session, result.prompt.id)
    return (
        f"Released the marks of prompt #{result.prompt.id} “{result.prompt.title}” for "
        f"{result.students} students: " + told_all(told, "student", "students", "told privately")
    )


async def answer_check(call: Call, values: Mapping[str, Any]) -> None:
    """May they answer now (a student of it, open or extended, not yet answered)?"""
    await call.in_context(service.begin_answer, int(values["prompt"]), now=call.now)


async def answer(call: Call, values: Mapping[str, Any]) -> str:
    plan = await call.in_context(
        service.submit_answer,
        int(values["prompt"]),
        text=values["answer"],
        reply_to=values.get("reply_to"),
        links=call.services.chat.links,
        now=call.now,
    )
    chat = call.services.chat
    for message in plan.messages:
        await chat.post(plan.thread_id, message)
    if plan.add_member is not None:
        await chat.add_thread_member(plan.thread_id, plan.add_member)
    return plan.note


async def answer_button(call: Call, match: re.Match[str], source: str) -> CommandForm:
    """The Answer button under a "post before you see others" prompt: the form of
    ``/prompt answer`` for that prompt (refused first, in one sentence, as the command is)."""
    values = {"prompt": int(match["id"])}
    await answer_check(call, values)
    return CommandForm(("prompt", "answer"), values)


COMMANDS: tuple[SlackCommand, ...] = (
    EditCommand(
        Shape(
            ("prompt", "edit"),
            (
                _PROMPT,
                Option("title", "New title"),
                Option("opens", "New opening time, e.g. 2026-01-19 09:00"),
                Option("closes", "New deadline, e.g. 2026-01-23 17:00"),
                Option("rubric", "Preset (standard, light, reflective) and changes"),
                Option("private_answers", "Post before you see others", kind="boolean"),
                Option("text", "The new prompt text", long=True),
                Option("edit_text", "Type the new text in a form", kind="boolean"),
            ),
        ),
        edit,
        check=edit_check,
    ),
    SlackCommand(
        Shape(
            ("prompt", "extend"),
            (
                _PROMPT,
                _STUDENT,
                Option("until", "Their new deadline, e.g. 2026-01-30 17:00", required=True),
                Option(
                    "reason",
                    "Reason reference, e.g. the mitigating circumstances case number",
                    required=True,
                ),
            ),
        ),
        extend,
    ),
    SlackCommand(
        Shape(
            ("prompt", "grade-csv"),
            (
                _PROMPT,
                Option(
                    "file",
                    "Link to the CSV you shared with the bot (student_number, quality_points, "
                    "feedback)",
                    required=True,
                ),
            ),
        ),
        grade_csv,
    ),
    SlackCommand(Shape(("prompt", "scores"), (_PROMPT,)), scores),
    SlackCommand(Shape(("prompt", "release"), (_PROMPT,)), release),
    SlackCommand(
        Shape(("prompt", "answer"), (_PROMPT,)),
        answer,
        check=answer_check,
        # Not options on Discord either: its Answer form asks for them.
        form=(
            Option("answer", "Your answer", required=True, long=True),
            Option("reply_to", "Replying to (link of a classmate's post)"),
        ),
    ),
)
