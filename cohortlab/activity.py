"""Recent weeks of a module with planted disengagement (dashboard tests, demo and bench).

Each week has a discussion prompt (closed at the week's end) and a live tutorial. Most students
post several times a week, RSVP and come; the *quiet* ones post once a week and do everything
required; the *fading* ones stop at ``fade_weeks`` before now (they said "going" to the next
tutorial and did not come). Records only; ``cohortlab.sample.seed_term`` adds ledger credits.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.db.models import (
    Attendance,
    CalendarEvent,
    Contribution,
    DiscussionPrompt,
    Enrolment,
    EnrolmentStatus,
    EventKind,
    EventOccurrence,
    Module,
    Person,
    PromptStatus,
    Recurrence,
    Role,
    Rsvp,
    RsvpResponse,
)


@dataclass
class Planted:
    fading: list[int] = field(default_factory=list)
    quiet: list[int] = field(default_factory=list)
    prompts: list[int] = field(default_factory=list)


async def seed_recent_weeks(
    session: AsyncSession,
    module: Module,
    *,
    now: datetime,
    rng: random.Random,
    weeks: int = 6,
    fading: int = 2,
    quiet: int = 1,
    fade_weeks: int = 2,
) -> Planted:
    students = list(
        (
            await session.execute(
                select(Person.id, Person.platform_user_id)
                .join(Enrolment, Enrolment.person_id == Person.id)
                .where(
                    Enrolment.module_id == module.id,
                    Enrolment.role == Role.STUDENT,
                    Enrolment.status == EnrolmentStatus.ACTIVE,
                )
                .order_by(Person.id)
            )
        ).all()
    )
    order = list(range(len(students)))
    rng.shuffle(order)
    planted = Planted(
        fading=[students[i][0] for i in order[:fading]],
        quiet=[students[i][0] for i in order[fading : fading + quiet]],
    )
    start = now - timedelta(weeks=weeks)
    tutorial = CalendarEvent(
        module_id=module.id,
        kind=EventKind.TUTORIAL,
        title="Weekly live session",
        starts_at=start + timedelta(days=3, hours=1),
        duration_minutes=60,
        recurrence=Recurrence.WEEKLY,
        recurrence_until=now,
        timezone="Europe/London",
    )
    session.add(tutorial)
    await session.flush()
    serial = rng.randrange(10**9)
    for week in range(weeks):
        opens = start + timedelta(weeks=week)
        closes = opens + timedelta(days=7) - timedelta(minutes=1)
        prompt = DiscussionPrompt(
            module_id=module.id,
            title=f"Week {week + 1} discussion",
            body="What did you find hardest this week, and why?",
            opens_at=opens,
            closes_at=closes,
            rubric={"min_words": 50},
            status=PromptStatus.CLOSED if closes <= now else PromptStatus.OPEN,
            thread_id=f"8{serial}{week:02d}",
        )
        session.add(prompt)
        occurrence = EventOccurrence(
            event_id=tutorial.id,
            sequence=week,
            starts_at=opens + timedelta(days=3, hours=1),
            ends_at=opens + timedelta(days=3, hours=2),
            original_starts_at=opens + timedelta(days=3, hours=1),
        )
        session.add(occurrence)
        await session.flush()
        planted.prompts.append(prompt.id)
        faded = week >= weeks - fade_weeks
        for pid, platform_id in students:
            gone = faded and pid in planted.fading
            posts = 0 if gone else 1 if pid in planted.quiet else rng.randint(2, 5)
            for k in range(posts):
                serial += 1
                at = opens + timedelta(hours=rng.randrange(6, 160))
                if at >= now:
                    continue
                session.add(
                    Contribution(
                        prompt_id=prompt.id,
                        person_id=pid,
                        author_platform_id=platform_id or str(pid),
                        message_id=f"7{serial}",
                        thread_id=prompt.thread_id or "",
                        content="A considered answer. " * 20,
                        words=80,
                        created_at=at,
                        late=rng.random() < 0.08 and k == 0,
                    )
                )
            if occurrence.ends_at > now:
                continue
            going = pid in planted.fading and week == weeks - fade_weeks
            going = going or (not gone and pid not in planted.quiet and rng.random() < 0.7)
            if going:
                session.add(
                    Rsvp(
                        occurrence_id=occurrence.id,
                        person_id=pid,
                        response=RsvpResponse.GOING,
                        updated_at=opens + timedelta(days=1),
                    )
                )
            came = not gone and (pid in planted.quiet or (going and rng.random() < 0.9))
            if came:
                session.add(
                    Attendance(
                        occurrence_id=occurrence.id,
                        person_id=pid,
                        checked_in_at=occurrence.starts_at + timedelta(minutes=3),
                        idempotency_key=f"activity:occ{occurrence.id}:p{pid}",
                    )
                )
    await session.flush()
    return planted
