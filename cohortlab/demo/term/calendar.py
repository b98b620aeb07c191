"""Tutorials, deadlines and notices: a tutor schedules, students answer the card's buttons, an
extension is granted, the bot reminds on time, a student checks in.

Times are chosen relative to the term's clock when this step starts, so the step works whatever
the earlier steps did with the clock.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from bot.timeparse import AOE, end_of_local_day
from cohortlab.demo.term import MODULE, Term, number

#: The programme's time zone: times a tutor types are London times.
LONDON = ZoneInfo("Europe/London")


async def play(term: Term) -> None:
    cohort, log = term.cohort, term.log
    tutor = cohort.tutor(MODULE)
    amara, lukas = cohort.students(MODULE)[:2]
    log.section("Tutorials, deadlines and notices")

    now = cohort.clock.now()
    day = (now + timedelta(days=2)).astimezone(LONDON).date()
    added = await term.say(
        tutor,
        "tutorial add",
        module=MODULE,
        title="Kernels",
        start=f"{day.isoformat()} 18:00",
        duration="1h",
        repeat="weekly",
        until=(day + timedelta(days=14)).isoformat(),
        join_link="https://meet.example.org/kernels",
    )
    tutorial = number(added.text)
    await cohort.run_due()
    card = await cohort.wait_post(MODULE, "Kernels (session 1")
    log.bot(term.channel, card.text)
    log.note("the card carries Going / Maybe / Not going / Check in buttons")
    log.user(amara, term.channel, "[presses Going]")
    log.bot(term.channel, (await amara.click(card, "cb:calendar:going:")).text, to=amara)

    due_day = (now + timedelta(days=8)).astimezone(LONDON).date()
    deadline = await term.say(
        tutor,
        "deadline add",
        module=MODULE,
        kind="submission_deadline",
        title="Coursework 1",
        due=f"{due_day.isoformat()} AoE",
    )
    await term.say(
        tutor,
        "deadline extend",
        item=number(deadline.text),
        student=lukas,
        due=f"{(due_day + timedelta(days=5)).isoformat()} AoE",
        reason="MC-2026-014",
    )
    await cohort.run_due()
    log.bot("a DM", (await lukas.wait_dm("approved")).text, to=lukas)

    # The day before the tutorial, at 18:00: the class-wide reminder and Amara's own DM.
    first = datetime.combine(day, datetime.min.time().replace(hour=18), LONDON)
    await cohort.advance_to(first - timedelta(hours=24))
    log.note("the clock moves to 24 hours before the tutorial")
    log.bot(term.channel, (await cohort.wait_post(MODULE, "starts in 24 hours")).text)
    log.bot("a DM", (await amara.wait_dm("24 hours")).text, to=amara)

    # The deadline's first notice: 7 days before it.
    await cohort.advance_to(end_of_local_day(due_day, AOE) - timedelta(days=7))
    log.note("the clock moves to 7 days before the deadline")
    log.bot(term.channel, (await cohort.wait_post(MODULE, "due in 7 days")).text)

    # The session itself: Amara checks in; the tutor reads the attendance.
    await cohort.advance_to(first + timedelta(minutes=5))
    log.note("the tutorial is on")
    log.user(amara, term.channel, "[presses Check in]")
    log.bot(term.channel, (await amara.click(card, "cb:calendar:checkin:")).text, to=amara)
    await term.say(tutor, "tutorial attendance", tutorial=tutorial)
    await term.say(lukas, "calendar upcoming")
