"""``/marks`` for a crowd: the requests waiting are answered together.

At the end of term a thousand students ask for their marks within seconds. Answered one by
one, each request opens a transaction, resolves the caller from the roster and reads the
student's ledger rows: several round trips to the database each, a thousand times over (and
on PostgreSQL the loop waits at every one of them; on SQLite each was also a trip to the reader
process and back, docs/benchmarks.md). ``Crowd`` instead takes every request waiting when the
previous group is done, and ``answer_together`` answers a group in one transaction: one roster
query per server for all the callers (``access.context.known_callers``, the same rule as every
command's), the module snapshots (shared anyway: ``snapshot``), and one query per module for
all their credits, summed by the database (``my_marks.credits_of``). Each student's view is
then built from their own rows only, by ``my_marks.marks_from``.

Whatever that path does not answer (a first command that links the caller, a refusal, a
direct message) comes back as None, and the caller runs the whole command as before.
Where a group is answered (the bot's loop, or the reader process beside it on a SQLite file)
is ``bot.sqlite_offload.marks_reader``'s choice; the queueing and the answer are the same.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence
from contextlib import AbstractAsyncContextManager
from datetime import datetime
from typing import Generic, Protocol, TypeVar

from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from bot.access.context import known_callers
from bot.access.identity import ChatUser
from bot.access.permissions import Caller
from bot.gradebook import snapshot
from bot.gradebook.my_marks import CreditRow, SummaryView, credits_of, marks_from
from bot.gradebook.view import StudentView

log = logging.getLogger(__name__)

__all__ = ["Crowd", "MarksAsk", "answer_together"]

#: At most this many requests per group, and this many groups under way: the first answers go
#: out while later groups are read (one group of a thousand would make everyone wait for the
#: last), and one group's Python overlaps another's wait for the database.
GROUP_SIZE = 50
GROUPS_AT_ONCE = 2
#: Views built between two turns of the loop (a view is a fraction of a millisecond of Python):
#: a group's fifty in one stretch held every new interaction's answer or "thinking" back.
YIELD_EVERY = 10

View = StudentView | SummaryView
Q = TypeVar("Q")
A = TypeVar("A")
L = TypeVar("L")


class MarksAsk(Protocol):
    """Who asked, where, for which module (None: all theirs), and when."""

    @property
    def guild_id(self) -> str | None: ...
    @property
    def user(self) -> ChatUser: ...
    @property
    def module_code(self) -> str | None: ...
    @property
    def now(self) -> datetime: ...


class Crowd(Generic[Q, A, L]):
    """Requests waiting, answered a group at a time by ``answer`` (see the module docstring).

    Up to ``GROUPS_AT_ONCE`` lanes answer groups while requests wait; each lane opens
    ``lane()`` once and keeps it for its groups (a database connection: one connection's
    round trips, not one per group), and ``answer(group, lane)`` returns one answer per
    request, in order. If it raises, every request of the group gets that exception.
    """

    def __init__(
        self,
        answer: Callable[[list[Q], L], Awaitable[Sequence[A]]],
        lane: Callable[[], AbstractAsyncContextManager[L]],
    ) -> None:
        self._answer = answer
        self._lane = lane
        self._waiting: list[tuple[Q, asyncio.Future[A]]] = []
        self._servers: set[asyncio.Task[None]] = set()
        #: Groups answered, for tests and diagnostics.
        self.groups = 0

    async def ask(self, request: Q) -> A:
        """``request``'s answer, once its group is answered."""
        loop = asyncio.get_running_loop()
        answer: asyncio.Future[A] = loop.create_future()
        self._waiting.append((request, answer))
        if len(self._servers) < GROUPS_AT_ONCE:
            task = loop.create_task(self._serve(), name="marks-crowd")
            self._servers.add(task)
            task.add_done_callback(self._servers.discard)
        return await asyncio.shield(answer)

    async def _serve(self) -> None:
        try:
            async with self._lane() as lane:
                while self._waiting:
                    group, self._waiting = self._waiting[:GROUP_SIZE], self._waiting[GROUP_SIZE:]
                    await self._one(group, lane)
        except Exception as exc:  # the lane failed to open: whoever waits gets the error
            group, self._waiting = self._waiting, []
            for _, future in group:
                if not future.done():
                    future.set_exception(exc)

    async def _one(self, group: list[tuple[Q, asyncio.Future[A]]], lane: L) -> None:
        self.groups += 1
        try:
            answers = await self._answer([request for request, _ in group], lane)
        except Exception as exc:  # each request's caller decides
            for _, future in group:
                if not future.done():
                    future.set_exception(exc)
            return
        for (_, future), answer in zip(group, answers, strict=True):
            if not future.done():
                future.set_result(answer)


async def answer_together(
    connection: AsyncConnection, group: Sequence[MarksAsk]
) -> list[View | None]:
    """Each request's view, read on ``connection`` (``Database.reading``: the group's
    statements need no transaction round trips), None where the whole command must run
    instead (a failure of the group is logged, and every request of it runs the whole
    command)."""
    try:
        return await _answer(connection, group)
    except Exception:
        log.exception("answering %d /marks together failed; one by one instead", len(group))
        return [None] * len(group)


async def _answer(connection: AsyncConnection, group: Sequence[MarksAsk]) -> list[View | None]:
    # One moment for the group (its latest request's): the module's layout at that moment
    # is then built once for the group rather than once per student, and no answer is
    # older than the request it answers.
    now = max(ask.now for ask in group)
    async with AsyncSession(bind=connection) as session:
        callers: dict[int, Caller] = {}
        by_guild: dict[str, list[int]] = {}
        for i, ask in enumerate(group):
            if ask.guild_id is not None:  # a direct message: the whole command refuses it
                by_guild.setdefault(ask.guild_id, []).append(i)
        for guild_id, indexes in by_guild.items():
            found = await known_callers(
                session, guild_id, [group[i].user.platform_user_id for i in indexes]
            )
            for i in indexes:
                known = found.get(group[i].user.platform_user_id)
                if known is not None:
                    callers[i] = known[1]
        # The snapshots each view needs (loaded once per module, shared), and whose rows.
        # The group keeps what it took: a long group must not find its snapshots expired.
        persons: dict[int, set[int]] = {}
        cohorts: dict[int, dict[str, snapshot.ModuleInfo]] = {}
        snaps: dict[int, snapshot.ModuleSnapshot] = {}
        for i, caller in callers.items():
            ask = group[i]
            modules, zone = await snapshot.cohort_modules(session, caller.cohort_id)
            cohorts[caller.cohort_id] = modules
            if ask.module_code is None:
                wanted = [m for m in modules.values() if caller.is_student_in(m.id)]
            else:
                found_module = modules.get(ask.module_code.strip().upper())
                wanted = (
                    [found_module]
                    if found_module is not None and caller.is_student_in(found_module.id)
                    else []
                )
            for module in wanted:
                if module.id not in snaps:
                    snaps[module.id] = await snapshot.module_snapshot(session, module, zone, now)
                persons.setdefault(module.id, set()).add(caller.person.id)
        rows = {
            module_id: await credits_of(session, module_id, ids)
            for module_id, ids in persons.items()
        }

    def read(module_id: int, person_id: int) -> Sequence[CreditRow]:
        return rows.get(module_id, {}).get(person_id, ())

    views: list[View | None] = [None] * len(group)
    for built, (i, caller) in enumerate(callers.items(), 1):
        views[i] = marks_from(
            caller, group[i].module_code, now, cohorts[caller.cohort_id], snaps.get, read
        )
        if built % YIELD_EVERY == 0:
            await asyncio.sleep(0)  # let the loop read and acknowledge new interactions
    return views
