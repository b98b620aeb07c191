"""Peer exercises on a real database (SQLite, and PostgreSQL when configured): the service and
the scheduled work, with the chat port replaced by a recorder (no Discord involved)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import func, select, update

from bot.access.identity import ChatUser
from bot.access.permissions import Caller, load_caller
from bot.chat import ChatError, ChatErrorKind, ChatMessage, OutgoingMessage, Posted, with_marker
from bot.db.engine import Database
from bot.db.models import (
    AssignmentStatus,
    AuditEntry,
    Cohort,
    Extension,
    ExtensionStatus,
    LedgerEntry,
    LedgerSource,
    MarkRelease,
    Module,
    OutboxMessage,
    PeerExercise,
    PeerResult,
    PeerReview,
    PeerSubmission,
    Person,
    ReviewAssignment,
    Team,
    TeamMember,
    TeamSet,
    TeamSetStatus,
)
from bot.discord_links import DISCORD_LINKS
from bot.errors import PermissionDenied, UserError
from bot.peer import engine, outbox, service
from bot.peer.aggregation import Review, aggregate
from bot.peer.jobs import run_due
from bot.roster.service import import_roster, load_programme
from cohortlab.sandbox import example_texts

MODULE = "MATH70097"
T0 = datetime(2026, 1, 12, 8, 0, tzinfo=UTC)
SUB_DUE = T0 + timedelta(days=3)
REVIEW_DUE = T0 + timedelta(days=7)
RUBRIC = "Method 0-10: sound design; Clarity 0-5"
GUILD = "600000000000000001"


@dataclass
class FakeChat:
    """The chat port as a recorder; ``closed`` users refuse DMs."""

    links = DISCORD_LINKS

    dms: list[tuple[str, OutgoingMessage]] = field(default_factory=list)
    posts: list[tuple[str, OutgoingMessage]] = field(default_factory=list)
    closed: set[str] = field(default_factory=set)
    #: What each channel holds, as ``history`` reads it back.
    channels: dict[str, list[ChatMessage]] = field(default_factory=dict)
    unreadable: bool = False
    _next: int = 1

    def _posted(self, channel: str, message: OutgoingMessage) -> Posted:
        self._next += 1
        bot = ChatUser("1", "cohortbot", "cohortbot")
        self.channels.setdefault(channel, []).append(
            ChatMessage(str(self._next), channel, None, bot, True, with_marker(message), T0)
        )
        return Posted(channel, str(self._next))

    async def post(self, channel_id: str, message: OutgoingMessage) -> Posted:
        if channel_id.startswith("dm-"):  # a DM channel (``dm_channel_id``)
            user_id = channel_id.removeprefix("dm-")
            if user_id in self.closed:
                raise ChatError(ChatErrorKind.DM_CLOSED, "Cannot send messages to this user")
            self.dms.append((user_id, message))
            return self._posted(channel_id, message)
        self.posts.append((channel_id, message))
        return self._posted(channel_id, message)

    async def dm(self, user_id: str, message: OutgoingMessage) -> Posted:
        if user_id in self.closed:
            raise ChatError(ChatErrorKind.DM_CLOSED, "Cannot send messages to this user")
        self.dms.append((user_id, message))
        return self._posted(f"dm-{user_id}", message)

    async def edit(self, channel_id: str, message_id: str, message: OutgoingMessage) -> None:
        raise NotImplementedError

    async def create_thread(
        self,
        channel_id: str,
        name: str,
        *,
        from_message_id: str | None = None,
        private: bool = False,
    ) -> str:
        raise NotImplementedError

    async def add_thread_member(self, thread_id: str, user_id: str) -> None:
        raise NotImplementedError

    async def set_thread_state(
        self, thread_id: str, *, locked: bool | None = None, archived: bool | None = None
    ) -> None:
        raise NotImplementedError

    async def history(
        self, channel_id: str, *, after_id: str | None = None, since: datetime | None = None
    ) -> AsyncIterator[ChatMessage]:
        if self.unreadable:
            raise ChatError(ChatErrorKind.UNAVAILABLE, "HTTP 503")
        for message in self.channels.get(channel_id, []):
            if after_id is None or int(message.id) > int(after_id):
                yield message

    async def dm_channel_id(self, user_id: str) -> str:
        return f"dm-{user_id}"

    def to(self, person: Person) -> list[str]:
        return [m.text for uid, m in self.dms if uid == person.platform_user_id]


class Course:
    """The example cohort loaded, every person given a chat id, and helpers to act as them."""

    def __init__(self, db: Database, cohort: Cohort, people: dict[str, Person]) -> None:
        self.db = db
        self.cohort = cohort
        self.people = people
        self.chat = FakeChat()
        self.now = T0
        self._keys = 0

    def person(self, username: str) -> Person:
        return self.people[username]

    @property
    def tutor(self) -> str:
        return "tomaszz_stats"

    def students(self) -> list[str]:
        return [
            "amara.codes",
            "lukasb_92",
            "meilin.tan",
            "dfernandez.ml",
            "aisha_r",
            "zoe.hartmann",
            "kwamem",
            "sofiarossi.data",
            "hsato_dev",
            "emclarke",
            "rahul.iyer",
        ]

    def user(self, username: str) -> ChatUser:
        p = self.people[username]
        assert p.platform_user_id is not None
        return ChatUser(p.platform_user_id, username, p.display_name)

    async def caller(self, session: Any, username: str) -> Caller:
        return await load_caller(session, self.cohort.id, self.user(username))

    async def act(self, username: str, fn: Any) -> Any:
        async with self.db.session() as s:
            cohort = await s.get(Cohort, self.cohort.id)
            return await fn(s, await self.caller(s, username), cohort)

    async def create(self, **options: Any) -> int:
        settings: dict[str, Any] = {
            "module_code": MODULE,
            "title": "Week 2",
            "brief": "Explain a cross-validation pitfall.",
            "submission_deadline": SUB_DUE.strftime("%Y-%m-%dT%H:%MZ"),
            "review_deadline": REVIEW_DUE.strftime("%Y-%m-%dT%H:%MZ"),
            "k": 3,
            "rubric": RUBRIC,
            "late_hours": 48,
            "late_penalty": 10,
        }
        actor = options.pop("as_", self.tutor)
        settings.update(options)

        async def work(s: Any, caller: Caller, cohort: Cohort) -> int:
            created = await service.create_exercise(s, caller, cohort, now=self.now, **settings)
            return created.exercise_id

        return int(await self.act(actor, work))

    async def submit(self, username: str, exercise_id: int, **what: Any) -> service.Receipt:
        self._keys += 1
        key = f"k{self._keys}"

        async def work(s: Any, caller: Caller, cohort: Cohort) -> service.Receipt:
            return await service.submit(
                s,
                caller,
                cohort,
                exercise_id=exercise_id,
                idempotency_key=key,
                now=self.now,
                **(what or {"text": "An answer without the author's name."}),
            )

        result: service.Receipt = await self.act(username, work)
        return result

    async def review(
        self,
        username: str,
        assignment_id: int,
        method: str = "8",
        clarity: str = "4",
        comments: str = "Clear and careful.",
    ) -> service.ReviewSaved:
        async def work(s: Any, caller: Caller, cohort: Cohort) -> service.ReviewSaved:
            return await service.submit_review(
                s,
                caller,
                assignment_id,
                scores={"Method": method, "Clarity": clarity},
                comments=comments,
                now=self.now,
            )

        result: service.ReviewSaved = await self.act(username, work)
        return result

    async def due(self) -> Any:
        return await run_due(self.db, self.chat, self.now)

    async def rows(self, model: Any, *where: Any) -> list[Any]:
        async with self.db.session() as s:
            return list((await s.execute(select(model).where(*where))).scalars())

    async def assignments(
        self, exercise_id: int, *statuses: AssignmentStatus
    ) -> list[ReviewAssignment]:
        where = [ReviewAssignment.exercise_id == exercise_id]
        if statuses:
            where.append(ReviewAssignment.status.in_(statuses))
        return sorted(await self.rows(ReviewAssignment, *where), key=lambda a: a.id)

    async def count(self, model: Any) -> int:
        async with self.db.session() as s:
            return int((await s.execute(select(func.count()).select_from(model))).scalar_one())

    async def snapshot(self) -> dict[str, int]:
        models = (
            PeerExercise,
            PeerSubmission,
            ReviewAssignment,
            PeerReview,
            PeerResult,
            OutboxMessage,
            LedgerEntry,
            AuditEntry,
            MarkRelease,
        )
        return {m.__tablename__: await self.count(m) for m in models}


@pytest.fixture
async def course(db: Database) -> Course:
    programme, roster = example_texts()
    async with db.session() as s:
        loaded = await load_programme(s, programme)
        await import_roster(s, loaded.cohort_code, roster)
    async with db.session() as s:
        cohort = (await s.execute(select(Cohort))).scalar_one()
        cohort.guild_id = GUILD
        people = list((await s.execute(select(Person).order_by(Person.id))).scalars())
        for i, p in enumerate(people):
            p.platform_user_id = p.platform_user_id or str(800000000000000000 + i)

        for i, m in enumerate((await s.execute(select(Module))).scalars()):
            m.channel_id = str(500000000000000000 + i)
    async with db.session() as s:
        cohort = (await s.execute(select(Cohort))).scalar_one()
        by_name = {p.platform_username: p for p in (await s.execute(select(Person))).scalars()}
    return Course(db, cohort, {str(k): v for k, v in by_name.items() if k})


# --------------------------------------------------------------------------- submissions


async def test_late_submission_after_allocation_is_flagged_and_gets_k_reviewers(
    course: Course,
) -> None:
    ex = await course.create()
    for name in course.students()[:-1]:
        await course.submit(name, ex)
    course.now = SUB_DUE + timedelta(minutes=1)
    await course.due()
    course.now = SUB_DUE + timedelta(hours=3)
    receipt = await course.submit("rahul.iyer", ex)
    assert receipt.late
    assert "late" in receipt.text and "10% penalty" in receipt.text
    assert "given to 3 reviewer(s)" in receipt.text
    rahul = course.person("rahul.iyer")
    mine = [a for a in await course.assignments(ex) if a.author_id == rahul.id]
    assert len(mine) == 3
    assert all(a.origin == "late" for a in mine)
    assert all(a.due_at and a.due_at >= course.now + engine.MIN_REVIEW_WINDOW for a in mine)


async def submit_all(course: Course, ex: int, names: list[str] | None = None) -> None:
    for name in names or course.students():
        await course.submit(name, ex)


async def allocated(course: Course, **options: Any) -> int:
    ex = await course.create(**options)
    await submit_all(course, ex)
    course.now = SUB_DUE + timedelta(minutes=1)
    await course.due()
    return ex


def who(course: Course, person_id: int) -> str:
    return next(u for u, p in course.people.items() if p.id == person_id)


# --------------------------------------------------------------------------- create


async def test_bad_settings_are_refused_with_one_sentence_and_create_nothing(
    course: Course,
) -> None:
    before = await course.snapshot()
    cases: list[tuple[dict[str, Any], str]] = [
        ({"rubric": "A 0-1; B 0-1; C 0-1; D 0-1; E 0-1"}, "at most 4 criteria"),
        ({"rubric": "Method 5-5"}, "must go from a lower to a higher"),
        ({"late_hours": 96}, "Late submissions can be accepted for 0 to 95 hours"),
        ({"late_penalty": 101}, "percentage from 0 to 100"),
        ({"method": "vibes"}, "median, mean or corrected"),
        ({"k": 0}, "at least 1"),
        ({"k": 11}, "more than possible"),
        ({"module_code": "MATH99999"}, "There is no module"),
    ]
    for options, expected in cases:
        with pytest.raises(UserError, match=expected):
            await course.create(**options)
    with pytest.raises(PermissionDenied, match="Only tutors of MATH70097"):
        await course.create(as_="amara.codes")
    with pytest.raises(PermissionDenied, match="Only tutors of MATH70097"):
        await course.create(as_="helen.marsh")  # tutors other modules
    assert await course.snapshot() == before


# --------------------------------------------------------------------------- submissions


async def test_resubmission_keeps_history_and_extensions_and_late_window_apply(
    course: Course,
) -> None:
    ex = await course.create()
    first = await course.submit("amara.codes", ex, text="first try")
    second = await course.submit("amara.codes", ex, link="https://example.org/v2")
    assert (first.version, second.version) == (1, 2)
    subs = await course.rows(PeerSubmission, PeerSubmission.exercise_id == ex)
    assert sorted((s.version, s.is_current, str(s.kind)) for s in subs) == [
        (1, False, "text"),
        (2, True, "link"),
    ]
    amara = course.person("amara.codes")
    async with course.db.session() as s:
        s.add(
            Extension(
                person_id=course.person("lukasb_92").id,
                exercise_id=ex,
                new_due_at=SUB_DUE + timedelta(days=2, hours=12),
                reason_ref="EC-12",
                status=ExtensionStatus.APPROVED,
            )
        )
    course.now = SUB_DUE + timedelta(days=2, hours=1)  # past the 48 h late window
    on_time = await course.submit("lukasb_92", ex)
    assert not on_time.late, "an approved extension makes it on time"
    before = await course.snapshot()
    with pytest.raises(UserError, match="were accepted until"):
        await course.submit("meilin.tan", ex)
    with pytest.raises(PermissionDenied, match="not enrolled as a student in MATH70097"):
        await course.submit("olga_petrova", ex)
    assert await course.snapshot() == before
    course.now = SUB_DUE + timedelta(hours=5)
    assert (await course.submit("kwamem", ex)).late
    assert amara.id in {s.person_id for s in subs}


async def test_a_file_over_the_limit_is_refused_before_it_is_downloaded(course: Course) -> None:
    ex = await course.create()

    async def never() -> bytes:
        raise AssertionError("the file must not be read")

    big = service.FileInput("big.pdf", service.MAX_FILE_BYTES + 1, "application/pdf", never)
    before = await course.snapshot()
    with pytest.raises(UserError, match=r"the limit is 8\.0 MB"):
        await course.submit("amara.codes", ex, file=big)
    assert await course.snapshot() == before

    async def data() -> bytes:
        return b"%PDF small"

    ok = service.FileInput("amara_okafor_cv.pdf", 10, "application/pdf", data)
    receipt = await course.submit("amara.codes", ex, file=ok)
    assert "amara_okafor_cv.pdf" in receipt.text  # the author sees their own file name


async def test_no_resubmission_once_reviewers_have_it(course: Course) -> None:
    ex = await allocated(course)
    with pytest.raises(UserError, match="already with its reviewers"):
        await course.submit("amara.codes", ex, text="a better version")


# --------------------------------------------------------------------------- allocation


async def test_allocation_at_the_deadline_happens_once_even_when_two_runs_race(
    course: Course,
) -> None:
    ex = await course.create()
    await submit_all(course, ex)
    course.now = SUB_DUE - timedelta(minutes=1)
    await course.due()
    assert await course.assignments(ex) == [], "nothing before the deadline"
    course.now = SUB_DUE + timedelta(minutes=1)
    reports = await asyncio.gather(course.due(), course.due(), return_exceptions=True)
    allocated_runs = sum(1 for r in reports if not isinstance(r, BaseException) and r.allocated)
    assert allocated_runs == 1
    await course.due()
    rows = await course.assignments(ex)
    assert len(rows) == 33
    loads: dict[int, int] = {}
    per_author: dict[int, int] = {}
    for a in rows:
        assert a.reviewer_id != a.author_id
        loads[a.reviewer_id] = loads.get(a.reviewer_id, 0) + 1
        per_author[a.author_id] = per_author.get(a.author_id, 0) + 1
    assert set(per_author.values()) == {3} and set(loads.values()) == {3}
    labels = {a.author_id: a.anonymous_label for a in rows}
    assert len(set(labels.values())) == 11
    assert all(len({x.anonymous_label for x in rows if x.author_id == au}) == 1 for au in labels)
    # Each reviewer got exactly one request per assignment, naming no author.
    for a in rows:
        reviewer = course.people[who(course, a.reviewer_id)]
        texts = course.chat.to(reviewer)
        assert sum(f"Submission {a.anonymous_label}**" in t for t in texts) == 1
    for _, msg in course.chat.dms:
        for name, p in course.people.items():
            if p.id in labels:
                assert p.display_name not in msg.text and name not in msg.text
    sent = await course.rows(OutboxMessage, OutboxMessage.kind == "assignment")
    assert len(sent) == 33 and all(r.state == "sent" for r in sent)
    assert all(a.dm_message_id for a in await course.assignments(ex))


async def test_the_tutor_is_told_exactly_what_could_not_be_satisfied(course: Course) -> None:
    ex = await course.create()
    await submit_all(course, ex, ["amara.codes", "lukasb_92"])
    course.now = SUB_DUE + timedelta(minutes=1)
    await course.due()
    [exercise] = await course.rows(PeerExercise, PeerExercise.id == ex)
    assert any(
        "needs 3 reviewer(s) but only 1 are eligible" in n for n in exercise.allocation_notes
    )
    report = "\n".join(course.chat.to(course.person(course.tutor)))
    assert "Could not satisfy everything" in report and "Amara Okafor" in report
    assert len(await course.assignments(ex)) == 2


async def test_groups_and_earlier_pairs_are_respected(course: Course) -> None:
    first = await allocated(course, title="Week 1", avoid_same_group=True, k=2)
    earlier = {(a.reviewer_id, a.author_id) for a in await course.assignments(first)}
    course.now = T0
    second = await course.create(
        title="Week 2",
        avoid_same_group=True,
        k=2,
        submission_deadline=(SUB_DUE + timedelta(days=10)).strftime("%Y-%m-%dT%H:%MZ"),
        review_deadline=(REVIEW_DUE + timedelta(days=10)).strftime("%Y-%m-%dT%H:%MZ"),
    )
    await submit_all(course, second)
    course.now = SUB_DUE + timedelta(days=10, minutes=1)
    await course.due()
    async with course.db.session() as s:
        groups = await engine.groups_of(s, course.cohort.id, [p.id for p in course.people.values()])
    pairs = {(a.reviewer_id, a.author_id) for a in await course.assignments(second)}
    assert len(pairs) == 22
    assert not pairs & earlier
    assert all(groups[r].isdisjoint(groups[a]) for r, a in pairs)


# --------------------------------------------------------------------------- reviewing


async def test_review_ranges_edits_and_a_single_credit(course: Course) -> None:
    ex = await allocated(course)
    mine = [
        a for a in await course.assignments(ex) if a.reviewer_id == course.person("amara.codes").id
    ]
    aid = mine[0].id
    with pytest.raises(UserError, match="Method must be a number from 0 to 10"):
        await course.review("amara.codes", aid, method="11")
    with pytest.raises(UserError, match="Clarity must be a number from 0 to 5"):
        await course.review("amara.codes", aid, clarity="lots")
    with pytest.raises(UserError, match="write a comment"):
        await course.review("amara.codes", aid, comments="  ")
    assert await course.rows(PeerReview) == []
    someone = next(n for n in course.students() if course.person(n).id not in {mine[0].reviewer_id})
    with pytest.raises(PermissionDenied, match="assigned to someone else"):
        await course.review(someone, aid)
    saved = await course.review("amara.codes", aid, method="7.5", clarity="5")
    assert saved.total == Decimal("83.3") and not saved.updated
    again = await course.review("amara.codes", aid, method="10", clarity="5")
    assert again.updated and again.total == Decimal("100.0")
    credits = await course.rows(
        LedgerEntry, LedgerEntry.source == LedgerSource.PEER_REVIEW_COMPLETED
    )
    assert [(c.points, c.item_type, c.item_id) for c in credits] == [(Decimal(1), "exercise", ex)]
    assert str(mine[0].author_id) not in credits[0].source_ref


async def test_reminders_go_once_and_only_to_reviewers_with_pending_work(course: Course) -> None:
    ex = await allocated(course)
    amara = course.person("amara.codes")
    for a in await course.assignments(ex):
        if a.reviewer_id == amara.id:
            await course.review("amara.codes", a.id)
    course.now = REVIEW_DUE - timedelta(hours=25)
    await course.due()
    assert not any("Reminder" in t for _, m in course.chat.dms for t in [m.text])
    course.now = REVIEW_DUE - timedelta(hours=23)
    await course.due()
    await course.due()
    reminded = [uid for uid, m in course.chat.dms if "Reminder" in m.text]
    assert len(reminded) == 10 and len(set(reminded)) == 10
    assert amara.platform_user_id not in reminded


async def test_missed_reviews_are_reassigned_once_then_reported(course: Course) -> None:
    ex = await allocated(course)
    lukas = course.person("lukasb_92")
    for a in await course.assignments(ex):
        if a.reviewer_id != lukas.id:
            await course.review(who(course, a.reviewer_id), a.id)
    course.now = REVIEW_DUE + timedelta(minutes=1)
    report = await course.due()
    assert report.missed == 3
    rows = await course.assignments(ex)
    missed = [a for a in rows if a.reviewer_id == lukas.id]
    assert {(a.status, a.end_reason) for a in missed} == {(AssignmentStatus.REASSIGNED, "missed")}
    fresh = [a for a in rows if a.origin == "reassigned"]
    assert len(fresh) == 3 and all(a.reviewer_id != lukas.id for a in fresh)
    assert all(a.due_at == course.now + engine.MIN_REVIEW_WINDOW for a in fresh)
    assert any("no longer need to review" in t for t in course.chat.to(lukas))
    tutor = "\n".join(course.chat.to(course.person(course.tutor)))
    assert "3 review(s) were not done" in tutor and "Lukas Becker's review of" in tutor
    course.now += engine.MIN_REVIEW_WINDOW + timedelta(minutes=1)
    await course.due()
    assert {a.status for a in await course.assignments(ex) if a.origin == "reassigned"} == {
        AssignmentStatus.CANCELLED
    }
    tutor = "\n".join(course.chat.to(course.person(course.tutor)))
    assert "Still missing (already reassigned once" in tutor


async def test_a_reviewer_who_cannot_be_reached_or_leaves_is_replaced(course: Course) -> None:
    course.chat.closed.add(str(course.person("zoe.hartmann").platform_user_id))
    ex = await allocated(course)
    zoe = course.person("zoe.hartmann")
    rows = await course.assignments(ex)
    assert {a.end_reason for a in rows if a.reviewer_id == zoe.id} == {"undeliverable"}
    tutor = "\n".join(course.chat.to(course.person(course.tutor)))
    assert "could not be delivered" in tutor
    async with course.db.session() as s:
        moved = await service.member_left(
            s, str(course.person("kwamem").platform_user_id), course.now
        )
    assert moved == 3
    await course.due()
    active: dict[int, int] = {}
    for a in await course.assignments(ex, AssignmentStatus.PENDING, AssignmentStatus.DONE):
        assert a.reviewer_id not in (zoe.id, course.person("kwamem").id)
        active[a.author_id] = active.get(a.author_id, 0) + 1
    assert set(active.values()) == {3}
    assert "left the server" in "\n".join(course.chat.to(course.person(course.tutor)))


# --------------------------------------------------------------------------- results


async def test_release_credits_marks_sends_anonymous_feedback_and_audits_moderation(
    course: Course,
) -> None:
    ex = await allocated(course, agreement_weighting=True)
    rows = await course.assignments(ex)
    for a in rows[:-1]:
        await course.review(who(course, a.reviewer_id), a.id, comments="Well argued.")

    async def release(s: Any, caller: Caller, cohort: Cohort) -> str:
        return await service.release(s, caller, cohort, exercise_id=ex, now=course.now)

    with pytest.raises(UserError, match="1 review\\(s\\) are still open until"):
        await course.act(course.tutor, release)
    await course.review(who(course, rows[-1].reviewer_id), rows[-1].id, comments="Well argued.")

    text = await course.act(course.tutor, release)
    assert "11 mark(s)" in text and "weighted by agreement" in text
    with pytest.raises(UserError, match="already released"):
        await course.act(course.tutor, release)
    await course.due()
    scores = await course.rows(LedgerEntry, LedgerEntry.source == LedgerSource.PEER_SCORE_RECEIVED)
    assert len(scores) == 11 and {s.points for s in scores} == {Decimal("80.0")}
    reviews = await course.rows(
        LedgerEntry, LedgerEntry.source == LedgerSource.PEER_REVIEW_COMPLETED
    )
    assert sum(r.points for r in reviews) == pytest.approx(Decimal(33), abs=Decimal("0.01"))
    assert len(reviews) == 33 * 3  # credit, its reversal, the weighted credit
    assert len(await course.rows(MarkRelease, MarkRelease.item_id == ex)) == 1
    amara = course.person("amara.codes")
    feedback = "\n".join(course.chat.to(amara))
    assert "Your peer mark: **80 / 100**" in feedback and "Review 3" in feedback
    reviewers = {a.reviewer_id for a in await course.assignments(ex) if a.author_id == amara.id}
    for rid in reviewers:
        p = course.people[who(course, rid)]
        assert p.display_name not in feedback and str(p.platform_username) not in feedback

    async def moderate(s: Any, caller: Caller, cohort: Cohort) -> str:
        return await service.moderate(
            s,
            caller,
            cohort,
            exercise_id=ex,
            student=course.user("amara.codes"),
            score=91,
            reason="Exceptional sources.",
            now=course.now,
        )

    assert "80 → 91" in await course.act(course.tutor, moderate)
    await course.due()
    mine = await course.rows(
        LedgerEntry,
        LedgerEntry.person_id == amara.id,
        LedgerEntry.source == LedgerSource.PEER_SCORE_RECEIVED,
    )
    assert sorted(e.points for e in mine) == [
        Decimal("-80.000"),
        Decimal("80.000"),
        Decimal("91.000"),
    ]
    [entry] = await course.rows(AuditEntry, AuditEntry.action == "peer_moderate")
    assert entry.subject_person_id == amara.id and entry.reason == "Exceptional sources."
    assert entry.before == {"final": "80.000", "moderated": None, "median": "80.000"}
    assert "moderated by your tutor" in course.chat.to(amara)[-1]


async def test_the_corrected_mark_learns_a_harsh_reviewer_across_the_module(
    course: Course,
) -> None:
    """A reviewer 40 points harsh in every exercise: the median already resists them, the
    mean does not, and the corrected estimate, pooled over both exercises, undoes the bias."""
    harsh = course.person("amara.codes")
    exercises = []
    for week in range(2):
        shift = timedelta(days=10 * week)
        course.now = T0 + shift
        ex = await course.create(
            title=f"Week {week}",
            method="corrected",
            submission_deadline=(SUB_DUE + shift).strftime("%Y-%m-%dT%H:%MZ"),
            review_deadline=(REVIEW_DUE + shift).strftime("%Y-%m-%dT%H:%MZ"),
        )
        await submit_all(course, ex)
        course.now = SUB_DUE + shift + timedelta(minutes=1)
        await course.due()
        for i, a in enumerate(await course.assignments(ex)):
            harsh_one = a.reviewer_id == harsh.id
            method = "4" if harsh_one else str(8 + (i % 3) - 1)
            await course.review(who(course, a.reviewer_id), a.id, method=method, clarity="4")
        exercises.append(ex)
    async with course.db.session() as s:
        exercise = await s.get(PeerExercise, exercises[1])
        assert exercise is not None
        results, info = await engine.recompute(s, exercise, course.now)
    victims = [
        a.author_id for a in await course.assignments(exercises[1]) if a.reviewer_id == harsh.id
    ]
    for author in victims:
        r = results[author]
        assert r.corrected is not None and r.mean is not None
        assert r.corrected > r.mean + 5, (r.corrected, r.mean, r.median)
        assert r.final == r.corrected.quantize(Decimal("0.1"))
    assert info[harsh.id].bias < -10


async def test_corrected_alone_fits_its_own_reviews_and_pooling_fits_the_modules(
    course: Course,
) -> None:
    """A reviewer harsh in both weeks; week 1 is ``corrected_alone``: its marks come from a
    fit of its own reviews only, and week 0's pooled fit leaves week 1's reviews out. Marked
    ``corrected``, week 1 is fitted on both weeks. The released feedback says what was done."""
    harsh = course.person("amara.codes")
    exercises = []
    for week, method in enumerate(("corrected", "corrected_alone")):
        shift = timedelta(days=10 * week)
        course.now = T0 + shift
        ex = await course.create(
            title=f"Week {week}",
            method=method,
            submission_deadline=(SUB_DUE + shift).strftime("%Y-%m-%dT%H:%MZ"),
            review_deadline=(REVIEW_DUE + shift).strftime("%Y-%m-%dT%H:%MZ"),
        )
        await submit_all(course, ex)
        course.now = SUB_DUE + shift + timedelta(minutes=1)
        await course.due()
        for i, a in enumerate(await course.assignments(ex)):
            score = "4" if a.reviewer_id == harsh.id else str(8 + (i % 3) - 1)
            await course.review(who(course, a.reviewer_id), a.id, method=score)
        exercises.append(ex)

    async def reviews_of(ex: int) -> list[Review]:
        done = {a.id: a for a in await course.assignments(ex, AssignmentStatus.DONE)}
        rows = await course.rows(PeerReview, PeerReview.assignment_id.in_(done))
        return [
            Review(
                done[r.assignment_id].reviewer_id,
                ex * 10_000 + done[r.assignment_id].author_id,
                float(r.total),
            )
            for r in rows
        ]

    week0, week1 = await reviews_of(exercises[0]), await reviews_of(exercises[1])
    alone_fit, pooled_fit = aggregate(week1), aggregate(week0 + week1)
    async with course.db.session() as s:
        ex0 = await s.get(PeerExercise, exercises[0])
        ex1 = await s.get(PeerExercise, exercises[1])
        assert ex0 is not None and ex1 is not None
        _, week0_info = await engine.recompute(s, ex0, course.now)
        results, alone_info = await engine.recompute(s, ex1, course.now)
        alone = {a: (r.corrected, r.final) for a, r in results.items()}
        ex1.aggregation = "corrected"
        results, pooled_info = await engine.recompute(s, ex1, course.now)
        pooled = {a: r.corrected for a, r in results.items()}
        ex1.aggregation = "corrected_alone"
        await engine.recompute(s, ex1, course.now)
        await s.commit()
    assert alone_info[harsh.id].bias == pytest.approx(alone_fit.reviewers[harsh.id].bias)
    assert pooled_info[harsh.id].bias == pytest.approx(pooled_fit.reviewers[harsh.id].bias)
    assert week0_info[harsh.id].bias == pytest.approx(aggregate(week0).reviewers[harsh.id].bias)
    assert alone_fit.reviewers[harsh.id].bias != pytest.approx(pooled_fit.reviewers[harsh.id].bias)
    for author, (corrected, final) in alone.items():
        expected = alone_fit.submissions[exercises[1] * 10_000 + author].corrected
        assert corrected == pytest.approx(Decimal(str(expected)), abs=Decimal("0.001"))
        assert final == corrected.quantize(Decimal("0.1"))
    assert any(pooled[a] != alone[a][0] for a in alone)

    async def release(s: Any, caller: Caller, cohort: Cohort) -> str:
        return await service.release(
            s, caller, cohort, exercise_id=exercises[1], now=course.now, accept_flagged=True
        )

    course.now = REVIEW_DUE + timedelta(days=10, minutes=1)
    await course.act(course.tutor, release)
    await course.due()
    victim = next(
        a.author_id for a in await course.assignments(exercises[1]) if a.reviewer_id == harsh.id
    )
    feedback = "\n".join(course.chat.to(course.people[who(course, victim)]))
    assert alone_fit.correction_applied
    assert "usual generosity or harshness allowed for" in feedback
    assert "this exercise's peer reviews" in feedback


async def test_the_outbox_retries_an_outage(course: Course) -> None:
    ex = await course.create()
    await course.due()  # the announcement goes out
    flaky = FakeChat()
    calls = {"n": 0}
    real_post = flaky.post

    async def post_once_down(channel_id: str, message: OutgoingMessage) -> Posted:
        calls["n"] += 1
        if calls["n"] == 1:
            raise ChatError(ChatErrorKind.UNAVAILABLE, "HTTP 503")
        return await real_post(channel_id, message)

    flaky.post = post_once_down  # type: ignore[method-assign]
    async with course.db.session() as s:
        await engine.tell_tutors(s, (await s.get(PeerExercise, ex)), "note", "Hello", course.now)  # type: ignore[arg-type]
    first = await run_due(course.db, flaky, course.now)
    assert first.delivery.retrying == 1 and flaky.dms == []
    course.now += timedelta(minutes=5)
    second = await run_due(course.db, flaky, course.now)
    assert second.delivery.sent == 1
    assert [m.text.splitlines()[0] for _, m in flaky.dms] == ["Hello"]


async def test_a_send_interrupted_by_a_crash_is_verified_then_recorded_or_sent_once(
    course: Course,
) -> None:
    """The process dies between claiming and recording: one message had gone out, one had
    not. After the lease the one that arrived is recorded (found by its marker in the DM
    history), the one that did not is sent, and neither is sent twice."""
    ex = await course.create()
    await course.due()  # the announcement goes out
    tutor = course.person(course.tutor)
    async with course.db.session() as s:
        exercise = await s.get(PeerExercise, ex)
        assert exercise is not None
        await engine.tell_tutors(s, exercise, "one", "Sent before the crash", course.now)
        await engine.tell_tutors(s, exercise, "two", "Never sent", course.now)
    rows = await course.rows(OutboxMessage, OutboxMessage.state == "pending")
    ids = sorted(r.id for r in rows)
    assert len(ids) == 2
    # The crash: both claimed by a sender that sent the first and died.
    async with course.db.session() as s:
        await s.execute(
            update(OutboxMessage)
            .where(OutboxMessage.id.in_(ids))
            .values(
                state="claimed",
                claimed_by="dead",
                claimed_at=course.now,
                lease_until=course.now + outbox.STALE_CLAIM,
                attempts=1,
            )
        )
    posted = await course.chat.post(
        f"dm-{tutor.platform_user_id}",
        OutgoingMessage("Sent before the crash", marker=f"out {ids[0]}"),
    )

    # After the lease, with the history unreadable: nothing is sent, nothing given up.
    course.now += outbox.STALE_CLAIM + timedelta(minutes=1)
    course.chat.unreadable = True
    await outbox.deliver(course.db, course.chat, course.now)
    assert [t.splitlines()[0] for t in course.chat.to(tutor)].count("Never sent") == 0
    assert {r.state for r in await course.rows(OutboxMessage, OutboxMessage.id.in_(ids))} == {
        "pending"
    }

    # Readable again, after the backoff: recorded once and sent once.
    course.chat.unreadable = False
    course.now += timedelta(minutes=5)
    await outbox.deliver(course.db, course.chat, course.now)
    await outbox.deliver(course.db, course.chat, course.now + timedelta(minutes=5))
    texts = [t.splitlines()[0] for t in course.chat.to(tutor)]
    assert texts.count("Sent before the crash") == 1
    assert texts.count("Never sent") == 1
    first, second = sorted(
        await course.rows(OutboxMessage, OutboxMessage.id.in_(ids)), key=lambda r: r.id
    )
    assert (first.state, first.sent_message_id) == ("sent", posted.message_id)
    assert second.state == "sent" and second.sent_message_id != posted.message_id


async def test_requests_not_yet_sent_to_a_departed_reviewer_are_never_sent(
    course: Course,
) -> None:
    ex = await course.create()
    await submit_all(course, ex)
    course.now = SUB_DUE + timedelta(minutes=1)
    async with course.db.session() as s:
        assert await engine.allocate_exercise(s, ex, course.now, on_demand=False)
    sofia = course.person("sofiarossi.data")
    async with course.db.session() as s:
        assert await service.member_left(s, str(sofia.platform_user_id), course.now) == 3
    await course.due()
    assert course.chat.to(sofia) == []
    cancelled = await course.rows(OutboxMessage, OutboxMessage.state == "cancelled")
    assert len(cancelled) == 3
    assert len(await course.assignments(ex, AssignmentStatus.PENDING)) == 33


# --------------------------------------------------------------------------- issue 13.7


async def reassign_as_tutor(course: Course, ex: int, reviewer: str, author: str) -> str:
    async def work(s: Any, caller: Caller, cohort: Cohort) -> str:
        return await service.reassign_reviewer(
            s,
            caller,
            cohort,
            exercise_id=ex,
            reviewer=course.user(reviewer),
            author=course.user(author),
            now=course.now,
        )

    return str(await course.act(course.tutor, work))


async def active_per_author(course: Course, ex: int) -> dict[int, int]:
    have: dict[int, int] = {}
    for a in await course.assignments(ex, AssignmentStatus.PENDING, AssignmentStatus.DONE):
        have[a.author_id] = have.get(a.author_id, 0) + 1
    return have


async def test_a_departed_reviewers_reviews_reach_k_even_after_earlier_moves(
    course: Course,
) -> None:
    """The reviewer with spare capacity is often the one who lost a review earlier: that
    pair must not be proposed again (and silently dropped), leaving the submission short."""
    ex = await allocated(course)
    rows = await course.assignments(ex)
    first = rows[0]
    giver = who(course, first.reviewer_id)
    author = who(course, first.author_id)
    await reassign_as_tutor(course, ex, giver, author)
    [taken] = [
        a
        for a in await course.assignments(ex, AssignmentStatus.PENDING)
        if a.author_id == first.author_id and a.origin == "reassigned"
    ]
    taker = course.person(who(course, taken.reviewer_id))
    for a in await course.assignments(ex, AssignmentStatus.PENDING):
        if a.reviewer_id == taker.id and a.id != taken.id:
            await course.review(who(course, taker.id), a.id)
    async with course.db.session() as s:
        moved = await service.member_left(s, str(taker.platform_user_id), course.now)
    assert moved == 1
    await course.due()
    have = await active_per_author(course, ex)
    assert len(have) == 11 and set(have.values()) == {3}, have
    pairs = [(a.reviewer_id, a.author_id) for a in await course.assignments(ex)]
    assert len(pairs) == len(set(pairs)), "a reviewer was given the same submission twice"


async def top_up_as_tutor(course: Course, ex: int, author: str | None = None) -> str:
    async def work(s: Any, caller: Caller, cohort: Cohort) -> str:
        return await service.top_up(
            s,
            caller,
            cohort,
            exercise_id=ex,
            author=course.user(author) if author else None,
            now=course.now,
        )

    return str(await course.act(course.tutor, work))


async def test_top_up_says_per_submission_why_nobody_is_left(course: Course) -> None:
    """Four submitters and k=3: everyone already reviews everyone, so when one misses
    nobody eligible is left; the tutor's top-up says so for each short submission."""
    ex = await course.create()
    four = course.students()[:4]
    await submit_all(course, ex, four)
    course.now = SUB_DUE + timedelta(minutes=1)
    await course.due()
    lukas = course.person("lukasb_92")
    for a in await course.assignments(ex):
        if a.reviewer_id != lukas.id:
            await course.review(who(course, a.reviewer_id), a.id)
    course.now = REVIEW_DUE + timedelta(minutes=1)
    await course.due()
    short = {a: n for a, n in (await active_per_author(course, ex)).items() if n < 3}
    assert len(short) == 3
    before = await course.snapshot()
    text = await top_up_as_tutor(course, ex)
    assert text.startswith("No review could be added in exercise")
    assert text.count("still short: needs 3 reviewer(s) but only 2 are eligible") == 3, text
    assert await course.snapshot() == before
    with pytest.raises(UserError, match="already has its 3 reviewers"):
        await top_up_as_tutor(course, ex, "lukasb_92")
    with pytest.raises(UserError, match="has no submission"):
        await top_up_as_tutor(course, ex, "kwamem")


async def test_reviews_given_at_allocation_are_due_at_the_review_deadline(course: Course) -> None:
    """Even when the review window is shorter than the extra time late work gets."""
    ex = await course.create(
        submission_deadline=SUB_DUE.strftime("%Y-%m-%dT%H:%MZ"),
        review_deadline=(SUB_DUE + timedelta(hours=24)).strftime("%Y-%m-%dT%H:%MZ"),
        late_hours=12,
    )
    await submit_all(course, ex, course.students()[:-1])
    course.now = SUB_DUE + timedelta(minutes=1)
    await course.due()
    rows = await course.assignments(ex)
    assert {a.due_at for a in rows} == {SUB_DUE + timedelta(hours=24)}
    course.now = SUB_DUE + timedelta(hours=2)
    await course.submit("rahul.iyer", ex)
    late = [a for a in await course.assignments(ex) if a.origin == "late"]
    assert len(late) == 3
    assert {a.due_at for a in late} == {course.now + engine.MIN_REVIEW_WINDOW}


async def move_by_hand(course: Course, ex: int, reviewer: str, author: str, to: str) -> str:
    """The tutor's ``/exercise reassign`` naming who takes the review."""

    async def work(s: Any, caller: Caller, cohort: Cohort) -> str:
        return await service.reassign_reviewer(
            s,
            caller,
            cohort,
            exercise_id=ex,
            reviewer=course.user(reviewer),
            author=course.user(author),
            to=course.user(to),
            now=course.now,
        )

    return str(await course.act(course.tutor, work))


async def test_a_review_moved_by_hand_obeys_the_allocation_rules(course: Course) -> None:
    ex = await allocated(course)
    [first, *_] = await course.assignments(ex)
    reviewer, author = who(course, first.reviewer_id), who(course, first.author_id)
    others = [
        who(course, a.reviewer_id)
        for a in await course.assignments(ex)
        if a.author_id == first.author_id and a.id != first.id
    ]

    async def move(to: str) -> str:
        return await move_by_hand(course, ex, reviewer, author, to)

    before = await course.snapshot()
    with pytest.raises(UserError, match="cannot review their own submission"):
        await move(author)
    with pytest.raises(UserError, match="already has \\(or had\\) that submission"):
        await move(others[0])
    assert await course.snapshot() == before
    free = next(u for u in course.students() if u not in (reviewer, author, *others))
    assert "Moved 1 review(s)" in await move(free)


async def team_up(course: Course, *usernames: str) -> int:
    """The rows a confirmed ``/teams form`` leaves: an active set of MATH70097 with one team."""
    async with course.db.session() as s:
        module = (await s.execute(select(Module).where(Module.code == MODULE))).scalar_one()
        team_set = TeamSet(
            module_id=module.id,
            status=TeamSetStatus.ACTIVE,
            size_min=2,
            size_max=4,
            min_minutes=120,
            reference_week=T0,
            weeks=10,
        )
        s.add(team_set)
        await s.flush()
        team = Team(set_id=team_set.id, number=1, shared="0" * 96)
        s.add(team)
        await s.flush()
        for name in usernames:
            s.add(TeamMember(team_id=team.id, person_id=course.person(name).id, set_id=team_set.id))
        return team_set.id


async def test_a_review_moved_by_hand_never_goes_to_a_teammate_of_the_author(
    course: Course,
) -> None:
    """Teammates count as group-mates for the allocator; a tutor's hand-picked reviewer is
    held to the same rule: refused in one sentence, nothing changed, no DM sent."""
    ex = await allocated(course, avoid_same_group=True)
    [first, *_] = await course.assignments(ex)
    reviewer, author = who(course, first.reviewer_id), who(course, first.author_id)
    has_it = {a.reviewer_id for a in await course.assignments(ex) if a.author_id == first.author_id}
    async with course.db.session() as s:
        groups = await engine.groups_of(s, course.cohort.id, [p.id for p in course.people.values()])
    mine = groups.get(first.author_id, frozenset())
    teammate = next(
        u
        for u in course.students()
        if course.person(u).id not in has_it | {first.author_id}
        and mine.isdisjoint(groups.get(course.person(u).id, frozenset()))
    )
    set_id = await team_up(course, author, teammate)
    await course.due()
    before, dms = await course.snapshot(), len(course.chat.dms)
    with pytest.raises(UserError) as refused:
        await move_by_hand(course, ex, reviewer, author, teammate)
    assert str(refused.value) == (
        f"{course.person(teammate).display_name} is in the same team as "
        f"{course.person(author).display_name}, and this exercise keeps reviews out of study "
        "groups and teams."
    )
    await course.due()
    assert await course.snapshot() == before and len(course.chat.dms) == dms

    async with course.db.session() as s:  # the teams are dissolved: the same move is allowed
        await s.execute(
            update(TeamSet).where(TeamSet.id == set_id).values(status=TeamSetStatus.SUPERSEDED)
        )
    assert "Moved 1 review(s)" in await move_by_hand(course, ex, reviewer, author, teammate)


async def test_a_refused_hand_picked_reviewer_is_told_which_group_they_share(
    course: Course,
) -> None:
    """The refusal says whether the new reviewer shares the author's study group, team, or
    both, so the tutor knows which record to look at; nothing changes either way."""
    ex = await allocated(course, avoid_same_group=True)
    [first, *_] = await course.assignments(ex)
    reviewer, author = who(course, first.reviewer_id), who(course, first.author_id)
    async with course.db.session() as s:
        groups = await engine.groups_of(s, course.cohort.id, [p.id for p in course.people.values()])
    mine = groups.get(first.author_id, frozenset())
    mate = next(
        u
        for u in course.students()
        if course.person(u).id != first.author_id
        and not mine.isdisjoint(groups.get(course.person(u).id, frozenset()))
    )
    for shared, teamed in (("study group", False), ("study group and team", True)):
        if teamed:
            await team_up(course, author, mate)
            await course.due()
        before = await course.snapshot()
        with pytest.raises(UserError) as refused:
            await move_by_hand(course, ex, reviewer, author, mate)
        assert str(refused.value) == (
            f"{course.person(mate).display_name} is in the same {shared} as "
            f"{course.person(author).display_name}, and this exercise keeps reviews out of "
            "study groups and teams."
        )
        assert await course.snapshot() == before
