"""The gradebook on a real database (SQLite, and PostgreSQL when configured)."""

from __future__ import annotations

import csv
import io
import json
import random
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from sqlalchemy import ForeignKey, func, select

from bot.access.identity import ChatUser
from bot.access.permissions import Caller, load_caller
from bot.db.engine import Database
from bot.db.models import (
    AuditEntry,
    Base,
    LedgerCell,
    LedgerEntry,
    LedgerSource,
    MarkRelease,
    Module,
    Notice,
    NoticeAudience,
    NoticeStatus,
    Person,
    Role,
)
from bot.db.models import MarkScheme as MarkSchemeRow
from bot.errors import PermissionDenied, UserError
from bot.gradebook import ledger, privacy, service, snapshot
from bot.gradebook.book import ledger_component
from bot.gradebook.view import StudentView
from cohortlab.sample import SampleCohort, sample_cohort, seed_term
from tests.storage_backends import Backends, backends

NOW = datetime(2026, 3, 9, 9, 0, tzinfo=UTC)


def caller(person: Person, cohort: SampleCohort, role: Role) -> Caller:
    return Caller(person=person, cohort_id=cohort.cohort_id, roles={cohort.module.id: role})


async def seeded(db: Database, seed: int = 3, students: int = 8) -> SampleCohort:
    async with db.session() as s:
        cohort = await sample_cohort(s, students=students)
        await seed_term(
            s, cohort.module, now=NOW, rng=random.Random(seed), prompts=2, exercises=1, tutorials=3
        )
    return cohort


async def export_csv(db: Database, module_id: int, now: datetime = NOW) -> bytes:
    async with db.session() as s:
        module = await s.get(Module, module_id)
        assert module is not None
        return (await service.build_module_export(s, module, "csv", now)).data


# --------------------------------------------------------------------------- ledger cells


async def test_database_kept_cells_always_equal_the_ledger(db: Database) -> None:
    cohort = await seeded(db, seed=11)
    async with db.session() as s:  # one credit of every source, adjustments included
        for n, source in enumerate(LedgerSource):
            await ledger.credit(
                s,
                [
                    ledger.Credit(
                        idempotency_key=f"each:{source.value}",
                        module_id=cohort.module.id,
                        person_id=cohort.students[0].id,
                        source=source,
                        item_type="adj:attendance" if source is LedgerSource.ADJUSTMENT else "x",
                        item_id=900 + n,
                        source_ref="test",
                        points=Decimal("0.333"),
                        occurred_at=NOW,
                    )
                ],
            )
        await ledger.reverse(s, "each:discussion_post", "test")
    async with db.session() as s:
        entries = (await s.execute(select(LedgerEntry))).scalars().all()
        cells = (await s.execute(select(LedgerCell))).scalars().all()
    expected: dict[tuple[int, int, str, str, int], tuple[int, int]] = {}
    for e in entries:
        component = ledger_component(str(e.source), e.item_type)
        assert component is not None
        key = (e.module_id, e.person_id, component.value, e.item_type, e.item_id)
        milli, count = expected.get(key, (0, 0))
        expected[key] = (milli + int(e.points * 1000), count + 1)
    got = {
        (c.module_id, c.person_id, c.component, c.item_type, c.item_id): (c.points_milli, c.entries)
        for c in cells
    }
    assert got == expected
    assert len(entries) > 50


# --------------------------------------------------------------------------- exports


async def test_export_is_reproducible_and_sorted(db: Database) -> None:
    cohort = await seeded(db)
    first = await export_csv(db, cohort.module.id)
    async with db.session() as s:  # activity in another module changes nothing here
        other = await sample_cohort(s, students=3, code="OTHER-1", module_code="M2")
        await seed_term(s, other.module, now=NOW, rng=random.Random(9), prompts=1, tutorials=1)
    assert await export_csv(db, cohort.module.id) == first
    rows = list(csv.DictReader(io.StringIO(first.decode("utf-8-sig"))))
    assert [r["student_number"] for r in rows] == sorted(r["student_number"] for r in rows)
    assert len(rows) == 8
    assert b"2026-03-09" not in first  # no export time inside the body


@pytest.mark.skipif(len(backends()) < 2, reason="needs COHORTBOT_TEST_POSTGRES_URL")
async def test_the_same_data_gives_the_same_bytes_on_sqlite_and_postgresql(
    storage: Backends,
) -> None:
    exports = []
    for backend in ("sqlite", "postgres"):
        url = await storage.fresh_url(backend)
        db = Database(url)
        try:
            cohort = await seeded(db, seed=5)
            exports.append(await export_csv(db, cohort.module.id))
        finally:
            await db.dispose()
            await storage.drop(url)
    assert exports[0] == exports[1]


async def test_programme_export_classifies_from_module_marks(db: Database) -> None:
    cohort = await seeded(db)
    tutor = caller(cohort.tutor, cohort, Role.TUTOR)
    async with db.session() as s:
        await service.set_weights(s, tutor, "M1", {}, participation_share=20, now=NOW)
        data = "student,component,weight,mark\n" + "".join(
            f"{p.student_number},Exam,80,{60 + n}\n" for n, p in enumerate(cohort.students)
        )
        result = await service.import_components(s, tutor, "M1", data.encode(), NOW)
    assert result.added == 8 and result.changed == 0
    async with db.session() as s:
        cohort_row = await s.get(Module, cohort.module.id)
        assert cohort_row is not None
        from bot.db.models import Cohort

        c = await s.get(Cohort, cohort.cohort_id)
        assert c is not None
        file = await service.build_programme_export(s, c, "csv", NOW)
    rows = list(csv.DictReader(io.StringIO(file.data.decode("utf-8-sig"))))
    assert len(rows) == 8
    first = rows[0]
    participation = Decimal(first["M1 participation"])
    module_mark = (participation * 20 + Decimal(60) * 80) / 100
    assert Decimal(first["M1 module mark"]) == module_mark.quantize(Decimal("0.01"))
    # one 7.5-credit module cannot make a 90-credit award: the preview says so
    assert first["classification"] == "Provisional: Fail (no award)"
    assert "credits" in first["classification reasons"]


# --------------------------------------------------------------------------- weights, release


async def test_weights_are_audited_and_refused_for_other_tutors(db: Database) -> None:
    cohort = await seeded(db)
    tutor = caller(cohort.tutor, cohort, Role.TUTOR)
    async with db.session() as s:
        shown = await service.set_weights(s, tutor, "M1", {}, now=NOW)
        assert not shown.changed and shown.text.startswith("Current weights for M1: Discussion 40%")
        saved = await service.set_weights(
            s, tutor, "m1", {"attendance": "40"}, reason="tutorials matter", now=NOW
        )
    assert saved.text.startswith("Weights saved for M1: Discussion 33.33%")
    async with db.session() as s:
        entry = (await s.execute(select(AuditEntry))).scalar_one()
        row = (await s.execute(select(MarkSchemeRow))).scalar_one()
    assert entry.action == "weights_changed" and entry.reason == "tutorials matter"
    assert entry.before is not None and entry.before["attendance"] == "20"
    assert entry.after is not None and entry.after["attendance"] == "40"
    assert entry.actor_label == "Dr Tutor" and entry.at == NOW
    assert row.weights["attendance"] == "40"

    student = caller(cohort.students[0], cohort, Role.STUDENT)
    with pytest.raises(PermissionDenied, match="Only tutors of M1 and programme admins"):
        async with db.session() as s:
            await service.set_weights(s, student, "M1", {"attendance": 1}, now=NOW)
    with pytest.raises(UserError, match="At least one participation component"):
        async with db.session() as s:
            await service.set_weights(
                s,
                tutor,
                "M1",
                {c: 0 for c in ("discussion", "peer_review", "peer_score", "attendance")},
                now=NOW,
            )
    async with db.session() as s:
        assert (await s.execute(select(func.count()).select_from(AuditEntry))).scalar_one() == 1


async def test_student_view_sees_release_and_weights_at_once(db: Database) -> None:
    cohort = await seeded(db)
    student = caller(cohort.students[0], cohort, Role.STUDENT)
    tutor = caller(cohort.tutor, cohort, Role.TUTOR)
    async with db.session() as s:
        before = await service.student_marks(s, student, "M1", NOW)
    assert "(provisional)**" in before.text
    async with db.session() as s:
        await service.set_weights(s, tutor, "M1", {"discussion": 100}, now=NOW)
        await service.release_participation(s, tutor, "M1", NOW)
    async with db.session() as s:
        after = await service.student_marks(s, student, "M1", NOW)
    assert "Discussion 62.5%" in after.text and "(released " in after.text
    async with db.session() as s:
        with pytest.raises(UserError, match="were already released on"):
            await service.release_participation(s, tutor, "M1", NOW)
        assert (await s.execute(select(func.count()).select_from(MarkRelease))).scalar_one() == 1


async def test_student_view_picks_up_other_features_within_the_snapshot_window(
    db: Database,
) -> None:
    cohort = await seeded(db)
    student = caller(cohort.students[0], cohort, Role.STUDENT)
    async with db.session() as s:
        first = await service.student_marks(s, student, "M1", NOW)
    async with db.session() as s:  # a feature closes something: the snapshot is stale ...
        await seed_term(s, cohort.module, now=NOW, rng=random.Random(1), prompts=1, tutorials=0)
    later = NOW + timedelta(seconds=snapshot.TTL_SECONDS + 1)  # ... until the clock moves on
    async with db.session() as s:
        again = await service.student_marks(s, student, "M1", later)
    assert isinstance(first, StudentView) and isinstance(again, StudentView)
    assert len([i for i in again.items if i.item_type.value == "prompt"]) == 3
    assert len([i for i in first.items if i.item_type.value == "prompt"]) == 2


async def test_adjustment_is_a_ledger_row_with_an_audited_reason(db: Database) -> None:
    cohort = await seeded(db)
    tutor = caller(cohort.tutor, cohort, Role.TUTOR)
    target = cohort.students[1]
    user = ChatUser(platform_user_id="u1", username=target.platform_username or "", display_name="")
    async with db.session() as s:
        result = await service.adjust(
            s,
            tutor,
            "M1",
            user,
            "attendance",
            "-1",
            "checked in for a friend",
            NOW,
            request_id="i1",
        )
    assert result.points == Decimal(-1) and result.after is not None and result.before is not None
    assert result.after < result.before
    async with db.session() as s:
        with pytest.raises(UserError, match="already recorded"):
            await service.adjust(
                s, tutor, "M1", user, "attendance", "-1", "again", NOW, request_id="i1"
            )
    async with db.session() as s:
        rows = (
            (
                await s.execute(
                    select(LedgerEntry).where(LedgerEntry.source == LedgerSource.ADJUSTMENT)
                )
            )
            .scalars()
            .all()
        )
        trail = (
            (await s.execute(select(AuditEntry).where(AuditEntry.action == "adjustment")))
            .scalars()
            .all()
        )
    assert [(r.points, r.item_type, r.note) for r in rows] == [
        (Decimal("-1.000"), "adj:attendance", "checked in for a friend")
    ]
    assert len(trail) == 1 and trail[0].entity_id == rows[0].id
    assert trail[0].subject_person_id == target.id


# --------------------------------------------------------------------------- privacy


def test_every_table_that_refers_to_a_person_is_covered_by_the_data_export() -> None:
    referring = {
        table.name
        for table in Base.metadata.sorted_tables
        for column in table.columns
        for fk in column.foreign_keys
        if isinstance(fk, ForeignKey) and fk.column.table.name == "persons"
    } | {"persons"}
    missing = referring - set(privacy.PRIVACY_COVERAGE)
    assert missing == set(), (
        f"tables {sorted(missing)} refer to persons: say in bot/gradebook/privacy.py "
        "PRIVACY_COVERAGE how a personal-data export treats them (and export them)"
    )


async def test_personal_data_holds_my_records_and_keeps_reviews_anonymous(db: Database) -> None:
    cohort = await seeded(db)
    me = cohort.students[0]
    async with db.session() as s:
        file = await privacy.export_personal_data(s, caller(me, cohort, Role.STUDENT), NOW)
    data = json.loads(file.data)
    assert data["profile"]["student_number"] == me.student_number
    assert data["enrolments"] == [
        {
            "module": "M1",
            "role": "student",
            "status": "active",
            "since": data["enrolments"][0]["since"],
        }
    ]
    assert data["participation_ledger"] and data["exported_at"] == NOW.isoformat()
    text = file.data.decode()
    others = [p for p in cohort.students if p.id != me.id]
    for other in others:
        assert other.display_name not in text and (other.email or "") not in text
    for review in data["reviews_of_your_work"]:
        assert set(review) == {"exercise", "scores", "comments", "total"}


async def test_erasure_pseudonymises_keeps_marks_and_cancels_notices(db: Database) -> None:
    cohort = await seeded(db)
    target = cohort.students[2]
    async with db.session() as s:
        s.add(
            Notice(
                dedupe_key="n1",
                kind="reminder",
                audience=NoticeAudience.PERSON,
                person_id=target.id,
                due_at=NOW + timedelta(days=1),
            )
        )
        target.platform_user_id = "4242"
        s.add(target)
    async with db.session() as s:
        requested = await privacy.request_erasure(s, caller(target, cohort, Role.STUDENT), NOW)
        again = await privacy.request_erasure(s, caller(target, cohort, Role.STUDENT), NOW)
    assert not requested.already and again.already
    tutor = caller(cohort.tutor, cohort, Role.TUTOR)
    with pytest.raises(PermissionDenied, match=r"Only programme admins can do that\."):
        async with db.session() as s:
            await privacy.confirm_erasure(s, tutor, target.student_number or "", None, NOW)
    admin = Caller(
        person=cohort.admin, cohort_id=cohort.cohort_id, roles={cohort.module.id: Role.ADMIN}
    )
    async with db.session() as s:
        ledger_before = (
            await s.execute(
                select(func.count())
                .select_from(LedgerEntry)
                .where(LedgerEntry.person_id == target.id)
            )
        ).scalar_one()
        erased = await privacy.confirm_erasure(s, admin, "4242", "request by email", NOW)
    assert erased.had_request and erased.notices_cancelled == 1
    async with db.session() as s:
        person = await s.get(Person, target.id)
        notice = (await s.execute(select(Notice))).scalar_one()
        ledger_after = (
            await s.execute(
                select(func.count())
                .select_from(LedgerEntry)
                .where(LedgerEntry.person_id == target.id)
            )
        ).scalar_one()
        trail = (
            (await s.execute(select(AuditEntry).where(AuditEntry.subject_person_id == target.id)))
            .scalars()
            .all()
        )
    assert person is not None and person.display_name == f"Erased person {target.id}"
    assert (person.email, person.platform_user_id, person.platform_username) == (None, None, None)
    assert person.student_number == target.student_number and person.erased_at == NOW
    assert notice.status is NoticeStatus.CANCELLED
    assert ledger_after == ledger_before
    assert [e.action for e in trail] == ["erasure_requested", "erased"]
    assert all(target.display_name not in json.dumps(e.before) for e in trail)
    async with db.session() as s:  # the bot no longer recognises them
        with pytest.raises(PermissionDenied, match="not on this cohort's roster"):
            await load_caller(s, cohort.cohort_id, ChatUser("4242", "x", "x"))
        with pytest.raises(UserError, match="Nobody in this cohort has"):
            await privacy.confirm_erasure(s, admin, "4242", None, NOW)


async def test_audit_trail_by_item_finds_every_spelling_and_stays_in_the_module(
    db: Database,
) -> None:
    cohort = await seeded(db)
    tutor = caller(cohort.tutor, cohort, Role.TUTOR)
    student = cohort.students[0]
    async with db.session() as s:
        from bot.gradebook import audit

        for entity_type in ("discussion_prompt", "prompt", "exercise"):
            await audit.record(
                s,
                actor=cohort.tutor,
                action="graded",
                entity_type=entity_type,
                entity_id=1,
                subject_person_id=student.id,
                module_id=cohort.module.id,
                before={"quality": "2"},
                after={"quality": "3"},
                reason=f"as {entity_type}",
                at=NOW,
            )
        await audit.record(  # another module's entry is never shown here
            s, actor=None, action="graded", entity_type="prompt", entity_id=1, at=NOW
        )
    user = ChatUser("u0", student.platform_username or "", "Student")
    async with db.session() as s:
        trail = await service.audit_trail(s, tutor, "M1", item="D1")
        mine = await service.audit_trail(s, tutor, "M1", student=user, item="X1")
    assert [line.reason for line in trail.lines] == ["as discussion_prompt", "as prompt"]
    assert trail.lines[0].text.endswith(
        "· Dr Tutor · graded · discussion_prompt 1 for Student 00001: quality 2 → quality 3 "
        "(why: as discussion_prompt)"
    )
    assert [line.reason for line in mine.lines] == ["as exercise"]
    assert mine.header == "Audit trail of M1, Student 00001 and X1: 1 entry"
    other = Caller(person=cohort.students[1], cohort_id=cohort.cohort_id, roles={})
    with pytest.raises(PermissionDenied):
        async with db.session() as s:
            await service.audit_trail(s, other, "M1")
    with pytest.raises(UserError, match="is not a student of M1"):
        async with db.session() as s:
            await service.audit_trail(s, tutor, "M1", student=ChatUser("z", "nobody", "Nobody"))
