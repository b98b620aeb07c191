"""Shared helpers for the calendar end-to-end tests (this module holds no tests itself).

The calendar tests run on a fixed term clock (Monday 2 March 2026, 09:00 UTC: four weeks before
the UK clocks change) so that times typed in commands and the DST cases are deterministic.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import select

from bot.db.engine import Database
from bot.db.models import Notice
from cohortlab.localdiscord.models import Message
from cohortlab.localdiscord.scripting import Actor, message_text
from cohortlab.sandbox import Sandbox, World, _no_identify_wait
from tests.e2e.quiet import first_runs_done
from tests.storage_backends import Backends

START = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
MODULE = "MATH70097"


@asynccontextmanager
async def calendar_sandbox(
    storage: Backends,
    backend: str,
    *,
    start: datetime = START,
) -> AsyncIterator[Sandbox]:
    """A started sandbox on the fixed term clock, on ``backend`` (the tests' ``backend``
    fixture: each calendar test runs on every configured database)."""
    url = await storage.fresh_url(backend)
    db = Database(url)
    box = Sandbox(db, start=start)
    await box.start()
    try:
        await first_runs_done(box)
        yield box
    finally:
        await box.stop()
        await db.dispose()
        await storage.drop(url)
    assert box.server.internal_errors == [], box.server.internal_errors
    assert box.server.unknown_routes == [], box.server.unknown_routes


async def restart(box: Sandbox, *, stop: bool = True) -> None:
    """A fresh Application on the same database and server, as after a redeploy or crash."""
    from bot.discord_app import Application

    old = box.app
    if stop:
        await old.stop()
    box.app = Application(old.settings, clock=box.clock, db=box.db)
    box.app.bot.before_identify_hook = _no_identify_wait
    await box.app.start()
    await box.app.wait_until_ready()


def world_of(box: Sandbox) -> World:
    assert box.world is not None
    return box.world


def tutor(box: Sandbox, module: str = MODULE) -> Actor:
    return world_of(box).tutors(module)[0]


def students(box: Sandbox, module: str = MODULE) -> list[Actor]:
    return world_of(box).students(module)


def number(text: str, prefix: str = "#") -> int:
    match = re.search(re.escape(prefix) + r"(\d+)", text)
    assert match is not None, f"no {prefix}<number> in {text!r}"
    return int(match[1])


def button(message: Message, action: str) -> str:
    """The custom id of a calendar button on a message (``going``, ``checkin``, ...)."""
    for row in message.components:
        for comp in row.get("components") or []:
            cid = str(comp.get("custom_id") or "")
            if cid.startswith(f"cb:calendar:{action}:"):
                return cid
    raise AssertionError(f"no {action} button on {message_text(message)!r}")


def bot_texts(box: Sandbox, channel: Any, contains: str) -> list[str]:
    return [
        message_text(m)
        for m in box.server.script.bot_messages(channel)
        if contains.lower() in message_text(m).lower()
    ]


async def advance_through(box: Sandbox, until: datetime) -> None:
    """Move the clock from one due notice to the next (each runs on time), then to ``until``."""
    from sqlalchemy import func

    from bot.db.models import NoticeStatus

    while True:
        async with box.db.session() as s:
            nxt = (
                await s.execute(
                    select(func.min(Notice.due_at)).where(
                        Notice.status == NoticeStatus.PENDING, Notice.due_at <= until
                    )
                )
            ).scalar_one_or_none()
        if nxt is None:
            break
        await box.advance(max(nxt - box.clock.now(), timedelta(0)))
    await box.advance(max(until - box.clock.now(), timedelta(0)))


async def notices(box: Sandbox, **where: Any) -> list[Notice]:
    async with box.db.session() as s:
        stmt = select(Notice).order_by(Notice.id)
        for name, value in where.items():
            stmt = stmt.where(getattr(Notice, name) == value)
        return list((await s.execute(stmt)).scalars().all())


async def snapshot(box: Sandbox) -> dict[str, int]:
    """Row counts of the calendar tables: a refused command must leave them unchanged."""
    from sqlalchemy import func

    from bot.db.models import (
        Attendance,
        AuditEntry,
        CalendarEvent,
        EventOccurrence,
        Extension,
        LedgerEntry,
        Rsvp,
    )

    counts: dict[str, int] = {}
    async with box.db.session() as s:
        for model in (
            CalendarEvent,
            EventOccurrence,
            Notice,
            Rsvp,
            Attendance,
            Extension,
            LedgerEntry,
            AuditEntry,
        ):
            counts[model.__tablename__] = (
                await s.execute(select(func.count()).select_from(model))
            ).scalar_one()
    return counts
