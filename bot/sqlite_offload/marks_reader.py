"""Where ``/marks`` and the gradebook exports run: processes beside the bot, or its event loop.

At the end of term a thousand students ask for their marks within seconds. Each answer is
mostly Python (the roster check, the student's book from their ledger rows, the text), and on
the bot's event loop that work queues every other command behind it. The reader process does
all of it on the other core with its own connections to the SQLite file; the loop only hands
over a small picklable request (``ViewRequest``) and sends the reply it gets back. An export of
a big module is seconds of Python (5,000 students × 60 items: about 1 s as CSV, 5 s as XLSX):
the exporter process builds the file, so nobody else's command waits for it, and a crowd's
``/marks`` does not wait behind it either.

The rules are the ones every command follows: the same roster query and refusals
(``bot.access.context``) and the same service functions; this module only chooses where they
run. In the reader, a caller the bot already knows, with the module's snapshot held, is
answered synchronously (two SELECTs, no event loop, no thread hops); anything else (a first
command that links the caller, a refusal, a snapshot to load) runs the whole command on the
reader's own loop. It sees what is committed, as the command's own transaction would, and
drops its snapshots whenever the bot forgets one (``snapshot.generation``). PostgreSQL and
in-memory SQLite run on the bot's loop, as does ``COHORTBOT_GRADEBOOK_WORKERS=loop``; there
the requests waiting are answered together (``bot.gradebook.crowd``).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal, TypeVar

from sqlalchemy import Engine
from sqlalchemy.orm import Session

from bot.access.context import KNOWN_CALLER, known_caller_from, known_caller_params, open_context
from bot.access.identity import ChatUser
from bot.db.engine import Database
from bot.gradebook import service, snapshot
from bot.gradebook.crowd import MarksCrowd
from bot.gradebook.export import ExportFile
from bot.gradebook.service import SummaryView
from bot.gradebook.view import StudentView
from bot.sqlite_offload.childproc import (
    BrokenProcessPool,
    Child,
    child_started,
    sqlite_file,
    sqlite_file_engine,
)
from bot.text import EMBED_LIMITS, split_for_discord

log = logging.getLogger(__name__)

__all__ = [
    "ExportRequest",
    "Exporter",
    "MarksReader",
    "RenderedView",
    "WorkerKind",
    "render",
]

WorkerKind = Literal["process", "loop"]
R = TypeVar("R")
T = TypeVar("T")


@dataclass(frozen=True)
class RenderedView:
    """The reply, ready to send: a title and the body cut into embed-sized parts."""

    title: str
    parts: tuple[str, ...]


@dataclass(frozen=True)
class ViewRequest:
    """Who asked, where, for what, in plain values (it crosses a process boundary)."""

    guild_id: str | None
    user: ChatUser
    module_code: str | None
    now: datetime
    generation: int


def render(view: StudentView | SummaryView) -> RenderedView:
    return RenderedView(view.title, tuple(split_for_discord(view.body, EMBED_LIMITS.description)))


@dataclass(frozen=True)
class ExportRequest:
    """A tutor's (module) or an admin's (``module_code=None``: the programme) export."""

    guild_id: str | None
    user: ChatUser
    module_code: str | None
    fmt: str
    now: datetime


async def _exported(db: Database, request: ExportRequest) -> ExportFile:
    async with open_context(db, request.guild_id, request.user) as ctx:
        if request.module_code is None:
            return await service.export_programme(ctx.session, ctx.caller, request.fmt, request.now)
        return await service.export_module(
            ctx.session, ctx.caller, request.module_code, request.fmt, request.now
        )


async def _checked_and_computed(db: Database, request: ViewRequest) -> RenderedView:
    """The whole command: the roster check (which may link a first-time caller), then the
    view. Refusals are raised as ``UserError`` with their sentence."""
    async with open_context(db, request.guild_id, request.user) as ctx:
        view = await service.student_marks(
            ctx.session, ctx.caller, request.module_code, request.now
        )
    return render(view)


# ---------------------------------------------------------------------------- the child

_child_loop: asyncio.AbstractEventLoop | None = None
_child_db: Database | None = None
_child_key = ""
_child_engine: Engine | None = None


def _child_init(url: str, bot_pid: int) -> None:
    global _child_loop, _child_db, _child_key, _child_engine
    child_started(bot_pid)
    _child_loop = asyncio.new_event_loop()
    _child_db = Database(url)
    _child_key = snapshot.db_key(_child_db.engine.url)
    # The common case runs synchronously on this engine: no event loop, no thread hops.
    _child_engine = sqlite_file_engine(url)


def _held(request: ViewRequest) -> RenderedView | None:
    """A caller the bot knows, on a server, with the module's snapshot held: the roster query
    and the student's rows, synchronously. None for everything else."""
    if request.guild_id is None:
        return None
    assert _child_engine is not None
    with Session(_child_engine) as session, session.begin():
        rows = session.execute(KNOWN_CALLER, known_caller_params(request.guild_id, request.user))
        known = known_caller_from(rows.all())
        if known is None:
            return None
        connection = session.connection().connection.driver_connection
        assert connection is not None

        def read(sql: str, params: tuple[Any, ...]) -> list[Any]:
            return connection.execute(sql, params).fetchall()  # type: ignore[no-any-return]

        view = service.held_student_marks(
            _child_key, known[1], request.module_code, request.now, read
        )
    return None if view is None else render(view)


def _child_view(request: ViewRequest) -> RenderedView:
    """Usually the fast path above; otherwise the whole command on the child's own loop."""
    assert _child_loop is not None and _child_db is not None, "the reader was not initialised"
    snapshot.catch_up(request.generation)
    return _held(request) or _child_loop.run_until_complete(
        _checked_and_computed(_child_db, request)
    )


def _child_export(request: ExportRequest) -> ExportFile:
    assert _child_loop is not None and _child_db is not None, "the exporter was not initialised"
    return _child_loop.run_until_complete(_exported(_child_db, request))


# ---------------------------------------------------------------------------- the bot's side


class _Worker:
    """A gradebook worker: its own child process where one applies, else the bot's loop."""

    name = "gradebook worker"

    def __init__(self, db: Database, kind: WorkerKind = "process") -> None:
        self.db = db
        self.child: Child | None = None
        if kind == "process" and sqlite_file(db.url):
            self.child = Child(self.name, _child_init, db.url)

    async def _run(
        self,
        in_child: Callable[[R], T],
        here: Callable[[Database, R], Awaitable[T]],
        request: R,
    ) -> T:
        """``in_child(request)`` in the child; here instead if there is none, or if it died
        meanwhile (the next call gets a new one): the user never sees it."""
        if self.child is not None:
            try:
                return await self.child.run(in_child, request)
            except BrokenProcessPool:
                pass
        return await here(self.db, request)

    async def close(self) -> None:
        if self.child is not None:
            await self.child.close()


class MarksReader(_Worker):
    """Answers ``/marks``: in the reader process where one applies, else on the event loop."""

    name = "marks reader"

    def __init__(self, db: Database, kind: WorkerKind = "process") -> None:
        super().__init__(db, kind)
        #: On the loop (PostgreSQL, in-memory SQLite, or a child that died), the requests
        #: waiting are answered together (``bot.gradebook.crowd``).
        self.crowd = MarksCrowd(db)

    async def _on_loop(self, db: Database, request: ViewRequest) -> RenderedView:
        view = await self.crowd.student_marks(
            request.guild_id, request.user, request.module_code, request.now
        )
        if view is not None:
            return render(view)
        return await _checked_and_computed(db, request)

    def warm(self) -> None:
        if self.child is not None:
            self.child.warm()

    async def student_marks(
        self, guild_id: str | None, user: ChatUser, module_code: str | None, now: datetime
    ) -> RenderedView:
        """The caller's view, after the same roster check as every command (``open_context``),
        refusals included."""
        request = ViewRequest(guild_id, user, module_code, now, snapshot.generation())
        return await self._run(_child_view, self._on_loop, request)


class Exporter(_Worker):
    """Builds export files: in the exporter process where one applies, else on the loop.

    Its own process, started at the first export (they are rare), so a big export never
    queues the students' ``/marks`` behind it.
    """

    name = "gradebook exporter"

    async def export(self, request: ExportRequest) -> ExportFile:
        """The file, after the caller's roster check (refusals raised as ``UserError``)."""
        return await self._run(_child_export, _exported, request)
