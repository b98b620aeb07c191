"""Peer-assessed exercises on Discord: /exercise (tutors), /submit (students), review forms.

Thin adapter: each command opens the roster-checked context, calls one function of
``bot.peer.service`` and renders its answer privately. Review requests arrive by DM with a
"Write review" button (custom id ``cb:peer:review:<assignment>``, a ``DynamicItem`` so it works
after restarts) that opens the rubric form. Messages the service decides go through the
outbox (``bot.outbox``), sent by the scheduled ``peer`` job (which each command wakes) or the
outbox's own.
"""

from __future__ import annotations

import logging
import operator
from typing import Literal

import discord
from discord import app_commands
from discord.ext import commands

from bot.discord_app import CohortBot
from bot.errors import UserError
from bot.peer import extensions, service
from bot.peer.render import status_parts
from cogs._shared.base import FeatureCog, forward
from cogs._shared.declare import command
from cogs._shared.delivery import to_them, told_sentence
from cogs._shared.replies import (
    defer_private,
    reply_private,
    send_long,
    send_parts,
    send_private,
)
from cogs.peer.views import ReviewButton, ReviewModal

log = logging.getLogger(__name__)

JOB = "peer"
#: The option users see -> the service's parameter.
EXERCISE = {"exercise": "exercise_id"}


class Peer(FeatureCog, commands.Cog):
    """Peer-assessed exercises."""

    job = JOB
    exercise = app_commands.Group(name="exercise", description="Peer-assessed exercises (tutors)")

    def __init__(self, bot: CohortBot) -> None:
        super().__init__(bot)
        # Answers of a refused review form, offered again by "Try again" (lost on restart:
        # only a convenience, the reviewer can type them again).
        self.drafts: dict[tuple[int, int], tuple[dict[str, str], str]] = {}

    async def cog_load(self) -> None:
        # The due work (allocation, reminders) is registered with bot.runtime's jobs.
        self.bot.add_dynamic_items(ReviewButton)

    async def cog_unload(self) -> None:
        # Scheduled work and the outbox are drained by ``Application.stop`` before this.
        self.bot.remove_dynamic_items(ReviewButton)

    async def _run_due(self) -> None:
        await self.bot.work.peer_once()

    # ------------------------------------------------------------------ tutors

    @command("exercise create", exercise)
    @forward(
        service.create_exercise,
        rename={"module": "module_code"},
        wake=True,
        show=operator.attrgetter("summary"),
    )
    async def create(
        self,
        interaction: discord.Interaction,
        module: str,
        title: str,
        brief: str,
        submission_deadline: str,
        review_deadline: str,
        k: int = 3,
        rubric: str | None = None,
        double_blind: bool = True,
        reviewers: Literal["submitters", "enrolled"] = "submitters",
        avoid_same_group: bool = False,
        avoid_repeat_pairs: bool = True,
        method: Literal["median", "mean", "corrected", "corrected_alone"] = "median",
        late_hours: int = 0,
        late_penalty: int = 0,
        reminder_hours: int = 24,
        agreement_weighting: bool = False,
    ) -> None: ...

    @command("exercise status", exercise)
    async def status(self, interaction: discord.Interaction, exercise: int) -> None:
        report = await self.call(interaction, service.exercise_status, exercise_id=exercise)
        await send_parts(interaction, status_parts(report))

    @command("exercise allocate", exercise)
    async def allocate(self, interaction: discord.Interaction, exercise: int) -> None:
        summary = await self.call(
            interaction, service.allocate_now, exercise_id=exercise, wake=True
        )
        text = (
            f"Allocated exercise #{summary.exercise_id}: {summary.submissions} submission(s), "
            f"{summary.reviews} review(s), {summary.min_load}-{summary.max_load} per reviewer. "
            "Reviewers get their requests by DM."
        )
        if summary.notes:
            text += "\nCould not satisfy everything:\n" + "\n".join(f"• {n}" for n in summary.notes)
        await send_long(interaction, text)

    @command("exercise reassign", exercise)
    @forward(service.reassign_reviewer, rename=EXERCISE, wake=True)
    async def reassign(
        self,
        interaction: discord.Interaction,
        exercise: int,
        reviewer: discord.User,
        author: discord.User | None = None,
        to: discord.User | None = None,
    ) -> None: ...

    @command("exercise topup", exercise)
    @forward(service.top_up, rename=EXERCISE, wake=True)
    async def topup(
        self, interaction: discord.Interaction, exercise: int, author: discord.User | None = None
    ) -> None: ...

    @command("exercise extend", exercise)
    @forward(
        extensions.grant_extension, rename=EXERCISE, defer=True, told=to_them, send=reply_private
    )
    async def extend(
        self,
        interaction: discord.Interaction,
        exercise: int,
        student: discord.User,
        until: str,
        reason: str,
    ) -> None: ...

    @command("exercise moderate", exercise)
    @forward(service.moderate, rename=EXERCISE, wake=True, send=reply_private)
    async def moderate(
        self,
        interaction: discord.Interaction,
        exercise: int,
        student: discord.User,
        score: float,
        reason: str,
    ) -> None: ...

    @command("exercise release", exercise)
    async def release(
        self, interaction: discord.Interaction, exercise: int, accept_flagged: bool = False
    ) -> None:
        await defer_private(interaction)
        text = await self.call(
            interaction, service.release, exercise_id=exercise, accept_flagged=accept_flagged
        )
        try:
            await self._run_due()
        except Exception:
            log.exception(
                "releasing exercise %s: sending the feedback failed; it retries", exercise
            )
            self.wake()
        async with self.bot.db.session() as session:
            sent = await service.feedback_delivery(session, exercise)
        told = told_sentence(sent, "author", "authors", "sent their feedback by DM")
        await reply_private(interaction, f"{text} {told}")

    # ---------------------------------------------------------------- students

    @command("submit")
    async def submit(
        self,
        interaction: discord.Interaction,
        exercise: int,
        file: discord.Attachment | None = None,
        link: str | None = None,
        text: str | None = None,
    ) -> None:
        upload = None
        if file is not None:
            upload = service.FileInput(
                filename=file.filename,
                size=file.size,
                content_type=file.content_type,
                read=file.read,
            )
        receipt = await self.call(
            interaction,
            service.submit,
            exercise_id=exercise,
            file=upload,
            link=link,
            text=text,
            idempotency_key=f"submit:{interaction.id}",
            wake=True,
        )
        await reply_private(interaction, receipt.text)

    # ----------------------------------------------------------------- reviews

    async def open_review(self, interaction: discord.Interaction, assignment_id: int) -> None:
        form = await self.call(interaction, service.review_form, assignment_id, cohort=False)
        draft = self.drafts.get((interaction.user.id, assignment_id))
        await interaction.response.send_modal(ReviewModal(form, interaction, draft))

    async def save_review(self, interaction: discord.Interaction, modal: ReviewModal) -> None:
        key = (interaction.user.id, modal.form.assignment_id)
        scores = {name: box.value for name, box in modal.scores}
        comments = modal.comments.value
        try:
            saved = await self.call(
                interaction,
                service.submit_review,
                modal.form.assignment_id,
                scores=scores,
                comments=comments,
                cohort=False,
            )
        except UserError as exc:
            self.drafts[key] = (scores, comments)
            view = discord.ui.View(timeout=None)
            view.add_item(ReviewButton(modal.form.assignment_id, label="Try again"))
            await send_private(
                interaction,
                content=f"{exc.sentence} Press **Try again**: your answers are kept.",
                view=view,
            )
            return
        self.drafts.pop(key, None)
        await reply_private(interaction, saved.text)

    # ------------------------------------------------------------ departures

    @commands.Cog.listener()
    async def on_raw_member_remove(self, payload: discord.RawMemberRemoveEvent) -> None:
        async with self.bot.db.session() as session:
            moved = await service.member_left(session, str(payload.user.id), now=self.now())
        if moved:
            self.wake()

    @commands.Cog.listener()
    async def on_guild_available(self, guild: discord.Guild) -> None:
        """Departures missed while the bot was away (no event is replayed for them)."""
        if not guild.chunked:  # an incomplete member list would look like departures
            log.info("server %s: member list incomplete; departures not checked", guild.id)
            return
        present = {str(m.id) for m in guild.members}
        async with self.bot.db.session() as session:
            moved = await service.departed_while_away(
                session, str(guild.id), present, now=self.now()
            )
        if moved:
            self.wake()
