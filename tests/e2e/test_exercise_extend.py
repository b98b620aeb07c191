"""``/exercise extend`` through the local Discord server: a tutor gives one student more time,
the student is told by DM, submits after the class deadline and is accepted on time, gets
reviewers, and the gradebook export shows the work on time with the extension."""

from __future__ import annotations

import csv
import io
from datetime import timedelta

import pytest
from sqlalchemy import select

from bot.db.models import (
    AuditEntry,
    Extension,
    ExtensionStatus,
    PeerExercise,
    PeerSubmission,
    Person,
    ReviewAssignment,
)
from cohortlab.localdiscord.models import Message
from cohortlab.sandbox import Sandbox, World
from cohortlab.setups.peer import at
from tests.e2e.test_peer import create, submit

pytestmark = pytest.mark.e2e

MODULE = "MATH70097"


def read_csv(message: Message) -> list[dict[str, str]]:
    assert message.attachments, f"no file attached to {message.content!r}"
    return list(csv.DictReader(io.StringIO(message.attachments[0].data.decode("utf-8-sig"))))


async def test_an_extended_student_submits_late_on_time_and_is_reviewed(
    sandbox: Sandbox, world: World
) -> None:
    channel = world.channel(MODULE)
    tutor = world.tutors(MODULE)[0]
    students = world.students(MODULE)
    _, exercise_id = await create(sandbox, world, k=2, late_hours=0)
    assert exercise_id is not None
    for s in students[:5]:
        await submit(s, world, exercise_id, text=f"{s.name}'s answer, no names inside.")
    async with sandbox.db.session() as session:
        exercise = await session.get(PeerExercise, exercise_id)
        assert exercise is not None
        deadline = exercise.submission_due_at
    await sandbox.advance(deadline + timedelta(minutes=1) - sandbox.clock.now())  # allocated

    late = students[5]
    refused = await submit(late, world, exercise_id, text="Sorry, I was ill.")
    assert "ask your tutor for an extension" in refused.content

    until = deadline + timedelta(days=2)
    reply = await (
        await tutor.command(
            "exercise extend",
            where=channel,
            exercise=exercise_id,
            student=late,
            until=at(until),
            reason="MC-2026-031",
        )
    ).reply(contains="Extension #")
    assert f"now has until <t:{int(until.timestamp())}:F>" in reply.content
    assert f"instead of <t:{int(deadline.timestamp())}:F>" in reply.content
    assert "They were told privately." in reply.content
    assert reply in tutor.ephemerals()
    told = await late.wait_for_dm(contains="You have an extension")
    assert f"exercise #{exercise_id}" in told.content and f"<t:{int(until.timestamp())}:F>" in (
        told.content
    )

    await sandbox.advance(timedelta(days=1))  # after the class deadline, inside the extension
    receipt = await submit(late, world, exercise_id, text="My answer, within my extension.")
    assert receipt.content.startswith(f"✅ Received for exercise #{exercise_id}")
    assert "late" not in receipt.content
    assert "given to 2 reviewer(s)" in receipt.content
    async with sandbox.db.session() as session:
        me = (
            await session.execute(select(Person).where(Person.platform_user_id == str(late.id)))
        ).scalar_one()
        sub = (
            await session.execute(
                select(PeerSubmission).where(
                    PeerSubmission.exercise_id == exercise_id, PeerSubmission.person_id == me.id
                )
            )
        ).scalar_one()
        reviews = list(
            (
                await session.execute(
                    select(ReviewAssignment).where(ReviewAssignment.author_id == me.id)
                )
            ).scalars()
        )
        grants = list((await session.execute(select(Extension))).scalars())
        trail = list(
            (
                await session.execute(
                    select(AuditEntry).where(AuditEntry.action == "extension_granted")
                )
            ).scalars()
        )
    assert not sub.late
    assert len(reviews) == 2 and {r.origin for r in reviews} == {"late"}
    assert [(g.exercise_id, g.person_id, g.status) for g in grants] == [
        (exercise_id, me.id, ExtensionStatus.APPROVED)
    ]
    assert [(a.subject_person_id, a.reason) for a in trail] == [(me.id, "MC-2026-031")]

    export = await (await tutor.command("gradebook export", where=channel, module=MODULE)).reply(
        contains="students"
    )
    row = next(r for r in read_csv(export) if r["discord"] == late.name)
    assert row["late"] == ""
    assert row["extensions"].startswith("X1 until ")
