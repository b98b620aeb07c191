"""``/marks`` reads each student's credits summed by the database (``my_marks.credits_sql``).

On both stores, for random ledgers (several sources per item, amounts with three decimals that
SQLite keeps as binary floats, negative corrections, adjustments with and without a reason,
students with nothing), the rows must be exactly the ledger's: per student and (source, item)
the exact sum in thousandths, adjustments one row each with their reason, in the order of each
one's first ledger row. ``tests/unit/test_marks_view.py`` builds the view from rows of this
shape (``credits_reference`` below) and checks the answer character for character.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from bot.db.engine import Database
from bot.db.models import Cohort, Designation, LedgerEntry, LedgerSource, Module, Person
from bot.gradebook.my_marks import PERSONS_PER_QUERY, credits_of

NOW = datetime(2026, 4, 20, 8, 0, tzinfo=UTC)
SOURCES = [s for s in LedgerSource if s is not LedgerSource.ADJUSTMENT]
#: Amounts with three decimals; 1.001 and 4.005 are held by SQLite as floats a hair under.
AMOUNTS = [
    "1",
    "0.5",
    "0.1",
    "0.333",
    "2.675",
    "-0.1",
    "-1",
    "4.005",
    "0.001",
    "12",
    "2.3",
    "1.001",
]


def credits_reference(person_id: int, rows: Sequence[tuple[Any, ...]]) -> list[list[Any]]:
    """What ``credits_sql`` must return for one student's ledger rows (in id order), each
    ``(id, source, item_type, item_id, points, note)``: exact Decimal sums."""
    out: dict[Any, list[Any]] = {}
    for row_id, source, item_type, item_id, points, note in rows:
        milli = int(Decimal(str(points)) * 1000)
        if source == LedgerSource.ADJUSTMENT.value:
            out[("row", row_id)] = [person_id, source, item_type, item_id, milli, note, row_id]
            continue
        key = (source, item_type, item_id)
        if key in out:
            out[key][4] += milli
        else:
            out[key] = [person_id, source, item_type, item_id, milli, None, row_id]
    return sorted(out.values(), key=lambda r: r[6])


async def test_each_students_credits_are_the_ledgers_exact_sums_in_credit_order(
    db: Database,
) -> None:
    rng = random.Random(7)
    async with db.session() as s:
        cohort = Cohort(code="C", name="Cohort")
        s.add(cohort)
        await s.flush()
        modules = [
            Module(
                cohort_id=cohort.id,
                code=f"M{i}",
                title="M",
                term="Autumn",
                ects=5,
                designation=Designation.CORE,
            )
            for i in range(2)
        ]
        # More students than one query takes, so the chunks are exercised too.
        people = [Person(display_name=f"S{i}") for i in range(PERSONS_PER_QUERY + 20)]
        s.add_all([*modules, *people])
        await s.flush()
        entries: list[tuple[LedgerEntry, str]] = []
        for n in range(6000):
            module = rng.choice(modules)
            person = rng.choice(people[:40]) if rng.random() < 0.9 else rng.choice(people)
            if rng.random() < 0.08:
                source, item_type, item_id = "adjustment", rng.choice(("adj:discussion", "x")), 0
                note = rng.choice((None, "", "marked late by mistake"))
            else:
                source = rng.choice(SOURCES).value
                item_type, item_id = (
                    rng.choice(("prompt", "exercise", "occurrence")),
                    rng.randint(1, 4),
                )
                note = None
            points = rng.choice(AMOUNTS)
            entry = LedgerEntry(
                idempotency_key=f"k{n}",
                module_id=module.id,
                person_id=person.id,
                source=LedgerSource(source),
                item_type=item_type,
                item_id=item_id,
                source_ref=f"ref:{n}",
                points=Decimal(points),
                occurred_at=NOW,
                note=note,
            )
            entries.append((entry, points))
        s.add_all([entry for entry, _ in entries])
        await s.flush()
        written = [
            (e.id, e.module_id, e.person_id, e.source.value, e.item_type, e.item_id, points, e.note)
            for e, points in entries
        ]
        ids = [p.id for p in people]
        module_ids = [m.id for m in modules]

    async with db.session() as s:
        for module_id in module_ids:
            found = await credits_of(s, module_id, ids)
            assert sorted(found) == sorted(ids)  # a student with nothing has an empty list
            for person_id in ids:
                mine = [
                    (row_id, source, item_type, item_id, points, note)
                    for row_id, m, p, source, item_type, item_id, points, note in written
                    if (m, p) == (module_id, person_id)
                ]
                got = [list(row) for row in found[person_id]]
                assert got == credits_reference(person_id, mine), (module_id, person_id)
        assert (await credits_of(s, module_ids[0], [])) == {}
