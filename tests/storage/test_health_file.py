"""/healthz on a SQLite file tells the truth: a moved, deleted or garbage file fails it, and
the engine is back on the file as soon as it is back, without a restart."""

from __future__ import annotations

import functools
import os
import shutil
import sqlite3
from contextlib import closing
from pathlib import Path

import aiohttp
import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from bot.db.engine import Database, DatabaseFileMissing
from bot.db.migrate import upgrade
from bot.db.models import Cohort
from bot.metrics import Metrics
from bot.sqlite_offload.discussion_writer import BatchWriter
from bot.web.server import HealthSources, WebServer, build_web_app


async def _health(url: str) -> tuple[int, str]:
    async with aiohttp.ClientSession() as http, http.get(url + "/healthz") as resp:
        return resp.status, await resp.text()


async def test_health_fails_while_the_file_is_gone_or_garbage_and_recovers(
    tmp_path: Path,
) -> None:
    path = tmp_path / "bot.db"
    db = Database(f"sqlite+aiosqlite:///{path}")
    await upgrade(db)
    async with db.session() as s:
        s.add(Cohort(code="C1", name="One", timezone="Europe/London"))
    server = WebServer(
        build_web_app(
            HealthSources(
                database=db,
                metrics=Metrics(),
                gateway_connected=lambda: True,
                scheduler_alive=lambda: True,
            )
        ),
        "127.0.0.1",
        0,
    )
    await server.start()
    try:
        assert (await _health(server.url))[0] == 200

        os.rename(path, tmp_path / "away.db")  # the open connection would still answer
        status, body = await _health(server.url)
        assert status == 503
        assert f"the database file {path} is missing" in body
        assert "\n" not in body

        os.rename(tmp_path / "away.db", path)
        assert (await _health(server.url))[0] == 200
        async with db.session() as s:
            assert await s.scalar(select(func.count()).select_from(Cohort)) == 1

        async with db.engine.connect() as conn:  # pages into the file, so garbage is read
            await conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
        os.rename(path, tmp_path / "good.db")
        path.write_bytes(b"this is not a database " * 400)
        status, body = await _health(server.url)
        assert status == 503
        assert "file is not a database" in body

        os.replace(tmp_path / "good.db", path)
        assert (await _health(server.url))[0] == 200
    finally:
        await server.stop()
        await db.dispose()


def _add_cohort(code: str, session: Session) -> None:
    session.add(Cohort(code=code, name=code, timezone="Europe/London"))


def _cohorts_in(path: Path) -> int:
    """Counted by a fresh connection: what is in the file at ``path`` now."""
    with closing(sqlite3.connect(path)) as conn:
        return int(conn.execute("SELECT count(*) FROM cohorts").fetchone()[0])


async def test_the_writer_waits_for_a_moved_file_and_follows_a_restored_one(
    tmp_path: Path,
) -> None:
    path = tmp_path / "bot.db"
    url = f"sqlite+aiosqlite:///{path}"
    db = Database(url)
    await upgrade(db)
    await db.dispose()
    writer = BatchWriter(url, "thread")
    try:
        await writer.run(functools.partial(_add_cohort, "C1"))

        os.rename(path, tmp_path / "away.db")
        with pytest.raises(DatabaseFileMissing):
            await writer.run(functools.partial(_add_cohort, "C2"))
        assert not path.exists()  # no empty database was created in its place

        os.rename(tmp_path / "away.db", path)
        await writer.run(functools.partial(_add_cohort, "C2"))
        assert _cohorts_in(path) == 2

        # restored from a copy (another file at the same path): writes go to it, not to the
        # file that was there before
        with closing(sqlite3.connect(path)) as conn:
            conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        shutil.copy(path, tmp_path / "backup.db")
        os.replace(tmp_path / "backup.db", path)
        await writer.run(functools.partial(_add_cohort, "C3"))
        assert _cohorts_in(path) == 3
    finally:
        await writer.close()
