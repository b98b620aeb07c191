"""Deadlines through the local Discord server: every notice offset, extensions, requests."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from bot.access.identity import ChatUser
from bot.access.permissions import load_caller
from bot.calendar import service
from bot.db.models import AuditEntry, CalendarEvent, Cohort, Extension, ExtensionStatus, Person
from cohortlab.sandbox import Sandbox
from tests.e2e.test_calendar_support import (
    MODULE,
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

DUE = datetime(2026, 3, 20, 12, 0, tzinfo=UTC)  # Friday noon, GMT


@pytest.fixture
async def box(storage: Backends, backend: str) -> AsyncIterator[Sandbox]:
    async with calendar_sandbox(storage, backend) as sandbox:
        yield sandbox


async def _add_item(sandbox: Sandbox, kind: str, title: str) -> int:
    teacher = world_of(sandbox).tutors(MODULE)[0]
    async with sandbox.db.session() as s:
        cohort = (await s.execute(select(Cohort))).scalar_one()
        caller = await load_caller(
            s, cohort.id, ChatUser(str(teacher.id), teacher.name, teacher.name)
        )
        created = await service.add_deadline(
            s,
            caller,
            cohort,
            module_code=MODULE,
            kind=kind,
            title=title,
            due=(sandbox.clock.now() + timedelta(days=30)).strftime("%Y-%m-%d AoE"),
            now=sandbox.clock.now(),
        )
    return created.event_id


async def setup_deadline(sandbox: Sandbox) -> dict[str, object]:
    """Permission-matrix setup: a MATH70097 submission deadline 30 days ahead."""
    return {"item": await _add_item(sandbox, "submission_deadline", "Matrix coursework")}


async def setup_feedback_item(sandbox: Sandbox) -> dict[str, object]:
    return {"item": await _add_item(sandbox, "feedback_return", "Matrix feedback")}


async def setup_request(sandbox: Sandbox) -> dict[str, object]:
    """A pending extension request from the first MATH70097 student."""
    item = await _add_item(sandbox, "submission_deadline", "Matrix coursework 2")
    student = world_of(sandbox).students(MODULE)[0]
    async with sandbox.db.session() as s:
        cohort = (await s.execute(select(Cohort))).scalar_one()
        caller = await load_caller(
            s, cohort.id, ChatUser(str(student.id), student.name, student.name)
        )
        asked = await service.request_extension(
            s,
            caller,
            event_id=item,
            due=(sandbox.clock.now() + timedelta(days=40)).strftime("%Y-%m-%d AoE"),
            reason="MC-matrix",
            now=sandbox.clock.now(),
        )
    return {"request": asked.extension_id}


async def test_every_notice_offset_goes_to_the_channel_once(box: Sandbox) -> None:
    world = world_of(box)
    channel = world.channel(MODULE)
    role = world.module_roles[MODULE]
    handle = await tutor(box).command(
        "deadline add",
        where=channel,
        module=MODULE,
        kind="submission_deadline",
        title="Coursework 1",
        due="2026-03-20 12:00",
    )
    reply = await handle.reply(contains="Submission deadline #")
    assert f"<t:{int(DUE.timestamp())}:F>" in reply.content
    assert "4 notice(s) scheduled (7 days, 48 hours, 24 hours and 1 hour before)" in reply.content

    expected = [
        (DUE - timedelta(days=7), "due in 7 days"),
        (DUE - timedelta(hours=48), "due in 48 hours"),
        (DUE - timedelta(hours=24), "due in 24 hours"),
        (DUE - timedelta(hours=1), "due in 1 hour"),
    ]
    for at, words in expected:
        cursor = box.server.script.last_id()
        # A minute before: nothing yet.
        await box.advance(at - timedelta(minutes=1) - box.clock.now())
        await box.server.script.expect_no_message(channel, after=cursor)
        await box.advance(timedelta(minutes=1))
        post = await box.server.script.wait_for_message(channel, contains=words, after=cursor)
        assert post.content.startswith(f"<@&{role.id}> **{MODULE}** deadline: **Coursework 1**")
        assert "Sent late" not in post.content
    for _, words in expected:
        assert len(bot_texts(box, channel, words)) == 1
    sent = await notices(box, kind="deadline_notice")
    assert [n.status.value for n in sent] == ["sent"] * 4
    assert all(n.late is False and n.delivered_via == "channel" for n in sent)


async def test_extension_moves_the_students_notices_and_late_flag(box: Sandbox) -> None:
    world = world_of(box)
    channel = world.channel(MODULE)
    teacher = tutor(box)
    amara, lukas = students(box)[:2]
    reply = await (
        await teacher.command(
            "deadline add",
            where=channel,
            module=MODULE,
            kind="submission_deadline",
            title="Coursework 1",
            due="2026-03-20 12:00",
            offsets="48h,1h",
        )
    ).reply(contains="#")
    item = number(reply.content)

    granted = await (
        await teacher.command(
            "deadline extend",
            where=channel,
            item=item,
            student=amara,
            due="2026-03-27 AoE",
            reason="MC-2026-014",
        )
    ).reply(contains="Extension #")
    new_due = datetime(2026, 3, 28, 11, 59, 59, tzinfo=UTC)  # end of 27 March at UTC-12
    assert f"<t:{int(new_due.timestamp())}:F>" in granted.content
    await box.run_due()
    told = await amara.wait_for_dm(contains="approved")
    assert "MC-2026-014" in told.content
    assert f"<t:{int(new_due.timestamp())}:F>" in told.content
    assert lukas.dms() == []

    # A student changing zone gains nothing: the deadline is the same instant.
    await (await amara.command("calendar timezone", zone="Pacific/Kiritimati")).reply()
    mine = await (await amara.command("calendar upcoming")).reply(contains="Coursework 1")
    assert f"<t:{int(new_due.timestamp())}:F>" in mine.content
    assert f"was <t:{int(DUE.timestamp())}:F>" in mine.content
    theirs = await (await lukas.command("calendar upcoming")).reply(contains="Coursework 1")
    assert f"<t:{int(DUE.timestamp())}:F>" in theirs.content and "extended" not in theirs.content

    # The class-wide notices keep the original time; Amara's own DMs follow hers.
    await box.advance(DUE - timedelta(hours=48) - box.clock.now())
    await box.server.script.wait_for_message(channel, contains="due in 48 hours")
    assert [m for m in amara.dms() if "48 hours" in m.content] == []
    await box.advance(new_due - timedelta(hours=48) - box.clock.now())
    dm = await amara.wait_for_dm(contains="Your extended deadline")
    assert "48 hours" in dm.content and "Pacific/Kiritimati" in dm.content
    await box.advance(timedelta(hours=47))
    await amara.wait_for_dm(contains="due in 1 hour")

    async with box.db.session() as s:
        event = await s.get(CalendarEvent, item)
        assert event is not None
        people = {p.display_name: p.id for p in (await s.execute(select(Person))).scalars()}
        at = datetime(2026, 3, 21, 9, 0, tzinfo=UTC)
        assert await service.is_late(s, event, people["Amara Okafor"], at) is False
        assert await service.is_late(s, event, people["Lukas Becker"], at) is True
        trail = (await s.execute(select(AuditEntry))).scalars().all()
    assert [(a.action, a.reason) for a in trail] == [("extension_granted", "MC-2026-014")]


async def test_requested_extension_is_decided_with_buttons(box: Sandbox) -> None:
    world = world_of(box)
    channel = world.channel(MODULE)
    teacher = tutor(box)
    amara, lukas, meilin = students(box)[:3]
    reply = await (
        await teacher.command(
            "deadline add",
            where=channel,
            module=MODULE,
            kind="submission_deadline",
            title="Coursework 2",
            due="2026-03-20 12:00",
            offsets="1h",
        )
    ).reply(contains="#")
    item = number(reply.content)

    asked = await (
        await lukas.command(
            "deadline request", where=channel, item=item, due="2026-03-24 12:00", reason="MC-7"
        )
    ).reply(contains="Extension request #")
    request = number(asked.content)
    await box.run_due()
    ask = await teacher.wait_for_dm(contains=f"Extension request #{request}")
    assert "Lukas Becker" in ask.content and "MC-7" in ask.content

    before = await snapshot(box)
    approved = await (await teacher.click(ask, button(ask, "approve"))).reply(contains="now has")
    assert "Lukas Becker" in approved.content
    await box.run_due()
    told = await lukas.wait_for_dm(contains="approved")
    assert "<t:1774353600:F>" in told.content  # 24 March 12:00 GMT
    after = await snapshot(box)
    assert after["extensions"] == before["extensions"]
    again = await (await teacher.click(ask, button(ask, "deny"))).reply(contains="already")
    assert "already approved by" in again.content
    assert await snapshot(box) == after

    # A second request, denied with the command: the student is told, the deadline stays.
    await (
        await meilin.command(
            "deadline request", where=channel, item=item, due="2026-03-23 12:00", reason="MC-9"
        )
    ).reply(contains="#")
    pending = await (
        await teacher.command("deadline requests", where=channel, module=MODULE)
    ).reply(contains="Pending")
    second = number(pending.content)
    assert "Mei Lin Tan" in pending.content
    await (
        await teacher.command("deadline decide", where=channel, request=second, decision="deny")
    ).reply(contains="denied")
    await box.run_due()
    no = await meilin.wait_for_dm(contains="not approved")
    assert "<t:1774008000:F>" in no.content  # stays 20 March 12:00
    async with box.db.session() as s:
        statuses = [e.status for e in (await s.execute(select(Extension))).scalars()]
    assert statuses == [ExtensionStatus.APPROVED, ExtensionStatus.DENIED]
    assert amara.dms() == []


async def test_marking_period_goes_to_tutors_and_feedback_release_to_students(
    box: Sandbox,
) -> None:
    world = world_of(box)
    channel = world.channel(MODULE)
    teacher = tutor(box)
    other_tutor = world.tutors("MATH70094")[0]
    reply = await (
        await teacher.command(
            "deadline add",
            where=channel,
            module=MODULE,
            kind="marking_period_end",
            title="Coursework 1 marking",
            due="2026-03-10 17:00",
            offsets="24h",
        )
    ).reply(contains="#")
    assert "by DM" in reply.content
    await box.advance(timedelta(days=7, hours=8))
    dm = await teacher.wait_for_dm(contains="Marking period")
    assert "Coursework 1 marking" in dm.content and "24 hours" in dm.content
    assert other_tutor.dms() == []
    cursor = box.server.script.last_id()
    await box.server.script.expect_no_message(channel, after=cursor)

    feedback = await (
        await teacher.command(
            "deadline add",
            where=channel,
            module=MODULE,
            kind="feedback_return",
            title="Coursework 1 feedback",
            due="2026-03-31 17:00",
        )
    ).reply(contains="#")
    item = number(feedback.content)
    await (await teacher.command("deadline feedback-released", where=channel, item=item)).reply(
        contains="will be told"
    )
    await box.run_due()
    post = await box.server.script.wait_for_message(channel, contains="has been released")
    assert "Coursework 1 feedback" in post.content
    again = await (
        await teacher.command("deadline feedback-released", where=channel, item=item)
    ).reply()
    assert "already told" in again.content
    assert len(bot_texts(box, channel, "has been released")) == 1
