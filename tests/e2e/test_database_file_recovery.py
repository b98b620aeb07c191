"""The SQLite file moved away under a running bot: /healthz fails while it is gone, posts
that arrive meanwhile wait in the recorder's queue, and once the file is back health is OK
and every post is recorded exactly once, without a restart."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import aiohttp
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


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def _health_until(url: str, status: int, timeout: float = 30) -> str:  # noqa: ASYNC109
    """Poll /healthz as a probe does until it answers ``status``; returns the body."""
    deadline = asyncio.get_running_loop().time() + timeout
    last = "no answer"
    async with aiohttp.ClientSession() as http:
        while asyncio.get_running_loop().time() < deadline:
            try:
                async with http.get(url + "/healthz") as resp:
                    last = await resp.text()
                    if resp.status == status:
                        return last
            except aiohttp.ClientError as exc:
                last = repr(exc)
            await asyncio.sleep(0.1)
    raise AssertionError(f"/healthz never answered {status}: {last}")


async def _count(db: Database, via: ContributionVia | None = None) -> int:
    async with db.session() as s:
        stmt = select(func.count()).select_from(Contribution)
        if via is not None:
            stmt = stmt.where(Contribution.via == via)
        return int((await s.execute(stmt)).scalar_one())


async def _wait_count(db: Database, at_least: int, timeout: float = 60) -> int:  # noqa: ASYNC109
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        count = await _count(db)
        if count >= at_least or asyncio.get_running_loop().time() > deadline:
            return count
        await asyncio.sleep(0.05)


async def test_recording_survives_the_database_file_going_away_and_coming_back(
    tmp_path: Path,
) -> None:
    # SQLite only: an operator moving the database *file* away exists only on SQLite (and the
    # discussion writer process it exercises starts only for a SQLite file, bot/childproc.py).
    path = tmp_path / "live.db"
    away = tmp_path / "moved-by-an-operator.db"
    db_url = f"sqlite+aiosqlite:///{path}"
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
        web = f"http://127.0.0.1:{_free_port()}"
        env = {k: v for k, v in os.environ.items() if not k.startswith("COHORTBOT_")}
        env.update(
            DISCORD_TOKEN=server.token,
            COHORTBOT_DISCORD_API_BASE=server.api_base,
            COHORTBOT_DISCORD_GATEWAY_URL=server.gateway_url,
            COHORTBOT_DATABASE_URL=db_url,
            COHORTBOT_WEB_PORT=web.rsplit(":", 1)[1],
            COHORTBOT_GUILD_READY_TIMEOUT="0.1",
            COHORTBOT_LOG_LEVEL="WARNING",
        )
        bot = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "bot",
            "run",
            env=env,
            cwd=tmp_path,
            stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.PIPE,
        )

        def post(first: int, count: int) -> None:
            for n in range(first, first + count):
                server.state.create_message(
                    students[n % len(students)].id, thread.id, f"answer {n} " + "word " * 20
                )
            server.commit()

        try:
            await server.script.wait_for_commands(timeout=30, names=["prompt"])
            await server.script.wait_for_connection(timeout=30)
            await _health_until(web, 200)
            post(0, 20)
            assert await _wait_count(db, 20) == 20

            os.rename(path, away)
            body = await _health_until(web, 503)
            assert f"the database file {path} is missing" in body
            post(20, 30)
            # Long enough for the recorder to try (and fail) more than once meanwhile.
            await asyncio.sleep(2.5)
            assert not path.exists()  # nobody created an empty database in its place

            os.rename(away, path)
            await _health_until(web, 200)
            assert await _wait_count(db, 50) == 50
            await asyncio.sleep(0.5)  # anything counted twice would show up now
            async with db.session() as s:
                ids = (await s.execute(select(Contribution.message_id))).scalars().all()
            assert len(ids) == len(set(ids)) == 50
            # kept in the queue, not recovered by a restart's backfill
            assert await _count(db, ContributionVia.GATEWAY) == 50

            bot.send_signal(signal.SIGTERM)
            _, err = await asyncio.wait_for(bot.communicate(), timeout=30)
            log = err.decode()
            assert bot.returncode == 0, log[-2000:]
            assert f"waits: the database file {path} is missing" in log
            # the recorder waited (one line a try) rather than failing with a traceback
            assert "failed; keeping them to retry" not in log
        finally:
            if bot.returncode is None:
                bot.kill()
                await bot.wait()
            await db.dispose()
