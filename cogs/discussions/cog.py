"""Graded discussion prompts on Discord: the /prompt commands, the Answer form, and recording.

Thin adapter: every command opens the roster-checked context, calls one service function in
``bot.discussions`` and renders what it returns. Thread messages, edits and deletions go to the
group-commit recorder; scheduled opening, closing and mark messages run as due work.
"""

from __future__ import annotations

import asyncio
import functools
import io
import logging
from collections.abc import Awaitable
from datetime import UTC, datetime
from typing import Any

import discord
from discord import app_commands
from discord.ext import commands

from bot.chat import OutgoingMessage
from bot.discord_app import CohortBot
from bot.discord_chat import chat_user, to_chat_message, wire_from_discord
from bot.discussions import jobs, service
from bot.discussions.grades_csv import MAX_CSV_BYTES
from bot.discussions.recorded import ContextOpener, RecordedPrompts
from bot.discussions.recorder import Recorder
from bot.discussions.recording import GATEWAY_TAG, watched_threads
from bot.discussions.render import when
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
        self.recorder = Recorder(
            bot.db,
            bot.clock,
            bot_user_id=self._bot_user_id,
            writer=bot.settings.recorder_writer,
        )
        # The service calls that depend on the recorder's queue or close-time cache.
        self.prompts = RecordedPrompts(self.recorder)
        self._tasks: set[asyncio.Task[Any]] = set()

    def _context(self, interaction: discord.Interaction) -> ContextOpener:
        return functools.partial(command_context, self.bot, interaction)

    def _bot_user_id(self) -> str | None:
        return str(self.bot.user.id) if self.bot.user is not None else None

    # ---------------------------------------------------------------- lifecycle

    async def cog_load(self) -> None:
        async with self.bot.db.session() as session:
            self.recorder.watch(await watched_threads(session, now=self.now()))
        await self.recorder.prime()
        self.bot.add_dynamic_items(AnswerButton)
        self.bot.add_message_tap(self._tap)
        self.bot.scheduler.register(JOB, self._due_work)

    async def cog_unload(self) -> None:
        """The clean-shutdown path (bot.close unloads cogs; ``Application.stop`` has already
        let the due work under way finish): write what the recorder has queued."""
        self.bot.remove_message_tap(self._tap)
        # A history read under way stops here (the HTTP session is closing); what it queued is
        # written below, and a cut-short read infers no deletion. The next start reads again.
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        await self.recorder.close()
        self.bot.remove_dynamic_items(AnswerButton)

    def _spawn(self, coro: Awaitable[Any], name: str) -> None:
        async def run() -> None:
            try:
                await coro
            except Exception:
                log.exception("%s failed", name)

        task = asyncio.get_running_loop().create_task(run(), name=name)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def settled(self) -> None:
        """Wait for the history reads started on connecting (benchmarks measure after them)."""
        await asyncio.gather(*self._tasks, return_exceptions=True)

    async def _run_due(self) -> None:
        """Do the due work now (one run at a time: the scheduler's job lock)."""
        await self.bot.scheduler.run_now(JOB)

    async def _due_work(self) -> None:
        await self.recorder.flush()
        await self._refresh_watch()
        report = await jobs.run_due(
            self.bot.db,
            self.bot.chat,
            now=self.now(),
            thread_read=self._thread_read,
            ledger_lock=self.recorder.ledger_lock,
            sender=self.bot.outbox,
        )
        # Threads it just made: read back whatever was posted before they were watched.
        self.recorder.watch(report.opened)
        await self._read_unread()
        following = await jobs.next_due(self.bot.db)
        now = self.now()
        if following is not None and following > now:
            # Closings wake the scheduler as openings do: on time, not at the next tick. (What
            # is overdue, e.g. a close that failed, waits for the tick: no busy retry.) The
            # scheduler keeps real time; the bot's clock may be a demo's, hence the offset.
            self.bot.scheduler.wake(JOB, datetime.now(UTC) + (following - now), key="next")

    async def _thread_read(self, thread_id: str) -> bool:
        """Whether the thread is read whole, reading it now if the gateway is up (a prompt is
        closed only then: ``jobs.run_due``)."""
        if not self.recorder.is_read_through(thread_id) and self.recorder.live:
            await self.recorder.backfill(self.bot.chat, [thread_id])
        return self.recorder.is_read_through(thread_id)

    async def _refresh_watch(self) -> None:
        """Pick up threads opened by another process, and read those not read through."""
        async with self.bot.db.session() as session:
            threads = await watched_threads(session, now=self.now())
        self.recorder.replace_watched(threads)
        await self._read_unread()

    async def _read_unread(self) -> None:
        """Every watched thread gets a history read once the gateway delivers (new threads,
        threads whose start-up read failed); until then its live posts leave the cursor."""
        unread = self.recorder.unread() if self.recorder.live else []
        if unread:
            await self.recorder.backfill(self.bot.chat, unread)

    async def backfill(self) -> int:
        return await self.recorder.backfill(self.bot.chat)

    async def _read_then_wake(self, read: Awaitable[int]) -> None:
        """A start-up or reconnect read, then the due work: a close it held back can go on."""
        await read
        self.wake()

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
        self.recorder.add_delete(str(payload.message_id), str(payload.channel_id), self.now())

    @commands.Cog.listener()
    async def on_raw_bulk_message_delete(self, payload: discord.RawBulkMessageDeleteEvent) -> None:
        now = self.now()
        for message_id in payload.message_ids:
            self.recorder.add_delete(str(message_id), str(payload.channel_id), now)

    @commands.Cog.listener()
    async def on_ready(self) -> None:
        # A new session (start-up, or a session the gateway could not resume): nothing was
        # replayed, so read every open thread whole, edits and deletions included.
        self.recorder.gateway_up()
        self._spawn(
            self._read_then_wake(self.recorder.reconcile(self.bot.chat)), "discussions-reconcile"
        )

    @commands.Cog.listener()
    async def on_resumed(self) -> None:
        self.recorder.gateway_up()
        self._spawn(self._read_then_wake(self.backfill()), "discussions-backfill")

    @commands.Cog.listener()
    async def on_disconnect(self) -> None:
        # Until the next session's history read, live posts must not move the cursors.
        self.recorder.gateway_down()

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
            self.bot.scheduler.wake(JOB, info.opens_at)
            await reply_private(
                target,
                f"Scheduled prompt #{info.id} “{info.title}” for {info.module_code}: it is "
                f"posted {when(info.opens_at)} and closes {when(info.closes_at)} "
                f"({info.rubric_name} rubric, {info.max_score.normalize():f} points).",
            )

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
            self.bot.scheduler.wake(JOB, info.opens_at)
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
        reason: str | None = None,
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
        after = " The student is told of the change privately." if result.released else ""
        await reply_private(
            interaction,
            f"{result.student_name} on prompt #{result.prompt.id}: {result.summary}." + after,
        )
        if result.released:
            self.wake()

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
            self.wake()

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
            self.wake()
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
            await reply_private(interaction, mine.note or "Nothing to show.")
            return
        lines = []
        for row in mine.rows:
            state = "released" if row.released else "provisional"
            line = f"#{row.prompt.id} **{row.prompt.title}** ({row.prompt.module_code}, {state}): "
            line += row.summary
            if row.extension_until is not None:
                line += f"; your extension runs to {when(row.extension_until)}"
            if row.feedback:
                line += f"\n> Feedback: {row.feedback}"
            lines.append(line)
        await send_long(interaction, "\n".join(lines))

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
            interaction, service.submit_answer, prompt_id, text=text, reply_to=reply_to
        )
        for message in plan.messages:
            await self.bot.chat.post(plan.thread_id, OutgoingMessage(message))
        if plan.add_member is not None:
            await self.bot.chat.add_thread_member(plan.thread_id, plan.add_member)
        await send_private(interaction, content=plan.note)
