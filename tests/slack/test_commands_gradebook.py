"""``/gradebook``, ``/privacy`` and ``/dashboard`` on Slack: exports arrive as files in the
caller's DM (external upload), weights and adjustments are audited, a component CSV shared
first is imported; students are refused tutor commands and nothing changes."""

from __future__ import annotations

import json

import pytest
from sqlalchemy import select

from bot.db.models import ComponentMark, LedgerEntry, Person, Role
from cohortlab.localslack import File, SlackActor
from tests.slack.conftest import SlackBox

pytestmark = pytest.mark.e2e

MODULE = "MATH70097"


def dm_files(person: SlackActor) -> list[File]:
    return [f for m in person.dms() for f in m.files]


def admin_of(box: SlackBox) -> SlackActor | None:
    return next((box.world.people[e] for e, r in box.world.roles.items() if r == Role.ADMIN), None)


async def test_a_tutor_exports_sets_weights_adjusts_and_reads_the_audit(slack: SlackBox) -> None:
    tutor = slack.world.tutor_of(MODULE)
    student = slack.world.students_of(MODULE)[0]

    exported = await tutor.slash("/gradebook", f"export module:{MODULE}")
    said = await exported.wait_ephemeral(contains="in your direct messages", timeout=20)
    assert "Columns: see docs/gradebook.md" in said.text
    (csv,) = dm_files(tutor)
    assert csv.name.endswith(".csv") and csv.name in said.text
    assert student.user.real_name.encode() in csv.content

    weights = await tutor.slash(
        "/gradebook", f'weights module:{MODULE} discussion:60 reason:"more discussion"'
    )
    # 60 against the others' 20 each: half of the participation mark.
    await weights.wait_ephemeral(contains="Weights saved for MATH70097: Discussion 50%")
    bad = await tutor.slash("/gradebook", f"weights module:{MODULE} discussion:lots")
    await bad.wait_ephemeral(contains="`discussion` must be a number, not `lots`.")

    adjusted = await tutor.slash(
        "/gradebook",
        f"adjust module:{MODULE} student:{student.mention} component:discussion points:1 "
        'reason:"reply in the wrong thread"',
    )
    await adjusted.wait_ephemeral(contains="discussion in MATH70097 by +1 point")
    async with slack.db.session() as s:
        assert len(list((await s.execute(select(LedgerEntry))).scalars())) == 1

    trail = await tutor.slash("/gradebook", f"audit module:{MODULE} student:@{student.name}")
    await trail.wait_ephemeral(contains="wrong thread")


async def test_components_are_imported_from_a_csv_shared_first(slack: SlackBox) -> None:
    tutor = slack.world.tutor_of(MODULE)
    student = slack.world.students_of(MODULE)[0]
    async with slack.db.session() as s:
        number = (
            await s.execute(select(Person.student_number).where(Person.email == student.user.email))
        ).scalar_one()
    data = f"student,component,weight,mark\n{number},Exam,70,64\n".encode()
    shared = await tutor.upload(tutor.dm_channel(), "components.csv", data)
    imported = await tutor.slash(
        "/gradebook",
        f"components-import module:{MODULE} file:{shared.to_json()['permalink']}",
    )
    await imported.wait_ephemeral(contains="Exam")
    async with slack.db.session() as s:
        assert len(list((await s.execute(select(ComponentMark))).scalars())) == 1


async def test_students_are_refused_and_get_their_own_data_and_a_dashboard_link(
    slack: SlackBox,
) -> None:
    student = slack.world.students_of(MODULE)[0]
    refused = await student.slash("/gradebook", f"export module:{MODULE}")
    await refused.wait_ephemeral(contains="MATH70097")
    adjusted = await student.slash(
        "/gradebook",
        f"adjust module:{MODULE} student:{student.mention} component:discussion points:5 reason:x",
    )
    await adjusted.wait_ephemeral()
    wrong = await slack.world.tutor_of(MODULE).slash(
        "/gradebook",
        f"adjust module:{MODULE} student:{student.mention} component:karma points:5 reason:x",
    )
    await wrong.wait_ephemeral(contains="`component` must be one of")
    async with slack.db.session() as s:
        assert list((await s.execute(select(LedgerEntry))).scalars()) == []
    assert dm_files(student) == []

    mine = await student.slash("/privacy", "export")
    await mine.wait_ephemeral(contains="in your direct messages", timeout=20)
    (data,) = dm_files(student)
    assert data.name.endswith(".json")
    assert str(student.user.email) in json.dumps(json.loads(data.content))

    erase = await student.slash("/privacy", "erase")
    # Slack's own words: no "Discord" in what a Slack member reads.
    await erase.wait_ephemeral(contains="Your name, email and Slack identity will be removed")
    confirm = await student.slash("/privacy", f"erase-confirm person:{student.mention}")
    assert "erased" not in (await confirm.wait_ephemeral()).text.lower()

    link = await student.slash("/dashboard")
    await link.wait_ephemeral(contains="sign-in link")


async def test_an_admin_exports_the_programme_and_a_tutor_may_not(slack: SlackBox) -> None:
    admin = admin_of(slack)
    assert admin is not None, "the example roster has an admin"
    exported = await admin.slash("/gradebook", "programme format:xlsx")
    await exported.wait_ephemeral(contains="in your direct messages", timeout=20)
    (book,) = dm_files(admin)
    assert book.name.endswith(".xlsx") and book.content[:2] == b"PK"
    tutor = slack.world.tutor_of(MODULE)
    refused = await tutor.slash("/gradebook", "programme")
    assert "direct messages" not in (await refused.wait_ephemeral()).text
    assert dm_files(tutor) == []
    nobody = await admin.slash("/privacy", "erase-confirm person:nosuchhandle")
    await nobody.wait_ephemeral(
        contains="Nobody in this cohort has the student number, Slack handle or id 'nosuchhandle'."
    )
