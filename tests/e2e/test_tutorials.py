"""Tutorials through the local Discord server: cards, RSVP, reminders, check-in, attendance."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from sqlalchemy import select

from bot.access.identity import ChatUser
from bot.access.permissions import load_caller
from bot.calendar import service
from bot.db.models import Cohort, LedgerEntry, LedgerSource
from cohortlab.sandbox import Sandbox
from tests.e2e.test_calendar_support import (
    MODULE,
    advance_through,
    bot_texts,
    button,
    calendar_sandbox,
    notices,
    number,
    snapshot,
    students,
    tutor,
    world_of,
)
from tests.storage_backends import Backends

pytestmark = pytest.mark.e2e


@pytest.fixture
async def box(storage: Backends, backend: str) -> AsyncIterator[Sandbox]:
    async with calendar_sandbox(storage, backend) as sandbox:
        yield sandbox


async def setup_tutorial(sandbox: Sandbox) -> dict[str, object]:
    """Permission-matrix setup: a MATH70097 tutorial two days after the sandbox's now."""
    world = world_of(sandbox)
    teacher = world.tutors(MODULE)[0]
    start = sandbox.clock.now() + timedelta(days=2)
    async with sandbox.db.session() as s:
        cohort = (await s.execute(select(Cohort))).scalar_one()
        caller = await load_caller(
            s, cohort.id, ChatUser(str(teacher.id), teacher.name, teacher.name)
        )
        created = await service.add_tutorial(
            s,
            caller,
            cohort,
            module_code=MODULE,
            title="Matrix tutorial",
            start=start.strftime("%Y-%m-%dT%H:%MZ"),
            duration="1h",
            repeat="weekly",
            until=(start + timedelta(days=14)).date().isoformat(),
            now=sandbox.clock.now(),
        )
    return {"tutorial": created.event_id}


async def test_tutorial_rsvp_reminders_and_check_in(box: Sandbox) -> None:
    world = world_of(box)
    channel = world.channel(MODULE)
    teacher = tutor(box)
    amara, lukas = students(box)[:2]

    handle = await teacher.command(
        "tutorial add",
        where=channel,
        module=MODULE,
        title="Week 1: linear models",
        start="2026-03-04 18:00",
        duration="1h",
        join_link="https://meet.example.org/w1",
    )
    reply = await handle.reply(contains="Tutorial #")
    tutorial = number(reply.content)
    assert "<t:1772647200:F>" in reply.content  # 18:00 GMT on Wednesday 4 March

    await box.run_due()
    card = await box.server.script.wait_for_message(channel, contains="Week 1: linear models")
    assert "Will you come?" in card.content

    going = await (await amara.click(card, button(card, "going"))).reply(contains="going")
    assert "You're going" in going.content
    await (await lukas.click(card, button(card, "notgoing"))).reply(contains="not going")

    # 24 hours before (Tuesday 18:00): one class-wide post with the role, and a DM to Amara.
    await box.advance(timedelta(hours=33))
    role = world.module_roles[MODULE]
    post = await box.server.script.wait_for_message(channel, contains="starts in 24 hours")
    assert post.content.startswith(f"<@&{role.id}>")
    dm = await amara.wait_for_dm(contains="which you said you are going to")
    assert "24 hours" in dm.content and "https://meet.example.org/w1" in dm.content
    assert lukas.dms() == []

    # 15 minutes before: the second reminder; check-in is not open yet.
    await box.advance(timedelta(hours=23, minutes=45))
    await box.server.script.wait_for_message(channel, contains="starts in 15 minutes")
    await amara.wait_for_dm(contains="15 minutes")
    before = await snapshot(box)
    early = await (await amara.click(card, button(card, "checkin"))).reply(contains="opens")
    assert "Check-in opens" in early.content
    assert await snapshot(box) == before

    # During the session: check in once, counted once.
    await box.advance(timedelta(minutes=20))
    done = await (await amara.click(card, button(card, "checkin"))).reply(contains="Checked in")
    assert "recorded" in done.content
    again = await (await amara.click(card, button(card, "checkin"))).reply(contains="already")
    assert "counts once" in again.content
    refused = await (await teacher.click(card, button(card, "checkin"))).reply()
    assert "not enrolled as a student" in refused.content

    report = await (
        await teacher.command("tutorial attendance", where=channel, tutorial=tutorial)
    ).reply(contains="Checked in")
    assert "Checked in (1): Amara Okafor" in report.content
    assert "Not going (1): Lukas Becker" in report.content

    async with box.db.session() as s:
        credits = (
            (
                await s.execute(
                    select(LedgerEntry).where(
                        LedgerEntry.source == LedgerSource.TUTORIAL_ATTENDANCE
                    )
                )
            )
            .scalars()
            .all()
        )
    assert [(c.points, c.item_type) for c in credits] == [(Decimal(1), "tutorial")]

    # Each notice went out exactly once.
    assert len(bot_texts(box, channel, "starts in 24 hours")) == 1
    assert len(bot_texts(box, channel, "starts in 15 minutes")) == 1
    assert len([m for m in amara.dms() if "24 hours" in m.content]) == 1
    sent = await notices(box, kind="tutorial_reminder")
    assert {n.status.value for n in sent} == {"sent"}
    assert {n.delivered_via for n in sent} == {"channel", "dm"}


async def test_cancelled_and_moved_sessions_tell_who_is_going(box: Sandbox) -> None:
    world = world_of(box)
    channel = world.channel(MODULE)
    teacher = tutor(box)
    amara, lukas = students(box)[:2]
    reply = await (
        await teacher.command(
            "tutorial add",
            where=channel,
            module=MODULE,
            title="Problem class",
            start="2026-03-03 18:00",
            duration="19:30",
            repeat="weekly",
            until="2026-03-17",
        )
    ).reply(contains="Tutorial #")
    tutorial = number(reply.content)
    assert "3 sessions" in reply.content
    await box.run_due()
    first = await box.server.script.wait_for_message(channel, contains="session 1 of 3")
    # Session 2's card comes out a week ahead: after session 1 it is there.
    await advance_through(box, datetime(2026, 3, 3, 21, 0, tzinfo=UTC))
    second = await box.server.script.wait_for_message(channel, contains="session 2 of 3")
    await (await amara.click(second, button(second, "going"))).reply(contains="going")
    await (await lukas.click(first, button(first, "going"))).reply(contains="over")

    cancelled = await (
        await teacher.command("tutorial cancel", where=channel, tutorial=tutorial, session=2)
    ).reply(contains="Cancelled")
    assert "1 student(s) who said they are going" in cancelled.content
    await box.run_due()
    dm = await amara.wait_for_dm(contains="Cancelled")
    assert "Problem class" in dm.content
    edited = box.server.script.message(second)
    assert "Cancelled" in edited.content
    assert all(c.get("disabled") for row in edited.components for c in row["components"])

    # Session 3 moves a day later: its reminders follow; session 2 never gets any.
    moved = await (
        await teacher.command(
            "tutorial move", where=channel, tutorial=tutorial, session=3, start="2026-03-18 18:00"
        )
    ).reply(contains="Moved")
    new_start = 1773856800  # Wed 18 March 18:00 GMT
    assert f"<t:{new_start}:F>" in moved.content
    await advance_through(box, datetime(2026, 3, 19, tzinfo=UTC))
    reminders = [n for n in await notices(box, kind="tutorial_reminder")]
    sent = {(n.payload["sequence"], n.status.value) for n in reminders}
    assert (1, "sent") in sent and (3, "sent") in sent
    assert (2, "sent") not in sent and (2, "cancelled") in sent
    posts = bot_texts(box, channel, "Reminder")
    assert len([t for t in posts if f"<t:{new_start}:F>" in t]) == 2  # 24 hours and 15 minutes
    assert not [t for t in posts if "<t:1773770400:F>" in t]  # the old Tuesday 17 March slot
    assert not [t for t in posts if "Sent late" in t]
    third = await box.server.script.wait_for_message(channel, contains="session 3 of 3")
    assert f"<t:{new_start}:F>" in third.content


@pytest.mark.parametrize(
    ("start", "first", "until", "expected_utc_hours"),
    [
        # Spring: 19 and 26 March are GMT (18:00Z); 2 April is BST (17:00Z).
        ("2026-03-16T09:00Z", "2026-03-19 18:00", "2026-04-02", [18, 18, 17]),
        # Autumn: 22 October is BST (17:00Z); 29 October is GMT again (18:00Z).
        ("2026-10-19T09:00Z", "2026-10-22 18:00", "2026-10-29", [17, 18]),
    ],
)
async def test_weekly_tutorial_stays_at_local_six_across_clock_changes(
    storage: Backends,
    backend: str,
    start: str,
    first: str,
    until: str,
    expected_utc_hours: list[int],
) -> None:
    clock = datetime.fromisoformat(start.replace("Z", "+00:00"))
    async with calendar_sandbox(storage, backend, start=clock) as sandbox:
        world = world_of(sandbox)
        channel = world.channel(MODULE)
        reply = await (
            await tutor(sandbox).command(
                "tutorial add",
                where=channel,
                module=MODULE,
                title="Evening tutorial",
                start=first,
                duration="1h",
                repeat="weekly",
                until=until,
                reminders="15m",
            )
        ).reply(contains="Tutorial #")
        assert f"{len(expected_utc_hours)} sessions" in reply.content
        async with sandbox.db.session() as s:
            from bot.db.models import EventOccurrence

            starts = [
                o.starts_at
                for o in (
                    await s.execute(select(EventOccurrence).order_by(EventOccurrence.sequence))
                ).scalars()
            ]
        assert [t.hour for t in starts] == expected_utc_hours
        assert all(t.minute == 0 for t in starts)
        last = starts[-1]
        # The last reminder comes 15 minutes before 18:00 local, whatever the UTC offset.
        await sandbox.advance(last - timedelta(minutes=16) - sandbox.clock.now())
        cursor = sandbox.server.script.last_id()
        await sandbox.advance(timedelta(seconds=59))
        await sandbox.server.script.expect_no_message(channel, after=cursor)
        await sandbox.advance(timedelta(seconds=1))
        post = await sandbox.server.script.wait_for_message(
            channel, contains="starts in 15 minutes", after=cursor
        )
        assert f"<t:{int(last.timestamp())}:F>" in post.content
        assert "Sent late" not in post.content


async def test_a_typed_start_in_the_spring_gap_is_moved_and_the_tutor_told(box: Sandbox) -> None:
    """01:30 on 29 March 2026 does not exist in London: like a later session of a series that
    falls there, the first one starts at 02:30 BST, the tutor is told, and the series keeps the
    typed 01:30 the next week; moving a session into the gap says so too."""
    from bot.db.models import EventOccurrence

    channel = world_of(box).channel(MODULE)
    teacher = tutor(box)
    reply = await (
        await teacher.command(
            "tutorial add",
            where=channel,
            module=MODULE,
            title="Night owls",
            start="2026-03-29 01:30",
            duration="1h",
            repeat="weekly",
            until="2026-04-05",
        )
    ).reply(contains="Tutorial #")
    assert "session 1 falls in a clock change gap" in reply.content
    async with box.db.session() as s:
        starts = [
            o.starts_at
            for o in (
                await s.execute(select(EventOccurrence).order_by(EventOccurrence.sequence))
            ).scalars()
        ]
    assert starts == [
        datetime(2026, 3, 29, 1, 30, tzinfo=UTC),  # 02:30 BST
        datetime(2026, 4, 5, 0, 30, tzinfo=UTC),  # 01:30 BST, as typed
    ]

    other = await (
        await teacher.command(
            "tutorial add",
            where=channel,
            module=MODULE,
            title="Sunday early",
            start="2026-03-22 01:30",
            duration="1h",
        )
    ).reply(contains="Tutorial #")
    assert "clock change gap" not in other.content
    moved = await (
        await teacher.command(
            "tutorial move", where=channel, tutorial=number(other.content), start="2026-03-29 01:30"
        )
    ).reply(contains="Moved")
    assert "session 1 falls in a clock change gap" in moved.content
