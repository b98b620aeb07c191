"""Graded discussion prompts through the local Discord server, as tutors and students meet them."""

from __future__ import annotations

import asyncio
import csv
import io
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any, TypeVar

import pytest
from sqlalchemy import func, select

from bot.db.models import (
    AuditEntry,
    Contribution,
    ContributionRevision,
    ContributionVia,
    DiscussionPrompt,
    LedgerSource,
    MarkRelease,
    Person,
    PromptStatus,
)
from bot.gradebook import ledger
from cohortlab.localdiscord.models import Message
from cohortlab.localdiscord.scripting import Actor, ApiError
from cohortlab.sandbox import Sandbox, World

pytestmark = pytest.mark.e2e

T = TypeVar("T")
MODULE = "MATH70097"


def at(moment: datetime) -> str:
    return f"{moment:%Y-%m-%dT%H:%M}Z"


def words(n: int, word: str = "insight") -> str:
    return " ".join([word] * n)


async def eventually(
    check: Callable[[], Awaitable[T | None]],
    *,
    what: str,
    timeout: float = 5.0,  # noqa: ASYNC109
) -> T:
    """Poll the database until the bot has written what we wait for."""
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        value = await check()
        if value:
            return value
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"not within {timeout}s: {what}")
        await asyncio.sleep(0.02)


async def contributions(sandbox: Sandbox) -> list[Contribution]:
    async with sandbox.db.session() as s:
        return list(
            (await s.execute(select(Contribution).order_by(Contribution.id))).scalars().all()
        )


async def recorded(
    sandbox: Sandbox,
    message: Message | str,
    *,
    timeout: float = 5.0,  # noqa: ASYNC109
) -> Contribution:
    message_id = message if isinstance(message, str) else str(message.id)

    async def check() -> Contribution | None:
        return next((c for c in await contributions(sandbox) if c.message_id == message_id), None)

    return await eventually(check, what=f"message {message_id} recorded", timeout=timeout)


async def person_id(sandbox: Sandbox, actor: Actor) -> int:
    async with sandbox.db.session() as s:
        return (
            await s.execute(select(Person.id).where(Person.platform_username == actor.name))
        ).scalar_one()


def tutor(world: World) -> Actor:
    return world.tutors(MODULE)[0]


async def schedule(
    sandbox: Sandbox,
    world: World,
    *,
    opens_in: timedelta = timedelta(hours=1),
    lasts: timedelta = timedelta(days=4),
    title: str = "Week 1: bias and variance",
    **options: Any,
) -> int:
    now = sandbox.clock.now()
    handle = await tutor(world).command(
        "prompt create",
        where=world.channel(MODULE),
        module=MODULE,
        title=title,
        opens=at(now + opens_in),
        closes=at(now + opens_in + lasts),
        **({"text": "Where have you met the bias-variance trade-off?"} | options),
    )
    reply = await handle.reply(contains="Scheduled prompt #")
    return int(reply.content.split("#", 1)[1].split(" ", 1)[0])


async def open_prompt(sandbox: Sandbox, world: World, **options: Any) -> tuple[int, Message]:
    prompt_id = await schedule(sandbox, world, **options)
    await sandbox.advance(timedelta(hours=1, minutes=1))
    post = await sandbox.server.script.wait_for_message(
        world.channel(MODULE), contains=f"prompt #{prompt_id}"
    )
    return prompt_id, post


async def test_the_whole_life_of_a_prompt(sandbox: Sandbox, world: World) -> None:
    script = sandbox.server.script
    channel = world.channel(MODULE)
    teacher = tutor(world)
    amara, lukas, meilin, diego, aisha = world.students(MODULE)[:5]

    # Create: the options first, the long text in a form.
    now = sandbox.clock.now()
    handle = await teacher.command(
        "prompt create",
        where=channel,
        module=MODULE,
        title="Week 1: bias and variance",
        opens=at(now + timedelta(hours=2)),
        closes=at(now + timedelta(days=3)),
        rubric="standard",
    )
    form = await handle.modal()
    assert form["title"].startswith("MATH70097")
    text = "Where have you met the bias-variance trade-off?\n\n" + words(300, "context")
    reply = await (await teacher.submit_modal(text=text)).reply(contains="Scheduled prompt #1")
    assert "standard rubric, 12 points" in reply.content

    # Scheduled opening: nothing before its time, then the prompt with its rubric and a thread.
    before = script.last_id()
    await sandbox.advance(timedelta(hours=1))
    await script.expect_no_message(channel, after=before)
    await sandbox.advance(timedelta(hours=1, minutes=1))
    post = await script.wait_for_message(
        channel, contains="**How this prompt is marked** (standard rubric)", after=before
    )
    first = await script.wait_for_message(channel, contains="prompt #1", after=before)
    assert first.id < post.id  # a long text is split; the rubric closes the last part
    assert first.mention_role_ids == [world.module_roles[MODULE].id]
    assert "at least 150 words" in post.content and "**Total**: 12 points." in post.content
    assert post.thread_id is not None
    thread = script.channel(post.thread_id)
    closes_at = now + timedelta(days=3)

    # Answers, replies (a Discord reply and a mention), an edit, a deletion.
    a1 = await amara.post(thread, words(120))
    b1 = await lukas.post(thread, words(170))
    b2 = await lukas.post(thread, words(60, "agree"), reply_to=a1)
    await meilin.post(thread, words(155))
    c2 = await meilin.post(thread, f"{amara.mention} " + words(55, "indeed"))
    c3 = await meilin.post(thread, words(52, "also"), reply_to=b1)
    await teacher.post(thread, "Good start, everyone: think about model capacity too.")
    await amara.edit(a1, words(180))
    await meilin.delete(c3)

    edited = await recorded(sandbox, a1)

    async def revised() -> list[ContributionRevision] | None:
        async with sandbox.db.session() as s:
            rows = (await s.execute(select(ContributionRevision))).scalars().all()
        return list(rows) or None

    (revision,) = await eventually(revised, what="the edit's old text kept")
    assert revision.contribution_id == edited.id and revision.words == 120

    async def deletion_flagged() -> bool:
        return any(
            c.message_id == str(c3.id) and c.deleted_at is not None
            for c in await contributions(sandbox)
        )

    await eventually(deletion_flagged, what="the deletion flagged")
    assert (await recorded(sandbox, b2)).parent_message_id == str(a1.id)
    assert (await recorded(sandbox, c2)).mentions == [str(amara.id)]

    # An extension for one student, told privately.
    ext = await teacher.command(
        "prompt extend",
        where=channel,
        prompt=1,
        student=aisha,
        until=at(closes_at + timedelta(days=2)),
        reason="medical",
    )
    assert "They were told privately" in (await ext.reply(contains="has until")).content
    dm = await aisha.wait_for_dm(contains="extension")
    assert "/prompt answer prompt:1" in dm.content

    # The deadline passes before the bot gets round to closing: a late post is flagged.
    sandbox.clock.set(closes_at + timedelta(minutes=5))
    d1 = await diego.post(thread, words(160))
    assert (await recorded(sandbox, d1)).late is True
    assert (await recorded(sandbox, b1)).late is False

    # Closing: the thread is locked and a summary posted.
    await sandbox.run_due()
    summary = await script.wait_for_message(thread, contains="closed")
    assert "4 of 11 students posted an initial answer" in summary.content
    assert "2 replies to classmates" in summary.content  # the deleted one does not count
    assert script.channel(thread.id).locked
    with pytest.raises(ApiError):
        await lukas.post(thread, "one more thing")

    # The extended student answers through the form; the bot posts it for them, on time.
    form_handle = await aisha.command("prompt answer", where=channel, prompt=1)
    await form_handle.modal()
    answered = await aisha.submit_modal(answer=words(165, "thoughtful"))
    await answered.reply(contains="is posted")
    relayed = await script.wait_for_message(thread, contains=f"Answer from {aisha.mention}")
    e1 = await recorded(sandbox, relayed)
    assert (e1.person_id, e1.words, e1.late, e1.via) == (
        await person_id(sandbox, aisha),
        165,
        False,
        ContributionVia.MODAL,
    )

    # A student's own view before release: participation, and why.
    mine = await (await lukas.command("prompt mine", where=channel)).reply()
    assert "provisional" in mine.content
    assert "initial post 170 words, on time; 1 of 2 replies; quality not yet graded" in (
        mine.content
    )

    # Grading: one student at a time, then the rest from the table's CSV.
    graded = await teacher.command(
        "prompt grade",
        where=channel,
        prompt=1,
        student=amara,
        quality="3",
        feedback="Clear, with a good example from your work.",
    )
    assert "7/12" in (await graded.reply(contains="Amara")).content

    table_handle = await teacher.command("prompt scores", where=channel, prompt=1)
    table = await table_handle.reply(contains="provisional, not released")
    assert "**Lukas Becker** 6/12" in table.content
    assert "**Amara Okafor** 7/12" in table.content
    attachment = next(m for m in table_handle.messages if m.attachments).attachments[0]
    rows = list(csv.DictReader(io.StringIO(attachment.data.decode())))
    assert len(rows) == 11
    for row in rows:
        if row["discord"] == lukas.name:
            row["quality_points"], row["feedback"] = "2", "Develop your reply further."
        if row["discord"] == meilin.name:
            row["quality_points"] = "4"
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=list(rows[0]))
    writer.writeheader()
    writer.writerows(rows)
    upload = await teacher.command(
        "prompt grade-csv",
        where=channel,
        prompt=1,
        file=("week1-grades.csv", out.getvalue().encode()),
    )
    assert "2 changed, 1 unchanged" in (await upload.reply(contains="Saved")).content

    tutor_mine = await (await lukas.command("prompt mine", where=channel, prompt=1)).reply()
    assert "quality not yet released" in tutor_mine.content
    assert "Develop your reply" not in tutor_mine.content

    # Release waits for the running extension, then every student is told privately and the
    # ledger credits the marks.
    early = await (await teacher.command("prompt release", where=channel, prompt=1)).reply()
    assert early.content.startswith("Aisha Rahman's extension runs until <t:")
    await sandbox.advance(timedelta(days=2))
    released = await (await teacher.command("prompt release", where=channel, prompt=1)).reply(
        contains="Released"
    )
    assert "for 11 students" in released.content
    mark = await amara.wait_for_dm(contains="is released")
    assert "**7/12**" in mark.content and "Clear, with a good example" in mark.content
    lukas_mark = await lukas.wait_for_dm(contains="is released")
    assert "**8/12**" in lukas_mark.content and "quality 2/4" in lukas_mark.content
    assert "provisional until the exam board" in lukas_mark.content

    after = await (await amara.command("prompt mine", where=channel)).reply()
    assert "released" in after.content and "quality 3/4" in after.content
    assert "Feedback: Clear, with a good example" in after.content

    amara_id = await person_id(sandbox, amara)
    async with sandbox.db.session() as s:
        prompt = await s.get(DiscussionPrompt, 1)
        assert prompt is not None and prompt.status == PromptStatus.CLOSED
        module_id = prompt.module_id
        totals = await ledger.totals(s, module_id)
        assert (await s.execute(select(func.count()).select_from(MarkRelease))).scalar_one() == 1
        actions = (await s.execute(select(AuditEntry.action))).scalars().all()
    assert totals[amara_id][LedgerSource.DISCUSSION_POST] == Decimal(4)
    assert totals[amara_id][LedgerSource.QUALITY_POINTS] == Decimal(3)
    assert totals[await person_id(sandbox, lukas)][LedgerSource.DISCUSSION_REPLY] == Decimal(2)
    assert totals[await person_id(sandbox, diego)][LedgerSource.DISCUSSION_POST] == Decimal(2)
    assert actions.count("discussion_quality") == 3
    assert "discussion_extension" in actions and "discussion_released" in actions

    # A change after release: corrected in the ledger by reversal, and the student told.
    regrade = await teacher.command(
        "prompt grade", where=channel, prompt=1, student=amara, quality="4"
    )
    await regrade.reply(contains="told of the change")
    update = await amara.wait_for_dm(contains="was updated")
    assert "**8/12**" in update.content

    # A student who has left the server can still be graded (named as a user, not a member).
    script.remove_member(world.guild, meilin)
    gone = await teacher.command(
        "prompt grade", where=channel, prompt=1, student=meilin, quality="2"
    )
    assert "Mei Lin" in (await gone.reply(contains="told of the change")).content
    async with sandbox.db.session() as s:
        totals = await ledger.totals(s, module_id)
    assert totals[amara_id][LedgerSource.QUALITY_POINTS] == Decimal(4)


async def _prompt_row(sandbox: Sandbox, prompt_id: int) -> DiscussionPrompt:
    async with sandbox.db.session() as s:
        prompt = await s.get(DiscussionPrompt, prompt_id)
        assert prompt is not None
        return prompt


async def test_post_before_you_see_others(sandbox: Sandbox, world: World) -> None:
    script = sandbox.server.script
    state = sandbox.server.state
    channel = world.channel(MODULE)
    amara, lukas, meilin = world.students(MODULE)[:3]
    outsider = next(s for s in world.students() if MODULE not in world.modules_of[s.name])
    prompt_id, post = await open_prompt(sandbox, world, private_answers=True)
    assert "Press **Answer**" in post.content
    button = f"cb:discussions:answer:{prompt_id}"
    thread_id = int(str((await _prompt_row(sandbox, prompt_id)).thread_id))
    assert script.channel(thread_id).type == 12  # a private thread
    assert not state.can_view(amara.id, thread_id)
    assert state.can_view(tutor(world).id, thread_id)

    # Someone not in the module is refused before any form appears.
    refused = await (await outsider.click(post, button)).reply()
    assert refused.content == f"You are not enrolled as a student in {MODULE}."

    # A form's text is checked like a command option; the refusal names the field's label.
    await (await amara.click(post, button)).modal()
    bad = await (await amara.submit_modal(answer="my answer\x00")).reply()
    assert bad.content.startswith("`Your answer` contains a control character (U+0000)")
    assert not state.can_view(amara.id, thread_id)

    # Amara answers through the form; the bot posts it and only then lets her in.
    await (await amara.click(post, button)).modal()
    answer = "@everyone " + words(150, "careful") + f" <@&{world.module_roles[MODULE].id}>"
    await (await amara.submit_modal(answer=answer)).reply(contains="You can now read")
    relayed = await script.wait_for_message(thread_id, contains=f"Answer from {amara.mention}")
    assert not relayed.mention_everyone and relayed.mention_role_ids == []
    assert relayed.mention_user_ids == []  # nothing a student wrote pings anyone
    assert state.can_view(amara.id, thread_id)
    assert not state.can_view(lukas.id, thread_id)
    a1 = await recorded(sandbox, relayed)
    assert (a1.person_id, a1.words, a1.via) == (
        await person_id(sandbox, amara),
        150,
        ContributionVia.MODAL,
    )

    # Lukas answers at length through the command (split over two messages), then replies
    # to Amara in the thread itself now that he can see it.
    await (await lukas.command("prompt answer", where=channel, prompt=prompt_id)).modal()
    long_answer = "\n\n".join(words(70, "paragraph") for _ in range(5))
    await (await lukas.submit_modal(answer=long_answer)).reply(contains="is posted")
    part2 = await script.wait_for_message(thread_id, contains=f"Answer from {lukas.mention}** (2/")
    assert state.can_view(lukas.id, thread_id)
    reply = await lukas.post(thread_id, words(55, "because"), reply_to=relayed)
    await recorded(sandbox, part2)
    await recorded(sandbox, reply)

    # Meilin answers, then replies to Lukas through the form with a link to his post.
    await (await meilin.click(post, button)).modal()
    await (await meilin.submit_modal(answer=words(151))).reply(contains="is posted")
    link = f"https://discord.com/channels/{world.guild.id}/{thread_id}/{part2.id}"
    await (await meilin.click(post, button)).modal()
    await (await meilin.submit_modal(answer=words(50, "yes"), reply_to=link)).reply(
        contains="is posted"
    )
    relayed_reply = await script.wait_for_message(
        thread_id, contains=f"Reply from {meilin.mention}"
    )
    assert (await recorded(sandbox, relayed_reply)).parent_message_id == str(part2.id)

    lukas_view = await (await lukas.command("prompt mine", where=channel)).reply()
    assert "initial post 280 words over 2 messages, on time; 1 of 2 replies" in lukas_view.content
    meilin_view = await (await meilin.command("prompt mine", where=channel)).reply()
    assert "initial post 151 words, on time; 1 of 2 replies" in meilin_view.content


async def _snapshot(sandbox: Sandbox) -> dict[str, int]:
    """Row counts of everything a discussion command can write."""
    from bot.db.models import DiscussionScore, Extension, LedgerEntry

    tables = {
        "prompts": DiscussionPrompt,
        "scores": DiscussionScore,
        "extensions": Extension,
        "ledger": LedgerEntry,
        "audit": AuditEntry,
        "contributions": Contribution,
    }
    counts: dict[str, int] = {}
    async with sandbox.db.session() as s:
        for name, model in tables.items():
            counts[name] = (await s.execute(select(func.count()).select_from(model))).scalar_one()
        prompts = (await s.execute(select(DiscussionPrompt))).scalars().all()
        counts["prompt_state"] = hash(tuple((p.title, p.status, p.closes_at) for p in prompts))
    return counts


async def test_bad_input_gets_one_sentence_and_changes_nothing(
    sandbox: Sandbox, world: World
) -> None:
    channel = world.channel(MODULE)
    teacher = tutor(world)
    other_tutor = next(t for t in world.tutors() if MODULE not in world.modules_of[t.name])
    student = world.students(MODULE)[0]
    prompt_id, _ = await open_prompt(sandbox, world, rubric="standard late_policy=not_counted")
    now = sandbox.clock.now()
    good: dict[str, Any] = {
        "module": MODULE,
        "title": "Week 2",
        "opens": at(now + timedelta(days=1)),
        "closes": at(now + timedelta(days=3)),
        "text": "Discuss.",
    }
    csv_errors = b"discord,quality_points\namara.codes,9\nnobody.here,2\n"
    cases: list[tuple[Actor, str, dict[str, Any], str]] = [
        (
            teacher,
            "prompt create",
            good | {"closes": at(now + timedelta(hours=12))},
            "The prompt must close after it opens",
        ),
        (
            teacher,
            "prompt create",
            good | {"opens": at(now - timedelta(days=1))},
            "is in the past; give a time after",
        ),
        (
            teacher,
            "prompt create",
            good | {"module": "MATH99999"},
            "There is no module 'MATH99999' in this cohort; valid codes: MATH70094, MATH70095",
        ),
        (
            teacher,
            "prompt create",
            good | {"text": "x" * 4500},
            "The prompt text is 4500 characters; the limit is 4,000",
        ),
        (teacher, "prompt create", good | {"title": "t" * 101}, "the limit is 100"),
        (teacher, "prompt create", good | {"rubric": "standard replies=3"}, "Unknown rubric"),
        (student, "prompt create", good, f"Only tutors of {MODULE} and programme admins"),
        (student, "prompt list", {"module": MODULE}, "Only tutors of"),
        (student, "prompt close", {"prompt": prompt_id}, "Only tutors of"),
        (student, "prompt scores", {"prompt": prompt_id}, "Only tutors of"),
        (
            student,
            "prompt grade-csv",
            {"prompt": prompt_id, "file": ("grades.csv", csv_errors)},
            "Only tutors of",
        ),
        (student, "prompt release", {"prompt": prompt_id}, "Only tutors of"),
        (
            student,
            "prompt grade",
            {"prompt": prompt_id, "student": student, "quality": "4"},
            "Only tutors of",
        ),
        (
            student,
            "prompt extend",
            {
                "prompt": prompt_id,
                "student": student,
                "until": at(now + timedelta(days=9)),
                "reason": "MC-1",
            },
            "Only tutors of",
        ),
        (other_tutor, "prompt release", {"prompt": prompt_id}, "Only tutors of"),
        (teacher, "prompt edit", {"prompt": prompt_id, "title": "New"}, "already opened"),
        (teacher, "prompt release", {"prompt": prompt_id}, "close it first"),
        (teacher, "prompt close", {"prompt": 99}, "There is no discussion prompt #99"),
        (
            teacher,
            "prompt grade",
            {"prompt": prompt_id, "student": student, "quality": "5"},
            "Quality points must be a number from 0 to 4.",
        ),
        (
            teacher,
            "prompt grade",
            {"prompt": prompt_id, "student": teacher, "quality": "1"},
            "is not a student of MATH70097",
        ),
        (
            teacher,
            "prompt grade-csv",
            {"prompt": prompt_id, "file": ("grades.csv", csv_errors)},
            "Nothing was saved; fix the file and upload it again: line 2: quality points must "
            "be a number from 0 to 4; line 3: no student 'nobody.here' in MATH70097.",
        ),
        (
            teacher,
            "prompt extend",
            {
                "prompt": prompt_id,
                "student": student,
                "until": at(now + timedelta(hours=1)),
                "reason": "MC-1",
            },
            "The extension must end after the prompt's close",
        ),
        (student, "prompt answer", {"prompt": prompt_id}, "Post your answer in the prompt's"),
    ]
    before = await _snapshot(sandbox)
    for actor, command, options, expected in cases:
        fetched = len(sandbox.server.rest.downloads)
        handle = await actor.command(command, where=channel, options=options, force=True)
        reply = await handle.reply()
        assert expected in reply.content, (command, options, reply.content)
        assert reply in actor.ephemerals()
        assert reply.content.count(". ") <= 1 or "Nothing was saved" in reply.content, reply.content
        if actor is student:  # a refused student's file is never fetched
            assert len(sandbox.server.rest.downloads) == fetched, command
    assert await _snapshot(sandbox) == before

    # After the close, a late answer under "late posts not counted" is refused too.
    await sandbox.advance(timedelta(days=5))
    before = await _snapshot(sandbox)
    late = await (await student.command("prompt answer", where=channel, prompt=prompt_id)).reply()
    assert "late posts are not counted under its rubric" in late.content
    assert await _snapshot(sandbox) == before


async def test_echoed_text_never_pings_and_long_text_is_split(
    sandbox: Sandbox, world: World
) -> None:
    student = world.students(MODULE)[0]
    role = world.module_roles[MODULE]
    other_role = world.module_roles["MATH70095"]
    text = f"@everyone @here <@&{other_role.id}> {student.mention} please read.\n\n" + "\n\n".join(
        words(60, "paragraph") for _ in range(5)
    )
    prompt_id, _ = await open_prompt(sandbox, world, text=text)
    posted = [
        m
        for m in sandbox.server.script.bot_messages(world.channel(MODULE))
        if "prompt #" in m.content or "paragraph" in m.content
    ]
    assert len(posted) >= 2 and all(len(m.content) <= 2000 for m in posted)
    assert not any(m.mention_everyone for m in posted)
    assert [m.mention_role_ids for m in posted] == [[role.id]] + [[]] * (len(posted) - 1)
    assert all(m.mention_user_ids == [] for m in posted)
    assert sum(m.content.count("paragraph") for m in posted) == 300
    assert prompt_id == 1


async def _restart(sandbox: Sandbox) -> None:
    """A fresh Application on the same database and server: the bot coming back up."""
    from bot.discord_app import Application
    from cohortlab.sandbox import _no_identify_wait

    settings = sandbox.app.settings
    app = Application(settings, clock=sandbox.clock, db=sandbox.db)
    app.bot.before_identify_hook = _no_identify_wait  # type: ignore[method-assign]
    sandbox.app = app
    await app.start()
    await app.wait_until_ready()


async def _recorded_ids(sandbox: Sandbox) -> list[str]:
    return [c.message_id for c in await contributions(sandbox)]


async def test_messages_missed_while_disconnected_or_offline_count_once(
    sandbox: Sandbox, world: World
) -> None:
    server = sandbox.server
    students = world.students(MODULE)
    _, post = await open_prompt(sandbox, world)
    assert post.thread_id is not None
    thread = post.thread_id
    posted = [await students[0].post(thread, words(150))]
    await recorded(sandbox, posted[0])

    # The connection drops: the gateway replays what was missed on RESUME.
    resumes = server.gateway.count("resume")
    await server.gateway.drop(code=None)
    posted += [await students[1].post(thread, words(150)), await students[2].post(thread, "hi")]
    await server.wait_until(
        lambda: server.gateway.count("resume") > resumes or None,
        timeout=15,
        describe=lambda: "the bot did not resume",
    )
    for message in posted:
        await recorded(sandbox, message)

    # The session is lost: no replay, so the history read on READY recovers the gap.
    await server.gateway.drop(code=None)
    server.gateway.sessions.clear()
    posted += [await students[3].post(thread, words(151)), await students[4].post(thread, "yo")]
    for message in posted:
        await recorded(sandbox, message, timeout=15)

    # The bot is stopped cleanly; while it is away students keep posting.
    await sandbox.app.stop()
    posted += [await students[5].post(thread, words(152)), await students[6].post(thread, "ok")]
    await _restart(sandbox)
    for message in posted:
        await recorded(sandbox, message)
    ids = await _recorded_ids(sandbox)
    assert sorted(ids) == sorted(str(m.id) for m in posted)  # each exactly once
    rows = {c.message_id: c for c in await contributions(sandbox)}
    assert rows[str(posted[-1].id)].via == ContributionVia.BACKFILL
    assert rows[str(posted[-3].id)].via == ContributionVia.BACKFILL
    assert rows[str(posted[0].id)].via == ContributionVia.GATEWAY


async def test_edits_and_deletions_made_while_the_bot_was_offline_are_recorded(
    sandbox: Sandbox, world: World
) -> None:
    """The gateway replays nothing to a new session: the history read at start-up notices
    what changed in the meantime, so the evidence matches the thread."""
    students = world.students(MODULE)
    _, post = await open_prompt(sandbox, world)
    assert post.thread_id is not None
    thread = post.thread_id
    kept = await students[0].post(thread, words(150))
    changed = await students[1].post(thread, words(60, "draft"))
    removed = await students[2].post(thread, words(155))
    for message in (kept, changed, removed):
        await recorded(sandbox, message)

    await sandbox.app.stop()
    sandbox.clock.advance(timedelta(minutes=10))
    await students[1].edit(changed, words(170, "final"))  # now long enough to count
    await students[2].delete(removed)
    late = await students[3].post(thread, words(151))
    await _restart(sandbox)

    async def settled() -> dict[str, Contribution] | None:
        rows = {c.message_id: c for c in await contributions(sandbox)}
        done = (
            rows.get(str(late.id)) is not None
            and rows[str(changed.id)].words == 170
            and rows[str(removed.id)].deleted_at is not None
        )
        return rows if done else None

    rows = await eventually(settled, what="the offline edit, deletion and post recorded")
    assert rows[str(changed.id)].edited_at is not None
    assert rows[str(kept.id)].deleted_at is None and rows[str(kept.id)].edited_at is None
    async with sandbox.db.session() as s:
        revisions = (await s.execute(select(ContributionRevision))).scalars().all()
    assert [(r.contribution_id, r.words) for r in revisions] == [(rows[str(changed.id)].id, 60)]

    # Another restart reads the same history again and changes nothing.
    await sandbox.app.stop()
    await _restart(sandbox)
    await asyncio.sleep(0.5)
    again = {c.message_id: c for c in await contributions(sandbox)}
    assert {k: (c.words, c.deleted_at, c.edited_at) for k, c in again.items()} == {
        k: (c.words, c.deleted_at, c.edited_at) for k, c in rows.items()
    }
    async with sandbox.db.session() as s:
        assert len((await s.execute(select(ContributionRevision))).scalars().all()) == 1
