"""Two `cohortbot run` processes on one database: every effect happens once, even when one dies.

The local server, like Discord, sends every gateway event (interactions included) to every
session of the bot. Both processes therefore see each slash command, button press and form;
only the one that claims the interaction in the database acts on it. Scheduled work (notices,
prompt openings) is claimed by row state. One process is SIGKILLed at a random moment while
students post and notices fall due; the other carries on alone.
"""

from __future__ import annotations

import asyncio
import os
import random
import re
import signal
import socket
import sys
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import aiohttp
import pytest
from sqlalchemy import func, select

from bot.db.engine import Database
from bot.db.models import (
    CalendarEvent,
    Contribution,
    ContributionRevision,
    DiscussionPrompt,
    Notice,
    NoticeStatus,
    PromptStatus,
)
from cohortlab.localdiscord.scripting import InteractionHandle
from cohortlab.localdiscord.server import LocalDiscordServer
from cohortlab.sandbox import build_world, example_texts
from tests.storage_backends import Backends, backends

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

MODULE = "MATH70097"
POSTS = 40


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _at(moment: datetime) -> str:
    return f"{moment.astimezone(UTC):%Y-%m-%dT%H:%M:%S}Z"


async def _start(
    server: LocalDiscordServer, db_url: str, cwd: Path, web_port: int
) -> asyncio.subprocess.Process:
    """What the README asks of each process: the same token and database, its own web port."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("COHORTBOT_")}
    env.update(
        DISCORD_TOKEN=server.token,
        COHORTBOT_DISCORD_API_BASE=server.api_base,
        COHORTBOT_DISCORD_GATEWAY_URL=server.gateway_url,
        COHORTBOT_DATABASE_URL=db_url,
        COHORTBOT_WEB_PORT=str(web_port),
        COHORTBOT_GUILD_READY_TIMEOUT="0.1",
        COHORTBOT_SCHEDULER_TICK_SECONDS="1",
    )
    return await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "bot",
        "run",
        env=env,
        cwd=cwd,
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.PIPE,
    )


async def _drain(proc: asyncio.subprocess.Process, into: bytearray) -> None:
    """Everything ``proc`` writes to its stderr, into ``into``, until it closes."""
    assert proc.stderr is not None
    while chunk := await proc.stderr.read(65536):
        into += chunk


async def _healthy(port: int) -> None:
    async with aiohttp.ClientSession() as http:
        for _ in range(300):
            try:
                async with http.get(f"http://127.0.0.1:{port}/healthz") as resp:
                    if resp.status == 200:
                        return
            except aiohttp.ClientError:
                pass
            await asyncio.sleep(0.1)
    raise AssertionError(f"the process on port {port} never became healthy")


async def _count(db: Database, model: type, *where: object) -> int:
    async with db.session() as s:
        stmt = select(func.count()).select_from(model).where(*where)  # type: ignore[arg-type]
        return int((await s.execute(stmt)).scalar_one())


async def _until(check: Callable[[], Awaitable[bool]], what: str, timeout: float = 30.0) -> None:  # noqa: ASYNC109
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not await check():
        if loop.time() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.1)


def _one_reply(server: LocalDiscordServer, handle: InteractionHandle) -> None:
    """The user saw one answer (a message or a form), and nobody else tried to answer."""
    shown = 0 if handle.interaction.response_type == 9 else 1
    assert len(handle.messages) == shown, [m.content for m in handle.messages]
    token = handle.interaction.token
    tried = [c for c in server.calls if token in c.path and c.path.endswith("/callback")]
    assert len(tried) == 1, [(c.route, c.status) for c in tried]


@pytest.mark.parametrize("backend", backends())
async def test_two_processes_act_once_on_everything_and_survive_a_kill(
    storage: Backends, backend: str, tmp_path: Path
) -> None:
    rng = random.Random()
    seed = rng.randrange(1_000_000)
    rng.seed(seed)
    db_url = await storage.fresh_url(backend)
    db = Database(db_url)
    procs: list[asyncio.subprocess.Process] = []
    logs: list[bytearray] = []
    async with LocalDiscordServer() as server:
        programme, roster = example_texts()
        world = await build_world(server, db, programme_text=programme, roster_text=roster)
        script = server.script
        channel = world.channel(MODULE)
        teacher = world.tutors(MODULE)[0]
        students = world.students(MODULE)
        try:
            ports = [_free_port(), _free_port()]
            procs = [await _start(server, db_url, tmp_path, port) for port in ports]
            # Each process's log is read as it comes: a pipe nobody reads fills up (64 KiB),
            # and a process writing its log to a full pipe stops.
            logs = [bytearray() for _ in procs]
            drains = [
                asyncio.create_task(_drain(p, log)) for p, log in zip(procs, logs, strict=True)
            ]
            for port in ports:
                await _healthy(port)
            await script.wait_for(
                lambda: len([s for s in server.gateway.sessions.values() if s.conn]) == 2,
                what="both processes connected",
                timeout=30,
            )
            handles: list[InteractionHandle] = []

            # Commands, with both processes alive: each answered once, each acting once.
            now = datetime.now(UTC)
            due = now + timedelta(seconds=75)
            added = await teacher.command(
                "deadline add",
                where=channel,
                module=MODULE,
                kind="submission_deadline",
                title="Coursework twice?",
                due=_at(due),
                offsets="60s,50s",
            )
            await added.reply(contains="Submission deadline #", timeout=10)
            handles.append(added)
            public = await teacher.command(
                "prompt create",
                where=channel,
                module=MODULE,
                title="Week 1: posts",
                opens=_at(now + timedelta(seconds=5)),
                closes=_at(now + timedelta(days=2)),
                text="Where have you met the bias-variance trade-off?",
            )
            await public.reply(contains="Scheduled prompt #", timeout=10)
            handles.append(public)
            form = await teacher.command(
                "prompt create",
                where=channel,
                module=MODULE,
                title="Week 1: answers by form",
                opens=_at(now + timedelta(seconds=5)),
                closes=_at(now + timedelta(days=2)),
                private_answers=True,
            )
            await form.modal(timeout=10)
            submitted = await teacher.submit_modal(text="Answer privately first, then discuss.")
            await submitted.reply(contains="Scheduled prompt #", timeout=10)
            handles.append(submitted)
            zones = await students[0].autocomplete("calendar timezone", "zone", "Lond")
            assert any(c["value"] == "Europe/London" for c in zones)
            for student in students[:3]:
                about = await student.command("about", where=channel)
                await about.reply(timeout=10)
                handles.append(about)

            # Each command acted once: the process that lost the claim did nothing at all.
            assert await _count(db, CalendarEvent) == 1
            assert await _count(db, DiscussionPrompt) == 2

            # Both prompts open once each; answers by button and form are posted once each.
            # (the post, then its thread: wait for both)
            opened = await script.wait_for_message(
                channel,
                contains="Week 1: posts",
                predicate=lambda m: m.thread_id is not None,
                timeout=30,
            )
            private = await script.wait_for_message(
                channel, contains="Press **Answer**", timeout=30
            )
            assert opened.thread_id is not None
            async with db.session() as s:
                form_prompt = (
                    await s.execute(
                        select(DiscussionPrompt).where(
                            DiscussionPrompt.title == "Week 1: answers by form"
                        )
                    )
                ).scalar_one()
            button = f"cb:discussions:answer:{form_prompt.id}"

            async def both_open() -> bool:
                # The opening post goes out before the prompt is marked open (a click in
                # between is told it opens soon), so wait for the mark.
                status = DiscussionPrompt.status == PromptStatus.OPEN
                return await _count(db, DiscussionPrompt, status) == 2

            await _until(both_open, "both prompts marked open")
            for student in students[:2]:
                clicked = await student.click(private, button)
                await clicked.modal(timeout=10)
                answered = await student.submit_modal(answer="careful " * 160)
                await answered.reply(contains="You can now read", timeout=10)
                handles += [clicked, answered]

            # An edit and a deletion reach both processes too: each is kept once.
            edited = await students[0].post(opened.thread_id, "first thoughts " * 10)
            gone = await students[1].post(opened.thread_id, "posted by mistake " * 10)
            await students[0].edit(edited, "second thoughts " * 12)
            await students[1].delete(gone)

            async def edit_and_delete_kept() -> bool:
                revised = await _count(db, ContributionRevision)
                deleted = await _count(db, Contribution, Contribution.deleted_at.is_not(None))
                return revised >= 1 and deleted >= 1

            await _until(edit_and_delete_kept, "the edit and the deletion recorded")

            # Students post while one process is killed at a random moment.
            victim = rng.randrange(2)
            kill_after = rng.uniform(0.0, 3.0)

            async def kill() -> None:
                await asyncio.sleep(kill_after)
                procs[victim].kill()

            killer = asyncio.create_task(kill())
            posted = []
            in_flight: list[InteractionHandle] = []  # sent around the kill: at most once each
            for n in range(POSTS):
                author = students[n % len(students)]
                posted.append(await author.post(opened.thread_id, f"post {n} " + "word " * 30))
                if n % 8 == 0:
                    in_flight.append(await author.command("about", where=channel))
                await asyncio.sleep(rng.uniform(0.0, 0.1))
            await killer
            await asyncio.wait_for(procs[victim].wait(), timeout=30)
            await drains[victim]
            victim_err = bytes(logs[victim])
            survivor = procs[1 - victim]

            # After the kill the survivor answers everything alone.
            later = await teacher.command(
                "deadline add",
                where=channel,
                module=MODULE,
                kind="submission_deadline",
                title="Coursework after the kill",
                due=_at(datetime.now(UTC) + timedelta(days=3)),
                offsets="1d",
            )
            await later.reply(contains="Submission deadline #", timeout=10)
            handles.append(later)
            clicked = await students[2].click(private, button)
            await clicked.modal(timeout=10)
            answered = await students[2].submit_modal(answer="thoughtful " * 160)
            await answered.reply(contains="You can now read", timeout=10)
            handles += [clicked, answered]

            # Every post recorded once; every notice sent once (a notice the killed process
            # had claimed is recovered by the survivor once its lease expires).
            async def all_recorded() -> bool:
                return await _count(db, Contribution) >= POSTS + 5

            await _until(all_recorded, "every post recorded", timeout=60)

            async def notices_sent() -> bool:
                return await _count(db, Notice, Notice.status != NoticeStatus.SENT) == 1

            await _until(notices_sent, "both notices sent", timeout=240)
            await asyncio.sleep(2)  # anything done twice would show up now

            for handle in handles:
                _one_reply(server, handle)
            for handle in in_flight:
                assert len(handle.messages) <= 1
                calls = [c for c in server.calls if handle.interaction.token in c.path]
                assert len([c for c in calls if c.path.endswith("/callback")]) <= 1
            assert await _count(db, CalendarEvent) == 2
            assert await _count(db, DiscussionPrompt) == 2
            bot_posts = [m.content for m in script.bot_messages(channel)]
            assert sum("Week 1: posts" in c for c in bot_posts) == 1, bot_posts
            assert sum("Press **Answer**" in c for c in bot_posts) == 1, bot_posts
            assert sum("Coursework twice?" in c for c in bot_posts) == 2, bot_posts
            async with db.session() as s:
                row = await s.get(DiscussionPrompt, form_prompt.id)
            assert row is not None and row.thread_id is not None
            thread = script.channel(int(row.thread_id))
            relayed = [m for m in script.bot_messages(thread) if "Answer from" in m.content]
            assert len(relayed) == 3, [m.content for m in relayed]
            async with db.session() as s:
                ids = (await s.execute(select(Contribution.message_id))).scalars().all()
            assert len(ids) == len(set(ids)) == POSTS + 5
            assert await _count(db, ContributionRevision) == 1
            assert {str(m.id) for m in posted} <= set(ids)
            assert not [c for c in server.calls if c.status == 400 and "40060" in str(c.response)]

            survivor.send_signal(signal.SIGTERM)
            await asyncio.wait_for(survivor.wait(), timeout=30)
            await drains[1 - victim]
            err = bytes(logs[1 - victim])
            assert survivor.returncode == 0, err.decode()[-3000:]
            log_text = victim_err.decode() + err.decode()
            # The process that lost a claim says nothing alarming: no error, no warning of ours.
            alarming = [
                line
                for line in log_text.splitlines()
                if "Traceback" in line
                or " ERROR " in line
                or re.search(r" WARNING (bot|cogs)\.", line)
            ]
            assert alarming == [], "\n".join(alarming)
            print(
                f"two processes ({backend}): killed #{victim} after {kill_after:.2f}s, "
                f"{len(handles)} interactions answered once, "
                f"{sum(bool(h.messages) for h in in_flight)}/{len(in_flight)} sent around the "
                f"kill answered, seed {seed}"
            )
        finally:
            for proc in procs:
                if proc.returncode is None:
                    proc.kill()
                    await proc.wait()
            for number, log in enumerate(logs):  # shown only if the test failed
                print(f"--- process {number}'s log, last 4,000 characters:")
                print(log.decode(errors="replace")[-4000:])
            await db.dispose()
            await storage.drop(db_url)
