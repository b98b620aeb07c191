"""Gradebook: exporting a big module (and the seeding the /marks bench reuses).

Export: a module of 5,000 students x 60 items (20 discussion prompts, 10 peer exercises
= 20 columns, 30 tutorials) with about 540,000 ledger rows on SQLite. Prints the CSV and XLSX
export times and their ratio to the naive read alone (a GROUP BY over every ledger row
through SQLAlchemy, what the export would start from without the database-kept
``ledger_cells``), measured in the same process: no Discord is involved, so it runs in this
process. Target: CSV export under 2 s. The student view under a crowd (/marks against /about)
is bench/bench_marks.py, with the bot as its own process.

Run: .venv/bin/python bench/bench_gradebook.py [--students 5000] [--quick]
"""

from __future__ import annotations

import argparse
import asyncio
import random
import tempfile
import time
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

from sqlalchemy import func, insert, select

from bot.db.engine import Database
from bot.db.migrate import upgrade
from bot.db.models import (
    CalendarEvent,
    Contribution,
    DiscussionPrompt,
    EventKind,
    EventOccurrence,
    ExerciseStatus,
    LedgerEntry,
    LedgerSource,
    Module,
    PeerExercise,
    PromptStatus,
)
from bot.discussions.rubric import Rubric
from bot.gradebook.service import build_module_export
from cohortlab.sample import sample_cohort
from cohortlab.sandbox import example_texts

NOW = datetime(2026, 4, 20, 8, 0, tzinfo=UTC)


async def bulk_seed(
    db: Database,
    module_id: int,
    person_ids: list[int],
    *,
    prompts: int = 20,
    exercises: int = 10,
    tutorials: int = 30,
    rng: random.Random,
) -> int:
    """Items plus the ledger rows features would have written for them; returns ledger rows."""
    start = NOW - timedelta(weeks=11)
    rubric = Rubric(name="standard")
    async with db.session() as s:
        prompt_ids = []
        for n in range(prompts):
            p = DiscussionPrompt(
                module_id=module_id,
                title=f"Week {n + 1} discussion",
                body="Discuss.",
                opens_at=start + timedelta(days=3 * n),
                closes_at=start + timedelta(days=3 * n + 2),
                rubric=rubric.to_dict(),
                status=PromptStatus.CLOSED,
            )
            s.add(p)
            await s.flush()
            prompt_ids.append(p.id)
        exercise_ids = []
        for n in range(exercises):
            e = PeerExercise(
                module_id=module_id,
                title=f"Exercise {n + 1}",
                brief="Do it.",
                submission_due_at=start + timedelta(days=7 * n),
                review_due_at=start + timedelta(days=7 * n + 3),
                reviews_per_submission=3,
                rubric={},
                status=ExerciseStatus.RELEASED,
                released_at=start + timedelta(days=7 * n + 4),
            )
            s.add(e)
            await s.flush()
            exercise_ids.append(e.id)
        event = CalendarEvent(
            module_id=module_id,
            kind=EventKind.TUTORIAL,
            title="Tutorial",
            starts_at=start,
            duration_minutes=60,
            timezone="Europe/London",
        )
        s.add(event)
        await s.flush()
        occurrence_ids = []
        for n in range(tutorials):
            when = start + timedelta(days=2 * n)
            o = EventOccurrence(
                event_id=event.id,
                sequence=n,
                starts_at=when,
                ends_at=when + timedelta(hours=1),
                original_starts_at=when,
            )
            s.add(o)
            await s.flush()
            occurrence_ids.append(o.id)
    rows: list[dict[str, Any]] = []
    contributions: list[dict[str, Any]] = []
    total = 0

    def add(pid: int, source: LedgerSource, item_type: str, item_id: int, points: str) -> None:
        rows.append(
            {
                "idempotency_key": f"{source.value}:{item_type}:{item_id}:{pid}:{len(rows)}",
                "module_id": module_id,
                "person_id": pid,
                "source": source,
                "item_type": item_type,
                "item_id": item_id,
                "source_ref": "bench",
                "points": Decimal(points),
                "occurred_at": NOW,
                "recorded_at": NOW,
            }
        )

    async def flush() -> None:
        nonlocal total
        if rows:
            async with db.session() as s:
                await s.execute(insert(LedgerEntry), rows)
            total += len(rows)
            rows.clear()
        if contributions:
            async with db.session() as s:
                await s.execute(insert(Contribution), contributions)
            contributions.clear()

    for pid in person_ids:
        for item in prompt_ids:
            if rng.random() < 0.9:
                add(pid, LedgerSource.DISCUSSION_POST, "discussion_prompt", item, "4")
                for _ in range(rng.randrange(0, 3)):
                    add(pid, LedgerSource.DISCUSSION_REPLY, "discussion_prompt", item, "2")
                add(pid, LedgerSource.QUALITY_POINTS, "discussion_prompt", item, "2.5")
                if rng.random() < 0.05:
                    contributions.append(
                        {
                            "prompt_id": item,
                            "person_id": pid,
                            "author_platform_id": str(pid),
                            "message_id": f"b{item}-{pid}",
                            "thread_id": "1",
                            "mentions": [],
                            "content": "late",
                            "words": 200,
                            "created_at": NOW,
                            "late": True,
                            "recorded_at": NOW,
                        }
                    )
        for item in exercise_ids:
            for _ in range(rng.randrange(1, 4)):
                add(pid, LedgerSource.PEER_REVIEW_COMPLETED, "peer_exercise", item, "1")
            add(pid, LedgerSource.PEER_SCORE_RECEIVED, "peer_exercise", item, "71.5")
        for item in occurrence_ids:
            if rng.random() < 0.8:
                add(pid, LedgerSource.TUTORIAL_ATTENDANCE, "tutorial", item, "1")
        if len(rows) >= 20_000:
            await flush()
    await flush()
    return total


async def bench_export(students: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        db = Database(f"sqlite+aiosqlite:///{Path(tmp) / 'bench.db'}")
        await upgrade(db)
        started = time.perf_counter()
        async with db.session() as s:
            cohort = await sample_cohort(s, students=students, code="BENCH-01")
            module_id = cohort.module.id
            person_ids = [p.id for p in cohort.students]
        rows = await bulk_seed(db, module_id, person_ids, rng=random.Random(1))
        print(
            f"export: seeded {students} students x 60 items, {rows} ledger rows "
            f"in {time.perf_counter() - started:.1f} s"
        )
        timings: dict[str, list[float]] = {"baseline": [], "csv": [], "xlsx": []}
        sizes: dict[str, int] = {}
        for _ in range(3):
            async with db.session() as s:
                t = time.perf_counter()
                grouped = (
                    await s.execute(
                        select(
                            LedgerEntry.person_id,
                            LedgerEntry.source,
                            LedgerEntry.item_type,
                            LedgerEntry.item_id,
                            func.sum(LedgerEntry.points),
                        )
                        .where(LedgerEntry.module_id == module_id)
                        .group_by(
                            LedgerEntry.person_id,
                            LedgerEntry.source,
                            LedgerEntry.item_type,
                            LedgerEntry.item_id,
                        )
                    )
                ).all()
                timings["baseline"].append(time.perf_counter() - t)
            for fmt in ("csv", "xlsx"):
                async with db.session() as s:
                    module = await s.get(Module, module_id)
                    assert module is not None
                    t = time.perf_counter()
                    file = await build_module_export(s, module, fmt, NOW)
                    timings[fmt].append(time.perf_counter() - t)
                    sizes[fmt] = len(file.data)
                    assert file.students == students
        await db.dispose()
    base = min(timings["baseline"])
    print(
        f"export: baseline, the naive read (GROUP BY over every ledger row through SQLAlchemy, "
        f"{len(grouped)} sums): {base:.3f} s"
    )
    for fmt in ("csv", "xlsx"):
        best = min(timings[fmt])
        target = "  target < 2 s: " + ("met" if best < 2 else "NOT met") if fmt == "csv" else ""
        print(
            f"export: {fmt.upper():4s} {best:.3f} s (best of 3; {sizes[fmt] / 1e6:.1f} MB), "
            f"{best / base:.1f}x the baseline{target}"
        )


def _roster(students: int) -> str:
    _, roster = example_texts()
    lines = [line for line in roster.splitlines() if line.strip()]
    header, staff = lines[0], [line for line in lines[1:] if ",student," not in line]
    extra = [
        f"0260{n:04d},Crowd Student {n},crowd{n}@students.example.org,crowd{n},student,MATH70097,"
        for n in range(students)
    ]
    return "\n".join([header, *staff, *extra]) + "\n"


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--students", type=int, default=5000)
    parser.add_argument("--quick", action="store_true", help="500 students")
    args = parser.parse_args()
    await bench_export(min(args.students, 500) if args.quick else args.students)


if __name__ == "__main__":
    asyncio.run(main())
