"""The SQLite-only child processes (bot.sqlite_offload): a SQLite file gets them, PostgreSQL
and in-memory SQLite never do, and what a child commits is what the bot then reads."""

from __future__ import annotations

import functools

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from bot.db.engine import Database
from bot.db.models import Cohort
from bot.gradebook.reader import Exporter, MarksReader
from bot.sqlite_offload.childproc import sqlite_file
from bot.sqlite_offload.discussion_writer import BatchWriter


def _add_cohort(code: str, session: Session) -> int:
    session.add(Cohort(code=code, name=code, timezone="Europe/London"))
    session.flush()
    return int(session.execute(select(func.count()).select_from(Cohort)).scalar_one())


async def test_only_a_sqlite_file_gets_child_processes(db: Database, backend: str) -> None:
    on_file = backend == "sqlite"
    assert sqlite_file(db.url) is on_file
    assert BatchWriter.applies(db.url) is on_file
    for worker in (MarksReader(db, "process"), Exporter(db, "process")):
        assert (worker.child is not None) is on_file
        await worker.close()
    assert MarksReader(db, "loop").child is None  # COHORTBOT_GRADEBOOK_WORKERS=loop
    memory = Database("sqlite+aiosqlite:///:memory:")
    try:
        assert not BatchWriter.applies(memory.url)
        assert MarksReader(memory, "process").child is None
    finally:
        await memory.dispose()


async def test_what_the_writer_process_commits_the_bot_reads(db: Database, backend: str) -> None:
    if backend != "sqlite":
        return  # PostgreSQL writes on the event loop: nothing here applies
    writer = BatchWriter(db.url, "process")
    try:
        assert await writer.run(functools.partial(_add_cohort, "C1")) == 1
        assert await writer.run(functools.partial(_add_cohort, "C2")) == 2
    finally:
        await writer.close()
    async with db.session() as s:
        codes = set((await s.execute(select(Cohort.code))).scalars())
    assert codes == {"C1", "C2"}
