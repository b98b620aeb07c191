"""Nothing lost (issue 13, points 1-5): every post reaches the record and the ledger, across
restarts, openings and closes; closes happen on time; a prompt without a channel says so.

The restart tests run ``cohortbot run`` as its own process (real clock, default start-up
settings) against the local Discord server, kill it with SIGKILL and post while it is down.
"""

from __future__ import annotations

import asyncio
import csv
import io
import logging
import signal
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any, TypeVar

import pytest
from sqlalchemy import func, select, update

from bot.db.engine import Database
from bot.db.migrate import upgrade
from bot.db.models import (
    Contribution,
    ContributionRevision,
    DiscussionPrompt,
    LedgerEntry,
    LedgerSource,
    Module,
    Person,
    PromptStatus,
)
from bot.discussions.render import closing_marker
from bot.discussions.rubric import preset
from bot.gradebook.reconcile import reconcile
from cohortlab.localdiscord.models import PUBLIC_THREAD, Channel
from cohortlab.localdiscord.server import LocalDiscordServer
from cohortlab.sandbox import Sandbox, World, build_world, example_texts
from tests.e2e.test_discussions import (
    MODULE,
    at,
    eventually,
    open_prompt,
    recorded,
    schedule,
    tutor,
    words,
)
from tests.e2e.test_discussions_crash import _start_bot

pytestmark = pytest.mark.e2e

T = TypeVar("T")


async def _until(
    check: Callable[[], Awaitable[T | None]],
    what: str,
    timeout: float = 60.0,  # noqa: ASYNC109
) -> T:
    return await eventually(check, what=what, timeout=timeout)


async def _seed_open_prompt(
    server: LocalDiscordServer, db: Database, closes_at: datetime
) -> tuple[World, Channel, int]:
    """The example cohort with one open prompt and its thread, as a bot left them."""
    programme, roster = example_texts()
    world = await build_world(server, db, programme_text=programme, roster_text=roster)
    channel = world.channel(MODULE)
    thread = server.state.start_thread(server.bot_user_id, channel.id, "Week 1", type=PUBLIC_THREAD)
    server.commit()
    prompt_id = await _open_prompt_row(
        db, channel, thread, opens_at=datetime.now(UTC) - timedelta(hours=1), closes_at=closes_at
    )
    return world, thread, prompt_id


async def _open_prompt_row(
    db: Database,
    channel: Channel,
    thread: Channel | None,
    *,
    opens_at: datetime,
    closes_at: datetime,
) -> int:
    """The open prompt a bot process leaves once it has opened ``thread`` (None: a prompt
    scheduled to open at ``opens_at``, as ``/prompt create`` leaves it)."""
    async with db.session() as s:
        module = (await s.execute(select(Module).where(Module.code == MODULE))).scalar_one()
        prompt = DiscussionPrompt(
            module_id=module.id,
            title="Week 1",
            body="Discuss.",
            opens_at=opens_at,
            closes_at=closes_at,
            rubric=preset("standard").to_dict(),
            status=PromptStatus.SCHEDULED if thread is None else PromptStatus.OPEN,
            channel_id=str(channel.id),
            thread_id=None if thread is None else str(thread.id),
        )
        s.add(prompt)
        await s.flush()
        return prompt.id


FIRST = "my first thoughts " * 5


def _answer_edit_and_delete(
    server: LocalDiscordServer, student: int, thread_id: int
) -> tuple[str, str]:
    """A student answers, posts something by mistake, edits the answer and deletes the
    mistake, quickly; returns the two message ids (answer, mistake)."""
    answer = server.state.create_message(student, thread_id, FIRST)
    mistake = server.state.create_message(student, thread_id, "posted by mistake " * 5)
    server.commit()
    server.state.edit_message(student, thread_id, answer.id, {"content": "my second thoughts " * 6})
    server.state.delete_message(student, thread_id, mistake.id)
    server.commit()
    return str(answer.id), str(mistake.id)


async def _edit_and_deletion_kept(db: Database, answer: str, mistake: str) -> None:
    """Wait until the answer's earlier text is kept as its one revision and the mistake is
    flagged deleted."""

    async def kept() -> list[str] | None:
        async with db.session() as s:
            old = (
                (
                    await s.execute(
                        select(ContributionRevision.content)
                        .join(Contribution, Contribution.id == ContributionRevision.contribution_id)
                        .where(Contribution.message_id == answer)
                    )
                )
                .scalars()
                .all()
            )
            gone = (
                await s.execute(
                    select(Contribution.deleted_at).where(Contribution.message_id == mistake)
                )
            ).scalar_one_or_none()
        return list(old) if old and gone is not None else None

    old = await _until(kept, "the edit's earlier text and the deletion recorded", timeout=15)
    assert old == [FIRST]


async def _stored_ids(db: Database) -> list[str]:
    async with db.session() as s:
        return list((await s.execute(select(Contribution.message_id))).scalars().all())


async def _stop(proc: asyncio.subprocess.Process | None) -> None:
    if proc is not None and proc.returncode is None:
        proc.kill()
        await proc.wait()


@pytest.mark.slow
async def test_posts_made_while_the_bot_was_killed_are_recorded_and_credited(
    tmp_path: Path, e2e_url: str
) -> None:
    """Point 1: on-time and late posts made while the bot is down, a close that passed
    meanwhile, and a live post as it comes back: all recorded once, then closed and credited."""
    db_url = e2e_url
    async with LocalDiscordServer() as server:
        db = Database(db_url)
        await upgrade(db)
        world, thread, prompt_id = await _seed_open_prompt(
            server, db, datetime.now(UTC) + timedelta(days=2)
        )
        students = world.students(MODULE)
        # The default start-up (2 s for the server's member list before READY): the window in
        # which a restarted bot used to close the prompt, or take a live post, before reading.
        first = await _start_bot(server, db_url, tmp_path, COHORTBOT_GUILD_READY_TIMEOUT="2")
        second = None
        try:
            await server.script.wait_for_commands(timeout=30, names=["prompt"])
            await server.script.wait_for_connection(timeout=30)
            live = [
                server.state.create_message(students[n].id, thread.id, words(160, f"live{n}"))
                for n in range(2)
            ]
            server.commit()
            await _until(lambda: _has(db, {str(m.id) for m in live}), "the live posts recorded", 30)
            identified = server.gateway.count("identify")
            first.send_signal(signal.SIGKILL)
            await asyncio.wait_for(first.wait(), timeout=30)

            # While it is down: posts on time, the close passes, late posts.
            closes_at = datetime.now(UTC) + timedelta(seconds=1)
            async with db.session() as s:
                await s.execute(
                    update(DiscussionPrompt)
                    .where(DiscussionPrompt.id == prompt_id)
                    .values(closes_at=closes_at)
                )
            on_time = [
                server.state.create_message(students[n].id, thread.id, words(160, f"ontime{n}"))
                for n in range(2, 5)
            ]
            server.commit()
            # the close passes (real time: the bot runs on the system clock)
            await asyncio.sleep((closes_at - datetime.now(UTC)).total_seconds() + 0.3)
            late = [
                server.state.create_message(students[n].id, thread.id, words(160, f"late{n}"))
                for n in range(5, 7)
            ]
            server.commit()

            second = await _start_bot(server, db_url, tmp_path, COHORTBOT_GUILD_READY_TIMEOUT="2")
            await server.wait_until(
                lambda: server.gateway.count("identify") > identified or None,
                timeout=30,
                describe=lambda: "the restarted bot did not connect",
            )
            # A live post about a second after the restart, before the history read.
            after_restart = server.state.create_message(
                students[7].id, thread.id, words(160, "restart")
            )
            server.commit()
            posted = live + on_time + late + [after_restart]
            wanted = {str(m.id) for m in posted}

            async def closed_and_recorded() -> bool:
                async with db.session() as s:
                    prompt = await s.get(DiscussionPrompt, prompt_id)
                    assert prompt is not None
                    status = prompt.status
                return status == PromptStatus.CLOSED and await _has(db, wanted)

            await _until(closed_and_recorded, "the prompt closed with every post recorded")
            await asyncio.sleep(0.5)  # anything counted twice would show up now
            ids = await _stored_ids(db)
            assert sorted(ids) == sorted(wanted)  # each exactly once

            summaries = [
                m for m in server.script.messages(thread) if closing_marker(prompt_id) in m.content
            ]
            assert len(summaries) == 1
            # the summary counts the answers made while the bot was down and as it came back
            assert f"{len(posted)} of " in summaries[0].content, summaries[0].content

            async def credited() -> dict[int, Decimal] | None:
                async with db.session() as s:
                    rows = (
                        await s.execute(
                            select(Person.platform_user_id, func.sum(LedgerEntry.points))
                            .join(Person, Person.id == LedgerEntry.person_id)
                            .where(LedgerEntry.source == LedgerSource.DISCUSSION_POST)
                            .group_by(Person.platform_user_id)
                        )
                    ).all()
                got = {int(uid): Decimal(points) for uid, points in rows}
                return got if len(got) == len(posted) else None

            points = await _until(credited, "every poster credited")
            initial = preset("standard").initial_points
            for message in live + on_time:
                assert points[message.author_id] == initial
            for message in [*late, after_restart]:
                assert points[message.author_id] == preset("standard").late_points(initial)
            async with db.session() as s:
                module_id = (
                    await s.execute(select(Module.id).where(Module.code == MODULE))
                ).scalar_one()
                assert (await reconcile(s, module_id)).discrepancies == ()

            second.send_signal(signal.SIGTERM)
            _, err = await asyncio.wait_for(second.communicate(), timeout=30)
            assert second.returncode == 0, err.decode()[-2000:]
        finally:
            await _stop(first)
            await _stop(second)
            await db.dispose()


async def _has(db: Database, wanted: set[str]) -> bool:
    return wanted <= set(await _stored_ids(db))


async def _three_opening(sandbox: Sandbox, world: World) -> tuple[asyncio.Task[None], int]:
    """Three prompts start opening together; returns the opening (still under way) and the
    first prompt's thread, as soon as it exists."""
    server = sandbox.server
    channel = world.channel(MODULE)
    for n in range(3):
        await schedule(sandbox, world, title=f"Week {n + 1}")
    # Each post in the channel takes a moment: the later prompts are still being posted
    # while the first thread already exists.
    server.delay_route("/channels/{channel_id}/messages", 0.5, method="POST")
    sandbox.clock.advance(timedelta(hours=1, minutes=1))
    opening = asyncio.create_task(sandbox.run_due())
    first = await server.wait_until(
        lambda: next((m for m in server.script.messages(channel) if m.thread_id is not None), None),
        timeout=15,
        describe=lambda: "no prompt thread was created",
    )
    assert first.thread_id is not None
    return opening, first.thread_id


async def test_a_post_made_as_its_thread_opens_is_recorded(sandbox: Sandbox, world: World) -> None:
    """Point 2: several prompts open together; a student posts in the first thread the
    moment it exists, before the bot has finished opening the others."""
    server = sandbox.server
    opening, thread_id = await _three_opening(sandbox, world)
    early = server.state.create_message(world.students(MODULE)[0].id, thread_id, "first!")
    server.commit()
    await opening
    async with sandbox.db.session() as s:
        opened = (
            await s.execute(
                select(func.count())
                .select_from(DiscussionPrompt)
                .where(DiscussionPrompt.status == PromptStatus.OPEN)
            )
        ).scalar_one()
    assert opened == 3
    await recorded(sandbox, str(early.id), timeout=10)


async def test_an_edit_and_a_deletion_made_as_its_thread_opens_are_recorded(
    sandbox: Sandbox, world: World
) -> None:
    """A student answers in the first thread as soon as it is there, edits the answer and
    deletes another post, all before the bot has finished opening the other prompts: the
    earlier text is kept as a revision and the deletion is recorded. (A thread watched only
    after every prompt had opened would be read back later as it then stood, losing both.)"""
    opening, thread_id = await _three_opening(sandbox, world)
    # The student needs a moment to read the prompt; the bot is listening to the thread by then.
    recorder = sandbox.app.bot.get_cog("Discussions").recorder
    thread = str(thread_id)

    async def listening() -> bool:
        return bool(recorder.watches(thread))

    await eventually(listening, what="the bot listening to the new thread", timeout=15)
    assert not opening.done(), "the bot listened to the thread only once every prompt had opened"
    answer, mistake = _answer_edit_and_delete(
        sandbox.server, world.students(MODULE)[0].id, thread_id
    )
    await opening
    await _edit_and_deletion_kept(sandbox.db, answer, mistake)


async def test_what_happens_in_a_thread_another_process_opened_is_recorded_as_it_happened(
    sandbox: Sandbox, world: World
) -> None:
    """Another process opened the prompt (and was then killed); this one hears of the thread
    only at its next run of the due work. A post, its edit and a deletion made before that are
    recorded as they happened: the earlier text kept as a revision, the deletion kept, not the
    thread as a history read finds it later."""
    server = sandbox.server
    channel = world.channel(MODULE)
    thread = server.state.start_thread(server.bot_user_id, channel.id, "Week 1", type=PUBLIC_THREAD)
    server.commit()
    now = sandbox.clock.now()
    await _open_prompt_row(
        sandbox.db,
        channel,
        thread,
        opens_at=now - timedelta(minutes=5),
        closes_at=now + timedelta(days=2),
    )
    answer, mistake = _answer_edit_and_delete(server, world.students(MODULE)[0].id, thread.id)
    # A command answered after those events were sent: the bot has taken them in by then.
    await (await tutor(world).command("about", where=channel)).reply()
    assert await _stored_ids(sandbox.db) == []

    await sandbox.run_due()  # this process's next run: it hears of the thread
    await _edit_and_deletion_kept(sandbox.db, answer, mistake)


@pytest.mark.slow
async def test_a_process_killed_right_after_opening_a_prompt_loses_no_edit_or_deletion(
    tmp_path: Path, e2e_url: str
) -> None:
    """Two ``cohortbot run`` processes share the database; the one that opens a prompt is
    killed (SIGKILL) as soon as the prompt is open. A student answers, edits the answer and
    deletes a post at once: the other process, which had not heard of the thread yet, records
    them as they happened (the earlier text kept, the deletion flagged)."""
    async with LocalDiscordServer() as server:
        db = Database(e2e_url)
        await upgrade(db)
        programme, roster = example_texts()
        world = await build_world(server, db, programme_text=programme, roster_text=roster)
        channel = world.channel(MODULE)
        prompt_id = await _open_prompt_row(
            db,
            channel,
            None,
            opens_at=datetime.now(UTC) + timedelta(seconds=8),
            closes_at=datetime.now(UTC) + timedelta(days=2),
        )
        logs = [tmp_path / "a.log", tmp_path / "b.log"]
        bots = [
            await _start_bot(
                server,
                e2e_url,
                tmp_path,
                log,
                COHORTBOT_LOG_LEVEL="INFO",
                COHORTBOT_SCHEDULER_TICK_SECONDS="5",
            )
            for log in logs
        ]
        try:

            async def opened() -> DiscussionPrompt | None:
                async with db.session() as s:
                    prompt = await s.get(DiscussionPrompt, prompt_id)
                return prompt if prompt and prompt.status == PromptStatus.OPEN else None

            prompt = await _until(opened, "the prompt opened", timeout=60)
            assert prompt.thread_id is not None
            said = [log.read_text(errors="replace") for log in logs]
            [opener] = [n for n, text in enumerate(said) if f"prompt {prompt_id} opened" in text]
            bots[opener].send_signal(signal.SIGKILL)
            await bots[opener].wait()
            answer, mistake = _answer_edit_and_delete(
                server, world.students(MODULE)[0].id, int(prompt.thread_id)
            )
            await _edit_and_deletion_kept(db, answer, mistake)
            assert sorted(await _stored_ids(db)) == sorted([answer, mistake])  # each once
            parts = [
                m.content.splitlines()[-1]
                for m in server.script.messages(channel)
                if f"cohortbot prompt {prompt_id} " in m.content
            ]
            assert parts and len(parts) == len(set(parts))  # the prompt was posted once
        finally:
            for bot in bots:
                await _stop(bot)
            await db.dispose()


async def test_a_late_answer_counts_in_the_gradebook_at_once(
    sandbox: Sandbox, world: World
) -> None:
    """Point 3: after the close, a late answer through the form shows in the tutor's export
    (the ledger) with the same score as the student's own view, before any release."""
    channel = world.channel(MODULE)
    students = world.students(MODULE)
    prompt_id, post = await open_prompt(sandbox, world)
    assert post.thread_id is not None
    on_time = await students[0].post(post.thread_id, words(160))
    await recorded(sandbox, on_time)
    await sandbox.advance(timedelta(days=4, minutes=5))  # closed
    await sandbox.server.script.wait_for_message(post.thread_id, contains="closed")

    latecomer = students[1]
    await (await latecomer.command("prompt answer", where=channel, prompt=prompt_id)).modal()
    answered = await latecomer.submit_modal(answer=words(170, "late"))
    assert "it is late" in (await answered.reply(contains="is posted")).content
    mine = await (await latecomer.command("prompt mine", where=channel, prompt=prompt_id)).reply()
    assert "2/12" in mine.content, mine.content  # half of the initial post's 4 points

    async def exported() -> dict[str, str] | None:
        handle = await tutor(world).command("gradebook export", where=channel, module=MODULE)
        reply = await handle.reply(contains="students")
        data = reply.attachments[0].data.decode("utf-8-sig")
        rows = {r["discord"]: r for r in csv.DictReader(io.StringIO(data))}
        row = rows[latecomer.name]
        return row if Decimal(row["discussion earned"] or 0) == 2 else None

    await eventually(exported, what="the late answer in the tutor's export", timeout=10)


@pytest.mark.slow
async def test_a_prompt_closes_at_its_time_not_at_the_next_tick(
    tmp_path: Path, e2e_url: str
) -> None:
    """Point 4: with an hour between scheduler ticks, a prompt created for the next few
    seconds opens and closes at its times: the scheduler is woken for the close too."""
    db_url = e2e_url
    async with LocalDiscordServer() as server:
        db = Database(db_url)
        await upgrade(db)
        programme, roster = example_texts()
        world = await build_world(server, db, programme_text=programme, roster_text=roster)
        bot = await _start_bot(server, db_url, tmp_path, COHORTBOT_SCHEDULER_TICK_SECONDS="3600")
        try:
            await server.script.wait_for_commands(timeout=30, names=["prompt"])
            await server.script.wait_for_connection(timeout=30)
            now = datetime.now(UTC)
            handle = await tutor(world).command(
                "prompt create",
                where=world.channel(MODULE),
                module=MODULE,
                title="Week 1",
                opens=f"{now + timedelta(seconds=10):%Y-%m-%dT%H:%M:%S}Z",
                closes=f"{now + timedelta(seconds=15):%Y-%m-%dT%H:%M:%S}Z",
                text="A quick one.",
            )
            reply = await handle.reply(contains="Scheduled prompt #", timeout=30)
            prompt_id = int(reply.content.split("#", 1)[1].split(" ", 1)[0])

            async def closed() -> DiscussionPrompt | None:
                async with db.session() as s:
                    prompt = await s.get(DiscussionPrompt, prompt_id)
                    assert prompt is not None
                    return prompt if prompt.status == PromptStatus.CLOSED else None

            prompt = await _until(closed, "the prompt closed well before the next tick", 90)
            assert prompt.thread_id is not None
            thread_id = int(prompt.thread_id)

            async def summarised() -> list[Any] | None:
                found = [
                    m
                    for m in server.script.messages(thread_id)
                    if closing_marker(prompt_id) in m.content
                ]
                return found or None

            # Posted by the outbox right after the close is recorded.
            summaries = await _until(summarised, "the closing summary", 10)
            await asyncio.sleep(1)
            assert len(summaries) == 1 and len(await summarised() or []) == 1
        finally:
            await _stop(bot)
            await db.dispose()


async def test_a_prompt_without_a_channel_is_refused_or_blocked_and_the_tutor_told_once(
    sandbox: Sandbox, world: World, caplog: pytest.LogCaptureFixture
) -> None:
    """Point 5: creating a prompt for a module without a channel is refused in one sentence;
    a channel that disappears before the opening blocks the prompt, shown in /prompt list,
    and its creator is told once by DM, with no error line at every run."""
    channel = world.channel(MODULE)
    teacher = tutor(world)
    prompt_id = await schedule(sandbox, world)

    async with sandbox.db.session() as s:
        module = (await s.execute(select(Module).where(Module.code == MODULE))).scalar_one()
        module.channel_id = None  # the programme names a channel the server lacks
        module.channel_name = "week-discussions"
    now = sandbox.clock.now()
    refused = await (
        await teacher.command(
            "prompt create",
            where=channel,
            module=MODULE,
            title="Week 2",
            opens=at(now + timedelta(hours=2)),
            closes=at(now + timedelta(days=3)),
            text="Another question.",
        )
    ).reply()
    assert refused.content == (
        f"{MODULE} has no channel on this server (looked for #week-discussions), so a prompt "
        "could not be posted; create the channel or fix the programme file first."
    )
    async with sandbox.db.session() as s:
        assert (
            await s.execute(select(func.count()).select_from(DiscussionPrompt))
        ).scalar_one() == 1

    # The channel is deleted on the server after the first prompt was scheduled.
    async with sandbox.db.session() as s:
        module = (await s.execute(select(Module).where(Module.code == MODULE))).scalar_one()
        module.channel_id = "123456789012345678"
    caplog.set_level(logging.INFO, logger="bot.discussions")
    dms_before = len(teacher.dms())
    await sandbox.advance(timedelta(hours=1, minutes=1))
    told = await teacher.wait_for_dm(contains=f"prompt #{prompt_id}")
    assert "could not be posted" in told.content and "missing" in told.content
    for _ in range(3):  # later runs: still blocked, nobody told again, no error lines
        await sandbox.advance(timedelta(minutes=1))
    assert len(teacher.dms()) == dms_before + 1
    assert [r for r in caplog.records if r.levelno >= logging.ERROR] == []
    listed = await (await teacher.command("prompt list", where=channel, module=MODULE)).reply()
    assert f"#{prompt_id}" in listed.content and "blocked:" in listed.content, listed.content
    async with sandbox.db.session() as s:
        prompt = await s.get(DiscussionPrompt, prompt_id)
        assert prompt is not None and prompt.status == PromptStatus.SCHEDULED
