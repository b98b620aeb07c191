"""What the deadline and tutorial commands share on Slack (as ``cogs/calendar/notices.py``
does on Discord): wake the notice dispatcher for what a change scheduled, or send what is due
now and say whether the person concerned was told."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Sequence
from datetime import datetime
from typing import Any, Concatenate, ParamSpec, Protocol, TypeVar

from bot.access.permissions import Caller
from bot.calendar import service
from bot.db.models import Cohort
from slackapp.commands.common import told_all, told_one
from slackapp.commands.table import Call

log = logging.getLogger(__name__)


class Planned(Protocol):
    """A calendar service result that may have scheduled notices."""

    @property
    def next_due_at(self) -> datetime | None: ...


R = TypeVar("R", bound=Planned)
P = ParamSpec("P")


async def calendar_change(
    call: Call,
    func: Callable[Concatenate[Any, Caller, Cohort, P], Awaitable[R]],
    /,
    *args: P.args,
    **kwargs: P.kwargs,
) -> R:
    """One calendar service call in the caller's context, then wake the dispatcher."""
    result = await call.in_context(func, *args, **kwargs)
    call.services.work.wake_calendar(result.next_due_at)
    return result


async def deliver_now(call: Call) -> None:
    """Send what is due now, so the answer can say who was actually told."""
    try:
        await call.services.work.run_calendar()
        await call.services.outbox.run()
    except Exception:
        log.exception("sending due notices failed; the scheduler retries")


async def with_delivery(call: Call, text: str, keys: Sequence[str]) -> str:
    """``text`` and whether the one person it concerns was told."""
    await deliver_now(call)
    async with call.services.db.session() as session:
        sent = await service.notices_delivery(session, keys)
    return f"{text} {told_one(sent)}"


async def told_tutors(call: Call, keys: Sequence[str]) -> str:
    await deliver_now(call)
    async with call.services.db.session() as session:
        sent = await service.notices_delivery(session, keys)
    return told_all(sent, "tutor", "tutors", "sent the request by DM")
