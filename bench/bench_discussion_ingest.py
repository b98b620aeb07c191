"""Recording discussion answers at gateway speed: cohortbot against a bare discord.py client.

Why: every answer is evidence, and a busy cohort (or a reconnect replaying a backlog) delivers
thousands of messages a second; one commit per message manages about 250/s. This replays the
same burst of answer messages through the local server's gateway into, in turn:

1. a raw websocket reader that only decodes the frames (the floor: what the server can send),
2. a bare discord.py client with the bot's intents and an empty on_message (what discord.py
   alone parses), and
3. the running cohortbot on a thread it does not record (its per-message event handling
   alone), and
4. the running cohortbot (the same ``Application`` as ``cohortbot run``), which records every
   message of the prompt's thread in the database through its group-commit recorder,

and prints messages per second for each and the ratio cohortbot / bare client. The clock for
cohortbot stops only when every message is committed to the database; afterwards the bench
checks that each message was recorded exactly once. Timing starts once the server has queued
every frame, so the server's own rendering is not counted against anyone. Figures only: no
assertion on speed (the machine's load moves them by tens of percent).

Run: .venv/bin/python bench/bench_discussion_ingest.py [--messages 50000]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import tempfile
import time
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import aiohttp
import discord
from sqlalchemy import func, select

from bot.db.engine import Database
from bot.db.models import Contribution, DiscussionPrompt
from bot.discord_app import Application, build_intents
from bot.localdiscord.models import PUBLIC_THREAD, Channel
from bot.sandbox import Sandbox, _no_identify_wait

MODULE = "MATH70097"
ANSWER = (
    "I met the trade-off when a boosted model scored almost perfectly in training and badly "
    "on the next month of data; early stopping and shallower trees closed most of the gap."
)


def inject(sandbox: Sandbox, thread: Channel, n: int) -> list[int]:
    """Create ``n`` answers in the server state, then publish them in one go."""
    assert sandbox.world is not None
    students = sandbox.world.students(MODULE)
    state = sandbox.server.state
    ids = [
        state.create_message(students[i % len(students)].id, thread.id, f"{i} {ANSWER}").id
        for i in range(n)
    ]
    sandbox.server.commit()  # renders and queues every frame before the clock starts
    return ids


async def until(check: Callable[[], bool], timeout: float, what: str) -> None:  # noqa: ASYNC109
    deadline = time.perf_counter() + timeout
    while not check():
        if time.perf_counter() > deadline:
            raise SystemExit(f"gave up waiting for {what}")
        await asyncio.sleep(0.002)


async def raw_reader(sandbox: Sandbox, thread: Channel, n: int) -> float:
    """A websocket client that identifies and json-decodes frames: the server's send rate."""
    app = sandbox.server.state.add_app("raw-reader", "raw-reader-token")
    sandbox.server.state.add_member(sandbox.world.guild.id, app.user_id, roles=[_bot_role(sandbox)])  # type: ignore[union-attr]
    sandbox.server.commit()
    seen = 0
    ready = asyncio.Event()
    done = asyncio.Event()
    async with (
        aiohttp.ClientSession() as http,
        http.ws_connect(sandbox.server.gateway_url, max_msg_size=0) as ws,
    ):
        await ws.send_str(
            json.dumps(
                {
                    "op": 2,
                    "d": {
                        "token": app.token,
                        "intents": build_intents().value,
                        "properties": {"os": "linux", "browser": "bench", "device": "bench"},
                    },
                }
            )
        )

        async def read() -> None:
            nonlocal seen
            async for msg in ws:
                frame = json.loads(msg.data)
                if frame.get("t") == "READY":
                    ready.set()
                if frame.get("t") == "MESSAGE_CREATE" and frame["d"]["channel_id"] == str(
                    thread.id
                ):
                    seen += 1
                    if seen == n:
                        done.set()
                        return

        reader = asyncio.create_task(read())
        await asyncio.wait_for(ready.wait(), 10)
        inject(sandbox, thread, n)
        start = time.perf_counter()
        await asyncio.wait_for(done.wait(), 600)
        elapsed = time.perf_counter() - start
        reader.cancel()
    sandbox.server.gateway.sessions.clear()
    return n / elapsed


def _bot_role(sandbox: Sandbox) -> int:
    guild = sandbox.world.guild  # type: ignore[union-attr]
    return next(r.id for r in guild.roles.values() if r.name == "cohortbot")


async def bare_client(sandbox: Sandbox, thread: Channel, n: int) -> float:
    """discord.py alone: the same intents, an on_message that only counts."""
    state = sandbox.server.state
    app = state.add_app("bare-client", "bare-client-token")
    state.add_member(sandbox.world.guild.id, app.user_id, roles=[_bot_role(sandbox)])  # type: ignore[union-attr]
    sandbox.server.commit()
    client = discord.Client(intents=build_intents(), guild_ready_timeout=0.1)
    client.before_identify_hook = _no_identify_wait  # type: ignore[method-assign]
    seen = 0
    target = thread.id

    @client.event
    async def on_message(message: discord.Message) -> None:
        nonlocal seen
        if message.channel.id == target:
            seen += 1

    await client.login(app.token)
    task = asyncio.create_task(client.connect())
    await client.wait_until_ready()
    inject(sandbox, thread, n)
    start = time.perf_counter()
    await until(lambda: seen >= n, 600, "the bare client")
    elapsed = time.perf_counter() - start
    await client.close()
    await asyncio.gather(task, return_exceptions=True)
    return n / elapsed


async def cohortbot_unrecorded(sandbox: Sandbox, thread: Channel, n: int) -> float:
    """The running bot on a thread it does not record: what its event handling alone costs."""
    seen = 0

    async def on_message(message: discord.Message) -> None:
        nonlocal seen
        if message.channel.id == thread.id:
            seen += 1

    sandbox.app.bot.add_listener(on_message, "on_message")
    inject(sandbox, thread, n)
    start = time.perf_counter()
    await until(lambda: seen >= n, 600, "cohortbot's handlers")
    elapsed = time.perf_counter() - start
    sandbox.app.bot.remove_listener(on_message, "on_message")
    return n / elapsed


async def count_recorded(db: Database, thread_id: str) -> int:
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


async def cohortbot(sandbox: Sandbox, n: int) -> tuple[float, list[int], str]:
    """The running bot: from the first frame sent to the last row committed."""
    assert sandbox.world is not None
    script = sandbox.server.script
    teacher = sandbox.world.tutors(MODULE)[0]
    now = sandbox.clock.now()
    handle = await teacher.command(
        "prompt create",
        where=sandbox.world.channel(MODULE),
        module=MODULE,
        title="Bench prompt",
        opens=f"{now + timedelta(minutes=1):%Y-%m-%dT%H:%M}Z",
        closes=f"{now + timedelta(days=3):%Y-%m-%dT%H:%M}Z",
        text="Where have you met the bias-variance trade-off?",
    )
    await handle.reply(contains="Scheduled")
    await sandbox.advance(timedelta(minutes=2))
    post = await script.wait_for_message(
        sandbox.world.channel(MODULE), contains="How this prompt is marked"
    )
    assert post.thread_id is not None
    thread = script.channel(post.thread_id)
    async with sandbox.db.session() as s:
        prompt = (await s.execute(select(DiscussionPrompt))).scalars().first()
        assert prompt is not None and prompt.thread_id == str(thread.id)
    # Restart the bot so nothing else of the first phases is in its process.
    await sandbox.app.stop()
    app = Application(sandbox.app.settings, clock=sandbox.clock, db=sandbox.db)
    app.bot.before_identify_hook = _no_identify_wait  # type: ignore[method-assign]
    sandbox.app = app
    await app.start()
    await app.wait_until_ready()
    await asyncio.sleep(2)  # let the start-up work (backfill, first scheduler tick) finish
    recorder = app.bot.get_cog("Discussions").recorder  # type: ignore[union-attr]
    before = recorder.recorded
    ids = inject(sandbox, thread, n)
    start = time.perf_counter()
    # The recorder counts rows only once their transaction has committed.
    await until(lambda: recorder.recorded - before >= n, 600, "cohortbot to record everything")
    elapsed = time.perf_counter() - start
    return n / elapsed, ids, str(thread.id)


async def verify(db: Database, ids: list[int], thread_id: str) -> str:
    async with db.session() as s:
        stored = (
            (
                await s.execute(
                    select(Contribution.message_id).where(Contribution.thread_id == thread_id)
                )
            )
            .scalars()
            .all()
        )
    expected = {str(i) for i in ids}
    duplicates = len(stored) - len(set(stored))
    missing = len(expected - set(stored))
    extra = len(set(stored) - expected)
    verdict = "OK" if not (duplicates or missing or extra) else "FAILED"
    return (
        f"{verdict}: {len(stored)} rows for {len(ids)} messages; "
        f"{missing} missing, {duplicates} counted twice, {extra} unexpected"
    )


def side_thread(sandbox: Sandbox, name: str) -> Channel:
    """A thread in the module channel nobody records: same payload shape, no evidence."""
    assert sandbox.world is not None
    channel = sandbox.world.channel(MODULE)
    thread = sandbox.server.state.start_thread(
        sandbox.server.bot_user_id, channel.id, name, type=PUBLIC_THREAD
    )
    sandbox.server.commit()
    return thread


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--messages", type=int, default=50_000)
    args = parser.parse_args()
    n: int = args.messages
    logging.basicConfig(level=logging.WARNING)
    logging.getLogger("discord").setLevel(logging.ERROR)
    with tempfile.TemporaryDirectory() as tmp:
        db = Database(f"sqlite+aiosqlite:///{Path(tmp) / 'bench.db'}")
        sandbox = Sandbox(db)
        await sandbox.start()
        try:
            # The bot is not listening while the others are measured.
            await sandbox.app.stop()
            raw = await raw_reader(sandbox, side_thread(sandbox, "raw"), n)
            bare = await bare_client(sandbox, side_thread(sandbox, "bare"), n)
            app = Application(sandbox.app.settings, clock=sandbox.clock, db=sandbox.db)
            app.bot.before_identify_hook = _no_identify_wait  # type: ignore[method-assign]
            sandbox.app = app
            await app.start()
            await app.wait_until_ready()
            await asyncio.sleep(2)
            handlers = await cohortbot_unrecorded(sandbox, side_thread(sandbox, "handlers"), n)
            bot_rate, ids, thread_id = await cohortbot(sandbox, n)
            verdict = await verify(db, ids, thread_id)
            cog: Any = sandbox.app.bot.get_cog("Discussions")
            batches = cog.recorder.batches
        finally:
            await sandbox.stop()
            await db.dispose()
    print(f"discussion ingest: {n} answer messages through the local gateway (SQLite, WAL)")
    print(f"  raw websocket reader (json only): {raw:9.0f} msg/s")
    print(f"  bare discord.py client:           {bare:9.0f} msg/s")
    print(
        f"  cohortbot, thread not recorded:   {handlers:9.0f} msg/s  "
        f"({handlers / bare:.2f} of bare: the bot's own per-message handlers)"
    )
    print(f"  cohortbot, recorded + committed:  {bot_rate:9.0f} msg/s  in {batches} batches")
    print(f"  ratio cohortbot / bare discord.py: {bot_rate / bare:.2f} (target >= 0.8)")
    print(f"  exactly once: {verdict}")


if __name__ == "__main__":
    asyncio.run(main())
