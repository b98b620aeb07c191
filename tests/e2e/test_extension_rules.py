"""The three extension commands answer alike through the local Discord server: a student who
withdrew from the module is refused with one sentence, and so is a reason too long to keep."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import select, update

from bot.db.models import Enrolment, EnrolmentStatus, Extension, Person
from cohortlab.sandbox import Sandbox, World
from cohortlab.setups import discussions, peer
from tests.e2e.test_deadlines import setup_deadline

pytestmark = pytest.mark.e2e

MODULE = "MATH70097"
BAD_REASON = (
    "Give a reason reference of 1 to 200 characters, e.g. the mitigating circumstances case "
    "number MC-2026-014."
)


async def test_every_extension_command_refuses_a_withdrawn_student_alike(
    sandbox: Sandbox, world: World
) -> None:
    tutor = world.tutors(MODULE)[0]
    leaver, stayer = world.students(MODULE)[:2]
    later = (sandbox.clock.now() + timedelta(days=60)).strftime("%Y-%m-%d %H:%M")
    prompt = await discussions.setup_open_prompt(sandbox)
    exercise = await peer.setup_open_exercise(sandbox)
    deadline = await setup_deadline(sandbox)
    commands: list[tuple[str, dict[str, Any]]] = [
        ("prompt extend", {"prompt": prompt["prompt"], "until": later}),
        ("exercise extend", {"exercise": exercise["exercise"], "until": later}),
        ("deadline extend", {"item": deadline["item"], "due": later}),
    ]
    async with sandbox.db.session() as s:  # what a roster sync does when they leave
        person_id = (
            await s.execute(select(Person.id).where(Person.platform_user_id == str(leaver.id)))
        ).scalar_one()
        await s.execute(
            update(Enrolment)
            .where(Enrolment.person_id == person_id)
            .values(status=EnrolmentStatus.WITHDRAWN)
        )
    refusals = []
    for command, options in commands:
        for student, reason, expected in (
            (leaver, "MC-1", "is not enrolled as a student in"),
            (stayer, "x" * 201, "reason reference"),
        ):
            handle = await tutor.command(
                command,
                where=world.channel(MODULE),
                options={**options, "student": student, "reason": reason},
                force=True,
            )
            reply = await handle.reply(contains=expected)
            assert reply in tutor.ephemerals()
            refusals.append(reply.content)
    withdrawn = {r for r in refusals if "not enrolled" in r}
    assert len(refusals) == 6 and len(withdrawn) == 1, refusals
    assert withdrawn.pop().endswith(
        f"not enrolled as a student in {MODULE}, so they cannot have an extension for it."
    )
    assert {r for r in refusals if "reason" in r} == {BAD_REASON}
    async with sandbox.db.session() as s:
        assert (await s.execute(select(Extension.id))).first() is None
