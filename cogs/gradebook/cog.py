"""The gradebook on Discord: /marks for students, /gradebook for tutors, /privacy for everyone.

Thin adapter: open the roster-checked context, call one service function in
``bot.gradebook``, render its result privately (files as attachments). ``/marks`` and the
exports hand the same work to ``bot.gradebook.reader``'s worker processes instead.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Literal

import discord
from discord import app_commands
from discord.ext import commands

from bot.discord_app import CohortBot
from bot.discord_chat import chat_user
from bot.gradebook import privacy, service
from bot.gradebook.export import ExportFile, to_csv
from bot.gradebook.pacing import AnswerPacer
from bot.gradebook.reader import Exporter, ExportRequest, MarksReader
from bot.text import split_for_discord
from cogs._shared.base import FeatureCog
from cogs._shared.context import guild_key
from cogs._shared.declare import command
from cogs._shared.replies import defer_private, send_long
from cogs.gradebook.replies import send_embeds, send_export

log = logging.getLogger(__name__)

Component = Literal["discussion", "peer_review", "peer_score", "attendance"]
Format = Literal["csv", "xlsx"]


class Gradebook(FeatureCog, commands.Cog):
    """Participation marks, exports, the audit trail and personal data."""

    gradebook = app_commands.Group(
        name="gradebook", description="Participation marks of a module (tutors and admins)"
    )
    privacy_group = app_commands.Group(
        name="privacy", description="Your personal data held by cohortbot"
    )

    def __init__(self, bot: CohortBot) -> None:
        super().__init__(bot)
        self.reader = MarksReader(bot.db, bot.settings.gradebook_workers)
        self.exporter = Exporter(bot.db, bot.settings.gradebook_workers)
        #: When /marks says "thinking" first (``bot.gradebook.pacing``).
        self.pacer = AnswerPacer()

    async def cog_load(self) -> None:
        self.reader.warm()

    async def cog_unload(self) -> None:
        await self.reader.close()
        await self.exporter.close()

    def _waited(self, interaction: discord.Interaction) -> float:
        """Seconds since the click (``created_at``, the snowflake's time, which the bot's clock
        follows: Discord's and the host's in production, the local server's and the demo's in
        the sandbox); 0 for a host clock behind it."""
        return max(0.0, (self.now() - interaction.created_at).total_seconds())

    async def _export(
        self, interaction: discord.Interaction, module: str | None, fmt: str, *notes: str
    ) -> None:
        """A module's gradebook (or the programme's, ``module`` None) from the exporter's
        worker, as a file; the answer is the file's summary and ``notes``."""
        await defer_private(interaction)
        request = ExportRequest(
            guild_key(interaction), chat_user(interaction.user), module, fmt, self.now()
        )
        file = await self.exporter.export(request)
        await send_export(interaction, " ".join([f"{file.summary}.", *notes]), file)

    # ------------------------------------------------------------------ students

    @command("marks")
    async def marks(self, interaction: discord.Interaction, module: str | None = None) -> None:
        with self.pacer.request(self._waited(interaction)) as ticket:
            answer = asyncio.ensure_future(
                self.reader.student_marks(
                    guild_key(interaction),
                    chat_user(interaction.user),
                    module,
                    now=self.now(),
                )
            )
            answer.add_done_callback(lambda _: ticket.ready())
            try:
                view = await asyncio.wait_for(asyncio.shield(answer), ticket.defer_in)
            except TimeoutError:  # behind a crowd: say "thinking" before Discord gives up
                await defer_private(interaction)
                ticket.acknowledged()
                view = await answer
                await self.pacer.acknowledgements_first()
            await send_embeds(interaction, view)

    # ------------------------------------------------------------------ tutors

    @command("gradebook export", gradebook)
    async def export(
        self, interaction: discord.Interaction, module: str, format: Format = "csv"
    ) -> None:
        await self._export(interaction, module, format, "Columns: see docs/gradebook.md.")

    @command("gradebook programme", gradebook)
    async def programme(self, interaction: discord.Interaction, format: Format = "csv") -> None:
        await self._export(interaction, None, format)

    @command("gradebook weights", gradebook)
    async def weights(
        self,
        interaction: discord.Interaction,
        module: str,
        discussion: float | None = None,
        peer_review: float | None = None,
        peer_score: float | None = None,
        attendance: float | None = None,
        participation_share: float | None = None,
        reason: str | None = None,
    ) -> None:
        changes = {
            "discussion": discussion,
            "peer_review": peer_review,
            "peer_score": peer_score,
            "attendance": attendance,
        }
        await self.answer(
            interaction,
            service.set_weights,
            module,
            changes,
            participation_share=participation_share,
            reason=reason,
            cohort=False,
        )

    @command("gradebook release", gradebook)
    async def release(self, interaction: discord.Interaction, module: str) -> None:
        # The class is told by the outbox.
        await self.answer(interaction, service.release_participation, module, cohort=False)

    @command("gradebook adjust", gradebook)
    async def adjust(
        self,
        interaction: discord.Interaction,
        module: str,
        student: discord.User,
        component: Component,
        points: float,
        reason: str,
    ) -> None:
        await self.answer(
            interaction,
            service.adjust,
            module,
            chat_user(student),
            component,
            points,
            reason,
            request_id=str(interaction.id),
            cohort=False,
        )

    @command("gradebook audit", gradebook)
    async def audit(
        self,
        interaction: discord.Interaction,
        module: str,
        student: discord.User | None = None,
        item: str | None = None,
    ) -> None:
        trail = await self.call(
            interaction,
            service.audit_trail,
            module,
            student=chat_user(student) if student is not None else None,
            item=item,
            cohort=False,
        )
        body = "\n".join(line.text for line in trail.lines) or "No grade changes recorded."
        text = f"**{trail.header}**\n{body}"
        if len(text) <= 1900:
            await send_long(interaction, text)
            return
        data = to_csv(trail.csv_rows())
        name = f"audit-{trail.module_code}.csv"
        shown = split_for_discord(text, 1800)[0]
        await send_export(
            interaction,
            f"{shown}\n… the whole trail is in the attached {name}.",
            ExportFile(name, data, len(trail.lines), 8, trail.header),
        )

    @command("gradebook components-import", gradebook)
    async def components_import(
        self, interaction: discord.Interaction, module: str, file: discord.Attachment
    ) -> None:
        await defer_private(interaction)

        async def download() -> bytes | None:
            return await file.read() if file.size <= service.MAX_IMPORT_BYTES else None

        await self.answer(interaction, service.import_components, module, download, cohort=False)

    # ------------------------------------------------------------------ privacy

    @command("privacy export", privacy_group)
    async def privacy_export(self, interaction: discord.Interaction) -> None:
        await defer_private(interaction)
        file = await self.call(interaction, privacy.export_personal_data, cohort=False)
        await send_export(interaction, file.summary, file)

    @command("privacy erase", privacy_group)
    async def privacy_erase(self, interaction: discord.Interaction) -> None:
        await self.answer(interaction, privacy.request_erasure, cohort=False)

    @command("privacy erase-confirm", privacy_group)
    async def privacy_erase_confirm(
        self, interaction: discord.Interaction, person: str, reason: str | None = None
    ) -> None:
        await self.answer(interaction, privacy.confirm_erasure, person, reason, cohort=False)
