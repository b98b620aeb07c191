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
from bot.gradebook.reader import Exporter, ExportRequest, MarksReader
from bot.text import split_for_discord
from cogs._shared.context import as_caller, guild_key
from cogs._shared.declare import slash
from cogs._shared.metadata import extras
from cogs._shared.replies import defer_private, send_long
from cogs.gradebook.replies import send_embeds, send_export

log = logging.getLogger(__name__)

Component = Literal["discussion", "peer_review", "peer_score", "attendance"]
Format = Literal["csv", "xlsx"]


#: Discord forgets an interaction not acknowledged within 3 seconds of its creation ("The
#: application did not respond"); a /marks answer not ready this long after the student's click
#: says "thinking" first, and is sent when ready.
DEFER_AFTER = 2.5


class Gradebook(commands.Cog):
    """Participation marks, exports, the audit trail and personal data."""

    gradebook = app_commands.Group(
        name="gradebook", description="Participation marks of a module (tutors and admins)"
    )
    privacy_group = app_commands.Group(
        name="privacy", description="Your personal data held by cohortbot"
    )

    def __init__(self, bot: CohortBot) -> None:
        self.bot = bot
        self.reader = MarksReader(bot.db, bot.settings.gradebook_workers)
        self.exporter = Exporter(bot.db, bot.settings.gradebook_workers)
        self.defer_after = DEFER_AFTER

    async def cog_load(self) -> None:
        self.reader.warm()

    async def cog_unload(self) -> None:
        await self.reader.close()
        await self.exporter.close()

    def _defer_in(self, interaction: discord.Interaction) -> float:
        """Seconds to wait for the answer before saying "thinking": until ``defer_after``
        after the click (``created_at``, the snowflake's time, which the bot's clock follows:
        Discord's and the host's in production, the local server's and the demo's in the
        sandbox), and never longer than ``defer_after`` from now (a host clock behind).

        Deferring earlier was measured and is worse: in a crowd the deferrals are a thousand
        more requests queued behind the answers, and more of both arrive late
        (docs/benchmarks.md).
        """
        waited = max(0.0, (self.bot.clock.now() - interaction.created_at).total_seconds())
        return max(0.0, self.defer_after - waited)

    def _export_request(
        self, interaction: discord.Interaction, module: str | None, fmt: str
    ) -> ExportRequest:
        return ExportRequest(
            guild_key(interaction), chat_user(interaction.user), module, fmt, self.bot.clock.now()
        )

    # ------------------------------------------------------------------ students

    @slash(
        None,
        "marks",
        "Your participation marks: what counted and why (only you see it).",
        extras("student", {"module": "MATH70097"}),
        module="Module code, e.g. MATH70097 (leave out for a summary)",
    )
    async def marks(self, interaction: discord.Interaction, module: str | None = None) -> None:
        answer = asyncio.ensure_future(
            self.reader.student_marks(
                guild_key(interaction),
                chat_user(interaction.user),
                module,
                now=self.bot.clock.now(),
            )
        )
        try:
            view = await asyncio.wait_for(asyncio.shield(answer), self._defer_in(interaction))
        except TimeoutError:  # a crowd at the end of term: say "thinking" before Discord gives up
            await defer_private(interaction)
            view = await answer
        await send_embeds(interaction, view)

    # ------------------------------------------------------------------ tutors

    @slash(
        gradebook,
        "export",
        "The module's gradebook as a file (one row per student, one column per item).",
        extras("staff", {"module": "MATH70097", "format": "csv"}),
        module="Module code",
        format="csv (default) or xlsx",
    )
    async def export(
        self, interaction: discord.Interaction, module: str, format: Format = "csv"
    ) -> None:
        await defer_private(interaction)
        file = await self.exporter.export(self._export_request(interaction, module, format))
        await send_export(interaction, f"{file.summary}. Columns: see docs/gradebook.md.", file)

    @slash(
        gradebook,
        "programme",
        "Every student of the cohort: marks per module and a provisional classification (admins).",
        extras("admin", {"format": "csv"}),
        format="csv (default) or xlsx",
    )
    async def programme(self, interaction: discord.Interaction, format: Format = "csv") -> None:
        await defer_private(interaction)
        file = await self.exporter.export(self._export_request(interaction, None, format))
        await send_export(interaction, f"{file.summary}.", file)

    @slash(
        gradebook,
        "weights",
        "Show or set the weights of the participation components of a module.",
        extras(
            "staff",
            {"module": "MATH70097", "discussion": 50, "reason": "more weight on discussion"},
        ),
        module="Module code",
        discussion="Weight of discussion prompts",
        peer_review="Weight of peer reviews completed",
        peer_score="Weight of the peer assessment score received",
        attendance="Weight of tutorial attendance",
        participation_share="Weight of participation in the module mark preview (0: left out)",
        reason="Why (kept in the audit trail)",
    )
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
        result = await as_caller(
            self.bot,
            interaction,
            service.set_weights,
            module,
            changes,
            participation_share=participation_share,
            reason=reason,
            now=self.bot.clock.now(),
        )
        await send_long(interaction, result.text)

    @slash(
        gradebook,
        "release",
        "Release the module's participation marks to its students.",
        extras("staff", {"module": "MATH70097"}),
        module="Module code",
    )
    async def release(self, interaction: discord.Interaction, module: str) -> None:
        result = await as_caller(
            self.bot, interaction, service.release_participation, module, now=self.bot.clock.now()
        )
        await send_long(interaction, result.text)  # the class is told by the outbox

    @slash(
        gradebook,
        "adjust",
        "Correct a student's participation points (a new ledger row, audited).",
        extras(
            "staff",
            {
                "module": "MATH70097",
                "student": "amara.codes",
                "component": "discussion",
                "points": 1,
                "reason": "reply posted in the wrong thread",
            },
        ),
        module="Module code",
        student="The student",
        component="Which participation component",
        points="Points to add (negative to remove)",
        reason="Why (shown to the student and kept in the audit trail)",
    )
    async def adjust(
        self,
        interaction: discord.Interaction,
        module: str,
        student: discord.User,
        component: Component,
        points: float,
        reason: str,
    ) -> None:
        result = await as_caller(
            self.bot,
            interaction,
            service.adjust,
            module,
            chat_user(student),
            component,
            points,
            reason,
            now=self.bot.clock.now(),
            request_id=str(interaction.id),
        )
        await send_long(interaction, result.text)

    @slash(
        gradebook,
        "audit",
        "The trail of grade changes of a module: for a student, an item, or all.",
        extras("staff", {"module": "MATH70097", "student": "amara.codes"}),
        module="Module code",
        student="Only this student's entries",
        item="Only this item: D3 (prompt), X2 (exercise), T5 (tutorial), weights, "
        "participation, components, adjustments",
    )
    async def audit(
        self,
        interaction: discord.Interaction,
        module: str,
        student: discord.User | None = None,
        item: str | None = None,
    ) -> None:
        trail = await as_caller(
            self.bot,
            interaction,
            service.audit_trail,
            module,
            student=chat_user(student) if student is not None else None,
            item=item,
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

    @slash(
        gradebook,
        "components-import",
        "Import other component marks (CSV: student, component, weight, mark).",
        extras("staff", {"module": "MATH70097"}, setup="components_file"),
        module="Module code",
        file="CSV with student, component, weight, mark",
    )
    async def components_import(
        self, interaction: discord.Interaction, module: str, file: discord.Attachment
    ) -> None:
        await defer_private(interaction)

        async def download() -> bytes | None:
            return await file.read() if file.size <= service.MAX_IMPORT_BYTES else None

        result = await as_caller(
            self.bot,
            interaction,
            service.import_components,
            module,
            download,
            now=self.bot.clock.now(),
        )
        await send_long(interaction, result.text)

    # ------------------------------------------------------------------ privacy

    @slash(
        privacy_group,
        "export",
        "Everything cohortbot holds about you, as a JSON file (only you see it).",
        extras("member", {}),
    )
    async def privacy_export(self, interaction: discord.Interaction) -> None:
        await defer_private(interaction)
        file = await as_caller(
            self.bot, interaction, privacy.export_personal_data, now=self.bot.clock.now()
        )
        await send_export(interaction, file.summary, file)

    @slash(
        privacy_group,
        "erase",
        "Ask for your personal data to be erased (marks records are kept).",
        extras("member", {}),
    )
    async def privacy_erase(self, interaction: discord.Interaction) -> None:
        result = await as_caller(
            self.bot, interaction, privacy.request_erasure, now=self.bot.clock.now()
        )
        await send_long(interaction, result.text)

    @slash(
        privacy_group,
        "erase-confirm",
        "Carry out an erasure: pseudonymise a person, keep the marks (admins).",
        extras("admin", {}, setup="person_to_erase"),
        person="Student number, Discord username or Discord id",
        reason="Why (kept in the audit trail)",
    )
    async def privacy_erase_confirm(
        self, interaction: discord.Interaction, person: str, reason: str | None = None
    ) -> None:
        result = await as_caller(
            self.bot, interaction, privacy.confirm_erasure, person, reason, now=self.bot.clock.now()
        )
        await send_long(interaction, result.text)
