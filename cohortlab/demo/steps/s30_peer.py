"""A peer-assessed exercise from creation to released anonymous feedback.

Also holds the ``setup`` functions the permission-matrix test names in the /exercise and
/submit commands' extras, and small helpers the end-to-end tests share (acting as a reviewer
through the DM button and the rubric form).
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from sqlalchemy import select

from bot.access.identity import ChatUser
from bot.access.permissions import Caller, load_caller
from bot.db.models import AssignmentStatus, Cohort, PeerResult, Person, ReviewAssignment
from bot.peer import service
from cohortlab.localdiscord.interactions import walk_components
from cohortlab.localdiscord.models import Message
from cohortlab.localdiscord.scripting import Actor, Upload, message_text

if TYPE_CHECKING:
    from cohortlab.demo import Transcript
    from cohortlab.sandbox import Sandbox

MODULE = "MATH70097"
REVIEW_PREFIX = "cb:peer:review:"
RUBRIC = "Method 0-10: sound validation design; Clarity 0-5: easy to follow"


def at(moment: datetime) -> str:
    """A moment as a tutor would type it (UTC)."""
    return f"{moment:%Y-%m-%dT%H:%M}Z"


def name_of(actor: Actor) -> str:
    return actor.user.global_name or actor.name


def review_button(msg: Message) -> str | None:
    for comp in walk_components(msg.components):
        cid = str(comp.get("custom_id") or "")
        if cid.startswith(REVIEW_PREFIX):
            return cid
    return None


def review_requests(actor: Actor) -> list[Message]:
    """The review requests in an actor's DMs (the message with the Write review button)."""
    return [m for m in actor.dms() if review_button(m) is not None]


async def write_review(
    actor: Actor, request: Message, scores: dict[str, str], comment: str
) -> Message:
    """Press Write review on a DM request, fill the form, and return the bot's answer."""
    custom_id = review_button(request)
    assert custom_id is not None, "not a review request"
    opened = await actor.click(request, custom_id)
    await opened.modal()
    fields: dict[str, Any] = {f"score{i}": v for i, v in enumerate(scores.values())}
    fields["comments"] = comment
    sent = await actor.submit_modal(fields)
    return await sent.reply()


# --------------------------------------------------------------------------- setups


async def _as(sandbox: Sandbox, actor: Actor, work: Any) -> Any:
    """Run ``work(session, caller, cohort)`` as ``actor`` in one transaction."""
    assert sandbox.world is not None
    async with sandbox.db.session() as session:
        cohort = (
            await session.execute(select(Cohort).where(Cohort.code == sandbox.world.cohort_code))
        ).scalar_one()
        caller = await load_caller(
            session, cohort.id, ChatUser(str(actor.id), actor.name, name_of(actor))
        )
        return await work(session, caller, cohort)


async def create_exercise(sandbox: Sandbox, **options: Any) -> int:
    assert sandbox.world is not None
    tutor = sandbox.world.tutors(MODULE)[0]
    now = sandbox.clock.now()
    settings: dict[str, Any] = {
        "module_code": MODULE,
        "title": "Setup exercise",
        "brief": "Explain one pitfall of cross-validation.",
        "submission_deadline": at(now + timedelta(days=2)),
        "review_deadline": at(now + timedelta(days=5)),
        "k": 2,
        "rubric": RUBRIC,
    }
    settings.update(options)

    async def work(session: Any, caller: Caller, cohort: Cohort) -> int:
        created = await service.create_exercise(session, caller, cohort, now=now, **settings)
        return created.exercise_id

    exercise_id: int = await _as(sandbox, tutor, work)
    return exercise_id


async def submit_text(sandbox: Sandbox, actor: Actor, exercise_id: int, text: str) -> None:
    now = sandbox.clock.now()

    async def work(session: Any, caller: Caller, cohort: Cohort) -> None:
        await service.submit(
            session,
            caller,
            cohort,
            exercise_id=exercise_id,
            text=text,
            idempotency_key=f"setup:{exercise_id}:{actor.id}:{now.timestamp()}",
            now=now,
        )

    await _as(sandbox, actor, work)


async def _with_submissions(sandbox: Sandbox, count: int = 4) -> int:
    assert sandbox.world is not None
    exercise_id = await create_exercise(sandbox)
    for student in sandbox.world.students(MODULE)[:count]:
        await submit_text(sandbox, student, exercise_id, "Notes on leakage in model selection.")
    return exercise_id


async def _allocated(sandbox: Sandbox) -> int:
    assert sandbox.world is not None
    exercise_id = await _with_submissions(sandbox)
    tutor = sandbox.world.tutors(MODULE)[0]
    now = sandbox.clock.now()

    async def work(session: Any, caller: Caller, cohort: Cohort) -> None:
        await service.allocate_now(session, caller, cohort, exercise_id=exercise_id, now=now)

    await _as(sandbox, tutor, work)
    return exercise_id


async def _settled(sandbox: Sandbox, options: dict[str, Any]) -> dict[str, Any]:
    """Deliver what the setup (or an earlier command) queued before the test looks: the
    matrix compares every table around a refused command, so nothing may arrive meanwhile."""
    await sandbox.run_due()
    return options


async def setup_settled(sandbox: Sandbox) -> dict[str, Any]:
    """Nothing to create: only let earlier commands' messages go out first."""
    return await _settled(sandbox, {})


async def setup_open_exercise(sandbox: Sandbox) -> dict[str, Any]:
    """An exercise still taking submissions."""
    return await _settled(sandbox, {"exercise": await create_exercise(sandbox)})


async def setup_submitted_exercise(sandbox: Sandbox) -> dict[str, Any]:
    """An open exercise with four submissions, not yet allocated."""
    return await _settled(sandbox, {"exercise": await _with_submissions(sandbox)})


async def setup_reassignable_exercise(sandbox: Sandbox) -> dict[str, Any]:
    """An allocated exercise; ``reviewer`` has pending reviews."""
    exercise_id = await _allocated(sandbox)
    async with sandbox.db.session() as session:
        reviewer_id = (
            await session.execute(
                select(ReviewAssignment.reviewer_id)
                .where(
                    ReviewAssignment.exercise_id == exercise_id,
                    ReviewAssignment.status == AssignmentStatus.PENDING,
                )
                .order_by(ReviewAssignment.id)
                .limit(1)
            )
        ).scalar_one()
        person = await session.get(Person, reviewer_id)
        assert person is not None and person.platform_username is not None
    return await _settled(sandbox, {"exercise": exercise_id, "reviewer": person.platform_username})


async def setup_allocated_exercise(sandbox: Sandbox) -> dict[str, Any]:
    """An allocated exercise (every submission has its reviewers: nothing to top up)."""
    return await _settled(sandbox, {"exercise": await _allocated(sandbox)})


async def setup_reviewed_exercise(sandbox: Sandbox) -> dict[str, Any]:
    """An allocated exercise whose reviews are all in (ready to release)."""
    return await _settled(sandbox, {"exercise": await _reviewed(sandbox)})


async def setup_moderatable_exercise(sandbox: Sandbox) -> dict[str, Any]:
    """A reviewed exercise and one of its authors, ``student``."""
    assert sandbox.world is not None
    exercise_id = await _reviewed(sandbox)
    student = sandbox.world.students(MODULE)[0].name
    return await _settled(sandbox, {"exercise": exercise_id, "student": student})


async def _reviewed(sandbox: Sandbox) -> int:
    """Every review of a fresh allocated exercise written, through the service."""
    assert sandbox.world is not None
    exercise_id = await _allocated(sandbox)
    now = sandbox.clock.now()
    async with sandbox.db.session() as session:
        rows = (
            await session.execute(
                select(ReviewAssignment.id, Person.platform_username)
                .join(Person, Person.id == ReviewAssignment.reviewer_id)
                .where(ReviewAssignment.exercise_id == exercise_id)
            )
        ).all()
    for assignment_id, username in rows:
        actor = sandbox.world.person(str(username))

        async def work(
            session: Any, caller: Caller, cohort: Cohort, aid: int = assignment_id
        ) -> None:
            await service.submit_review(
                session,
                caller,
                aid,
                scores={"Method": "7", "Clarity": "4"},
                comments="Clear and careful.",
                now=now,
            )

        await _as(sandbox, actor, work)
    return exercise_id


# --------------------------------------------------------------------------- the story


async def play(sandbox: Sandbox, transcript: Transcript) -> None:
    assert sandbox.world is not None
    world = sandbox.world
    script = sandbox.server.script
    channel = world.channel(MODULE)
    where = f"#{channel.name}"
    tutor = world.tutors(MODULE)[0]
    students = world.students(MODULE)
    transcript.section("A peer-assessed exercise")
    now = sandbox.clock.now()
    due = (now + timedelta(days=3)).replace(hour=17, minute=0)
    review_due = due + timedelta(days=4)
    transcript.user(
        name_of(tutor),
        where,
        f"/exercise create module:{MODULE} title:Week 2: cross-validation pitfalls k:3 "
        f"late_hours:48 late_penalty:10 rubric:{RUBRIC}",
    )
    cursor = script.last_id()
    reply = await (
        await tutor.command(
            "exercise create",
            where=channel,
            module=MODULE,
            title="Week 2: cross-validation pitfalls",
            brief="Find a published analysis that leaks test data into model selection, "
            "and explain the fix (300 words or a short notebook).",
            submission_deadline=at(due),
            review_deadline=at(review_due),
            k=3,
            rubric=RUBRIC,
            late_hours=48,
            late_penalty=10,
        )
    ).reply()
    transcript.bot(where, reply.content, private_to=name_of(tutor))
    post = await script.wait_for_message(
        channel, contains="New peer-assessed exercise", after=cursor
    )
    transcript.bot(where, message_text(post))
    exercise_id = int(reply.content.split("#", 1)[1].split(" ", 1)[0])

    # ---- submissions
    transcript.section("Students submit")
    on_time, late_one = students[:-1], students[-1]
    for i, student in enumerate(on_time):
        if i == 0:
            handle = await student.command(
                "submit",
                where=channel,
                exercise=exercise_id,
                file=Upload(
                    f"{student.name}-cv-pitfalls.pdf", b"%PDF-1.4 demo " * 200, "application/pdf"
                ),
            )
            what = f"file:{student.name}-cv-pitfalls.pdf"
        elif i == 1:
            handle = await student.command(
                "submit",
                where=channel,
                exercise=exercise_id,
                link="https://example.org/nb/cv.ipynb",
            )
            what = "link:https://example.org/nb/cv.ipynb"
        else:
            handle = await student.command(
                "submit",
                where=channel,
                exercise=exercise_id,
                text=f"Draft {i}: the paper tunes the penalty on the full data, then reports CV.",
            )
            what = "text:(their answer)"
        receipt = await handle.reply()
        if i in (0, 2):
            transcript.user(name_of(student), where, f"/submit exercise:{exercise_id} {what}")
            transcript.bot(where, receipt.content, private_to=name_of(student))
    resubmitter = on_time[2]
    receipt = await (
        await resubmitter.command(
            "submit",
            where=channel,
            exercise=exercise_id,
            text="Final: feature selection ran before the CV split, so every fold saw the test "
            "rows; selecting inside each fold fixes it.",
        )
    ).reply()
    transcript.user(name_of(resubmitter), where, f"/submit exercise:{exercise_id} text:(final)")
    transcript.bot(where, receipt.content, private_to=name_of(resubmitter))
    outsider = next(s for s in world.students() if MODULE not in world.modules_of[s.name])
    refused = await (
        await outsider.command(
            "submit", where=world.general, exercise=exercise_id, text="Can I join?"
        )
    ).reply()
    transcript.user(name_of(outsider), "#general", f"/submit exercise:{exercise_id} text:…")
    transcript.bot("#general", refused.content, private_to=name_of(outsider))

    # ---- allocation at the deadline
    transcript.section("Reviewers allocated at the deadline")
    await sandbox.advance(due + timedelta(minutes=1) - sandbox.clock.now())
    transcript.note("the submission deadline passes; the bot allocates k=3 reviewers each")
    closed = await script.wait_for_message(channel, contains="Submissions are closed")
    transcript.bot(where, closed.content)
    first = on_time[3]
    request = (await _wait_requests(first, 1))[0]
    transcript.bot(
        "DM", message_text(request).split("**Rubric**")[0].strip(), private_to=name_of(first)
    )
    report = await tutor.wait_for_dm(contains="was allocated")
    transcript.bot("DM", report.content, private_to=name_of(tutor))

    # ---- a late submission gets reviewers from spare capacity
    await sandbox.advance(timedelta(hours=3))
    receipt = await (
        await late_one.command(
            "submit",
            where=channel,
            exercise=exercise_id,
            text="Sorry for the delay: the study standardised with statistics of all rows.",
        )
    ).reply()
    transcript.user(name_of(late_one), where, f"/submit exercise:{exercise_id} text:… (3 h late)")
    transcript.bot(where, receipt.content, private_to=name_of(late_one))

    # ---- reviewing through the form
    transcript.section("Reviews through the DM form")
    dropout = on_time[4]
    harsh = on_time[5]
    slow = on_time[6]
    await sandbox.run_due()
    shown = False
    for student in on_time:
        if student in (dropout, slow):
            continue
        for req in review_requests(student):
            scores = {"Method": "8", "Clarity": "4"}
            if student is harsh:
                scores = {"Method": "2", "Clarity": "1"}
            if not shown:
                transcript.user(name_of(student), "DM", "Write review → Method: 12, Clarity: 4")
                answer = await write_review(student, req, {"Method": "12", "Clarity": "4"}, "Neat.")
                transcript.bot("DM", answer.content, private_to=name_of(student))
                answer = await write_review(
                    student, req, scores, "Good catch; say how much the estimate moved."
                )
                transcript.user(name_of(student), "DM", "Try again → Method: 8, Clarity: 4")
                transcript.bot("DM", answer.content, private_to=name_of(student))
                shown = True
                continue
            await write_review(student, req, scores, "Clear explanation of the leak and its fix.")
    transcript.note(f"{name_of(dropout)} leaves the server before reviewing")
    guild = sandbox.server.state.guilds[world.guild.id]
    roles = list(guild.members[dropout.id].roles)
    script.remove_member(world.guild, dropout)
    told = await tutor.wait_for_dm(contains="left the server")
    transcript.bot("DM", told.content, private_to=name_of(tutor))

    # ---- reminders go only to reviewers with pending work
    transcript.section("A reminder before the review deadline")
    await sandbox.advance(review_due - timedelta(hours=23) - sandbox.clock.now())
    reminder = await slow.wait_for_dm(contains="Reminder")
    transcript.bot("DM", reminder.content, private_to=name_of(slow))
    for student in [*on_time, late_one]:
        if student is dropout:
            continue
        for req in review_requests(student):
            if await _is_pending(sandbox, req):
                await write_review(
                    student, req, {"Method": "7", "Clarity": "3"}, "Solid; cite the paper."
                )

    # ---- reviews close; moderation; release
    transcript.section("Reviews close: aggregation, moderation, release")
    await sandbox.advance(review_due + timedelta(minutes=5) - sandbox.clock.now())
    summary = await tutor.wait_for_dm(contains="Reviews closed")
    transcript.bot("DM", summary.content, private_to=name_of(tutor))
    status = await (
        await tutor.command("exercise status", where=channel, exercise=exercise_id)
    ).reply()
    transcript.user(name_of(tutor), where, f"/exercise status exercise:{exercise_id}")
    transcript.bot(where, status.content, private_to=name_of(tutor))
    transcript.user(name_of(tutor), where, f"/exercise release exercise:{exercise_id}")
    refused = await (
        await tutor.command("exercise release", where=channel, exercise=exercise_id)
    ).reply()
    transcript.bot(where, refused.content, private_to=name_of(tutor))
    flagged = await _flagged_authors(sandbox, exercise_id)
    member = world.person(flagged[0])
    text = await (
        await tutor.command(
            "exercise moderate",
            where=channel,
            exercise=exercise_id,
            student=member,
            score=78,
            reason="One review ignored the rubric; marked against it myself.",
        )
    ).reply()
    transcript.user(
        name_of(tutor),
        where,
        f"/exercise moderate exercise:{exercise_id} student:{name_of(member)} score:78 "
        "reason:One review ignored the rubric…",
    )
    transcript.bot(where, text.content, private_to=name_of(tutor))
    released = await (
        await tutor.command(
            "exercise release", where=channel, exercise=exercise_id, accept_flagged=True
        )
    ).reply()
    transcript.user(
        name_of(tutor), where, f"/exercise release exercise:{exercise_id} accept_flagged:True"
    )
    transcript.bot(where, released.content, private_to=name_of(tutor))
    author = on_time[2]
    feedback = await author.wait_for_dm(contains="Peer feedback")
    transcript.bot("DM", message_text(feedback), private_to=name_of(author))

    script.add_member(guild, dropout, roles=[guild.roles[r] for r in roles if r in guild.roles])
    transcript.note(f"{name_of(dropout)} rejoins the server later")


async def _wait_requests(actor: Actor, n: int) -> list[Message]:
    await actor.server.wait_until(
        lambda: len(review_requests(actor)) >= n or None,
        timeout=5,
        describe=lambda: f"{actor.name} did not get {n} review request(s)",
    )
    return review_requests(actor)


async def _is_pending(sandbox: Sandbox, request: Message) -> bool:
    custom_id = review_button(request)
    assert custom_id is not None
    async with sandbox.db.session() as session:
        a = await session.get(ReviewAssignment, int(custom_id.rsplit(":", 1)[1]))
        return a is not None and a.status == AssignmentStatus.PENDING


async def _flagged_authors(sandbox: Sandbox, exercise_id: int) -> list[str]:
    async with sandbox.db.session() as session:
        rows = await session.execute(
            select(Person.platform_username)
            .join(PeerResult, PeerResult.person_id == Person.id)
            .where(PeerResult.exercise_id == exercise_id, PeerResult.flagged.is_(True))
            .order_by(Person.id)
        )
        return [str(u) for u in rows.scalars()]
