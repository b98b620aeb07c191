"""Per-student extensions of a discussion prompt (tutor command).

The notice text is returned for the adapter to send; nothing is sent from here.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.access.identity import ChatUser
from bot.access.permissions import Caller
from bot.db.models import Cohort, Contribution, Extension, ExtensionStatus, PromptStatus
from bot.discussions.prompts import (
    PromptInfo,
    audit_prompt,
    instant,
    prompt_info,
    staff_prompt,
    student_of,
)
from bot.discussions.render import when
from bot.errors import UserError

# --------------------------------------------------------------------------- extensions


@dataclass(frozen=True)
class ExtensionResult:
    prompt: PromptInfo
    student_name: str
    student_platform_id: str | None
    until: datetime
    notice: str


async def grant_extension(
    session: AsyncSession,
    caller: Caller,
    cohort: Cohort,
    prompt_id: int,
    *,
    student: ChatUser,
    until: str,
    reason: str | None,
    now: datetime,
) -> ExtensionResult:
    """Reopen a prompt for one student until ``until`` (their posts until then are on time)."""
    prompt, module = await staff_prompt(session, caller, cohort, prompt_id)
    if prompt.status in (PromptStatus.SCHEDULED, PromptStatus.CANCELLED):
        raise UserError(f"Prompt #{prompt.id} has not opened, so there is nothing to extend.")
    if prompt.released_at is not None:
        raise UserError(
            f"Marks for prompt #{prompt.id} were released; an extension can no longer change them."
        )
    person = await student_of(session, module, student)
    new_due = instant(until, "Until", cohort.timezone, now)
    if new_due <= prompt.closes_at:
        raise UserError(
            f"The extension must end after the prompt's close ({when(prompt.closes_at)})."
        )
    reason_text = (reason or "").strip()[:150] or "extension"
    previous = (
        (
            await session.execute(
                select(Extension).where(
                    Extension.prompt_id == prompt.id,
                    Extension.person_id == person.id,
                    Extension.status == ExtensionStatus.APPROVED,
                )
            )
        )
        .scalars()
        .all()
    )
    before = {"new_due_at": max((e.new_due_at for e in previous), default=None)}
    for old in previous:
        old.status = ExtensionStatus.DENIED  # superseded: one approved extension at a time
    session.add(
        Extension(
            person_id=person.id,
            prompt_id=prompt.id,
            new_due_at=new_due,
            reason_ref=f"{reason_text} (by {caller.person.display_name})"[:200],
            status=ExtensionStatus.APPROVED,
            requested_at=now,
            decided_by_id=caller.person.id,
            decided_at=now,
        )
    )
    # Posts already recorded are judged again against the new close.
    contributions = (
        (
            await session.execute(
                select(Contribution).where(
                    Contribution.prompt_id == prompt.id, Contribution.person_id == person.id
                )
            )
        )
        .scalars()
        .all()
    )
    close = max(new_due, prompt.closes_at)
    for contribution in contributions:
        contribution.late = contribution.created_at > close
    await audit_prompt(
        session,
        caller,
        prompt,
        module,
        "discussion_extension",
        subject_person_id=person.id,
        before=before,
        after={"new_due_at": new_due},
        reason=reason_text,
        at=now,
    )
    await session.flush()
    form = f"`/prompt answer prompt:{prompt.id}`"
    if prompt.status == PromptStatus.OPEN and not prompt.private_answers and now < prompt.closes_at:
        where = f"post in <#{prompt.thread_id}> until it closes, then use {form}"
    else:
        where = f"use {form}"
    notice = (
        f"You have an extension on {module.code} prompt #{prompt.id} “{prompt.title}”: "
        f"your posts until {when(new_due)} count as on time. To answer, {where}."
    )
    return ExtensionResult(
        prompt_info(prompt, module), person.display_name, person.platform_user_id, new_due, notice
    )
