"""Calendar services on real databases: what is planned, moved, extended and served."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from icalendar import Calendar
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.access.identity import ChatUser
from bot.access.permissions import Caller, load_caller
from bot.calendar import messages as M
from bot.calendar import personal, service
from bot.calendar.deadlines import DeadlineCreated
from bot.db.engine import Database
from bot.db.models import (
    CalendarEvent,
    Cohort,
    Designation,
    Enrolment,
    EventOccurrence,
    Module,
    Notice,
    NoticeStatus,
    Person,
    Role,
)
from bot.errors import PermissionDenied, UserError

NOW = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
TUTOR = ChatUser("10", "tutor", "Dr Tutor")
STUDENT = ChatUser("20", "student", "Ada Student")
OTHER = ChatUser("30", "other", "Bo Other")


async def _cohort(db: Database) -> None:
    async with db.session() as s:
        cohort = Cohort(code="C", name="Cohort", timezone="Europe/London", guild_id="1")
        s.add(cohort)
        await s.flush()
        module = Module(
            cohort_id=cohort.id,
            code="MATH70097",
            title="Supervised Learning",
            term="Spring",
            ects=Decimal(5),
            designation=Designation.CORE,
            channel_id="100",
            role_id="200",
        )
        other = Module(
            cohort_id=cohort.id,
            code="MATH70094",
            title="Programming",
            term="Autumn",
            ects=Decimal(5),
            designation=Designation.CORE,
        )
        s.add_all([module, other])
        people = {
            u: Person(display_name=u.display_name, platform_user_id=u.platform_user_id)
            for u in (TUTOR, STUDENT, OTHER)
        }
        s.add_all(people.values())
        await s.flush()
        s.add_all(
            [
                Enrolment(module_id=module.id, person_id=people[TUTOR].id, role=Role.TUTOR),
                Enrolment(module_id=module.id, person_id=people[STUDENT].id, role=Role.STUDENT),
                Enrolment(module_id=other.id, person_id=people[OTHER].id, role=Role.STUDENT),
            ]
        )


async def _ctx(s: object, user: ChatUser) -> tuple[Caller, Cohort]:
    from sqlalchemy.ext.asyncio import AsyncSession

    assert isinstance(s, AsyncSession)
    cohort = (await s.execute(select(Cohort))).scalar_one()
    return await load_caller(s, cohort.id, user), cohort


async def add_cw(s: AsyncSession, caller: Caller, cohort: Cohort) -> DeadlineCreated:
    """The coursework deadline these tests extend: MATH70097, due 20 March 2026 at noon."""
    return await service.add_deadline(
        s,
        caller,
        cohort,
        module_code="MATH70097",
        kind="submission_deadline",
        title="CW",
        due="2026-03-20 12:00",
        now=NOW,
    )


async def test_a_series_plans_a_card_and_reminders_per_session(db: Database) -> None:
    await _cohort(db)
    async with db.session() as s:
        caller, cohort = await _ctx(s, TUTOR)
        created = await service.add_tutorial(
            s,
            caller,
            cohort,
            module_code="MATH70097",
            title="Evening",
            start="2026-03-19 18:00",
            duration="1h",
            repeat="weekly",
            until="2026-04-02",
            now=NOW,
        )
        kinds = Counter(
            n.kind for n in (await s.execute(select(Notice))).scalars() if n.occurrence_id
        )
    assert [t.hour for t in created.starts] == [18, 18, 17]
    assert kinds == {M.TUTORIAL_CARD: 3, M.TUTORIAL_REMINDER: 6}
    assert created.next_due_at == datetime(2026, 3, 12, 18, 0, tzinfo=UTC)  # first card


async def test_moving_a_series_keeps_the_local_wall_time_across_the_change(db: Database) -> None:
    await _cohort(db)
    async with db.session() as s:
        caller, cohort = await _ctx(s, TUTOR)
        created = await service.add_tutorial(
            s,
            caller,
            cohort,
            module_code="MATH70097",
            title="Evening",
            start="2026-03-19 18:00",
            duration="1h",
            repeat="weekly",
            until="2026-04-02",
            now=NOW,
        )
        moved = await service.move_tutorial(
            s, caller, cohort, event_id=created.event_id, start="2026-03-19 19:30", now=NOW
        )
        starts = [
            o.starts_at
            for o in (
                await s.execute(select(EventOccurrence).order_by(EventOccurrence.sequence))
            ).scalars()
        ]
    assert len(moved.changed) == 3
    assert [(t.hour, t.minute) for t in starts] == [(19, 30), (19, 30), (18, 30)]


async def test_refusals_raise_one_sentence_and_roll_back(db: Database) -> None:
    await _cohort(db)
    with pytest.raises(PermissionDenied, match="Only tutors of MATH70097"):
        async with db.session() as s:
            caller, cohort = await _ctx(s, STUDENT)
            await add_cw(s, caller, cohort)
    with pytest.raises(UserError, match="needs an end date"):
        async with db.session() as s:
            caller, cohort = await _ctx(s, TUTOR)
            await service.add_tutorial(
                s,
                caller,
                cohort,
                module_code="MATH70097",
                title="T",
                start="2026-03-19 18:00",
                duration="1h",
                repeat="fortnightly",
                now=NOW,
            )
    async with db.session() as s:
        assert (await s.execute(select(CalendarEvent))).first() is None
        assert (await s.execute(select(Notice))).first() is None


async def test_latest_approved_extension_decides_the_due_time(db: Database) -> None:
    await _cohort(db)
    async with db.session() as s:
        caller, cohort = await _ctx(s, TUTOR)
        item = await add_cw(s, caller, cohort)
        for due in ("2026-03-25 12:00", "2026-03-23 12:00"):
            await service.grant_extension(
                s,
                caller,
                cohort,
                event_id=item.event_id,
                student=STUDENT,
                due=due,
                reason="MC-1",
                now=NOW,
            )
        event = await s.get(CalendarEvent, item.event_id)
        assert event is not None
        student = (
            await s.execute(select(Person).where(Person.platform_user_id == "20"))
        ).scalar_one()
        due_at, extension = await service.effective_due(s, event, student.id)
        assert extension is not None
        # The tutor's latest decision stands, even if it shortens an earlier extension.
        assert due_at == datetime(2026, 3, 23, 12, 0, tzinfo=UTC)
        personal_notices = (
            (
                await s.execute(
                    select(Notice).where(
                        Notice.person_id == student.id, Notice.kind == M.DEADLINE_NOTICE
                    )
                )
            )
            .scalars()
            .all()
        )
    pending = [n for n in personal_notices if n.status is NoticeStatus.PENDING]
    assert {n.payload["item_at"] for n in pending} == {"2026-03-23T12:00:00+00:00"}
    assert len(pending) == 4


async def test_feed_tokens_are_private_and_revocable(db: Database) -> None:
    await _cohort(db)
    async with db.session() as s:
        caller, cohort = await _ctx(s, STUDENT)
        first = await personal.calendar_file(
            s, caller, cohort, now=NOW, public_url="https://bot.example.org/"
        )
        token = first.url.rsplit("/", 1)[1].removesuffix(".ics")
        assert first.url == f"https://bot.example.org/calendar/{token}.ics"
        assert len(token) >= 43
        assert await personal.feed_for_token(s, token, now=NOW) is not None
        await personal.reset_feed(s, caller, public_url="https://bot.example.org")
        assert await personal.feed_for_token(s, token, now=NOW) is None
        assert await personal.feed_for_token(s, "", now=NOW) is None
        cal = Calendar.from_ical(first.data)
        assert str(cal["X-WR-TIMEZONE"]) == "Europe/London"


async def test_upcoming_hides_marking_periods_from_students(db: Database) -> None:
    await _cohort(db)
    async with db.session() as s:
        caller, cohort = await _ctx(s, TUTOR)
        for kind in ("submission_deadline", "marking_period_end"):
            await service.add_deadline(
                s,
                caller,
                cohort,
                module_code="MATH70097",
                kind=kind,
                title=kind,
                due="2026-03-20 12:00",
                now=NOW,
            )
        tutor_view = await personal.upcoming(s, caller, now=NOW)
        student, _ = await _ctx(s, STUDENT)
        student_view = await personal.upcoming(s, student, now=NOW)
        other, _ = await _ctx(s, OTHER)
        other_view = await personal.upcoming(s, other, now=NOW + timedelta(days=1))
    assert [d.title for d in tutor_view.deadlines] == ["submission_deadline", "marking_period_end"]
    assert [d.title for d in student_view.deadlines] == ["submission_deadline"]
    assert other_view.deadlines == []


def test_markers_match_whole_ids_only() -> None:
    text = "Reminder\n" + M.marker(42)
    assert M.has_marker(text, 42)
    assert not M.has_marker(text, 4)
    assert not M.has_marker(text + "\nmore", 42)
    assert [M.in_words(timedelta(seconds=s)) for s in (604800, 172800, 3600, 5400, 900)] == [
        "7 days",
        "48 hours",
        "1 hour",
        "1 hour 30 minutes",
        "15 minutes",
    ]
