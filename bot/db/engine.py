"""One engine and session factory for SQLite and PostgreSQL, built once at start-up."""

from __future__ import annotations

import errno
import os
import socket
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, event, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DisconnectionError
from sqlalchemy.ext.asyncio import (
    AsyncConnection,
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)

SQLITE_BUSY_TIMEOUT_MS = 10_000


def sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    """WAL so readers never block the writer, foreign keys on, and wait instead of failing."""
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()


class DatabaseFileMissing(Exception):
    """The SQLite file is not at its path (moved, deleted); nothing is written meanwhile."""


def sqlite_path(url: str) -> Path | None:
    """The file a SQLite URL names, or None (PostgreSQL, in-memory)."""
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite" or parsed.database in (None, "", ":memory:"):
        return None
    if parsed.database.startswith("file:"):
        return None  # URI filenames: left to SQLite
    return Path(parsed.database).resolve()


def _identity(path: Path) -> tuple[int, int] | None:
    try:
        st = os.stat(path)
    except FileNotFoundError:
        return None
    return st.st_dev, st.st_ino


def guard_sqlite_file(engine: Engine, path: Path) -> None:
    """Keep an engine on the file that is at ``path`` now, never on one that left it.

    An open SQLite connection follows its file when it is moved or deleted, so it would go on
    writing where nobody reads, and a new connection to a missing path creates an empty
    database (which a restored file then replaces). So: once the file has existed, a missing
    file is an error, not a new database; and a pooled connection whose file is no longer the
    one at the path is dropped when checked out, so the next one opens what is there now.
    """
    existed = [_identity(path) is not None]

    def before_connect(_dialect: Any, _record: Any, _cargs: Any, _cparams: Any) -> None:
        if existed[0] and _identity(path) is None:
            raise DatabaseFileMissing(f"the database file {path} is missing")

    def on_connect(_dbapi_connection: Any, record: Any) -> None:
        record.info["sqlite_file"] = _identity(path)
        existed[0] = existed[0] or record.info["sqlite_file"] is not None

    def on_checkout(_dbapi_connection: Any, record: Any, _proxy: Any) -> None:
        now = _identity(path)
        if now is None or now != record.info.get("sqlite_file"):
            raise DisconnectionError(f"the database file {path} is missing or was replaced")

    event.listen(engine, "do_connect", before_connect)
    event.listen(engine, "connect", on_connect)
    event.listen(engine, "checkout", on_checkout)


#: A pooled server connection idle at least this long is pinged before it is lent out.
PING_IDLE_SECONDS = 10.0


def ping_when_idle(engine: Engine) -> None:
    """Check a pooled server connection before lending it out, in as few round trips as it
    takes.

    A connection the server closed (a restart ends every backend, an idle timeout) is known
    to the driver as soon as the event loop has read the close: replaced at no cost. One idle
    at least ``PING_IDLE_SECONDS`` is pinged (one round trip), for what only a query shows (a
    network cut). SQLAlchemy's ``pool_pre_ping`` pinged on every checkout instead, and with
    asyncpg its ping is three round trips (BEGIN, a query, ROLLBACK): on a busy bot more round
    trips than most of the work they guard. A failed check raises ``DisconnectionError``: the
    pool replaces the connection before any work runs on it.
    """

    def lent_or_returned(_dbapi_connection: Any, record: Any, *_: Any) -> None:
        record.info["used_at"] = time.monotonic()

    def on_checkout(dbapi_connection: Any, record: Any, _proxy: Any) -> None:
        if dbapi_connection.driver_connection.is_closed():
            raise DisconnectionError("the database server closed the connection")
        if time.monotonic() - record.info.get("used_at", 0.0) >= PING_IDLE_SECONDS:
            try:
                dbapi_connection.run_async(lambda driver: driver.execute("SELECT 1"))
            except Exception as exc:
                raise DisconnectionError(f"the database connection is gone: {exc}") from exc
        record.info["used_at"] = time.monotonic()

    event.listen(engine, "connect", lent_or_returned)
    event.listen(engine, "checkin", lent_or_returned)
    event.listen(engine, "checkout", on_checkout)


def make_engine(url: str, *, echo: bool = False) -> AsyncEngine:
    """Create the async engine; SQLite gets its pragmas on every new connection, a server's
    pooled connections are checked after a while idle (``ping_when_idle``)."""
    parsed = make_url(url)
    kwargs: dict[str, Any] = {"echo": echo}
    if parsed.get_backend_name() == "sqlite":
        kwargs["connect_args"] = {"timeout": SQLITE_BUSY_TIMEOUT_MS / 1000}
    engine = create_async_engine(url, **kwargs)
    if parsed.get_backend_name() == "sqlite":
        event.listen(engine.sync_engine, "connect", sqlite_pragmas)
    else:
        ping_when_idle(engine.sync_engine)
    path = sqlite_path(url)
    if path is not None:
        guard_sqlite_file(engine.sync_engine, path)
    return engine


def sqlite_folder_problem(url: str) -> str | None:
    """Why a SQLite file cannot be created where the URL says (its folder is missing), or None.

    Checked before the engine opens it: the driver's own error comes from a worker thread.
    """
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite" or parsed.database in (None, "", ":memory:"):
        return None
    folder = Path(parsed.database).resolve().parent
    if folder.is_dir():
        return None
    return (
        f"cannot open the SQLite database {parsed.database}: the folder {folder} does not "
        "exist; create it or change COHORTBOT_DATABASE_URL"
    )


def connect_problem(exc: BaseException, url: str) -> str | None:
    """One line saying why the database could not be opened, or None if ``exc`` is not that.

    Covers what an operator meets: a SQLite file in a folder that does not exist or cannot be
    written, a PostgreSQL server that refuses or is not there, a wrong password or database.
    """
    from sqlalchemy.exc import DBAPIError

    cause: BaseException = exc.orig if isinstance(exc, DBAPIError) and exc.orig else exc
    unreachable = isinstance(exc, ConnectionError | socket.gaierror | TimeoutError) or (
        isinstance(exc, OSError) and exc.errno in (errno.EHOSTUNREACH, errno.ENETUNREACH)
    )
    if not (
        unreachable
        or isinstance(exc, DBAPIError)
        or type(cause).__module__.startswith(("asyncpg", "sqlite3"))
    ):
        return None
    folder = sqlite_folder_problem(url)
    if folder is not None:
        return folder
    shown = make_url(url).render_as_string(hide_password=True)
    reason = (str(cause).strip().splitlines() or [type(cause).__name__])[0]
    return f"cannot open the database {shown}: {reason} (check COHORTBOT_DATABASE_URL)"


class Database:
    """The engine plus its session factory, handed down to services; never a module global."""

    def __init__(self, url: str, *, echo: bool = False) -> None:
        self.url = url
        self.engine = make_engine(url, echo=echo)
        self.sessionmaker = async_sessionmaker(self.engine, expire_on_commit=False)

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    @asynccontextmanager
    async def session(self) -> AsyncIterator[AsyncSession]:
        """A session in a transaction: committed on success, rolled back on any error."""
        async with self.sessionmaker() as session, session.begin():
            yield session

    @asynccontextmanager
    async def reading(self) -> AsyncIterator[AsyncConnection]:
        """A connection on which each statement commits by itself: no BEGIN and COMMIT round
        trips. For reads that need no snapshot across their statements (PostgreSQL's default,
        READ COMMITTED, gives none inside a transaction either); open one ``AsyncSession`` per
        unit of work on it, so nothing loaded earlier is served again from its identity map."""
        async with self.engine.connect() as connection:
            yield await connection.execution_options(isolation_level="AUTOCOMMIT")

    async def ping(self) -> float:
        """Read a real table; returns seconds taken (for /healthz and /metrics).

        ``SELECT 1`` answers from an open connection even when the SQLite file was deleted
        or its pages are garbage; reading the schema version reads the file. Raises
        ``DatabaseFileMissing`` when a SQLite file is not at its path.
        """
        start = time.perf_counter()
        path = sqlite_path(self.url)
        if path is not None and _identity(path) is None:
            raise DatabaseFileMissing(f"the database file {path} is missing")
        if path is not None and not os.access(path, os.R_OK | os.W_OK):
            raise PermissionError(f"the database file {path} cannot be read and written")
        async with self.engine.connect() as conn:
            await conn.execute(text("SELECT version_num FROM alembic_version"))
        return time.perf_counter() - start

    async def dispose(self) -> None:
        await self.engine.dispose()
