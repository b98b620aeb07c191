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
   message of the prompt's thread in the database through its group-commit recorder (the
   batches are written by its writer process, ``bot.discussions.writer``),

and prints messages per second for each and the ratio cohortbot / bare client. The clock for
cohortbot stops only when every message is committed to the database; afterwards the bench
checks that each message was recorded exactly once. Timing starts once the server has queued
every frame, so the server's own rendering is not counted against anyone. Figures only: no
assertion on speed.

The machine's load moves a single measurement by tens of percent (the same phase has taken
1.6 s and 2.7 s back to back), so clients 2-4 take turns for several rounds, only the measured
one connected, and the ratio printed is the median of the rounds' ratios.

Run: .venv/bin/python bench/bench_discussion_ingest.py [--messages 50000] [--rounds 5]
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import logging
import statistics
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import aiohttp
import discord
from sqlalchemy import func, select

from bot.db.engine import Database
from bot.db.models import Contribution, DiscussionPrompt
from bot.discord_app import Application, build_intents
from cohortlab.localdiscord.models import PUBLIC_THREAD, Channel
from cohortlab.sandbox import Sandbox, _no_identify_wait

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
    settle()
    return ids


def settle() -> None:
    """Start every timed phase with the same garbage collector state.

    The local server lives in this process and keeps every message of every phase, so without
    this each phase would run with a bigger heap than the one before, and the collector's full
    passes over it would count against whichever client happens to be measured last. Freezing
    what exists moves it out of the collector's way for all of them alike.
    """
    gc.collect()
    gc.freeze()


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
    """The running bot on a thread it does not record: what its event handling alone costs.

    The count is a message tap, as the recorder's is, so this phase is the recorded one less
    the recording.
    """
    seen = 0

    def count(message: discord.Message) -> None:
        nonlocal seen
        if message.channel.id == thread.id:
            seen += 1

    sandbox.app.bot.add_message_tap(count)
    inject(sandbox, thread, n)
    start = time.perf_counter()
    await until(lambda: seen >= n, 600, "cohortbot's handlers")
    elapsed = time.perf_counter() - start
    sandbox.app.bot.remove_message_tap(count)
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


async def open_prompt(sandbox: Sandbox) -> Channel:
    """A tutor schedules a prompt; the bot opens it: its answers thread is what gets recorded."""
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
    return thread


async def start_bot(sandbox: Sandbox) -> Application:
    """A fresh ``Application`` (as ``cohortbot run`` builds it), started and settled."""
    app = Application(sandbox.app.settings, clock=sandbox.clock, db=sandbox.db)
    app.bot.before_identify_hook = _no_identify_wait  # type: ignore[method-assign]
    sandbox.app = app
    await app.start()
    await app.wait_until_ready()
    # Let the start-up work finish: the history read of the thread (the whole thread, so edits
    # and deletions made while the bot was away are seen) and the first scheduler tick.
    cog: Any = app.bot.get_cog("Discussions")
    await cog.settled()
    await asyncio.sleep(2)
    return app


async def cohortbot(sandbox: Sandbox, thread: Channel, n: int) -> tuple[float, list[int], int]:
    """The running bot: from the first frame sent to the last row committed."""
    recorder = sandbox.app.bot.get_cog("Discussions").recorder
    before, batches = recorder.recorded, recorder.batches
    ids = inject(sandbox, thread, n)
    start = time.perf_counter()
    # The recorder counts rows only once their transaction has committed.
    await until(lambda: recorder.recorded - before >= n, 600, "cohortbot to record everything")
    elapsed = time.perf_counter() - start
    return n / elapsed, ids, recorder.batches - batches


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


@dataclass
class Round:
    bare: float
    handlers: float
    recorded: float
    batches: int

    @property
    def ratio(self) -> float:
        return self.recorded / self.bare


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--messages", type=int, default=50_000)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    n: int = args.messages
    logging.basicConfig(level=logging.WARNING)
    logging.getLogger("discord").setLevel(logging.ERROR)
    rounds: list[Round] = []
    with tempfile.TemporaryDirectory() as tmp:
        db = Database(f"sqlite+aiosqlite:///{Path(tmp) / 'bench.db'}")
        sandbox = Sandbox(db)
        await sandbox.start()
        try:
            thread = await open_prompt(sandbox)
            # Only the client being measured is connected: each one parses every frame.
            await sandbox.app.stop()
            raw = await raw_reader(sandbox, side_thread(sandbox, "raw"), n)
            ids: list[int] = []
            for number in range(args.rounds):
                bare = await bare_client(sandbox, side_thread(sandbox, f"bare {number}"), n)
                await start_bot(sandbox)
                handlers = await cohortbot_unrecorded(
                    sandbox, side_thread(sandbox, f"handlers {number}"), n
                )
                rate, injected, batches = await cohortbot(sandbox, thread, n)
                ids += injected
                await sandbox.app.stop()
                rounds.append(Round(bare, handlers, rate, batches))
            verdict = await verify(db, ids, str(thread.id))
        finally:
            await sandbox.stop()
            await db.dispose()
    print(
        f"discussion ingest: {n} answer messages per client per round through the local "
        f"gateway (SQLite, WAL), {len(rounds)} rounds, clients taking turns"
    )
    print(f"  raw websocket reader (json only):  {raw:9.0f} msg/s")
    for number, r in enumerate(rounds, 1):
        print(
            f"  round {number}: bare discord.py {r.bare:7.0f} msg/s | cohortbot not recording "
            f"{r.handlers:7.0f} msg/s | cohortbot recording {r.recorded:7.0f} msg/s in "
            f"{r.batches} batches | ratio {r.ratio:.2f}"
        )
    bare_m = statistics.median(r.bare for r in rounds)
    handlers_m = statistics.median(r.handlers for r in rounds)
    recorded_m = statistics.median(r.recorded for r in rounds)
    print(f"  bare discord.py client (median):   {bare_m:9.0f} msg/s")
    print(
        f"  cohortbot, thread not recorded:    {handlers_m:9.0f} msg/s  "
        f"({handlers_m / bare_m:.2f} of bare: the bot's own per-message handling)"
    )
    print(f"  cohortbot, recorded + committed:   {recorded_m:9.0f} msg/s")
    ratios = " ".join(f"{r.ratio:.2f}" for r in rounds)
    print(
        f"  ratio cohortbot / bare discord.py: {statistics.median(r.ratio for r in rounds):.2f} "
        f"median of the rounds ({ratios}) (target >= 0.8)"
    )
    print(f"  exactly once over all rounds: {verdict}")


if __name__ == "__main__":
    asyncio.run(main())
