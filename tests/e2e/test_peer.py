"""A peer-assessed exercise through the local Discord server, as tutors and students meet it:
creation, submissions (one late, one resubmitted), allocation at the deadline, reviews through
the DM form, a reminder, a dropout reassigned, aggregation, moderation, release, and the check
that nothing a student can see (or a log line) links a reviewer to an author."""

from __future__ import annotations

import asyncio
import logging
import re
from datetime import timedelta
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

import pytest
from sqlalchemy import select, text

from bot.db.models import (
    AssignmentStatus,
    AuditEntry,
    Base,
    ExerciseStatus,
    LedgerEntry,
    LedgerSource,
    MarkRelease,
    Module,
    PeerExercise,
    PeerResult,
    PeerReview,
    PeerSubmission,
    Person,
    ReviewAssignment,
    TeamMember,
)
from bot.peer import render
from bot.peer.reads import groups_of
from bot.peer.service import MAX_FILE_BYTES
from cohortlab.localdiscord.models import DM, Message
from cohortlab.localdiscord.scripting import Actor, Upload, message_text
from cohortlab.sandbox import Sandbox, World
from cohortlab.setups.peer import at, review_button, review_requests, write_review

pytestmark = pytest.mark.e2e

MODULE = "MATH70097"
RUBRIC = "Method 0-10: sound validation design; Clarity 0-5: easy to follow"
GOOD = {"Method": "8", "Clarity": "4"}


# --------------------------------------------------------------------------- helpers


async def create(sandbox: Sandbox, world: World, **options: Any) -> tuple[Message, int | None]:
    tutor = world.tutors(MODULE)[0]
    now = sandbox.clock.now()
    values: dict[str, Any] = {
        "module": MODULE,
        "title": "Week 2: cross-validation pitfalls",
        "brief": "Find an analysis that leaks test data into model selection; explain the fix.",
        "submission_deadline": at(now + timedelta(days=3)),
        "review_deadline": at(now + timedelta(days=7)),
        "k": 3,
        "rubric": RUBRIC,
        "late_hours": 24,
        "late_penalty": 10,
    }
    values.update(options)
    reply = await (
        await tutor.command("exercise create", where=world.channel(MODULE), options=values)
    ).reply()
    exercise_id = None
    if reply.content.startswith("Created peer exercise"):
        exercise_id = int(reply.content.split("#", 1)[1].split(" ", 1)[0])
    return reply, exercise_id


async def submit(actor: Actor, world: World, exercise_id: int, **what: Any) -> Message:
    handle = await actor.command(
        "submit", where=world.channel(MODULE), exercise=exercise_id, options=what
    )
    return await handle.reply()


async def rows(sandbox: Sandbox, model: Any, *where: Any) -> list[Any]:
    async with sandbox.db.session() as s:
        return list((await s.execute(select(model).where(*where))).scalars())


async def person(sandbox: Sandbox, actor: Actor) -> Person:
    found: list[Person] = await rows(sandbox, Person, Person.platform_user_id == str(actor.id))
    assert found, f"{actor.name} is not linked"
    return found[0]


async def dump(sandbox: Sandbox) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of every table but ``persons`` (a first command links a chat account) and
    ``processed_events`` (each interaction's claim, bookkeeping rather than data)."""
    out: dict[str, list[tuple[Any, ...]]] = {}
    async with sandbox.db.session() as s:
        for table in sorted(Base.metadata.tables):
            if table in {"persons", "processed_events"}:
                continue
            found = (await s.execute(text(f'SELECT * FROM "{table}"'))).all()
            out[table] = sorted((tuple(r) for r in found), key=repr)
    return out


async def settled(sandbox: Sandbox) -> dict[str, list[tuple[Any, ...]]]:
    """``dump`` once what earlier commands set going has finished, so a refusal is compared
    with only its own effect: the outbox delivers an announcement after the command's reply,
    and on PostgreSQL often later than the next command (a row still "claimed", then "sent")."""
    previous = await dump(sandbox)
    stable = 0
    for _ in range(250):
        await asyncio.sleep(0.02)
        current = await dump(sandbox)
        stable = stable + 1 if current == previous else 0
        if stable >= 2:
            return current
        previous = current
    raise AssertionError("the database never settled after the previous commands")


async def wait_requests(actor: Actor, n: int) -> list[Message]:
    await actor.server.wait_until(
        lambda: len(review_requests(actor)) >= n or None,
        timeout=5,
        describe=lambda: f"{actor.name} has {len(review_requests(actor))} request(s), not {n}",
    )
    return review_requests(actor)


def assignment_of(request: Message) -> int:
    custom_id = review_button(request)
    assert custom_id is not None
    return int(custom_id.rsplit(":", 1)[1])


async def pending_requests(sandbox: Sandbox, actor: Actor) -> list[Message]:
    out = []
    for req in review_requests(actor):
        a = await rows(sandbox, ReviewAssignment, ReviewAssignment.id == assignment_of(req))
        if a and a[0].status == AssignmentStatus.PENDING:
            out.append(req)
    return out


# --------------------------------------------------------------------------- anonymity


def identifiers(p: Person) -> set[str]:
    """Everything that would tell a student who someone is."""
    found = {p.display_name, p.platform_user_id, p.platform_username, p.student_number, p.email}
    found |= {p.display_name.split()[0]} if len(p.display_name.split()[0]) > 3 else set()
    return {x.lower() for x in found if x}


def student_visible(sandbox: Sandbox, actor: Actor) -> list[Message]:
    """Every bot message this student can see: channels they can view, their DMs, and the
    private (ephemeral) answers only they see."""
    state = sandbox.server.state
    seen: list[Message] = []
    for m in state.messages.values():
        if m.author_id != sandbox.server.bot_user_id:
            continue
        if m.visible_to is not None:
            if m.visible_to == actor.id:
                seen.append(m)
            continue
        ch = state.channels[m.channel_id]
        if ch.type == DM:
            if actor.id in ch.recipients:
                seen.append(m)
        elif state.can_view(actor.id, ch.id):
            seen.append(m)
    return seen


def readable(m: Message) -> str:
    names = " ".join(a.filename for a in m.attachments)
    return f"{message_text(m)} {names}".lower()


async def assert_anonymous(
    sandbox: Sandbox, world: World, exercise_id: int, records: list[logging.LogRecord]
) -> int:
    """No student-visible message names another student of a reviewer -> author pair, no
    log line at INFO names both of a pair, and the peer code logs no student at all."""
    pairs = [
        (a.reviewer_id, a.author_id)
        for a in await rows(sandbox, ReviewAssignment, ReviewAssignment.exercise_id == exercise_id)
    ]
    people = {p.id: p for p in await rows(sandbox, Person)}
    ids = {pid: identifiers(p) for pid, p in people.items()}
    by_platform = {p.platform_user_id: pid for pid, p in people.items() if p.platform_user_id}
    leaks: list[str] = []
    checked = 0
    for actor in world.students(MODULE):
        me = by_platform.get(str(actor.id))
        if me is None:
            continue
        partners = {a for r, a in pairs if r == me} | {r for r, a in pairs if a == me}
        for m in student_visible(sandbox, actor):
            checked += 1
            body = readable(m)
            for other in partners - {me}:
                hit = next((x for x in ids[other] if x in body), None)
                if hit:
                    leaks.append(f"{actor.name} sees {hit!r} in: {message_text(m)[:120]!r}")
    for rec in records:
        if rec.levelno < logging.INFO:
            continue
        line = rec.getMessage().lower()
        for r, a in pairs:
            if any(x in line for x in ids[r]) and any(x in line for x in ids[a]):
                leaks.append(f"log links a pair: {line[:160]!r}")
        if rec.name.startswith(("bot.peer", "cogs.peer")):
            students = {pid for pair in pairs for pid in pair}
            if any(x in line for pid in students for x in ids[pid]):
                leaks.append(f"peer log names a student: {line[:160]!r}")
    assert leaks == [], "\n".join(leaks)
    return checked


# --------------------------------------------------------------------------- the whole story


async def test_exercise_from_creation_to_released_anonymous_feedback(
    sandbox: Sandbox, world: World, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    script = sandbox.server.script
    channel = world.channel(MODULE)
    tutor = world.tutors(MODULE)[0]
    students = world.students(MODULE)
    assert len(students) == 11
    on_time, late_one = students[:10], students[10]

    reply, exercise_id = await create(sandbox, world)
    assert exercise_id is not None, reply.content
    post = await script.wait_for_message(channel, contains="New peer-assessed exercise")
    assert f"/submit exercise:{exercise_id}" in post.content
    [exercise] = await rows(sandbox, PeerExercise, PeerExercise.id == exercise_id)
    now = sandbox.clock.now()

    # Submissions: a file, a link, text, and one resubmission that keeps the first version.
    pdf = b"%PDF-1.4 " + b"cross-validation " * 300
    author_of_file = on_time[0]
    receipt = await submit(
        author_of_file,
        world,
        exercise_id,
        file=Upload(f"{author_of_file.name}_cv.pdf", pdf, "application/pdf"),
    )
    assert "Received for exercise" in receipt.content and "version 1" in receipt.content
    receipt = await submit(on_time[1], world, exercise_id, link="https://example.org/nb/cv.ipynb")
    assert "the link" in receipt.content
    for student in on_time[2:]:
        await submit(student, world, exercise_id, text="Draft: the scaler saw the test rows.")
    resubmitter = on_time[2]
    receipt = await submit(resubmitter, world, exercise_id, text="Final: select inside folds.")
    assert "version 2 and replaces your earlier one" in receipt.content
    versions = await rows(
        sandbox,
        PeerSubmission,
        PeerSubmission.exercise_id == exercise_id,
        PeerSubmission.person_id == (await person(sandbox, resubmitter)).id,
    )
    assert sorted((v.version, v.is_current) for v in versions) == [(1, False), (2, True)]

    # Allocation fires on the scheduled run after the deadline.
    await sandbox.advance(exercise.submission_due_at + timedelta(minutes=1) - now)
    await script.wait_for_message(channel, contains="Submissions are closed")
    for student in on_time:
        requests = await wait_requests(student, 3)
        assert len(requests) == 3
        for req in requests:
            body = message_text(req)
            assert "Submission " in body and "Write review" in str(req.components)
    report = await tutor.wait_for_dm(contains="was allocated at the submission deadline")
    assert "10 submission(s), 30 review(s), 3-3 per reviewer" in report.content
    allocated = await rows(sandbox, ReviewAssignment, ReviewAssignment.exercise_id == exercise_id)
    assert len(allocated) == 30

    # The file reaches its reviewers as the bot's own upload, renamed after the label.
    file_author = (await person(sandbox, author_of_file)).id
    actor_of = {(await person(sandbox, s)).id: s for s in on_time}
    for a in [x for x in allocated if x.author_id == file_author]:
        reviewer = actor_of[a.reviewer_id]
        got = [m for m in reviewer.dms() if m.attachments]
        assert got, f"{reviewer.name} got no file"
        att = got[0].attachments[0]
        assert att.filename == f"submission-{a.anonymous_label}.pdf"
        assert att.data == pdf

    # A late submission is flagged and gets three reviewers from spare capacity.
    await sandbox.advance(timedelta(hours=2))
    receipt = await submit(late_one, world, exercise_id, text="Late, but here: scaling leaked.")
    assert "**late**" in receipt.content and "10% penalty" in receipt.content
    assert "given to 3 reviewer(s)" in receipt.content
    late_id = (await person(sandbox, late_one)).id
    late_reviews = await rows(
        sandbox,
        ReviewAssignment,
        ReviewAssignment.exercise_id == exercise_id,
        ReviewAssignment.author_id == late_id,
    )
    assert len(late_reviews) == 3 and {a.origin for a in late_reviews} == {"late"}

    # Reviews through the form: a score out of range is refused and asked again.
    first = on_time[3]
    request = (await wait_requests(first, 3))[0]
    answer = await write_review(first, request, {"Method": "12", "Clarity": "4"}, "Nice.")
    assert "Method must be a number from 0 to 10" in answer.content
    assert "Try again" in str(answer.components)
    assert not await rows(sandbox, PeerReview, PeerReview.assignment_id == assignment_of(request))
    retry = await first.click(answer, review_button(answer) or "")
    form = await retry.modal()
    assert "12" in str(form["components"]), "the refused answers are offered again"
    await (await first.submit_modal({"score0": "8", "score1": "4", "comments": "Clear."})).reply()
    saved = await rows(sandbox, PeerReview, PeerReview.assignment_id == assignment_of(request))
    assert saved and saved[0].total == Decimal("80.0")

    # Most reviewers finish now; one is harsh (a disagreement to moderate); two wait.
    dropout, harsh, slow = on_time[4], on_time[5], on_time[6]
    for student in on_time:
        if student in (dropout, slow):
            continue
        for req in await pending_requests(sandbox, student):
            scores = {"Method": "1", "Clarity": "0"} if student is harsh else GOOD
            await write_review(student, req, scores, "Clear explanation of the leak.")

    # A reviewer leaves the server: their reviews move; the tutor hears what happened.
    dropout_id = (await person(sandbox, dropout)).id
    script.remove_member(world.guild, dropout)
    told = await tutor.wait_for_dm(contains="left the server")
    assert re.search(r"with [34] pending review\(s\)", told.content), told.content
    await sandbox.run_due()
    moved = await rows(
        sandbox,
        ReviewAssignment,
        ReviewAssignment.exercise_id == exercise_id,
        ReviewAssignment.reviewer_id == dropout_id,
    )
    assert {(a.status, a.end_reason) for a in moved} == {(AssignmentStatus.REASSIGNED, "left")}
    active = await rows(
        sandbox,
        ReviewAssignment,
        ReviewAssignment.exercise_id == exercise_id,
        ReviewAssignment.status.in_([AssignmentStatus.PENDING, AssignmentStatus.DONE]),
    )
    per_author: dict[int, int] = {}
    for a in active:
        per_author[a.author_id] = per_author.get(a.author_id, 0) + 1
    assert set(per_author.values()) == {3} and len(per_author) == 11

    # A reminder a day before the deadline, only to reviewers with pending work.
    done_reviewer = None
    for candidate in on_time:
        if candidate not in (dropout, slow) and not await pending_requests(sandbox, candidate):
            done_reviewer = candidate
            break
    assert done_reviewer is not None
    before_done = len(done_reviewer.dms())
    await sandbox.advance(exercise.review_due_at - timedelta(hours=23) - sandbox.clock.now())
    reminder = await slow.wait_for_dm(contains="Reminder")
    assert "still to do" in reminder.content
    assert not [m for m in done_reviewer.dms()[before_done:] if "Reminder" in m.content]
    for student in [*on_time, late_one]:
        if student is dropout:
            continue
        for req in await pending_requests(sandbox, student):
            await write_review(student, req, GOOD, "Good; cite the paper.")

    # Reviews close: the tutor gets the summary with what is flagged.
    await sandbox.advance(exercise.review_due_at + timedelta(minutes=5) - sandbox.clock.now())
    summary = await tutor.wait_for_dm(contains="Reviews closed")
    assert "Flagged for moderation" in summary.content
    status = await (
        await tutor.command("exercise status", where=channel, exercise=exercise_id)
    ).reply()
    assert "Submitted: 11 of 11 students (1 late, 1 resubmitted)" in status.content
    assert "0 pending" in status.content

    # Release is refused while flags are open and changes nothing.
    before = await settled(sandbox)
    refused = await (
        await tutor.command("exercise release", where=channel, exercise=exercise_id)
    ).reply()
    assert "flagged for moderation" in refused.content
    assert await dump(sandbox) == before

    # Moderation: audited, and it becomes the mark.
    flagged = await rows(
        sandbox, PeerResult, PeerResult.exercise_id == exercise_id, PeerResult.flagged.is_(True)
    )
    assert flagged
    target = next(p for p in await rows(sandbox, Person) if p.id == flagged[0].person_id)
    moderated = await (
        await tutor.command(
            "exercise moderate",
            where=channel,
            exercise=exercise_id,
            student=world.person(str(target.platform_username)),
            score=74.5,
            reason="One review ignored the rubric.",
        )
    ).reply()
    assert "→ 74.5 (audited)" in moderated.content
    trail = await rows(sandbox, AuditEntry, AuditEntry.action == "peer_moderate")
    assert trail and trail[0].subject_person_id == target.id
    assert trail[0].reason == "One review ignored the rubric."
    # A student who has left the server can still be named (as a user, not a member).
    if target.id != dropout_id:
        gone = await (
            await tutor.command(
                "exercise moderate",
                where=channel,
                exercise=exercise_id,
                student=dropout,
                score=66,
                reason="Checked by hand after they left.",
            )
        ).reply()
        assert "→ 66 (audited)" in gone.content, gone.content

    released = await (
        await tutor.command(
            "exercise release", where=channel, exercise=exercise_id, accept_flagged=True
        )
    ).reply()
    assert "Released exercise" in released.content
    [exercise] = await rows(sandbox, PeerExercise, PeerExercise.id == exercise_id)
    assert exercise.status == ExerciseStatus.RELEASED
    assert await rows(sandbox, MarkRelease, MarkRelease.item_id == exercise_id)

    # Every author gets their feedback privately; the late one carries the penalty.
    for student in [*on_time, late_one]:
        feedback = await student.wait_for_dm(contains="Peer feedback")
        assert "/ 100" in feedback.content and "Review 1" in feedback.content
    late_feedback = await late_one.wait_for_dm(contains="Peer feedback")
    assert "late-submission penalty of 10%" in late_feedback.content
    target_actor = world.person(str(target.platform_username))
    mine = await target_actor.wait_for_dm(contains="Peer feedback")
    assert "74.5 / 100" in mine.content and "set by your tutor" in mine.content

    # The ledger: one completed-review credit per done review, the released marks.
    entries = await rows(sandbox, LedgerEntry, LedgerEntry.item_id == exercise_id)
    reviews = [e for e in entries if e.source == LedgerSource.PEER_REVIEW_COMPLETED]
    done = await rows(
        sandbox,
        ReviewAssignment,
        ReviewAssignment.exercise_id == exercise_id,
        ReviewAssignment.status == AssignmentStatus.DONE,
    )
    assert len(reviews) == len(done) == 33
    credited = {
        e.person_id: e.points for e in entries if e.source == LedgerSource.PEER_SCORE_RECEIVED
    }
    assert len(credited) == 11 and credited[target.id] == Decimal("74.5")
    assert credited[dropout_id] == Decimal("66") or target.id == dropout_id
    results = {r.person_id: r for r in await rows(sandbox, PeerResult)}
    assert results[late_id].final == credited[late_id]
    assert results[late_id].median is not None
    expected = (results[late_id].median * Decimal("0.9")).quantize(Decimal("0.1"), ROUND_HALF_UP)
    assert credited[late_id] == expected

    checked = await assert_anonymous(sandbox, world, exercise_id, caplog.records)
    assert checked > 100


# --------------------------------------------------------------------------- refusals


async def test_bad_exercise_settings_get_one_sentence_and_change_nothing(
    sandbox: Sandbox, world: World
) -> None:
    now = sandbox.clock.now()
    await create(sandbox, world, title="warm-up")  # links the tutor's account
    await sandbox.run_due()  # and its announcement is sent (the outbox) before the snapshot
    before = await settled(sandbox)
    cases: list[tuple[dict[str, Any], str]] = [
        ({"submission_deadline": at(now - timedelta(days=1))}, "is in the past"),
        (
            {
                "submission_deadline": at(now + timedelta(days=5)),
                "review_deadline": at(now + timedelta(days=4)),
            },
            "must be after the submission deadline",
        ),
        ({"k": 0}, "must be at least 1"),
        ({"k": 11}, "more than possible"),
        ({"k": 9, "avoid_same_group": True}, "outside their own study group"),
        ({"rubric": "Method ten points"}, "Could not read the rubric criterion"),
    ]
    for options, expected in cases:
        reply, exercise_id = await create(sandbox, world, **options)
        assert exercise_id is None
        assert expected in reply.content, (options, reply.content)
        assert reply.content.count(". ") <= 1, reply.content
        assert reply in world.tutors(MODULE)[0].ephemerals()
    assert await dump(sandbox) == before


async def test_bad_submissions_are_refused_and_change_nothing(
    sandbox: Sandbox, world: World
) -> None:
    _, exercise_id = await create(sandbox, world)
    assert exercise_id is not None
    student = world.students(MODULE)[0]
    outsider = next(s for s in world.students() if MODULE not in world.modules_of[s.name])
    await submit(student, world, exercise_id, text="first")  # links the account
    await submit(outsider, world, exercise_id, text="x")
    await sandbox.run_due()  # finish sending the receipts those submissions owed
    before = await settled(sandbox)

    big = Upload("big.pdf", b"0" * (MAX_FILE_BYTES + 1), "application/pdf")
    reply = await submit(student, world, exercise_id, file=big)
    assert "the limit is 8.0 MB" in reply.content
    reply = await submit(outsider, world, exercise_id, text="Can I join?")
    assert reply.content == f"You are not enrolled as a student in {MODULE}."
    reply = await submit(student, world, exercise_id, text="a", link="https://example.org")
    assert reply.content == "Give exactly one of: a file, a link or text."
    reply = await submit(student, world, exercise_id, link="not a link")
    assert "must be a single web address" in reply.content
    reply = await submit(student, world, 9999, text="lost")
    assert "There is no peer exercise #9999" in reply.content
    assert await dump(sandbox) == before

    # After the late window: refused with the reason.
    [exercise] = await rows(sandbox, PeerExercise, PeerExercise.id == exercise_id)
    await sandbox.advance(exercise.submission_due_at + timedelta(hours=25) - sandbox.clock.now())
    before = await settled(sandbox)
    reply = await submit(world.students(MODULE)[1], world, exercise_id, text="too late")
    assert "Late submissions to" in reply.content and "extension" in reply.content
    assert await dump(sandbox) == before


async def test_a_review_after_its_deadline_or_by_someone_else_is_refused(
    sandbox: Sandbox, world: World
) -> None:
    _, exercise_id = await create(sandbox, world, k=2)
    assert exercise_id is not None
    students = world.students(MODULE)[:4]
    for s in students:
        await submit(s, world, exercise_id, text=f"{s.name} answer")
    tutor = world.tutors(MODULE)[0]
    await (
        await tutor.command("exercise allocate", where=world.channel(MODULE), exercise=exercise_id)
    ).reply(contains="Allocated exercise")
    request = (await wait_requests(students[0], 2))[0]
    [exercise] = await rows(sandbox, PeerExercise, PeerExercise.id == exercise_id)
    await sandbox.advance(exercise.review_due_at + timedelta(minutes=1) - sandbox.clock.now())
    before = await settled(sandbox)
    handle = await students[0].click(request, review_button(request) or "")
    reply = await handle.reply()
    assert "given to another reviewer" in reply.content or "deadline" in reply.content
    assert await dump(sandbox) == before


async def test_the_anonymity_check_catches_an_author_named_to_reviewers(
    sandbox: Sandbox, world: World, caplog: pytest.LogCaptureFixture
) -> None:
    """Single-blind (a tutor's explicit choice) names authors to reviewers: the check sees it,
    so its silence on the double-blind run means something."""
    caplog.set_level(logging.INFO)
    _, exercise_id = await create(sandbox, world, k=2, double_blind=False)
    assert exercise_id is not None
    students = world.students(MODULE)[:4]
    for s in students:
        await submit(s, world, exercise_id, text="An answer without names.")
    tutor = world.tutors(MODULE)[0]
    await (
        await tutor.command("exercise allocate", where=world.channel(MODULE), exercise=exercise_id)
    ).reply(contains="Allocated exercise")
    await wait_requests(students[0], 2)
    with pytest.raises(AssertionError, match="sees"):
        await assert_anonymous(sandbox, world, exercise_id, caplog.records)


# --------------------------------------------------------------------------- issue 13.7


async def actor_of(sandbox: Sandbox, world: World, person_id: int) -> Actor:
    [p] = await rows(sandbox, Person, Person.id == person_id)
    return world.person(str(p.platform_username))


async def reviews_per_author(sandbox: Sandbox, exercise_id: int) -> dict[int, int]:
    have: dict[int, int] = {}
    for a in await rows(
        sandbox,
        ReviewAssignment,
        ReviewAssignment.exercise_id == exercise_id,
        ReviewAssignment.status.in_([AssignmentStatus.PENDING, AssignmentStatus.DONE]),
    ):
        have[a.author_id] = have.get(a.author_id, 0) + 1
    return have


async def allocate_all(sandbox: Sandbox, world: World, **options: Any) -> int:
    """Every student of the module submits; the tutor allocates; requests are delivered."""
    _, exercise_id = await create(sandbox, world, **options)
    assert exercise_id is not None
    for student in world.students(MODULE):
        await submit(student, world, exercise_id, text="An answer without the author's name.")
    tutor = world.tutors(MODULE)[0]
    await (
        await tutor.command("exercise allocate", where=world.channel(MODULE), exercise=exercise_id)
    ).reply(contains="Allocated exercise")
    await sandbox.run_due()
    return exercise_id


async def test_a_leavers_review_goes_to_an_eligible_classmate_not_to_a_pair_that_ended(
    sandbox: Sandbox, world: World, caplog: pytest.LogCaptureFixture
) -> None:
    """13.7a: the one reviewer with spare capacity had this very submission moved away from
    them by the tutor; the leaver's review of it must go to someone else, not be lost."""
    caplog.set_level(logging.INFO)
    tutor, channel = world.tutors(MODULE)[0], world.channel(MODULE)
    exercise_id = await allocate_all(sandbox, world)
    first = (await rows(sandbox, ReviewAssignment, ReviewAssignment.exercise_id == exercise_id))[0]
    giver = await actor_of(sandbox, world, first.reviewer_id)
    author = await actor_of(sandbox, world, first.author_id)
    await (
        await tutor.command(
            "exercise reassign", where=channel, exercise=exercise_id, reviewer=giver, author=author
        )
    ).reply(contains="Moved 1 review")
    [taken] = await rows(
        sandbox,
        ReviewAssignment,
        ReviewAssignment.exercise_id == exercise_id,
        ReviewAssignment.author_id == first.author_id,
        ReviewAssignment.origin == "reassigned",
    )
    leaver = await actor_of(sandbox, world, taken.reviewer_id)
    await sandbox.run_due()
    for req in await pending_requests(sandbox, leaver):  # all done but the moved one
        if assignment_of(req) != taken.id:
            await write_review(leaver, req, GOOD, "Careful work.")

    sandbox.server.script.remove_member(world.guild, leaver)
    told = await tutor.wait_for_dm(contains="left the server")
    assert "with 1 pending review(s)" in told.content
    await sandbox.run_due()

    have = await reviews_per_author(sandbox, exercise_id)
    assert len(have) == 11 and set(have.values()) == {3}, have
    pairs = [
        (a.reviewer_id, a.author_id)
        for a in await rows(sandbox, ReviewAssignment, ReviewAssignment.exercise_id == exercise_id)
    ]
    assert len(pairs) == len(set(pairs)), "someone was given a submission twice"
    [fresh] = await rows(
        sandbox,
        ReviewAssignment,
        ReviewAssignment.exercise_id == exercise_id,
        ReviewAssignment.author_id == first.author_id,
        ReviewAssignment.status == AssignmentStatus.PENDING,
        ReviewAssignment.origin == "reassigned",
    )
    assert fresh.reviewer_id not in (first.reviewer_id, taken.reviewer_id)
    newcomer = await actor_of(sandbox, world, fresh.reviewer_id)
    assert fresh.id in [assignment_of(r) for r in await wait_requests(newcomer, 4)]
    await assert_anonymous(sandbox, world, exercise_id, caplog.records)


async def test_the_tutor_cannot_hand_a_review_to_a_teammate_of_the_author(
    sandbox: Sandbox, world: World, caplog: pytest.LogCaptureFixture
) -> None:
    """Teams are formed, then an exercise that rules out same-group pairs is allocated; the
    tutor's ``/exercise reassign ... to:`` naming a teammate of the author is refused in one
    private sentence, changes nothing, and tells no student anything."""
    caplog.set_level(logging.INFO)
    tutor, channel = world.tutors(MODULE)[0], world.channel(MODULE)
    handle = await tutor.command(
        "teams form",
        where=channel,
        options={"module": MODULE, "size_min": 3, "size_max": 4, "min_hours": 2.0},
    )
    ask = await handle.reply(contains="Create these teams?", timeout=30)
    confirm = next(
        str(c.get("custom_id"))
        for row in ask.components
        for c in row.get("components") or []
        if str(c.get("custom_id") or "").startswith("cb:teams:confirm:")
    )
    await (await tutor.click(ask, confirm)).reply(contains="Created", timeout=20)
    exercise_id = await allocate_all(sandbox, world, avoid_same_group=True)

    team_of = {m.person_id: m.team_id for m in await rows(sandbox, TeamMember)}
    [module] = await rows(sandbox, Module, Module.code == MODULE)
    async with sandbox.db.session() as s:
        study = await groups_of(s, module.cohort_id, list(team_of))
    given = await rows(sandbox, ReviewAssignment, ReviewAssignment.exercise_id == exercise_id)
    first, mate = next(
        (a, p)
        for a in given
        for p in team_of
        if p != a.author_id
        and team_of[p] == team_of.get(a.author_id)
        and study.get(p, frozenset()).isdisjoint(study.get(a.author_id, frozenset()))
    )
    assert all(b.reviewer_id != mate for b in given if b.author_id == first.author_id)
    giver = await actor_of(sandbox, world, first.reviewer_id)
    author = await actor_of(sandbox, world, first.author_id)
    teammate = await actor_of(sandbox, world, mate)
    before = await settled(sandbox)
    reply = await (
        await tutor.command(
            "exercise reassign",
            where=channel,
            exercise=exercise_id,
            reviewer=giver,
            author=author,
            options={"to": teammate},
        )
    ).reply()
    [shown] = await rows(sandbox, Person, Person.id == mate)
    [whose] = await rows(sandbox, Person, Person.id == first.author_id)
    assert reply.content == (
        f"{shown.display_name} is in the same team as {whose.display_name}, and this exercise "
        "keeps reviews out of study groups and teams."
    )
    assert reply in tutor.ephemerals()
    assert await settled(sandbox) == before
    await assert_anonymous(sandbox, world, exercise_id, caplog.records)


async def test_the_tutor_tops_up_submissions_left_short(
    sandbox: Sandbox, world: World, caplog: pytest.LogCaptureFixture
) -> None:
    """13.7a: reviews missed twice leave submissions short; /exercise topup fills them from
    eligible reviewers, who are asked by DM; a second top-up has nothing left to do."""
    caplog.set_level(logging.INFO)
    tutor, channel = world.tutors(MODULE)[0], world.channel(MODULE)
    exercise_id = await allocate_all(sandbox, world)
    [exercise] = await rows(sandbox, PeerExercise, PeerExercise.id == exercise_id)
    slow = world.students(MODULE)[0]
    for student in world.students(MODULE)[1:]:
        for req in await pending_requests(sandbox, student):
            await write_review(student, req, GOOD, "Clear and careful.")
    # The slow reviewer misses; their reviews move once; the new reviewers miss too.
    await sandbox.advance(exercise.review_due_at + timedelta(minutes=1) - sandbox.clock.now())
    await tutor.wait_for_dm(contains="Review deadline passed")
    await sandbox.advance(timedelta(hours=49))
    await tutor.wait_for_dm(contains="Still missing (already reassigned once")
    short = {a: n for a, n in (await reviews_per_author(sandbox, exercise_id)).items() if n < 3}
    assert len(short) == 3 and set(short.values()) == {2}, short

    reply = await (
        await tutor.command("exercise topup", where=channel, exercise=exercise_id)
    ).reply(contains="exercise #")
    assert "3 review(s) added for 3 short submission(s)" in reply.content, reply.content
    assert reply in tutor.ephemerals()
    assert set((await reviews_per_author(sandbox, exercise_id)).values()) == {3}
    topped = await rows(
        sandbox,
        ReviewAssignment,
        ReviewAssignment.exercise_id == exercise_id,
        ReviewAssignment.origin == "topup",
    )
    assert len(topped) == 3
    slow_id = (await person(sandbox, slow)).id
    for a in topped:
        assert a.reviewer_id != slow_id
        reviewer = await actor_of(sandbox, world, a.reviewer_id)
        asked = [assignment_of(m) for m in await wait_requests(reviewer, 4)]
        assert a.id in asked, f"{reviewer.name} was not asked to review the topped-up one"
    before = await settled(sandbox)
    again = await (
        await tutor.command("exercise topup", where=channel, exercise=exercise_id)
    ).reply()
    assert "already has its 3 reviewers" in again.content
    assert await dump(sandbox) == before
    await assert_anonymous(sandbox, world, exercise_id, caplog.records)


async def test_reviewers_are_due_when_the_class_was_told_and_release_follows(
    sandbox: Sandbox, world: World
) -> None:
    """13.7b: the announcement, the review requests, the status and release all use the
    review deadline; only reassigned work gets extra time."""
    now = sandbox.clock.now()
    tutor, channel = world.tutors(MODULE)[0], world.channel(MODULE)
    _, exercise_id = await create(
        sandbox,
        world,
        submission_deadline=at(now + timedelta(days=1)),
        review_deadline=at(now + timedelta(days=2)),
        reminder_hours=6,
        late_hours=0,
    )
    assert exercise_id is not None
    [exercise] = await rows(sandbox, PeerExercise, PeerExercise.id == exercise_id)
    told = render.when(exercise.review_due_at)
    post = await sandbox.server.script.wait_for_message(channel, contains="New peer-assessed")
    assert told in post.content
    students = world.students(MODULE)[:5]
    for s in students:
        await submit(s, world, exercise_id, text="An answer without the author's name.")
    await sandbox.advance(exercise.submission_due_at + timedelta(minutes=1) - sandbox.clock.now())
    for s in students:
        for req in await wait_requests(s, 3):
            assert f"Please review it by {told}" in message_text(req), message_text(req)
    status = await (
        await tutor.command("exercise status", where=channel, exercise=exercise_id)
    ).reply()
    assert f"reviews due {told}" in status.content and "Extra time" not in status.content

    # The reminder comes reminder_hours before the deadline the class was told.
    slow = students[0]
    for s in students[1:]:
        for req in await pending_requests(sandbox, s):
            await write_review(s, req, GOOD, "Clear and careful.")
    await sandbox.advance(exercise.review_due_at - timedelta(hours=5) - sandbox.clock.now())
    await slow.wait_for_dm(contains="Reminder")

    # At the deadline the missed reviews move (with extra time), and release waits only for them.
    await sandbox.advance(exercise.review_due_at + timedelta(minutes=1) - sandbox.clock.now())
    await tutor.wait_for_dm(contains="Review deadline passed")
    status = await (
        await tutor.command("exercise status", where=channel, exercise=exercise_id)
    ).reply()
    assert "Extra time (late or reassigned work): 3 review(s)" in status.content
    for s in students[1:]:
        for req in await pending_requests(sandbox, s):
            await write_review(s, req, GOOD, "Done a bit later.")
    released = await (
        await tutor.command(
            "exercise release", where=channel, exercise=exercise_id, accept_flagged=True
        )
    ).reply()
    assert "Released exercise" in released.content, released.content


async def test_late_work_settings_without_review_time_are_refused_in_one_sentence(
    sandbox: Sandbox, world: World
) -> None:
    """13.7c"""
    now = sandbox.clock.now()
    await create(sandbox, world, title="warm-up")
    before = await settled(sandbox)
    reply, exercise_id = await create(
        sandbox,
        world,
        submission_deadline=at(now + timedelta(days=3)),
        review_deadline=at(now + timedelta(days=3, minutes=30)),
        late_hours=1,
    )
    assert exercise_id is None
    assert reply.content == (
        "Reviews are due only 30 minute(s) after the submission deadline, which leaves no time "
        "to review late work: set late_hours:0 or a later review deadline."
    )
    assert await dump(sandbox) == before


async def test_an_exercise_created_before_the_channel_is_linked_is_announced_later(
    sandbox: Sandbox, world: World
) -> None:
    """13.7d"""
    channel = world.channel(MODULE)
    async with sandbox.db.session() as s:
        [module] = (await s.execute(select(Module).where(Module.code == MODULE))).scalars()
        module.channel_id = None
    reply, exercise_id = await create(sandbox, world)
    assert exercise_id is not None
    assert "announcement will be posted there as soon as it does" in reply.content
    await sandbox.run_due()
    assert not [
        m for m in sandbox.server.script.bot_messages(channel) if "New peer-assessed" in m.content
    ]

    # The bot links the module's channel when it next sees the server (a fresh session).
    gateway = sandbox.server.gateway
    identifies = gateway.count("identify")
    gateway.invalidate(resumable=False)
    await sandbox.server.wait_until(
        lambda: gateway.count("identify") > identifies or None,
        timeout=15,
        describe=lambda: "the bot did not identify again",
    )
    await sandbox.server.script.wait_for_connection()

    async def linked() -> bool:
        found: list[Module] = await rows(sandbox, Module, Module.code == MODULE)
        return found[0].channel_id == str(channel.id)

    for _ in range(100):
        if await linked():
            break
        await asyncio.sleep(0.05)
    assert await linked()
    await sandbox.run_due()
    post = await sandbox.server.script.wait_for_message(channel, contains="New peer-assessed")
    assert f"/submit exercise:{exercise_id}" in post.content
    await sandbox.run_due()
    posts = [
        m for m in sandbox.server.script.bot_messages(channel) if "New peer-assessed" in m.content
    ]
    assert len(posts) == 1


async def test_a_reviewer_who_left_while_the_bot_was_away_is_replaced(
    sandbox: Sandbox, world: World
) -> None:
    """13.7a across a reconnect: no departure event is replayed to a fresh session, so the
    bot checks the member list when the server becomes available again."""
    tutor = world.tutors(MODULE)[0]
    exercise_id = await allocate_all(sandbox, world)
    leaver = world.students(MODULE)[3]
    leaver_id = (await person(sandbox, leaver)).id
    gateway = sandbox.server.gateway
    identifies = gateway.count("identify")
    gateway.invalidate(resumable=False)  # the session is gone: nothing is replayed
    sandbox.server.script.remove_member(world.guild, leaver)
    await sandbox.server.wait_until(
        lambda: gateway.count("identify") > identifies or None,
        timeout=15,
        describe=lambda: "the bot did not identify again",
    )
    told = await tutor.wait_for_dm(contains="left the server", timeout=15)
    assert "with 3 pending review(s)" in told.content
    await sandbox.run_due()
    theirs = await rows(
        sandbox,
        ReviewAssignment,
        ReviewAssignment.exercise_id == exercise_id,
        ReviewAssignment.reviewer_id == leaver_id,
    )
    assert {(a.status, a.end_reason) for a in theirs} == {(AssignmentStatus.REASSIGNED, "left")}
    have = await reviews_per_author(sandbox, exercise_id)
    assert len(have) == 11 and set(have.values()) == {3}, have
