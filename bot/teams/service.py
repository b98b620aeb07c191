"""Teams service, part one: a person's weekly availability and a module's team survey.

Forming, moving, re-forming and exporting teams are in ``forming`` (re-exported here, so
callers import one module); opening the team threads in ``threads``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.access.permissions import Caller, module_by_code, require_staff, require_student
from bot.db.models import Cohort, Module, TeamAvailability, TeamSurveyAnswer, TeamSurveyQuestion
from bot.errors import NotFound, UserError, shown
from bot.teams import availability as av
from bot.teams.forming import (
    Confirmed,
    Exported,
    Moved,
    Proposal,
    confirm,
    export,
    form,
    move,
    reform,
    set_pair,
    show,
)
from bot.teams.reads import checked_zone, free_time, questions, weeks_from

__all__ = [
    "AvailabilityView",
    "Confirmed",
    "Exported",
    "Moved",
    "Proposal",
    "Survey",
    "answer_survey",
    "availability",
    "confirm",
    "export",
    "form",
    "move",
    "reform",
    "set_availability",
    "set_pair",
    "set_survey",
    "show",
    "survey",
    "survey_text",
]

MAX_QUESTIONS = 5
MAX_CHOICES = 25  # a select menu holds 25 options
SURVEY_EXAMPLE = "Strongest skill: programming, statistics, writing"


# --------------------------------------------------------------------------- availability


@dataclass(frozen=True)
class AvailabilityView:
    zone: str
    text: str
    hours: float
    given: bool

    def render(self) -> str:
        head = (
            "Your availability for team work"
            if self.given
            else "You have not given your availability yet, so teams assume evenings and weekends"
        )
        return (
            f"{head} (in your zone, {self.zone}):\n{self.text}\n"
            f"That is {self.hours:g} hours a week. Daylight saving is handled: the times stay "
            "the same on your clock all term. Change it with `/calendar availability`."
        )


async def availability(
    session: AsyncSession, caller: Caller, cohort: Cohort, *, now: datetime
) -> AvailabilityView:
    """The caller's availability (or the default) shown back in their own zone."""
    free = await free_time(session, caller.person, cohort)
    slots = av.utc_slots(free.intervals, free.zone, weeks_from(now, 1))
    return AvailabilityView(free.zone, av.describe(free.intervals), av.hours(slots), free.given)


async def set_availability(
    session: AsyncSession,
    caller: Caller,
    cohort: Cohort,
    *,
    text: str | None,
    zone: str | None,
    now: datetime,
) -> AvailabilityView:
    """Store weekly free time in the caller's zone (``zone``, else their calendar zone, else
    the cohort's); ``text`` None keeps the intervals and only changes the zone."""
    current = await free_time(session, caller.person, cohort)
    new_zone = checked_zone(zone) if zone else current.zone
    intervals = av.parse_intervals(text) if text is not None else current.intervals
    row = await session.get(TeamAvailability, caller.person.id)
    if row is None:
        row = TeamAvailability(person_id=caller.person.id, zone=new_zone, intervals=[])
        session.add(row)
    row.zone = new_zone
    row.intervals = av.encode(intervals)
    row.updated_at = now
    await session.flush()
    return await availability(session, caller, cohort, now=now)


# --------------------------------------------------------------------------- survey


@dataclass(frozen=True)
class Question:
    id: int
    text: str
    choices: tuple[str, ...]
    answer: str | None


@dataclass(frozen=True)
class Survey:
    module_code: str
    questions: tuple[Question, ...]
    note: str = ""

    def render(self) -> str:
        if not self.questions:
            return f"{self.module_code} has no team survey."
        lines = [
            f"**Team survey for {self.module_code}**" + (f" — {self.note}" if self.note else "")
        ]
        for i, q in enumerate(self.questions, 1):
            mine = f" (your answer: {q.answer})" if q.answer else ""
            lines.append(f"{i}. {q.text}: {', '.join(q.choices)}{mine}")
        return "\n".join(lines)


def parse_questions(text: str) -> list[tuple[str, list[str]]]:
    """One question a line: "Question: choice, choice, ..."; refused in one sentence."""
    out: list[tuple[str, list[str]]] = []
    for line in text.splitlines():
        if not line.strip():
            continue
        question, sep, rest = line.rpartition(":")
        choices = [c.strip() for c in rest.split(",") if c.strip()]
        if not sep or not question.strip() or len(choices) < 2:
            raise UserError(
                f"Could not read {shown(line.strip())}; write one question a line with at "
                f"least two choices, like “{SURVEY_EXAMPLE}”."
            )
        if len(question.strip()) > 150 or any(len(c) > 100 for c in choices):
            raise UserError("Keep questions under 150 characters and choices under 100.")
        if len(choices) > MAX_CHOICES or len({c.lower() for c in choices}) != len(choices):
            raise UserError(
                f"{shown(question.strip())} needs 2 to {MAX_CHOICES} different choices."
            )
        out.append((question.strip(), choices))
    if not out:
        raise UserError(f"Give at least one question, like “{SURVEY_EXAMPLE}”.")
    if len(out) > MAX_QUESTIONS:
        raise UserError(f"A team survey has at most {MAX_QUESTIONS} questions.")
    return out


async def set_survey(
    session: AsyncSession,
    caller: Caller,
    cohort: Cohort,
    *,
    module_code: str,
    text: str,
    now: datetime,
) -> Survey:
    """Replace the module's survey (earlier answers go with the old questions)."""
    module = await module_by_code(session, cohort.id, module_code)
    require_staff(caller, module)
    parsed = parse_questions(text)
    await session.execute(
        delete(TeamSurveyQuestion).where(TeamSurveyQuestion.module_id == module.id)
    )
    await session.flush()
    for position, (question, choices) in enumerate(parsed, 1):
        session.add(
            TeamSurveyQuestion(
                module_id=module.id,
                position=position,
                text=question,
                choices=choices,
                created_at=now,
            )
        )
    await session.flush()
    qs = await questions(session, module)
    return Survey(
        module.code,
        tuple(Question(q.id, q.text, tuple(q.choices), None) for q in qs),
        note="students answer privately with /teams survey",
    )


async def survey_text(
    session: AsyncSession, caller: Caller, cohort: Cohort, *, module_code: str
) -> str:
    """The module's survey as the tutor's form shows it (one question a line)."""
    module = await module_by_code(session, cohort.id, module_code)
    require_staff(caller, module)
    return "\n".join(f"{q.text}: {', '.join(q.choices)}" for q in await questions(session, module))


async def survey(
    session: AsyncSession, caller: Caller, cohort: Cohort, *, module_code: str
) -> Survey:
    """The module's questions, with the caller's own answers (students of the module)."""
    module = await module_by_code(session, cohort.id, module_code)
    require_student(caller, module)
    qs = await questions(session, module)
    mine = {
        a.question_id: a.choice
        for a in (
            await session.execute(
                select(TeamSurveyAnswer).where(
                    TeamSurveyAnswer.person_id == caller.person.id,
                    TeamSurveyAnswer.question_id.in_([q.id for q in qs]),
                )
            )
        ).scalars()
    }
    return Survey(
        module.code,
        tuple(Question(q.id, q.text, tuple(q.choices), mine.get(q.id)) for q in qs),
    )


async def answer_survey(
    session: AsyncSession,
    caller: Caller,
    cohort: Cohort,
    *,
    question_id: int,
    choice: str,
    now: datetime,
) -> str:
    """Record (or change) the caller's answer to one question; only its own student sees it."""
    question = await session.get(TeamSurveyQuestion, question_id)
    if question is None:
        raise NotFound("That survey question no longer exists; run /teams survey again.")
    module = await session.get(Module, question.module_id)
    if module is None or module.cohort_id != cohort.id:
        raise NotFound("That survey question no longer exists; run /teams survey again.")
    require_student(caller, module)
    if choice not in question.choices:
        raise UserError(f"{shown(choice)} is not one of the choices for “{question.text}”.")
    row = (
        await session.execute(
            select(TeamSurveyAnswer).where(
                TeamSurveyAnswer.question_id == question.id,
                TeamSurveyAnswer.person_id == caller.person.id,
            )
        )
    ).scalar_one_or_none()
    if row is None:
        session.add(
            TeamSurveyAnswer(
                question_id=question.id, person_id=caller.person.id, choice=choice, answered_at=now
            )
        )
    else:
        row.choice, row.answered_at = choice, now
    await session.flush()
    return f"Saved: “{question.text}” — {choice}. Only the module's tutors see your answers."
