"""Messages the bot sends on its own, at Discord's rate limits: DMs, channel posts, lag, start-up.

Why: at a deadline or a release, a cohort's worth of DMs falls due at once, and Discord allows
a bot 50 requests/s; a DM to someone whose DM channel the bot does not know costs two (open
the channel, post). Targets (issue 15):
- 1,000 DMs due at once delivered at >= 0.9 x the rate limit with 50 ms latency: about 45 s
  for first-time recipients (two requests each), about 22 s for known ones (one request);
- channel posts at the per-route limit (5 per 5 s per channel on Discord);
- dispatch lag p99 < 1 s for notices below the rate limit;
- start-up with 10,000 pending notices <= 1.5 x start-up with none, like for like: the same
  database and the same warm-up, the two cases alternating.

Shaped like production (bench/harness.py): this process hosts the local Discord-compatible
server (``--latency-ms`` per REST request, ``RateLimiter.discord_like()``); the bot is
``python -m bot run`` in its own process on a fresh database holding the example cohort plus
``--dms`` students. Notices are written to the database as the features write them, due a few
seconds ahead; the bot's scheduler tick is 1 s so it sees rows it did not write itself (in
production the feature that writes a notice wakes the dispatcher). Delivery times are the
server's: when each message was created. Notices are sent by the one outbox (``bot/outbox``),
as release marks and review assignments are; it stores each recipient's DM channel id, so
before each round's first-time burst the bench forgets them (``dm_channels``) and starts a
fresh bot.

Run: .venv/bin/python bench/bench_notices.py [--dms 1000] [--posts 20] [--pending 10000]
     [--rounds 3] [--db sqlite|postgres|both] [--latency-ms 50] [--quick]
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from bench_gradebook import _roster
from harness import (
    BotProcess,
    Series,
    add_options,
    backends,
    discord_like_server,
    fresh_database,
    load,
    pct,
    workdir,
)
from sqlalchemy import delete, insert, select, update

from bot.calendar import messages as M
from bot.db.engine import Database
from bot.db.models import DmChannel, Module, Notice, NoticeAudience, NoticeStatus, Person
from cohortlab.localdiscord.models import DM
from cohortlab.localdiscord.server import LocalDiscordServer
from cohortlab.sandbox import World, build_world, example_texts

MODULE = "MATH70097"
GLOBAL_LIMIT = 50.0


async def link_crowd(db: Database, world: World, n: int) -> list[int]:
    """The crowd students' Discord ids in the roster (as after their first command)."""
    ids = []
    async with db.session() as s:
        for i in range(n):
            actor = world.person(f"crowd{i}")
            await s.execute(
                update(Person)
                .where(Person.platform_username == f"crowd{i}")
                .values(platform_user_id=str(actor.id))
            )
            ids.append(actor.id)
        persons = (
            await s.execute(
                select(Person.id).where(Person.platform_username.like("crowd%")).order_by(Person.id)
            )
        ).scalars()
        return list(persons)


async def add_notices(
    db: Database,
    tag: str,
    due: list[datetime],
    *,
    person_ids: list[int] | None = None,
    channel: bool = False,
) -> None:
    """Notices as the features write them: FEEDBACK_RELEASED, to a person or the channel."""
    async with db.session() as s:
        module = (await s.execute(select(Module).where(Module.code == MODULE))).scalar_one()
        rows: list[dict[str, Any]] = []
        for i, at in enumerate(due):
            key = f"bench:{tag}:{i}"
            rows.append(
                {
                    "dedupe_key": key,
                    "group_key": key,
                    "kind": M.FEEDBACK_RELEASED,
                    "audience": NoticeAudience.CHANNEL if channel else NoticeAudience.PERSON,
                    "person_id": None if person_ids is None else person_ids[i % len(person_ids)],
                    "module_id": module.id,
                    "due_at": at,
                    "payload": {"title": f"Item {tag} {i}", "module": MODULE},
                    "status": NoticeStatus.PENDING,
                    "attempts": 0,
                    "late": False,
                    "created_at": datetime.now(UTC),
                }
            )
        for lo in range(0, len(rows), 2000):
            await s.execute(insert(Notice), rows[lo : lo + 2000])


async def forget_dm_channels(db: Database) -> None:
    """Forget every stored DM channel id: the next DM to anyone costs two requests again."""
    async with db.session() as s:
        await s.execute(delete(DmChannel))


async def delivered(db: Database, tag: str) -> list[tuple[datetime, str | None]]:
    async with db.session() as s:
        rows = (
            await s.execute(
                select(Notice.due_at, Notice.platform_message_id).where(
                    Notice.dedupe_key.like(f"bench:{tag}:%")
                )
            )
        ).all()
    return [(due, mid) for due, mid in rows]


async def wait_sent(db: Database, tag: str, n: int, timeout: float) -> None:  # noqa: ASYNC109
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        rows = await delivered(db, tag)
        if sum(1 for _, mid in rows if mid is not None) >= n:
            return
        await asyncio.sleep(0.25)
    raise SystemExit(f"{tag}: not every notice was sent within {timeout:.0f} s")


def _aware(at: datetime) -> datetime:
    return at if at.tzinfo is not None else at.replace(tzinfo=UTC)


async def burst(
    server: LocalDiscordServer, db: Database, tag: str, due: datetime, n: int, **kw: Any
) -> tuple[float, int, int, list[float]]:
    """Seconds from due to the last delivery, requests made, 429s met, and each lag."""
    calls_before = len(server.calls)
    await add_notices(db, tag, [due] * n, **kw)
    await wait_sent(db, tag, n, timeout=600)
    rows = await delivered(db, tag)
    times = [server.state.messages[int(mid)].created_at for _, mid in rows if mid]
    lags = [(t - _aware(d)).total_seconds() for (d, _), t in zip(rows, times, strict=True)]
    calls = server.calls[calls_before:]
    requests = [c for c in calls if c.at >= due]
    throttled = sum(1 for c in requests if c.status == 429)
    return (max(times) - due).total_seconds(), len(requests), throttled, lags


async def startups(
    server: LocalDiscordServer, url: str, wd: Path, pending: int, rounds: int
) -> tuple[Series, Series]:
    """Start-up to ready, none vs ``pending`` pending notices, same database, alternating."""
    db = Database(url)
    none, many = (
        Series("start-up, none pending", " s"),
        Series(f"start-up, {pending:,} pending", " s"),
    )
    warm = BotProcess(server, url, wd)
    await warm.start()  # warm-up: imports, the database file, the server's caches
    await warm.stop()
    later = datetime.now(UTC) + timedelta(days=1)
    for _ in range(rounds):
        for series, count in ((none, 0), (many, pending)):
            if count:
                spread = [later + timedelta(days=60) * (i / count) for i in range(count)]
                await add_notices(db, "startup", spread, channel=True)
            bot = BotProcess(server, url, wd)
            series.add(await bot.start())
            await bot.stop()
            if count:
                async with db.session() as s:
                    await s.execute(delete(Notice).where(Notice.dedupe_key.like("bench:startup:%")))
    await db.dispose()
    return none, many


async def run(backend: str, args: argparse.Namespace, wd: Path) -> None:
    n: int = args.dms
    async with fresh_database(backend, wd) as url:
        server = discord_like_server(args.latency_ms)
        await server.start()
        db = Database(url)
        programme, _ = example_texts()
        world = await build_world(server, db, programme_text=programme, roster_text=_roster(n))
        person_ids = await link_crowd(db, world, n)
        print(
            f"notices, {backend}: {args.latency_ms:.0f} ms per REST request, Discord's rate "
            f"limits (50 requests/s global, 5 posts per 5 s per channel) ({load()})"
        )
        bot = BotProcess(server, url, wd, scheduler_tick_seconds="1")
        first, known, posts = (
            Series("DMs to first-time recipients, rate / limit"),
            Series("DMs to known recipients, rate / limit"),
            Series("channel posts, rate / per-route limit"),
        )
        lag99 = Series("dispatch lag p99 below the rate limit", " ms", "{:.0f}")
        try:
            await bot.start()
            for number in range(1, args.rounds + 1):
                # A fresh bot each round, and no stored DM channel ids (the outbox keeps
                # them): nobody's DM channel is known to it.
                if number > 1:
                    await bot.stop()
                    await forget_dm_channels(db)
                    bot = BotProcess(server, url, wd, scheduler_tick_seconds="1")
                    await bot.start()
                due = datetime.now(UTC) + timedelta(seconds=3)
                seconds, requests, throttled, _ = await burst(
                    server, db, f"first{number}", due, n, person_ids=person_ids
                )
                first.add(n * 2 / seconds / GLOBAL_LIMIT)
                print(
                    f"  round {number}: {n} DMs, first-time recipients: {seconds:5.1f} s, "
                    f"{n / seconds:5.1f} DMs/s, {requests} requests ({requests / seconds:4.1f}/s), "
                    f"{throttled} answered 429; rate at 2 requests per DM / 50: "
                    f"{first.values[-1]:.2f} ({load()})"
                )
                due = datetime.now(UTC) + timedelta(seconds=3)
                seconds, requests, throttled, _ = await burst(
                    server, db, f"known{number}", due, n, person_ids=person_ids
                )
                known.add(n / seconds / GLOBAL_LIMIT)
                print(
                    f"  round {number}: {n} DMs, the same recipients again: {seconds:5.1f} s, "
                    f"{n / seconds:5.1f} DMs/s, {requests} requests ({requests / seconds:4.1f}/s), "
                    f"{throttled} answered 429; rate at 1 request per DM / 50: "
                    f"{known.values[-1]:.2f} ({load()})"
                )
                due = datetime.now(UTC) + timedelta(seconds=3)
                seconds, requests, throttled, _ = await burst(
                    server, db, f"posts{number}", due, args.posts, channel=True
                )
                # 5 per 5 s: the first 5 go at once, then 5 more every 5 s.
                floor = max(args.posts - 5, 0) / 5 * 5.0
                posts.add(floor / seconds if seconds else 0.0)
                print(
                    f"  round {number}: {args.posts} channel posts in one channel: "
                    f"{seconds:5.1f} s (the per-route limit allows {floor:.0f} s), "
                    f"{throttled} answered 429 ({load()})"
                )
                start = datetime.now(UTC) + timedelta(seconds=3)
                step = timedelta(seconds=1 / args.lag_rate)
                count = int(args.lag_rate * args.lag_seconds)
                tag = f"lag{number}"
                await add_notices(
                    db, tag, [start + step * i for i in range(count)], person_ids=person_ids
                )
                await wait_sent(db, tag, count, timeout=args.lag_seconds + 120)
                rows = await delivered(db, tag)
                lags = [
                    (server.state.messages[int(mid)].created_at - _aware(d)).total_seconds()
                    for d, mid in rows
                    if mid
                ]
                lag99.add(pct(lags, 0.99) * 1000)
                print(
                    f"  round {number}: dispatch lag, {count} DMs due {args.lag_rate:.0f}/s "
                    f"(known recipients): p50 {pct(lags, 0.5) * 1000:5.0f} ms p99 "
                    f"{lag99.values[-1]:5.0f} ms max {max(lags) * 1000:5.0f} ms ({load()})"
                )
        finally:
            await bot.stop()
        none, many = await startups(server, url, wd, args.pending, args.rounds)
        await db.dispose()
        await server.stop()
    dm_channels = sum(1 for c in server.state.channels.values() if c.type == DM)
    print(first.line(f"(target >= 0.9: {n} in about 45 s; DM channels opened: {dm_channels})"))
    print(known.line(f"(target >= 0.9: {n} in about 22 s)"))
    print(posts.line("(target 1.0: at the per-route limit)"))
    print(lag99.line("(target < 1000 ms)"))
    print(none.line())
    print(many.line())
    ratio = many.median / none.median
    print(f"  start-up ratio {args.pending:,} pending / none: {ratio:.2f} (target <= 1.5)")


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else "")
    add_options(parser, rounds=3)
    parser.add_argument("--dms", type=int, default=1000)
    parser.add_argument("--posts", type=int, default=20)
    parser.add_argument("--pending", type=int, default=10_000)
    parser.add_argument("--lag-rate", type=float, default=10.0, help="notices due per second")
    parser.add_argument("--lag-seconds", type=float, default=15.0)
    args = parser.parse_args()
    if args.quick:
        args.dms, args.posts, args.pending = min(args.dms, 100), min(args.posts, 10), 1000
        args.rounds, args.lag_seconds = 1, 5.0
    logging.basicConfig(level=logging.WARNING)
    logging.getLogger("discord").setLevel(logging.ERROR)
    with workdir() as wd:
        for backend in backends(args.db):
            await run(backend, args, wd)


if __name__ == "__main__":
    asyncio.run(main())
