"""`cohortbot run` as a separate process against the local server, stopped by SIGTERM."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import sys
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from bot.db.engine import Database
from bot.db.migrate import upgrade
from cohortlab.localdiscord.server import LocalDiscordServer
from cohortlab.sandbox import build_world, example_texts

pytestmark = pytest.mark.e2e


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def _until_healthy(url: str) -> None:
    """What an operator's probe does: poll /healthz until the bot says it is ready."""
    last = "no answer"
    async with aiohttp.ClientSession() as http:
        for _ in range(100):
            try:
                async with http.get(url) as resp:
                    last = await resp.text()
                    if resp.status == 200:
                        return
            except aiohttp.ClientError as exc:
                last = repr(exc)
            await asyncio.sleep(0.1)
    raise AssertionError(f"/healthz never answered 200: {last}")


async def test_cohortbot_run_process_serves_and_stops_cleanly_on_sigterm(
    tmp_path: Path, e2e_url: str
) -> None:
    db_url = e2e_url
    async with LocalDiscordServer() as server:
        db = Database(db_url)
        await upgrade(db)
        programme, roster = example_texts()
        world = await build_world(server, db, programme_text=programme, roster_text=roster)
        await db.dispose()
        web_port = _free_port()
        env = {k: v for k, v in os.environ.items() if not k.startswith("COHORTBOT_")}
        env.update(
            DISCORD_TOKEN=server.token,
            COHORTBOT_DISCORD_API_BASE=server.api_base,
            COHORTBOT_DISCORD_GATEWAY_URL=server.gateway_url,
            COHORTBOT_DATABASE_URL=db_url,
            COHORTBOT_WEB_PORT=str(web_port),
            COHORTBOT_GUILD_READY_TIMEOUT="0.1",
        )
        proc = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "bot",
            "run",
            env=env,
            cwd=tmp_path,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
        )
        try:
            await server.script.wait_for_commands(timeout=30, names=["about"])
            await _until_healthy(f"http://127.0.0.1:{web_port}/healthz")
            student = world.students()[0]
            reply = await (await student.command("about")).reply(contains="cohortbot")
            assert "provisional" in reply.content
            proc.send_signal(signal.SIGTERM)
            output, _ = await asyncio.wait_for(proc.communicate(), timeout=20)
        finally:
            if proc.returncode is None:
                proc.kill()
                await proc.wait()
        text = output.decode()
        assert proc.returncode == 0, text
        assert "shutting down" in text
        assert server.token not in text
        assert server.gateway.count("disconnect") >= 1
        assert server.unknown_routes == []


def _port_free(port: int) -> bool:
    with socket.socket() as s:
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True


async def test_three_settings_are_all_it_takes(tmp_path: Path) -> None:
    """An outside Discord-compatible server can drive `cohortbot migrate && cohortbot run`
    with nothing but DISCORD_TOKEN and the two URL settings (defaults for everything else).

    SQLite only: with no database setting the default is the ``cohortbot.db`` file."""
    if not _port_free(8080):
        pytest.skip("the default web port 8080 is taken on this machine")
    async with LocalDiscordServer() as server:
        cohort = await server.script.build_cohort(modules=["MATH70095"])
        env = {k: v for k, v in os.environ.items() if not k.startswith("COHORTBOT_")}
        env.pop("DISCORD_TOKEN", None)
        env.update(
            DISCORD_TOKEN=server.token,
            COHORTBOT_DISCORD_API_BASE=server.api_base,
            COHORTBOT_DISCORD_GATEWAY_URL=server.gateway_url,
        )
        migrate = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "bot",
            "migrate",
            env=env,
            cwd=tmp_path,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
        )
        out, _ = await migrate.communicate()
        assert migrate.returncode == 0, out.decode()
        proc = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "bot",
            "run",
            env=env,
            cwd=tmp_path,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
        )
        try:
            await server.script.wait_for_commands(timeout=30, names=["about"])
            await _until_healthy("http://127.0.0.1:8080/healthz")
            reply = await (await cohort.student.command("about")).reply(contains="cohortbot")
            assert reply.content
            proc.send_signal(signal.SIGTERM)
            output, _ = await asyncio.wait_for(proc.communicate(), timeout=20)
        finally:
            if proc.returncode is None:
                proc.kill()
                await proc.wait()
        assert proc.returncode == 0, output.decode()
        assert (tmp_path / "cohortbot.db").exists()
        assert server.unknown_routes == []


async def _run_process(
    server: LocalDiscordServer, tmp_path: Path, db_url: str, token: str, web_port: int
) -> Any:
    """`python -m bot run` against the local server with a migrated, seeded database."""
    db = Database(db_url)
    await upgrade(db)
    programme, roster = example_texts()
    await build_world(server, db, programme_text=programme, roster_text=roster)
    await db.dispose()
    env = {k: v for k, v in os.environ.items() if not k.startswith("COHORTBOT_")}
    env.update(
        DISCORD_TOKEN=token,
        COHORTBOT_DISCORD_API_BASE=server.api_base,
        COHORTBOT_DISCORD_GATEWAY_URL=server.gateway_url,
        COHORTBOT_DATABASE_URL=db_url,
        COHORTBOT_WEB_PORT=str(web_port),
        COHORTBOT_GUILD_READY_TIMEOUT="0.1",
    )
    return await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "bot",
        "run",
        env=env,
        cwd=tmp_path,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )


async def _finish(proc: Any) -> str:
    try:
        output, _ = await asyncio.wait_for(proc.communicate(), timeout=30)
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
    return bytes(output).decode()


async def test_a_refused_token_exits_non_zero_so_a_supervisor_restarts(
    tmp_path: Path, e2e_url: str
) -> None:
    async with LocalDiscordServer() as server:
        proc = await _run_process(server, tmp_path, e2e_url, "not-the-token", _free_port())
        text = await _finish(proc)
    assert proc.returncode not in (0, None), text
    assert "Discord refused the token" in text


async def test_a_gateway_that_dies_under_the_bot_exits_non_zero(
    tmp_path: Path, e2e_url: str
) -> None:
    """A fatal close (4004 after start-up) ends discord.py's client.start with an exception:
    the process must log it and exit non-zero rather than shut down as if asked to."""
    async with LocalDiscordServer() as server:
        web_port = _free_port()
        proc = await _run_process(server, tmp_path, e2e_url, server.token, web_port)
        try:
            await server.script.wait_for_commands(timeout=30, names=["about"])
            await _until_healthy(f"http://127.0.0.1:{web_port}/healthz")
            assert await server.gateway.drop(code=4004) == 1
        except BaseException:
            proc.kill()
            raise
        text = await _finish(proc)
    assert proc.returncode not in (0, None), text
    assert "the Discord connection failed" in text
