"""A peer-assessed exercise from creation to released anonymous feedback: submissions (a file,
a link, text, a resubmission, a refused outsider, a late one), allocation at the deadline,
reviews through the rubric form (one refused and fixed), a reviewer who leaves, a reminder,
moderation of a flagged mark, release."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select

from bot.db.models import AssignmentStatus, PeerResult, ReviewAssignment
from bot.db.models import Person as RosterPerson
from bot.peer import service
from cohortlab.demo.term import MODULE, Term, number
from cohortlab.drive import File, NotOnPlatform, Person, Post

REVIEW = "cb:peer:review:"
RUBRIC = "Method 0-10: sound validation design; Clarity 0-5: easy to follow"
TITLE = "Week 2: cross-validation pitfalls"


def requests(person: Person) -> list[Post]:
    """The review requests in a person's DMs (each with its Write review button)."""
    return [p for p in person.dms() if any(b.startswith(REVIEW) for b in p.buttons)]


def _assignment(request: Post) -> int:
    return int(next(b for b in request.buttons if b.startswith(REVIEW)).rsplit(":", 1)[1])


async def _pending(term: Term, request: Post) -> bool:
    async with term.cohort.db.session() as s:
        found = await s.get(ReviewAssignment, _assignment(request))
        return found is not None and found.status == AssignmentStatus.PENDING


async def _review(person: Person, request: Post, method: str, clarity: str, comment: str) -> str:
    """Press Write review on a request and submit the rubric form; the bot's answer."""
    assert (await person.click(request, REVIEW)).form
    return (await person.fill_form(score0=method, score1=clarity, comments=comment)).text


async def play(term: Term) -> None:
    cohort, log = term.cohort, term.log
    tutor = cohort.tutor(MODULE)
    students = cohort.students(MODULE)
    log.section("A peer-assessed exercise")
    now = cohort.clock.now()
    due = (now + timedelta(days=3)).replace(hour=17, minute=0)
    review_due = due + timedelta(days=4)
    created = await term.say(
        tutor,
        "exercise create",
        shown=f"module:{MODULE} title:{TITLE} k:3 late_hours:48 late_penalty:10 rubric:{RUBRIC}",
        module=MODULE,
        title=TITLE,
        brief="Find a published analysis that leaks test data into model selection, "
        "and explain the fix (300 words or a short notebook).",
        submission_deadline=f"{due:%Y-%m-%d %H:%M}",
        review_deadline=f"{review_due:%Y-%m-%d %H:%M}",
        k=3,
        rubric=RUBRIC,
        late_hours=48,
        late_penalty=10,
    )
    exercise = number(created.text)
    await cohort.run_due()
    log.bot(term.channel, (await cohort.wait_post(MODULE, "New peer-assessed exercise")).text)

    log.section("Students submit")
    on_time, late_one = students[:-1], students[-1]
    for i, student in enumerate(on_time):
        if i == 0:
            name = f"{student.name}-cv-pitfalls.pdf"
            await term.say(
                student,
                "submit",
                exercise=exercise,
                file=File(name, b"%PDF-1.4 demo " * 200, "application/pdf"),
            )
        elif i == 1:
            await student.command(
                "submit", where=MODULE, exercise=exercise, link="https://example.org/nb/cv.ipynb"
            )
        else:
            text = f"Draft {i}: the paper tunes the penalty on the full data, then reports CV."
            if i == 2:
                await term.say(
                    student,
                    "submit",
                    exercise=exercise,
                    text=text,
                    shown=f"exercise:{exercise} text:(her draft)",
                )
            else:
                await student.command("submit", where=MODULE, exercise=exercise, text=text)
    log.note(f"{len(on_time) - 2} more classmates submit a link or text")
    await term.say(
        on_time[2],
        "submit",
        exercise=exercise,
        text="Final: feature selection ran before the CV split, so every fold saw the test "
        "rows; selecting inside each fold fixes it.",
        shown=f"exercise:{exercise} text:(her final version)",
    )
    outsider = next(s for s in cohort.students() if MODULE not in cohort.modules_of(s))
    await term.say(outsider, "submit", where=None, exercise=exercise, text="Can I join?")

    log.section("Reviewers allocated at the deadline")
    await cohort.advance_to(due + timedelta(minutes=1))
    log.note("the submission deadline passes; the bot allocates k=3 reviewers each")
    log.bot(term.channel, (await cohort.wait_post(MODULE, "Submissions are closed")).text)
    first = on_time[3]
    request = await cohort.wait_for(
        lambda: next(iter(requests(first)), None), what=f"a review request to {first.name}"
    )
    log.bot("a DM", request.text.split("Rubric")[0].strip(), to=first)
    log.bot("a DM", (await tutor.wait_dm("was allocated")).text, to=tutor)

    await cohort.advance(timedelta(hours=3))
    await term.say(
        late_one,
        "submit",
        exercise=exercise,
        text="Sorry for the delay: the study standardised with statistics of all rows.",
        shown=f"exercise:{exercise} text:… (3 h late)",
    )

    log.section("Reviews through the DM form")
    dropout, harsh, slow = on_time[4], on_time[5], on_time[6]
    await cohort.run_due()
    shown = False
    for student in on_time:
        if student in (dropout, slow):
            continue
        method, clarity = ("2", "1") if student is harsh else ("8", "4")
        for req in requests(student):
            if shown:
                await _review(
                    student, req, method, clarity, "Clear explanation of the leak and its fix."
                )
                continue
            log.user(student, "a DM", "Write review → Method: 12, Clarity: 4")
            assert (await student.click(req, REVIEW)).form
            refused = await student.fill_form(score0="12", score1="4", comments="Neat.")
            log.bot("a DM", refused.text, to=student)
            if not refused.form:
                # Discord cannot keep a form open under a refusal: "Try again" opens it again.
                assert refused.post is not None, refused.text
                assert (await student.click(refused.post, REVIEW)).form
                log.user(student, "a DM", "Try again → Method: 8, Clarity: 4")
            else:
                log.user(student, "a DM", "(fixes the form) Method: 8, Clarity: 4")
            done = await student.fill_form(
                score0=method,
                score1=clarity,
                comments="Good catch; say how much the estimate moved.",
            )
            log.bot("a DM", done.text, to=student)
            shown = True

    log.note(f"{dropout.display_name} leaves before reviewing")
    try:
        await cohort.leave(dropout)
    except NotOnPlatform as why:
        log.note(f"{why}: the demo calls what Discord's member-left event calls")
        async with cohort.db.session() as s:
            await service.member_left(s, dropout.platform_id, cohort.clock.now())
    await cohort.run_due()
    log.bot("a DM", (await tutor.wait_dm("left the server")).text, to=tutor)

    log.section("A reminder before the review deadline")
    await cohort.advance_to(review_due - timedelta(hours=23))
    log.bot("a DM", (await slow.wait_dm("Reminder")).text, to=slow)
    for student in [*on_time, late_one]:
        if student is dropout:
            continue
        for req in requests(student):
            if await _pending(term, req):
                await _review(student, req, "7", "3", "Solid; cite the paper.")

    log.section("Reviews close: aggregation, moderation, release")
    await cohort.advance_to(review_due + timedelta(minutes=5))
    log.bot("a DM", (await tutor.wait_dm("Reviews closed")).text, to=tutor)
    await term.say(tutor, "exercise status", exercise=exercise)
    await term.say(tutor, "exercise release", exercise=exercise)
    flagged = await _flagged(term, exercise)
    await term.say(
        tutor,
        "exercise moderate",
        shown=f"exercise:{exercise} student:@{flagged.name} score:78 "
        "reason:One review ignored the rubric…",
        exercise=exercise,
        student=flagged,
        score=78,
        reason="One review ignored the rubric; marked against it myself.",
    )
    await term.say(tutor, "exercise release", exercise=exercise, accept_flagged=True)
    await cohort.run_due()
    author = on_time[2]
    log.bot("a DM", (await author.wait_dm("Peer feedback", timeout=90)).text, to=author)
    try:
        await cohort.rejoin(dropout)
        log.note(f"{dropout.display_name} rejoins the server later")
    except NotOnPlatform:
        pass


async def _flagged(term: Term, exercise: int) -> Person:
    """The first author (in roster order) whose reviewers disagreed."""
    async with term.cohort.db.session() as s:
        names = (
            await s.execute(
                select(RosterPerson.display_name)
                .join(PeerResult, PeerResult.person_id == RosterPerson.id)
                .where(PeerResult.exercise_id == exercise, PeerResult.flagged.is_(True))
                .order_by(RosterPerson.id)
            )
        ).scalars()
        first = next(iter(names))
    return next(p for p in term.cohort.students(MODULE) if p.display_name == first)
