"""``/marks`` for a crowd on the event loop: the requests waiting are answered together.

At the end of term a thousand students ask for their marks within seconds. Answered one by
one, each request opens a transaction, resolves the caller from the roster and reads the
student's ledger rows: four round trips to the database server each, a thousand times over,
and on PostgreSQL the loop waits at every one of them (docs/benchmarks.md). The crowd instead
takes every request waiting when the previous group is done and answers them in one
transaction: one roster query per server for all the callers (``access.context.known_callers``,
the same rule as every command's), the module snapshots (shared anyway: ``snapshot``), and one
ledger query per module for all their rows. Each student's view is then built from their own
rows only, by ``my_marks.marks_from`` (the reader process's fast path, the same code).

Whatever that path does not answer (a first command that links the caller, a refusal, a
direct message) comes back as None, and the caller runs the whole command as before.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from bot.access.context import known_callers
from bot.access.identity import ChatUser
from bot.access.permissions import Caller
from bot.db.engine import Database
from bot.gradebook import snapshot
from bot.gradebook.loading import raw_rows
from bot.gradebook.my_marks import SummaryView, marks_from
from bot.gradebook.view import StudentView

log = logging.getLogger(__name__)

__all__ = ["MarksCrowd"]

#: Persons per ledger query (well inside every driver's limit on parameters).
PERSONS_PER_QUERY = 500
#: At most this many requests per group, and this many groups under way: the first answers go
#: out while later groups are read (one group of a thousand would make everyone wait for the
#: last), and one group's Python overlaps another's wait for the database.
GROUP_SIZE = 50
GROUPS_AT_ONCE = 2
#: Views built between two turns of the loop (a view is 1-2 ms of Python): a group's fifty in
#: one stretch held every new interaction's answer or "thinking" back by 50-100 ms.
YIELD_EVERY = 10

View = StudentView | SummaryView


@dataclass
class _Ask:
    guild_id: str | None
    user: ChatUser
    module_code: str | None
    now: datetime
    answer: asyncio.Future[View | None] = field(repr=False)


class MarksCrowd:
    """Answers concurrent ``/marks`` requests a group at a time (see the module docstring)."""

    def __init__(self, db: Database) -> None:
        self.db = db
        self._waiting: list[_Ask] = []
        self._servers: set[asyncio.Task[None]] = set()
        #: Requests answered by groups, and groups run (for tests and diagnostics).
        self.answered = 0
        self.groups = 0

    async def student_marks(
        self, guild_id: str | None, user: ChatUser, module_code: str | None, now: datetime
    ) -> View | None:
        """The caller's view, or None where the whole command must run instead."""
        if guild_id is None:
            return None
        loop = asyncio.get_running_loop()
        ask = _Ask(guild_id, user, module_code, now, loop.create_future())
        self._waiting.append(ask)
        if len(self._servers) < GROUPS_AT_ONCE:
            task = loop.create_task(self._serve(), name="marks-crowd")
            self._servers.add(task)
            task.add_done_callback(self._servers.discard)
        return await asyncio.shield(ask.answer)

    async def _serve(self) -> None:
        while self._waiting:
            group, self._waiting = self._waiting[:GROUP_SIZE], self._waiting[GROUP_SIZE:]
            try:
                views = await self._answer(group)
            except Exception:
                log.exception("answering %d /marks together failed; one by one instead", len(group))
                views = [None] * len(group)
            self.groups += 1
            for ask, view in zip(group, views, strict=True):
                if view is not None:
                    self.answered += 1
                if not ask.answer.done():
                    ask.answer.set_result(view)

    async def _answer(self, group: Sequence[_Ask]) -> list[View | None]:
        # One moment for the group (its latest request's): the module's layout at that moment
        # is then built once for the group rather than once per student, and no answer is
        # older than the request it answers.
        now = max(ask.now for ask in group)
        async with self.db.session() as session:
            callers: dict[int, Caller] = {}
            by_guild: dict[str, list[int]] = {}
            for i, ask in enumerate(group):
                assert ask.guild_id is not None
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
                    snaps[module.id] = await snapshot.module_snapshot(session, module, zone, now)
                    persons.setdefault(module.id, set()).add(caller.person.id)
            rows = await _ledger_rows(session, persons)

        def read(_sql: str, params: tuple[Any, ...]) -> list[Any]:
            return rows.get((params[0], params[1]), [])

        views: list[View | None] = [None] * len(group)
        for built, (i, caller) in enumerate(callers.items(), 1):
            ask = group[i]
            views[i] = marks_from(
                caller, ask.module_code, now, cohorts[caller.cohort_id], snaps.get, read
            )
            if built % YIELD_EVERY == 0:
                await asyncio.sleep(0)  # let the loop read and acknowledge new interactions
        return views


async def _ledger_rows(
    session: AsyncSession, persons: dict[int, set[int]]
) -> dict[tuple[int, int], list[Any]]:
    """Each (module, person)'s ledger rows in the order ``my_marks`` reads them (by id)."""
    rows: dict[tuple[int, int], list[Any]] = {}
    for module_id, ids in persons.items():
        ordered = sorted(ids)
        for start in range(0, len(ordered), PERSONS_PER_QUERY):
            chunk = ordered[start : start + PERSONS_PER_QUERY]
            sql = (
                "SELECT person_id, source, item_type, item_id, points, note FROM ledger_entries "
                f"WHERE module_id = ? AND person_id IN ({', '.join('?' for _ in chunk)}) "
                "ORDER BY id"
            )
            for person_id, *row in await raw_rows(session, sql, (module_id, *chunk)):
                rows.setdefault((module_id, person_id), []).append(row)
    for module_id, ids in persons.items():
        for person_id in ids:
            rows.setdefault((module_id, person_id), [])
    return rows
