"""Totals recomputed from the raw records equal the ledger's, after randomized terms."""

from __future__ import annotations

import random
from decimal import Decimal

import pytest
from sqlalchemy import select

from bot.db.engine import Database
from bot.db.models import Attendance, LedgerSource
from bot.db.types import utcnow
from bot.gradebook import ledger
from bot.gradebook.reconcile import reconcile
from cohortlab.sample import sample_cohort, seed_term


@pytest.mark.parametrize("seed", range(10))
async def test_randomized_term_ledger_equals_raw_records(db: Database, seed: int) -> None:
    rng = random.Random(seed)
    now = utcnow()
    async with db.session() as s:
        cohort = await sample_cohort(s, students=rng.randrange(4, 14))
        report = await seed_term(
            s,
            cohort.module,
            now=now,
            rng=rng,
            prompts=rng.randrange(1, 4),
            exercises=rng.randrange(0, 3),
            tutorials=rng.randrange(0, 6),
            released_prompts=rng.randrange(0, 3),
        )
        module_id = cohort.module.id
    assert report.contributions > 0 and report.credits > 0
    async with db.session() as s:
        result = await reconcile(s, module_id)
        totals = await ledger.totals(s, module_id)
    assert result.ok, "\n".join(d.text for d in result.discrepancies)
    assert result.checked > 0
    # per student and source: recomputed totals == the ledger's (adjustments aside)
    ledger_totals = {
        (pid, source.value): value
        for pid, by_source in totals.items()
        for source, value in by_source.items()
        if value != 0
    }
    assert result.expected_totals == ledger_totals
    assert result.ledger_totals == ledger_totals


async def test_reconciliation_names_a_missing_and_a_stray_credit(db: Database) -> None:
    rng = random.Random(42)
    now = utcnow()
    async with db.session() as s:
        cohort = await sample_cohort(s, students=6)
        report = await seed_term(s, cohort.module, now=now, rng=rng, prompts=1, tutorials=3)
        module_id = cohort.module.id
        attended = {
            (o, p)
            for o, p in (
                await s.execute(select(Attendance.occurrence_id, Attendance.person_id))
            ).all()
        }
        absent = [
            (o, st.id)
            for o in report.occurrences
            for st in cohort.students
            if (o, st.id) not in attended
        ]
        assert len(absent) >= 2, "the seed gave everyone full attendance"
        (occ_a, student_a), (occ_b, student_b) = absent[0], absent[1]
        # a check-in recorded without its credit, and a credit with no check-in behind it
        s.add(
            Attendance(
                occurrence_id=occ_a,
                person_id=student_a,
                checked_in_at=now,
                idempotency_key=f"uncredited:{student_a}",
            )
        )
        await ledger.credit(
            s,
            [
                ledger.Credit(
                    idempotency_key="stray",
                    module_id=module_id,
                    person_id=student_b,
                    source=LedgerSource.TUTORIAL_ATTENDANCE,
                    item_type="occurrence",
                    item_id=occ_b,
                    source_ref="stray",
                    points=Decimal(1),
                    occurred_at=now,
                )
            ],
        )
    async with db.session() as s:
        result = await reconcile(s, module_id)
    assert [
        (d.person_id, d.item_id, d.expected, d.recorded, d.detail) for d in result.discrepancies
    ] == sorted(
        [
            (student_a, occ_a, Decimal("1.000"), Decimal("0.000"), "missing from the ledger"),
            (student_b, occ_b, Decimal("0.000"), Decimal("1.000"), "not in the raw records"),
        ]
    )
    assert "missing from the ledger" in result.discrepancies[0].text
