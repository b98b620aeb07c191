"""The notice engine's shared pieces: its settings, one run's report, a claimed notice, and
the transaction a cancellation cannot cut in half (see ``bot.calendar.engine``)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, TypeVar

from sqlalchemy.ext.asyncio import AsyncSession

from bot.calendar import messages as M
from bot.chat import ChatPort
from bot.db.engine import Database
from bot.db.models import NoticeAudience

_T = TypeVar("_T")


#: The engine verifies sends in the channel or the user's DMs (``ChatPort.dm_channel_id``).
NoticeChat = ChatPort


@dataclass(frozen=True)
class EngineConfig:
    """How the engine claims notices. How many are sent at once is the outbox's (``bot.outbox``
    sender's ``concurrency``), not the engine's: it only hands claimed notices over."""

    worker_id: str
    batch_size: int = 100
    lease: timedelta = timedelta(minutes=2)
    max_attempts: int = 6
    #: Upper bound on batches per run, so one run cannot hold the dispatcher forever.
    max_batches: int = 50


@dataclass
class DispatchReport:
    sent: int = 0
    late: int = 0
    skipped: int = 0
    failed: int = 0
    retrying: int = 0
    recovered: int = 0
    fallbacks: int = 0
    next_due_at: datetime | None = None
    outcomes: list[tuple[int, str]] = field(default_factory=list)


@dataclass(frozen=True)
class _Claimed:
    """A claimed notice with everything needed to deliver it, read in the claim transaction."""

    id: int
    kind: str
    audience: NoticeAudience
    payload: dict[str, Any]
    late: bool
    claimed_at: datetime
    attempts: int
    module_channel_id: str | None
    role_id: str | None
    target_channel_id: str | None
    user_id: str | None
    zone: str | None
    dm_reminders: bool
    occurrence_id: int | None
    card: M.CardFacts | None
    card_message_id: str | None
    verify: bool
    # The newest notice message in the target channel sent before this claim: history after
    # it is enough to find this notice if an earlier attempt did send it.
    search_after: dict[str, str | None] = field(default_factory=dict)

    @property
    def personal(self) -> bool:
        return self.audience is not NoticeAudience.CHANNEL


Clock = Callable[[], datetime]
Outcome = Callable[[str], None]


@dataclass(frozen=True)
class _Run:
    """What every step of one ``run_due`` needs: passed as one, so steps take (run, notice)."""

    db: Database
    chat: NoticeChat
    config: EngineConfig
    report: DispatchReport
    clock: Clock
    emit: Outcome


_inflight: set[asyncio.Future[Any]] = set()


async def _atomic(db: Database, work: Callable[[AsyncSession], Awaitable[_T]]) -> _T:
    """One transaction that a cancellation cannot cut in half.

    A dispatcher cancelled mid-transaction (shutdown, a crashed task) lets the transaction
    finish or roll back on its own, as the database would after a process died, instead of
    leaving a half-used connection holding a lock.
    """

    async def run() -> _T:
        async with db.session() as session:
            return await work(session)

    task = asyncio.ensure_future(run())
    _inflight.add(task)
    task.add_done_callback(_inflight.discard)
    return await asyncio.shield(task)
