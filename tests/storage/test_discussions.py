"""Discussion evidence on a real database: counted once, edits kept, deletions flagged, late
flags, cursors, scores from stored rows, and the ledger kept in step by reversal."""

from __future__ import annotations

import csv
import io
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncEngine

from bot.access.identity import ChatUser
from bot.access.permissions import load_caller
from bot.chat import ChatMessage
from bot.db.engine import Database
from bot.db.models import (
    ChannelCursor,
    Cohort,
    Contribution,
    ContributionRevision,
    ContributionVia,
    Designation,
    DiscussionPrompt,
    DiscussionScore,
    Enrolment,
    Extension,
    ExtensionStatus,
    LedgerEntry,
    LedgerSource,
    Module,
    Person,
    PromptStatus,
    Role,
)
from bot.discussions import grading, recording, scoring
from bot.discussions.answers import format_relayed
from bot.discussions.grades_csv import parse_grades_csv
from bot.discussions.recording import Incoming, MessageDelete, MessageEdit
from bot.discussions.rubric import StudentScore, preset
from bot.gradebook import ledger
from tests.processes import gone

OPENS = datetime(2026, 1, 19, 9, 0, tzinfo=UTC)
CLOSES = datetime(2026, 1, 23, 17, 0, tzinfo=UTC)
THREAD = "900000000000000001"
BOT = "700000000000000001"
WORDS = "word " * 160


class World:
    def __init__(self, prompt_id: int, module_id: int, people: dict[str, Person]) -> None:
        self.prompt_id = prompt_id
        self.module_id = module_id
        self.people = people
        self._next = 1_000_000_000_000_000_000

    def user(self, name: str) -> ChatUser:
        person = self.people[name]
        assert person.platform_user_id is not None
        return ChatUser(person.platform_user_id, name, person.display_name)

    def message(
        self,
        name: str,
        content: str,
        *,
        at: datetime,
        reply_to: str | None = None,
        mentions: tuple[str, ...] = (),
        bot: bool = False,
    ) -> ChatMessage:
        self._next += 1
        author = ChatUser(BOT, "cohortbot", "cohortbot") if bot else self.user(name)
        return ChatMessage(
            id=str(self._next),
            channel_id=THREAD,
            guild_id="1",
            author=author,
            author_is_bot=bot,
            content=content,
            created_at=at,
            reply_to_id=reply_to,
            mention_ids=mentions,
        )


async def _world(db: Database) -> World:
    async with db.session() as s:
        cohort = Cohort(code="C", name="C")
        s.add(cohort)
        await s.flush()
        module = Module(
            cohort_id=cohort.id,
            code="MATH70097",
            title="Supervised Learning",
            term="Spring",
            ects=5,
            designation=Designation.CORE,
        )
        s.add(module)
        await s.flush()
        people: dict[str, Person] = {}
        for n, name in enumerate(["amy", "bob", "cat", "tutor"], start=1):
            person = Person(
                display_name=name.title(),
                platform_user_id=str(800000000000000000 + n),
                platform_username=name,
            )
            s.add(person)
            await s.flush()
            role = Role.TUTOR if name == "tutor" else Role.STUDENT
            s.add(Enrolment(module_id=module.id, person_id=person.id, role=role))
            people[name] = person
        prompt = DiscussionPrompt(
            module_id=module.id,
            title="Week 1",
            body="Discuss.",
            opens_at=OPENS,
            closes_at=CLOSES,
            rubric=preset("standard").to_dict(),
            status=PromptStatus.OPEN,
            thread_id=THREAD,
        )
        s.add(prompt)
        await s.flush()
        return World(prompt.id, module.id, people)


async def _record(
    db: Database,
    w: World,
    messages: list[ChatMessage],
    *,
    edits: list[MessageEdit] | None = None,
    deletes: list[MessageDelete] | None = None,
    via: ContributionVia = ContributionVia.GATEWAY,
) -> recording.BatchResult:
    async with db.session() as s:
        return await recording.record_batch(
            s,
            {THREAD: w.prompt_id},
            [Incoming(m, via) for m in messages],
            edits or [],
            deletes or [],
            bot_user_id=BOT,
            now=CLOSES,
        )


async def _contributions(db: Database) -> list[Contribution]:
    async with db.session() as s:
        return list(
            (await s.execute(select(Contribution).order_by(Contribution.id))).scalars().all()
        )


async def test_each_message_counts_once_whoever_delivers_it(db: Database) -> None:
    w = await _world(db)
    first = w.message("amy", WORDS, at=OPENS + timedelta(hours=1))
    second = w.message("bob", "short", at=OPENS + timedelta(hours=2))
    result = await _record(db, w, [first, second])
    assert result.inserted == 2
    # A RESUME replay and a history backfill deliver the same messages again.
    again = await _record(db, w, [first, second, first], via=ContributionVia.BACKFILL)
    assert again.inserted == 0
    rows = await _contributions(db)
    assert [(r.message_id, r.words, r.via) for r in rows] == [
        (first.id, 160, ContributionVia.GATEWAY),
        (second.id, 1, ContributionVia.GATEWAY),
    ]
    assert rows[0].person_id == w.people["amy"].id
    async with db.session() as s:
        cursor = await s.get(ChannelCursor, THREAD)
        assert cursor is not None and cursor.last_message_id == second.id


async def test_a_big_batch_with_repeats_stores_every_message_once(db: Database) -> None:
    """A reconnect replays part of what was recorded, and a batch may carry a message twice:
    every message is stored once, with its own author, and the count says what was new."""
    w = await _world(db)
    names = ["amy", "bob", "cat"]
    messages = [
        w.message(names[i % 3], f"answer {i} " + "word " * (i % 7), at=OPENS + timedelta(seconds=i))
        for i in range(1500)
    ]
    assert (await _record(db, w, messages[:600])).inserted == 600
    replay = messages[300:] + messages[1400:]  # 300 already stored, 100 twice in the batch
    assert (await _record(db, w, replay, via=ContributionVia.BACKFILL)).inserted == 900
    rows = await _contributions(db)
    assert sorted(r.message_id for r in rows) == sorted(m.id for m in messages)
    by_id = {r.message_id: r for r in rows}
    for i in (0, 599, 600, 1499):
        row = by_id[messages[i].id]
        assert row.person_id == w.people[names[i % 3]].id
        assert row.words == 2 + i % 7
        assert row.via is (ContributionVia.GATEWAY if i < 600 else ContributionVia.BACKFILL)
        assert row.mentions == [] and row.created_at == OPENS + timedelta(seconds=i)


async def test_cursor_only_moves_forward(db: Database) -> None:
    w = await _world(db)
    older = w.message("amy", "one", at=OPENS + timedelta(hours=1))
    newer = w.message("bob", "two", at=OPENS + timedelta(hours=2))
    await _record(db, w, [newer])
    await _record(db, w, [older])
    async with db.session() as s:
        cursor = await s.get(ChannelCursor, THREAD)
        assert cursor is not None and cursor.last_message_id == newer.id


async def test_edits_keep_history_and_deletions_are_flagged(db: Database) -> None:
    w = await _world(db)
    post = w.message("amy", "first draft", at=OPENS + timedelta(hours=1))
    await _record(db, w, [post])
    edited = post._replace(content="second draft, longer now", edited_at=OPENS + timedelta(hours=2))
    # A replayed edit changes nothing.
    result = await _record(db, w, [], edits=[MessageEdit(edited), MessageEdit(edited)])
    assert result.revised == 1
    deleted = await _record(
        db, w, [], deletes=[MessageDelete(post.id, THREAD, OPENS + timedelta(hours=3))] * 2
    )
    assert deleted.deleted == 1
    (row,) = await _contributions(db)
    assert row.content == "second draft, longer now"
    assert row.words == 4
    assert row.deleted_at == OPENS + timedelta(hours=3)
    async with db.session() as s:
        revisions = (await s.execute(select(ContributionRevision))).scalars().all()
    assert [(r.revision, r.content, r.words) for r in revisions] == [(1, "first draft", 2)]


async def test_late_posts_are_flagged_against_close_and_extension(db: Database) -> None:
    w = await _world(db)
    async with db.session() as s:
        s.add(
            Extension(
                person_id=w.people["bob"].id,
                prompt_id=w.prompt_id,
                new_due_at=CLOSES + timedelta(days=2),
                reason_ref="illness",
                status=ExtensionStatus.APPROVED,
            )
        )
    after_close = CLOSES + timedelta(hours=1)
    await _record(
        db,
        w,
        [
            w.message("amy", WORDS, at=CLOSES - timedelta(minutes=1)),
            w.message("amy", "late", at=after_close),
            w.message("bob", WORDS, at=after_close),
        ],
    )
    assert [r.late for r in await _contributions(db)] == [False, True, False]


async def test_relayed_answers_are_credited_to_the_student_and_others_ignored(
    db: Database,
) -> None:
    w = await _world(db)
    amy = w.people["amy"]
    assert amy.platform_user_id is not None
    (text,) = format_relayed(amy.platform_user_id, WORDS)
    relayed = w.message("", text, at=OPENS + timedelta(hours=1), bot=True)
    summary = w.message("", "🔒 closed", at=OPENS + timedelta(hours=2), bot=True)
    forged = w.message("bob", text, at=OPENS)._replace(author_is_bot=True)
    await _record(db, w, [relayed, summary, forged])
    (row,) = await _contributions(db)
    assert row.person_id == amy.id
    assert row.words == 160
    assert row.via == ContributionVia.MODAL
    async with db.session() as s:  # the cursor still covers the bot's own message
        cursor = await s.get(ChannelCursor, THREAD)
        assert cursor is not None and cursor.last_message_id == forged.id


async def test_scores_use_words_at_close_and_ledger_follows_by_reversal(db: Database) -> None:
    w = await _world(db)
    amy_post = w.message("amy", "too short at the deadline", at=OPENS + timedelta(hours=1))
    bob_post = w.message("bob", WORDS, at=OPENS + timedelta(hours=2))
    amy_reply = w.message("amy", "word " * 60, at=OPENS + timedelta(hours=3), reply_to=bob_post.id)
    await _record(db, w, [amy_post, bob_post, amy_reply])
    padded = amy_post._replace(content=WORDS, edited_at=CLOSES + timedelta(hours=1))
    await _record(db, w, [], edits=[MessageEdit(padded)])
    amy, bob = w.people["amy"].id, w.people["bob"].id

    async def scores(with_quality: bool = True) -> dict[int, StudentScore]:
        async with db.session() as s:
            prompt = await s.get(DiscussionPrompt, w.prompt_id)
            assert prompt is not None
            evidence = await scoring.load_evidence(s, prompt)
            return scoring.score_all(evidence, with_quality=with_quality)

    first = await scores()
    # Padding the post after the close does not meet the minimum retroactively.
    assert first[amy].initial_words == 5 and not first[amy].initial_met
    assert first[amy].replies_credited == 1
    assert first[bob].score == Decimal(4)

    async def sync() -> int:
        async with db.session() as s:
            prompt = await s.get(DiscussionPrompt, w.prompt_id)
            assert prompt is not None
            evidence = await scoring.load_evidence(s, prompt)
            return await scoring.sync_ledger(
                s, prompt, scoring.score_all(evidence, with_quality=True), now=CLOSES
            )

    assert await sync() == 2  # amy's reply, bob's initial post
    assert await sync() == 0  # idempotent

    async with db.session() as s:
        s.add(DiscussionScore(prompt_id=w.prompt_id, person_id=amy, quality_points=Decimal("2.5")))
    assert await sync() == 1
    async with db.session() as s:  # the tutor changes their mind: reversed, credited again
        row = (await s.execute(select(DiscussionScore))).scalar_one()
        row.quality_points = Decimal(3)
    assert await sync() == 2
    assert await sync() == 0
    async with db.session() as s:
        totals = await ledger.totals(s, w.module_id)
        keys = sorted((await s.execute(select(LedgerEntry.idempotency_key))).scalars().all())
        count = (await s.execute(select(func.count()).select_from(LedgerEntry))).scalar_one()
    assert totals[amy][LedgerSource.QUALITY_POINTS] == Decimal(3)
    assert totals[amy][LedgerSource.DISCUSSION_REPLY] == Decimal(2)
    assert totals[bob][LedgerSource.DISCUSSION_POST] == Decimal(4)
    assert count == 5
    quality_keys = [k for k in keys if "quality_points" in k]
    assert len(quality_keys) == 3 and any(k.endswith("#reversed") for k in quality_keys)


async def test_the_scores_csv_keeps_a_formula_name_and_feedback_as_text(db: Database) -> None:
    """A student renamed to a formula, and feedback starting with "-", come out as text in
    ``/prompt scores``' CSV; every other byte is as before, and the file sent back as is
    gives the feedback as the tutor wrote it."""
    w = await _world(db)
    await _record(db, w, [w.message("amy", WORDS, at=OPENS + timedelta(hours=1))])
    amy = w.people["amy"]
    async with db.session() as s:
        s.add(DiscussionScore(prompt_id=w.prompt_id, person_id=amy.id, feedback="- cite more"))
        await s.execute(update(Person).where(Person.id == amy.id).values(student_number="0042"))

    async def table() -> str:
        async with db.session() as s:
            cohort = (await s.execute(select(Cohort))).scalar_one()
            caller = await load_caller(s, cohort.id, w.user("tutor"))
            found = await grading.score_table(s, caller, cohort, w.prompt_id, now=CLOSES)
        return found.csv_data.decode()

    plain = await table()
    link = '=HYPERLINK("https://evil.example","Open")'
    async with db.session() as s:
        await s.execute(update(Person).where(Person.id == amy.id).values(display_name=link))
    renamed = await table()
    before = list(csv.reader(io.StringIO(plain)))
    after = list(csv.reader(io.StringIO(renamed)))
    assert [r[1] for r in after[1:]] == ["'" + link, "Bob", "Cat"]
    assert [r[6] for r in after[1:]] == ["'- cite more", "", ""]
    assert [r[:1] + r[2:] for r in after] == [r[:1] + r[2:] for r in before]
    assert renamed.replace("\"'" + link.replace('"', '""') + '"', "Amy") == plain
    back = parse_grades_csv(renamed.encode())
    assert back.errors == []
    [sent_back] = back.rows
    assert (sent_back.identifier, sent_back.feedback) == ("0042", "- cite more")


async def test_an_edit_racing_its_creation_still_keeps_the_old_text(db: Database) -> None:
    """discord.py may hand the creation handler the already-edited message."""
    w = await _world(db)
    post = w.message("amy", "final text here", at=OPENS + timedelta(hours=1))
    seen_edited = post._replace(edited_at=OPENS + timedelta(hours=2))
    edit = MessageEdit(seen_edited, before="draft")
    assert (await _record(db, w, [seen_edited], edits=[edit])).revised == 1
    assert (await _record(db, w, [], edits=[edit])).revised == 0
    async with db.session() as s:
        revisions = (await s.execute(select(ContributionRevision))).scalars().all()
    assert [(r.content, r.words) for r in revisions] == [("draft", 1)]


async def test_the_recorder_writes_in_batches_and_keeps_a_failed_batch(db: Database) -> None:
    from bot.clock import ManualClock
    from bot.discussions.recorder import Recorder

    w = await _world(db)
    recorder = Recorder(db, ManualClock(CLOSES), bot_user_id=lambda: BOT, retry_delay=0.01)
    await recorder.prime()
    recorder.watch({THREAD: w.prompt_id + 1000})  # a prompt that does not exist: batches fail
    recorder.gateway_up()
    await recorder.backfill(_History([]), [THREAD])  # type: ignore[arg-type]  # read through
    messages = [
        w.message("amy", f"answer {i}", at=OPENS + timedelta(minutes=i)) for i in range(1200)
    ]
    for message in messages:
        recorder.add(message)
    await recorder.flush()
    assert recorder.failures >= 1  # kept queued and retried, never dropped
    assert await _contributions(db) == []

    recorder.threads[THREAD] = w.prompt_id
    recorder.forget_close_times()
    await recorder.flush()
    assert recorder.pending == 0 and recorder.recorded == 1200
    assert recorder.batches == 1  # the whole backlog in one transaction
    recorder.add(messages[0])  # a replay changes nothing
    await recorder.close()
    rows = await _contributions(db)
    assert len(rows) == 1200 and len({r.message_id for r in rows}) == 1200
    async with db.session() as s:
        cursor = await s.get(ChannelCursor, THREAD)
    assert cursor is not None and cursor.last_message_id == messages[-1].id


async def test_a_refused_batch_and_the_one_prepared_behind_it_are_both_kept(
    db: Database,
) -> None:
    """While one batch is written the next may already be taken off the queue and prepared:
    when the first is refused, both stay queued, and once the database takes them every
    message is stored once and each thread's cursor stands on its newest message."""
    from bot.clock import ManualClock
    from bot.discussions.recorder import Recorder

    other = "900000000000000002"
    w = await _world(db)
    recorder = Recorder(
        db,
        ManualClock(CLOSES),
        bot_user_id=lambda: BOT,
        max_rows=500,
        max_batch=500,
        retry_delay=0.01,
    )
    await recorder.prime()
    recorder.watch({other: w.prompt_id + 1000, THREAD: w.prompt_id})  # no such prompt: refused
    recorder.gateway_up()
    await recorder.backfill(_History([]), [other, THREAD])  # type: ignore[arg-type]
    refused = [
        w.message("amy", f"answer {i}", at=OPENS + timedelta(minutes=i))._replace(channel_id=other)
        for i in range(500)
    ]
    behind = [w.message("bob", f"reply {i}", at=OPENS + timedelta(minutes=i)) for i in range(1000)]
    for message in [*refused, *behind]:
        recorder.add(message)
    assert not await recorder.flush()  # the first batch is refused every time
    assert recorder.failures >= 3
    assert recorder.pending == 1500
    assert await _contributions(db) == []

    recorder.threads[other] = w.prompt_id
    recorder.forget_close_times()
    assert await recorder.flush()
    await recorder.close()
    rows = await _contributions(db)
    assert sorted(r.message_id for r in rows) == sorted(m.id for m in [*refused, *behind])
    assert recorder.recorded == 1500
    async with db.session() as s:
        for thread, newest in ((other, refused[-1]), (THREAD, behind[-1])):
            cursor = await s.get(ChannelCursor, thread)
            assert cursor is not None and cursor.last_message_id == newest.id


async def test_a_batch_kept_when_no_connection_can_be_had_is_written_once_one_can(
    db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The loop writes a run of batches on one connection; if none can be had (the database
    restarting), the batch goes back to the queue and is written, once, when one can."""
    from bot.clock import ManualClock
    from bot.discussions.recorder import Recorder

    w = await _world(db)
    if db.dialect == "sqlite":
        pytest.skip("a SQLite file is written by the writer process, on its own connections")
    recorder = Recorder(db, ManualClock(CLOSES), bot_user_id=lambda: BOT, max_rows=100)
    await recorder.prime()
    recorder.watch({THREAD: w.prompt_id})
    recorder.gateway_up()
    await recorder.backfill(_History([]), [THREAD])  # type: ignore[arg-type]
    messages = [
        w.message("amy", f"answer {i}", at=OPENS + timedelta(minutes=i)) for i in range(250)
    ]
    connect = AsyncEngine.connect
    down = True
    refusals = 0

    def restarting(engine: AsyncEngine) -> Any:
        nonlocal refusals
        if down:
            refusals += 1
            raise ConnectionRefusedError("the database is restarting")
        return connect(engine)

    monkeypatch.setattr(AsyncEngine, "connect", restarting)
    for message in messages:
        recorder.add(message)
    assert not await recorder.flush()  # every attempt without a connection
    assert refusals >= 3 and recorder.failures == refusals
    assert await _contributions(db) == [] and recorder.pending == 250
    down = False
    assert await recorder.flush()
    await recorder.close()
    rows = await _contributions(db)
    assert sorted(r.message_id for r in rows) == sorted(m.id for m in messages)
    async with db.session() as s:
        cursor = await s.get(ChannelCursor, THREAD)
        assert cursor is not None and cursor.last_message_id == messages[-1].id


class _History:
    """A thread's history as the platform would return it (oldest first)."""

    def __init__(self, messages: list[ChatMessage]) -> None:
        self.messages = messages

    async def history(
        self, channel_id: str, *, after_id: str | None = None, since: datetime | None = None
    ) -> AsyncIterator[ChatMessage]:
        for message in self.messages:
            if after_id is None or recording.snowflake_key(message.id) > recording.snowflake_key(
                after_id
            ):
                yield message


async def test_a_live_post_does_not_move_the_cursor_past_posts_not_yet_read(
    db: Database,
) -> None:
    """Posts made while the bot was down are read from the cursor however many live posts
    arrive before the read: until the thread is read through, live posts leave the cursor."""
    from bot.clock import ManualClock
    from bot.discussions.recorder import Recorder

    w = await _world(db)
    offline = [w.message("amy", WORDS, at=OPENS + timedelta(minutes=i)) for i in range(3)]
    live = w.message("bob", WORDS, at=OPENS + timedelta(minutes=5))
    recorder = Recorder(db, ManualClock(CLOSES), bot_user_id=lambda: BOT, writer="thread")
    await recorder.prime()
    recorder.watch({THREAD: w.prompt_id})
    recorder.gateway_up()
    recorder.add(live)  # before the start-up read
    await recorder.flush()
    async with db.session() as s:
        assert await s.get(ChannelCursor, THREAD) is None
    assert not recorder.is_read_through(THREAD)

    await recorder.backfill(_History([*offline, live]), [THREAD])  # type: ignore[arg-type]
    assert recorder.is_read_through(THREAD)
    assert sorted(c.message_id for c in await _contributions(db)) == sorted(
        m.id for m in [*offline, live]
    )
    later = w.message("cat", WORDS, at=OPENS + timedelta(minutes=6))
    recorder.add(later)
    await recorder.flush()
    async with db.session() as s:
        cursor = await s.get(ChannelCursor, THREAD)
        assert cursor is not None and cursor.last_message_id == later.id
    recorder.gateway_down()  # a lost session: live posts leave the cursor again
    assert not recorder.is_read_through(THREAD)
    await recorder.close()


async def test_a_post_recorded_after_the_close_is_credited_when_recorded(db: Database) -> None:
    """The ledger follows what is recorded in a closed prompt (late posts), once."""
    from bot.clock import ManualClock
    from bot.discussions.recorder import Recorder

    w = await _world(db)
    async with db.session() as s:
        prompt = await s.get(DiscussionPrompt, w.prompt_id)
        assert prompt is not None
        prompt.status = PromptStatus.CLOSED
    late = w.message("amy", WORDS, at=CLOSES + timedelta(hours=1))
    recorder = Recorder(
        db, ManualClock(CLOSES + timedelta(hours=2)), bot_user_id=lambda: BOT, writer="thread"
    )
    await recorder.prime()
    recorder.watch({THREAD: w.prompt_id})
    recorder.add(late)
    await recorder.flush()
    recorder.add(late)  # a replay credits nothing more
    await recorder.flush()
    await recorder.close()
    async with db.session() as s:
        credits = (
            await s.execute(
                select(LedgerEntry.person_id, LedgerEntry.source, LedgerEntry.points).where(
                    LedgerEntry.item_id == w.prompt_id
                )
            )
        ).all()
    amy = w.people["amy"].id
    late_points = preset("standard").late_points(preset("standard").initial_points)
    assert [(p, src, Decimal(pts)) for p, src, pts in credits] == [
        (amy, LedgerSource.DISCUSSION_POST, late_points)
    ]


def _row(c: Contribution) -> tuple[object, ...]:
    return (
        c.message_id,
        c.person_id,
        c.parent_message_id,
        list(c.mentions),
        c.content,
        c.words,
        c.created_at.replace(tzinfo=None),
        c.late,
        c.via,
    )


async def _record_through(db: Database, writer: str) -> list[tuple[object, ...]]:
    from bot.clock import ManualClock
    from bot.discussions.recorder import Recorder

    w = await _world(db)
    recorder = Recorder(db, ManualClock(CLOSES), bot_user_id=lambda: BOT, writer=writer)  # type: ignore[arg-type]
    await recorder.prime()
    recorder.watch({THREAD: w.prompt_id})
    first = w.message("amy", WORDS, at=OPENS + timedelta(hours=1))
    recorder.add(first)
    recorder.add(
        w.message(
            "bob",
            f"<@{w.user('amy').platform_user_id}> " + WORDS,
            at=CLOSES + timedelta(minutes=5),
            reply_to=first.id,
            mentions=(w.user("amy").platform_user_id,),
        )
    )
    recorder.add(w.message("cat", "short", at=OPENS), ContributionVia.BACKFILL)
    await recorder.close()
    assert recorder.recorded == 3
    return [_row(c) for c in await _contributions(db)]


@pytest.mark.parametrize("writer", ["process", "thread"])
async def test_a_writer_process_or_thread_stores_the_evidence(db: Database, writer: str) -> None:
    """The writer process is the default, the thread the fallback: the same rows either way."""
    rows = await _record_through(db, writer)
    assert [(r[4] == WORDS, r[5], r[7], r[8]) for r in rows] == [
        (True, 160, False, ContributionVia.GATEWAY),
        (False, 160, True, ContributionVia.GATEWAY),  # late; the mention is not a word
        (False, 1, False, ContributionVia.BACKFILL),
    ]
    amy = rows[0]
    assert rows[1][2] == amy[0] and rows[1][3] == [str(800000000000000001)]
    assert rows[1][6] == (CLOSES + timedelta(minutes=5)).replace(tzinfo=None)


async def test_a_writer_process_that_dies_is_replaced_and_nothing_is_lost(db: Database) -> None:
    import os
    import signal

    from bot.clock import ManualClock
    from bot.discussions.recorder import Recorder

    if not db.url.startswith("sqlite"):
        pytest.skip("PostgreSQL is written through the async session: there is no child")
    w = await _world(db)
    recorder = Recorder(db, ManualClock(CLOSES), bot_user_id=lambda: BOT, retry_delay=0.01)
    await recorder.prime()
    recorder.watch({THREAD: w.prompt_id})
    messages = [w.message("amy", f"answer {i}", at=OPENS + timedelta(minutes=i)) for i in range(20)]
    for message in messages[:10]:
        recorder.add(message)
    await recorder.flush()
    assert recorder.recorded == 10
    writer = recorder._writer
    assert writer is not None and writer.child is not None
    (pid,) = writer.child.pids()
    os.kill(pid, signal.SIGKILL)
    await gone(pid)
    for message in messages:  # the first ten again (a replay) and ten new ones
        recorder.add(message)
    await recorder.flush()
    assert recorder.failures == 1  # the batch that met the dead child was kept and retried
    await recorder.close()
    rows = await _contributions(db)
    assert sorted(r.message_id for r in rows) == sorted(m.id for m in messages)


async def test_what_happened_in_a_thread_before_it_was_watched_is_recorded_as_it_happened(
    db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A thread is watched a moment after it exists, or at the next refresh in another
    process: a post, its edit and a deletion made before that are recorded once it is watched
    (the earlier text as a revision, the deletion flagged), within ``STRAY_SECONDS``; older
    events, and those of channels never watched, are never written."""
    from types import SimpleNamespace

    from bot.clock import ManualClock
    from bot.discussions import recorder as recorder_module

    seconds = [1000.0]
    monkeypatch.setattr(recorder_module, "time", SimpleNamespace(monotonic=lambda: seconds[0]))
    w = await _world(db)
    recorder = recorder_module.Recorder(
        db, ManualClock(CLOSES), bot_user_id=lambda: BOT, writer="thread"
    )
    await recorder.prime()
    recorder.gateway_up()
    too_old = w.message("cat", WORDS, at=OPENS + timedelta(minutes=1))
    recorder.add(too_old)
    seconds[0] += recorder_module.STRAY_SECONDS + 1
    answer = w.message("amy", "first draft " * 30, at=OPENS + timedelta(minutes=10))
    mistake = w.message("bob", WORDS, at=OPENS + timedelta(minutes=11))
    elsewhere = w.message("amy", "chat in another channel", at=OPENS + timedelta(minutes=12))
    recorder.add(answer)
    recorder.add(mistake)
    recorder.add(elsewhere._replace(channel_id="900000000000000002"))
    edited = answer._replace(content="second draft " * 40, edited_at=OPENS + timedelta(minutes=13))
    recorder.add_edit(edited)
    recorder.add_delete(mistake.id, THREAD, OPENS + timedelta(minutes=14))
    await recorder.flush()
    assert await _contributions(db) == []  # nothing of a channel not watched is written

    assert recorder.watch({THREAD: w.prompt_id}) == [THREAD]
    await recorder.flush()
    rows = {c.message_id: c for c in await _contributions(db)}
    assert sorted(rows) == sorted([answer.id, mistake.id])  # not the one kept too long
    assert rows[answer.id].content == "second draft " * 40
    assert rows[mistake.id].deleted_at == OPENS + timedelta(minutes=14)
    async with db.session() as s:
        revisions = (await s.execute(select(ContributionRevision.content))).scalars().all()
    assert revisions == ["first draft " * 30]

    recorder.watch({THREAD: w.prompt_id, "900000000000000002": w.prompt_id})
    await recorder.flush()
    assert len(await _contributions(db)) == 3  # what was kept is handed over once, not again
    assert {c.content for c in await _contributions(db)} >= {"chat in another channel"}
    await recorder.close()
