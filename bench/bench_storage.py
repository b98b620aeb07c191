"""Storage write paths: one commit per event versus batched count-once inserts.

Why: recording chat activity needs group commit, not a commit per message. This prints the
rates on SQLite (and PostgreSQL when COHORTBOT_TEST_POSTGRES_URL is set) and their ratio,
measured in the same process.

Run: .venv/bin/python bench/bench_storage.py [--events 2000]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import tempfile
import time
from pathlib import Path

import asyncpg
from sqlalchemy.engine import make_url

from bot.db.engine import Database
from bot.db.migrate import upgrade
from bot.db.models import ProcessedEvent
from bot.db.ops import insert_ignore
from bot.db.types import utcnow


async def _per_event(db: Database, n: int, prefix: str) -> float:
    start = time.perf_counter()
    for i in range(n):
        async with db.session() as s:
            s.add(ProcessedEvent(key=f"{prefix}{i}"))
    return n / (time.perf_counter() - start)


async def _batched(db: Database, n: int, prefix: str, batch: int = 500) -> float:
    start = time.perf_counter()
    now = utcnow()
    for lo in range(0, n, batch):
        rows = [{"key": f"{prefix}{i}", "processed_at": now} for i in range(lo, min(n, lo + batch))]
        async with db.session() as s:
            await insert_ignore(s, ProcessedEvent, rows, conflict=["key"])
    return n / (time.perf_counter() - start)


async def _measure(name: str, url: str, events: int) -> None:
    db = Database(url)
    await upgrade(db)
    per_event = await _per_event(db, events, "a")
    batched = await _batched(db, events * 10, "b")
    await db.dispose()
    print(f"{name:10s} commit per event: {per_event:9.0f} rows/s")
    print(f"{name:10s} batched (500/tx): {batched:9.0f} rows/s  ratio {batched / per_event:6.1f}x")


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--events", type=int, default=2000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        await _measure("sqlite", f"sqlite+aiosqlite:///{Path(tmp) / 'bench.db'}", args.events)
    pg = os.environ.get("COHORTBOT_TEST_POSTGRES_URL")
    if pg:
        name = f"cohortbot_bench_{os.getpid()}"
        dsn = make_url(pg).set(drivername="postgresql")
        admin = await asyncpg.connect(dsn.render_as_string(hide_password=False))
        await admin.execute(f'CREATE DATABASE "{name}"')
        try:
            await _measure(
                "postgresql", make_url(pg).set(database=name).render_as_string(False), args.events
            )
        finally:
            await admin.execute(f'DROP DATABASE "{name}" WITH (FORCE)')
            await admin.close()
    else:
        print("postgresql skipped: set COHORTBOT_TEST_POSTGRES_URL to measure it too")


if __name__ == "__main__":
    asyncio.run(main())
