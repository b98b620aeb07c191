"""Every extension command asks the same two questions (``bot.due.eligibility``): is the named
person an active student of the module (a withdrawn student is refused), and is the reason
usable (stored with its whitespace folded, else one refusal). The same sentences everywhere,
and a refusal leaves no extension behind."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import select, update

from bot.access.identity import ChatUser
from bot.access.permissions import load_caller
from bot.calendar import service as calendar
from bot.db.engine import Database
from bot.db.models import Cohort, Enrolment, EnrolmentStatus, Extension, Person
from bot.discussions import service as discussions
from bot.errors import UserError
from bot.peer import extensions as peer
from tests.storage.test_calendar_service import NOW, STUDENT, TUTOR, _cohort, _ctx, add_cw
from tests.storage.test_discussions import CLOSES, World, _world
from tests.storage.test_peer_service import SUB_DUE, Course
from tests.storage.test_peer_service import course as course  # the fixture

BAD_REASON = (
    "Give a reason reference of 1 to 200 characters, e.g. the mitigating circumstances case "
    "number MC-2026-014."
)
MESSY = "  MC-2026-014\n  (GP  letter)\t"
CLEAN = "MC-2026-014 (GP letter)"

Grant = Callable[[str], Awaitable[Any]]


def withdrawn(name: str) -> str:
    return (
        f"{name} is not enrolled as a student in MATH70097, so they cannot have an extension "
        "for it."
    )


async def _withdraw(db: Database, platform_user_id: str) -> None:
    """What a roster sync does when the student leaves the module."""
    async with db.session() as s:
        person_id = (
            await s.execute(select(Person.id).where(Person.platform_user_id == platform_user_id))
        ).scalar_one()
        await s.execute(
            update(Enrolment)
            .where(Enrolment.person_id == person_id)
            .values(status=EnrolmentStatus.WITHDRAWN)
        )


async def _reasons(db: Database) -> list[str]:
    async with db.session() as s:
        return list((await s.execute(select(Extension.reason_ref))).scalars())


async def _refused(db: Database, grant: Grant, reason: str) -> str:
    before = await _reasons(db)
    with pytest.raises(UserError) as refused:
        await grant(reason)
    assert await _reasons(db) == before
    return refused.value.sentence


async def _check_reasons(db: Database, grant: Grant) -> None:
    """Blank and over-long reasons get the one sentence; a messy one is stored cleaned."""
    for reason in ("", " \n ", "x" * 201):
        assert await _refused(db, grant, reason) == BAD_REASON
    await grant(MESSY)
    assert await _reasons(db) == [CLEAN]


def _prompt_grant(db: Database, w: World, student: str) -> Grant:
    async def grant(reason: str) -> Any:
        async with db.session() as s:
            cohort = (await s.execute(select(Cohort))).scalar_one()
            caller = await load_caller(s, cohort.id, w.user("tutor"))
            return await discussions.grant_extension(
                s,
                caller,
                cohort,
                w.prompt_id,
                student=w.user(student),
                until=(CLOSES + timedelta(days=2)).strftime("%Y-%m-%dT%H:%MZ"),
                reason=reason,
                now=CLOSES - timedelta(hours=1),
            )

    return grant


async def test_prompt_extension_refuses_a_withdrawn_student_and_cleans_the_reason(
    db: Database,
) -> None:
    w = await _world(db)
    await _check_reasons(db, _prompt_grant(db, w, "bob"))
    await _withdraw(db, w.user("amy").platform_user_id)
    assert await _refused(db, _prompt_grant(db, w, "amy"), "MC-1") == withdrawn("Amy")


def _exercise_grant(course: Course, exercise: int, student: str) -> Grant:
    async def grant(reason: str) -> Any:
        async def work(s: Any, caller: Any, cohort: Cohort) -> Any:
            return await peer.grant_extension(
                s,
                caller,
                cohort,
                exercise_id=exercise,
                student=course.user(student),
                until=(SUB_DUE + timedelta(days=1)).strftime("%Y-%m-%dT%H:%MZ"),
                reason=reason,
                now=course.now,
            )

        return await course.act(course.tutor, work)

    return grant


async def test_exercise_extension_refuses_a_withdrawn_student_and_cleans_the_reason(
    course: Course,
) -> None:
    ex = await course.create()
    await _check_reasons(course.db, _exercise_grant(course, ex, "rahul.iyer"))
    await _withdraw(course.db, course.user("emclarke").platform_user_id)
    name = course.user("emclarke").display_name
    assert await _refused(course.db, _exercise_grant(course, ex, "emclarke"), "MC-1") == (
        withdrawn(name)
    )


async def _deadline(db: Database) -> int:
    async with db.session() as s:
        caller, cohort = await _ctx(s, TUTOR)
        item = await add_cw(s, caller, cohort)
    return item.event_id


def _deadline_grant(db: Database, event_id: int, student: ChatUser) -> Grant:
    async def grant(reason: str) -> Any:
        async with db.session() as s:
            caller, cohort = await _ctx(s, TUTOR)
            return await calendar.grant_extension(
                s,
                caller,
                cohort,
                event_id=event_id,
                student=student,
                due="2026-03-25 12:00",
                reason=reason,
                now=NOW,
            )

    return grant


async def test_deadline_extension_refuses_a_withdrawn_student_and_cleans_the_reason(
    db: Database,
) -> None:
    await _cohort(db)
    event_id = await _deadline(db)
    await _check_reasons(db, _deadline_grant(db, event_id, STUDENT))
    await _withdraw(db, STUDENT.platform_user_id)
    refused = await _refused(db, _deadline_grant(db, event_id, STUDENT), "MC-1")
    assert refused == withdrawn("Ada Student")


async def test_a_request_from_a_student_who_withdrew_since_cannot_be_approved(
    db: Database,
) -> None:
    await _cohort(db)
    event_id = await _deadline(db)
    async with db.session() as s:
        caller, _ = await _ctx(s, STUDENT)
        with pytest.raises(UserError) as refused:
            await calendar.request_extension(
                s, caller, event_id=event_id, due="2026-03-25 12:00", reason="\t", now=NOW
            )
        assert refused.value.sentence == BAD_REASON
        asked = await calendar.request_extension(
            s, caller, event_id=event_id, due="2026-03-25 12:00", reason=MESSY, now=NOW
        )
    assert await _reasons(db) == [CLEAN]
    await _withdraw(db, STUDENT.platform_user_id)
    async with db.session() as s:
        caller, _ = await _ctx(s, TUTOR)
        with pytest.raises(UserError) as refused:
            await calendar.decide_extension(
                s, caller, extension_id=asked.extension_id, approve=True, now=NOW
            )
        assert refused.value.sentence == withdrawn("Ada Student")
    async with db.session() as s:
        caller, _ = await _ctx(s, TUTOR)
        denied = await calendar.decide_extension(
            s, caller, extension_id=asked.extension_id, approve=False, now=NOW
        )
    assert not denied.approved
