"""The ``setup`` functions the Discord permission-matrix test names in the /exercise and
/submit commands' extras (each creates what a command needs on the sandbox and returns the
options to invoke it with), and small helpers the end-to-end tests share (acting as a reviewer
through the DM button and the rubric form)."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from sqlalchemy import select

from bot.access.identity import ChatUser
from bot.access.permissions import Caller, load_caller
from bot.db.models import AssignmentStatus, Cohort, Person, ReviewAssignment
from bot.peer import service
from cohortlab.localdiscord.interactions import walk_components
from cohortlab.localdiscord.models import Message
from cohortlab.localdiscord.scripting import Actor

if TYPE_CHECKING:
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
