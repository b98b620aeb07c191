"""The calendar's buttons: RSVP, check-in and extension decisions.

Custom ids ``cb:calendar:<action>:<id>``, matched by a ``DynamicItem``, so they work on
messages posted before a restart.
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Self

import discord

from bot.calendar import service
from bot.db.models import RsvpResponse
from bot.discord_app import CohortBot
from cogs._shared.context import command_context
from cogs._shared.guards import PersistentButton
from cogs._shared.replies import reply_private
from cogs.calendar.notices import wake_notices, with_delivery

__all__ = ["CalendarButton"]

_RSVP = {
    "going": RsvpResponse.GOING,
    "maybe": RsvpResponse.MAYBE,
    "notgoing": RsvpResponse.NOT_GOING,
}


class CalendarButton(
    PersistentButton,
    template=r"cb:calendar:(?P<action>going|maybe|notgoing|checkin|approve|deny):(?P<id>\d+)",
):
    """RSVP, check-in and extension decisions, routed by custom id (survives restarts)."""

    def __init__(self, action: str, item_id: int) -> None:
        super().__init__(item_id, label=action, custom_id=f"cb:calendar:{action}:{item_id}")
        self.action = action

    @classmethod
    def from_match(cls, match: re.Match[str]) -> Self:
        return cls(match["action"], int(match["id"]))

    async def act(self, interaction: discord.Interaction) -> None:
        bot = interaction.client
        assert isinstance(bot, CohortBot)
        if self.action in ("approve", "deny"):
            # The reply waits for the student's notice to be sent, to say whether it was.
            await interaction.response.defer(ephemeral=True, thinking=True)
        text, due, keys = await self._act(bot, interaction)
        wake_notices(bot, due)
        if keys:
            text = await with_delivery(bot, text, keys)
        await reply_private(interaction, text)

    async def _act(
        self, bot: CohortBot, interaction: discord.Interaction
    ) -> tuple[str, datetime | None, tuple[str, ...]]:
        now = bot.clock.now()
        async with command_context(bot, interaction) as ctx:
            if self.action in _RSVP:
                answer = await service.rsvp(
                    ctx.session,
                    ctx.caller,
                    occurrence_id=self.item_id,
                    response=_RSVP[self.action],
                    now=now,
                )
                return answer.render(), answer.next_due_at, ()
            if self.action == "checkin":
                done = await service.check_in(
                    ctx.session,
                    ctx.caller,
                    occurrence_id=self.item_id,
                    now=now,
                    source_ref=f"interaction:{interaction.id}",
                )
                return done.render(), None, ()
            decided = await service.decide_extension(
                ctx.session,
                ctx.caller,
                extension_id=self.item_id,
                approve=self.action == "approve",
                now=now,
            )
            return decided.render(), decided.next_due_at, decided.notice_keys
