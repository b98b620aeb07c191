"""A peer-assessed exercise from end to end, the same body on Discord and on Slack (and on
every database backend): the tutor sets it, students submit, the deadline allocates and each
reviewer gets requests by DM with a "Write review" button, reviews go through the rubric form
(a refused one changes nothing and the answers are kept to fix), the tutor releases, each
author's feedback DM names no reviewer, and /marks shows the peer component."""

from __future__ import annotations

import re
from datetime import UTC, datetime

import pytest
from sqlalchemy import func, select

from bot.db.models import PeerReview, ReviewAssignment
from bot.db.models import Person as RosterPerson
from cohortlab.drive import Cohort, Person, Post, Reply

pytestmark = pytest.mark.e2e

MODULE = "MATH70097"
TITLE = "Lasso paths"
REVIEW = "cb:peer:review:"


def number(text: str) -> int:
    found = re.search(r"#(\d+)", text)
    assert found is not None, text
    return int(found[1])


async def review_count(cohort: Cohort) -> int:
    async with cohort.db.session() as s:
        return int((await s.execute(select(func.count()).select_from(PeerReview))).scalar_one())


async def requests(cohort: Cohort, reviewer: Person, count: int = 2) -> list[Post]:
    """The reviewer's request DMs, each with its "Write review" button."""

    def found() -> list[Post] | None:
        mine = [p for p in reviewer.dms() if any(b.startswith(REVIEW) for b in p.buttons)]
        return mine if len(mine) >= count else None

    return await cohort.wait_for(found, what=f"{count} review requests by DM to {reviewer.name}")


async def review(reviewer: Person, request: Post, correctness: str, clarity: str) -> Reply:
    """Press "Write review" on a request and submit the rubric form."""
    assert (await reviewer.click(request, REVIEW)).form
    return await reviewer.fill_form(score0=correctness, score1=clarity, comments="Convincing.")


def traces(person: Person) -> set[str]:
    """What would tell an author who reviewed them."""
    found = {person.name, person.platform_id, person.display_name}
    first = person.display_name.split()[0]
    return {x for x in found | ({first} if len(first) > 3 else set()) if x}


async def test_a_peer_exercise_from_submissions_to_anonymous_feedback_and_marks(
    cohort: Cohort,
) -> None:
    tutor = cohort.tutor(MODULE)
    students = cohort.students(MODULE)[:3]
    created = await tutor.command(
        "exercise create",
        where=MODULE,
        module=MODULE,
        title=TITLE,
        brief="Fit a lasso path and explain where it flattens.",
        submission_deadline="2030-01-20 17:00",
        review_deadline="2030-01-27 17:00",
        k=2,
        rubric="Correctness 0-10; Clarity 0-5",
    )
    assert TITLE in created.text, created.text
    exercise = number(created.text)
    for i, student in enumerate(students):
        text = f"My lasso path, take {i}: it flattens at 0.{i + 1}."
        receipt = await student.command("submit", where=MODULE, exercise=exercise, text=text)
        assert TITLE in receipt.text, receipt.text

    # The submission deadline passes: the bot allocates and sends each reviewer two requests.
    await cohort.advance_to(datetime(2030, 1, 20, 17, 5, tzinfo=UTC))
    first = students[0]
    request, later = await requests(cohort, first)

    # Out of range: one clear sentence, nothing recorded, the answers kept to fix.
    assert (await first.click(request, REVIEW)).form
    refused = await first.fill_form(score0="11", score1="4", comments="Explain the knee.")
    assert "from 0 to 10" in refused.text, refused.text
    assert await review_count(cohort) == 0
    if not refused.form:
        # Discord cannot keep a form open under a refusal: "Try again" opens it once more.
        assert refused.post is not None, refused.text
        assert (await first.click(refused.post, REVIEW)).form
    done = await first.fill_form(score0="8", score1="4", comments="Explain why it flattens.")
    assert "recorded" in done.text, done.text
    assert await review_count(cohort) == 1

    assert "recorded" in (await review(first, later, "7", "4")).text
    for reviewer, (correctness, clarity) in zip(
        students[1:], (("7", "4"), ("8", "4")), strict=True
    ):
        for request in await requests(cohort, reviewer):
            assert "recorded" in (await review(reviewer, request, correctness, clarity)).text
    assert await review_count(cohort) == 6

    released = await tutor.command("exercise release", where=MODULE, exercise=exercise)
    assert "Released" in released.text, released.text

    # Each author's feedback: the mark and both reviews, never who wrote them.
    async with cohort.db.session() as s:
        pairs = (
            await s.execute(
                select(ReviewAssignment.reviewer_id, ReviewAssignment.author_id).where(
                    ReviewAssignment.exercise_id == exercise
                )
            )
        ).all()
        emails = {p.id: str(p.email) for p in (await s.execute(select(RosterPerson))).scalars()}
    assert len(pairs) == 6
    marks: dict[str, str] = {}
    for reviewer_id, author_id in pairs:
        author = cohort.by_email(emails[author_id])
        reviewer = cohort.by_email(emails[reviewer_id])
        await author.wait_dm("Peer feedback")
        text = "\n".join(p.text for p in author.dms() if "Peer feedback" in p.text)
        assert "You received 2 reviews (reviewers stay anonymous)" in text, text
        found = re.search(r"Your peer mark: ([\d.]+) / 100", text)
        assert found is not None, text
        marks[author.name] = found[1]
        for trace in traces(reviewer) | {emails[reviewer_id]}:
            assert trace not in text, f"{trace!r} (the reviewer) shown to the author"

    mine = await first.command("marks", where=MODULE, module=MODULE)
    shown = f"{TITLE}: reviews done 2/2; peer score {marks[first.name]}/100 (released)"
    assert shown in mine.text, mine.text
