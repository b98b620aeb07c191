"""Every extension command grants by the one rule: the latest grant applies, the earlier one is
kept as ``superseded`` (never "denied"), and a privacy export says so."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select

from bot.access.identity import ChatUser
from bot.access.permissions import load_caller
from bot.calendar import service as calendar
from bot.db.engine import Database
from bot.db.models import Cohort, Extension, ExtensionStatus, Person
from bot.discussions import service as discussions
from bot.gradebook.privacy import personal_data
from tests.storage.test_calendar_service import NOW, STUDENT, TUTOR, _cohort, _ctx, add_cw
from tests.storage.test_discussions import CLOSES, _world


async def _statuses(db: Database) -> list[ExtensionStatus]:
    async with db.session() as s:
        rows = await s.execute(select(Extension.status).order_by(Extension.id))
        return list(rows.scalars())


async def _exported(db: Database, person_id: int) -> list[tuple[str, str]]:
    async with db.session() as s:
        person = await s.get(Person, person_id)
        assert person is not None
        data = await personal_data(s, person)
    return [(x["item"], x["status"]) for x in data["extensions"]]


async def test_a_second_prompt_extension_supersedes_the_first(db: Database) -> None:
    w = await _world(db)
    bob = w.people["bob"]
    tutor = w.people["tutor"]
    results = []
    for days in (3, 2):  # the second is shorter: the latest applies all the same
        async with db.session() as s:
            cohort = (await s.execute(select(Cohort))).scalar_one()
            caller = await load_caller(
                s, cohort.id, ChatUser(str(tutor.platform_user_id), "tutor", "Tutor")
            )
            results.append(
                await discussions.grant_extension(
                    s,
                    caller,
                    cohort,
                    w.prompt_id,
                    student=ChatUser(str(bob.platform_user_id), "bob", "Bob"),
                    until=(CLOSES + timedelta(days=days)).strftime("%Y-%m-%dT%H:%MZ"),
                    reason="illness",
                    now=CLOSES - timedelta(hours=1),
                )
            )
    first, second = results
    assert second.render().startswith(f"Extension #{second.extension_id}: Bob now has until <t:")
    assert f"for prompt #{w.prompt_id} **Week 1** (MATH70097)" in second.render()
    assert second.was_at == first.due_at and second.due_at == CLOSES + timedelta(days=2)
    assert await _statuses(db) == [ExtensionStatus.SUPERSEDED, ExtensionStatus.APPROVED]
    assert await _exported(db, bob.id) == [
        (f"prompt {w.prompt_id}", "superseded"),
        (f"prompt {w.prompt_id}", "approved"),
    ]


async def test_a_second_deadline_extension_supersedes_the_first(db: Database) -> None:
    await _cohort(db)
    async with db.session() as s:
        caller, cohort = await _ctx(s, TUTOR)
        item = await add_cw(s, caller, cohort)
        granted = [
            await calendar.grant_extension(
                s,
                caller,
                cohort,
                event_id=item.event_id,
                student=STUDENT,
                due=due,
                reason="MC-1",
                now=NOW,
            )
            for due in ("2026-03-25 12:00", "2026-03-23 12:00")
        ]
        student = (
            await s.execute(select(Person).where(Person.platform_user_id == "20"))
        ).scalar_one()
    assert granted[1].was_at == granted[0].due_at
    assert granted[1].render().startswith(f"Extension #{granted[1].extension_id}: Ada Student")
    assert await _statuses(db) == [ExtensionStatus.SUPERSEDED, ExtensionStatus.APPROVED]
    assert await _exported(db, student.id) == [
        (f"event {item.event_id}", "superseded"),
        (f"event {item.event_id}", "approved"),
    ]
