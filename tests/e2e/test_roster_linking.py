"""People the roster names by username are linked to their Discord account as soon as the bot
sees them (start-up member list, joins), so release DMs and extension requests reach them; and
the replies count who was actually told, naming who could not be reached and why."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta
from typing import TypeVar

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.access.identity import ChatUser
from bot.access.permissions import load_caller
from bot.calendar import service
from bot.db.models import Cohort, Enrolment, Module, PeerSubmission, Person, Role
from cohortlab.sandbox import Sandbox, World
from tests.e2e.test_calendar_support import calendar_sandbox, number
from tests.storage_backends import Backends

pytestmark = pytest.mark.e2e

T = TypeVar("T")
MODULE = "MATH70097"


async def eventually(check: Callable[[], Awaitable[T | None]], *, what: str) -> T:
    deadline = asyncio.get_running_loop().time() + 10
    while True:
        value = await check()
        if value:
            return value
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"not within 10 s: {what}")
        await asyncio.sleep(0.02)


async def platform_id(box: Sandbox, username: str) -> str | None:
    async with box.db.session() as s:
        return (
            await s.execute(
                select(Person.platform_user_id).where(Person.platform_username == username)
            )
        ).scalar_one()


async def add_to_roster(box: Sandbox, name: str, username: str, role: Role) -> None:
    """Someone on the roster (enrolled in MATH70097) who is not in the Discord server."""
    async with box.db.session() as s:
        module = (await s.execute(select(Module).where(Module.code == MODULE))).scalar_one()
        person = Person(display_name=name, platform_username=username)
        s.add(person)
        await s.flush()
        s.add(Enrolment(module_id=module.id, person_id=person.id, role=role))


def at(moment: datetime) -> str:
    return f"{moment:%Y-%m-%dT%H:%M}Z"


def world_of(box: Sandbox) -> World:
    assert box.world is not None
    return box.world


async def test_release_reaches_students_who_never_used_the_bot_and_counts_who_was_told(
    sandbox: Sandbox, world: World
) -> None:
    zoe = world.person("zoe.hartmann")
    lukas = world.person("lukasb_92")
    sandbox.server.state.users[lukas.id].accepts_dms = False
    await add_to_roster(sandbox, "Late Joiner", "late.joiner", Role.STUDENT)
    # Linked from the start-up member list, before Zoë ever does anything.
    assert await eventually(lambda: platform_id(sandbox, "zoe.hartmann"), what="Zoë linked")
    assert await platform_id(sandbox, "zoe.hartmann") == str(zoe.id)
    # Listed by id only: the bot learns the username for the exports' discord column.
    async with sandbox.db.session() as s:
        priya = (
            await s.execute(select(Person).where(Person.display_name == "Priya Raman"))
        ).scalar_one()
    assert priya.platform_username is not None

    teacher = world.tutors(MODULE)[0]
    channel = world.channel(MODULE)
    now = sandbox.clock.now()
    created = await (
        await teacher.command(
            "prompt create",
            where=channel,
            module=MODULE,
            title="Week 3: regularisation",
            opens=at(now + timedelta(hours=1)),
            closes=at(now + timedelta(hours=5)),
            text="When did you last regularise a model?",
        )
    ).reply(contains="Scheduled prompt #")
    prompt = number(created.content)
    await sandbox.advance(timedelta(hours=1, minutes=1))
    await sandbox.advance(timedelta(hours=4))

    released = await (await teacher.command("prompt release", where=channel, prompt=prompt)).reply(
        contains="Released", timeout=15
    )
    assert (
        "10 of 12 students were told privately; 1 could not be reached (DMs closed): Lukas "
        "Becker; 1 could not be reached (not in this server yet): Late Joiner."
    ) in released.content, released.content
    mark = await zoe.wait_for_dm(contains="is released")
    assert "Week 3: regularisation" in mark.content

    # Joining the server links them at once.
    joiner = sandbox.server.script.add_user("late.joiner", global_name="Late Joiner")
    sandbox.server.script.add_member(world.guild, joiner)
    assert await eventually(
        lambda: platform_id(sandbox, "late.joiner"), what="the new member linked"
    ) == str(joiner.id)


async def test_an_extension_request_reaches_tutors_who_never_used_the_bot(
    storage: Backends, backend: str
) -> None:
    async with calendar_sandbox(storage, backend) as box:
        world = world_of(box)
        channel = world.channel(MODULE)
        await add_to_roster(box, "Dr Absent Tutor", "absent.tutor", Role.TUTOR)
        tomasz = world.tutors(MODULE)[0]
        assert await eventually(
            lambda: platform_id(box, "tomaszz_stats"), what="the tutor linked"
        ) == str(tomasz.id)
        async with box.db.session() as s:
            cohort = (await s.execute(select(Cohort))).scalar_one()
            event_id = await _deadline(s, cohort, box.clock.now())
        amara = world.person("amara.codes")
        asked = await (
            await amara.command(
                "deadline request",
                where=channel,
                item=event_id,
                due="2026-03-24 12:00",
                reason="MC-7",
            )
        ).reply(contains="Extension request #", timeout=15)
        assert (
            "1 of 2 tutors was sent the request by DM; 1 could not be reached (not in this "
            "server yet): Dr Absent Tutor."
        ) in asked.content, asked.content
        await tomasz.wait_for_dm(contains=f"Extension request #{number(asked.content)}")


async def _deadline(session: AsyncSession, cohort: Cohort, now: datetime) -> int:
    """A MATH70097 submission deadline added by the programme admin (the tutor stays idle)."""
    admin = (
        await session.execute(select(Person).where(Person.display_name == "Priya Raman"))
    ).scalar_one()
    user = ChatUser(str(admin.platform_user_id), "priya", "Priya Raman")
    caller = await load_caller(session, cohort.id, user)
    created = await service.add_deadline(
        session,
        caller,
        cohort,
        module_code=MODULE,
        kind="submission_deadline",
        title="Coursework 2",
        due="2026-03-20 12:00",
        offsets="1h",
        now=now,
    )
    return created.event_id


async def test_peer_release_counts_the_authors_who_got_their_feedback(
    sandbox: Sandbox, world: World
) -> None:
    from cohortlab.setups.peer import MODULE as PEER_MODULE
    from cohortlab.setups.peer import setup_reviewed_exercise

    options = await setup_reviewed_exercise(sandbox)
    async with sandbox.db.session() as s:
        authors = (
            (
                await s.execute(
                    select(Person)
                    .join(PeerSubmission, PeerSubmission.person_id == Person.id)
                    .where(
                        PeerSubmission.exercise_id == options["exercise"],
                        PeerSubmission.is_current.is_(True),
                    )
                    .order_by(Person.display_name)
                )
            )
            .scalars()
            .all()
        )
    closed = world.person(str(authors[0].platform_username))
    sandbox.server.state.users[closed.id].accepts_dms = False
    tutor = world.tutors(PEER_MODULE)[0]
    released = await (
        await tutor.command(
            "exercise release",
            where=world.channel(PEER_MODULE),
            exercise=options["exercise"],
            accept_flagged=True,
        )
    ).reply(contains="Released exercise", timeout=15)
    n = len(authors)
    assert (
        f"{n - 1} of {n} authors were sent their feedback by DM; 1 could not be reached "
        f"(DMs closed): {authors[0].display_name}."
    ) in released.content, released.content


async def test_extension_decisions_say_whether_the_student_was_told(
    storage: Backends, backend: str
) -> None:
    async with calendar_sandbox(storage, backend) as box:
        world = world_of(box)
        channel = world.channel(MODULE)
        async with box.db.session() as s:
            cohort = (await s.execute(select(Cohort))).scalar_one()
            event_id = await _deadline(s, cohort, box.clock.now())
        tomasz = world.tutors(MODULE)[0]
        amara, lukas = world.person("amara.codes"), world.person("lukasb_92")
        box.server.state.users[lukas.id].accepts_dms = False
        asked = await (
            await amara.command(
                "deadline request", where=channel, item=event_id, due="2026-03-24 12:00", reason="A"
            )
        ).reply(contains="Extension request #", timeout=15)
        ask = await tomasz.wait_for_dm(contains=f"Extension request #{number(asked.content)}")
        custom_id = next(
            c["custom_id"]
            for row in ask.components
            for c in row["components"]
            if c["custom_id"].startswith("cb:calendar:approve:")
        )
        approved = await (await tomasz.click(ask, custom_id)).reply(contains="now has", timeout=15)
        assert "They were told privately." in approved.content
        await amara.wait_for_dm(contains="approved")

        granted = await (
            await tomasz.command(
                "deadline extend",
                where=channel,
                item=event_id,
                student=lukas.id,
                due="2026-03-25 12:00",
                reason="MC-2",
            )
        ).reply(contains="now has", timeout=15)
        assert "They could not be told privately (DMs closed); please tell them." in (
            granted.content
        )
