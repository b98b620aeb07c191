"""bot.due on a real database: grants supersede, batches are one query, sync reads agree."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import event, select

from bot import due
from bot.db.engine import Database
from bot.db.models import (
    CalendarEvent,
    Cohort,
    Designation,
    DiscussionPrompt,
    EventKind,
    Extension,
    ExtensionStatus,
    Module,
    PeerExercise,
    Person,
)

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
CLOSE = T0 + timedelta(days=4)
DAY = timedelta(days=1)


async def _world(db: Database) -> tuple[due.Item, due.Item, due.Item, list[int]]:
    async with db.session() as s:
        cohort = Cohort(code="C", name="C")
        s.add(cohort)
        await s.flush()
        module = Module(
            cohort_id=cohort.id, code="M", title="M", term="T", ects=5, designation=Designation.CORE
        )
        people = [Person(display_name=n) for n in ("Ada", "Bo", "Cy")]
        s.add_all([module, *people])
        await s.flush()
        prompt = DiscussionPrompt(
            module_id=module.id, title="P", body="b", opens_at=T0, closes_at=CLOSE, rubric={}
        )
        exercise = PeerExercise(
            module_id=module.id,
            title="E",
            brief="b",
            submission_due_at=CLOSE,
            review_due_at=CLOSE + 3 * DAY,
            rubric={},
        )
        deadline = CalendarEvent(
            module_id=module.id,
            kind=EventKind.SUBMISSION_DEADLINE,
            title="D",
            starts_at=CLOSE,
            timezone="UTC",
        )
        s.add_all([prompt, exercise, deadline])
        await s.flush()
        return (
            due.prompt_item(prompt),
            due.submission_item(exercise),
            due.deadline_item(deadline),
            [p.id for p in people],
        )


async def _statuses(db: Database) -> list[tuple[int, ExtensionStatus]]:
    async with db.session() as s:
        rows = await s.execute(select(Extension.id, Extension.status).order_by(Extension.id))
        return [(i, st) for i, st in rows.all()]


async def test_a_new_grant_applies_and_supersedes_the_earlier_one(db: Database) -> None:
    prompt, exercise, _deadline, (ada, bo, _cy) = await _world(db)
    async with db.session() as s:
        first = await due.grant(
            s, prompt, ada, CLOSE + 3 * DAY, reason_ref="MC-1", decided_by_id=bo, now=T0
        )
        assert (first.was.due_at, first.now.due_at, first.superseded) == (
            CLOSE,
            CLOSE + 3 * DAY,
            (),
        )
    async with db.session() as s:
        # shorter, but later decided: it applies
        second = await due.grant(
            s, prompt, ada, CLOSE + DAY, reason_ref="MC-2", decided_by_id=bo, now=T0 + DAY
        )
        assert second.was.due_at == CLOSE + 3 * DAY
        assert second.now.due_at == CLOSE + DAY
        assert second.superseded == (first.extension.id,)
        answer = await due.due_for(s, prompt, ada)
        assert answer.extension is not None and answer.extension.id == second.extension.id
        assert answer.late(CLOSE + 2 * DAY) and not answer.late(CLOSE + DAY)
        # another item and another person are untouched
        assert (await due.due_for(s, exercise, ada)).due_at == CLOSE
        assert (await due.due_for(s, prompt, bo)).extension is None
    assert await _statuses(db) == [
        (first.extension.id, ExtensionStatus.SUPERSEDED),
        (second.extension.id, ExtensionStatus.APPROVED),
    ]
    async with db.session() as s:
        row = await s.get(Extension, first.extension.id)
        assert row is not None
        assert await due.supersede(s, row) == ()  # already done: nothing more
    assert [st for _, st in await _statuses(db)] == [
        ExtensionStatus.SUPERSEDED,
        ExtensionStatus.APPROVED,
    ]


async def test_requested_and_denied_grants_never_apply(db: Database) -> None:
    prompt, _exercise, deadline, (ada, _bo, _cy) = await _world(db)
    async with db.session() as s:
        for status in (ExtensionStatus.REQUESTED, ExtensionStatus.DENIED):
            s.add(
                Extension(
                    person_id=ada,
                    event_id=deadline.id,
                    new_due_at=CLOSE + 5 * DAY,
                    reason_ref="r",
                    status=status,
                    requested_at=T0,
                )
            )
    async with db.session() as s:
        assert (await due.due_for(s, deadline, ada)).due_at == CLOSE
        assert (await due.load_grants(s, [prompt, deadline])).by_key == {}


async def test_a_whole_module_is_one_query_and_the_sync_read_agrees(db: Database) -> None:
    prompt, exercise, deadline, (ada, bo, cy) = await _world(db)
    async with db.session() as s:
        await due.grant(s, prompt, ada, CLOSE + DAY, reason_ref="a", decided_by_id=None, now=T0)
        await due.grant(
            s, exercise, bo, CLOSE + 2 * DAY, reason_ref="b", decided_by_id=None, now=T0
        )
        await due.grant(
            s, deadline, cy, CLOSE + 3 * DAY, reason_ref="c", decided_by_id=None, now=T0
        )
    statements: list[str] = []

    def count(*args: object) -> None:
        statements.append(str(args[2]))

    event.listen(db.engine.sync_engine, "before_cursor_execute", count)
    try:
        async with db.session() as s:
            grants = await due.load_grants(s, [prompt, exercise, deadline])
    finally:
        event.remove(db.engine.sync_engine, "before_cursor_execute", count)
    assert len([q for q in statements if "extensions" in q]) == 1
    table = {
        (item.kind, pid): grants.due(item, pid).due_at
        for item in (prompt, exercise, deadline)
        for pid in (ada, bo, cy)
    }
    assert table[(due.ItemKind.PROMPT, ada)] == CLOSE + DAY
    assert table[(due.ItemKind.SUBMISSION, bo)] == CLOSE + 2 * DAY
    assert table[(due.ItemKind.DEADLINE, cy)] == CLOSE + 3 * DAY
    assert sum(1 for when in table.values() if when == CLOSE) == 6
    assert set(grants.extended(exercise)) == {bo}
    assert grants.extensions() == {
        (due.ItemKind.PROMPT, prompt.id, ada): CLOSE + DAY,
        (due.ItemKind.SUBMISSION, exercise.id, bo): CLOSE + 2 * DAY,
        (due.ItemKind.DEADLINE, deadline.id, cy): CLOSE + 3 * DAY,
    }
    assert grants.until(due.ItemKind.PROMPT, prompt.id, bo) is None

    async with db.session() as s:
        only_bo = await due.load_grants(s, [prompt, exercise, deadline], [bo])
        synced = await s.run_sync(lambda sync: due.load_grants_sync(sync, [prompt, exercise]))
    assert list(only_bo.by_key) == [(due.ItemKind.SUBMISSION, exercise.id, bo)]
    assert synced.by_key == {
        k: v for k, v in grants.by_key.items() if k[0] is not due.ItemKind.DEADLINE
    }


async def test_a_grant_the_item_has_moved_past_no_longer_applies(db: Database) -> None:
    prompt, _exercise, _deadline, (ada, _bo, _cy) = await _world(db)
    async with db.session() as s:
        await due.grant(s, prompt, ada, CLOSE + DAY, reason_ref="a", decided_by_id=None, now=T0)
        row = await s.get(DiscussionPrompt, prompt.id)
        assert row is not None
        row.closes_at = CLOSE + 2 * DAY
    async with db.session() as s:
        grants = await due.load_grants(s, [prompt])
        moved = due.prompt_item(row)
        assert grants.until(due.ItemKind.PROMPT, prompt.id, ada) is None
        assert grants.extensions() == {}
        assert grants.due(moved, ada).due_at == CLOSE + 2 * DAY
        assert (await due.due_for(s, moved, ada)).extension is None
