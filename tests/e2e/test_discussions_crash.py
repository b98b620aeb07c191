"""The bot killed mid-stream (SIGKILL: nothing flushed) loses no post and counts none twice.

A real ``cohortbot run`` process records a burst of answers through group commit and is killed
while batches are still in memory and frames still on the wire. A fresh process reads each
thread's history after its cursor at start-up and records exactly what is missing.
"""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select

from bot.db.engine import Database
from bot.db.migrate import upgrade
from bot.db.models import Contribution, ContributionVia, DiscussionPrompt, Module, PromptStatus
from bot.discussions.rubric import preset
from cohortlab.localdiscord.models import PUBLIC_THREAD
from cohortlab.localdiscord.server import LocalDiscordServer
from cohortlab.sandbox import build_world, example_texts

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

MODULE = "MATH70097"
BURST = 10_000


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def _start_bot(
    server: LocalDiscordServer, db_url: str, cwd: Path, log: Path | None = None, **settings: str
) -> asyncio.subprocess.Process:
    """``cohortbot run`` as its own process; ``settings`` override the environment; its
    stderr goes to ``log`` when given (nobody need read it meanwhile), else to a pipe."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("COHORTBOT_")}
    env.update(
        DISCORD_TOKEN=server.token,
        COHORTBOT_DISCORD_API_BASE=server.api_base,
        COHORTBOT_DISCORD_GATEWAY_URL=server.gateway_url,
        COHORTBOT_DATABASE_URL=db_url,
        COHORTBOT_WEB_PORT=str(_free_port()),
        COHORTBOT_GUILD_READY_TIMEOUT="0.1",
        COHORTBOT_LOG_LEVEL="WARNING",
    )
    env.update(settings)
    return await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "bot",
        "run",
        env=env,
        cwd=cwd,
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.PIPE if log is None else log.open("ab"),
    )


async def _count(db: Database, via: ContributionVia | None = None) -> int:
    async with db.session() as s:
        stmt = select(func.count()).select_from(Contribution)
        if via is not None:
            stmt = stmt.where(Contribution.via == via)
        return int((await s.execute(stmt)).scalar_one())


async def _wait_count(db: Database, at_least: int, timeout: float) -> int:  # noqa: ASYNC109
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        count = await _count(db)
        if count >= at_least or asyncio.get_running_loop().time() > deadline:
            return count
        await asyncio.sleep(0.01)


async def test_a_killed_bot_loses_nothing_and_counts_nothing_twice(
    tmp_path: Path, e2e_url: str
) -> None:
    db_url = e2e_url
    async with LocalDiscordServer() as server:
        db = Database(db_url)
        await upgrade(db)
        programme, roster = example_texts()
        world = await build_world(server, db, programme_text=programme, roster_text=roster)
        channel = world.channel(MODULE)
        thread = server.state.start_thread(
            server.bot_user_id, channel.id, "Week 1", type=PUBLIC_THREAD
        )
        server.commit()
        now = datetime.now(UTC)
        async with db.session() as s:
            module = (await s.execute(select(Module).where(Module.code == MODULE))).scalar_one()
            s.add(
                DiscussionPrompt(
                    module_id=module.id,
                    title="Week 1",
                    body="Discuss.",
                    opens_at=now - timedelta(hours=1),
                    closes_at=now + timedelta(days=2),
                    rubric=preset("standard").to_dict(),
                    status=PromptStatus.OPEN,
                    channel_id=str(channel.id),
                    thread_id=str(thread.id),
                )
            )
        students = world.students(MODULE)

        first = await _start_bot(server, db_url, tmp_path)
        second = None
        try:
            await server.script.wait_for_commands(timeout=30, names=["prompt"])
            await server.script.wait_for_connection(timeout=30)
            # The whole burst is queued on the gateway at once: the bot records faster than a
            # script can post one by one, and the kill must land while frames are in flight.
            for n in range(BURST):
                server.state.create_message(
                    students[n % len(students)].id, thread.id, f"answer {n} " + "word " * 20
                )
            server.commit()
            # Kill as soon as the first batches are on disk: the rest is in flight.
            at_kill = await _wait_count(db, 1, timeout=30)
            first.kill()
            # Its stderr closes only when every process holding it (the writer process, the
            # fork server) has gone too: a writer outliving the bot would hang here.
            await asyncio.wait_for(first.wait(), timeout=30)
            await asyncio.sleep(0.2)
            stored_after_kill = await _count(db)
            assert 0 < stored_after_kill < BURST, stored_after_kill

            second = await _start_bot(server, db_url, tmp_path)
            final = await _wait_count(db, BURST, timeout=60)
            assert final == BURST
            await asyncio.sleep(0.5)  # anything counted twice would show up now
            async with db.session() as s:
                ids = (await s.execute(select(Contribution.message_id))).scalars().all()
            assert len(ids) == len(set(ids)) == BURST
            assert await _count(db, ContributionVia.BACKFILL) == BURST - stored_after_kill
            assert at_kill >= 1
            second.send_signal(signal.SIGTERM)
            _, err = await asyncio.wait_for(second.communicate(), timeout=30)
            assert second.returncode == 0, err.decode()[-2000:]
        finally:
            for proc in (first, second):
                if proc is not None and proc.returncode is None:
                    proc.kill()
                    await proc.wait()
            await db.dispose()
