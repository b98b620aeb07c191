"""Graded discussion prompts on Discord: the /prompt commands, the Answer form, and recording.

Thin adapter: every command opens the roster-checked context, calls one service function in
``bot.discussions`` and renders what it returns. Thread messages, edits and deletions go to the
group-commit recorder; scheduled opening, closing and mark messages run as due work.
"""

from __future__ import annotations

import functools
import io
import logging
from typing import Any

import discord
from discord import app_commands
from discord.ext import commands

from bot.discord_app import CohortBot, MessageTap
from bot.discord_chat import chat_user, to_chat_message
from bot.discussions import service
from bot.discussions.grades_csv import MAX_CSV_BYTES
from bot.discussions.live import LiveDiscussions
from bot.discussions.recorded import ContextOpener
from bot.discussions.recording import GATEWAY_TAG
from cogs._shared.base import FeatureCog
from cogs._shared.context import command_context
from cogs._shared.declare import command
from cogs._shared.delivery import to_them, told_sentence
from cogs._shared.replies import defer_private, reply_private, send_long, send_private
from cogs.discussions.views import AnswerButton, AnswerModal, PromptTextModal

log = logging.getLogger(__name__)

JOB = "discussions"


def _prompt_fields(
    title: str | None,
    opens: str | None,
    closes: str | None,
    rubric: str | None,
    private_answers: bool | None,
) -> dict[str, Any]:
    """What ``/prompt create`` and ``/prompt edit`` both say about a prompt, as the service's
    keyword arguments (the prompt's text comes as an option or from a form)."""
    return {
        "title": title,
        "opens": opens,
        "closes": closes,
        "rubric": rubric,
        "private_answers": private_answers,
    }


class Discussions(FeatureCog, commands.Cog):
    """Graded discussion prompts."""

    job = JOB
    prompt = app_commands.Group(name="prompt", description="Graded discussion prompts")

    def __init__(self, bot: CohortBot) -> None:
        super().__init__(bot)
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
        #: New messages of watched threads go straight from the gateway to the recorder.
        self._tap = MessageTap(
            self.recorder.watches, self.recorder.add_wired, GATEWAY_TAG, self.recorder.stray
        )

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

    @commands.Cog.listener()
    async def on_raw_message_edit(self, payload: discord.RawMessageUpdateEvent) -> None:
        # Every edit in the server: one in a thread not watched yet is kept a while (``stray``).
        if payload.guild_id is not None and "content" in payload.data:
            before = payload.cached_message.content if payload.cached_message else None
            self.recorder.add_edit(to_chat_message(payload.message), before)

    @commands.Cog.listener()
    async def on_raw_message_delete(self, payload: discord.RawMessageDeleteEvent) -> None:
        self.recorder.add_delete(str(payload.message_id), str(payload.channel_id), self.now())

    @commands.Cog.listener()
    async def on_raw_bulk_message_delete(self, payload: discord.RawBulkMessageDeleteEvent) -> None:
        now = self.now()
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

    @command("prompt create", prompt)
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
        fields = _prompt_fields(title, opens, closes, rubric, private_answers)
        draft = await self.call(interaction, service.prepare_prompt, module_code=module, **fields)

        async def finish(target: discord.Interaction, body: str) -> None:
            create = service.create_prompt
            info = await self.call(target, create, module_code=module, body=body, **fields)
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

    @command("prompt list", prompt)
    async def list_(self, interaction: discord.Interaction, module: str) -> None:
        prompts = await self.call(interaction, service.list_prompts, module_code=module)
        if not prompts:
            await reply_private(interaction, f"{module.upper()} has no discussion prompts yet.")
            return
        await send_long(interaction, "\n".join(p.line for p in prompts))

    @command("prompt edit", prompt)
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
        fields = _prompt_fields(title, opens, closes, rubric, private_answers)

        async def apply(target: discord.Interaction, body: str | None) -> None:
            info = await self.call(target, service.edit_prompt, prompt, body=body, **fields)
            self.live.wake(info.opens_at)
            await reply_private(target, f"Updated: {info.line}")

        if not edit_text or text is not None:
            await apply(interaction, text)
            return
        current = await self.call(interaction, service.prompt_for_edit, prompt)
        await interaction.response.send_modal(
            PromptTextModal(
                apply,
                opened_by=interaction,
                default=current.body,
                title=f"Edit prompt #{current.id}",
            )
        )

    @command("prompt close", prompt)
    async def close(self, interaction: discord.Interaction, prompt: int) -> None:
        info = await self.prompts.close_early(self._context(interaction), prompt, now=self.now())
        await reply_private(
            interaction, f"Prompt #{info.id} “{info.title}” closes now; its thread is locked."
        )
        try:
            await self._run_due()
        except Exception:
            log.exception("closing prompt %s early: the due work failed; it retries", info.id)

    @command("prompt extend", prompt)
    async def extend(
        self,
        interaction: discord.Interaction,
        prompt: int,
        student: discord.User,
        until: str,
        reason: str,
    ) -> None:
        result = await self.prompts.grant_extension(
            self._context(interaction),
            prompt,
            student=chat_user(student),
            until=until,
            reason=reason,
            now=self.now(),
        )
        await reply_private(interaction, result.render() + to_them(await self.delivery(result)))

    @command("prompt grade", prompt)
    async def grade(
        self,
        interaction: discord.Interaction,
        prompt: int,
        student: discord.User,
        quality: str | None = None,
        feedback: str | None = None,
    ) -> None:
        result = await self.call(
            interaction,
            service.grade,
            prompt,
            student=chat_user(student),
            quality=quality,
            feedback=feedback,
        )
        await reply_private(interaction, result.reply)
        if result.released:
            self.live.wake()

    @command("prompt grade-csv", prompt)
    async def grade_csv(
        self, interaction: discord.Interaction, prompt: int, file: discord.Attachment
    ) -> None:

        async def download() -> bytes | None:
            return await file.read() if file.size <= MAX_CSV_BYTES else None

        result = await self.call(
            interaction,
            service.grade_csv,
            prompt,
            data=download,
            filename=file.filename,
        )
        after = " Students are told of changes privately." if result.released else ""
        await reply_private(
            interaction,
            f"Saved quality marks and feedback for prompt #{result.prompt.id}: "
            f"{result.changed} changed, {result.unchanged} unchanged.{after}",
        )
        if result.released and result.changed:
            self.live.wake()

    @command("prompt scores", prompt)
    async def scores(self, interaction: discord.Interaction, prompt: int) -> None:
        table = await self.prompts.score_table(self._context(interaction), prompt, now=self.now())
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

    @command("prompt release", prompt)
    async def release(self, interaction: discord.Interaction, prompt: int) -> None:
        await defer_private(interaction)
        result = await self.prompts.release(self._context(interaction), prompt, now=self.now())
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

    @command("prompt mine", prompt)
    async def mine(self, interaction: discord.Interaction, prompt: int | None = None) -> None:
        mine = await self.prompts.my_scores(self._context(interaction), prompt, now=self.now())
        if not mine.rows:
            await reply_private(interaction, mine.render())
            return
        await send_long(interaction, mine.render())

    @command("prompt answer", prompt)
    async def answer_prompt(self, interaction: discord.Interaction, prompt: int) -> None:
        await self.open_answer_form(interaction, prompt)

    async def open_answer_form(self, interaction: discord.Interaction, prompt_id: int) -> None:
        """Refusals are mapped by the command tree (``/prompt answer``) or by the Answer
        button's guard."""
        info = await self.call(interaction, service.begin_answer, prompt_id)
        await interaction.response.send_modal(AnswerModal(prompt_id, info.title, interaction))

    async def post_answer(
        self, interaction: discord.Interaction, prompt_id: int, text: str, reply_to: str | None
    ) -> None:
        await defer_private(interaction)
        plan = await self.call(
            interaction,
            service.submit_answer,
            prompt_id,
            text=text,
            reply_to=reply_to,
            links=self.bot.chat.links,
        )
        for message in plan.messages:
            await self.bot.chat.post(plan.thread_id, message)
        if plan.add_member is not None:
            await self.bot.chat.add_thread_member(plan.thread_id, plan.add_member)
        await send_private(interaction, content=plan.note)
