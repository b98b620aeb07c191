"""Per-student extensions of a discussion prompt (tutor command).

The student's notice is put in the outbox with the extension (one transaction): the adapter
only reports whether it arrived (``ExtensionResult.message_key``).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from bot import due, outbox
from bot.access.identity import ChatUser
from bot.access.permissions import Caller
from bot.db.models import Cohort, PromptStatus
from bot.discussions.lateness import rejudge_late
from bot.discussions.prompts import (
    PromptInfo,
    audit_prompt,
    instant,
    prompt_info,
    staff_prompt,
)
from bot.discussions.render import when
from bot.due import text as due_text
from bot.errors import UserError
from bot.outbox import Message

# --------------------------------------------------------------------------- extensions


@dataclass(frozen=True)
class ExtensionResult(due_text.Extended):
    prompt: PromptInfo
    student_platform_id: str | None
    notice: str
    #: The outbox message carrying ``notice`` to the student.
    message_key: str

    def render(self) -> str:
        """The grant in the shape every extension command answers with (``bot.due.text``)."""
        return self.granted_text(
            f"prompt #{self.prompt.id} **{self.prompt.title}**",
            "Their posts until then count as on time.",
        )


async def grant_extension(
    session: AsyncSession,
    caller: Caller,
    cohort: Cohort,
    prompt_id: int,
    *,
    student: ChatUser,
    until: str,
    reason: str,
    now: datetime,
) -> ExtensionResult:
    """Reopen a prompt for one student until ``until`` (their posts until then are on time).

    The grant is ``bot.due.grant``: it applies from now and supersedes their earlier ones.
    """
    prompt, module = await staff_prompt(session, caller, cohort, prompt_id)
    if prompt.status in (PromptStatus.SCHEDULED, PromptStatus.CANCELLED):
        raise UserError(f"Prompt #{prompt.id} has not opened, so there is nothing to extend.")
    if prompt.released_at is not None:
        raise UserError(
            f"Marks for prompt #{prompt.id} were released; an extension can no longer change them."
        )
    person = await due.extension_student(session, module, student)
    reason_ref = due.clean_reason(reason)
    new_due = instant(until, "Until", cohort.timezone, now)
    item = due.prompt_item(prompt)
    granted = await due.grant_later(
        session,
        item,
        person.id,
        new_due,
        refusal=f"The extension must end after the prompt's close ({when(prompt.closes_at)}).",
        reason_ref=reason_ref,
        decided_by_id=caller.person.id,
        now=now,
    )
    # Posts already recorded are judged again against the new close.
    await rejudge_late(session, prompt, person.id)
    was = granted.was.extension
    await audit_prompt(
        session,
        caller,
        prompt,
        module,
        "discussion_extension",
        subject_person_id=person.id,
        before={"new_due_at": was.new_due_at if was is not None else None},
        after={"new_due_at": new_due},
        reason=reason_ref,
        at=now,
    )
    await session.flush()
    form = f"`/prompt answer prompt:{prompt.id}`"
    thread_open = prompt.status == PromptStatus.OPEN and not due.reached(prompt.closes_at, now)
    if thread_open and not prompt.private_answers:
        where = f"post in <#{prompt.thread_id}> until it closes, then use {form}"
    else:
        where = f"use {form}"
    notice = (
        f"You have an extension on {module.code} prompt #{prompt.id} “{prompt.title}”: "
        f"your posts until {when(new_due)} count as on time. To answer, {where}."
    )
    key = f"discussions:extension:{granted.extension.id}"
    await outbox.enqueue(
        session,
        [
            Message(
                key=key,
                feature="discussions",
                kind="extension",
                text=notice,
                person_id=person.id,
                scope_id=prompt.id,
                ref_id=granted.extension.id,
            )
        ],
        now,
    )
    return ExtensionResult(
        extension_id=granted.extension.id,
        student=person.display_name,
        module_code=module.code,
        due_at=new_due,
        was_at=granted.was.due_at,
        prompt=prompt_info(prompt, module),
        student_platform_id=person.platform_user_id,
        notice=notice,
        message_key=key,
    )
