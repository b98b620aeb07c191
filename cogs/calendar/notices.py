"""What the other cogs ask of the calendar's notice dispatcher: wake it for something just
scheduled, or send what is due now and say whether the person concerned was told."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Sequence
from datetime import datetime
from typing import Any, Concatenate, ParamSpec, Protocol, TypeVar, runtime_checkable

import discord
from discord.ext import commands

from bot.access.permissions import Caller
from bot.calendar import service
from bot.db.models import Cohort
from bot.discord_app import CohortBot
from cogs._shared.context import in_context
from cogs._shared.delivery import told_them

log = logging.getLogger(__name__)

__all__ = ["calendar_change", "deliver_notices_now", "wake_notices", "with_delivery"]


@runtime_checkable
class NoticeDispatcher(Protocol):
    """The calendar cog, as seen from outside (``CalendarCog``)."""

    def wake(self, at: datetime | None) -> None: ...

    async def run_due(self) -> None: ...


def _dispatcher(bot: commands.Bot) -> NoticeDispatcher | None:
    cog = bot.get_cog("CalendarCog")
    return cog if isinstance(cog, NoticeDispatcher) else None


def wake_notices(bot: commands.Bot, at: datetime | None) -> None:
    """Ask the dispatcher to run when something just scheduled becomes due."""
    dispatcher = _dispatcher(bot)
    if dispatcher is not None:
        dispatcher.wake(at)


async def deliver_notices_now(bot: commands.Bot) -> None:
    """Send what is due now before replying, so a reply can say who was actually told."""
    dispatcher = _dispatcher(bot)
    if dispatcher is not None:
        try:
            await dispatcher.run_due()
        except Exception:
            log.exception("sending due notices failed; the scheduler retries")


async def with_delivery(bot: commands.Bot, text: str, keys: Sequence[str]) -> str:
    """``text`` and whether the one person it concerns was told (sent now, then read back)."""
    await deliver_notices_now(bot)
    assert isinstance(bot, CohortBot)
    async with bot.db.session() as session:
        sent = await service.notices_delivery(session, keys)
    return f"{text} {told_them(sent)}"


class Planned(Protocol):
    """A calendar service result that may have scheduled notices."""

    @property
    def next_due_at(self) -> datetime | None: ...


R = TypeVar("R", bound=Planned)
P = ParamSpec("P")


async def calendar_change(
    bot: CohortBot,
    interaction: discord.Interaction,
    func: Callable[Concatenate[Any, Caller, Cohort, P], Awaitable[R]],
    /,
    *args: P.args,
    **kwargs: P.kwargs,
) -> R:
    """One calendar service call in the command context (``in_context``), then wake the
    dispatcher for the notices it planned."""
    result = await in_context(bot, interaction, func, *args, **kwargs)
    wake_notices(bot, result.next_due_at)
    return result
