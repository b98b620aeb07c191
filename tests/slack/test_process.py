"""`cohortbot run` on Slack as its own process, configured by environment variables alone:
it signs in by Socket Mode, answers a slash command, opens a prompt; killed with SIGKILL and
restarted, the answer posted while it was down is recorded (once), and it answers again."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import aiohttp
import pytest
from sqlalchemy import select

from bot.access.context import open_context
from bot.access.identity import ChatUser
from bot.db.engine import Database
from bot.db.models import Contribution, DiscussionPrompt
from bot.discussions import service
from cohortlab.drive.slack import build_slack_world
from cohortlab.localslack import LocalSlackServer
from slackapp.chat import split_target
from tests.slack.conftest import eventually, free_port

pytestmark = pytest.mark.e2e

MODULE = "MATH70097"


def _minute(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%MZ")


async def _healthy(url: str) -> bool | None:
    try:
        async with aiohttp.ClientSession() as http, http.get(url) as resp:
            return resp.status == 200 or None
    except aiohttp.ClientError:
        return None


async def _start(env: dict[str, str], cwd: Path) -> asyncio.subprocess.Process:
    return await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "bot",
        "run",
        env=env,
        cwd=cwd,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )


async def test_cohortbot_run_on_slack_survives_sigkill_and_loses_nothing(
    tmp_path: Path, e2e_url: str
) -> None:
    async with LocalSlackServer() as server:
        db = Database(e2e_url)
        world = await build_slack_world(server, db, bind_channels=True)
        tutor = world.tutor_of(MODULE)
        student = world.students_of(MODULE)[0]
        chan = world.channels[MODULE]
        # A prompt scheduled earlier that is due now: the process opens it on its first run.
        real_now = datetime.now(UTC)
        who = ChatUser(tutor.id, tutor.name, tutor.name, tutor.user.email)
        async with open_context(db, server.team_id, who) as ctx:
            await service.create_prompt(
                ctx.session,
                ctx.caller,
                ctx.cohort,
                module_code=MODULE,
                title="Week 1",
                body="Where have you met the bias-variance trade-off?",
                opens=_minute(real_now - timedelta(minutes=30)),
                closes=_minute(real_now + timedelta(days=1)),
                rubric="standard",
                private_answers=False,
                now=real_now - timedelta(hours=1),
            )
        web_port = free_port()
        env = {
            k: v
            for k, v in os.environ.items()
            if not k.startswith(("COHORTBOT_", "SLACK_", "DISCORD_"))
        }
        env.update(
            COHORTBOT_PLATFORM="slack",
            SLACK_BOT_TOKEN=server.bot_token,
            SLACK_APP_TOKEN=server.app_token,
            COHORTBOT_SLACK_API_URL=server.api_base,
            COHORTBOT_DATABASE_URL=e2e_url,
            COHORTBOT_WEB_PORT=str(web_port),
            COHORTBOT_SCHEDULER_TICK_SECONDS="1",
        )
        health = f"http://127.0.0.1:{web_port}/healthz"

        async def prompt() -> DiscussionPrompt | None:
            async with db.session() as s:
                row = (await s.execute(select(DiscussionPrompt))).scalar_one()
            return row if row.thread_id else None

        async def answers() -> list[Contribution]:
            async with db.session() as s:
                return list((await s.execute(select(Contribution))).scalars())

        proc = await _start(env, tmp_path)
        output = b""
        try:
            await eventually(lambda: _healthy(health), "/healthz 200", tries=300)
            about = await student.slash("/about", channel=chan)
            await about.wait_ephemeral(contains="cohortbot", timeout=15)
            opened = await eventually(prompt, "the prompt opened in its channel", tries=300)
            assert opened.thread_id is not None
            _, parent = split_target(opened.thread_id)

            proc.kill()  # SIGKILL: no clean stop, nothing drained
            await proc.wait()
            ts = await student.post(chan, "Splines: more knots, less bias.", thread_ts=parent)

            proc = await _start(env, tmp_path)
            await eventually(lambda: _healthy(health), "/healthz 200 after the restart", tries=300)

            async def recorded() -> list[Contribution] | None:
                rows = await answers()
                return rows or None

            try:
                rows = await eventually(recorded, "the answer posted while down", tries=300)
            except AssertionError:
                proc.kill()
                seen, _ = await proc.communicate()
                raise AssertionError(seen.decode()[-6000:]) from None
            again = await student.slash("/about", channel=chan)
            await again.wait_ephemeral(contains="cohortbot", timeout=15)
            await server.script.wait_acked()
            rows = await answers()
            assert [(r.message_id, r.thread_id) for r in rows] == [
                (f"{chan.id}/{ts}", opened.thread_id)
            ]
            proc.send_signal(signal.SIGTERM)
            output, _ = await asyncio.wait_for(proc.communicate(), timeout=30)
        finally:
            if proc.returncode is None:
                proc.kill()
                await proc.wait()
            await db.dispose()
        text = output.decode()
        assert proc.returncode == 0, text
        assert "shutting down" in text
        assert server.bot_token not in text and server.app_token not in text
        assert server.internal_errors == []


async def test_a_refused_token_is_one_line_and_exit_2(tmp_path: Path, e2e_url: str) -> None:
    async with LocalSlackServer() as server:
        env = {
            k: v
            for k, v in os.environ.items()
            if not k.startswith(("COHORTBOT_", "SLACK_", "DISCORD_"))
        }
        env.update(
            COHORTBOT_PLATFORM="slack",
            SLACK_BOT_TOKEN="xoxb-not-this-one",
            SLACK_APP_TOKEN=server.app_token,
            COHORTBOT_SLACK_API_URL=server.api_base,
            COHORTBOT_DATABASE_URL=e2e_url,
            COHORTBOT_WEB_PORT=str(free_port()),
        )
        proc = await _start(env, tmp_path)
        output, _ = await asyncio.wait_for(proc.communicate(), timeout=60)
    lines = [line for line in output.decode().splitlines() if line.strip()]
    assert proc.returncode == 2
    assert lines[-1] == (
        "cohortbot: Slack refused SLACK_BOT_TOKEN (invalid_auth): check the bot token and "
        "COHORTBOT_SLACK_API_URL."
    )
    assert not [line for line in lines if "Traceback" in line or "WARNING" in line]
    assert "xoxb-not-this-one" not in output.decode()
