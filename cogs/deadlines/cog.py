"""``/deadline``: assessment items, extensions (granted or requested) and feedback release."""

from __future__ import annotations

import discord
from discord.ext import commands

from bot.calendar import service
from bot.delivery import Delivery
from cogs._shared.base import forward
from cogs._shared.declare import command
from cogs._shared.delivery import to_them, told_sentence
from cogs.calendar.notices import NoticeCommands

#: The option users see -> the calendar service's parameter.
ITEM = {"item": "event_id"}


def _to_tutors(delivery: Delivery) -> str:
    return "\n" + told_sentence(delivery, "tutor", "tutors", "sent the request by DM")


class Deadlines(
    NoticeCommands,
    commands.GroupCog,
    group_name="deadline",
    group_description="Assessment deadlines",
):
    @command("deadline add")
    @forward(service.add_deadline, rename={"module": "module_code"})
    async def add(
        self,
        interaction: discord.Interaction,
        module: str,
        kind: str,
        title: str,
        due: str,
        offsets: str | None = None,
    ) -> None: ...

    @command("deadline extend")
    @forward(service.grant_extension, rename=ITEM, defer=True, told=to_them)
    async def extend(
        self,
        interaction: discord.Interaction,
        item: int,
        student: discord.User,
        due: str,
        reason: str,
    ) -> None: ...

    @command("deadline request")
    @forward(service.request_extension, rename=ITEM, cohort=False, defer=True, told=_to_tutors)
    async def request(
        self, interaction: discord.Interaction, item: int, due: str, reason: str
    ) -> None: ...

    @command("deadline requests")
    @forward(service.pending_requests, rename={"module": "module_code"})
    async def requests(self, interaction: discord.Interaction, module: str) -> None: ...

    @command("deadline decide")
    async def decide(self, interaction: discord.Interaction, request: int, decision: str) -> None:
        await self.answer(
            interaction,
            service.decide_extension,
            extension_id=request,
            approve=decision == "approve",
            cohort=False,
            defer=True,
            told=to_them,
        )

    @command("deadline feedback-released")
    @forward(service.feedback_released, rename=ITEM)
    async def feedback_released(self, interaction: discord.Interaction, item: int) -> None: ...
