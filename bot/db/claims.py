"""Claims: the first process to record a key acts on it, every other one stands back.

Several ``cohortbot run`` processes may share one database (PostgreSQL). Discord sends every
gateway event, interactions included, to every session, so each process sees each slash
command, button press and form. Before acting, a process inserts the event's key into
``processed_events``; the primary key lets exactly one insert win, on both backends, with no
read-then-write race. Claims are only needed for a short while (Discord retries nothing after
15 minutes), so old ones are pruned.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Table, delete
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from bot.db.engine import Database
from bot.db.models import ProcessedEvent
from bot.db.ops import insert_ignore

#: How long a claim is kept: far beyond Discord's 15-minute interaction lifetime.
CLAIM_TTL = timedelta(days=1)


async def claim_once(session: AsyncSession, key: str, now: datetime) -> bool:
    """True for the one caller that records ``key`` first; False for everyone after it."""
    inserted = await insert_ignore(
        session, ProcessedEvent, [{"key": key, "processed_at": now}], conflict=["key"]
    )
    return inserted == 1


async def claim_many(session: AsyncSession, keys: Sequence[str], now: datetime) -> set[str]:
    """The keys of ``keys`` this caller recorded first (one statement for all of them)."""
    unique = list(dict.fromkeys(keys))
    if not unique:
        return set()
    table = ProcessedEvent.__table__
    assert isinstance(table, Table)
    dialect = session.bind.dialect.name if session.bind is not None else ""
    insert_: Any = postgresql.insert if dialect == "postgresql" else sqlite.insert
    stmt = insert_(table).on_conflict_do_nothing(index_elements=["key"]).returning(table.c.key)
    result = await session.execute(stmt, [{"key": k, "processed_at": now} for k in unique])
    return set(result.scalars())


class ClaimBatcher:
    """Claims that arrive together are written together, in one transaction.

    A thousand students pressing a command in the same second means a thousand claims; one
    transaction each is a thousand BEGIN/INSERT/COMMIT round trips on the event loop, and on
    PostgreSQL each round trip is a socket write that wakes the server and yields the CPU
    (measured: most of the bot's time with 1,000 ``/about`` at once, bench/bench_marks.py).
    The first claim is written at once; those arriving while a write is under way wait for
    it and go together in the next one (group commit), so a lone claim waits for nothing.
    Every caller still learns whether it won its own key; the primary key still decides.
    """

    def __init__(self, db: Database, *, max_keys: int = 500) -> None:
        self.db = db
        self.max_keys = max_keys
        self._queue: list[tuple[str, datetime, asyncio.Future[bool]]] = []
        self._writer: asyncio.Task[None] | None = None

    async def claim(self, key: str, now: datetime) -> bool:
        """True for the one caller (of any process) that records ``key`` first."""
        future: asyncio.Future[bool] = asyncio.get_running_loop().create_future()
        self._queue.append((key, now, future))
        if self._writer is None:
            self._writer = asyncio.get_running_loop().create_task(self._write())
        return await future

    async def _write(self) -> None:
        try:
            while self._queue:
                batch, self._queue = self._queue[: self.max_keys], self._queue[self.max_keys :]
                try:
                    async with self.db.session() as session:
                        won = await claim_many(session, [k for k, _, _ in batch], batch[-1][1])
                except Exception as exc:  # each caller decides what a failed claim means
                    for _, _, future in batch:
                        if not future.done():
                            future.set_exception(exc)
                    continue
                for key, _, future in batch:
                    if not future.done():
                        future.set_result(key in won)
                        won.discard(key)  # the same key twice in one batch wins once
        finally:
            self._writer = None


async def prune_claims(session: AsyncSession, prefix: str, now: datetime) -> int:
    """Forget claims under ``prefix`` older than ``CLAIM_TTL``; returns how many went."""
    result = await session.execute(
        delete(ProcessedEvent).where(
            ProcessedEvent.key.startswith(prefix, autoescape=True),
            ProcessedEvent.processed_at < now - CLAIM_TTL,
        )
    )
    return int(getattr(result, "rowcount", 0) or 0)
