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
run. Requests are answered a group at a time (``bot.gradebook.crowd``): the bot hands the
reader a group of requests waiting, the reader answers them together (one roster query, one
credits query per module), and whatever that path does not answer (a first command that links
the caller, a refusal) runs as the whole command there, its refusal sent back to be raised. It
sees what is committed, as the command's own transaction would, and drops its snapshots
whenever the bot forgets one (``snapshot.generation``). PostgreSQL and in-memory SQLite answer
the same groups on the bot's loop, as does ``COHORTBOT_GRADEBOOK_WORKERS=loop``.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence
from contextlib import AbstractAsyncContextManager, nullcontext, suppress
from dataclasses import dataclass
from datetime import datetime
from typing import Literal, TypeVar

from sqlalchemy.ext.asyncio import AsyncConnection

from bot.access.context import open_context
from bot.access.identity import ChatUser
from bot.db.engine import Database
from bot.gradebook import service, snapshot
from bot.gradebook.crowd import Crowd, answer_together
from bot.gradebook.export import ExportFile
from bot.gradebook.service import SummaryView
from bot.gradebook.view import StudentView
from bot.sqlite_offload.childproc import (
    BrokenProcessPool,
    Child,
    child_started,
    sqlite_file,
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


#: Each request's reply (a refusal is the exception to raise), and how many were answered
#: together rather than by the whole command.
Replies = tuple[list["RenderedView | Exception"], int]


async def _answered(
    db: Database, group: Sequence[ViewRequest], connection: AsyncConnection | None = None
) -> Replies:
    """Each request's reply: answered together where it can be (``crowd.answer_together``,
    on ``connection`` or one opened for it), else by the whole command, whose refusal is the
    exception to raise for that request."""
    if connection is None:
        async with db.reading() as opened:
            views = await answer_together(opened, group)
    else:
        views = await answer_together(connection, group)
    replies: list[RenderedView | Exception] = []
    for request, view in zip(group, views, strict=True):
        if view is not None:
            replies.append(render(view))
            continue
        try:
            replies.append(await _checked_and_computed(db, request))
        except Exception as exc:  # raised for this request alone, by the bot
            replies.append(exc)
    return replies, sum(view is not None for view in views)


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


def _child_init(url: str, bot_pid: int) -> None:
    global _child_loop, _child_db
    child_started(bot_pid)
    _child_loop = asyncio.new_event_loop()
    _child_db = Database(url)


def _child_views(group: tuple[ViewRequest, ...]) -> Replies:
    """A group's replies (``_answered``), on the child's own loop, after dropping whatever
    snapshot the bot has forgotten since."""
    assert _child_loop is not None and _child_db is not None, "the reader was not initialised"
    snapshot.catch_up(max(request.generation for request in group))
    return _child_loop.run_until_complete(_answered(_child_db, group))


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
    """Answers ``/marks``: a group at a time (``bot.gradebook.crowd``), in the reader process
    where one applies, else on the event loop."""

    name = "marks reader"

    def __init__(self, db: Database, kind: WorkerKind = "process") -> None:
        super().__init__(db, kind)
        #: Requests waiting are answered a group at a time; on the loop, each lane of groups
        #: keeps one reading connection.
        self.crowd: Crowd[ViewRequest, RenderedView | Exception, AsyncConnection | None] = Crowd(
            self._group, self._lane
        )
        #: Requests answered together (not by the whole command), for tests and diagnostics.
        self.answered_together = 0

    def _lane(self) -> AbstractAsyncContextManager[AsyncConnection | None]:
        return nullcontext() if self.child is not None else self.db.reading()

    async def _group(
        self, group: list[ViewRequest], connection: AsyncConnection | None
    ) -> list[RenderedView | Exception]:
        replies: Replies | None = None
        if self.child is not None:
            # If the reader process died, the group is answered here; the next gets a new one.
            with suppress(BrokenProcessPool):
                replies = await self.child.run(_child_views, tuple(group))
        if replies is None:
            replies = await _answered(self.db, group, connection)
        self.answered_together += replies[1]
        return replies[0]

    def warm(self) -> None:
        if self.child is not None:
            self.child.warm()

    async def student_marks(
        self, guild_id: str | None, user: ChatUser, module_code: str | None, now: datetime
    ) -> RenderedView:
        """The caller's view, after the same roster check as every command (``open_context``),
        refusals included."""
        request = ViewRequest(guild_id, user, module_code, now, snapshot.generation())
        try:
            reply = await self.crowd.ask(request)
        except Exception:  # the crowd's machinery, not a refusal: the whole command instead
            log.exception("a /marks crowd failed; answering this request by itself")
            return await _checked_and_computed(self.db, request)
        if isinstance(reply, Exception):
            raise reply
        return reply


class Exporter(_Worker):
    """Builds export files: in the exporter process where one applies, else on the loop.

    Its own process, started at the first export (they are rare), so a big export never
    queues the students' ``/marks`` behind it.
    """

    name = "gradebook exporter"

    async def export(self, request: ExportRequest) -> ExportFile:
        """The file, after the caller's roster check (refusals raised as ``UserError``)."""
        return await self._run(_child_export, _exported, request)
