"""A graded discussion prompt from scheduling to released marks: answers and replies in its
thread (one edited), an extension, a late answer through the form, quality marks one by one and
from the score table's CSV, release."""

from __future__ import annotations

import csv
import io
from datetime import timedelta

from cohortlab.demo.term import MODULE, Term, brief, number, words
from cohortlab.drive import File, Person, Post

TITLE = "Week 1: bias and variance in your work"
QUESTION = (
    "Describe a model you have fitted (at work or in a course) that underfitted or "
    "overfitted. How did you notice, and what did you change? Relate it to the "
    "bias-variance decomposition of the expected squared error."
)
#: The quality points the tutor types into the score table's CSV, by student name.
QUALITY = (("Lukas Becker", "3"), ("Mei Lin Tan", "4"), ("Aisha Rahman", "2"))


async def play(term: Term) -> None:
    cohort, log = term.cohort, term.log
    tutor = cohort.tutor(MODULE)
    amara, lukas, meilin, diego, aisha = cohort.students(MODULE)[:5]
    log.section("A graded discussion prompt")

    now = cohort.clock.now()
    opens = now.replace(hour=9, minute=0)
    closes = opens + timedelta(days=2, hours=8)
    asked = await term.say(
        tutor,
        "prompt create",
        module=MODULE,
        title=TITLE,
        opens=f"{opens:%Y-%m-%d %H:%M}",
        closes=f"{closes:%Y-%m-%d %H:%M}",
        rubric="standard",
    )
    if asked.form:
        log.note("the form asks for the prompt's text; the tutor pastes the question")
        asked = await tutor.fill_form(text=QUESTION)
        log.bot(term.channel, asked.text, to=tutor)
    prompt = number(asked.text)

    await cohort.advance_to(opens + timedelta(minutes=1))
    log.bot(term.channel, (await cohort.wait_post(MODULE, "How this prompt is marked")).text)
    thread = await cohort.prompt_thread(prompt)
    in_thread = f"the thread “{TITLE}”"

    async def write(person: Person, text: str, *, to: Person | None = None) -> Post:
        """A post in the thread; ``to``: a reply to that classmate (it mentions them)."""
        post = await person.post(thread, f"{to.mention} {text}" if to else text)
        log.user(person, in_thread, brief(f"@{to.display_name} {text}" if to else text))
        return post

    await cohort.advance(timedelta(hours=3))
    first = words(
        170,
        "At work I fitted a gradient boosted model on churn data that scored "
        "almost perfectly in training but badly on the next month of customers",
    )
    answer = await write(amara, first)
    await cohort.advance(timedelta(hours=5))
    await write(
        lukas,
        words(
            160,
            "A linear model of house prices underfitted badly because it could not "
            "bend with location effects so both training and test error stayed high",
        ),
    )
    await write(
        lukas,
        words(
            60,
            "Your churn story is classic variance; did early stopping or shallower "
            "trees close the gap between the two months",
        ),
        to=amara,
    )
    await cohort.advance(timedelta(hours=20))
    await write(
        meilin,
        words(
            165,
            "In my dissertation a k nearest neighbours classifier with k of one "
            "memorised the noise and a larger k traded variance for a little bias",
        ),
    )
    await write(
        meilin,
        words(
            55,
            "adding a spline for distance to the centre would let your linear "
            "model bend without a big jump in variance",
        ),
        to=lukas,
    )
    await write(diego, "Interesting thread, I will write mine tonight.")
    await cohort.advance(timedelta(hours=2))
    await amara.edit(answer, first + " Early stopping fixed most of it.")
    log.user(amara, in_thread, "(edits her answer; the earlier text is kept)")

    await term.say(
        tutor,
        "prompt extend",
        prompt=prompt,
        student=aisha,
        until=f"{closes + timedelta(days=1):%Y-%m-%d %H:%M}",
        reason="illness",
    )
    log.bot("a DM", (await aisha.wait_dm("extension")).text, to=aisha)
    await term.say(lukas, "prompt mine")

    await cohort.advance_to(closes + timedelta(minutes=1))
    log.bot(in_thread, (await cohort.wait_post(thread, "closed")).text)
    log.note("the prompt is closed; a late answer goes through /prompt answer")

    await cohort.advance(timedelta(hours=20))
    opened = await term.say(
        aisha, "prompt answer", prompt=prompt, shown=f"prompt:{prompt} (writes her answer)"
    )
    assert opened.form, opened.text
    late = words(
        158,
        "Regularising a logistic regression on clinical data reduced "
        "variance at the price of slightly biased risk estimates",
    )
    log.bot(term.channel, (await aisha.fill_form(answer=late)).text, to=aisha)
    relayed = await cohort.wait_post(thread, "Answer from")
    log.bot(in_thread, relayed.text[:120] + "…")

    await term.say(
        tutor,
        "prompt grade",
        prompt=prompt,
        student=amara,
        quality="3",
        feedback="A clear, honest example; say more about how you chose the stopping point.",
    )
    table = await term.say(tutor, "prompt scores", prompt=prompt)
    data = next(content for name, content in table.files if name.endswith(".csv"))
    rows = list(csv.DictReader(io.StringIO(data.decode("utf-8-sig"))))
    marks = dict(QUALITY) | {diego.display_name: "0"}
    for row in rows:
        row["quality_points"] = marks.get(row["name"], row["quality_points"])
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=list(rows[0]))
    writer.writeheader()
    writer.writerows(rows)
    filename = f"prompt-{prompt}-grades.csv"
    await term.save(filename, out.getvalue().encode())
    log.note(f"the tutor fills in quality points in the table's CSV and saves it as {filename}")
    await term.say(
        tutor,
        "prompt grade-csv",
        prompt=prompt,
        file=File(filename, out.getvalue().encode(), "text/csv"),
    )

    await cohort.advance_to(closes + timedelta(days=1, minutes=30))
    log.note("Aisha's extension has ended; the tutor releases the marks")
    await term.say(tutor, "prompt release", prompt=prompt)
    await cohort.run_due()
    for student in (amara, lukas):
        log.bot("a DM", (await student.wait_dm("is released", timeout=90)).text, to=student)
    await term.say(amara, "prompt mine")
