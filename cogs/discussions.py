"""Graded discussion prompts on Discord: the /prompt commands, the Answer form, and recording.

Thin adapter: every command opens the roster-checked context, calls one service function in
``bot.discussions`` and renders what it returns. Thread messages, edits and deletions go to the
group-commit recorder; scheduled opening, closing and mark messages run as due work.
"""

from __future__ import annotations

import asyncio
import io
import logging
import re
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

import discord
from discord import app_commands
from discord.ext import commands

from bot.chat import ChatError, OutgoingMessage
from bot.discord_app import CohortBot
from bot.discord_chat import chat_user, to_chat_message, wire_from_discord
from bot.discussions import due, service
from bot.discussions.answers import ANSWER_MAX_CHARS
from bot.discussions.grades_csv import MAX_CSV_BYTES
from bot.discussions.recorder import Recorder
from bot.discussions.recording import GATEWAY_TAG, watched_threads
from bot.discussions.render import BODY_MAX_CHARS, when
from bot.discussions.text import split_for_discord
from bot.errors import UserError
from cogs._common import NO_PINGS, CheckedModal, command_context, reply_private
from cogs._delivery import told_sentence

log = logging.getLogger(__name__)

GENERIC_FAILURE = "Something went wrong on our side; it has been logged. Please try again later."
_SETUP = "cohortlab.demo.steps.s20_discussions"


def _extras(audience: str, example: dict[str, Any], setup: str | None = None) -> dict[str, Any]:
    data: dict[str, Any] = {"audience": audience, "example": example}
    if setup is not None:
        data["setup"] = f"{_SETUP}:{setup}"
    return data


async def _guard(interaction: discord.Interaction, work: Callable[[], Awaitable[None]]) -> None:
    """Modals and buttons are not app commands: map refusals to one private sentence here."""
    try:
        await work()
    except UserError as exc:
        await reply_private(interaction, exc.sentence)
    except Exception:
        log.exception("discussion interaction failed")
        await reply_private(interaction, GENERIC_FAILURE)


async def _send_long(interaction: discord.Interaction, text: str, **extra: Any) -> None:
    """A private answer of any length: split at paragraph breaks into several messages."""
    chunks = split_for_discord(text) or ["(nothing)"]
    for index, chunk in enumerate(chunks):
        last = index == len(chunks) - 1
        kwargs = extra if last else {}
        if interaction.response.is_done():
            await interaction.followup.send(
                chunk, ephemeral=True, allowed_mentions=NO_PINGS, **kwargs
            )
        else:
            await interaction.response.send_message(
                chunk, ephemeral=True, allowed_mentions=NO_PINGS, **kwargs
            )


class AnswerButton(
    discord.ui.DynamicItem[discord.ui.Button[Any]],
    template=re.escape(due.ANSWER_PREFIX) + r"(?P<id>\d+)",
):
    """The Answer button under a "post before you see others" prompt; survives restarts."""

    def __init__(self, prompt_id: int) -> None:
        super().__init__(
            discord.ui.Button(
                label="Answer",
                style=discord.ButtonStyle.primary,
                custom_id=f"{due.ANSWER_PREFIX}{prompt_id}",
            )
        )
        self.prompt_id = prompt_id

    @classmethod
    async def from_custom_id(
        cls,
        interaction: discord.Interaction,
        item: discord.ui.Item[Any],
        match: re.Match[str],
        /,
    ) -> AnswerButton:
        return cls(int(match["id"]))

    async def callback(self, interaction: discord.Interaction) -> None:
        cog = interaction.client.get_cog("Discussions")  # type: ignore[attr-defined]
        assert isinstance(cog, Discussions)
        await cog.open_answer_form(interaction, self.prompt_id)


class PromptTextModal(CheckedModal):
    """The prompt's long text, typed in a form (a command option holds one line)."""

    def __init__(
        self,
        submit: Callable[[discord.Interaction, str], Awaitable[None]],
        *,
        opened_by: discord.Interaction,
        default: str = "",
        title: str = "Discussion prompt text",
    ) -> None:
        # discord.py keys open modals by custom_id alone: make it unique per opening.
        super().__init__(
            title=title[:45], custom_id=f"cb:discussions:text:{opened_by.id}", timeout=1800
        )
        self._submit = submit
        self.text: discord.ui.TextInput[PromptTextModal] = discord.ui.TextInput(
            label="Prompt text (what students answer)",
            style=discord.TextStyle.paragraph,
            custom_id="text",
            max_length=BODY_MAX_CHARS,
            default=default or None,
        )
        self.add_item(self.text)

    async def on_submit(self, interaction: discord.Interaction) -> None:
        await _guard(interaction, lambda: self._submit(interaction, self.text.value))


class AnswerModal(CheckedModal):
    """A student's answer; the bot posts it for them (private-answer prompts, late answers)."""

    def __init__(
        self, cog: Discussions, prompt_id: int, title: str, opened_by: discord.Interaction
    ) -> None:
        super().__init__(
            title=f"Answer: {title}"[:45],
            custom_id=f"cb:discussions:answer-form:{prompt_id}:{opened_by.id}",
            timeout=3600,
        )
        self.cog = cog
        self.prompt_id = prompt_id
        self.answer: discord.ui.TextInput[AnswerModal] = discord.ui.TextInput(
            label="Your answer",
            style=discord.TextStyle.paragraph,
            custom_id="answer",
            max_length=ANSWER_MAX_CHARS,
        )
        self.reply_to: discord.ui.TextInput[AnswerModal] = discord.ui.TextInput(
            label="Replying to (link of a classmate's post)",
            style=discord.TextStyle.short,
            custom_id="reply_to",
            required=False,
            max_length=200,
        )
        self.add_item(self.answer)
        self.add_item(self.reply_to)

    async def on_submit(self, interaction: discord.Interaction) -> None:
        await _guard(
            interaction,
            lambda: self.cog.post_answer(
                interaction, self.prompt_id, self.answer.value, self.reply_to.value or None
            ),
        )


class Discussions(commands.Cog):
    """Graded discussion prompts."""

    prompt = app_commands.Group(name="prompt", description="Graded discussion prompts")

    def __init__(self, bot: CohortBot) -> None:
        self.bot = bot
        self.recorder = Recorder(
            bot.db,
            bot.clock,
            bot_user_id=self._bot_user_id,
            writer=bot.settings.recorder_writer,
        )
        self._tasks: set[asyncio.Task[Any]] = set()
        self._due_lock = asyncio.Lock()
        self._closing = False

    def _bot_user_id(self) -> str | None:
        return str(self.bot.user.id) if self.bot.user is not None else None

    # ---------------------------------------------------------------- lifecycle

    async def cog_load(self) -> None:
        async with self.bot.db.session() as session:
            self.recorder.watch(await watched_threads(session, now=self.bot.clock.now()))
        await self.recorder.prime()
        self.bot.add_dynamic_items(AnswerButton)
        self.bot.add_message_tap(self._tap)
        self.bot.scheduler.register("discussions", self._run_due)

    async def cog_unload(self) -> None:
        """The clean-shutdown path (bot.close unloads cogs): finish the due work under way
        (a mark message half sent would otherwise wait for its claim to go stale), then write
        what is queued."""
        self._closing = True
        self.bot.remove_message_tap(self._tap)
        try:
            await asyncio.wait_for(self._due_lock.acquire(), timeout=15)
            self._due_lock.release()
        except TimeoutError:
            log.warning("stopping while discussion due work is still running")
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
        if self._closing:
            return
        async with self._due_lock:
            await self.recorder.flush()
            await self._refresh_watch()
            report = await due.run_due(
                self.bot.db,
                self.bot.chat,
                now=self.bot.clock.now(),
                thread_read=self._thread_read,
                ledger_lock=self.recorder.ledger_lock,
            )
            # Threads it just made: read back whatever was posted before they were watched.
            self.recorder.watch(report.opened)
            await self._read_unread()
            following = await due.next_due(self.bot.db)
        now = self.bot.clock.now()
        if following is not None and following > now:
            # Closings wake the scheduler as openings do: on time, not at the next tick. (What
            # is overdue, e.g. a close that failed, waits for the tick: no busy retry.) The
            # scheduler keeps real time; the bot's clock may be a demo's, hence the offset.
            self.bot.scheduler.wake(
                "discussions", datetime.now(UTC) + (following - now), key="next"
            )

    async def _thread_read(self, thread_id: str) -> bool:
        """Whether the thread is read whole, reading it now if the gateway is up (a prompt is
        closed only then: ``due.run_due``)."""
        if not self.recorder.is_read_through(thread_id) and self.recorder.live:
            await self.recorder.backfill(self.bot.chat, [thread_id])
        return self.recorder.is_read_through(thread_id)

    async def _refresh_watch(self) -> None:
        """Pick up threads opened by another process, and read those not read through."""
        async with self.bot.db.session() as session:
            threads = await watched_threads(session, now=self.bot.clock.now())
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
        self.bot.scheduler.wake("discussions")

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

    @prompt.command(
        name="create",
        description="Schedule a graded discussion prompt (the text is asked for in a form).",
        extras=_extras(
            "staff",
            {
                "module": "MATH70097",
                "title": "Week 1: bias and variance",
                "opens": "2030-01-19 09:00",
                "closes": "2030-01-23 17:00",
                "text": "Where have you met the bias-variance trade-off in your own work?",
            },
        ),
    )
    @app_commands.describe(
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
        async with command_context(self.bot, interaction) as ctx:
            draft = await service.prepare_prompt(
                ctx.session,
                ctx.caller,
                ctx.cohort,
                module_code=module,
                title=title,
                opens=opens,
                closes=closes,
                rubric=rubric,
                private_answers=private_answers,
                now=self.bot.clock.now(),
            )

        async def finish(target: discord.Interaction, body: str) -> None:
            async with command_context(self.bot, target) as ctx:
                info = await service.create_prompt(
                    ctx.session,
                    ctx.caller,
                    ctx.cohort,
                    module_code=module,
                    title=title,
                    body=body,
                    opens=opens,
                    closes=closes,
                    rubric=rubric,
                    private_answers=private_answers,
                    now=self.bot.clock.now(),
                )
            self.bot.scheduler.wake("discussions", info.opens_at)
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

    @prompt.command(
        name="list",
        description="A module's discussion prompts and where each stands.",
        extras=_extras("staff", {"module": "MATH70097"}),
    )
    @app_commands.describe(module="Module code, e.g. MATH70097")
    async def list_(self, interaction: discord.Interaction, module: str) -> None:
        async with command_context(self.bot, interaction) as ctx:
            prompts = await service.list_prompts(
                ctx.session, ctx.caller, ctx.cohort, module_code=module
            )
        if not prompts:
            await reply_private(interaction, f"{module.upper()} has no discussion prompts yet.")
            return
        await _send_long(interaction, "\n".join(p.line for p in prompts))

    @prompt.command(
        name="edit",
        description="Change a prompt that has not opened yet.",
        extras=_extras("staff", {"title": "Week 1 (revised)"}, setup="setup_scheduled_prompt"),
    )
    @app_commands.describe(
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
            async with command_context(self.bot, target) as ctx:
                info = await service.edit_prompt(
                    ctx.session,
                    ctx.caller,
                    ctx.cohort,
                    prompt,
                    title=title,
                    body=body,
                    opens=opens,
                    closes=closes,
                    rubric=rubric,
                    private_answers=private_answers,
                    now=self.bot.clock.now(),
                )
            self.bot.scheduler.wake("discussions", info.opens_at)
            await reply_private(target, f"Updated: {info.line}")

        if not edit_text or text is not None:
            await apply(interaction, text)
            return
        async with command_context(self.bot, interaction) as ctx:
            current = await service.prompt_for_edit(ctx.session, ctx.caller, ctx.cohort, prompt)
        await interaction.response.send_modal(
            PromptTextModal(
                apply,
                opened_by=interaction,
                default=current.body,
                title=f"Edit prompt #{current.id}",
            )
        )

    @prompt.command(
        name="close",
        description="Close a prompt now (locks its thread and posts the summary).",
        extras=_extras("staff", {}, setup="setup_open_prompt"),
    )
    async def close(self, interaction: discord.Interaction, prompt: int) -> None:
        async with command_context(self.bot, interaction) as ctx:
            info = await service.close_early(
                ctx.session, ctx.caller, ctx.cohort, prompt, now=self.bot.clock.now()
            )
        self.recorder.forget_close_times()
        await reply_private(
            interaction, f"Prompt #{info.id} “{info.title}” closes now; its thread is locked."
        )
        try:
            await self._run_due()
        except Exception:
            log.exception("closing prompt %s early: the due work failed; it retries", info.id)

    @prompt.command(
        name="extend",
        description="Reopen a prompt for one student until a new time (an extension).",
        extras=_extras("staff", {"student": "amara.codes"}, setup="setup_open_prompt"),
    )
    @app_commands.describe(until="Their new deadline, e.g. 2026-01-30 17:00", reason="Reference")
    async def extend(
        self,
        interaction: discord.Interaction,
        prompt: int,
        student: discord.User,
        until: str,
        reason: str | None = None,
    ) -> None:
        async with command_context(self.bot, interaction) as ctx:
            result = await service.grant_extension(
                ctx.session,
                ctx.caller,
                ctx.cohort,
                prompt,
                student=chat_user(student),
                until=until,
                reason=reason,
                now=self.bot.clock.now(),
            )
        self.recorder.forget_close_times()
        told = "They were told privately."
        try:
            await self.bot.chat.dm(str(student.id), OutgoingMessage(result.notice))
        except ChatError as exc:
            told = f"They could not be told by DM ({exc.kind.value}); please tell them."
        await reply_private(
            interaction,
            f"{result.student_name} has until {when(result.until)} for prompt "
            f"#{result.prompt.id}. {told}",
        )

    @prompt.command(
        name="grade",
        description="Give one student quality points and/or feedback on a prompt.",
        extras=_extras(
            "staff", {"student": "amara.codes", "quality": "3"}, setup="setup_closed_prompt"
        ),
    )
    @app_commands.describe(quality="Quality points, e.g. 3 or 2.5", feedback="Feedback they see")
    async def grade(
        self,
        interaction: discord.Interaction,
        prompt: int,
        student: discord.User,
        quality: str | None = None,
        feedback: str | None = None,
    ) -> None:
        async with command_context(self.bot, interaction) as ctx:
            result = await service.grade(
                ctx.session,
                ctx.caller,
                ctx.cohort,
                prompt,
                student=chat_user(student),
                quality=quality,
                feedback=feedback,
                now=self.bot.clock.now(),
            )
        after = " The student is told of the change privately." if result.released else ""
        await reply_private(
            interaction,
            f"{result.student_name} on prompt #{result.prompt.id}: {result.summary}." + after,
        )
        if result.released:
            self.bot.scheduler.wake("discussions")

    @prompt.command(
        name="grade-csv",
        description="Quality points and feedback for many students from a CSV file.",
        extras=_extras("staff", {}, setup="setup_grades_csv"),
    )
    @app_commands.describe(file="CSV with student_number (or discord), quality_points, feedback")
    async def grade_csv(
        self, interaction: discord.Interaction, prompt: int, file: discord.Attachment
    ) -> None:

        async def download() -> bytes | None:
            return await file.read() if file.size <= MAX_CSV_BYTES else None

        async with command_context(self.bot, interaction) as ctx:
            result = await service.grade_csv(
                ctx.session,
                ctx.caller,
                ctx.cohort,
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
            self.bot.scheduler.wake("discussions")

    @prompt.command(
        name="scores",
        description="Every student's provisional score on a prompt, with a CSV to grade from.",
        extras=_extras("staff", {}, setup="setup_closed_prompt"),
    )
    async def scores(self, interaction: discord.Interaction, prompt: int) -> None:
        await self.recorder.flush()
        async with command_context(self.bot, interaction) as ctx:
            table = await service.score_table(
                ctx.session, ctx.caller, ctx.cohort, prompt, now=self.bot.clock.now()
            )
        state = "released" if table.prompt.released_at else "provisional, not released"
        head = f"Prompt #{table.prompt.id} “{table.prompt.title}” ({state}):"
        lines = [head] + [
            row.line + (f" [{row.notified}]" if row.notified else "") for row in table.rows
        ]
        await _send_long(
            interaction,
            "\n".join(lines),
            file=discord.File(io.BytesIO(table.csv_data), filename=table.csv_name),
        )

    @prompt.command(
        name="release",
        description="Release a closed prompt's marks; each student is told privately.",
        extras=_extras("staff", {}, setup="setup_closed_prompt"),
    )
    async def release(self, interaction: discord.Interaction, prompt: int) -> None:
        await interaction.response.defer(ephemeral=True, thinking=True)
        await self.recorder.flush()
        async with command_context(self.bot, interaction) as ctx:
            result = await service.release(
                ctx.session, ctx.caller, ctx.cohort, prompt, now=self.bot.clock.now()
            )
        try:
            await self._run_due()
        except Exception:
            log.exception("releasing prompt %s: sending the marks failed; it retries", prompt)
            self.bot.scheduler.wake("discussions")
        async with self.bot.db.session() as session:
            told = await service.release_delivery(session, result.prompt.id)
        await reply_private(
            interaction,
            f"Released the marks of prompt #{result.prompt.id} “{result.prompt.title}” for "
            f"{result.students} students: "
            + told_sentence(told, "student", "students", "told privately"),
        )

    # ---------------------------------------------------------- student commands

    @prompt.command(
        name="mine",
        description="Your provisional score on each discussion prompt, and why.",
        extras=_extras("member", {}),
    )
    async def mine(self, interaction: discord.Interaction, prompt: int | None = None) -> None:
        await self.recorder.flush()
        async with command_context(self.bot, interaction) as ctx:
            mine = await service.my_scores(
                ctx.session, ctx.caller, ctx.cohort, prompt_id=prompt, now=self.bot.clock.now()
            )
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
        await _send_long(interaction, "\n".join(lines))

    @prompt.command(
        name="answer",
        description="Answer a prompt through a form (private-answer prompts, extensions).",
        extras=_extras("student", {}, setup="setup_private_prompt"),
    )
    async def answer(self, interaction: discord.Interaction, prompt: int) -> None:
        await self.open_answer_form(interaction, prompt)

    async def open_answer_form(self, interaction: discord.Interaction, prompt_id: int) -> None:
        async def work() -> None:
            async with command_context(self.bot, interaction) as ctx:
                info = await service.begin_answer(
                    ctx.session, ctx.caller, ctx.cohort, prompt_id, now=self.bot.clock.now()
                )
            await interaction.response.send_modal(
                AnswerModal(self, prompt_id, info.title, interaction)
            )

        if interaction.type == discord.InteractionType.application_command:
            await work()  # the command tree's handler maps refusals
        else:
            await _guard(interaction, work)

    async def post_answer(
        self, interaction: discord.Interaction, prompt_id: int, text: str, reply_to: str | None
    ) -> None:
        await interaction.response.defer(ephemeral=True, thinking=True)
        async with command_context(self.bot, interaction) as ctx:
            plan = await service.submit_answer(
                ctx.session,
                ctx.caller,
                ctx.cohort,
                prompt_id,
                text=text,
                reply_to=reply_to,
                now=self.bot.clock.now(),
            )
        for message in plan.messages:
            await self.bot.chat.post(plan.thread_id, OutgoingMessage(message))
        if plan.add_member is not None:
            await self.bot.chat.add_thread_member(plan.thread_id, plan.add_member)
        await interaction.followup.send(plan.note, ephemeral=True, allowed_mentions=NO_PINGS)


async def setup(bot: commands.Bot) -> None:
    assert isinstance(bot, CohortBot)
    await bot.add_cog(Discussions(bot))
