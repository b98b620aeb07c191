"""What only Slack's rubric modal does: refusals stay under their box in the open modal, a
double Submit records one review, and a review taken away or past its deadline is refused in
the form (the whole flow, the same on both platforms, is tests/parity/test_peer.py)."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

import pytest
from sqlalchemy import select

from bot.db.models import PeerReview
from cohortlab.localslack import Message, SlackActor, View
from tests.slack.conftest import SlackBox, eventually

pytestmark = pytest.mark.e2e

MODULE = "MATH70097"
TITLE = "Lasso paths"
REVIEW = "cb:peer:review:"
CREATE = (
    f'create module:{MODULE} title:"{TITLE}" brief:"Fit a lasso path and explain it." '
    'submission_deadline:"2030-01-20 17:00" review_deadline:"2030-01-27 17:00" k:2 '
    'rubric:"Correctness 0-10; Clarity 0-5"'
)


def _review_button(message: Message) -> str | None:
    return next(
        (
            str(e["action_id"])
            for b in message.blocks or []
            if b.get("type") == "actions"
            for e in b.get("elements", [])
            if str(e.get("action_id", "")).startswith(REVIEW)
        ),
        None,
    )


async def set_and_allocate(box: SlackBox, students: list[SlackActor]) -> None:
    """The tutor sets exercise #1, each student submits by /submit, the tutor allocates."""
    tutor = box.world.tutor_of(MODULE)
    await (await tutor.slash("/exercise", CREATE)).wait_ephemeral(contains=TITLE)
    for i, student in enumerate(students):
        done = await student.slash(
            "/submit", f'exercise:1 text:"My lasso path, take {i}: it flattens at 0.{i + 1}."'
        )
        await done.wait_ephemeral(contains=TITLE)
    allocated = await tutor.slash("/exercise", "allocate exercise:1")
    await allocated.wait_ephemeral(contains=f"{len(students)} submission(s)")


async def review_requests(
    box: SlackBox, reviewer: SlackActor, count: int = 2
) -> list[tuple[Message, str]]:
    """The reviewer's request DMs, each with its "Write review" button (the peer job and the
    outbox run as the scheduler would)."""

    async def arrived() -> list[tuple[Message, str]] | None:
        await box.app.work.peer_once()
        await box.app.work.send_owed()
        found = [(m, b) for m in reviewer.dms() if (b := _review_button(m)) is not None]
        return found if len(found) >= count else None

    return await eventually(arrived, f"{reviewer.name}'s {count} review requests by DM")


async def open_form(box: SlackBox, reviewer: SlackActor, message: Message, button: str) -> View:
    clicked = await reviewer.click(message, button)
    assert clicked.acked
    return await box.server.wait_until(
        lambda: reviewer.open_views[-1] if reviewer.open_views else None,
        timeout=5.0,
        describe=lambda: f"no review form opened; answers {clicked.responses}",
    )


def scores(correctness: str, clarity: str, comment: str) -> dict[str, dict[str, str]]:
    return {
        "score0": {"value": correctness},
        "score1": {"value": clarity},
        "comments": {"value": comment},
    }


async def _reviews(box: SlackBox) -> list[PeerReview]:
    async with box.db.session() as s:
        return list((await s.execute(select(PeerReview))).scalars())


async def test_the_rubric_modal_keeps_a_refusal_under_its_box_and_a_double_submit_counts_once(
    slack: SlackBox,
) -> None:
    students = slack.world.students_of(MODULE)[:3]
    await set_and_allocate(slack, students)

    first = students[0]
    (message, button), _ = await review_requests(slack, first)
    form = await open_form(slack, first, message, button)
    labels = [b["label"]["text"] for b in form.blocks if b.get("type") == "input"]
    assert labels == ["Correctness (0-10)", "Clarity (0-5)", "Comments for the author"]

    # A refusal sits under the box it is about, in the modal still open (the out-of-range
    # score, the same on both platforms, is in tests/parity/test_peer.py).
    empty = await first.submit(form, scores("8", "4", "  "))
    assert set(empty.errors) == {"comments"} and not form.closed
    assert await _reviews(slack) == []

    # Fixed, and Submit pressed twice: one review, one confirmation.
    typed = scores("8", "4,5", "Clear plot; explain why it flattens.")
    once, twice = await asyncio.gather(first.submit(form, typed), first.submit(form, typed))
    assert once.errors == {} and twice.errors == {} and form.closed
    await slack.server.script.wait_acked()
    assert len(await _reviews(slack)) == 1
    confirmed = [e for e in first.ephemerals if "Your review of Submission" in e.text]
    assert len(confirmed) == 1 and "recorded" in confirmed[0].text


async def test_a_review_past_its_deadline_or_taken_away_is_refused_in_the_form(
    slack: SlackBox,
) -> None:
    students = slack.world.students_of(MODULE)[:4]
    tutor = slack.world.tutor_of(MODULE)
    await set_and_allocate(slack, students)
    late, moved = students[0], students[1]
    request = (await review_requests(slack, late))[0]
    late_form = await open_form(slack, late, *request)
    moved_form = await open_form(slack, moved, *(await review_requests(slack, moved))[0])

    # The tutor gives the second reviewer's review to someone else while the form is open.
    reassigned = await tutor.slash("/exercise", f"reassign exercise:1 reviewer:@{moved.name}")
    await reassigned.wait_ephemeral()
    taken = await moved.submit(moved_form, scores("7", "3", "Good."))
    assert set(taken.errors) == {"comments"}
    assert "another reviewer" in taken.errors["comments"] and not moved_form.closed

    # The review deadline passes (no extension) with the first form still open; the bot's
    # scheduled work is held, or its peer job would give the missed review to someone else.
    slack.app.scheduler.pause()
    assert await slack.app.scheduler.idle(10)
    slack.clock.set(datetime(2030, 1, 28, 9, 0, tzinfo=UTC))
    too_late = await late.submit(late_form, scores("7", "3", "Good."))
    assert set(too_late.errors) == {"comments"}
    assert "deadline for this review passed" in too_late.errors["comments"]
    assert not late_form.closed
    assert await _reviews(slack) == []

    # Pressing the button again is refused in one sentence, and no second form opens.
    again = await late.click(*request)
    reply = await slack.server.wait_until(
        lambda: again.responses or None,
        timeout=5.0,
        describe=lambda: "no answer to a click past the deadline",
    )
    assert "deadline for this review passed" in str(reply[0].get("text"))
    assert late.open_views == [late_form]
