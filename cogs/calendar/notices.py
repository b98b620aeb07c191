"""What the other cogs ask of the calendar's notice dispatcher: wake it for something just
scheduled, or send what is due now and say whether the person concerned was told."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import datetime
from typing import Any, Protocol, runtime_checkable

from discord.ext import commands

from bot.calendar import service
from bot.delivery import Delivery
from bot.discord_app import CohortBot
from cogs._shared.base import FeatureCog
from cogs._shared.delivery import to_them

log = logging.getLogger(__name__)

__all__ = ["NoticeCommands", "deliver_notices_now", "wake_notices", "with_delivery"]


@runtime_checkable
class NoticeDispatcher(Protocol):
    """The calendar cog, as seen from outside (``CalendarCog``)."""

    def wake_at(self, at: datetime | None) -> None: ...

    async def run_due(self) -> None: ...


def _dispatcher(bot: commands.Bot) -> NoticeDispatcher | None:
    cog = bot.get_cog("CalendarCog")
    return cog if isinstance(cog, NoticeDispatcher) else None


def wake_notices(bot: commands.Bot, at: datetime | None) -> None:
    """Ask the dispatcher to run when something just scheduled becomes due."""
    dispatcher = _dispatcher(bot)
    if dispatcher is not None:
        dispatcher.wake_at(at)


async def deliver_notices_now(bot: commands.Bot) -> None:
    """Send what is due now before replying, so a reply can say who was actually told."""
    dispatcher = _dispatcher(bot)
    if dispatcher is not None:
        try:
            await dispatcher.run_due()
        except Exception:
            log.exception("sending due notices failed; the scheduler retries")


async def notices_delivery(bot: commands.Bot, keys: Sequence[str]) -> Delivery:
    """Who the notices ``keys`` reached: what is due sent now, then read back."""
    await deliver_notices_now(bot)
    assert isinstance(bot, CohortBot)
    async with bot.db.session() as session:
        return await service.notices_delivery(session, keys)


async def with_delivery(bot: commands.Bot, text: str, keys: Sequence[str]) -> str:
    """``text`` and whether the one person it concerns was told (sent now, then read back)."""
    return text + to_them(await notices_delivery(bot, keys))


class NoticeCommands(FeatureCog):
    """A cog whose commands change the calendar: after each change, the dispatcher is woken
    for the notices it planned (a result's ``next_due_at``)."""

    def after(self, result: object) -> None:
        wake_notices(self.bot, getattr(result, "next_due_at", None))

    async def delivery(self, result: Any) -> Delivery:
        """Who the calendar notices a change planned reached (``notice_keys``)."""
        return await notices_delivery(self.bot, result.notice_keys)
