"""``/deadline``: assessment items, extensions (granted or requested) and feedback release."""

from __future__ import annotations

import discord
from discord import app_commands
from discord.ext import commands

from bot.calendar import service
from bot.discord_app import CohortBot
from bot.discord_chat import chat_user
from cogs._shared.context import as_caller, in_context
from cogs._shared.declare import slash
from cogs._shared.delivery import told_sentence
from cogs._shared.metadata import extras
from cogs._shared.replies import send_long
from cogs.calendar.notices import (
    calendar_change,
    deliver_notices_now,
    wake_notices,
    with_delivery,
)

MODULE = "MATH70097"
SETUP_ITEM = "deadline"
SETUP_FEEDBACK = "feedback_item"
SETUP_REQUEST = "extension_request"


class Deadlines(commands.GroupCog, group_name="deadline", group_description="Assessment deadlines"):
    def __init__(self, bot: CohortBot) -> None:
        self.bot = bot
        super().__init__()

    @slash(
        None,
        "add",
        "Add a submission deadline, marking period end or feedback return date.",
        extras(
            "staff",
            {
                "module": MODULE,
                "kind": "submission_deadline",
                "title": "Coursework 1",
                "due": "2030-03-01 AoE",
            },
        ),
        module="Module code, e.g. MATH70097",
        kind="What kind of date this is",
        title="The assessment item, e.g. Coursework 1",
        due="When, e.g. 2026-03-02 12:00 (cohort time), 2026-03-02T12:00Z or 2026-03-02 AoE",
        offsets="Notice offsets before it (default 7d,48h,24h,1h)",
    )
    @app_commands.choices(
        kind=[
            app_commands.Choice(name="submission deadline", value="submission_deadline"),
            app_commands.Choice(name="marking period end", value="marking_period_end"),
            app_commands.Choice(name="feedback return", value="feedback_return"),
        ]
    )
    async def add(
        self,
        interaction: discord.Interaction,
        module: str,
        kind: str,
        title: str,
        due: str,
        offsets: str | None = None,
    ) -> None:
        result = await calendar_change(
            self.bot,
            interaction,
            service.add_deadline,
            module_code=module,
            kind=kind,
            title=title,
            due=due,
            offsets=offsets,
            now=self.bot.clock.now(),
        )
        await send_long(interaction, result.render())

    @slash(
        None,
        "extend",
        "Grant one student an extension (they are told privately).",
        extras(
            "staff",
            {"student": "amara.codes", "due": "2030-03-08 AoE", "reason": "MC-1"},
            setup=SETUP_ITEM,
        ),
        item="Deadline number",
        student="The student",
        due="Their new deadline",
        reason="Reason reference, e.g. the mitigating circumstances case number",
    )
    async def extend(
        self,
        interaction: discord.Interaction,
        item: int,
        student: discord.User,
        due: str,
        reason: str,
    ) -> None:
        await interaction.response.defer(ephemeral=True, thinking=True)
        result = await calendar_change(
            self.bot,
            interaction,
            service.grant_extension,
            event_id=item,
            student=chat_user(student),
            due=due,
            reason=reason,
            now=self.bot.clock.now(),
        )
        text = await with_delivery(self.bot, result.render(), result.notice_keys)
        await send_long(interaction, text)

    @slash(
        None,
        "request",
        "Ask the module's tutors for an extension.",
        extras(
            "student", {"due": "2030-03-08 AoE", "reason": "MC-2"}, module=MODULE, setup=SETUP_ITEM
        ),
        item="Deadline number (see /calendar upcoming)",
        due="The deadline you ask for",
        reason="Reason reference, e.g. your mitigating circumstances case number",
    )
    async def request(
        self, interaction: discord.Interaction, item: int, due: str, reason: str
    ) -> None:
        await interaction.response.defer(ephemeral=True, thinking=True)
        result = await as_caller(
            self.bot,
            interaction,
            service.request_extension,
            event_id=item,
            due=due,
            reason=reason,
            now=self.bot.clock.now(),
        )
        wake_notices(self.bot, result.next_due_at)
        await deliver_notices_now(self.bot)
        async with self.bot.db.session() as session:
            sent = await service.notices_delivery(session, result.notice_keys)
        await send_long(
            interaction,
            result.render()
            + "\n"
            + told_sentence(sent, "tutor", "tutors", "sent the request by DM"),
        )

    @slash(
        None,
        "requests",
        "Pending extension requests in a module.",
        extras("staff", {"module": MODULE}),
        module="Module code",
    )
    async def requests(self, interaction: discord.Interaction, module: str) -> None:
        result = await in_context(
            self.bot, interaction, service.pending_requests, module_code=module
        )
        await send_long(interaction, result.render())

    @slash(
        None,
        "decide",
        "Approve or deny an extension request.",
        extras("staff", {"decision": "approve"}, module=MODULE, setup=SETUP_REQUEST),
        request="Request number",
        decision="approve or deny",
    )
    @app_commands.choices(
        decision=[
            app_commands.Choice(name="approve", value="approve"),
            app_commands.Choice(name="deny", value="deny"),
        ]
    )
    async def decide(self, interaction: discord.Interaction, request: int, decision: str) -> None:
        await interaction.response.defer(ephemeral=True, thinking=True)
        result = await as_caller(
            self.bot,
            interaction,
            service.decide_extension,
            extension_id=request,
            approve=decision == "approve",
            now=self.bot.clock.now(),
        )
        wake_notices(self.bot, result.next_due_at)
        text = await with_delivery(self.bot, result.render(), result.notice_keys)
        await send_long(interaction, text)

    @slash(
        None,
        "feedback-released",
        "Tell the module's students that feedback on an item is out.",
        extras("staff", {}, module=MODULE, setup=SETUP_FEEDBACK),
        item="Feedback return item number",
    )
    async def feedback_released(self, interaction: discord.Interaction, item: int) -> None:
        result = await calendar_change(
            self.bot,
            interaction,
            service.feedback_released,
            event_id=item,
            now=self.bot.clock.now(),
        )
        await send_long(interaction, result.render())
