"""Dashboard pages with the bot running: a 300-student module page, a 5,000-student overview.

The sandbox starts the real bot (gateway on the local Discord server, scheduler, web server) on
a SQLite file; then two more cohorts are written straight to the database:

1. a module of 300 students with a term of records (``seed_term``: prompts, a peer exercise,
   tutorials, ledger credits) and six recent weeks of posts, RSVPs and check-ins with planted
   disengagement (``seed_recent_weeks``); its tutor's module page is fetched over HTTP
   ``--runs`` times (target p95 < 300 ms);
2. a cohort of 5,000 students in 10 modules with a prompt, an exercise and a deadline each;
   its admin's overview is fetched likewise (target < 1 s).

Signed in through the same single-use link a tutor gets by DM. Prints p50/p95/max per page.

    .venv/bin/python bench/bench_dashboard.py [--runs 30] [--students 300] [--cohort 5000]
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import random
import re
import statistics
import tempfile
import time
from datetime import timedelta
from decimal import Decimal
from pathlib import Path

import aiohttp
from sqlalchemy import insert

from bot.dashboard.signin import create_link, signing_key
from bot.db.engine import Database
from bot.db.models import (
    CalendarEvent,
    Cohort,
    Designation,
    DiscussionPrompt,
    Enrolment,
    EventKind,
    EventOccurrence,
    Module,
    PeerExercise,
    Person,
    PromptStatus,
    Role,
)
from cohortlab.activity import seed_recent_weeks
from cohortlab.sample import sample_cohort, seed_term
from cohortlab.sandbox import Sandbox


async def big_cohort(db: Database, students: int, modules: int, now: object) -> tuple[int, int]:
    """A cohort of ``students`` in ``modules`` modules (everyone in every module); its admin."""
    from datetime import datetime

    assert isinstance(now, datetime)
    async with db.session() as s:
        cohort = Cohort(code="BIG-1", name="A very large cohort", timezone="Europe/London")
        s.add(cohort)
        await s.flush()
        mods = [
            Module(
                cohort_id=cohort.id,
                code=f"BIG{n:03d}",
                title=f"Module {n}",
                term="Spring",
                ects=Decimal("7.5"),
                designation=Designation.COMPULSORY,
            )
            for n in range(modules)
        ]
        admin = Person(display_name="Big Office", platform_username="big.office")
        s.add_all([*mods, admin])
        await s.flush()
        await s.execute(
            insert(Person),
            [
                {"display_name": f"Big student {i}", "platform_username": f"big{i}"}
                for i in range(students)
            ],
        )
        ids = [
            pid
            for (pid,) in (
                await s.execute(
                    Person.__table__.select()
                    .with_only_columns(Person.id)
                    .where(Person.platform_username.like("big%"), Person.id != admin.id)
                )
            ).all()
        ]
        rows = [
            {"module_id": m.id, "person_id": pid, "role": Role.STUDENT} for m in mods for pid in ids
        ]
        for start in range(0, len(rows), 5000):
            await s.execute(insert(Enrolment), rows[start : start + 5000])
        s.add_all(Enrolment(module_id=m.id, person_id=admin.id, role=Role.ADMIN) for m in mods)
        for m in mods:
            s.add(
                DiscussionPrompt(
                    module_id=m.id,
                    title="Open question",
                    body="b",
                    opens_at=now - timedelta(days=2),
                    closes_at=now + timedelta(days=5),
                    rubric={},
                    status=PromptStatus.OPEN,
                )
            )
            s.add(
                PeerExercise(
                    module_id=m.id,
                    title="Report",
                    brief="b",
                    submission_due_at=now + timedelta(days=3),
                    review_due_at=now + timedelta(days=10),
                    rubric={},
                )
            )
            event = CalendarEvent(
                module_id=m.id,
                kind=EventKind.SUBMISSION_DEADLINE,
                title="Coursework",
                starts_at=now + timedelta(days=14),
                timezone="Europe/London",
            )
            s.add(event)
            await s.flush()
            s.add(
                EventOccurrence(
                    event_id=event.id,
                    sequence=0,
                    starts_at=event.starts_at,
                    ends_at=event.starts_at,
                    original_starts_at=event.starts_at,
                )
            )
        return admin.id, cohort.id


async def signed_in_client(box: Sandbox, person_id: int, cohort_id: int) -> aiohttp.ClientSession:
    async with box.db.session() as s:
        key = await signing_key(s, None)
        url, _ = await create_link(
            s,
            key,
            person_id=person_id,
            cohort_id=cohort_id,
            now=box.clock.now(),
            public_url=box.app.web.url,
        )
    token = re.search(r"token=(\S+)", url)
    assert token
    client = aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True))
    async with client.post(
        f"{box.app.web.url}/dashboard/signin", data={"token": token.group(1)}
    ) as r:
        assert r.status == 200, await r.text()
    return client


async def timed(client: aiohttp.ClientSession, url: str, runs: int) -> list[float]:
    times: list[float] = []
    for _ in range(runs):
        t0 = time.perf_counter()
        async with client.get(url) as r:
            body = await r.read()
            assert r.status == 200, body[:300]
        times.append((time.perf_counter() - t0) * 1000)
    return times


def report(name: str, times: list[float], target_ms: float, stat: str) -> None:
    ordered = sorted(times)
    p95 = ordered[max(0, round(0.95 * len(ordered)) - 1)]
    value = p95 if stat == "p95" else max(ordered)
    verdict = "met" if value < target_ms else "NOT met"
    print(
        f"{name}: p50 {statistics.median(ordered):.0f} ms, p95 {p95:.0f} ms, "
        f"max {ordered[-1]:.0f} ms over {len(ordered)} runs; target {stat} < {target_ms:.0f} ms: "
        f"{verdict}"
    )


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=30)
    parser.add_argument("--students", type=int, default=300)
    parser.add_argument("--cohort", type=int, default=5000)
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    logging.getLogger("discord").setLevel(logging.ERROR)
    with tempfile.TemporaryDirectory() as tmp:
        db = Database(f"sqlite+aiosqlite:///{Path(tmp) / 'bench.db'}")
        box = Sandbox(db)
        await box.start()
        try:
            await asyncio.sleep(3)  # the bot links the server's members to the roster first
            now = box.clock.now()
            t0 = time.perf_counter()
            async with db.session() as s:
                sample = await sample_cohort(s, students=args.students, code="BENCH-1")
                await seed_term(
                    s, sample.module, now=now, rng=random.Random(5), prompts=4, tutorials=4
                )
                planted = await seed_recent_weeks(
                    s, sample.module, now=now, rng=random.Random(5), fading=15, quiet=30
                )
                module_id, tutor_id, cohort_id = sample.module.id, sample.tutor.id, sample.cohort_id
            admin_id, big_id = await big_cohort(db, args.cohort, 10, now)
            print(
                f"seeded in {time.perf_counter() - t0:.1f} s: a module of {args.students} "
                f"students ({len(planted.fading)} fading), a cohort of {args.cohort} students "
                "in 10 modules; the bot is running (gateway, scheduler, web server)"
            )
            tutor = await signed_in_client(box, tutor_id, cohort_id)
            admin = await signed_in_client(box, admin_id, big_id)
            try:
                base = box.app.web.url
                await timed(tutor, f"{base}/dashboard/module/{module_id}", 2)  # warm up
                module_times = await timed(tutor, f"{base}/dashboard/module/{module_id}", args.runs)
                await timed(admin, f"{base}/dashboard", 2)
                overview_times = await timed(admin, f"{base}/dashboard", args.runs)
            finally:
                await tutor.close()
                await admin.close()
            load = ", ".join(f"{v:.1f}" for v in os.getloadavg())
            print(f"machine: {os.cpu_count()} cores, load average {load} (other work shares it)")
            report(f"module page, {args.students} students", module_times, 300, "p95")
            report(f"cohort overview, {args.cohort} students", overview_times, 1000, "max")
        finally:
            await box.stop()
            await db.dispose()


if __name__ == "__main__":
    asyncio.run(main())
