"""Fresh, isolated databases for storage tests on SQLite and (when configured) PostgreSQL.

A schema migrated to head is built once per backend per session as a template; each test gets
a copy (a file copy for SQLite, ``CREATE DATABASE ... TEMPLATE`` for PostgreSQL), so tests are
isolated and fast.
"""

from __future__ import annotations

import asyncio
import itertools
import os
import shutil
import uuid
from pathlib import Path

import asyncpg
from sqlalchemy.engine import make_url

from bot.db.engine import Database
from bot.db.migrate import upgrade

POSTGRES_URL = os.environ.get("COHORTBOT_TEST_POSTGRES_URL", "").strip()
_counter = itertools.count()


def backends() -> list[str]:
    return ["sqlite", "postgres"] if POSTGRES_URL else ["sqlite"]


def _pg_dsn(database: str) -> str:
    url = make_url(POSTGRES_URL).set(drivername="postgresql", database=database)
    return url.render_as_string(hide_password=False)


def _pg_async_url(database: str) -> str:
    return make_url(POSTGRES_URL).set(database=database).render_as_string(hide_password=False)


async def _pg_admin(sql: str) -> None:
    base = make_url(POSTGRES_URL).database or "postgres"
    conn = await asyncpg.connect(_pg_dsn(base))
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


class Backends:
    """Owns the per-session templates and hands out fresh databases."""

    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir
        self.tag = f"{os.getpid()}_{uuid.uuid4().hex[:6]}"
        self._sqlite_template: Path | None = None
        self._pg_template: str | None = None
        self._lock = asyncio.Lock()

    async def _ensure_sqlite_template(self) -> Path:
        if self._sqlite_template is None:
            path = self.workdir / "template.db"
            db = Database(f"sqlite+aiosqlite:///{path}")
            await upgrade(db)
            await db.dispose()
            self._sqlite_template = path
        return self._sqlite_template

    async def _ensure_pg_template(self) -> str:
        if self._pg_template is None:
            name = f"cohortbot_tmpl_{self.tag}"
            await _pg_admin(f'DROP DATABASE IF EXISTS "{name}"')
            await _pg_admin(f'CREATE DATABASE "{name}"')
            db = Database(_pg_async_url(name))
            await upgrade(db)
            await db.dispose()
            self._pg_template = name
        return self._pg_template

    async def fresh_url(self, backend: str, *, migrated: bool = True) -> str:
        n = next(_counter)
        if backend == "sqlite":
            path = self.workdir / f"test_{n}.db"
            if migrated:
                async with self._lock:
                    template = await self._ensure_sqlite_template()
                shutil.copyfile(template, path)
            return f"sqlite+aiosqlite:///{path}"
        name = f"cohortbot_t_{self.tag}_{n}"
        if migrated:
            async with self._lock:
                pg_template = await self._ensure_pg_template()
            await _pg_admin(f'CREATE DATABASE "{name}" TEMPLATE "{pg_template}"')
        else:
            await _pg_admin(f'CREATE DATABASE "{name}"')
        return _pg_async_url(name)

    async def drop(self, url: str) -> None:
        parsed = make_url(url)
        if parsed.get_backend_name() == "postgresql":
            await _pg_admin(f'DROP DATABASE IF EXISTS "{parsed.database}" WITH (FORCE)')

    async def close(self) -> None:
        if self._pg_template is not None:
            await _pg_admin(f'DROP DATABASE IF EXISTS "{self._pg_template}" WITH (FORCE)')
