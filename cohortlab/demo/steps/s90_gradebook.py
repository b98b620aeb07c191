"""The term's participation in the gradebook: weights, the student view, a correction and its
audit trail, imported marks, release, a personal-data export, and the exported gradebook.

Runs last: whatever the earlier steps recorded in MATH70097 (discussion, peer review,
tutorials) is what the gradebook shows. Played on its own (no earlier records), it first loads
a sample of three weeks of records, as the features would have written them.
"""

from __future__ import annotations

import asyncio
import csv
import io
import json
import random
from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy import func, select

from bot.db.models import LedgerEntry, Module
from cohortlab.localdiscord.models import Message
from cohortlab.localdiscord.scripting import Actor, Upload, message_text
from cohortlab.sample import seed_term

if TYPE_CHECKING:
    from cohortlab.demo import Transcript
    from cohortlab.sandbox import Sandbox

MODULE = "MATH70097"
SHOWN_COLUMNS = 12


def _name(actor: Actor) -> str:
    return actor.user.global_name or actor.name


async def _write(path: Path, data: bytes) -> None:
    await asyncio.to_thread(path.parent.mkdir, parents=True, exist_ok=True)
    await asyncio.to_thread(path.write_bytes, data)


def _table(data: bytes) -> str:
    """The exported gradebook as an aligned text table (item columns shortened to their code)."""
    rows = list(csv.reader(io.StringIO(data.decode("utf-8-sig"))))
    header = rows[0]
    keep = [
        i
        for i, name in enumerate(header)
        if name in ("student_number", "name", "participation mark", "status", "module mark")
        or (name[:1] in "DXT" and name[1:2].isdigit())
    ]
    short = []
    for i in keep:
        name = header[i]
        if name[:1] in "DXT" and name[1:2].isdigit():
            code = name.split(" ", 1)[0]
            suffix = {"reviews done": "r", "peer score": "s"}
            part = next((v for k, v in suffix.items() if f"({k}," in name), "")
            name = code + part
        short.append(name.replace("participation mark", "mark").replace("student_number", "number"))
    body = [[row[i] for i in keep] for row in rows[1:]]
    widths = [max(len(h), *(len(r[n]) for r in body)) for n, h in enumerate(short)]
    lines = ["  ".join(h.ljust(w) for h, w in zip(short, widths, strict=True))]
    lines += ["  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)) for r in body]
    return "\n".join(lines)


async def _reply(actor: Actor, command: str, **options: object) -> Message:
    handle = await actor.command(command, **options)  # type: ignore[arg-type]
    return await handle.reply(timeout=15)


async def play(sandbox: Sandbox, transcript: Transcript) -> None:
    world = sandbox.world
    assert world is not None
    transcript.section("Participation marks and the gradebook")
    channel = world.channel(MODULE)
    tutor = world.tutors(MODULE)[0]
    student = world.students(MODULE)[0]
    admin = world.admins()[0]
    where = f"#{channel.name}"

    async with sandbox.db.session() as session:
        module = (await session.execute(select(Module).where(Module.code == MODULE))).scalar_one()
        credited = (
            await session.execute(
                select(func.count())
                .select_from(LedgerEntry)
                .where(LedgerEntry.module_id == module.id)
            )
        ).scalar_one()
        if credited < 20:
            report = await seed_term(
                session, module, now=sandbox.clock.now(), rng=random.Random(2026), tutorials=3
            )
            transcript.note(
                f"loaded sample records of earlier weeks in {MODULE}: {len(report.prompts)} "
                f"discussion prompts, {report.reviews} peer reviews, {report.check_ins} "
                "tutorial check-ins, and their ledger credits"
            )
        else:
            transcript.note(f"{credited} credits in {MODULE}'s ledger from the term so far")

    transcript.user(_name(tutor), where, "/gradebook weights discussion:50 attendance:10")
    reply = await _reply(
        tutor,
        "gradebook weights",
        where=channel,
        module=MODULE,
        discussion=50,
        attendance=10,
        reason="discussion is the heart of this module",
    )
    transcript.bot(where, reply.content, private_to=_name(tutor))

    transcript.user(_name(student), where, f"/marks module:{MODULE}")
    reply = await _reply(student, "marks", where=channel, module=MODULE)
    transcript.bot(where, message_text(reply), private_to=_name(student))

    transcript.user(
        _name(tutor),
        where,
        f"/gradebook adjust student:@{student.name} component:discussion points:1 "
        "reason:answer posted in the wrong thread",
    )
    reply = await _reply(
        tutor,
        "gradebook adjust",
        where=channel,
        module=MODULE,
        student=student,
        component="discussion",
        points=1,
        reason="answer posted in the wrong thread in week 2",
    )
    transcript.bot(where, reply.content, private_to=_name(tutor))
    transcript.user(_name(tutor), where, f"/gradebook audit student:@{student.name}")
    reply = await _reply(tutor, "gradebook audit", where=channel, module=MODULE, student=student)
    transcript.bot(where, reply.content, private_to=_name(tutor))

    rows = ["student,component,weight,mark"]
    rng = random.Random(70097)
    for person in world.students(MODULE):
        rows.append(f"{person.name},Coursework,30,{rng.randrange(52, 81)}")
        rows.append(f"{person.name},Exam,60,{rng.randrange(45, 86)}")
    transcript.user(
        _name(tutor),
        where,
        "/gradebook weights participation_share:10, then "
        "/gradebook components-import file:marks.csv (coursework 30, exam 60)",
    )
    await _reply(tutor, "gradebook weights", where=channel, module=MODULE, participation_share=10)
    reply = await _reply(
        tutor,
        "gradebook components-import",
        where=channel,
        module=MODULE,
        file=Upload("marks.csv", ("\n".join(rows) + "\n").encode(), "text/csv"),
    )
    transcript.bot(where, reply.content, private_to=_name(tutor))

    transcript.user(_name(tutor), where, "/gradebook release")
    after = sandbox.server.script.last_id()
    reply = await _reply(tutor, "gradebook release", where=channel, module=MODULE)
    transcript.bot(where, reply.content, private_to=_name(tutor))
    notice = await sandbox.server.script.wait_for_message(channel, contains="released", after=after)
    transcript.bot(where, notice.content)
    reply = await _reply(student, "marks", where=channel, module=MODULE)
    mark_line = next(
        (line for line in message_text(reply).splitlines() if "Participation mark" in line), ""
    )
    transcript.user(_name(student), where, f"/marks module:{MODULE}")
    transcript.bot(where, f"... {mark_line}", private_to=_name(student))

    transcript.user(_name(student), "#general", "/privacy export")
    reply = await _reply(student, "privacy export")
    transcript.bot("#general", reply.content, private_to=_name(student))
    if reply.attachments:
        data = json.loads(reply.attachments[0].data)
        await _write(transcript.out_dir / reply.attachments[0].filename, reply.attachments[0].data)
        transcript.note(
            f"saved {reply.attachments[0].filename}: {len(data['discussion_posts'])} posts, "
            f"{len(data['participation_ledger'])} ledger rows, {len(data['audit_trail'])} audit "
            "entries about them"
        )

    transcript.user(_name(tutor), where, "/gradebook export format:csv, then format:xlsx")
    saved = []
    csv_data = b""
    for fmt in ("csv", "xlsx"):
        reply = await _reply(tutor, "gradebook export", where=channel, module=MODULE, format=fmt)
        attachment = reply.attachments[0]
        await _write(transcript.out_dir / attachment.filename, attachment.data)
        saved.append(attachment.filename)
        if fmt == "csv":
            csv_data = attachment.data
            transcript.bot(where, reply.content, private_to=_name(tutor))
    transcript.user(_name(admin), "#general", "/gradebook programme format:xlsx")
    reply = await _reply(admin, "gradebook programme", format="xlsx")
    await _write(transcript.out_dir / reply.attachments[0].filename, reply.attachments[0].data)
    saved.append(reply.attachments[0].filename)
    transcript.bot("#general", reply.content, private_to=_name(admin))

    transcript.section(f"The {MODULE} gradebook (exported)")
    print(_table(csv_data), file=transcript.out)
    transcript.note(f"written to {transcript.out_dir}/: {', '.join(saved)}")
