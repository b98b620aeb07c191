"""The early warning read from a real database: every kind of activity, missed work, thresholds."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from bot.db.engine import Database
from bot.db.models import (
    Attendance,
    CalendarEvent,
    Contribution,
    DiscussionPrompt,
    EventKind,
    EventOccurrence,
    Extension,
    ExtensionStatus,
    Module,
    PromptStatus,
    Rsvp,
    RsvpResponse,
)
from bot.insights.service import module_insights, save_thresholds, thresholds_for
from bot.insights.thresholds import Thresholds
from bot.roster.service import load_programme
from cohortlab.sample import sample_cohort
from cohortlab.sandbox import example_texts

NOW = datetime(2026, 3, 9, 9, 0, tzinfo=UTC)


async def test_a_student_who_stopped_is_flagged_and_the_others_are_not(db: Database) -> None:
    async with db.session() as s:
        c = await sample_cohort(s, students=4)
        active, quiet, gone, extended = c.students
        prompts = []
        for week in range(4):
            opens = NOW - timedelta(weeks=4 - week)
            prompt = DiscussionPrompt(
                module_id=c.module.id,
                title=f"Prompt {week + 1}",
                body="b",
                opens_at=opens,
                closes_at=opens + timedelta(days=6),
                rubric={},
                status=PromptStatus.CLOSED,
            )
            s.add(prompt)
            prompts.append(prompt)
        await s.flush()
        n = 0
        for week, prompt in enumerate(prompts):
            for person, posts in ((active, 5), (quiet, 1), (gone, 5 if week < 2 else 0)):
                for k in range(posts):
                    n += 1
                    s.add(
                        Contribution(
                            prompt_id=prompt.id,
                            person_id=person.id,
                            author_platform_id="1",
                            message_id=f"m{n}",
                            thread_id=f"t{prompt.id}",
                            content="x",
                            words=50,
                            created_at=prompt.opens_at + timedelta(days=1, hours=k),
                        )
                    )
            if week < 3:
                s.add(
                    Contribution(
                        prompt_id=prompt.id,
                        person_id=extended.id,
                        author_platform_id="1",
                        message_id=f"e{week}",
                        thread_id=f"t{prompt.id}",
                        content="x",
                        words=50,
                        created_at=prompt.opens_at + timedelta(days=2),
                    )
                )
        # The last prompt: the "extended" student has an extension running, so not missed.
        s.add(
            Extension(
                person_id=extended.id,
                prompt_id=prompts[3].id,
                new_due_at=NOW + timedelta(days=3),
                reason_ref="r",
                status=ExtensionStatus.APPROVED,
            )
        )
        tutorial = CalendarEvent(
            module_id=c.module.id,
            kind=EventKind.TUTORIAL,
            title="Live tutorial",
            starts_at=NOW - timedelta(days=5),
            timezone="Europe/London",
        )
        s.add(tutorial)
        await s.flush()
        occurrence = EventOccurrence(
            event_id=tutorial.id,
            sequence=0,
            starts_at=NOW - timedelta(days=5),
            ends_at=NOW - timedelta(days=5) + timedelta(hours=1),
            original_starts_at=NOW - timedelta(days=5),
        )
        s.add(occurrence)
        await s.flush()
        for person in (active, gone):
            s.add(
                Rsvp(
                    occurrence_id=occurrence.id,
                    person_id=person.id,
                    response=RsvpResponse.GOING,
                    updated_at=NOW - timedelta(days=6),
                )
            )
        s.add(
            Attendance(
                occurrence_id=occurrence.id,
                person_id=active.id,
                checked_in_at=occurrence.starts_at,
                idempotency_key="a1",
            )
        )
        module_id = c.module.id
    async with db.session() as s:
        module = await s.get(Module, module_id)
        assert module is not None
        flags = {f.person_id: f for f in (await module_insights(s, module, NOW)).flags}
    assert flags[gone.id].flag.flagged
    summary = flags[gone.id].flag.summary
    assert "missed 2 deadlines: “Prompt 3”, “Prompt 4”" in summary
    assert "said “going” but did not attend 1 tutorial" in summary
    # The RSVP six days ago was the last thing they did: activity of any kind counts.
    assert "no activity" not in summary
    assert not flags[active.id].flag.flagged and flags[active.id].flag.reasons == ()
    assert not flags[quiet.id].flag.flagged
    assert not flags[extended.id].flag.flagged
    # Ordered flagged first.
    assert next(iter(flags)) == gone.id


async def test_thresholds_come_from_the_programme_file(db: Database) -> None:
    programme, _ = example_texts()
    async with db.session() as s:
        report = await load_programme(
            s, programme.replace("inactive_days = 7", "inactive_days = 10")
        )
        from sqlalchemy import select

        from bot.db.models import Cohort

        cohort_id = (
            await s.execute(select(Cohort.id).where(Cohort.code == report.cohort_code))
        ).scalar_one()
    async with db.session() as s:
        assert (await thresholds_for(s, cohort_id)).inactive_days == 10
        await save_thresholds(s, cohort_id, None, NOW)
    async with db.session() as s:
        assert await thresholds_for(s, cohort_id) == Thresholds()
