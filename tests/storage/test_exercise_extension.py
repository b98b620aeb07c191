"""``/exercise extend`` on a real database: late work accepted within the extension, reviewed,
judged on time; the student told by DM; earlier grants superseded; refusals change nothing."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import pytest

from bot.access.permissions import Caller
from bot.db.models import (
    AuditEntry,
    Cohort,
    Extension,
    ExtensionStatus,
    OutboxState,
    PeerSubmission,
)
from bot.errors import NotFound, PermissionDenied, UserError
from bot.outbox import store as outbox_store
from bot.peer import extensions
from tests.storage.test_peer_service import SUB_DUE, Course
from tests.storage.test_peer_service import course as course  # the fixture

DAY = timedelta(days=1)


def at(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%MZ")


async def extend(
    course: Course, exercise: int, student: str, until: datetime, *, as_: str | None = None
) -> extensions.ExerciseExtension:
    async def work(s: Any, caller: Caller, cohort: Cohort) -> extensions.ExerciseExtension:
        return await extensions.grant_extension(
            s,
            caller,
            cohort,
            exercise_id=exercise,
            student=course.user(student),
            until=at(until),
            reason="MC-31",
            now=course.now,
        )

    result: extensions.ExerciseExtension = await course.act(as_ or course.tutor, work)
    return result


async def test_extended_work_after_allocation_is_on_time_and_reviewed(course: Course) -> None:
    ex = await course.create(late_hours=0)
    for name in course.students()[:-1]:
        await course.submit(name, ex)
    course.now = SUB_DUE + timedelta(minutes=1)
    await course.due()  # allocated without Rahul
    course.now = SUB_DUE + timedelta(hours=2)
    with pytest.raises(UserError, match="ask your tutor for an extension"):
        await course.submit("rahul.iyer", ex)

    granted = await extend(course, ex, "rahul.iyer", SUB_DUE + 2 * DAY)
    text = granted.render()
    assert text.startswith(f"Extension #{granted.extension_id}: Rahul")
    assert f"now has until <t:{int((SUB_DUE + 2 * DAY).timestamp())}:F>" in text
    assert f"instead of <t:{int(SUB_DUE.timestamp())}:F>" in text
    await course.due()  # delivers the outbox
    rahul = course.person("rahul.iyer")
    told = course.chat.to(rahul)
    assert any("You have an extension" in m and f"/submit exercise:{ex}" in m for m in told)
    async with course.db.session() as s:
        found = await outbox_store.states(s, [granted.message_key])
    assert found[granted.message_key][0] is OutboxState.SENT

    course.now = SUB_DUE + DAY
    receipt = await course.submit("rahul.iyer", ex)
    assert not receipt.late and "late" not in receipt.text
    assert "given to 3 reviewer(s)" in receipt.text
    mine = [a for a in await course.assignments(ex) if a.author_id == rahul.id]
    assert len(mine) == 3 and all(a.origin == "late" for a in mine)

    trail = await course.rows(AuditEntry, AuditEntry.action == "extension_granted")
    assert [(a.subject_person_id, a.reason, a.after) for a in trail] == [
        (rahul.id, "MC-31", {"due_at": (SUB_DUE + 2 * DAY).isoformat(), "item": f"exercise:{ex}"})
    ]


async def test_a_new_grant_supersedes_and_rejudges_work_already_in(course: Course) -> None:
    ex = await course.create(late_hours=48)
    course.now = SUB_DUE + timedelta(hours=5)
    assert (await course.submit("kwamem", ex)).late  # inside the late window
    first = await extend(course, ex, "kwamem", SUB_DUE + DAY)
    assert first.rejudged == 1 and "judged again" in first.render()
    subs = await course.rows(PeerSubmission, PeerSubmission.exercise_id == ex)
    assert [s.late for s in subs] == [False]

    second = await extend(course, ex, "kwamem", SUB_DUE + timedelta(hours=6))  # shorter
    assert (second.was_at, second.due_at, second.rejudged) == (
        SUB_DUE + DAY,
        SUB_DUE + timedelta(hours=6),
        0,
    )
    course.now = SUB_DUE + timedelta(hours=7)
    # The latest grant applies (not the longest): a new version now is late.
    assert (await course.submit("kwamem", ex, text="a second version")).late
    rows = await course.rows(Extension, Extension.exercise_id == ex)
    assert sorted((r.id, r.status) for r in rows) == [
        (first.extension_id, ExtensionStatus.SUPERSEDED),
        (second.extension_id, ExtensionStatus.APPROVED),
    ]


async def test_refusals_change_nothing(course: Course) -> None:
    ex = await course.create()
    before = await course.snapshot()
    with pytest.raises(PermissionDenied, match="Only tutors of MATH70097"):
        await extend(course, ex, "rahul.iyer", SUB_DUE + DAY, as_="amara.codes")
    with pytest.raises(UserError, match="must end after the submission deadline"):
        await extend(course, ex, "rahul.iyer", SUB_DUE)
    with pytest.raises(UserError, match="is not enrolled as a student in MATH70097, so they"):
        await extend(course, ex, course.tutor, SUB_DUE + DAY)
    with pytest.raises(NotFound, match="no peer exercise #999"):
        await extend(course, 999, "rahul.iyer", SUB_DUE + DAY)
    assert await course.snapshot() == before
