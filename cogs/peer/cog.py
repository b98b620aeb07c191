"""Peer-assessed exercises on Discord: /exercise (tutors), /submit (students), review forms.

Thin adapter: each command opens the roster-checked context, calls one function of
``bot.peer.service`` and renders its answer privately. Review requests arrive by DM with a
"Write review" button (custom id ``cb:peer:review:<assignment>``, a ``DynamicItem`` so it works
after restarts) that opens the rubric form. Messages the service decides go through the
outbox (``bot.outbox``), sent by the scheduled ``peer`` job (which each command wakes) or the
outbox's own.
"""

from __future__ import annotations

import functools
import logging
from typing import Literal

import discord
from discord import app_commands
from discord.ext import commands

from bot.discord_app import CohortBot
from bot.discord_chat import chat_user
from bot.errors import UserError
from bot.peer import extensions, service
from bot.peer.render import status_parts
from cogs._shared.context import as_caller, in_context
from cogs._shared.declare import slash
from cogs._shared.delivery import told_sentence, told_them
from cogs._shared.metadata import extras
from cogs._shared.replies import reply_private, send_long, send_parts, send_private
from cogs.peer.views import ReviewButton, ReviewModal

log = logging.getLogger(__name__)

JOB = "peer"
MODULE = "MATH70097"
#: Every /exercise command acts in the module of the exercise its setup creates.
_extras = functools.partial(extras, module=MODULE)


class Peer(commands.Cog):
    """Peer-assessed exercises."""

    exercise = app_commands.Group(name="exercise", description="Peer-assessed exercises (tutors)")

    def __init__(self, bot: CohortBot) -> None:
        self.bot = bot
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

    def _wake(self) -> None:
        """Deliver what the command decided now rather than at the next tick."""
        self.bot.work.wake_peer()

    # ------------------------------------------------------------------ tutors

    @slash(
        exercise,
        "create",
        "Set up a peer-assessed exercise: brief, deadlines, rubric, rules.",
        _extras(
            "staff",
            {
                "module": MODULE,
                "title": "Week 3: regularisation paths",
                "brief": "Fit a lasso path on the diabetes data and explain what you see.",
                "submission_deadline": "2099-01-26 17:00",
                "review_deadline": "2099-02-02 17:00",
            },
            setup="settled",
        ),
        module="Module code, e.g. MATH70097",
        title="Short title shown to students",
        brief="What to submit (link to a longer document if needed)",
        submission_deadline="e.g. 2026-02-02 17:00 (cohort time) or 2026-02-02 AoE",
        review_deadline="When reviews are due; after the submission deadline",
        k="Reviews per submission (default 3)",
        rubric='Criteria with ranges, e.g. "Correctness 0-10: right method; Clarity 0-5"',
        double_blind="Hide authors from reviewers too (default yes)",
        reviewers="Who reviews: those who submitted (default) or every enrolled student",
        avoid_same_group="Never pair members of the same study group",
        avoid_repeat_pairs="Avoid reviewer-author pairs of earlier exercises (default yes)",
        method="How the peer mark is computed (default median)",
        late_hours="Accept late work for this many hours (default 0: none)",
        late_penalty="Percent taken off a late submission's peer mark",
        reminder_hours="Remind reviewers with pending work this long before (default 24)",
        agreement_weighting="Weight review credit by agreement with the other reviewers",
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
    ) -> None:
        created = await in_context(
            self.bot,
            interaction,
            service.create_exercise,
            module_code=module,
            title=title,
            brief=brief,
            submission_deadline=submission_deadline,
            review_deadline=review_deadline,
            k=k,
            rubric=rubric,
            double_blind=double_blind,
            reviewers=reviewers,
            avoid_same_group=avoid_same_group,
            avoid_repeat_pairs=avoid_repeat_pairs,
            method=method,
            late_hours=late_hours,
            late_penalty=late_penalty,
            reminder_hours=reminder_hours,
            agreement_weighting=agreement_weighting,
            now=self.bot.clock.now(),
        )
        self._wake()
        await send_long(interaction, created.summary)

    @slash(
        exercise,
        "status",
        "Submissions, allocation, and reviews done or pending per student.",
        _extras("staff", {}, setup="open_exercise"),
        exercise="Exercise number (from its announcement)",
    )
    async def status(self, interaction: discord.Interaction, exercise: int) -> None:
        report = await in_context(
            self.bot,
            interaction,
            service.exercise_status,
            exercise_id=exercise,
            now=self.bot.clock.now(),
        )
        await send_parts(interaction, status_parts(report))

    @slash(
        exercise,
        "allocate",
        "Allocate reviewers now instead of at the submission deadline.",
        _extras("staff", {}, setup="submitted_exercise"),
        exercise="Exercise number",
    )
    async def allocate(self, interaction: discord.Interaction, exercise: int) -> None:
        summary = await in_context(
            self.bot,
            interaction,
            service.allocate_now,
            exercise_id=exercise,
            now=self.bot.clock.now(),
        )
        self._wake()
        text = (
            f"Allocated exercise #{summary.exercise_id}: {summary.submissions} submission(s), "
            f"{summary.reviews} review(s), {summary.min_load}-{summary.max_load} per reviewer. "
            "Reviewers get their requests by DM."
        )
        if summary.notes:
            text += "\nCould not satisfy everything:\n" + "\n".join(f"• {n}" for n in summary.notes)
        await send_long(interaction, text)

    @slash(
        exercise,
        "reassign",
        "Move a reviewer's pending reviews to spare capacity (or to someone).",
        _extras("staff", {}, setup="reassignable_exercise"),
        exercise="Exercise number",
        reviewer="Whose pending reviews to move",
        author="Only their review of this student's submission",
        to="Give them to this student instead of the least-loaded eligible reviewers",
    )
    async def reassign(
        self,
        interaction: discord.Interaction,
        exercise: int,
        reviewer: discord.User,
        author: discord.User | None = None,
        to: discord.User | None = None,
    ) -> None:
        text = await in_context(
            self.bot,
            interaction,
            service.reassign_reviewer,
            exercise_id=exercise,
            reviewer=chat_user(reviewer),
            author=chat_user(author) if author is not None else None,
            to=chat_user(to) if to is not None else None,
            now=self.bot.clock.now(),
        )
        self._wake()
        await send_long(interaction, text)

    @slash(
        exercise,
        "topup",
        "Give submissions with fewer than k reviews the missing ones.",
        _extras("staff", {}, setup="allocated_exercise"),
        exercise="Exercise number",
        author="Only this student's submission (default: every short one)",
    )
    async def topup(
        self,
        interaction: discord.Interaction,
        exercise: int,
        author: discord.User | None = None,
    ) -> None:
        text = await in_context(
            self.bot,
            interaction,
            service.top_up,
            exercise_id=exercise,
            author=chat_user(author) if author is not None else None,
            now=self.bot.clock.now(),
        )
        self._wake()
        await send_long(interaction, text)

    @slash(
        exercise,
        "extend",
        "Give one student more time to submit (they are told privately).",
        _extras(
            "staff",
            {"student": "amara.codes", "until": "2030-03-08 17:00", "reason": "MC-1"},
            setup="open_exercise",
        ),
        exercise="Exercise number",
        student="The student",
        until="Their new submission deadline, e.g. 2026-02-04 17:00",
        reason="Reason reference, e.g. the mitigating circumstances case number",
    )
    async def extend(
        self,
        interaction: discord.Interaction,
        exercise: int,
        student: discord.User,
        until: str,
        reason: str,
    ) -> None:
        await interaction.response.defer(ephemeral=True, thinking=True)
        granted = await in_context(
            self.bot,
            interaction,
            extensions.grant_extension,
            exercise_id=exercise,
            student=chat_user(student),
            until=until,
            reason=reason,
            now=self.bot.clock.now(),
        )
        told = told_them(await self.bot.outbox.delivery([granted.message_key]))
        await reply_private(interaction, f"{granted.render()} {told}")

    @slash(
        exercise,
        "moderate",
        "Override a student's peer mark (0-100), with a reason; audited.",
        _extras(
            "staff",
            {"score": 68, "reason": "Reviewers disagreed; marked against the rubric."},
            setup="moderatable_exercise",
        ),
        exercise="Exercise number",
        student="Whose mark",
        score="The mark out of 100",
        reason="Why (kept in the audit trail)",
    )
    async def moderate(
        self,
        interaction: discord.Interaction,
        exercise: int,
        student: discord.User,
        score: float,
        reason: str,
    ) -> None:
        text = await in_context(
            self.bot,
            interaction,
            service.moderate,
            exercise_id=exercise,
            student=chat_user(student),
            score=score,
            reason=reason,
            now=self.bot.clock.now(),
        )
        self._wake()
        await reply_private(interaction, text)

    @slash(
        exercise,
        "release",
        "Release the marks: each author gets their anonymous feedback by DM.",
        _extras("staff", {"accept_flagged": True}, setup="reviewed_exercise"),
        exercise="Exercise number",
        accept_flagged="Release even with submissions still flagged for moderation",
    )
    async def release(
        self, interaction: discord.Interaction, exercise: int, accept_flagged: bool = False
    ) -> None:
        await interaction.response.defer(ephemeral=True, thinking=True)
        text = await in_context(
            self.bot,
            interaction,
            service.release,
            exercise_id=exercise,
            accept_flagged=accept_flagged,
            now=self.bot.clock.now(),
        )
        try:
            await self._run_due()
        except Exception:
            log.exception(
                "releasing exercise %s: sending the feedback failed; it retries", exercise
            )
            self._wake()
        async with self.bot.db.session() as session:
            sent = await service.feedback_delivery(session, exercise)
        told = told_sentence(sent, "author", "authors", "sent their feedback by DM")
        await reply_private(interaction, f"{text} {told}")

    # ---------------------------------------------------------------- students

    @slash(
        None,
        "submit",
        "Submit your work to a peer-assessed exercise: a file, a link or text.",
        _extras(
            "student",
            {"text": "My lasso path flattens after lambda = 0.3; see the plot notes."},
            setup="open_exercise",
        ),
        exercise="Exercise number (from its announcement)",
        file="Your work as a file (up to 8 MB)",
        link="Or a link to it",
        text="Or the text itself",
    )
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
        receipt = await in_context(
            self.bot,
            interaction,
            service.submit,
            exercise_id=exercise,
            file=upload,
            link=link,
            text=text,
            idempotency_key=f"submit:{interaction.id}",
            now=self.bot.clock.now(),
        )
        self._wake()
        await reply_private(interaction, receipt.text)

    # ----------------------------------------------------------------- reviews

    async def open_review(self, interaction: discord.Interaction, assignment_id: int) -> None:
        form = await as_caller(
            self.bot, interaction, service.review_form, assignment_id, now=self.bot.clock.now()
        )
        draft = self.drafts.get((interaction.user.id, assignment_id))
        await interaction.response.send_modal(ReviewModal(form, interaction, draft))

    async def save_review(self, interaction: discord.Interaction, modal: ReviewModal) -> None:
        key = (interaction.user.id, modal.form.assignment_id)
        scores = {name: box.value for name, box in modal.scores}
        comments = modal.comments.value
        try:
            saved = await as_caller(
                self.bot,
                interaction,
                service.submit_review,
                modal.form.assignment_id,
                scores=scores,
                comments=comments,
                now=self.bot.clock.now(),
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
            moved = await service.member_left(
                session, str(payload.user.id), now=self.bot.clock.now()
            )
        if moved:
            self._wake()

    @commands.Cog.listener()
    async def on_guild_available(self, guild: discord.Guild) -> None:
        """Departures missed while the bot was away (no event is replayed for them)."""
        if not guild.chunked:  # an incomplete member list would look like departures
            log.info("server %s: member list incomplete; departures not checked", guild.id)
            return
        present = {str(m.id) for m in guild.members}
        async with self.bot.db.session() as session:
            moved = await service.departed_while_away(
                session, str(guild.id), present, now=self.bot.clock.now()
            )
        if moved:
            self._wake()
