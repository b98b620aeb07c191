"""The notice engine: start-up cost with many pending notices, and dispatch lag after due time.

Why: notices live in the database and APScheduler only wakes one dispatcher, so start-up must
not grow with the number of pending notices (target: 10,000 pending at most 2x none; the
naive design, one APScheduler job per notice, is measured alongside as the baseline), and a
notice must go out promptly once due (target: p99 lag under 1 s).

Everything runs in this process on the real clock: the local Discord-compatible server, the
real bot (``Application``) on a fresh SQLite database, and the example cohort.

Run: .venv/bin/python bench/bench_notices.py [--pending 10000] [--notices 150]
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import statistics
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from apscheduler.schedulers.asyncio import AsyncIOScheduler
from sqlalchemy import insert, select

from bot.calendar import messages as M
from bot.config import Settings
from bot.db.engine import Database
from bot.db.migrate import upgrade
from bot.db.models import Module, Notice, NoticeAudience, NoticeStatus
from bot.discord_app import Application
from cohortlab.localdiscord.server import LocalDiscordServer
from cohortlab.sandbox import _no_identify_wait, build_world, example_texts


async def _cohort(workdir: Path, name: str) -> tuple[LocalDiscordServer, Database]:
    server = LocalDiscordServer()
    await server.start()
    db = Database(f"sqlite+aiosqlite:///{workdir / name}.db")
    await upgrade(db)
    programme, roster = example_texts()
    await build_world(server, db, programme_text=programme, roster_text=roster)
    return server, db


def _app(server: LocalDiscordServer, db: Database) -> Application:
    settings = Settings(
        discord_token=server.token,  # type: ignore[arg-type]
        database_url=db.url,
        discord_api_base=server.api_base,
        discord_gateway_url=server.gateway_url,
        web_port=0,
        guild_ready_timeout=0.1,
        scheduler_tick_seconds=3600,
    )
    app = Application(settings, db=db)
    app.bot.before_identify_hook = _no_identify_wait  # type: ignore[method-assign]
    return app


async def _pending(db: Database, count: int, *, start: datetime, spread: timedelta) -> None:
    async with db.session() as s:
        module = (await s.execute(select(Module).where(Module.code == "MATH70097"))).scalar_one()
        rows: list[dict[str, Any]] = []
        for i in range(count):
            key = f"bench:{start.timestamp()}:{i}"
            rows.append(
                {
                    "dedupe_key": key,
                    "group_key": key,
                    "kind": M.FEEDBACK_RELEASED,
                    "audience": NoticeAudience.CHANNEL,
                    "module_id": module.id,
                    "due_at": start + spread * (i / max(count, 1)),
                    "payload": {"title": f"Item {i}", "module": "MATH70097"},
                    "status": NoticeStatus.PENDING,
                    "attempts": 0,
                    "late": False,
                    "created_at": start,
                }
            )
        for lo in range(0, len(rows), 2000):
            await s.execute(insert(Notice), rows[lo : lo + 2000])


async def _startup(workdir: Path, tag: str, pending: int) -> tuple[float, float]:
    """Seconds from start() to ready, and to the end of the first dispatcher run."""
    server, db = await _cohort(workdir, tag)
    if pending:
        await _pending(
            db, pending, start=datetime.now(UTC) + timedelta(days=1), spread=timedelta(days=60)
        )
    app = _app(server, db)
    began = time.perf_counter()
    await app.start()
    await app.wait_until_ready()
    ready = time.perf_counter() - began
    await app.scheduler.run_all_now()
    first_run = time.perf_counter() - began
    await app.stop()
    await db.dispose()
    await server.stop()
    return ready, first_run


def _naive_jobs(count: int) -> float:
    """The design we avoid: one APScheduler job per pending notice."""
    scheduler = AsyncIOScheduler(timezone=UTC)
    when = datetime.now(UTC) + timedelta(days=1)

    async def nothing() -> None:
        return None

    began = time.perf_counter()
    for i in range(count):
        scheduler.add_job(nothing, "date", run_date=when + timedelta(seconds=i), id=f"n{i}")
    return time.perf_counter() - began


async def _lag(workdir: Path, count: int, seconds: float) -> list[float]:
    """Lag of each notice: when its message reached the server minus its due time."""
    server, db = await _cohort(workdir, "lag")
    app = _app(server, db)
    await app.start()
    await app.wait_until_ready()
    first_due = datetime.now(UTC) + timedelta(seconds=1.5)
    await _pending(db, count, start=first_due, spread=timedelta(seconds=seconds))
    cog: Any = app.bot.get_cog("CalendarCog")
    cog.wake(first_due)
    deadline = time.monotonic() + seconds + 20
    while time.monotonic() < deadline:
        async with db.session() as s:
            left = (
                await s.execute(
                    select(Notice.id).where(Notice.status != NoticeStatus.SENT).limit(1)
                )
            ).first()
        if left is None:
            break
        await asyncio.sleep(0.2)
    async with db.session() as s:
        rows = (await s.execute(select(Notice.id, Notice.due_at, Notice.platform_message_id))).all()
    lags: list[float] = []
    for _, due_at, message_id in rows:
        if message_id is None:
            lags.append(float("inf"))
            continue
        msg = server.state.messages[int(message_id)]
        lags.append((msg.created_at - due_at).total_seconds())
    await app.stop()
    await db.dispose()
    await server.stop()
    return lags


def _pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--pending", type=int, default=10_000)
    parser.add_argument("--notices", type=int, default=150)
    parser.add_argument("--seconds", type=float, default=6.0)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    logging.basicConfig(level=logging.ERROR)
    logging.getLogger("discord").setLevel(logging.CRITICAL)
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        none: list[tuple[float, float]] = []
        many: list[tuple[float, float]] = []
        for r in range(args.repeat):
            none.append(await _startup(workdir, f"none{r}", 0))
            many.append(await _startup(workdir, f"many{r}", args.pending))
        ready0 = statistics.median(x[0] for x in none)
        ready1 = statistics.median(x[0] for x in many)
        run0 = statistics.median(x[1] for x in none)
        run1 = statistics.median(x[1] for x in many)
        naive = _naive_jobs(args.pending)
        print(f"start-up to ready, no pending notices:          {ready0 * 1000:8.1f} ms")
        print(
            f"start-up to ready, {args.pending:,} pending notices:  {ready1 * 1000:8.1f} ms"
            f"   ratio {ready1 / ready0:5.2f}x (target <= 2x)"
        )
        print(
            f"  ... and through the first dispatcher run:     {run0 * 1000:8.1f} ms vs "
            f"{run1 * 1000:8.1f} ms   ratio {run1 / run0:5.2f}x"
        )
        print(
            f"baseline: {args.pending:,} APScheduler jobs added one per notice: "
            f"{naive * 1000:8.1f} ms (what start-up avoids)"
        )
        lags = await _lag(workdir, args.notices, args.seconds)
        sent = [x for x in lags if x != float("inf")]
        print(
            f"dispatch lag after due time, {len(lags)} notices over {args.seconds:.0f} s: "
            f"p50 {_pct(sent, 0.5) * 1000:6.0f} ms  p99 {_pct(sent, 0.99) * 1000:6.0f} ms  "
            f"max {max(sent) * 1000:6.0f} ms  unsent {len(lags) - len(sent)} (target p99 < 1 s)"
        )


if __name__ == "__main__":
    asyncio.run(main())
