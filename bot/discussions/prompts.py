"""Graded discussion prompts: what they look like to tutors, and creating, editing and closing them.

Shared lookups (a prompt by id, the caller's student record, a typed time) live here too; the
other command modules (extensions, grading, release, students) use them.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.access.permissions import Caller, in_cohort, module_by_code, require_staff
from bot.access.permissions import student_of as student_of  # the old import path
from bot.db.models import Cohort, DiscussionPrompt, Module, PromptStatus
from bot.discussions import scoring
from bot.discussions.lateness import rejudge_late
from bot.discussions.render import BODY_MAX_CHARS, TITLE_MAX_CHARS, when
from bot.discussions.rubric import Rubric, format_points, parse_rubric_spec
from bot.due import reached
from bot.errors import UserError
from bot.gradebook import audit
from bot.input_checks import require_length
from bot.timeparse import CalendarInputError, parse_instant, require_order, user_input

MAX_OPEN_DAYS = 366


@dataclass(frozen=True)
class PromptInfo:
    id: int
    module_code: str
    title: str
    status: PromptStatus
    opens_at: datetime
    closes_at: datetime
    rubric_name: str
    max_score: Decimal
    private_answers: bool
    thread_id: str | None
    released_at: datetime | None
    body: str = ""
    rubric_spec: str = ""
    blocked_reason: str | None = None

    @property
    def line(self) -> str:
        if self.status == PromptStatus.SCHEDULED and self.blocked_reason:
            state = f"blocked: {self.blocked_reason} (due {when(self.opens_at)})"
        else:
            state = self._state
        where = f" in <#{self.thread_id}>" if self.thread_id else ""
        private = ", answers private until posted" if self.private_answers else ""
        return (
            f"#{self.id} **{self.title}** ({self.module_code}): {state}{where}; "
            f"{self.rubric_name} rubric, {format_points(self.max_score)} points{private}"
        )

    @property
    def scheduled_text(self) -> str:
        """The answer to the tutor who just created it (every platform)."""
        return (
            f"Scheduled prompt #{self.id} “{self.title}” for {self.module_code}: it is "
            f"posted {when(self.opens_at)} and closes {when(self.closes_at)} "
            f"({self.rubric_name} rubric, {self.max_score.normalize():f} points)."
        )

    @property
    def _state(self) -> str:
        return {
            PromptStatus.SCHEDULED: f"opens {when(self.opens_at)}",
            PromptStatus.OPENING: "opening now",
            PromptStatus.OPEN: f"open, closes {when(self.closes_at)}",
            PromptStatus.CLOSING: "closing now",
            PromptStatus.CLOSED: "closed" + (", marks released" if self.released_at else ""),
            PromptStatus.CANCELLED: "cancelled",
        }[self.status]


def prompt_info(prompt: DiscussionPrompt, module: Module) -> PromptInfo:
    rubric = Rubric.from_dict(prompt.rubric)
    return PromptInfo(
        id=prompt.id,
        module_code=module.code,
        title=prompt.title,
        status=prompt.status,
        opens_at=prompt.opens_at,
        closes_at=prompt.closes_at,
        rubric_name=rubric.name,
        max_score=rubric.max_score,
        private_answers=prompt.private_answers,
        thread_id=prompt.thread_id,
        released_at=prompt.released_at,
        body=prompt.body,
        rubric_spec=_rubric_spec(rubric),
        blocked_reason=prompt.blocked_reason,
    )


def _rubric_spec(rubric: Rubric) -> str:
    """The rubric as a tutor would type it back (for the edit form)."""
    if rubric.name != "custom":
        return rubric.name
    data = rubric.to_dict()
    return " ".join(f"{k}={v}" for k, v in data.items() if k not in ("version", "name"))


# --------------------------------------------------------------------------- lookups


async def find_prompt(
    session: AsyncSession, cohort: Cohort, prompt_id: int
) -> tuple[DiscussionPrompt, Module]:
    missing = (
        f"There is no discussion prompt #{prompt_id} in this cohort; "
        "`/prompt list` shows a module's prompts."
    )
    return await in_cohort(session, DiscussionPrompt, prompt_id, cohort, missing)


async def staff_prompt(
    session: AsyncSession, caller: Caller, cohort: Cohort, prompt_id: int
) -> tuple[DiscussionPrompt, Module]:
    prompt, module = await find_prompt(session, cohort, prompt_id)
    require_staff(caller, module)
    return prompt, module


def instant(text: str, what: str, zone: str, now: datetime) -> datetime:
    """A time the tutor typed in field ``what``; a refusal names the field."""
    with user_input(what):
        return parse_instant(text, zone, now=now)


def _check_text(title: str, body: str | None) -> tuple[str, str | None]:
    title = require_length(
        " ".join(title.split()),
        TITLE_MAX_CHARS,
        empty="Give the prompt a title.",
        what="The title",
        why=" (it names the answers thread)",
    )
    if body is not None:
        body = require_length(
            body.strip(),
            BODY_MAX_CHARS,
            empty="The prompt text is empty; write the question students answer.",
            what="The prompt text",
            why=" (it is posted over at most three messages). Shorten it or link to a document",
        )
    return title, body


async def audit_prompt(
    session: AsyncSession,
    caller: Caller,
    prompt: DiscussionPrompt,
    module: Module,
    action: str,
    *,
    at: datetime,
    subject_person_id: int | None = None,
    before: Mapping[str, Any] | None = None,
    after: Mapping[str, Any] | None = None,
    reason: str | None = None,
) -> None:
    """One audit entry about a prompt: every discussion command names it the same way."""
    await audit.record(
        session,
        actor=caller.person,
        action=action,
        entity_type=scoring.ITEM_TYPE,
        entity_id=prompt.id,
        subject_person_id=subject_person_id,
        module_id=module.id,
        before=before,
        after=after,
        reason=reason,
        at=at,
    )


# --------------------------------------------------------------------------- create / edit


@dataclass(frozen=True)
class PromptDraft:
    module: Module
    title: str
    opens_at: datetime
    closes_at: datetime
    rubric: Rubric
    private_answers: bool


async def prepare_prompt(
    session: AsyncSession,
    caller: Caller,
    cohort: Cohort,
    *,
    module_code: str,
    title: str,
    opens: str,
    closes: str,
    rubric: str | None,
    private_answers: bool,
    now: datetime,
) -> PromptDraft:
    """Check everything but the text (before the tutor spends time typing it in the form)."""
    module = await module_by_code(session, cohort.id, module_code)
    require_staff(caller, module)
    if module.channel_id is None:
        raise UserError(
            f"{module.code} has no channel on this server (looked for "
            f"#{module.channel_name or module.code.lower()}), so a prompt could not be posted; "
            "create the channel or fix the programme file first."
        )
    title, _ = _check_text(title, None)
    opens_at = instant(opens, "Opens", cohort.timezone, now)
    closes_at = instant(closes, "Closes", cohort.timezone, now)
    try:
        require_order(opens_at, closes_at)
    except CalendarInputError:
        raise UserError(
            f"The prompt must close after it opens: it opens {when(opens_at)} but closes "
            f"{when(closes_at)}."
        ) from None
    if closes_at - opens_at > timedelta(days=MAX_OPEN_DAYS):
        raise UserError(f"A prompt can stay open at most {MAX_OPEN_DAYS} days.")
    parsed = parse_rubric_spec(rubric)
    return PromptDraft(module, title, opens_at, closes_at, parsed, private_answers)


async def create_prompt(
    session: AsyncSession,
    caller: Caller,
    cohort: Cohort,
    *,
    module_code: str,
    title: str,
    body: str,
    opens: str,
    closes: str,
    rubric: str | None,
    private_answers: bool,
    now: datetime,
) -> PromptInfo:
    draft = await prepare_prompt(
        session,
        caller,
        cohort,
        module_code=module_code,
        title=title,
        opens=opens,
        closes=closes,
        rubric=rubric,
        private_answers=private_answers,
        now=now,
    )
    _, checked_body = _check_text(title, body)
    assert checked_body is not None
    prompt = DiscussionPrompt(
        module_id=draft.module.id,
        title=draft.title,
        body=checked_body,
        opens_at=draft.opens_at,
        closes_at=draft.closes_at,
        rubric=draft.rubric.to_dict(),
        private_answers=draft.private_answers,
        status=PromptStatus.SCHEDULED,
        created_by_id=caller.person.id,
        created_at=now,
    )
    session.add(prompt)
    await session.flush()
    return prompt_info(prompt, draft.module)


async def list_prompts(
    session: AsyncSession, caller: Caller, cohort: Cohort, *, module_code: str
) -> list[PromptInfo]:
    module = await module_by_code(session, cohort.id, module_code)
    require_staff(caller, module)
    prompts = (
        await session.scalars(
            select(DiscussionPrompt)
            .where(DiscussionPrompt.module_id == module.id)
            .order_by(DiscussionPrompt.opens_at, DiscussionPrompt.id)
        )
    ).all()
    return [prompt_info(p, module) for p in prompts]


async def prompt_for_edit(
    session: AsyncSession, caller: Caller, cohort: Cohort, prompt_id: int
) -> PromptInfo:
    prompt, module = await staff_prompt(session, caller, cohort, prompt_id)
    _require_scheduled(prompt)
    return prompt_info(prompt, module)


def _require_scheduled(prompt: DiscussionPrompt) -> None:
    if prompt.status != PromptStatus.SCHEDULED:
        raise UserError(
            f"Prompt #{prompt.id} has already opened, so it can no longer be edited "
            "(students may have answered it)."
        )


async def edit_prompt(
    session: AsyncSession,
    caller: Caller,
    cohort: Cohort,
    prompt_id: int,
    *,
    title: str | None = None,
    body: str | None = None,
    opens: str | None = None,
    closes: str | None = None,
    rubric: str | None = None,
    private_answers: bool | None = None,
    now: datetime,
) -> PromptInfo:
    """Change a prompt that has not opened yet; only the given fields change."""
    prompt, module = await staff_prompt(session, caller, cohort, prompt_id)
    _require_scheduled(prompt)
    new_title, new_body = _check_text(title or prompt.title, body)
    opens_at = instant(opens, "Opens", cohort.timezone, now) if opens else prompt.opens_at
    closes_at = instant(closes, "Closes", cohort.timezone, now) if closes else prompt.closes_at
    if opens_at < now:
        raise UserError(f"The opening time {when(opens_at)} has passed; give a later one.")
    if closes_at <= opens_at:
        raise UserError(
            f"The prompt must close after it opens: it opens {when(opens_at)} but closes "
            f"{when(closes_at)}."
        )
    new_rubric = parse_rubric_spec(rubric).to_dict() if rubric else prompt.rubric
    prompt.title = new_title
    if new_body is not None:
        prompt.body = new_body
    prompt.opens_at = opens_at
    prompt.closes_at = closes_at
    prompt.rubric = new_rubric
    if private_answers is not None:
        prompt.private_answers = private_answers
    await session.flush()
    return prompt_info(prompt, module)


async def close_early(
    session: AsyncSession, caller: Caller, cohort: Cohort, prompt_id: int, *, now: datetime
) -> PromptInfo:
    """Move the close to now; the scheduled work locks the thread and posts the summary."""
    prompt, module = await staff_prompt(session, caller, cohort, prompt_id)
    if prompt.status == PromptStatus.SCHEDULED:
        raise UserError(
            f"Prompt #{prompt.id} has not opened yet; change its times with `/prompt edit`."
        )
    if prompt.status != PromptStatus.OPEN or reached(prompt.closes_at, now):
        raise UserError(f"Prompt #{prompt.id} is already closed.")
    before = prompt.closes_at
    prompt.closes_at = max(now, prompt.opens_at + timedelta(seconds=1))
    await rejudge_late(session, prompt)
    await audit_prompt(
        session,
        caller,
        prompt,
        module,
        "discussion_closed_early",
        before={"closes_at": before},
        after={"closes_at": prompt.closes_at},
        at=now,
    )
    await session.flush()
    return prompt_info(prompt, module)
