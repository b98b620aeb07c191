"""/marks under a crowd: 1,000 students at once, against the trivial /about through the same bot.

Why: at the end of term a whole cohort asks for its marks within a minute. The target:
/marks p99 <= 3 x /about p99 with 1,000 students at once, and no answer after Discord's 3 s
without a "thinking" deferral first (Discord drops such an interaction: the student sees
"The application did not respond").

Shaped like production (bench/harness.py): this process hosts the local Discord-compatible
server (50 ms per REST request, Discord's rate limits) and plays the students; the bot is
``python -m bot run`` in its own process on a fresh database holding 1,000 students x 60 items
of ledger rows (as bench_gradebook seeds them). The server waits for late answers rather than
dropping them, so their lateness can be measured and counted. Latency: interaction created ->
the answer shown (a deferred one counts once filled in). Each round sends the crowd /about,
then /marks; the ratio is per round. A warm-up (one /marks per student, not measured) first
links every student's Discord id to the roster, as by the end of term it is.

Run: .venv/bin/python bench/bench_marks.py [--crowd 1000] [--rounds 5] [--db sqlite|postgres|both]
     [--latency-ms 50] [--quick]
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import random
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench_gradebook import _roster, bulk_seed
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
from sqlalchemy import select

from bot.db.engine import Database
from bot.db.models import Enrolment, Module, Role
from cohortlab.localdiscord.server import LocalDiscordServer
from cohortlab.sandbox import World, build_world, example_texts

DEADLINE = 3.0


@dataclass
class Crowd:
    latencies: list[float]
    deferred: int
    late_undeferred: int  # neither the answer nor a deferral within Discord's 3 s

    @property
    def p99(self) -> float:
        return pct(self.latencies, 0.99)


async def crowd(
    server: LocalDiscordServer, world: World, actors: list[Any], name: str, **options: Any
) -> Crowd:
    """Everyone invokes ``name`` at once; when each saw the answer, and who was late."""
    channel = world.channel("MATH70097")
    state = server.state
    handles = [await a.command(name, where=channel, **options) for a in actors]
    pending = [h.interaction for h in handles]
    latencies: list[float] = []
    first_ack: dict[int, float] = {}
    deadline = time.monotonic() + 300
    while pending and time.monotonic() < deadline:
        await asyncio.sleep(0.005)
        now = state.monotonic()
        still = []
        for it in pending:
            if it.acknowledged and it.id not in first_ack:
                first_ack[it.id] = now - it.created_monotonic
            if state.answered(it):
                latencies.append(now - it.created_monotonic)
            else:
                still.append(it)
        pending = still
    if pending:
        raise SystemExit(f"{len(pending)} /{name} invocations were never answered")
    its = [h.interaction for h in handles]
    return Crowd(
        latencies,
        deferred=sum(1 for it in its if it.response_type == 5),
        # Discord needs the answer, or the "thinking" deferral, within 3 s of the click.
        late_undeferred=sum(1 for it in its if first_ack[it.id] > DEADLINE),
    )


async def seed(db: Database) -> int:
    async with db.session() as s:
        module_id = (
            await s.execute(select(Module.id).where(Module.code == "MATH70097"))
        ).scalar_one()
        person_ids = list(
            (
                await s.execute(
                    select(Enrolment.person_id).where(
                        Enrolment.module_id == module_id, Enrolment.role == Role.STUDENT
                    )
                )
            )
            .scalars()
            .all()
        )
    return await bulk_seed(db, module_id, person_ids, rng=random.Random(2))


async def run(backend: str, args: argparse.Namespace, wd: Path) -> bool:
    n: int = args.crowd
    async with fresh_database(backend, wd) as url:
        server = discord_like_server(args.latency_ms)
        server.state.interaction_deadline = None  # measure how late, rather than drop
        await server.start()
        db = Database(url)
        programme, _ = example_texts()
        world = await build_world(server, db, programme_text=programme, roster_text=_roster(n))
        rows = await seed(db)
        await db.dispose()
        bot = BotProcess(server, url, wd)
        about, marks, ratio = (
            Series("/about p99", " ms", "{:.0f}"),
            Series("/marks p99", " ms", "{:.0f}"),
            Series("ratio /marks p99 / /about p99"),
        )
        late = deferred = 0
        try:
            await bot.start()
            await server.script.wait_for_commands(timeout=60, names=["about", "marks"])
            actors = [world.person(f"crowd{i}") for i in range(n)]
            print(
                f"/marks, {backend}: {n} students at once, {rows} ledger rows, 60 items; "
                f"{args.latency_ms:.0f} ms per REST request, Discord's rate limits ({load()})"
            )
            await crowd(server, world, actors, "marks", module="MATH70097")  # warm-up
            await crowd(server, world, actors[:50], "about")
            for number in range(1, args.rounds + 1):
                a = await crowd(server, world, actors, "about")
                m = await crowd(server, world, actors, "marks", module="MATH70097")
                about.add(a.p99 * 1000)
                marks.add(m.p99 * 1000)
                ratio.add(m.p99 / a.p99)
                late += a.late_undeferred + m.late_undeferred
                deferred += m.deferred
                print(
                    f"  round {number}: /about p50 {pct(a.latencies, 0.5) * 1000:6.0f} ms "
                    f"p99 {a.p99 * 1000:6.0f} ms | /marks p50 "
                    f"{pct(m.latencies, 0.5) * 1000:6.0f} ms p99 {m.p99 * 1000:6.0f} ms "
                    f"({m.deferred} deferred) | ratio {ratio.values[-1]:.2f} | neither answer "
                    f"nor deferral within 3 s: /about {a.late_undeferred}, /marks "
                    f"{m.late_undeferred} ({load()})"
                )
        finally:
            await bot.stop()
            await server.stop()
    print(about.line())
    print(marks.line())
    print(ratio.line("(target <= 3)"))
    met = ratio.median <= 3 and late == 0
    print(
        f"  neither answer nor deferral within Discord's 3 s, all rounds: {late} (target 0); "
        f"/marks deferred: {deferred} of {n * args.rounds} -> "
        f"{'target met' if met else 'target NOT met'}"
    )
    return met


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else "")
    add_options(parser, rounds=5)
    parser.add_argument("--crowd", type=int, default=1000)
    args = parser.parse_args()
    if args.quick:
        args.crowd, args.rounds = min(args.crowd, 100), min(args.rounds, 2)
    logging.basicConfig(level=logging.WARNING)
    logging.getLogger("discord").setLevel(logging.ERROR)
    with workdir() as wd:
        for backend in backends(args.db):
            await run(backend, args, wd)


if __name__ == "__main__":
    asyncio.run(main())
