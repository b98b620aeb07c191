"""A student's own calendar: upcoming list, zone, reminders, quiet hours, .ics file and feed."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

import aiohttp
import pytest
from icalendar import Calendar
from sqlalchemy import select

from bot.db.models import NoticeStatus, Person
from cohortlab.localdiscord.scripting import Actor
from cohortlab.sandbox import Sandbox
from tests.e2e.test_calendar_support import (
    MODULE,
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


async def _schedule(box: Sandbox) -> tuple[int, int]:
    world = world_of(box)
    channel = world.channel(MODULE)
    teacher = tutor(box)
    amara = students(box)[0]
    tutorial = number(
        (
            await (
                await teacher.command(
                    "tutorial add",
                    where=channel,
                    module=MODULE,
                    title="Evening tutorial",
                    start="2026-03-19 18:00",
                    duration="1h",
                    repeat="weekly",
                    until="2026-04-02",
                    join_link="https://meet.example.org/t",
                )
            ).reply(contains="Tutorial #")
        ).content
    )
    await (
        await teacher.command("tutorial cancel", where=channel, tutorial=tutorial, session=2)
    ).reply(contains="Cancelled")
    item = number(
        (
            await (
                await teacher.command(
                    "deadline add",
                    where=channel,
                    module=MODULE,
                    kind="submission_deadline",
                    title="Coursework 1",
                    due="2026-03-27 AoE",
                )
            ).reply(contains="#")
        ).content
    )
    await (
        await teacher.command(
            "deadline extend",
            where=channel,
            item=item,
            student=amara,
            due="2026-04-03 12:00",
            reason="MC-1",
        )
    ).reply(contains="Extension #")
    return tutorial, item


def _events(data: bytes) -> dict[str, object]:
    cal = Calendar.from_ical(data)
    return {str(e["UID"]): e for e in cal.walk("VEVENT")}


async def test_calendar_file_round_trips_with_the_students_zone(box: Sandbox) -> None:
    await _schedule(box)
    amara = students(box)[0]
    await (await amara.command("calendar timezone", zone="Asia/Tokyo")).reply(contains="Tokyo")
    handle = await amara.command("calendar ics")
    reply = await handle.reply(contains="Your calendar")
    assert "times in Asia/Tokyo" in reply.content
    assert len(reply.attachments) == 1
    data = reply.attachments[0].data
    cal = Calendar.from_ical(data)
    assert str(cal["X-WR-TIMEZONE"]) == "Asia/Tokyo"
    assert [str(tz["TZID"]) for tz in cal.walk("VTIMEZONE")] == ["Asia/Tokyo"]
    events = _events(data)
    tokyo = ZoneInfo("Asia/Tokyo")
    starts = {
        uid.split("@")[0]: e["DTSTART"].dt  # type: ignore[index]
        for uid, e in events.items()
    }
    # Instants are the stored ones (18:00 London = 18:00Z in March, 17:00Z in April) shown in
    # Tokyo time, with the zone attached.
    assert starts["tutorial-1-1"] == datetime(2026, 3, 19, 18, 0, tzinfo=UTC)
    assert starts["tutorial-1-3"] == datetime(2026, 4, 2, 17, 0, tzinfo=UTC)
    assert all(getattr(t, "tzinfo", None) is not None for t in starts.values())
    assert starts["tutorial-1-1"].tzinfo.key == tokyo.key
    assert starts["tutorial-1-1"].hour == 3  # 03:00 the next morning in Tokyo
    assert str(events["tutorial-1-2@cohortbot"]["STATUS"]) == "CANCELLED"  # type: ignore[index]
    # The deadline is her extended one (12:00 London, summer time).
    assert starts["deadline-2"] == datetime(2026, 4, 3, 11, 0, tzinfo=UTC)
    assert "your extension" in str(events["deadline-2@cohortbot"]["SUMMARY"])  # type: ignore[index]

    # The same calendar by its feed address; revoking it makes the old address fail.
    url = reply.content.split("<", 1)[1].split(">", 1)[0]
    path = url[url.index("/calendar/") :]
    async with aiohttp.ClientSession() as http:
        async with http.get(box.app.web.url + path) as resp:
            assert resp.status == 200
            assert resp.headers["Content-Type"].startswith("text/calendar")
            feed = await resp.read()
        assert set(_events(feed)) == set(events)
        fresh = await (await amara.command("calendar reset-feed")).reply(contains="no longer")
        new_url = fresh.content.split("<", 1)[1].split(">", 1)[0]
        assert new_url != url
        async with http.get(box.app.web.url + path) as resp:
            assert resp.status == 404
        async with http.get(box.app.web.url + new_url[new_url.index("/calendar/") :]) as resp:
            assert resp.status == 200
        async with http.get(box.app.web.url + "/calendar/guess.ics") as resp:
            assert resp.status == 404

    # Another student's file has the original deadline and her own (cohort) zone.
    lukas = students(box)[1]
    other = await (await lukas.command("calendar ics")).reply(contains="Your calendar")
    theirs = _events(other.attachments[0].data)
    due = theirs["deadline-2@cohortbot"]["DTSTART"].dt  # type: ignore[index]
    assert due == datetime(2026, 3, 28, 11, 59, 59, tzinfo=UTC)
    assert due.tzinfo.key == "Europe/London"


async def test_zone_autocomplete_reminders_switch_and_quiet_hours(box: Sandbox) -> None:
    world = world_of(box)
    channel = world.channel(MODULE)
    amara = students(box)[0]
    choices = await amara.autocomplete("calendar timezone", "zone", "tok")
    assert choices[0]["value"] == "Asia/Tokyo"
    wrong = await (await amara.command("calendar timezone", zone="Europe/Londno")).reply()
    assert "did you mean Europe/London" in wrong.content

    await (await amara.command("calendar timezone", zone="Europe/London")).reply()
    await (await amara.command("calendar quiet-hours", start="22:00", end="07:00")).reply(
        contains="Quiet hours 22:00–07:00"
    )
    # A tutorial at 08:00 Thursday: the 24-hour DM (08:00 Wednesday) is fine; a 12-hour one
    # (20:00 Wednesday) too; a 9-hour one (23:00) waits for 07:00; the 15-minute one (07:45)
    # stays, since quiet hours end at 07:00 anyway.
    await (
        await tutor(box).command(
            "tutorial add",
            where=channel,
            module=MODULE,
            title="Breakfast tutorial",
            start="2026-03-05 08:00",
            duration="1h",
            reminders="24h,12h,9h,15m",
        )
    ).reply(contains="Tutorial #")
    await box.run_due()
    card = await box.server.script.wait_for_message(channel, contains="Breakfast tutorial")
    await (await amara.click(card, button(card, "going"))).reply(contains="going")
    mine = sorted(
        n.due_at for n in await notices(box, kind="tutorial_reminder") if n.person_id is not None
    )
    assert mine == [
        datetime(2026, 3, 4, 8, 0, tzinfo=UTC),
        datetime(2026, 3, 4, 20, 0, tzinfo=UTC),
        datetime(2026, 3, 5, 7, 0, tzinfo=UTC),
        datetime(2026, 3, 5, 7, 45, tzinfo=UTC),
    ]
    # Clearing quiet hours moves the pending DM back to its own time.
    await (await amara.command("calendar quiet-hours")).reply(contains="off")
    mine = sorted(
        n.due_at for n in await notices(box, kind="tutorial_reminder") if n.person_id is not None
    )
    assert datetime(2026, 3, 4, 23, 0, tzinfo=UTC) in mine

    # Reminders off: the DM is skipped (and recorded), the class-wide post still comes.
    await (await amara.command("calendar reminders", enabled=False)).reply(contains="off")
    await box.advance(datetime(2026, 3, 4, 8, 0, tzinfo=UTC) - box.clock.now())
    await box.server.script.wait_for_message(channel, contains="starts in 24 hours")
    assert amara.dms() == []
    skipped = [
        n
        for n in await notices(box, kind="tutorial_reminder", status=NoticeStatus.SKIPPED)
        if n.person_id is not None
    ]
    assert [n.last_error for n in skipped] == ["the person turned DM reminders off"]
    async with box.db.session() as s:
        person = (
            await s.execute(select(Person).where(Person.display_name == "Amara Okafor"))
        ).scalar_one()
    assert person.timezone == "Europe/London" and person.dm_reminders is False


@pytest.mark.parametrize(
    ("command", "options", "sentence"),
    [
        (
            "tutorial add",
            {"title": "T", "start": "next tuesday", "duration": "1h"},
            "Could not read 'next tuesday' as a time",
        ),
        (
            "tutorial add",
            {"title": "T", "start": "2026-03-01 18:00", "duration": "1h"},
            "is in the past",
        ),
        (
            "tutorial add",
            {"title": "T", "start": "2026-03-04 18:00", "duration": "17:00"},
            "must be after the start",
        ),
        (
            "tutorial add",
            {"title": "T", "start": "2026-03-04 18:00", "duration": "1h", "repeat": "weekly"},
            "needs an end date",
        ),
        (
            "tutorial add",
            {"title": "T", "start": "2026-03-04 18:00", "duration": "1h", "join_link": "zoom"},
            "must be a web address",
        ),
        (
            "deadline add",
            {"kind": "submission_deadline", "title": "CW", "due": "2026-02-30 12:00"},
            "is not a real date",
        ),
        (
            "deadline add",
            {"kind": "submission_deadline", "title": "CW", "due": "2026-03-09"},
            "has no time of day",
        ),
        (
            "deadline add",
            {
                "kind": "submission_deadline",
                "title": "CW",
                "due": "2026-03-09 12:00",
                "offsets": "soon",
            },
            "as a duration",
        ),
    ],
)
async def test_bad_input_gets_one_sentence_and_changes_nothing(
    box: Sandbox, command: str, options: dict[str, object], sentence: str
) -> None:
    channel = world_of(box).channel(MODULE)
    before = await snapshot(box)
    reply = await (
        await tutor(box).command(command, where=channel, module=MODULE, options=options)
    ).reply()
    assert sentence in reply.content
    assert reply.content.count(". ") <= 1 and "Traceback" not in reply.content
    assert await snapshot(box) == before


async def test_refusals_for_people_and_roles_change_nothing(box: Sandbox) -> None:
    world = world_of(box)
    channel = world.channel(MODULE)
    teacher = tutor(box)
    other_tutor = world.tutors("MATH70094")[0]
    olga = next(a for a in world.students("MATH70095") if a not in world.students(MODULE))
    amara = students(box)[0]
    item = number(
        (
            await (
                await teacher.command(
                    "deadline add",
                    where=channel,
                    module=MODULE,
                    kind="submission_deadline",
                    title="CW",
                    due="2026-03-20 12:00",
                )
            ).reply(contains="#")
        ).content
    )
    before = await snapshot(box)
    cases: list[tuple[Actor, str, dict[str, Any], str]] = [
        (
            teacher,
            "deadline extend",
            {"item": item, "student": olga, "due": "2026-03-27 12:00", "reason": "MC"},
            "is not enrolled as a student in MATH70097",
        ),
        (
            teacher,
            "deadline extend",
            {"item": item, "student": amara, "due": "2026-03-19 12:00", "reason": "MC"},
            "must end after the deadline",
        ),
        (
            other_tutor,
            "deadline extend",
            {"item": item, "student": amara, "due": "2026-03-27 12:00", "reason": "MC"},
            "Only tutors of MATH70097",
        ),
        (
            amara,
            "deadline add",
            {
                "module": MODULE,
                "kind": "submission_deadline",
                "title": "x",
                "due": "2026-04-01 AoE",
            },
            "Only tutors of MATH70097",
        ),
        (
            teacher,
            "deadline request",
            {"item": item, "due": "2026-03-27 12:00", "reason": "MC"},
            "not enrolled as a student",
        ),
        (
            amara,
            "deadline extend",
            {"item": 999, "student": amara, "due": "2026-03-27 12:00", "reason": "MC"},
            "There is no submission deadline #999",
        ),
    ]
    for actor, command, options, sentence in cases:
        reply = await (await actor.command(command, where=channel, options=options)).reply()
        assert sentence in reply.content, (command, reply.content)
        assert await snapshot(box) == before, command


async def test_quiet_hours_and_the_calendar_file_share_the_cohort_zone(
    storage: Backends, backend: str
) -> None:
    """A student who never set a zone: "22:00-07:00" and the .ics are both London time (the
    cohort's), so in summer time a 07:30 London reminder is not held back as if 07:30 were
    inside quiet hours that end at 07:00 UTC."""
    summer = datetime(2026, 4, 1, 9, 0, tzinfo=UTC)
    async with calendar_sandbox(storage, backend, start=summer) as box:
        channel = world_of(box).channel(MODULE)
        amara = students(box)[0]
        quiet = await (
            await amara.command("calendar quiet-hours", start="22:00", end="07:00")
        ).reply(contains="Quiet hours 22:00–07:00")
        ics = await (await amara.command("calendar ics")).reply(contains="Your calendar")
        assert "times in Europe/London" in ics.content
        assert "(Europe/London)" in quiet.content
        await (
            await tutor(box).command(
                "tutorial add",
                where=channel,
                module=MODULE,
                title="Early tutorial",
                start="2026-04-06 08:30",  # 07:30Z
                duration="1h",
                reminders="1h",
            )
        ).reply(contains="Tutorial #")
        await box.run_due()
        card = await box.server.script.wait_for_message(channel, contains="Early tutorial")
        await (await amara.click(card, button(card, "going"))).reply(contains="going")
        mine = [
            n.due_at
            for n in await notices(box, kind="tutorial_reminder")
            if n.person_id is not None
        ]
        # 07:30 London is after quiet hours end (07:00 London): due as planned.
        assert mine == [datetime(2026, 4, 6, 6, 30, tzinfo=UTC)]
