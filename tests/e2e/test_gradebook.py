"""The gradebook through the local Discord server: student view, export, release, audit, privacy."""

from __future__ import annotations

import asyncio
import csv
import io
import json
import os
import random
import signal
from decimal import Decimal
from typing import Any

import pytest
from openpyxl import load_workbook
from sqlalchemy import func, select

from bot.access.context import open_context
from bot.access.identity import ChatUser
from bot.db.engine import Database
from bot.db.models import AuditEntry, LedgerEntry, MarkRelease, MarkScheme, Module, Person
from bot.gradebook import service
from bot.gradebook.reader import Exporter, MarksReader, render
from cohortlab.localdiscord.models import Message
from cohortlab.localdiscord.scripting import Actor, Upload, message_text
from cohortlab.sample import SeedReport, seed_term
from cohortlab.sandbox import Sandbox, World
from tests.e2e.quiet import first_runs_done
from tests.processes import gone
from tests.storage_backends import Backends, backends

pytestmark = pytest.mark.e2e

MODULE = "MATH70097"


async def seed(sandbox: Sandbox, code: str = MODULE, seed: int = 7) -> SeedReport:
    """Weeks of records in a module, with the credits the features write for them."""
    async with sandbox.db.session() as s:
        module = (await s.execute(select(Module).where(Module.code == code))).scalar_one()
        return await seed_term(
            s, module, now=sandbox.clock.now(), rng=random.Random(seed), prompts=2, tutorials=3
        )


def read_csv(message: Message) -> list[dict[str, str]]:
    assert message.attachments, f"no file attached to {message.content!r}"
    data = message.attachments[0].data
    assert data.startswith(b"\xef\xbb\xbf")
    return list(csv.DictReader(io.StringIO(data.decode("utf-8-sig"))))


async def table_counts(sandbox: Sandbox) -> dict[str, int]:
    async with sandbox.db.session() as s:
        return {
            model.__tablename__: int(
                (await s.execute(select(func.count()).select_from(model))).scalar_one()
            )
            for model in (AuditEntry, LedgerEntry, MarkRelease, MarkScheme)
        }


def student(world: World, username: str = "amara.codes") -> Actor:
    return world.person(username)


def tutor(world: World) -> Actor:
    return world.person("tomaszz_stats")


# --------------------------------------------------------------------------- student view


async def test_student_view_is_private_and_explains_each_item(
    sandbox: Sandbox, world: World
) -> None:
    await seed(sandbox)
    amara, lukas = student(world), student(world, "lukasb_92")
    handle = await amara.command("marks", where=world.channel(MODULE), module=MODULE)
    reply = await handle.reply(contains="your participation")
    text = "\n".join(message_text(m) for m in handle.messages)
    assert reply in amara.ephemerals() and reply not in lukas.ephemerals()
    assert "MATH70097 Supervised Learning" in text
    assert "D1 Week 1" in text and "__Discussions__" in text
    assert "X1 Exercise 1" in text and "peer score" in text
    assert "attended" in text and "held" in text
    assert "Discussion:" in text and "× weight" in text
    assert "(provisional)**" in text
    assert "Lukas" not in text  # nobody else's name or marks

    # the mark the student sees is the one the tutor's export holds for them
    export = await (
        await tutor(world).command("gradebook export", where=world.channel(MODULE), module=MODULE)
    ).reply(contains="students")
    row = next(r for r in read_csv(export) if r["discord"] == "amara.codes")
    assert f"Participation mark: {row['participation mark']}/100 (provisional)" in text

    summary = await (await amara.command("marks")).reply(contains="Your participation marks")
    assert f"{MODULE} Supervised Learning: {row['participation mark']}/100 (provisional)" in (
        message_text(summary)
    )
    assert "MATH70094" in message_text(summary)  # every module she studies, one line each


async def test_tutor_and_admin_cannot_use_the_student_view_for_a_module(
    sandbox: Sandbox, world: World
) -> None:
    reply = await (
        await tutor(world).command("marks", where=world.channel(MODULE), module=MODULE)
    ).reply()
    assert reply.content == f"You are not enrolled as a student in {MODULE}."


# --------------------------------------------------------------------------- exports


async def test_tutor_export_is_a_private_file_and_reproducible(
    sandbox: Sandbox, world: World
) -> None:
    report = await seed(sandbox)
    tomasz = tutor(world)
    first = await (
        await tomasz.command("gradebook export", where=world.channel(MODULE), module=MODULE)
    ).reply(contains="students")
    assert first in tomasz.ephemerals()
    assert first not in student(world).ephemerals()
    assert first.attachments[0].filename == f"gradebook-{MODULE}.csv"
    rows = read_csv(first)
    assert len(rows) == 11  # the module's students, one row each
    header = list(rows[0])
    assert header[:4] == ["student_number", "name", "discord", "enrolment"]
    item_columns = [h for h in header if h[:1] in "DXT" and "(" in h]
    assert len(item_columns) == len(report.prompts) + 2 * len(report.exercises) + 3
    assert item_columns[0].startswith("D") and item_columns[0].endswith("(discussion, /12)")
    assert "participation mark" in header and "status" in header
    assert {r["status"] for r in rows} == {"provisional"}
    assert [r["student_number"] for r in rows] == sorted(r["student_number"] for r in rows)
    for r in rows:
        earned = Decimal(r["discussion earned"])
        assert earned == sum(
            (Decimal(r[h]) for h in item_columns if h.startswith("D") and r[h]), Decimal(0)
        )

    again = await (
        await tomasz.command("gradebook export", where=world.channel(MODULE), module=MODULE)
    ).reply(contains="students")
    assert again.attachments[0].data == first.attachments[0].data  # byte-identical

    xlsx = await (
        await tomasz.command(
            "gradebook export", where=world.channel(MODULE), module=MODULE, format="xlsx"
        )
    ).reply(contains="students")
    xlsx_again = await (
        await tomasz.command(
            "gradebook export", where=world.channel(MODULE), module=MODULE, format="xlsx"
        )
    ).reply(contains="students")
    assert xlsx_again.attachments[0].data == xlsx.attachments[0].data  # as of the same moment
    book = load_workbook(io.BytesIO(xlsx.attachments[0].data), read_only=True)
    assert book.sheetnames == ["Gradebook", "Items"]
    sheet_rows = list(book["Gradebook"].iter_rows(values_only=True))
    assert list(sheet_rows[0]) == header
    amara_csv = next(r for r in rows if r["discord"] == "amara.codes")
    amara_xlsx = next(r for r in sheet_rows[1:] if r[2] == "amara.codes")
    mark = amara_xlsx[header.index("participation mark")]
    assert Decimal(str(mark)) == Decimal(amara_csv["participation mark"])


async def test_admin_exports_the_programme_with_a_classification_preview(
    sandbox: Sandbox, world: World
) -> None:
    await seed(sandbox)
    admin = world.admins()[0]
    reply = await (await admin.command("gradebook programme")).reply(contains="students")
    rows = read_csv(reply)
    assert len(rows) == 12
    assert "MATH70097 participation" in rows[0] and "classification" in rows[0]
    assert {r["classification"] for r in rows} == {"Provisional: Incomplete"}
    refused = await (await tutor(world).command("gradebook programme")).reply()
    assert refused.content == "Only programme admins can do that."
    assert not refused.attachments


# --------------------------------------------------------------------------- release


async def test_release_labels_marks_released_and_announces_once(
    sandbox: Sandbox, world: World
) -> None:
    await seed(sandbox)
    tomasz, amara = tutor(world), student(world)
    channel = world.channel(MODULE)
    after = sandbox.server.script.last_id()
    reply = await (await tomasz.command("gradebook release", where=channel, module=MODULE)).reply()
    assert reply.content.startswith(f"Participation marks of {MODULE} are released to its 11")
    notice = await sandbox.server.script.wait_for_message(
        channel, contains="Participation marks for MATH70097 are released", after=after
    )
    assert f"<@&{world.module_roles[MODULE].id}>" in notice.content

    view = await (await amara.command("marks", where=channel, module=MODULE)).reply(
        contains="your participation"
    )
    assert "Released marks; only you see this." in message_text(view)
    handle = await amara.command("marks", where=channel, module=MODULE)
    text = "\n".join(message_text(m) for m in await _all(handle))
    assert "final once the exam board confirms" in text

    export = await (await tomasz.command("gradebook export", where=channel, module=MODULE)).reply(
        contains="students"
    )
    assert {r["status"] for r in read_csv(export)} == {"released"}

    before = await table_counts(sandbox)
    cursor = sandbox.server.script.last_id()
    again = await (await tomasz.command("gradebook release", where=channel, module=MODULE)).reply()
    assert again.content.startswith(f"Participation marks of {MODULE} were already released on")
    assert await table_counts(sandbox) == before
    await sandbox.server.script.expect_no_message(channel, after=cursor)  # announced once
    async with sandbox.db.session() as s:
        entry = (
            await s.execute(select(AuditEntry).where(AuditEntry.action == "participation_released"))
        ).scalar_one()
    assert entry.actor_label == "Dr Tomasz Zielinski"
    assert entry.after is not None and entry.after["status"] == "released"


async def _all(handle: Any) -> list[Message]:
    await handle.reply()
    return list(handle.messages)


# --------------------------------------------------------------------------- audit


async def test_audit_trail_for_a_student_and_an_item(sandbox: Sandbox, world: World) -> None:
    await seed(sandbox)
    tomasz, amara = tutor(world), student(world)
    channel = world.channel(MODULE)
    weights = await (
        await tomasz.command(
            "gradebook weights",
            where=channel,
            module=MODULE,
            discussion=50,
            attendance=10,
            reason="more weight on the discussions",
        )
    ).reply()
    assert weights.content.startswith(
        "Weights saved for MATH70097: Discussion 50%, Peer reviews completed 20%, "
        "Peer assessment score 20%, Tutorial attendance 10%"
    )
    adjusted = await (
        await tomasz.command(
            "gradebook adjust",
            where=channel,
            module=MODULE,
            student=amara,
            component="discussion",
            points=2,
            reason="answer posted in the wrong thread",
        )
    ).reply()
    assert adjusted.content.startswith("Adjusted Amara Okafor's discussion in MATH70097 by +2")

    trail = await (
        await tomasz.command("gradebook audit", where=channel, module=MODULE, student=amara)
    ).reply(contains="Audit trail")
    assert "Audit trail of MATH70097, Amara Okafor: 1 entry" in trail.content
    assert "Dr Tomasz Zielinski · adjustment" in trail.content
    assert "why: answer posted in the wrong thread" in trail.content
    assert "participation_mark" in trail.content and "→" in trail.content

    item = await (
        await tomasz.command("gradebook audit", where=channel, module=MODULE, item="weights")
    ).reply(contains="Audit trail")
    assert "weights_changed" in item.content
    assert "discussion 40" in item.content and "discussion 50" in item.content

    view = await (await amara.command("marks", where=channel, module=MODULE)).reply(
        contains="your participation"
    )
    assert "Discussion 50%" in message_text(view)

    # a tutor of another module reads nothing of this module
    helen = world.person("helen.marsh")
    before = await table_counts(sandbox)
    refused = await (
        await helen.command("gradebook audit", where=channel, module=MODULE, student=amara)
    ).reply()
    assert refused.content == "Only tutors of MATH70097 and programme admins can do that."
    assert await table_counts(sandbox) == before


async def test_component_marks_feed_the_module_mark_preview(sandbox: Sandbox, world: World) -> None:
    await seed(sandbox)
    tomasz = tutor(world)
    channel = world.channel(MODULE)
    await (
        await tomasz.command(
            "gradebook weights", where=channel, module=MODULE, participation_share=10
        )
    ).reply()
    csv_text = (
        "student,component,weight,mark\n02510001,Coursework,40,64.5\namara.codes,Exam,50,70\n"
    )
    imported = await (
        await tomasz.command(
            "gradebook components-import",
            where=channel,
            module=MODULE,
            file=Upload("marks.csv", csv_text.encode(), "text/csv"),
        )
    ).reply(contains="Imported")
    assert "Imported 2 component marks for 1 students of MATH70097" in imported.content
    export = await (await tomasz.command("gradebook export", where=channel, module=MODULE)).reply(
        contains="students"
    )
    row = next(r for r in read_csv(export) if r["discord"] == "amara.codes")
    participation = Decimal(row["participation mark"])
    expected = (participation * 10 + Decimal("64.5") * 40 + Decimal(70) * 50) / 100
    assert Decimal(row["module mark"]) == expected.quantize(Decimal("0.01"))
    assert row["component: Coursework (weight 40)"] == "64.50"

    before = await table_counts(sandbox)
    bad = "student,component,weight,mark\namara.codes,Exam,50,170\nnobody,Exam,50,60\n"
    refused = await (
        await tomasz.command(
            "gradebook components-import",
            where=channel,
            module=MODULE,
            file=Upload("bad.csv", bad.encode(), "text/csv"),
        )
    ).reply()
    assert refused.content == (
        "The file was not imported and nothing changed: line 2: the mark must be a number "
        "from 0 to 100."
    )
    assert await table_counts(sandbox) == before

    # A student's attempt is refused before the bot fetches their file.
    fetched = len(sandbox.server.rest.downloads)
    student = await (
        await world.students(MODULE)[0].command(
            "gradebook components-import",
            where=channel,
            module=MODULE,
            file=Upload("mine.csv", csv_text.encode(), "text/csv"),
        )
    ).reply()
    assert "tutor" in student.content.lower() or "staff" in student.content.lower()
    assert len(sandbox.server.rest.downloads) == fetched
    assert await table_counts(sandbox) == before


# --------------------------------------------------------------------------- privacy


async def test_privacy_export_holds_everything_about_me_and_nothing_of_others(
    sandbox: Sandbox, world: World
) -> None:
    await seed(sandbox)
    amara = student(world)
    reply = await (await amara.command("privacy export")).reply(contains="everything cohortbot")
    assert reply in amara.ephemerals()
    data = json.loads(reply.attachments[0].data)
    assert data["profile"]["display_name"] == "Amara Okafor"
    assert data["profile"]["student_number"] == "02510001"
    assert {e["module"] for e in data["enrolments"]} >= {MODULE, "MATH70094"}
    assert data["discussion_posts"] and data["participation_ledger"]
    assert all(e["module"] == MODULE for e in data["participation_ledger"])
    text = reply.attachments[0].data.decode()
    for other in ("Lukas Becker", "lukasb_92", "02510002", "reviewer_id", "author_id"):
        assert other not in text
    for review in data["reviews_assigned_to_you"]:
        assert review["work"].startswith("Submission ")


async def test_erasure_is_requested_then_confirmed_and_keeps_the_marks(
    sandbox: Sandbox, world: World
) -> None:
    await seed(sandbox)
    amara = student(world)
    asked = await (await amara.command("privacy erase")).reply()
    assert asked.content.startswith("Your erasure request is recorded")
    async with sandbox.db.session() as s:
        person = (
            await s.execute(select(Person).where(Person.student_number == "02510001"))
        ).scalar_one()
        ledger_rows = (
            await s.execute(
                select(func.count())
                .select_from(LedgerEntry)
                .where(LedgerEntry.person_id == person.id)
            )
        ).scalar_one()

    # only an admin carries it out; a tutor is refused and nothing changes
    before = await table_counts(sandbox)
    refused = await (await tutor(world).command("privacy erase-confirm", person="02510001")).reply()
    assert refused.content == "Only programme admins can do that."
    assert await table_counts(sandbox) == before

    admin = world.admins()[0]
    done = await (
        await admin.command("privacy erase-confirm", person="amara.codes", reason="ticket 42")
    ).reply()
    assert done.content.startswith(f"Erased the personal data of person {person.id} as they")
    async with sandbox.db.session() as s:
        erased = await s.get(Person, person.id)
        assert erased is not None
        assert erased.display_name == f"Erased person {person.id}"
        assert erased.email is None and erased.platform_user_id is None
        assert erased.student_number == "02510001"
        assert erased.erased_at == sandbox.clock.now()
        kept = (
            await s.execute(
                select(func.count())
                .select_from(LedgerEntry)
                .where(LedgerEntry.person_id == person.id)
            )
        ).scalar_one()
    assert kept == ledger_rows

    gone = await (await amara.command("marks", module=MODULE)).reply()
    assert "not on this cohort's roster" in gone.content
    export = await (
        await tutor(world).command("gradebook export", where=world.channel(MODULE), module=MODULE)
    ).reply(contains="students")
    row = next(r for r in read_csv(export) if r["student_number"] == "02510001")
    assert row["name"] == f"Erased person {person.id}" and row["discord"] == ""
    assert row["participation mark"] != ""


# --------------------------------------------------------------------------- refusals


@pytest.mark.parametrize(
    ("who", "command", "options", "sentence"),
    [
        (
            "amara.codes",
            "gradebook export",
            {"module": MODULE},
            "Only tutors of MATH70097 and programme admins can do that.",
        ),
        (
            "helen.marsh",
            "gradebook release",
            {"module": MODULE},
            "Only tutors of MATH70097 and programme admins can do that.",
        ),
        (
            "tomaszz_stats",
            "gradebook export",
            {"module": "MATH7"},
            "There is no module 'MATH7' in this cohort; valid codes: MATH70094, MATH70095,",
        ),
        (
            "tomaszz_stats",
            "gradebook weights",
            {"module": MODULE, "discussion": 0, "peer_review": 0, "peer_score": 0, "attendance": 0},
            "At least one participation component needs a weight above 0.",
        ),
        (
            "tomaszz_stats",
            "gradebook weights",
            {"module": MODULE, "discussion": 0.00001},
            "The discussion weight must be from 0 to 1000, with at most 4 decimals.",
        ),
        (
            "tomaszz_stats",
            "gradebook adjust",
            {
                "module": MODULE,
                "student": "amara.codes",
                "component": "attendance",
                "points": 1,
                "reason": " ",
            },
            "Give a reason for the adjustment (it is kept in the audit trail).",
        ),
        (
            "tomaszz_stats",
            "gradebook adjust",
            {
                "module": MODULE,
                "student": "helen.marsh",
                "component": "attendance",
                "points": 1,
                "reason": "typo",
            },
            "Dr Helen Marsh is not a student of MATH70097.",
        ),
        (
            "tomaszz_stats",
            "gradebook audit",
            {"module": MODULE, "item": "Q9"},
            "I do not know the item 'Q9'; use a code such as D3 (prompt),",
        ),
        (
            "amara.codes",
            "marks",
            {"module": "MATH70105"},
            "You are not enrolled as a student in MATH70105.",
        ),
    ],
)
async def test_bad_input_gets_one_sentence_and_changes_nothing(
    sandbox: Sandbox,
    world: World,
    who: str,
    command: str,
    options: dict[str, Any],
    sentence: str,
) -> None:
    await seed(sandbox)
    actor = world.person(who)
    if "student" in options:
        options = {**options, "student": world.person(options["student"])}
    before = await table_counts(sandbox)
    reply = await (
        await actor.command(command, where=world.channel(MODULE), options=options)
    ).reply()
    assert reply.content.startswith(sentence), reply.content
    assert reply in actor.ephemerals()
    assert not reply.attachments
    assert await table_counts(sandbox) == before


# --------------------------------------------------------------------------- the reader process


async def _sandbox(storage: Backends, backend: str, reader: str) -> Sandbox:
    box = Sandbox(
        Database(await storage.fresh_url(backend)), settings={"gradebook_workers": reader}
    )
    await box.start()
    await first_runs_done(box)
    return box


async def _stop(box: Sandbox, storage: Backends) -> None:
    await box.stop()
    await box.db.dispose()
    await storage.drop(box.db.url)
    assert box.server.internal_errors == []


# The reader and exporter processes (bot/childproc.py) start only for a SQLite file; on
# PostgreSQL /marks and exports run on the bot's loop. So "process" runs on SQLite only, and
# "loop" on every configured backend.
READERS = [
    pytest.param("process", "sqlite", id="process-sqlite"),
    *(pytest.param("loop", backend, id=f"loop-{backend}") for backend in backends()),
]


def _reader(box: Sandbox) -> MarksReader:
    cog: Any = box.app.bot.get_cog("Gradebook")
    return cog.reader  # type: ignore[no-any-return]


def _exporter(box: Sandbox) -> Exporter:
    cog: Any = box.app.bot.get_cog("Gradebook")
    return cog.exporter  # type: ignore[no-any-return]


async def _view(actor: Actor, world: World) -> str:
    handle = await actor.command("marks", where=world.channel(MODULE), module=MODULE)
    await handle.reply(contains="your participation")
    return "\n".join(message_text(m) for m in handle.messages)


@pytest.mark.parametrize(("reader", "backend"), READERS)
async def test_the_student_view_shows_a_tutors_change_at_once_wherever_it_is_computed(
    storage: Backends, reader: str, backend: str
) -> None:
    """/marks runs in a reader process by default (its module snapshot lives there): a weights
    change made a moment earlier shows at once, exactly as when it runs on the bot's loop."""
    box = await _sandbox(storage, backend, reader)
    try:
        assert box.world is not None
        world = box.world
        assert (_reader(box).child is not None) == (reader == "process")
        await seed(box)
        amara = student(world)
        before = await _view(amara, world)
        assert "Weights: Discussion 40%" in before
        await (
            await tutor(world).command(
                "gradebook weights", where=world.channel(MODULE), module=MODULE, discussion=50
            )
        ).reply(contains="Weights saved")
        after = await _view(amara, world)  # same clock, well within the snapshot's 2 seconds
        assert "Weights: Discussion 45.45%" in after  # 50 of 110
        # what the bot sent is what the service computes for her, byte for byte
        user = ChatUser(str(amara.id), amara.name, amara.user.global_name or amara.name)
        async with open_context(box.db, str(world.guild.id), user) as ctx:
            view = await service.student_marks(ctx.session, ctx.caller, MODULE, now=box.clock.now())
        expected = render(view)
        assert after == f"{expected.title}\n" + "\n".join(expected.parts)

        # and the tutor's export (built by the exporter process by default) is the service's
        assert (_exporter(box).child is not None) == (reader == "process")
        for fmt in ("csv", "xlsx"):
            sent = await (
                await tutor(world).command(
                    "gradebook export", where=world.channel(MODULE), module=MODULE, format=fmt
                )
            ).reply(contains="students")
            async with box.db.session() as s:
                module = (await s.execute(select(Module).where(Module.code == MODULE))).scalar_one()
                built = await service.build_module_export(s, module, fmt, box.clock.now())
            assert sent.attachments[0].data == built.data
    finally:
        await _stop(box, storage)


@pytest.mark.parametrize("backend", backends())
async def test_a_crowd_asking_at_once_each_sees_only_their_own_marks(
    storage: Backends, backend: str
) -> None:
    """On the loop (PostgreSQL's path) a crowd's /marks are answered together: each student
    still gets exactly the view the service computes for them, nobody else's, and a tutor in
    the crowd still gets the refusal."""
    box = await _sandbox(storage, backend, "loop")
    try:
        assert box.world is not None
        world = box.world
        await seed(box)
        students = world.students(MODULE)
        channel = world.channel(MODULE)
        for actor in students:  # the first command links each student's account
            await (await actor.command("marks", where=channel, module=MODULE)).reply()
        reader = _reader(box)
        answered = reader.answered_together
        asks = [
            (actor, await actor.command("marks", where=channel, module=MODULE))
            for actor in students
        ]
        summaries = [(actor, await actor.command("marks", where=channel)) for actor in students]
        refused = await tutor(world).command("marks", where=channel, module=MODULE)
        for (actor, handle), module in [(a, MODULE) for a in asks] + [(s, None) for s in summaries]:
            await handle.reply()
            sent = "\n".join(message_text(m) for m in handle.messages)
            user = ChatUser(str(actor.id), actor.name, actor.user.global_name or actor.name)
            async with open_context(box.db, str(world.guild.id), user) as ctx:
                view = await service.student_marks(ctx.session, ctx.caller, module, box.clock.now())
            expected = render(view)
            assert sent == f"{expected.title}\n" + "\n".join(expected.parts)
            assert handle.messages[0] in actor.ephemerals()
            others = [a for a in students if a is not actor]
            assert all(handle.messages[0] not in other.ephemerals() for other in others)
        assert reader.answered_together - answered == 2 * len(students)
        assert (await refused.reply()).content == f"You are not enrolled as a student in {MODULE}."
    finally:
        await _stop(box, storage)


async def test_a_reader_process_that_dies_is_replaced_and_the_student_still_gets_an_answer(
    storage: Backends,
) -> None:
    # SQLite only: the reader process exists only for a SQLite file (bot/childproc.py).
    box = await _sandbox(storage, "sqlite", "process")
    try:
        assert box.world is not None
        world = box.world
        await seed(box)
        amara = student(world)
        first = await _view(amara, world)
        child = _reader(box).child
        assert child is not None
        (pid,) = child.pids()
        os.kill(pid, signal.SIGKILL)
        await gone(pid)
        assert await _view(amara, world) == first  # answered on the loop meanwhile
        assert await _view(amara, world) == first  # by a new reader process
        (new,) = child.pids()
        assert new != pid
    finally:
        await _stop(box, storage)


async def test_a_slow_answer_says_thinking_first_then_shows_the_marks(
    sandbox: Sandbox, world: World
) -> None:
    """Discord forgets an interaction not acknowledged within 3 s: at the end of term, when a
    crowd queues for the reader, /marks defers first and fills the "thinking" reply in."""
    await seed(sandbox)
    cog: Any = sandbox.app.bot.get_cog("Gradebook")
    amara = student(world)
    quick = await amara.command("marks", where=world.channel(MODULE), module=MODULE)
    await quick.reply(contains="your participation")
    assert quick.interaction.response_type == 4  # answered at once: no "thinking" first

    cog.pacer.defer_after = 0  # as if the student's click was already 2.5 s old
    slow = await amara.command("marks", where=world.channel(MODULE), module=MODULE)
    reply = await slow.reply(contains="your participation")
    assert slow.interaction.response_type == 5  # deferred ...
    assert sandbox.server.state.answered(slow.interaction)  # ... and filled in
    assert reply in amara.ephemerals() and reply not in student(world, "lukasb_92").ephemerals()
    assert message_text(reply) == message_text(quick.messages[0])


@pytest.mark.parametrize("backend", backends())
async def test_behind_a_queue_too_long_to_answer_in_time_students_are_deferred_at_once(
    storage: Backends, backend: str
) -> None:
    """A crowd on a slow host: a student whose queue ahead will not be answered within 2 s
    of the click says "thinking" at once, before any answer is ready (not 2.5 s later, when
    the whole crowd would defer together and those deferrals queue behind the answers), and
    then gets exactly their marks in that reply; the first few are answered directly."""
    box = await _sandbox(storage, backend, "loop")
    try:
        assert box.world is not None
        world = box.world
        await seed(box)
        students = world.students(MODULE)[:6]
        channel = world.channel(MODULE)
        for actor in students:  # the first command links each student's account
            await (await actor.command("marks", where=channel, module=MODULE)).reply()
        cog: Any = box.app.bot.get_cog("Gradebook")
        cog.pacer.assumed_rate = 1.0  # a host answering one /marks a second ...
        cog.pacer.defer_after = 60.0  # ... and no "thinking" on the 2.5 s timer in this test
        reader = cog.reader
        computed = reader.student_marks
        held = asyncio.Event()

        async def slow(*args: Any, **kwargs: Any) -> Any:
            await held.wait()  # no answer until the crowd has asked
            return await computed(*args, **kwargs)

        reader.student_marks = slow
        handles = [
            (actor, await actor.command("marks", where=channel, module=MODULE))
            for actor in students
        ]
        # 3 ahead take 3 s at one a second, past 2 s: the fourth and later defer at once.
        behind = len(students) - 3
        await box.server.wait_until(
            lambda: sum(h.interaction.response_type == 5 for _, h in handles) == behind or None,
            timeout=30,
            describe=lambda: "the students behind the queue were not deferred",
        )
        held.set()
        for actor, handle in handles:
            await handle.reply(contains="your participation")
            sent = "\n".join(message_text(m) for m in handle.messages)
            user = ChatUser(str(actor.id), actor.name, actor.user.global_name or actor.name)
            async with open_context(box.db, str(world.guild.id), user) as ctx:
                view = await service.student_marks(ctx.session, ctx.caller, MODULE, box.clock.now())
            expected = render(view)
            assert sent == f"{expected.title}\n" + "\n".join(expected.parts)
            assert handle.messages[0] in actor.ephemerals()
            assert box.server.state.answered(handle.interaction)
        assert sorted(h.interaction.response_type or 0 for _, h in handles) == [4, 4, 4, 5, 5, 5]
    finally:
        await _stop(box, storage)
