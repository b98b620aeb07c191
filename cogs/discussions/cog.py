"""Graded discussion prompts on Discord: the /prompt commands, the Answer form, and recording.

Thin adapter: every command opens the roster-checked context, calls one service function in
``bot.discussions`` and renders what it returns. Thread messages, edits and deletions go to the
group-commit recorder; scheduled opening, closing and mark messages run as due work.
"""

from __future__ import annotations

import functools
import io
import logging

import discord
from discord import app_commands
from discord.ext import commands

from bot.chat import OutgoingMessage
from bot.discord_app import CohortBot
from bot.discord_chat import chat_user, to_chat_message, wire_from_discord
from bot.discussions import service
from bot.discussions.grades_csv import MAX_CSV_BYTES
from bot.discussions.live import LiveDiscussions
from bot.discussions.recorded import ContextOpener
from bot.discussions.recording import GATEWAY_TAG
from cogs._shared.context import command_context, in_context
from cogs._shared.declare import slash
from cogs._shared.delivery import told_sentence, told_them
from cogs._shared.metadata import extras
from cogs._shared.replies import reply_private, send_long, send_private
from cogs.discussions.views import AnswerButton, AnswerModal, PromptTextModal

log = logging.getLogger(__name__)


class Discussions(commands.Cog):
    """Graded discussion prompts."""

    prompt = app_commands.Group(name="prompt", description="Graded discussion prompts")

    def __init__(self, bot: CohortBot) -> None:
        self.bot = bot
        #: The recorder and the due work, shared with the Slack adapter (``bot.discussions``).
        self.live = LiveDiscussions(
            db=bot.db,
            clock=bot.clock,
            chat=bot.chat,
            scheduler=bot.scheduler,
            outbox=bot.outbox,
            bot_user_id=self._bot_user_id,
            writer=bot.settings.recorder_writer,
        )
        self.recorder = self.live.recorder
        self.prompts = self.live.prompts

    def _context(self, interaction: discord.Interaction) -> ContextOpener:
        return functools.partial(command_context, self.bot, interaction)

    def _bot_user_id(self) -> str | None:
        return str(self.bot.user.id) if self.bot.user is not None else None

    # ---------------------------------------------------------------- lifecycle

    async def cog_load(self) -> None:
        await self.live.start()
        self.bot.add_dynamic_items(AnswerButton)
        self.bot.add_message_tap(self._tap)

    async def cog_unload(self) -> None:
        """The clean-shutdown path (bot.close unloads cogs; ``Application.stop`` has already
        let the due work under way finish): write what the recorder has queued."""
        self.bot.remove_message_tap(self._tap)
        await self.live.close()
        self.bot.remove_dynamic_items(AnswerButton)

    async def settled(self) -> None:
        """Wait for the history reads started on connecting (benchmarks measure after them)."""
        await self.live.settled()

    async def _run_due(self) -> None:
        """Do the due work now (one run at a time: the scheduler's job lock)."""
        await self.live.run_due()

    async def backfill(self) -> int:
        return await self.live.backfill()

    # ------------------------------------------------------------ gateway events

    def _tap(self, message: discord.Message) -> None:
        """Every new message, synchronously from the gateway (``CohortBot.add_message_tap``)."""
        if str(message.channel.id) in self.recorder.threads:
            self.recorder.add_wired(wire_from_discord(message, GATEWAY_TAG))

    @commands.Cog.listener()
    async def on_raw_message_edit(self, payload: discord.RawMessageUpdateEvent) -> None:
        if str(payload.channel_id) in self.recorder.threads and "content" in payload.data:
            before = payload.cached_message.content if payload.cached_message else None
            self.recorder.add_edit(to_chat_message(payload.message), before)

    @commands.Cog.listener()
    async def on_raw_message_delete(self, payload: discord.RawMessageDeleteEvent) -> None:
        self.recorder.add_delete(
            str(payload.message_id), str(payload.channel_id), self.bot.clock.now()
        )

    @commands.Cog.listener()
    async def on_raw_bulk_message_delete(self, payload: discord.RawBulkMessageDeleteEvent) -> None:
        now = self.bot.clock.now()
        for message_id in payload.message_ids:
            self.recorder.add_delete(str(message_id), str(payload.channel_id), now)

    @commands.Cog.listener()
    async def on_ready(self) -> None:
        self.live.connected()

    @commands.Cog.listener()
    async def on_resumed(self) -> None:
        self.live.resumed()

    @commands.Cog.listener()
    async def on_disconnect(self) -> None:
        self.live.disconnected()

    # ------------------------------------------------------------ tutor commands

    @slash(
        prompt,
        "create",
        "Schedule a graded discussion prompt (the text is asked for in a form).",
        extras(
            "staff",
            {
                "module": "MATH70097",
                "title": "Week 1: bias and variance",
                "opens": "2030-01-19 09:00",
                "closes": "2030-01-23 17:00",
                "text": "Where have you met the bias-variance trade-off in your own work?",
            },
        ),
        module="Module code, e.g. MATH70097",
        title="Short title (names the answers thread)",
        opens="When it is posted, e.g. 2026-01-19 09:00 (cohort time) or 2026-01-19T09:00Z",
        closes="Deadline, e.g. 2026-01-23 17:00",
        rubric="Preset (standard, light, reflective) and changes, e.g. 'light replies_required=2'",
        private_answers="Post before you see others: answers go through a form first",
        text="The prompt text; leave empty to type a long text in a form",
    )
    async def create(
        self,
        interaction: discord.Interaction,
        module: str,
        title: str,
        opens: str,
        closes: str,
        rubric: str = "standard",
        private_answers: bool = False,
        text: str | None = None,
    ) -> None:
        draft = await in_context(
            self.bot,
            interaction,
            service.prepare_prompt,
            module_code=module,
            title=title,
            opens=opens,
            closes=closes,
            rubric=rubric,
            private_answers=private_answers,
            now=self.bot.clock.now(),
        )

        async def finish(target: discord.Interaction, body: str) -> None:
            info = await in_context(
                self.bot,
                target,
                service.create_prompt,
                module_code=module,
                title=title,
                body=body,
                opens=opens,
                closes=closes,
                rubric=rubric,
                private_answers=private_answers,
                now=self.bot.clock.now(),
            )
            self.live.wake(info.opens_at)
            await reply_private(target, info.scheduled_text)

        if text is not None:
            await finish(interaction, text)
        else:
            await interaction.response.send_modal(
                PromptTextModal(
                    finish, opened_by=interaction, title=f"{draft.module.code}: {draft.title}"
                )
            )

    @slash(
        prompt,
        "list",
        "A module's discussion prompts and where each stands.",
        extras("staff", {"module": "MATH70097"}),
        module="Module code, e.g. MATH70097",
    )
    async def list_(self, interaction: discord.Interaction, module: str) -> None:
        prompts = await in_context(self.bot, interaction, service.list_prompts, module_code=module)
        if not prompts:
            await reply_private(interaction, f"{module.upper()} has no discussion prompts yet.")
            return
        await send_long(interaction, "\n".join(p.line for p in prompts))

    @slash(
        prompt,
        "edit",
        "Change a prompt that has not opened yet.",
        extras("staff", {"title": "Week 1 (revised)"}, setup="scheduled_prompt"),
        prompt="Prompt number (see /prompt list)",
        edit_text="Open a form to change the prompt's text",
    )
    async def edit(
        self,
        interaction: discord.Interaction,
        prompt: int,
        title: str | None = None,
        opens: str | None = None,
        closes: str | None = None,
        rubric: str | None = None,
        private_answers: bool | None = None,
        text: str | None = None,
        edit_text: bool = False,
    ) -> None:
        async def apply(target: discord.Interaction, body: str | None) -> None:
            info = await in_context(
                self.bot,
                target,
                service.edit_prompt,
                prompt,
                title=title,
                body=body,
                opens=opens,
                closes=closes,
                rubric=rubric,
                private_answers=private_answers,
                now=self.bot.clock.now(),
            )
            self.live.wake(info.opens_at)
            await reply_private(target, f"Updated: {info.line}")

        if not edit_text or text is not None:
            await apply(interaction, text)
            return
        current = await in_context(self.bot, interaction, service.prompt_for_edit, prompt)
        await interaction.response.send_modal(
            PromptTextModal(
                apply,
                opened_by=interaction,
                default=current.body,
                title=f"Edit prompt #{current.id}",
            )
        )

    @slash(
        prompt,
        "close",
        "Close a prompt now (locks its thread and posts the summary).",
        extras("staff", {}, setup="open_prompt"),
    )
    async def close(self, interaction: discord.Interaction, prompt: int) -> None:
        info = await self.prompts.close_early(
            self._context(interaction), prompt, now=self.bot.clock.now()
        )
        await reply_private(
            interaction, f"Prompt #{info.id} “{info.title}” closes now; its thread is locked."
        )
        try:
            await self._run_due()
        except Exception:
            log.exception("closing prompt %s early: the due work failed; it retries", info.id)

    @slash(
        prompt,
        "extend",
        "Reopen a prompt for one student until a new time (an extension).",
        extras("staff", {"student": "amara.codes"}, setup="open_prompt"),
        until="Their new deadline, e.g. 2026-01-30 17:00",
        reason="Reference",
    )
    async def extend(
        self,
        interaction: discord.Interaction,
        prompt: int,
        student: discord.User,
        until: str,
        reason: str | None = None,
    ) -> None:
        result = await self.prompts.grant_extension(
            self._context(interaction),
            prompt,
            student=chat_user(student),
            until=until,
            reason=reason,
            now=self.bot.clock.now(),
        )
        told = told_them(await self.bot.outbox.delivery([result.message_key]))
        await reply_private(interaction, f"{result.render()} {told}")

    @slash(
        prompt,
        "grade",
        "Give one student quality points and/or feedback on a prompt.",
        extras("staff", {"student": "amara.codes", "quality": "3"}, setup="closed_prompt"),
        quality="Quality points, e.g. 3 or 2.5",
        feedback="Feedback they see",
    )
    async def grade(
        self,
        interaction: discord.Interaction,
        prompt: int,
        student: discord.User,
        quality: str | None = None,
        feedback: str | None = None,
    ) -> None:
        result = await in_context(
            self.bot,
            interaction,
            service.grade,
            prompt,
            student=chat_user(student),
            quality=quality,
            feedback=feedback,
            now=self.bot.clock.now(),
        )
        await reply_private(interaction, result.reply)
        if result.released:
            self.live.wake()

    @slash(
        prompt,
        "grade-csv",
        "Quality points and feedback for many students from a CSV file.",
        extras("staff", {}, setup="grades_csv"),
        file="CSV with student_number (or discord), quality_points, feedback",
    )
    async def grade_csv(
        self, interaction: discord.Interaction, prompt: int, file: discord.Attachment
    ) -> None:

        async def download() -> bytes | None:
            return await file.read() if file.size <= MAX_CSV_BYTES else None

        result = await in_context(
            self.bot,
            interaction,
            service.grade_csv,
            prompt,
            data=download,
            filename=file.filename,
            now=self.bot.clock.now(),
        )
        after = " Students are told of changes privately." if result.released else ""
        await reply_private(
            interaction,
            f"Saved quality marks and feedback for prompt #{result.prompt.id}: "
            f"{result.changed} changed, {result.unchanged} unchanged.{after}",
        )
        if result.released and result.changed:
            self.live.wake()

    @slash(
        prompt,
        "scores",
        "Every student's provisional score on a prompt, with a CSV to grade from.",
        extras("staff", {}, setup="closed_prompt"),
    )
    async def scores(self, interaction: discord.Interaction, prompt: int) -> None:
        table = await self.prompts.score_table(
            self._context(interaction), prompt, now=self.bot.clock.now()
        )
        state = "released" if table.prompt.released_at else "provisional, not released"
        head = f"Prompt #{table.prompt.id} “{table.prompt.title}” ({state}):"
        lines = [head] + [
            row.line + (f" [{row.notified}]" if row.notified else "") for row in table.rows
        ]
        await send_long(
            interaction,
            "\n".join(lines),
            file=discord.File(io.BytesIO(table.csv_data), filename=table.csv_name),
        )

    @slash(
        prompt,
        "release",
        "Release a closed prompt's marks; each student is told privately.",
        extras("staff", {}, setup="closed_prompt"),
    )
    async def release(self, interaction: discord.Interaction, prompt: int) -> None:
        await interaction.response.defer(ephemeral=True, thinking=True)
        result = await self.prompts.release(
            self._context(interaction), prompt, now=self.bot.clock.now()
        )
        try:
            await self._run_due()
            await self.bot.outbox.run()  # the mark messages it handed over, sent now
        except Exception:
            log.exception("releasing prompt %s: sending the marks failed; it retries", prompt)
            self.live.wake()
        async with self.bot.db.session() as session:
            told = await service.release_delivery(session, result.prompt.id)
        await reply_private(
            interaction,
            f"Released the marks of prompt #{result.prompt.id} “{result.prompt.title}” for "
            f"{result.students} students: "
            + told_sentence(told, "student", "students", "told privately"),
        )

    # ---------------------------------------------------------- student commands

    @slash(
        prompt,
        "mine",
        "Your provisional score on each discussion prompt, and why.",
        extras("member", {}),
    )
    async def mine(self, interaction: discord.Interaction, prompt: int | None = None) -> None:
        mine = await self.prompts.my_scores(
            self._context(interaction), prompt, now=self.bot.clock.now()
        )
        if not mine.rows:
            await reply_private(interaction, mine.render())
            return
        await send_long(interaction, mine.render())

    @slash(
        prompt,
        "answer",
        "Answer a prompt through a form (private-answer prompts, extensions).",
        extras("student", {}, setup="private_prompt"),
    )
    async def answer(self, interaction: discord.Interaction, prompt: int) -> None:
        await self.open_answer_form(interaction, prompt)

    async def open_answer_form(self, interaction: discord.Interaction, prompt_id: int) -> None:
        """Refusals are mapped by the command tree (``/prompt answer``) or by the Answer
        button's guard."""
        info = await in_context(
            self.bot, interaction, service.begin_answer, prompt_id, now=self.bot.clock.now()
        )
        await interaction.response.send_modal(AnswerModal(prompt_id, info.title, interaction))

    async def post_answer(
        self, interaction: discord.Interaction, prompt_id: int, text: str, reply_to: str | None
    ) -> None:
        await interaction.response.defer(ephemeral=True, thinking=True)
        plan = await in_context(
            self.bot,
            interaction,
            service.submit_answer,
            prompt_id,
            text=text,
            reply_to=reply_to,
            now=self.bot.clock.now(),
        )
        for message in plan.messages:
            await self.bot.chat.post(plan.thread_id, OutgoingMessage(message))
        if plan.add_member is not None:
            await self.bot.chat.add_thread_member(plan.thread_id, plan.add_member)
        await send_private(interaction, content=plan.note)
