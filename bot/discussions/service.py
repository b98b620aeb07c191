"""Graded discussion prompts: what tutors and students ask of them, as plain async functions.

Each function takes the command's session (one transaction: a refusal rolls everything back),
the resolved caller, the cohort and ``now`` from the bot's clock; it checks permissions against
the roster first, then input, then writes, and returns plain dataclasses for the adapter to
render. Scheduled work (opening, closing, release messages) is in ``bot.discussions.due``.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal, InvalidOperation

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.access.identity import ChatUser, resolve_person
from bot.access.permissions import Caller, module_by_code, require_staff, require_student
from bot.calendar.timeparse import CalendarInputError, parse_instant, require_order
from bot.db.models import (
    Cohort,
    Contribution,
    DiscussionPrompt,
    DiscussionScore,
    Enrolment,
    Extension,
    ExtensionStatus,
    MarkRelease,
    Module,
    Person,
    PromptStatus,
    Role,
)
from bot.db.ops import insert_ignore
from bot.delivery import Delivery, Missed, reason_of
from bot.discussions import scoring
from bot.discussions.answers import ANSWER_MAX_CHARS, format_relayed
from bot.discussions.grades_csv import MAX_CSV_BYTES, MAX_FEEDBACK_CHARS, parse_grades_csv
from bot.discussions.recording import load_close_times
from bot.discussions.render import BODY_MAX_CHARS, TITLE_MAX_CHARS, when
from bot.discussions.rubric import (
    Rubric,
    RubricError,
    check_quality_points,
    format_points,
    parse_rubric_spec,
)
from bot.discussions.text import DISCORD_MESSAGE_LIMIT
from bot.errors import NotFound, UserError
from bot.gradebook import audit

__all__ = [
    "AnswerPlan",
    "GradeResult",
    "MyScore",
    "PromptInfo",
    "ScoreRow",
    "ScoreTable",
    "begin_answer",
    "close_early",
    "create_prompt",
    "edit_prompt",
    "grade",
    "grade_csv",
    "grant_extension",
    "list_prompts",
    "my_scores",
    "prepare_prompt",
    "prompt_for_edit",
    "release",
    "score_table",
    "submit_answer",
]

MAX_OPEN_DAYS = 366
_MESSAGE_LINK = re.compile(r"(?:/channels/\d+/\d+/)?(\d{5,25})/?\s*$")


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
    def _state(self) -> str:
        return {
            PromptStatus.SCHEDULED: f"opens {when(self.opens_at)}",
            PromptStatus.OPENING: "opening now",
            PromptStatus.OPEN: f"open, closes {when(self.closes_at)}",
            PromptStatus.CLOSING: "closing now",
            PromptStatus.CLOSED: "closed" + (", marks released" if self.released_at else ""),
            PromptStatus.CANCELLED: "cancelled",
        }[self.status]


def _info(prompt: DiscussionPrompt, module: Module) -> PromptInfo:
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


async def _prompt(
    session: AsyncSession, cohort: Cohort, prompt_id: int
) -> tuple[DiscussionPrompt, Module]:
    prompt = await session.get(DiscussionPrompt, prompt_id)
    module = await session.get(Module, prompt.module_id) if prompt is not None else None
    if prompt is None or module is None or module.cohort_id != cohort.id:
        raise NotFound(
            f"There is no discussion prompt #{prompt_id} in this cohort; "
            "`/prompt list` shows a module's prompts."
        )
    return prompt, module


async def _staff_prompt(
    session: AsyncSession, caller: Caller, cohort: Cohort, prompt_id: int
) -> tuple[DiscussionPrompt, Module]:
    prompt, module = await _prompt(session, cohort, prompt_id)
    require_staff(caller, module)
    return prompt, module


async def _student_of(session: AsyncSession, module: Module, user: ChatUser) -> Person:
    person = await resolve_person(session, user)
    role = None
    if person is not None:
        role = (
            await session.execute(
                select(Enrolment.role).where(
                    Enrolment.module_id == module.id, Enrolment.person_id == person.id
                )
            )
        ).scalar_one_or_none()
    if person is None or role != Role.STUDENT:
        raise NotFound(f"{user.display_name} is not a student of {module.code} on the roster.")
    return person


def _instant(text: str, what: str, zone: str, now: datetime) -> datetime:
    try:
        return parse_instant(text, zone, now=now)
    except CalendarInputError as exc:
        raise UserError(f"{what}: {exc}") from None


def _check_text(title: str, body: str | None) -> tuple[str, str | None]:
    title = " ".join(title.split())
    if not title:
        raise UserError("Give the prompt a title.")
    if len(title) > TITLE_MAX_CHARS:
        raise UserError(
            f"The title is {len(title)} characters; the limit is {TITLE_MAX_CHARS} "
            "(it names the answers thread)."
        )
    if body is not None:
        body = body.strip()
        if not body:
            raise UserError("The prompt text is empty; write the question students answer.")
        if len(body) > BODY_MAX_CHARS:
            raise UserError(
                f"The prompt text is {len(body)} characters; the limit is {BODY_MAX_CHARS:,} "
                "(it is posted over at most three messages). Shorten it or link to a document."
            )
    return title, body


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
    opens_at = _instant(opens, "Opens", cohort.timezone, now)
    closes_at = _instant(closes, "Closes", cohort.timezone, now)
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
    return _info(prompt, draft.module)


async def list_prompts(
    session: AsyncSession, caller: Caller, cohort: Cohort, *, module_code: str
) -> list[PromptInfo]:
    module = await module_by_code(session, cohort.id, module_code)
    require_staff(caller, module)
    prompts = (
        (
            await session.execute(
                select(DiscussionPrompt)
                .where(DiscussionPrompt.module_id == module.id)
                .order_by(DiscussionPrompt.opens_at, DiscussionPrompt.id)
            )
        )
        .scalars()
        .all()
    )
    return [_info(p, module) for p in prompts]


async def prompt_for_edit(
    session: AsyncSession, caller: Caller, cohort: Cohort, prompt_id: int
) -> PromptInfo:
    prompt, module = await _staff_prompt(session, caller, cohort, prompt_id)
    _require_scheduled(prompt)
    return _info(prompt, module)


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
    prompt, module = await _staff_prompt(session, caller, cohort, prompt_id)
    _require_scheduled(prompt)
    new_title, new_body = _check_text(title or prompt.title, body)
    opens_at = _instant(opens, "Opens", cohort.timezone, now) if opens else prompt.opens_at
    closes_at = _instant(closes, "Closes", cohort.timezone, now) if closes else prompt.closes_at
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
    return _info(prompt, module)


async def close_early(
    session: AsyncSession, caller: Caller, cohort: Cohort, prompt_id: int, *, now: datetime
) -> PromptInfo:
    """Move the close to now; the scheduled work locks the thread and posts the summary."""
    prompt, module = await _staff_prompt(session, caller, cohort, prompt_id)
    if prompt.status == PromptStatus.SCHEDULED:
        raise UserError(
            f"Prompt #{prompt.id} has not opened yet; change its times with `/prompt edit`."
        )
    if prompt.status != PromptStatus.OPEN or prompt.closes_at <= now:
        raise UserError(f"Prompt #{prompt.id} is already closed.")
    before = prompt.closes_at
    prompt.closes_at = max(now, prompt.opens_at + timedelta(seconds=1))
    await _rejudge_late(session, prompt)
    await audit.record(
        session,
        actor=caller.person,
        action="discussion_closed_early",
        entity_type=scoring.ITEM_TYPE,
        entity_id=prompt.id,
        module_id=module.id,
        before={"closes_at": before},
        after={"closes_at": prompt.closes_at},
        at=now,
    )
    await session.flush()
    return _info(prompt, module)


async def _rejudge_late(session: AsyncSession, prompt: DiscussionPrompt) -> None:
    """Set every recorded post's late flag against the prompt's close and extensions now."""
    times = await load_close_times(session, [prompt.id])
    times.closes[prompt.id] = prompt.closes_at
    contributions = (
        (await session.execute(select(Contribution).where(Contribution.prompt_id == prompt.id)))
        .scalars()
        .all()
    )
    for contribution in contributions:
        close = prompt.closes_at
        if contribution.person_id is not None:
            extended = times.extensions.get((prompt.id, contribution.person_id))
            if extended is not None and extended > close:
                close = extended
        contribution.late = contribution.created_at > close


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
    prompt, module = await _staff_prompt(session, caller, cohort, prompt_id)
    if prompt.status in (PromptStatus.SCHEDULED, PromptStatus.CANCELLED):
        raise UserError(f"Prompt #{prompt.id} has not opened, so there is nothing to extend.")
    if prompt.released_at is not None:
        raise UserError(
            f"Marks for prompt #{prompt.id} were released; an extension can no longer change them."
        )
    person = await _student_of(session, module, student)
    new_due = _instant(until, "Until", cohort.timezone, now)
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
    await audit.record(
        session,
        actor=caller.person,
        action="discussion_extension",
        entity_type=scoring.ITEM_TYPE,
        entity_id=prompt.id,
        subject_person_id=person.id,
        module_id=module.id,
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
        _info(prompt, module), person.display_name, person.platform_user_id, new_due, notice
    )


# --------------------------------------------------------------------------- grading


@dataclass(frozen=True)
class GradeResult:
    prompt: PromptInfo
    student_name: str
    quality: Decimal | None
    feedback: str | None
    summary: str
    released: bool


def _parse_quality(text: str | None, rubric: Rubric) -> Decimal | None:
    if text is None or not text.strip():
        return None
    try:
        value = Decimal(text.strip())
    except InvalidOperation:
        raise RubricError(
            f"Quality points must be a number from 0 to {format_points(rubric.quality_max)}, "
            f"not {text.strip()[:20]!r}."
        ) from None
    return check_quality_points(rubric, value)


async def _apply_grade(
    session: AsyncSession,
    caller: Caller,
    prompt: DiscussionPrompt,
    module: Module,
    person: Person,
    quality: Decimal | None,
    feedback: str | None,
    *,
    reason: str,
    now: datetime,
) -> bool:
    """Store one student's quality and/or feedback, audited; returns whether anything changed."""
    row = (
        await session.execute(
            select(DiscussionScore).where(
                DiscussionScore.prompt_id == prompt.id, DiscussionScore.person_id == person.id
            )
        )
    ).scalar_one_or_none()
    if row is None:
        row = DiscussionScore(prompt_id=prompt.id, person_id=person.id, updated_at=now)
        session.add(row)
    before = {"quality_points": row.quality_points, "feedback": row.feedback}
    new_quality = quality if quality is not None else row.quality_points
    new_feedback = feedback if feedback is not None else row.feedback
    if new_quality == row.quality_points and new_feedback == row.feedback and row.id is not None:
        return False
    row.quality_points = new_quality
    row.feedback = new_feedback
    row.graded_by_id = caller.person.id
    row.updated_at = now
    await session.flush()
    await audit.record(
        session,
        actor=caller.person,
        action="discussion_quality",
        entity_type=scoring.ITEM_TYPE,
        entity_id=prompt.id,
        subject_person_id=person.id,
        module_id=module.id,
        before=before,
        after={"quality_points": new_quality, "feedback": new_feedback},
        reason=reason,
        at=now,
    )
    return True


async def _after_released_change(
    session: AsyncSession, prompt: DiscussionPrompt, person_ids: Sequence[int], now: datetime
) -> None:
    """A released mark changed: store it, correct the ledger, and tell the student again."""
    evidence = await scoring.load_evidence(session, prompt)
    scores = scoring.score_all(evidence, with_quality=True, person_ids=person_ids)
    for person_id, score in scores.items():
        row = evidence.scores.get(person_id)
        if row is None:
            continue
        row.score = score.score
        row.explanation = score.explanation
        row.notify_claimed_at = None
        row.notified_at = None
        row.notify_error = None
    await scoring.sync_ledger(session, prompt, scores, now=now)
    await session.flush()


async def grade(
    session: AsyncSession,
    caller: Caller,
    cohort: Cohort,
    prompt_id: int,
    *,
    student: ChatUser,
    quality: str | None,
    feedback: str | None,
    now: datetime,
) -> GradeResult:
    prompt, module = await _staff_prompt(session, caller, cohort, prompt_id)
    _require_opened(prompt)
    rubric = Rubric.from_dict(prompt.rubric)
    person = await _student_of(session, module, student)
    points = _parse_quality(quality, rubric)
    text = (feedback or "").strip() or None
    if points is None and text is None:
        raise UserError("Give quality points, feedback, or both.")
    if text is not None and len(text) > MAX_FEEDBACK_CHARS:
        raise UserError(
            f"The feedback is {len(text)} characters; the limit is {MAX_FEEDBACK_CHARS}."
        )
    await _apply_grade(
        session, caller, prompt, module, person, points, text, reason="/prompt grade", now=now
    )
    released = prompt.released_at is not None
    if released:
        await _after_released_change(session, prompt, [person.id], now)
    evidence = await scoring.load_evidence(session, prompt)
    score = scoring.score_all(evidence, with_quality=True, person_ids=[person.id])[person.id]
    stored = evidence.scores[person.id]
    return GradeResult(
        _info(prompt, module),
        person.display_name,
        stored.quality_points,
        stored.feedback,
        score.summary,
        released,
    )


def _require_opened(prompt: DiscussionPrompt) -> None:
    if prompt.status in (PromptStatus.SCHEDULED, PromptStatus.CANCELLED):
        raise UserError(f"Prompt #{prompt.id} has not opened yet, so there is nothing to grade.")


@dataclass(frozen=True)
class GradeCsvResult:
    prompt: PromptInfo
    changed: int
    unchanged: int
    released: bool


async def grade_csv(
    session: AsyncSession,
    caller: Caller,
    cohort: Cohort,
    prompt_id: int,
    *,
    data: bytes | Callable[[], Awaitable[bytes | None]] | None,
    filename: str,
    now: datetime,
) -> GradeCsvResult:
    """Quality and feedback for many students from one CSV: all rows or none.

    ``data`` is None when the attachment was too large to fetch; it may be a download to start
    only once the caller is known to be the prompt's staff (a student's file is never fetched).
    """
    prompt, module = await _staff_prompt(session, caller, cohort, prompt_id)
    _require_opened(prompt)
    if not filename.lower().endswith((".csv", ".txt")):
        raise UserError(f"Attach a .csv file (got {filename[:60]!r}).")
    if callable(data):
        data = await data()
    if data is None:
        raise UserError(
            f"The file is over {MAX_CSV_BYTES // 1000} kB; a grades CSV is far smaller."
        )
    rubric = Rubric.from_dict(prompt.rubric)
    parsed = parse_grades_csv(data)
    errors = list(parsed.errors)
    students = await _module_students(session, module)
    resolved: list[tuple[Person, Decimal | None, str | None, int]] = []
    for row in parsed.rows:
        person = _match_student(students, row.id_column, row.identifier)
        if person is None:
            errors.append(f"line {row.line}: no student {row.identifier!r} in {module.code}")
            continue
        try:
            points = check_quality_points(rubric, row.quality) if row.quality is not None else None
        except RubricError as exc:
            errors.append(f"line {row.line}: {exc.sentence[0].lower()}{exc.sentence[1:-1]}")
            continue
        resolved.append((person, points, row.feedback, row.line))
    if errors:
        shown = "; ".join(errors[:12]) + (
            f"; and {len(errors) - 12} more" if len(errors) > 12 else ""
        )
        text = f"Nothing was saved; fix the file and upload it again: {shown}."
        raise UserError(text[: DISCORD_MESSAGE_LIMIT - 10])
    changed = 0
    for person, points, feedback, line in resolved:
        if await _apply_grade(
            session,
            caller,
            prompt,
            module,
            person,
            points,
            feedback,
            reason=f"/prompt grade-csv {filename[:80]} line {line}",
            now=now,
        ):
            changed += 1
    released = prompt.released_at is not None
    if released and changed:
        await _after_released_change(session, prompt, [p.id for p, *_ in resolved], now)
    return GradeCsvResult(_info(prompt, module), changed, len(resolved) - changed, released)


async def _module_students(session: AsyncSession, module: Module) -> list[Person]:
    return list(
        (
            await session.execute(
                select(Person)
                .join(Enrolment, Enrolment.person_id == Person.id)
                .where(Enrolment.module_id == module.id, Enrolment.role == Role.STUDENT)
            )
        )
        .scalars()
        .all()
    )


def _match_student(students: Sequence[Person], column: str, identifier: str) -> Person | None:
    key = identifier.strip().lower().lstrip("@")
    for person in students:
        if column == "student_number" and (person.student_number or "").lower() == key:
            return person
        if column == "email" and (person.email or "").lower() == key:
            return person
        if column == "discord" and key in (
            (person.platform_username or "").lower(),
            person.platform_user_id or "",
        ):
            return person
    return None


# --------------------------------------------------------------------------- tables


@dataclass(frozen=True)
class ScoreRow:
    person_id: int
    name: str
    student_number: str | None
    username: str | None
    score: Decimal
    max_score: Decimal
    explanation: str
    quality: Decimal | None
    feedback: str | None
    notified: str

    @property
    def line(self) -> str:
        return f"**{self.name}** {format_points(self.score)}/{format_points(self.max_score)}: " + (
            self.explanation
        )


@dataclass(frozen=True)
class ScoreTable:
    prompt: PromptInfo
    rows: list[ScoreRow]
    csv_name: str
    csv_data: bytes = field(repr=False)


async def score_table(
    session: AsyncSession, caller: Caller, cohort: Cohort, prompt_id: int, *, now: datetime
) -> ScoreTable:
    """Every student's provisional score with quality (tutors see it before release)."""
    prompt, module = await _staff_prompt(session, caller, cohort, prompt_id)
    _require_opened(prompt)
    evidence = await scoring.load_evidence(session, prompt)
    posted = {c.person_id for c in evidence.contributions if c.person_id is not None}
    wanted = [pid for pid, s in evidence.students.items() if s.active or pid in posted]
    scores = scoring.score_all(evidence, with_quality=True, person_ids=wanted)
    rows: list[ScoreRow] = []
    for person_id in wanted:
        person = evidence.students[person_id].person
        score = scores[person_id]
        stored = evidence.scores.get(person_id)
        notified = ""
        if stored is not None and prompt.released_at is not None:
            if stored.notified_at is not None:
                notified = "told " + (
                    "(DM failed: " + stored.notify_error + ")"
                    if stored.notify_error
                    else "privately"
                )
            else:
                notified = "pending"
        rows.append(
            ScoreRow(
                person_id=person_id,
                name=person.display_name,
                student_number=person.student_number,
                username=person.platform_username,
                score=score.score,
                max_score=score.max_score,
                explanation=score.explanation,
                quality=stored.quality_points if stored else None,
                feedback=stored.feedback if stored else None,
                notified=notified,
            )
        )
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(
        [
            "student_number",
            "name",
            "discord",
            "score",
            "max",
            "quality_points",
            "feedback",
            "explanation",
        ]
    )
    for r in rows:
        writer.writerow(
            [
                r.student_number or "",
                r.name,
                r.username or "",
                format_points(r.score),
                format_points(r.max_score),
                "" if r.quality is None else format_points(r.quality),
                r.feedback or "",
                r.explanation,
            ]
        )
    return ScoreTable(
        _info(prompt, module), rows, f"prompt-{prompt.id}-scores.csv", out.getvalue().encode()
    )


# --------------------------------------------------------------------------- release


@dataclass(frozen=True)
class ReleaseResult:
    prompt: PromptInfo
    students: int


async def release(
    session: AsyncSession, caller: Caller, cohort: Cohort, prompt_id: int, *, now: datetime
) -> ReleaseResult:
    """Make the marks visible: store them, credit the ledger; the due work tells each student."""
    prompt, module = await _staff_prompt(session, caller, cohort, prompt_id)
    if prompt.status in (PromptStatus.SCHEDULED, PromptStatus.CANCELLED):
        raise UserError(f"Prompt #{prompt.id} has not opened yet; there are no marks to release.")
    if prompt.status != PromptStatus.CLOSED:
        raise UserError(
            f"Prompt #{prompt.id} is still open until {when(prompt.closes_at)}; "
            "close it first with `/prompt close`."
        )
    if prompt.released_at is not None:
        raise UserError(
            f"Marks for prompt #{prompt.id} were already released {when(prompt.released_at)}; "
            "later grade changes reach students on their own."
        )
    evidence = await scoring.load_evidence(session, prompt)
    running = sorted(
        (due, pid)
        for pid, due in evidence.extensions.items()
        if due > now and due > prompt.closes_at
    )
    if running:
        due, pid = running[-1]
        name = evidence.students[pid].person.display_name if pid in evidence.students else "A"
        raise UserError(
            f"{name}'s extension runs until {when(due)}; release the marks after it ends."
        )
    posted = {c.person_id for c in evidence.contributions if c.person_id is not None}
    wanted = [pid for pid, s in evidence.students.items() if s.active or pid in posted]
    scores = scoring.score_all(evidence, with_quality=True, person_ids=wanted)
    for person_id, score in scores.items():
        row = evidence.scores.get(person_id)
        if row is None:
            row = DiscussionScore(prompt_id=prompt.id, person_id=person_id)
            session.add(row)
        row.score = score.score
        row.explanation = score.explanation
        row.updated_at = now
        row.notify_claimed_at = None
        row.notified_at = None
        row.notify_error = None
    prompt.released_at = now
    await insert_ignore(
        session,
        MarkRelease,
        [
            {
                "module_id": module.id,
                "item_type": scoring.ITEM_TYPE,
                "item_id": prompt.id,
                "released_at": now,
                "released_by_id": caller.person.id,
            }
        ],
        conflict=["module_id", "item_type", "item_id"],
    )
    await scoring.sync_ledger(session, prompt, scores, now=now)
    await audit.record(
        session,
        actor=caller.person,
        action="discussion_released",
        entity_type=scoring.ITEM_TYPE,
        entity_id=prompt.id,
        module_id=module.id,
        after={str(pid): s.score for pid, s in scores.items()},
        at=now,
    )
    await session.flush()
    return ReleaseResult(_info(prompt, module), len(scores))


async def release_delivery(session: AsyncSession, prompt_id: int) -> Delivery:
    """Who has been told their released mark, as the mark messages recorded it."""
    rows = await session.execute(
        select(Person.display_name, DiscussionScore.notified_at, DiscussionScore.notify_error)
        .join(Person, Person.id == DiscussionScore.person_id)
        .where(DiscussionScore.prompt_id == prompt_id)
    )
    told, pending, missed = 0, 0, []
    for name, notified_at, error in rows.all():
        if notified_at is None:
            pending += 1
        elif error:
            missed.append(Missed(name, reason_of(error)))
        else:
            told += 1
    return Delivery(told, tuple(missed), pending)


# --------------------------------------------------------------------------- students


@dataclass(frozen=True)
class MyScore:
    prompt: PromptInfo
    summary: str
    released: bool
    feedback: str | None
    extension_until: datetime | None


@dataclass(frozen=True)
class MyScores:
    rows: list[MyScore]
    note: str | None = None


async def my_scores(
    session: AsyncSession,
    caller: Caller,
    cohort: Cohort,
    *,
    prompt_id: int | None,
    now: datetime,
) -> MyScores:
    """The caller's own provisional scores and why; quality and feedback once released."""
    if prompt_id is not None:
        prompt, module = await _prompt(session, cohort, prompt_id)
        if not caller.is_student_in(module.id):
            if caller.is_staff_for(module.id):
                return MyScores([], f"You teach {module.code}; `/prompt scores` shows the table.")
            require_student(caller, module)
        prompts = [(prompt, module)]
    else:
        student_modules = [m for m, r in caller.roles.items() if r == Role.STUDENT]
        if not student_modules:
            return MyScores(
                [], "You are not a student in any module, so there are no scores to show."
            )
        rows = await session.execute(
            select(DiscussionPrompt, Module)
            .join(Module, Module.id == DiscussionPrompt.module_id)
            .where(
                DiscussionPrompt.module_id.in_(student_modules),
                DiscussionPrompt.status.in_(
                    [PromptStatus.OPEN, PromptStatus.CLOSING, PromptStatus.CLOSED]
                ),
            )
            .order_by(DiscussionPrompt.opens_at, DiscussionPrompt.id)
        )
        prompts = [(p, m) for p, m in rows.all()]
    result: list[MyScore] = []
    for prompt, module in prompts:
        if prompt.status in (PromptStatus.SCHEDULED, PromptStatus.CANCELLED):
            continue
        evidence = await scoring.load_evidence(session, prompt)
        released = prompt.released_at is not None
        me = caller.person.id
        score = scoring.score_all(evidence, with_quality=released, person_ids=[me])[me]
        stored = evidence.scores.get(me)
        result.append(
            MyScore(
                _info(prompt, module),
                score.summary,
                released,
                stored.feedback if stored is not None and released else None,
                evidence.extensions.get(me),
            )
        )
    if not result:
        return MyScores([], "No discussion prompt of yours has opened yet.")
    return MyScores(result)


@dataclass(frozen=True)
class AnswerPlan:
    prompt_id: int
    thread_id: str
    messages: list[str]
    add_member: str | None
    late: bool
    note: str


async def _answer_target(
    session: AsyncSession, caller: Caller, cohort: Cohort, prompt_id: int, now: datetime
) -> tuple[DiscussionPrompt, Module, bool]:
    """Whether the caller may answer now through the form, and if so whether it is late."""
    prompt, module = await _prompt(session, cohort, prompt_id)
    require_student(caller, module)
    if prompt.status in (PromptStatus.SCHEDULED, PromptStatus.OPENING):
        raise UserError(f"Prompt #{prompt.id} opens {when(prompt.opens_at)}.")
    if prompt.status == PromptStatus.CANCELLED or prompt.thread_id is None:
        raise UserError(f"Prompt #{prompt.id} is not taking answers.")
    extension = (
        await session.execute(
            select(func.max(Extension.new_due_at)).where(
                Extension.prompt_id == prompt.id,
                Extension.person_id == caller.person.id,
                Extension.status == ExtensionStatus.APPROVED,
            )
        )
    ).scalar_one_or_none()
    close = max(prompt.closes_at, extension) if extension is not None else prompt.closes_at
    late = now > close
    thread_open = prompt.status == PromptStatus.OPEN and now <= prompt.closes_at
    if thread_open and not prompt.private_answers:
        raise UserError(f"Post your answer in the prompt's thread <#{prompt.thread_id}>.")
    if late:
        if prompt.released_at is not None:
            raise UserError(
                f"Marks for prompt #{prompt.id} have been released; answers are no longer taken."
            )
        if Rubric.from_dict(prompt.rubric).late_policy == "not_counted":
            raise UserError(
                f"Prompt #{prompt.id} closed {when(close)}, and late posts are not counted "
                "under its rubric; ask your tutor about an extension."
            )
    return prompt, module, late


async def begin_answer(
    session: AsyncSession, caller: Caller, cohort: Cohort, prompt_id: int, *, now: datetime
) -> PromptInfo:
    """Check before showing the answer form, so nobody types an answer that will be refused."""
    prompt, module, _ = await _answer_target(session, caller, cohort, prompt_id, now)
    return _info(prompt, module)


async def submit_answer(
    session: AsyncSession,
    caller: Caller,
    cohort: Cohort,
    prompt_id: int,
    *,
    text: str,
    reply_to: str | None,
    now: datetime,
) -> AnswerPlan:
    """What to post for a student's answer form; the adapter posts it and adds them."""
    prompt, _, late = await _answer_target(session, caller, cohort, prompt_id, now)
    body = text.strip()
    if not body:
        raise UserError("Your answer is empty.")
    if len(body) > ANSWER_MAX_CHARS:
        raise UserError(
            f"Your answer is {len(body)} characters; the limit is {ANSWER_MAX_CHARS:,}."
        )
    link = None
    if reply_to and reply_to.strip():
        match = _MESSAGE_LINK.search(reply_to.strip())
        parent = None
        if match is not None:
            parent = (
                await session.execute(
                    select(Contribution).where(
                        Contribution.message_id == match.group(1),
                        Contribution.prompt_id == prompt.id,
                        Contribution.deleted_at.is_(None),
                    )
                )
            ).scalar_one_or_none()
        if parent is None or parent.person_id == caller.person.id:
            raise UserError(
                "“Replying to” must be the link (or id) of a classmate's post in this prompt's "
                "thread; leave it empty for your own answer."
            )
        link = (
            f"https://discord.com/channels/{cohort.guild_id}/{prompt.thread_id}/{parent.message_id}"
        )
    user_id = caller.person.platform_user_id
    assert user_id is not None  # the caller acted through the platform, so it is linked
    assert prompt.thread_id is not None
    messages = format_relayed(user_id, body, reply_link=link)
    if late:
        note = (
            f"Your answer to prompt #{prompt.id} is posted in <#{prompt.thread_id}>; it is late, "
            "so it earns points under the late policy shown with the prompt."
        )
    elif prompt.private_answers:
        note = (
            f"Your answer to prompt #{prompt.id} is posted. You can now read and reply to the "
            f"others in <#{prompt.thread_id}>."
        )
    else:
        note = f"Your answer to prompt #{prompt.id} is posted in <#{prompt.thread_id}>."
    return AnswerPlan(
        prompt.id,
        prompt.thread_id,
        messages,
        user_id if prompt.private_answers else None,
        late,
        note,
    )
