"""Recording discussion answers at gateway speed: cohortbot against a bare discord.py client.

Why: every answer is evidence, and a busy cohort (or a reconnect replaying a backlog) delivers
thousands of messages a second. The target: the bot records answers durably at >= 0.8 x the
rate a bare discord.py client merely receives them, 50,000 messages, none lost, none twice.

Shaped like production (bench/harness.py): this process hosts the local Discord-compatible
server; ``python -m bot run`` runs in its own process on a fresh database; the bare client
(bench/bare_client.py, the bot's intents, an on_message that counts) in a third. The bare
client sits in a second guild the bot is not in, so both stay connected for the whole run and
each round's frames reach only the one measured. Each round publishes ``--messages`` answers
in the bare client's thread, then the same number in the bot's prompt thread (authors who are
enrolled students); the clock starts once the server has queued every frame and stops when
the bare client has seen the last one, or when the last row is committed to the database
(polled from this process). At the end every message must be recorded exactly once.

Run: .venv/bin/python bench/bench_discussion_ingest.py [--messages 50000] [--rounds 5]
     [--db sqlite|postgres|both] [--latency-ms 50] [--quick]
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import logging
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from harness import (
    BareClient,
    BotProcess,
    Series,
    add_member_app,
    add_options,
    backends,
    cpu_seconds,
    discord_like_server,
    fresh_database,
    load,
    workdir,
)
from sqlalchemy import func, select

from bot.db.engine import Database
from bot.db.models import Contribution, DiscussionPrompt, Module
from bot.discussions.rubric import Rubric
from cohortlab.localdiscord.models import PUBLIC_THREAD, BotApp, Channel
from cohortlab.localdiscord.server import LocalDiscordServer
from cohortlab.sandbox import World, build_world, example_texts

MODULE = "MATH70097"
ANSWER = (
    "I met the trade-off when a boosted model scored almost perfectly in training and badly "
    "on the next month of data; early stopping and shallower trees closed most of the gap."
)


def inject(server: LocalDiscordServer, authors: list[int], thread: Channel, n: int) -> list[int]:
    """Create ``n`` answers in the server state and queue their frames in one go."""
    state = server.state
    ids = [
        state.create_message(authors[i % len(authors)], thread.id, f"{i} {ANSWER}").id
        for i in range(n)
    ]
    server.commit()
    gc.collect()
    return ids


def bare_guild(server: LocalDiscordServer, world: World) -> tuple[Channel, list[int], BotApp]:
    """A second guild with the same students and a thread: the bare client's, not the bot's."""
    state = server.state
    authors = [a.id for a in world.students(MODULE)]
    owner = state.add_user("bench-owner")
    guild = state.create_guild("bench bare client", owner.id)
    for user_id in authors:
        state.add_member(guild.id, user_id)
    channel = state.create_channel(guild.id, MODULE.lower())
    post = state.create_message(owner.id, channel.id, "Where have you met the trade-off?")
    thread = state.start_thread_from_message(owner.id, channel.id, post.id, "Answers")
    assert thread.type == PUBLIC_THREAD
    app = add_member_app(server, guild.id, "bare-client")
    return thread, authors, app


async def seed_prompt(db: Database) -> int:
    """A prompt due to open now: the bot opens it (posts it, starts its thread) at start-up."""
    now = datetime.now(UTC)
    async with db.session() as s:
        module = (await s.execute(select(Module).where(Module.code == MODULE))).scalar_one()
        prompt = DiscussionPrompt(
            module_id=module.id,
            title="Bench prompt",
            body="Where have you met the bias-variance trade-off?",
            opens_at=now - timedelta(minutes=1),
            closes_at=now + timedelta(days=3),
            rubric=Rubric(name="standard").to_dict(),
        )
        s.add(prompt)
        await s.flush()
        return prompt.id


async def prompt_thread(db: Database, prompt_id: int) -> str:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        async with db.session() as s:
            thread_id = (
                await s.execute(
                    select(DiscussionPrompt.thread_id).where(DiscussionPrompt.id == prompt_id)
                )
            ).scalar_one()
        if thread_id is not None:
            return str(thread_id)
        await asyncio.sleep(0.2)
    raise SystemExit("the bot never opened the prompt")


async def recorded(db: Database, thread_id: str) -> int:
    async with db.session() as s:
        return int(
            (
                await s.execute(
                    select(func.count())
                    .select_from(Contribution)
                    .where(Contribution.thread_id == thread_id)
                )
            ).scalar_one()
        )


async def until_recorded(db: Database, message_id: str, began: float) -> None:
    """Until the last message published is committed (batches commit in arrival order)."""
    while True:
        async with db.session() as s:
            found = (
                await s.execute(
                    select(Contribution.id).where(Contribution.message_id == message_id)
                )
            ).first()
        if found is not None:
            return
        if time.perf_counter() - began > 900:
            raise SystemExit("gave up waiting for the bot to record everything")
        await asyncio.sleep(0.01)


async def verify(db: Database, ids: list[int], thread_id: str) -> tuple[int, int, int]:
    """(missing, counted twice, unexpected)."""
    async with db.session() as s:
        stored = list(
            (
                await s.execute(
                    select(Contribution.message_id).where(Contribution.thread_id == thread_id)
                )
            )
            .scalars()
            .all()
        )
    expected = {str(i) for i in ids}
    return len(expected - set(stored)), len(stored) - len(set(stored)), len(set(stored) - expected)


async def run(backend: str, args: argparse.Namespace, wd: Path) -> bool:
    n: int = args.messages
    async with fresh_database(backend, wd) as url:
        server = discord_like_server(args.latency_ms)
        await server.start()
        db = Database(url)
        programme, roster = example_texts()
        world = await build_world(server, db, programme_text=programme, roster_text=roster)
        prompt_id = await seed_prompt(db)
        bare_thread, authors, app = bare_guild(server, world)
        bot = BotProcess(server, url, wd, scheduler_tick_seconds=str(args.scheduler_tick))
        bare = BareClient(server, app)
        bare_rate, bot_rate, ratio = (
            Series("bare discord.py", " msg/s", "{:.0f}"),
            Series("cohortbot recorded", " msg/s", "{:.0f}"),
            Series("ratio recorded / bare"),
        )
        ids: list[int] = []
        try:
            await bot.start()
            thread_id = await prompt_thread(db, prompt_id)
            thread = server.state.channels[int(thread_id)]
            await asyncio.sleep(2)  # the start-up history read of the (empty) thread
            await bare.start()
            bot_pid = bot.proc.pid if bot.proc is not None else None
            idle = cpu_seconds(bot_pid)
            await asyncio.sleep(5)
            idle = (cpu_seconds(bot_pid) - idle) / 5
            print(
                f"discussion ingest, {backend}: {n} answer messages per client per round, "
                f"{args.latency_ms:.0f} ms per REST request, Discord's rate limits ({load()}); "
                f"the bot idle uses {idle * 1000:.0f} ms CPU/s (scheduler tick "
                f"{bot.settings['scheduler_tick_seconds']} s)"
            )

            bare_sent = [0]
            bare_cpu: list[float] = []

            async def bare_round() -> float:
                bare_sent[0] += n
                pid = bare.proc.pid if bare.proc is not None else None
                cpu = cpu_seconds(pid)
                seconds = await bare.count(
                    bare_thread, bare_sent[0], lambda: inject(server, authors, bare_thread, n)
                )
                bare_cpu.append(cpu_seconds(pid) - cpu)
                return n / seconds

            before = await bare_round()
            for number in range(1, args.rounds + 1):
                target = number * n
                cpu = cpu_seconds(bot_pid)
                batch = inject(server, authors, thread, n)
                ids += batch
                began = time.perf_counter()
                # Cheap while waiting (one unique-index lookup), exact at the end (a count).
                await until_recorded(db, str(batch[-1]), began)
                while await recorded(db, thread_id) < target:
                    await asyncio.sleep(0.01)
                    if time.perf_counter() - began > 900:
                        raise SystemExit("gave up waiting for the bot to record everything")
                bot_rate.add(n / (time.perf_counter() - began))
                bot_cpu = cpu_seconds(bot_pid) - cpu
                after = await bare_round()
                # The bot's phase is bracketed by two bare phases: the machine's load drifts.
                bare_rate.add((before + after) / 2)
                ratio.add(bot_rate.values[-1] / bare_rate.values[-1])
                print(
                    f"  round {number}: bare discord.py {before:7.0f} then {after:7.0f} msg/s | "
                    f"cohortbot recorded+committed {bot_rate.values[-1]:7.0f} msg/s | "
                    f"ratio to their mean {ratio.values[-1]:.2f} | CPU ms per 1k messages: bare "
                    f"{bare_cpu[-1] * 1e6 / n:.0f}, bot {bot_cpu * 1e6 / n:.0f} ({load()})"
                )
                before = after
            missing, twice, unexpected = await verify(db, ids, thread_id)
        finally:
            await bare.stop()
            await bot.stop()
            await db.dispose()
            await server.stop()
    print(bare_rate.line())
    print(bot_rate.line())
    met = ratio.median >= 0.8 and not (missing or twice or unexpected)
    print(ratio.line("(target >= 0.8)"))
    print(
        f"  exactly once over {len(ids)} messages: {missing} lost, {twice} counted twice, "
        f"{unexpected} unexpected -> {'target met' if met else 'target NOT met'}"
    )
    return met


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else "")
    add_options(parser, rounds=5)
    parser.add_argument("--messages", type=int, default=50_000)
    parser.add_argument(
        "--scheduler-tick",
        type=float,
        default=1.0,
        help="the bot's COHORTBOT_SCHEDULER_TICK_SECONDS (production default 30)",
    )
    args = parser.parse_args()
    if args.quick:
        args.messages, args.rounds = min(args.messages, 2_000), min(args.rounds, 2)
    logging.basicConfig(level=logging.WARNING)
    logging.getLogger("discord").setLevel(logging.ERROR)
    with workdir() as wd:
        for backend in backends(args.db):
            await run(backend, args, wd)


if __name__ == "__main__":
    asyncio.run(main())
