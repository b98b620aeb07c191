"""The capabilities a tutor and a student use, one test each, run on Discord and on Slack
(and on every database backend) from the same body through ``cohortlab.drive``.

Assertions are on what a person reads (``Reply.text``/``Post.text``: times as UTC, no markup),
so a difference in rendering is not a failure and a difference in content is. A step whose
command a platform does not offer yet is set up through the same service the command calls
(``Cohort.as_person``); a test whose subject is such a command is skipped with the reason.
"""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any, TypeVar

import pytest
from sqlalchemy import func, select

from bot.access.identity import ChatUser
from bot.calendar import service as calendar
from bot.db.models import (
    Contribution,
    ContributionRevision,
    LedgerEntry,
    LedgerSource,
)
from cohortlab.drive import Cohort, Person, Reply, readable

pytestmark = pytest.mark.e2e

T = TypeVar("T")
MODULE = "MATH70097"


async def eventually(probe: Callable[[], Awaitable[T | None]], what: str, tries: int = 150) -> T:
    """The probe's first truthy answer (the database catching up); names ``what`` if none."""
    for _ in range(tries):
        found = await probe()
        if found:
            return found
        await asyncio.sleep(0.1)
    raise AssertionError(f"never happened: {what}")


def number(text: str) -> int:
    found = re.search(r"#(\d+)", text)
    assert found is not None, text
    return int(found[1])


def skip_unless(cohort: Cohort, command: str) -> None:
    if not cohort.offers(command):
        pytest.skip(cohort.why_not(command))


async def command_or_service(
    cohort: Cohort,
    person: Person,
    command: str,
    options: dict[str, Any],
    service: Callable[..., Awaitable[Any]],
    **service_options: Any,
) -> str:
    """Run ``/command`` where the platform has it, else the service it calls, as ``person``;
    the readable answer either way (a setup step, not what the test is about)."""
    if cohort.offers(command):
        return (await person.command(command, where=MODULE, **options)).text
    done = await cohort.as_person(person, service, now=cohort.clock.now(), **service_options)
    rendered = getattr(done, "render", None)
    return readable(str(rendered() if callable(rendered) else getattr(done, "text", done)))


# --------------------------------------------------------------------------- discussions


async def test_a_graded_prompt_opens_and_an_answer_in_its_thread_is_evidence(
    cohort: Cohort,
) -> None:
    tutor = cohort.tutor(MODULE)
    student = cohort.students(MODULE)[0]
    asked = await tutor.command(
        "prompt create",
        where=MODULE,
        module=MODULE,
        title="Week 1: bias and variance",
        opens="2030-01-19 09:00",
        closes="2030-01-23 17:00",
    )
    assert asked.form, asked.text  # the prompt's text is asked for in a form
    created = await tutor.fill_form(text="Where have you met the bias-variance trade-off?")
    assert "Scheduled prompt #" in created.text
    assert "2030-01-19 09:00 UTC" in created.text  # every reader sees it in their own zone
    prompt_id = number(created.text)

    await cohort.advance_to(datetime(2030, 1, 19, 9, 1, tzinfo=UTC))
    posted = await cohort.wait_post(MODULE, "Week 1: bias and variance")
    assert "Where have you met the bias-variance trade-off?" in posted.text
    thread = await cohort.prompt_thread(prompt_id)

    answer = await student.post(thread, "I met it fitting splines: more knots, less bias.")

    async def contributions() -> list[Contribution]:
        async with cohort.db.session() as s:
            return list((await s.execute(select(Contribution))).scalars())

    (row,) = await eventually(contributions, "the answer recorded")
    assert row.content.startswith("I met it fitting splines")
    assert row.message_id == answer.message_id

    await student.edit(answer, "I met it fitting splines: more knots, less bias, more variance.")

    async def edited() -> Contribution | None:
        rows = await contributions()
        return rows[0] if len(rows) == 1 and rows[0].edited_at is not None else None

    row = await eventually(edited, "the edit recorded")
    assert row.content.endswith("more variance.")
    async with cohort.db.session() as s:
        count = (await s.execute(select(func.count()).select_from(Contribution))).scalar_one()
        revisions = list((await s.execute(select(ContributionRevision.content))).scalars())
    assert count == 1
    assert revisions == ["I met it fitting splines: more knots, less bias."]

    marks = await student.command("marks", where=MODULE, module=MODULE)
    assert "Week 1: bias and variance" in marks.text, marks.text
    theirs = await cohort.students(MODULE)[1].command("marks", where=MODULE, module=MODULE)
    assert "Week 1: bias and variance" in theirs.text


async def test_a_reply_through_the_answer_form_credits_the_post_its_link_names(
    cohort: Cohort,
) -> None:
    tutor = cohort.tutor(MODULE)
    amara, ben = cohort.students(MODULE)[:2]
    await tutor.command(
        "prompt create",
        where=MODULE,
        module=MODULE,
        title="Week 2: cross-validation",
        opens="2030-01-19 09:00",
        closes="2030-01-23 17:00",
        private_answers=True,
    )
    created = await tutor.fill_form(text="When does k-fold cross-validation mislead?")
    prompt_id = number(created.text)
    await cohort.advance_to(datetime(2030, 1, 19, 9, 1, tzinfo=UTC))
    thread = await cohort.prompt_thread(prompt_id)

    async def answer(person: Person, text: str, reply_to: str = "") -> Reply:
        form = await person.command("prompt answer", where=MODULE, prompt=prompt_id)
        assert form.form, form.text
        return await person.fill_form(answer=text, reply_to=reply_to)

    async def contributions() -> list[Contribution]:
        async with cohort.db.session() as s:
            return list((await s.execute(select(Contribution).order_by(Contribution.id))).scalars())

    assert "is posted" in (await answer(amara, " ".join(["careful"] * 150))).text
    amaras = await cohort.wait_post(thread, "Answer from")
    assert "is posted" in (await answer(ben, " ".join(["thoughtful"] * 151))).text
    await eventually(lambda: _at_least(contributions, 2), "both answers recorded")

    refused = await answer(ben, " ".join(["yes"] * 50), reply_to="https://example.com/a/post")
    assert "“Replying to” must be the link (or id) of a classmate's post" in refused.text
    assert [p for p in cohort.posts(thread) if "Reply from" in p.text] == []  # nothing posted
    assert len(await contributions()) == 2

    replied = await answer(ben, " ".join(["yes"] * 50), reply_to=cohort.link_of(amaras))
    assert "is posted" in replied.text, replied.text
    rows = await eventually(lambda: _at_least(contributions, 3), "the reply recorded")
    assert [r.parent_message_id for r in rows] == [None, None, amaras.message_id]
    assert rows[2].person_id == rows[1].person_id != rows[0].person_id
    mine = await ben.command("prompt mine", where=MODULE)
    assert "initial post 151 words, on time; 1 of 2 replies" in mine.text, mine.text


async def _at_least(
    probe: Callable[[], Awaitable[list[Contribution]]], n: int
) -> list[Contribution] | None:
    rows = await probe()
    return rows if len(rows) >= n else None


# --------------------------------------------------------------------------- deadlines


async def test_an_extended_deadlines_notice_reaches_the_student_once_in_their_zone(
    cohort: Cohort,
) -> None:
    tutor = cohort.tutor(MODULE)
    amara, lukas = cohort.students(MODULE)[:2]
    zone = await amara.command("calendar timezone", zone="Pacific/Kiritimati")
    assert "Pacific/Kiritimati" in zone.text

    added = await command_or_service(
        cohort,
        tutor,
        "deadline add",
        {
            "module": MODULE,
            "kind": "submission_deadline",
            "title": "Coursework 1",
            "due": "2030-01-30 12:00",
            "offsets": "48h,1h",
        },
        calendar.add_deadline,
        module_code=MODULE,
        kind="submission_deadline",
        title="Coursework 1",
        due="2030-01-30 12:00",
        offsets="48h,1h",
    )
    item = number(added)
    assert "2030-01-30 12:00 UTC" in added
    new_due = datetime(2030, 2, 3, 11, 59, 59, tzinfo=UTC)  # end of 2 February at UTC-12
    chat_user = cohort.chat_user(amara)
    await command_or_service(
        cohort,
        tutor,
        "deadline extend",
        {"item": item, "student": amara, "due": "2030-02-02 AoE", "reason": "MC-2030-014"},
        calendar.grant_extension,
        event_id=item,
        student=ChatUser(*chat_user),
        due="2030-02-02 AoE",
        reason="MC-2030-014",
    )
    await cohort.run_due()

    mine = await amara.command("calendar upcoming", where=MODULE)
    assert "Coursework 1" in mine.text and "2030-02-03 11:59 UTC" in mine.text
    theirs = await lukas.command("calendar upcoming", where=MODULE)
    assert "Coursework 1" in theirs.text and "2030-01-30 12:00 UTC" in theirs.text

    # The class keeps the original time; Amara's own notice follows hers, in her zone, once.
    await cohort.advance_to(datetime(2030, 1, 28, 12, 0, tzinfo=UTC))
    await cohort.wait_post(MODULE, "due in 48 hours")
    assert [p for p in amara.dms() if "48 hours" in p.text] == []
    await cohort.advance_to(new_due - timedelta(hours=48))
    dm = await amara.wait_dm("Your extended deadline")
    assert "48 hours" in dm.text and "Pacific/Kiritimati" in dm.text
    await cohort.run_due()
    assert len([p for p in amara.dms() if "Your extended deadline" in p.text]) == 1
    assert [p for p in lukas.dms() if "Coursework 1" in p.text] == []


# --------------------------------------------------------------------------- tutorials


async def test_tutorial_rsvp_and_check_in_count_once(cohort: Cohort) -> None:
    tutor = cohort.tutor(MODULE)
    amara, lukas = cohort.students(MODULE)[:2]
    await command_or_service(
        cohort,
        tutor,
        "tutorial add",
        {
            "module": MODULE,
            "title": "Week 1: linear models",
            "start": "2030-01-16 18:00",
            "duration": "1h",
        },
        calendar.add_tutorial,
        module_code=MODULE,
        title="Week 1: linear models",
        start="2030-01-16 18:00",
        duration="1h",
    )
    await cohort.run_due()
    card = await cohort.wait_post(MODULE, "Week 1: linear models")
    assert "Will you come?" in card.text

    going = await amara.click(card, "cb:calendar:going:")
    assert "You're going" in going.text
    assert "not going" in (await lukas.click(card, "cb:calendar:notgoing:")).text

    early = await amara.click(card, "cb:calendar:checkin:")
    assert "Check-in opens" in early.text

    await cohort.advance_to(datetime(2030, 1, 16, 18, 5, tzinfo=UTC))
    done = await amara.click(card, "cb:calendar:checkin:")
    assert "Checked in" in done.text and "recorded" in done.text
    refused = await tutor.click(card, "cb:calendar:checkin:")
    assert "not enrolled as a student" in refused.text

    async with cohort.db.session() as s:
        credits = (
            (
                await s.execute(
                    select(LedgerEntry).where(
                        LedgerEntry.source == LedgerSource.TUTORIAL_ATTENDANCE
                    )
                )
            )
            .scalars()
            .all()
        )
    assert [(c.points, c.item_type) for c in credits] == [(Decimal(1), "tutorial")]


async def test_a_second_check_in_is_answered_and_counts_once(cohort: Cohort) -> None:
    amara = cohort.students(MODULE)[0]
    await command_or_service(
        cohort,
        cohort.tutor(MODULE),
        "tutorial add",
        {"module": MODULE, "title": "Drop-in", "start": "2030-01-12 09:30", "duration": "1h"},
        calendar.add_tutorial,
        module_code=MODULE,
        title="Drop-in",
        start="2030-01-12 09:30",
        duration="1h",
    )
    await cohort.advance(timedelta(minutes=35))
    card = await cohort.wait_post(MODULE, "Drop-in")
    assert "Checked in" in (await amara.click(card, "cb:calendar:checkin:")).text
    again = await amara.click(card, "cb:calendar:checkin:")
    assert "counts once" in again.text


# --------------------------------------------------------------------------- privacy


async def test_privacy_export_holds_my_data_and_nobody_elses(cohort: Cohort) -> None:
    skip_unless(cohort, "privacy export")
    amara, lukas = cohort.students(MODULE)[:2]
    await lukas.command("calendar timezone", zone="Europe/Berlin")
    reply: Reply = await amara.command("privacy export")
    assert "everything cohortbot" in reply.text
    assert reply.files, reply.text
    _, data = reply.files[0]
    exported = json.loads(data)
    assert exported["profile"]["display_name"] == "Amara Okafor"
    assert exported["profile"]["student_number"] == "02510001"
    assert MODULE in {e["module"] for e in exported["enrolments"]}
    for other in ("Lukas Becker", "02510002", lukas.platform_id):
        assert other not in data.decode()
