"""The scripted term both platforms play (``cohortbot demo --platform slack``, and the test
that Slack's gradebook equals Discord's): written once against ``cohortlab.drive``, so the same
people do the same things on Discord and on Slack and the database ends the same.

A week of MATH70097: the bot introduces itself, a graded discussion prompt opens, students
answer in its thread (one edits), the tutor grades and releases it; a tutorial with RSVP and
check-in; a deadline with an extension; the calendar and the marks a student sees; and last the
module's gradebook, printed. A step whose command a platform lacks is done through the service
that command calls, and the transcript says so.
"""

from __future__ import annotations

import csv
import io
from datetime import timedelta
from typing import Any

from bot.gradebook.exporting import export_module
from cohortlab.demo.steps.s90_gradebook import _table
from cohortlab.drive import Cohort, Person, Reply
from cohortlab.drive.catalogue import parity_table

MODULE = "MATH70097"
CHANNEL = f"#{MODULE.lower()}"
#: Export columns naming a student's chat handle: they differ by platform by design.
HANDLES = ("discord", "slack", "handle")


class Log:
    """A readable transcript (``cohortlab.demo.Transcript``'s shape, on the driver's clock)."""

    def __init__(self, cohort: Cohort, out: Any) -> None:
        self.cohort = cohort
        self.out = out

    def _when(self) -> str:
        return self.cohort.clock.now().strftime("%a %d %b %H:%M UTC")

    def section(self, title: str) -> None:
        print(f"\n=== {title} ===", file=self.out)

    def note(self, text: str) -> None:
        print(f"    ({text})", file=self.out)

    def user(self, who: Person, text: str, where: str = CHANNEL) -> None:
        print(f"[{self._when()}] {who.display_name} in {where}: {text}", file=self.out)

    def bot(
        self, text: str, *, to: Person | None = None, where: str = f"#{MODULE.lower()}"
    ) -> None:
        audience = f" (only {to.display_name} sees this)" if to else ""
        lines = text.strip().splitlines() or [""]
        print(f"[{self._when()}] cohortbot in {where}{audience}: {lines[0]}", file=self.out)
        for line in lines[1:]:
            print(f"        {line}", file=self.out)


def _words(n: int, text: str) -> str:
    sentence = text.split()
    return " ".join(sentence[i % len(sentence)] for i in range(n))


def _number(reply: Reply) -> int:
    after = reply.text.split("#", 1)[1]
    return int("".join(ch for ch in after[:8] if ch.isdigit()) or "0")


async def _say(log: Log, person: Person, command: str, **options: Any) -> Reply:
    shown = " ".join(f"{k}:{getattr(v, 'name', v)}" for k, v in options.items() if k != "text")
    log.user(person, f"/{command} {shown}".strip())
    reply = await person.command(command, where=MODULE, **options)
    if not reply.form:
        log.bot(reply.text, to=person)
    return reply


async def play_term(cohort: Cohort, out: Any) -> bytes:
    """Play the term; returns the module's exported gradebook (CSV)."""
    log = Log(cohort, out)
    tutor = cohort.tutor(MODULE)
    amara, lukas, meilin, diego = cohort.students(MODULE)[:4]

    log.section("Meet the bot")
    await _say(log, amara, "about")

    log.section("A graded discussion prompt")
    now = cohort.clock.now()
    opens = now.replace(hour=9, minute=0) + timedelta(days=1)
    closes = opens + timedelta(days=2, hours=8)
    asked = await _say(
        log,
        tutor,
        "prompt create",
        module=MODULE,
        title="Week 1: bias and variance in your work",
        opens=f"{opens:%Y-%m-%d %H:%M}",
        closes=f"{closes:%Y-%m-%d %H:%M}",
    )
    if asked.form:
        log.note("the form asks for the prompt's text; the tutor pastes the question")
        asked = await tutor.fill_form(
            text="Describe a model you fitted that underfitted or overfitted. How did you "
            "notice, and what did you change?"
        )
        log.bot(asked.text, to=tutor)
    prompt = _number(asked)
    await cohort.advance_to(opens + timedelta(minutes=1))
    log.bot((await cohort.wait_post(MODULE, "Week 1: bias and variance")).text)
    thread = await cohort.prompt_thread(prompt)
    answers = {
        amara: "At work I fitted a gradient boosted model on churn data that scored almost "
        "perfectly in training but badly on the next month of customers",
        lukas: "A linear model of house prices underfitted because it could not bend with "
        "location effects so both training and test error stayed high",
        meilin: "In my dissertation a k nearest neighbours classifier with k of one memorised "
        "the noise and a larger k traded variance for a little bias",
    }
    posted = {}
    for hours, (person, sentence) in zip((3, 5, 20), answers.items(), strict=True):
        await cohort.advance(timedelta(hours=hours))
        posted[person] = await person.post(thread, _words(160, sentence))
        log.user(person, f"{sentence[:60]}… (160 words)", where="the prompt's thread")
    await diego.post(thread, "Interesting thread, I will write mine tonight.")
    log.user(diego, "Interesting thread, I will write mine tonight.", where="the prompt's thread")
    await amara.edit(posted[amara], _words(160, answers[amara]) + " Early stopping fixed it.")
    log.user(amara, "(edits her answer; the earlier text is kept)", where="the prompt's thread")

    await cohort.advance_to(closes + timedelta(minutes=1))
    log.bot((await cohort.wait_post(thread, "closed")).text, where="the prompt's thread")
    await _say(
        log,
        tutor,
        "prompt grade",
        prompt=prompt,
        student=amara,
        quality="3",
        feedback="A clear, honest example.",
    )
    await _say(log, tutor, "prompt release", prompt=prompt)
    await cohort.run_due()
    log.bot((await amara.wait_dm("is released", timeout=90)).text, to=amara, where="a DM")

    log.section("Tutorials and deadlines")
    start = (cohort.clock.now() + timedelta(days=2)).replace(hour=18, minute=0)
    await _say(
        log,
        tutor,
        "tutorial add",
        module=MODULE,
        title="Kernels",
        start=f"{start:%Y-%m-%d %H:%M}",
        duration="1h",
    )
    await cohort.run_due()
    card = await cohort.wait_post(MODULE, "Kernels")
    log.bot(card.text)
    log.user(amara, "[presses Going]")
    log.bot((await amara.click(card, "cb:calendar:going:")).text, to=amara)
    due = (cohort.clock.now() + timedelta(days=8)).date()
    added = await _say(
        log,
        tutor,
        "deadline add",
        module=MODULE,
        kind="submission_deadline",
        title="Coursework 1",
        due=f"{due.isoformat()} AoE",
    )
    await _say(
        log,
        tutor,
        "deadline extend",
        item=_number(added),
        student=lukas,
        due=f"{(due + timedelta(days=5)).isoformat()} AoE",
        reason="MC-2026-014",
    )
    await cohort.run_due()
    log.bot((await lukas.wait_dm("approved")).text, to=lukas, where="a DM")
    await cohort.advance_to(start + timedelta(minutes=5))
    log.note("the tutorial is on")
    log.user(amara, "[presses Check in]")
    log.bot((await amara.click(card, "cb:calendar:checkin:")).text, to=amara)
    await _say(log, lukas, "calendar upcoming")
    await _say(log, amara, "marks", module=MODULE)

    log.section("Participation marks released")
    await _say(
        log,
        tutor,
        "gradebook weights",
        module=MODULE,
        discussion=50,
        attendance=10,
        reason="discussion is the heart of this module",
    )
    await _say(log, tutor, "gradebook release", module=MODULE)
    await cohort.run_due()
    marks = await amara.command("marks", where=MODULE, module=MODULE)
    log.user(amara, f"/marks module:{MODULE}")
    line = next((x for x in marks.text.splitlines() if "Participation mark" in x), marks.text)
    log.bot(f"... {line}", to=amara)

    log.section(f"The {MODULE} gradebook (exported)")
    if cohort.offers("gradebook export"):
        reply = await _say(log, tutor, "gradebook export", module=MODULE, format="csv")
        data = reply.files[0][1]
    else:
        log.note(
            f"/gradebook export is not on {cohort.platform.capitalize()} yet: the same export, "
            "made by the service the command calls"
        )
        now = cohort.clock.now()

        async def export(session: Any, caller: Any, _cohort: Any) -> Any:
            return await export_module(session, caller, MODULE, "csv", now)

        data = (await cohort.as_person(tutor, export)).data
    print(_table(data), file=out)

    log.section("Feature parity (command, Discord, Slack)")
    print(parity_table(), file=out)
    return bytes(data)


def gradebook_rows(data: bytes) -> list[dict[str, str]]:
    """The exported rows without the column naming each student's chat handle (which differs
    by platform by design): what the two platforms' gradebooks must agree on."""
    rows = list(csv.DictReader(io.StringIO(data.decode("utf-8-sig"))))
    return [
        {k: v for k, v in row.items() if k not in ("discord", "slack", "handle")} for row in rows
    ]
