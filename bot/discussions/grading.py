"""Grading discussion posts (one student, or a CSV for the module) and the tutor's score table."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal, InvalidOperation

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.access.identity import ChatUser
from bot.access.permissions import Caller
from bot.csv_output import csv_text
from bot.db.models import (
    Cohort,
    DiscussionPrompt,
    DiscussionScore,
    Enrolment,
    Module,
    Person,
    PromptStatus,
    Role,
)
from bot.delivery import DISCORD, NOT_LINKED, Platform, reason_of
from bot.discussions import scoring
from bot.discussions.grades_csv import MAX_CSV_BYTES, MAX_FEEDBACK_CHARS, parse_grades_csv
from bot.discussions.prompts import PromptInfo, audit_prompt, prompt_info, staff_prompt, student_of
from bot.discussions.rubric import Rubric, RubricError, check_quality_points, format_points
from bot.errors import UserError, shown
from bot.text import DISCORD_MESSAGE_LIMIT

# --------------------------------------------------------------------------- grading


@dataclass(frozen=True)
class GradeResult:
    prompt: PromptInfo
    student_name: str
    quality: Decimal | None
    feedback: str | None
    summary: str
    released: bool

    @property
    def reply(self) -> str:
        """The tutor's answer on every platform."""
        after = " The student is told of the change privately." if self.released else ""
        return f"{self.student_name} on prompt #{self.prompt.id}: {self.summary}." + after


def _parse_quality(text: str | None, rubric: Rubric) -> Decimal | None:
    if text is None or not text.strip():
        return None
    try:
        value = Decimal(text.strip())
    except InvalidOperation:
        raise RubricError(
            f"Quality points must be a number from 0 to {format_points(rubric.quality_max)}, "
            f"not {shown(text, 20)}."
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
    await audit_prompt(
        session,
        caller,
        prompt,
        module,
        "discussion_quality",
        subject_person_id=person.id,
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
    prompt, module = await staff_prompt(session, caller, cohort, prompt_id)
    _require_opened(prompt)
    rubric = Rubric.from_dict(prompt.rubric)
    person = await student_of(session, module, student)
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
        prompt_info(prompt, module),
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


async def begin_grade_csv(
    session: AsyncSession, caller: Caller, cohort: Cohort, prompt_id: int
) -> tuple[DiscussionPrompt, Module]:
    """May the caller grade this prompt from a CSV now? Asked before any file is looked at,
    so a student is told the command is for tutors, not what is wrong with their link."""
    prompt, module = await staff_prompt(session, caller, cohort, prompt_id)
    _require_opened(prompt)
    return prompt, module


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
    prompt, module = await begin_grade_csv(session, caller, cohort, prompt_id)
    if not filename.lower().endswith((".csv", ".txt")):
        raise UserError(f"Attach a .csv file (got {shown(filename)}).")
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
            errors.append(f"line {row.line}: no student {shown(row.identifier)} in {module.code}")
            continue
        try:
            points = check_quality_points(rubric, row.quality) if row.quality is not None else None
        except RubricError as exc:
            errors.append(f"line {row.line}: {exc.sentence[0].lower()}{exc.sentence[1:-1]}")
            continue
        resolved.append((person, points, row.feedback, row.line))
    if errors:
        listed = "; ".join(errors[:12]) + (
            f"; and {len(errors) - 12} more" if len(errors) > 12 else ""
        )
        text = f"Nothing was saved; fix the file and upload it again: {listed}."
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
    return GradeCsvResult(prompt_info(prompt, module), changed, len(resolved) - changed, released)


async def _module_students(session: AsyncSession, module: Module) -> list[Person]:
    return list(
        (
            await session.scalars(
                select(Person)
                .join(Enrolment, Enrolment.person_id == Person.id)
                .where(Enrolment.module_id == module.id, Enrolment.role == Role.STUDENT)
            )
        ).all()
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


def _dm_failure(error: str, platform: Platform) -> str:
    """A stored send error as the table shows it ("not linked" in the platform's words)."""
    if reason_of(error) == NOT_LINKED:
        return f"not linked to a {platform.name} account yet"
    return error


async def score_table(
    session: AsyncSession,
    caller: Caller,
    cohort: Cohort,
    prompt_id: int,
    *,
    now: datetime,
    platform: Platform = DISCORD,
) -> ScoreTable:
    """Every student's provisional score with quality (tutors see it before release)."""
    prompt, module = await staff_prompt(session, caller, cohort, prompt_id)
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
                    "(DM failed: " + _dm_failure(stored.notify_error, platform) + ")"
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
    text = csv_text(
        [
            "student_number",
            "name",
            "discord",
            "score",
            "max",
            "quality_points",
            "feedback",
            "explanation",
        ],
        (
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
            for r in rows
        ),
    )
    return ScoreTable(
        prompt_info(prompt, module), rows, f"prompt-{prompt.id}-scores.csv", text.encode()
    )
