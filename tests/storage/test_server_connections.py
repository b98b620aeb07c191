"""A PostgreSQL connection the server dropped (a restart, an idle timeout) never fails the
work lent it: the pool replaces a connection the server closed (the driver knows, no round
trip), and pings one idle ``PING_IDLE_SECONDS`` (what only a query shows) before lending it."""

from __future__ import annotations

import asyncio

import asyncpg
import pytest
from sqlalchemy import text
from sqlalchemy.engine import make_url

from bot.db import engine as engine_module
from bot.db.engine import Database


async def _backend_pid(db: Database) -> int:
    async with db.session() as s:
        return int((await s.execute(text("SELECT pg_backend_pid()"))).scalar_one())


async def _server_drops(db: Database, pid: int) -> None:
    """Another client ends the bot's connection ``pid``, as a restart or a timeout would."""
    dsn = make_url(db.url).set(drivername="postgresql").render_as_string(hide_password=False)
    admin = await asyncpg.connect(dsn)
    try:
        assert await admin.fetchval("SELECT pg_terminate_backend($1)", pid)
    finally:
        await admin.close()


def _server_only(db: Database) -> None:
    if db.dialect == "sqlite":
        pytest.skip("a SQLite file has no server connection to drop")


async def test_a_dropped_connection_idle_a_while_is_replaced_before_use(
    db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    _server_only(db)
    first = await _backend_pid(db)
    await _server_drops(db, first)
    monkeypatch.setattr(engine_module, "PING_IDLE_SECONDS", 0.0)  # every connection looks idle
    assert await _backend_pid(db) != first  # the work ran, on a new connection


async def test_a_connection_the_server_closed_just_after_use_is_replaced_without_a_ping(
    db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    _server_only(db)
    monkeypatch.setattr(engine_module, "PING_IDLE_SECONDS", 3600.0)  # nothing looks idle
    first = await _backend_pid(db)
    await _server_drops(db, first)
    await asyncio.sleep(0.2)  # the close reaches the bot (a restart takes longer than this)
    assert await _backend_pid(db) != first
