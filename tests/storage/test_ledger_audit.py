"""The ledger counts each activity once and corrects by reversal; the audit trail keeps all."""

from __future__ import annotations

from decimal import Decimal

from bot.db.engine import Database
from bot.db.models import Cohort, Designation, LedgerSource, Module, Person
from bot.db.types import utcnow
from bot.gradebook import audit, ledger


async def _setup(db: Database) -> tuple[int, int, Person]:
    async with db.session() as s:
        cohort = Cohort(code="C", name="C")
        s.add(cohort)
        await s.flush()
        module = Module(
            cohort_id=cohort.id,
            code="M",
            title="M",
            term="Autumn",
            ects=5,
            designation=Designation.CORE,
        )
        student = Person(display_name="Stu")
        tutor = Person(display_name="Dr Tutor")
        s.add_all([module, student, tutor])
        await s.flush()
        return module.id, student.id, tutor


def _credit(module_id: int, person_id: int, key: str, points: str) -> ledger.Credit:
    return ledger.Credit(
        idempotency_key=key,
        module_id=module_id,
        person_id=person_id,
        source=LedgerSource.DISCUSSION_POST,
        item_type="prompt",
        item_id=1,
        source_ref=f"message:{key}",
        points=Decimal(points),
        occurred_at=utcnow(),
    )


async def test_replayed_credits_count_once_and_reversal_cancels(db: Database) -> None:
    module_id, person_id, _ = await _setup(db)
    async with db.session() as s:
        assert (
            await ledger.credit(
                s,
                [
                    _credit(module_id, person_id, "m1", "2"),
                    _credit(module_id, person_id, "m2", "1.5"),
                ],
            )
            == 2
        )
    async with db.session() as s:  # a gateway replay or backfill of the same messages
        assert await ledger.credit(s, [_credit(module_id, person_id, "m1", "2")]) == 0
        assert (await ledger.totals(s, module_id))[person_id][
            LedgerSource.DISCUSSION_POST
        ] == Decimal("3.5")
    async with db.session() as s:
        assert await ledger.reverse(s, "m2", "post deleted before the close")
        assert not await ledger.reverse(s, "m2", "again")
        assert not await ledger.reverse(s, "nope", "unknown")
    async with db.session() as s:
        assert (await ledger.totals(s, module_id))[person_id][
            LedgerSource.DISCUSSION_POST
        ] == Decimal("2")
        entries = await ledger.entries_for(s, person_id)
        assert [e.points for e in entries] == [Decimal("2"), Decimal("1.5"), Decimal("-1.5")]
        assert entries[-1].note == "post deleted before the close"


async def test_audit_trail_reads_by_student_and_item(db: Database) -> None:
    module_id, person_id, tutor = await _setup(db)
    async with db.session() as s:
        await audit.record(
            s,
            actor=tutor,
            action="grade",
            entity_type="prompt",
            entity_id=7,
            subject_person_id=person_id,
            module_id=module_id,
            before=None,
            after={"quality": Decimal("3")},
            reason="first grading",
        )
        await audit.record(
            s,
            actor=tutor,
            action="grade",
            entity_type="prompt",
            entity_id=7,
            subject_person_id=person_id,
            module_id=module_id,
            before={"quality": Decimal("3")},
            after={"quality": Decimal("4")},
            reason="re-read the reply",
        )
        await audit.record(
            s, actor=None, action="release", entity_type="prompt", entity_id=8, module_id=module_id
        )
    async with db.session() as s:
        mine = await audit.trail(s, audit.TrailQuery(subject_person_id=person_id))
        assert [(e.before, e.after, e.reason) for e in mine] == [
            (None, {"quality": "3"}, "first grading"),
            ({"quality": "3"}, {"quality": "4"}, "re-read the reply"),
        ]
        assert mine[0].actor_label == "Dr Tutor"
        item = await audit.trail(s, audit.TrailQuery(entity_type="prompt", entity_id=8))
        assert [e.actor_label for e in item] == ["cohortbot"]
        other_module = await audit.trail(s, audit.TrailQuery(module_ids=frozenset({module_id + 1})))
        assert other_module == []
