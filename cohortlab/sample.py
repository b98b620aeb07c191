"""A term of participation records, as the features would have written them (tests and bench).

``seed_term`` writes raw records (discussion posts with replies, edits, deletions and late
posts; a peer exercise with reviews and results; tutorials with check-ins) *and* the ledger
credits a correct feature writes for them: discussion credits scored with the rubric from the
in-memory posts, one credit per review, the released peer mark, 1 per check-in — with replays
(same idempotency key, counted once) and a regrade (reversal plus a new credit).

The gradebook's reconciliation (``bot.gradebook.reconcile``) recomputes the credits from the
stored records alone; the randomized-term test seeds many terms and proves the two agree.
"""

from __future__ import annotations

import random
import statistics
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.db.models import (
    AssignmentStatus,
    Attendance,
    CalendarEvent,
    Contribution,
    ContributionRevision,
    DiscussionPrompt,
    DiscussionScore,
    Enrolment,
    EventKind,
    EventOccurrence,
    ExerciseStatus,
    Extension,
    ExtensionStatus,
    LedgerSource,
    Module,
    PeerExercise,
    PeerResult,
    PeerReview,
    PeerSubmission,
    Person,
    PromptStatus,
    Recurrence,
    ReviewAssignment,
    Role,
    SubmissionKind,
)
from bot.discussions.rubric import PostFact, Rubric, score_student
from bot.gradebook import ledger

_KIND_SOURCE = {
    "discussion_post": LedgerSource.DISCUSSION_POST,
    "discussion_reply": LedgerSource.DISCUSSION_REPLY,
    "quality_points": LedgerSource.QUALITY_POINTS,
}
TOPICS = (
    "Bias and variance in practice",
    "When does regularisation help?",
    "Trees, forests and boosting",
    "Choosing a validation scheme",
    "Calibration of classifiers",
    "Kernels and features",
)


@dataclass
class SeedReport:
    prompts: list[int] = field(default_factory=list)
    exercises: list[int] = field(default_factory=list)
    occurrences: list[int] = field(default_factory=list)
    contributions: int = 0
    reviews: int = 0
    check_ins: int = 0
    credits: int = 0


@dataclass
class _Post:
    contribution: Contribution
    words_history: list[tuple[datetime, int]]  # (replaced_at, words before that edit)


class _Ids:
    def __init__(self, base: int) -> None:
        self.next = base

    def take(self) -> str:
        self.next += 1
        return str(self.next)


async def _students(session: AsyncSession, module_id: int) -> list[Person]:
    rows = await session.execute(
        select(Person)
        .join(Enrolment, Enrolment.person_id == Person.id)
        .where(Enrolment.module_id == module_id, Enrolment.role == Role.STUDENT)
        .order_by(Person.id)
    )
    return list(rows.scalars().all())


def _platform(person: Person) -> str:
    return person.platform_user_id or f"9{person.id:08d}"


async def seed_term(
    session: AsyncSession,
    module: Module,
    *,
    now: datetime,
    rng: random.Random,
    prompts: int = 2,
    exercises: int = 1,
    tutorials: int = 4,
    released_prompts: int = 1,
) -> SeedReport:
    """Records of the weeks before ``now`` in ``module``, and the credits for them."""
    report = SeedReport()
    students = await _students(session, module.id)
    if len(students) < 2:
        raise ValueError("a sample term needs at least two students")
    ids = _Ids(7_000_000_000_000 + rng.randrange(10**9) * 1000)
    weeks = max(prompts, tutorials, 2) + 1
    start = now - timedelta(weeks=weeks)
    for index in range(prompts):
        released = index < released_prompts
        pid = await _seed_prompt(
            session, module, students, start + timedelta(weeks=index), ids, rng, released, report
        )
        report.prompts.append(pid)
    for index in range(exercises):
        eid = await _seed_exercise(session, module, students, start, index, ids, rng, report)
        report.exercises.append(eid)
    if tutorials:
        await _seed_tutorials(session, module, students, start, tutorials, rng, report, now)
    await session.flush()
    return report


async def _seed_prompt(
    session: AsyncSession,
    module: Module,
    students: Sequence[Person],
    opens_at: datetime,
    ids: _Ids,
    rng: random.Random,
    released: bool,
    report: SeedReport,
) -> int:
    rubric = Rubric(name="standard")
    closes_at = opens_at + timedelta(days=6)
    topic = TOPICS[len(report.prompts) % len(TOPICS)]
    prompt = DiscussionPrompt(
        module_id=module.id,
        title=f"Week {len(report.prompts) + 1}: {topic}",
        body="Discuss with examples from your own work.",
        opens_at=opens_at,
        closes_at=closes_at,
        rubric=rubric.to_dict(),
        status=PromptStatus.CLOSED,
        channel_id=module.channel_id,
        thread_id=ids.take(),
        released_at=closes_at + timedelta(days=2) if released else None,
    )
    session.add(prompt)
    await session.flush()
    student_ids = {s.id for s in students}
    extensions: dict[int, datetime] = {}
    if rng.random() < 0.6:
        lucky = rng.choice(students)
        extensions[lucky.id] = closes_at + timedelta(days=rng.choice((2, 3)))
        session.add(
            Extension(
                person_id=lucky.id,
                prompt_id=prompt.id,
                new_due_at=extensions[lucky.id],
                reason_ref=f"MC-{rng.randrange(1000, 9999)}",
                status=ExtensionStatus.APPROVED,
                requested_at=opens_at,
                decided_at=opens_at + timedelta(hours=1),
            )
        )
    posts: list[_Post] = []
    posters = [s for s in students if rng.random() < 0.85]
    moment = opens_at + timedelta(hours=2)
    for person in posters:
        moment += timedelta(minutes=rng.randrange(5, 300))
        late = rng.random() < 0.12
        when = closes_at + timedelta(hours=rng.randrange(1, 40)) if late else moment
        parts = 2 if rng.random() < 0.2 else 1
        for _ in range(parts):
            words = rng.randrange(40, 260) if parts == 1 else rng.randrange(60, 140)
            posts.append(_new_post(prompt, person, when, words, None, [], ids))
            when += timedelta(minutes=3)
    initial = list(posts)
    # a tutor's comment in the thread: not a student's post, so replying to it never counts
    tutor_post = _new_post_raw(
        prompt, None, "8" + ids.take(), opens_at + timedelta(days=1), 60, ids
    )
    posts.append(tutor_post)
    for person in posters:
        for _ in range(rng.randrange(0, 4)):
            others = [p for p in initial if p.contribution.person_id != person.id]
            if not others:
                break
            target = tutor_post if rng.random() < 0.15 else rng.choice(others)
            base = max(target.contribution.created_at, opens_at) + timedelta(
                minutes=rng.randrange(10, 600)
            )
            when = min(base, closes_at - timedelta(minutes=1)) if rng.random() < 0.85 else base
            as_mention = rng.random() < 0.25
            target_person = target.contribution.author_platform_id
            posts.append(
                _new_post(
                    prompt,
                    person,
                    when,
                    rng.randrange(10, 120),
                    None if as_mention else target.contribution.message_id,
                    [target_person] if as_mention else [],
                    ids,
                )
            )
    for post in posts:
        if rng.random() < 0.05:
            post.contribution.deleted_at = post.contribution.created_at + timedelta(hours=1)
        if rng.random() < 0.15:
            # an edit: before the close it counts; after the close the old words count
            after_close = rng.random() < 0.5
            edited = (
                (closes_at + timedelta(hours=5))
                if after_close
                else (post.contribution.created_at + timedelta(minutes=30))
            )
            if edited <= post.contribution.created_at:
                edited = post.contribution.created_at + timedelta(minutes=30)
            post.words_history.append((edited, post.contribution.words))
            post.contribution.words = post.contribution.words + rng.randrange(-30, 200)
            post.contribution.words = max(post.contribution.words, 1)
            post.contribution.edited_at = edited
    for post in posts:
        session.add(post.contribution)
    await session.flush()
    for post in posts:
        for number, (replaced_at, words) in enumerate(post.words_history, start=1):
            session.add(
                ContributionRevision(
                    contribution_id=post.contribution.id,
                    revision=number,
                    content="(earlier text)",
                    words=words,
                    replaced_at=replaced_at,
                )
            )
    report.contributions += len(posts)
    quality: dict[int, Decimal] = {}
    score_rows: dict[int, DiscussionScore] = {}
    for person in posters:
        if rng.random() < 0.9:
            quality[person.id] = Decimal(rng.randrange(0, 9)) / 2
            score_rows[person.id] = DiscussionScore(
                prompt_id=prompt.id, person_id=person.id, quality_points=quality[person.id]
            )
            session.add(score_rows[person.id])
    await session.flush()

    # the credits a correct discussion feature writes: posts/replies at the close, quality
    # at the release; a replayed close credits nothing twice
    credits: list[ledger.Credit] = []
    keys = {
        p.contribution.author_platform_id: str(p.contribution.person_id)
        for p in posts
        if p.contribution.person_id is not None
    }
    for person in students:
        close = extensions.get(person.id, closes_at)
        facts = [_fact(p, close, student_ids, keys) for p in posts]
        score = score_student(
            rubric,
            str(person.id),
            facts,
            closes_at,
            extensions.get(person.id),
            quality.get(person.id) if released else None,
        )
        if released and person.id in score_rows:  # what the student is told at release
            score_rows[person.id].score = score.score
            score_rows[person.id].explanation = score.explanation
        for credit in score.credits:
            ref = credit.message_id or "tutor"
            credits.append(
                ledger.Credit(
                    idempotency_key=f"discussion:{prompt.id}:{person.id}:{credit.kind}:{ref}",
                    module_id=module.id,
                    person_id=person.id,
                    source=_KIND_SOURCE[credit.kind],
                    item_type="discussion_prompt",
                    item_id=prompt.id,
                    source_ref=ref,
                    points=credit.points,
                    occurred_at=close,
                    note=prompt.title,
                )
            )
    report.credits += await ledger.credit(session, credits, at=closes_at)
    await ledger.credit(session, credits[:3], at=closes_at)  # a replay: counted once
    if released and credits:
        # a regrade after release: the first quality credit corrected by reversal + new credit
        regraded = next((c for c in credits if c.source is LedgerSource.QUALITY_POINTS), None)
        if regraded is not None and regraded.points >= 1:
            new_points = regraded.points - Decimal("0.5")
            await ledger.reverse(
                session, regraded.idempotency_key, "quality regraded", at=closes_at
            )
            report.credits += 1 + await ledger.credit(
                session,
                [
                    ledger.Credit(
                        idempotency_key=f"{regraded.idempotency_key}@2",
                        module_id=module.id,
                        person_id=regraded.person_id,
                        source=LedgerSource.QUALITY_POINTS,
                        item_type="discussion_prompt",
                        item_id=prompt.id,
                        source_ref="tutor",
                        points=new_points,
                        occurred_at=closes_at,
                    )
                ],
                at=closes_at,
            )
            score_row = (
                await session.execute(
                    select(DiscussionScore).where(
                        DiscussionScore.prompt_id == prompt.id,
                        DiscussionScore.person_id == regraded.person_id,
                    )
                )
            ).scalar_one()
            score_row.quality_points = new_points
    return prompt.id


def _new_post(
    prompt: DiscussionPrompt,
    person: Person,
    when: datetime,
    words: int,
    parent: str | None,
    mentions: list[str],
    ids: _Ids,
) -> _Post:
    post = _new_post_raw(prompt, person.id, _platform(person), when, words, ids)
    post.contribution.parent_message_id = parent
    post.contribution.mentions = mentions
    post.contribution.late = when > prompt.closes_at
    return post


def _new_post_raw(
    prompt: DiscussionPrompt,
    person_id: int | None,
    platform_id: str,
    when: datetime,
    words: int,
    ids: _Ids,
) -> _Post:
    contribution = Contribution(
        prompt_id=prompt.id,
        person_id=person_id,
        author_platform_id=platform_id,
        message_id=ids.take(),
        parent_message_id=None,
        thread_id=prompt.thread_id or "0",
        mentions=[],
        content=f"({words} words)",
        words=words,
        created_at=when,
        recorded_at=when,
    )
    return _Post(contribution, [])


def _fact(post: _Post, close: datetime, students: set[int], keys: dict[str, str]) -> PostFact:
    c = post.contribution
    words = c.words
    for replaced_at, before in post.words_history:
        if replaced_at > close:
            words = before
            break
    author = str(c.person_id) if c.person_id is not None else f"u{c.author_platform_id}"
    return PostFact(
        message_id=c.message_id,
        author_id=author,
        created_at=c.created_at,
        words=words,
        parent_message_id=c.parent_message_id,
        mentions=tuple(keys.get(m, f"u{m}") for m in c.mentions),
        deleted=c.deleted_at is not None,
        is_student=c.person_id is not None and c.person_id in students,
    )


async def _seed_exercise(
    session: AsyncSession,
    module: Module,
    students: Sequence[Person],
    start: datetime,
    index: int,
    ids: _Ids,
    rng: random.Random,
    report: SeedReport,
) -> int:
    k = min(3, len(students) - 1)
    due = start + timedelta(weeks=1 + index, days=2)
    exercise = PeerExercise(
        module_id=module.id,
        title=f"Exercise {index + 1}: model selection report",
        brief="Compare two models on the course data set.",
        submission_due_at=due,
        review_due_at=due + timedelta(days=5),
        reviews_per_submission=k,
        rubric={"criteria": [{"name": "overall", "min": 0, "max": 100}]},
        status=ExerciseStatus.RELEASED,
        allocated_at=due,
        released_at=due + timedelta(days=7),
        seed=rng.randrange(10**6),
        agreement_weighting=rng.random() < 0.3,
    )
    session.add(exercise)
    await session.flush()
    submitters = [s for s in students if rng.random() < 0.9]
    if len(submitters) < k + 1:
        submitters = list(students)
    for person in submitters:
        session.add(
            PeerSubmission(
                exercise_id=exercise.id,
                person_id=person.id,
                version=1,
                kind=SubmissionKind.LINK,
                content="https://example.org/report",
                submitted_at=due - timedelta(hours=rng.randrange(1, 48)),
                late=rng.random() < 0.1,
                is_current=True,
                idempotency_key=f"sample-sub:{exercise.id}:{person.id}",
            )
        )
    credits: list[ledger.Credit] = []
    totals: dict[int, list[Decimal]] = {p.id: [] for p in submitters}
    count = len(submitters)
    for offset, reviewer in enumerate(submitters):
        for step in range(1, k + 1):
            author = submitters[(offset + step) % count]
            assignment = ReviewAssignment(
                exercise_id=exercise.id,
                reviewer_id=reviewer.id,
                author_id=author.id,
                status=AssignmentStatus.PENDING,
                assigned_at=due,
                anonymous_label=f"Submission {chr(65 + (offset + step) % 26)}",
            )
            session.add(assignment)
            await session.flush()
            if rng.random() < 0.85:
                total = Decimal(rng.randrange(45, 95))
                assignment.status = AssignmentStatus.DONE
                session.add(
                    PeerReview(
                        assignment_id=assignment.id,
                        scores={"overall": str(total)},
                        comments="Clear comparison; explain the validation split.",
                        total=total,
                        submitted_at=due + timedelta(days=2),
                        idempotency_key=f"sample-review:{assignment.id}",
                    )
                )
                totals[author.id].append(total)
                report.reviews += 1
                credits.append(
                    ledger.Credit(
                        idempotency_key=f"peer:{exercise.id}:review:{assignment.id}",
                        module_id=module.id,
                        person_id=reviewer.id,
                        source=LedgerSource.PEER_REVIEW_COMPLETED,
                        item_type="peer_exercise",
                        item_id=exercise.id,
                        source_ref=f"assignment:{assignment.id}",
                        points=Decimal(1),
                        occurred_at=due + timedelta(days=2),
                    )
                )
    for author_id, scores in totals.items():
        if not scores:
            continue
        median = Decimal(str(statistics.median(scores))).quantize(Decimal("0.001"))
        session.add(
            PeerResult(
                exercise_id=exercise.id,
                person_id=author_id,
                median=median,
                final=median,
                computed_at=due + timedelta(days=6),
            )
        )
        credits.append(
            ledger.Credit(
                idempotency_key=f"peer:{exercise.id}:score:{author_id}",
                module_id=module.id,
                person_id=author_id,
                source=LedgerSource.PEER_SCORE_RECEIVED,
                item_type="peer_exercise",
                item_id=exercise.id,
                source_ref=f"result:{exercise.id}:{author_id}",
                points=median,
                occurred_at=due + timedelta(days=7),
            )
        )
    await session.flush()
    report.credits += await ledger.credit(session, credits, at=due + timedelta(days=7))
    if exercise.agreement_weighting:
        # at release each review credit is replaced by one weighted by agreement (0-1)
        weighted = []
        for c in credits:
            if c.source is not LedgerSource.PEER_REVIEW_COMPLETED:
                continue
            await ledger.reverse(session, c.idempotency_key, "weighted by agreement")
            weighted.append(
                ledger.Credit(
                    idempotency_key=f"{c.idempotency_key}:weighted",
                    module_id=c.module_id,
                    person_id=c.person_id,
                    source=c.source,
                    item_type=c.item_type,
                    item_id=c.item_id,
                    source_ref=c.source_ref,
                    points=Decimal(rng.randrange(0, 1001)) / 1000,
                    occurred_at=c.occurred_at,
                )
            )
        report.credits += await ledger.credit(session, weighted)
    return exercise.id


async def _seed_tutorials(
    session: AsyncSession,
    module: Module,
    students: Sequence[Person],
    start: datetime,
    count: int,
    rng: random.Random,
    report: SeedReport,
    now: datetime,
) -> None:
    first = start.replace(hour=18, minute=0, second=0, microsecond=0) + timedelta(days=2)
    event = CalendarEvent(
        module_id=module.id,
        kind=EventKind.TUTORIAL,
        title="Live tutorial",
        starts_at=first,
        duration_minutes=60,
        join_url="https://example.org/live",
        recurrence=Recurrence.WEEKLY,
        recurrence_until=first + timedelta(weeks=count),
        timezone="Europe/London",
    )
    session.add(event)
    await session.flush()
    credits: list[ledger.Credit] = []
    for sequence in range(count):
        starts = first + timedelta(weeks=sequence)
        occurrence = EventOccurrence(
            event_id=event.id,
            sequence=sequence,
            starts_at=starts,
            ends_at=starts + timedelta(hours=1),
            original_starts_at=starts,
        )
        session.add(occurrence)
        await session.flush()
        report.occurrences.append(occurrence.id)
        if starts + timedelta(hours=1) > now:
            continue
        for person in students:
            if rng.random() < 0.75:
                session.add(
                    Attendance(
                        occurrence_id=occurrence.id,
                        person_id=person.id,
                        checked_in_at=starts + timedelta(minutes=rng.randrange(0, 20)),
                        idempotency_key=f"attendance:occ{occurrence.id}:p{person.id}",
                    )
                )
                report.check_ins += 1
                credits.append(
                    ledger.Credit(
                        idempotency_key=f"tutorial:{occurrence.id}:{person.id}:attendance",
                        module_id=module.id,
                        person_id=person.id,
                        source=LedgerSource.TUTORIAL_ATTENDANCE,
                        item_type="tutorial",
                        item_id=occurrence.id,
                        source_ref=f"check-in:{occurrence.id}",
                        points=Decimal(1),
                        occurred_at=starts,
                    )
                )
    await session.flush()
    report.credits += await ledger.credit(session, credits, at=now)
    await ledger.credit(session, credits[:2], at=now)  # a double click: counted once


@dataclass
class SampleCohort:
    cohort_id: int
    module: Module
    students: list[Person]
    tutor: Person
    admin: Person


async def sample_cohort(
    session: AsyncSession, *, students: int = 8, code: str = "SAMPLE-1", module_code: str = "M1"
) -> SampleCohort:
    """A cohort with one module, ``students`` students, a tutor and an admin (tests, bench)."""
    from bot.db.models import Cohort, Designation

    cohort = Cohort(code=code, name=f"Sample cohort {code}", timezone="Europe/London")
    session.add(cohort)
    await session.flush()
    module = Module(
        cohort_id=cohort.id,
        code=module_code,
        title="Sample module",
        term="Spring",
        ects=Decimal("7.5"),
        designation=Designation.COMPULSORY,
    )
    session.add(module)
    tutor = Person(display_name="Dr Tutor", platform_username=f"tutor.{code.lower()}")
    admin = Person(display_name="Programme Office", platform_username=f"admin.{code.lower()}")
    people = [
        Person(
            display_name=f"Student {n:05d}",
            student_number=f"{''.join(ch for ch in code if ch.isalnum())[:8]}{n:06d}",
            platform_username=f"student{n}.{code.lower()}",
            email=f"student{n}@example.org",
        )
        for n in range(1, students + 1)
    ]
    session.add_all([tutor, admin, *people])
    await session.flush()
    session.add(Enrolment(module_id=module.id, person_id=tutor.id, role=Role.TUTOR))
    session.add(Enrolment(module_id=module.id, person_id=admin.id, role=Role.ADMIN))
    session.add_all(
        Enrolment(module_id=module.id, person_id=p.id, role=Role.STUDENT) for p in people
    )
    await session.flush()
    return SampleCohort(cohort.id, module, people, tutor, admin)
