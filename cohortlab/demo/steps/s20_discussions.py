"""A graded discussion prompt from scheduling to released marks.

Also holds the ``setup`` functions the permission-matrix test names in the /prompt commands'
extras: each creates what a command needs (a scheduled, open or closed prompt) and returns the
options to invoke it with.
"""

from __future__ import annotations

import asyncio
import csv
import io
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from sqlalchemy import select

from bot.access.identity import ChatUser
from bot.access.permissions import load_caller
from bot.db.models import Cohort
from bot.discussions import service
from cohortlab.localdiscord.scripting import Actor, Upload, message_text

if TYPE_CHECKING:
    from cohortlab.demo import Transcript
    from cohortlab.sandbox import Sandbox

MODULE = "MATH70097"


def _at(moment: datetime) -> str:
    return f"{moment:%Y-%m-%dT%H:%M}Z"


def _name(actor: Actor) -> str:
    return actor.user.global_name or actor.name


def _words(n: int, text: str) -> str:
    """A readable answer of about ``n`` words built from a sentence."""
    sentence = text.split()
    out = [sentence[i % len(sentence)] for i in range(n)]
    return " ".join(out)


# --------------------------------------------------------------------------- setups


async def _create(
    sandbox: Sandbox,
    *,
    opens_in: timedelta,
    lasts: timedelta = timedelta(days=3),
    private: bool = False,
) -> int:
    assert sandbox.world is not None
    teacher = sandbox.world.tutors(MODULE)[0]
    now = sandbox.clock.now()
    async with sandbox.db.session() as session:
        cohort = (
            await session.execute(select(Cohort).where(Cohort.code == sandbox.world.cohort_code))
        ).scalar_one()
        caller = await load_caller(
            session, cohort.id, ChatUser(str(teacher.id), teacher.name, _name(teacher))
        )
        info = await service.create_prompt(
            session,
            caller,
            cohort,
            module_code=MODULE,
            title="Setup prompt",
            body="What is the bias-variance trade-off?",
            opens=_at(now + opens_in),
            closes=_at(now + opens_in + lasts),
            rubric="standard",
            private_answers=private,
            now=now,
        )
    return info.id


async def setup_scheduled_prompt(sandbox: Sandbox) -> dict[str, Any]:
    """A prompt that has not opened yet (for /prompt edit)."""
    return {"prompt": await _create(sandbox, opens_in=timedelta(days=1))}


async def setup_open_prompt(sandbox: Sandbox) -> dict[str, Any]:
    """An open public prompt (for /prompt close and /prompt extend)."""
    prompt_id = await _create(sandbox, opens_in=timedelta(minutes=1))
    await sandbox.advance(timedelta(minutes=2))
    closes = sandbox.clock.now() + timedelta(days=5)
    return {"prompt": prompt_id, "until": _at(closes)}


async def setup_private_prompt(sandbox: Sandbox) -> dict[str, Any]:
    """An open "post before you see others" prompt (for /prompt answer)."""
    prompt_id = await _create(sandbox, opens_in=timedelta(minutes=1), private=True)
    await sandbox.advance(timedelta(minutes=2))
    return {"prompt": prompt_id}


async def setup_closed_prompt(sandbox: Sandbox) -> dict[str, Any]:
    """A closed prompt (for grading, the score table and release)."""
    prompt_id = await _create(sandbox, opens_in=timedelta(minutes=1), lasts=timedelta(hours=1))
    await sandbox.advance(timedelta(minutes=2))
    await sandbox.advance(timedelta(hours=1))
    return {"prompt": prompt_id}


async def setup_grades_csv(sandbox: Sandbox) -> dict[str, Any]:
    """A closed prompt and a grades file for it (for /prompt grade-csv)."""
    options = await setup_closed_prompt(sandbox)
    data = b"student_number,quality_points,feedback\n02510001,3,Well argued.\n"
    return options | {"file": Upload("grades.csv", data, "text/csv")}


# --------------------------------------------------------------------------- the story


async def play(sandbox: Sandbox, transcript: Transcript) -> None:
    assert sandbox.world is not None
    world = sandbox.world
    script = sandbox.server.script
    channel = world.channel(MODULE)
    where = f"#{channel.name}"
    teacher = world.tutors(MODULE)[0]
    amara, lukas, meilin, diego, aisha = world.students(MODULE)[:5]
    transcript.section("A graded discussion prompt")

    now = sandbox.clock.now()
    opens = now.replace(hour=9, minute=0)
    closes = opens + timedelta(days=2, hours=8)
    options: dict[str, Any] = {
        "module": MODULE,
        "title": "Week 1: bias and variance in your work",
        "opens": f"{opens:%Y-%m-%d %H:%M}",
        "closes": f"{closes:%Y-%m-%d %H:%M}",
        "rubric": "standard",
    }
    transcript.user(
        _name(teacher),
        where,
        "/prompt create " + " ".join(f"{k}:{v!r}" for k, v in options.items()),
    )
    handle = await teacher.command("prompt create", where=channel, **options)
    await handle.modal()
    text = (
        "Describe a model you have fitted (at work or in a course) that underfitted or "
        "overfitted. How did you notice, and what did you change? Relate it to the "
        "bias-variance decomposition of the expected squared error."
    )
    transcript.note("the form asks for the prompt's text; the tutor pastes the question")
    reply = await (await teacher.submit_modal(text=text)).reply(contains="Scheduled")
    transcript.bot(where, reply.content, private_to=_name(teacher))
    prompt_id = int(reply.content.split("#", 1)[1].split(" ", 1)[0])

    mark = script.last_id()
    await sandbox.advance(opens - now + timedelta(minutes=1))
    post = await script.wait_for_message(channel, contains="How this prompt is marked", after=mark)
    transcript.bot(where, post.content)
    assert post.thread_id is not None
    thread = script.channel(post.thread_id)
    in_thread = f"thread “{thread.name}”"

    async def say(actor: Actor, content: str, **kw: Any) -> Any:
        msg = await actor.post(thread, content, **kw)
        shown = content if len(content) < 90 else content[:80] + f"… ({len(content.split())} words)"
        transcript.user(_name(actor), in_thread, shown)
        return msg

    await sandbox.advance(timedelta(hours=3))
    a1 = await say(
        amara,
        _words(
            170,
            "At work I fitted a gradient boosted model on churn data that scored "
            "almost perfectly in training but badly on the next month of customers",
        ),
    )
    await sandbox.advance(timedelta(hours=5))
    await say(
        lukas,
        _words(
            160,
            "A linear model of house prices underfitted badly because it could not "
            "bend with location effects so both training and test error stayed high",
        ),
    )
    await say(
        lukas,
        _words(
            60,
            "Your churn story is classic variance; did early stopping or shallower "
            "trees close the gap between the two months",
        ),
        reply_to=a1,
    )
    await sandbox.advance(timedelta(hours=20))
    await say(
        meilin,
        _words(
            165,
            "In my dissertation a k nearest neighbours classifier with k of one "
            "memorised the noise and a larger k traded variance for a little bias",
        ),
    )
    await say(
        meilin,
        f"{lukas.mention} "
        + _words(
            55,
            "adding a spline for distance to the centre would let your linear "
            "model bend without a big jump in variance",
        ),
    )
    await say(diego, "Interesting thread, I will write mine tonight.")
    await sandbox.advance(timedelta(hours=2))
    await amara.edit(a1, a1.content + " Early stopping fixed most of it.")
    transcript.user(_name(amara), in_thread, "(edits her answer; the earlier text is kept)")

    handle = await teacher.command(
        "prompt extend",
        where=channel,
        prompt=prompt_id,
        student=aisha,
        until=f"{closes + timedelta(days=1):%Y-%m-%d %H:%M}",
        reason="illness",
    )
    transcript.user(
        _name(teacher), where, f"/prompt extend prompt:{prompt_id} student:@{aisha.name} ..."
    )
    transcript.bot(where, (await handle.reply()).content, private_to=_name(teacher))
    dm = await aisha.wait_for_dm(contains="extension")
    transcript.bot("a DM", dm.content, private_to=_name(aisha))

    mine = await (await lukas.command("prompt mine", where=channel)).reply()
    transcript.user(_name(lukas), where, "/prompt mine")
    transcript.bot(where, mine.content, private_to=_name(lukas))

    await sandbox.advance(closes - sandbox.clock.now() + timedelta(minutes=1))
    summary = await script.wait_for_message(thread, contains="closed")
    transcript.bot(in_thread, summary.content)
    transcript.note("the thread is locked now; late answers go through /prompt answer")

    await sandbox.advance(timedelta(hours=20))
    transcript.user(
        _name(aisha), where, f"/prompt answer prompt:{prompt_id} (writes her answer in the form)"
    )
    await (await aisha.command("prompt answer", where=channel, prompt=prompt_id)).modal()
    answered = await aisha.submit_modal(
        answer=_words(
            158,
            "Regularising a logistic regression on clinical data reduced "
            "variance at the price of slightly biased risk estimates",
        )
    )
    transcript.bot(where, (await answered.reply()).content, private_to=_name(aisha))
    relayed = await script.wait_for_message(thread, contains="Answer from")
    transcript.bot(in_thread, message_text(relayed)[:120] + "…")

    handle = await teacher.command(
        "prompt grade",
        where=channel,
        prompt=prompt_id,
        student=amara,
        quality="3",
        feedback="A clear, honest example; say more about how you chose the stopping point.",
    )
    transcript.user(
        _name(teacher),
        where,
        f"/prompt grade prompt:{prompt_id} student:@{amara.name} quality:3 feedback:…",
    )
    transcript.bot(where, (await handle.reply()).content, private_to=_name(teacher))

    table_handle = await teacher.command("prompt scores", where=channel, prompt=prompt_id)
    table = await table_handle.reply(contains="provisional")
    transcript.user(_name(teacher), where, f"/prompt scores prompt:{prompt_id}")
    transcript.bot(where, table.content, private_to=_name(teacher))
    attachment = next(m for m in table_handle.messages if m.attachments).attachments[0]
    rows = list(csv.DictReader(io.StringIO(attachment.data.decode())))
    marks = {lukas.name: "3", meilin.name: "4", aisha.name: "2", diego.name: "0"}
    for row in rows:
        row["quality_points"] = marks.get(row["discord"], row["quality_points"])
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=list(rows[0]))
    writer.writeheader()
    writer.writerows(rows)
    data = out.getvalue().encode()
    filename = f"prompt-{prompt_id}-grades.csv"
    await asyncio.to_thread((transcript.out_dir / filename).write_bytes, data)
    handle = await teacher.command(
        "prompt grade-csv", where=channel, prompt=prompt_id, file=(filename, data)
    )
    transcript.user(_name(teacher), where, f"/prompt grade-csv prompt:{prompt_id} file:{filename}")
    transcript.bot(where, (await handle.reply()).content, private_to=_name(teacher))

    await sandbox.advance(closes + timedelta(days=1, minutes=30) - sandbox.clock.now())
    transcript.note("Aisha's extension has ended; the tutor releases the marks")
    handle = await teacher.command("prompt release", where=channel, prompt=prompt_id)
    transcript.user(_name(teacher), where, f"/prompt release prompt:{prompt_id}")
    transcript.bot(where, (await handle.reply()).content, private_to=_name(teacher))
    for student in (amara, lukas):
        dm = await student.wait_for_dm(contains="is released")
        transcript.bot("a DM", dm.content, private_to=_name(student))

    mine = await (await amara.command("prompt mine", where=channel)).reply()
    transcript.user(_name(amara), where, "/prompt mine")
    transcript.bot(where, mine.content, private_to=_name(amara))
