"""The term's participation in the gradebook: weights, the student view, a correction and its
audit trail, imported component marks, release, a personal-data export, and the exported
gradebook. Runs last: whatever the earlier steps recorded in MATH70097 is what it shows."""

from __future__ import annotations

import csv
import io
import json
import random

from sqlalchemy import func, select

from bot.db.models import LedgerEntry, Module
from bot.db.models import Person as RosterPerson
from cohortlab.demo.term import MODULE, Term
from cohortlab.drive import File, Reply


def table(data: bytes) -> str:
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
    lines = ["  ".join(h.ljust(w) for h, w in zip(short, widths, strict=True)).rstrip()]
    lines += ["  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip() for r in body]
    return "\n".join(lines)


async def _credits(term: Term) -> int:
    async with term.cohort.db.session() as s:
        module = (await s.execute(select(Module).where(Module.code == MODULE))).scalar_one()
        count = await s.execute(
            select(func.count()).select_from(LedgerEntry).where(LedgerEntry.module_id == module.id)
        )
        return int(count.scalar_one())


async def _student_numbers(term: Term) -> dict[str, str]:
    """Display name -> student number: the tutor's spreadsheet names students by number."""
    async with term.cohort.db.session() as s:
        rows = await s.execute(select(RosterPerson.display_name, RosterPerson.student_number))
        return {str(name): str(num) for name, num in rows if num}


async def _keep(term: Term, reply: Reply) -> tuple[str, bytes]:
    """Save the file the bot sent with ``reply`` in the output folder."""
    assert reply.files, f"no file with {reply.text!r}"
    name, data = reply.files[0]
    await term.save(name, data)
    return name, data


async def play(term: Term) -> None:
    cohort, log = term.cohort, term.log
    tutor = cohort.tutor(MODULE)
    students = cohort.students(MODULE)
    amara = students[0]
    admin = cohort.admins()[0]
    log.section("Participation marks and the gradebook")
    log.note(f"{await _credits(term)} credits in {MODULE}'s ledger from the term so far")

    await term.say(
        tutor,
        "gradebook weights",
        shown="discussion:50 attendance:10",
        module=MODULE,
        discussion=50,
        attendance=10,
        reason="discussion is the heart of this module",
    )
    await term.say(amara, "marks", module=MODULE)
    await term.say(
        tutor,
        "gradebook adjust",
        shown=f"student:@{amara.name} component:discussion points:1 "
        "reason:answer posted in the wrong thread",
        module=MODULE,
        student=amara,
        component="discussion",
        points=1,
        reason="answer posted in the wrong thread in week 2",
    )
    await term.say(tutor, "gradebook audit", module=MODULE, student=amara)

    numbers = await _student_numbers(term)
    rows = ["student,component,weight,mark"]
    rng = random.Random(70097)
    for person in students:
        rows.append(f"{numbers[person.display_name]},Coursework,30,{rng.randrange(52, 81)}")
        rows.append(f"{numbers[person.display_name]},Exam,60,{rng.randrange(45, 86)}")
    log.user(
        tutor,
        term.channel,
        "/gradebook weights participation_share:10, then "
        "/gradebook components-import file:marks.csv (coursework 30, exam 60)",
    )
    await tutor.command("gradebook weights", where=MODULE, module=MODULE, participation_share=10)
    imported = await tutor.command(
        "gradebook components-import",
        where=MODULE,
        module=MODULE,
        file=File("marks.csv", ("\n".join(rows) + "\n").encode(), "text/csv"),
    )
    log.bot(term.channel, imported.text, to=tutor)

    skip = cohort.posts(MODULE)
    await term.say(tutor, "gradebook release", module=MODULE)
    await cohort.run_due()
    log.bot(term.channel, (await cohort.wait_post(MODULE, "released", skip=skip)).text)
    marks = await amara.command("marks", where=MODULE, module=MODULE)
    log.user(amara, term.channel, f"/marks module:{MODULE}")
    line = next((x for x in marks.text.splitlines() if "Participation mark" in x), marks.text)
    log.bot(term.channel, f"... {line}", to=amara)

    name, data = await _keep(term, await term.say(amara, "privacy export", where=None))
    mine = json.loads(data)
    log.note(
        f"saved {name}: {len(mine['discussion_posts'])} posts, "
        f"{len(mine['participation_ledger'])} ledger rows, {len(mine['audit_trail'])} audit "
        "entries about them"
    )

    exported = await term.say(tutor, "gradebook export", module=MODULE, format="csv")
    _, term.gradebook = await _keep(term, exported)
    log.user(tutor, term.channel, f"/gradebook export module:{MODULE} format:xlsx")
    await _keep(
        term, await tutor.command("gradebook export", where=MODULE, module=MODULE, format="xlsx")
    )
    await _keep(term, await term.say(admin, "gradebook programme", where=None, format="xlsx"))

    log.section(f"The {MODULE} gradebook (exported)")
    log.print(table(term.gradebook))
    log.note(f"written to {term.out_dir}/: {', '.join(term.saved)}")
