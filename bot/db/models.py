"""The whole domain, described once so later capabilities extend rather than invent.

Conventions:
- Platform identifiers (Discord snowflakes today, Slack ids later) are strings.
- Every time is an aware UTC datetime (``UTCDateTime`` refuses naive values).
- Anything that counts toward marks carries a unique idempotency key in the database, so a
  replayed gateway event, a history backfill or a retried interaction can never count twice.
- Enumerations are stored as short strings with a CHECK constraint: portable across SQLite
  and PostgreSQL, and readable in an exam-board export.
"""

from __future__ import annotations

import enum
from datetime import datetime, time
from decimal import Decimal
from typing import Annotated, Any

from sqlalchemy import (
    JSON,
    BigInteger,
    CheckConstraint,
    Enum,
    ForeignKey,
    Index,
    LargeBinary,
    MetaData,
    Numeric,
    String,
    Text,
    Time,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

from bot.db.types import UTCDateTime, utcnow

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

#: A platform's id: a Discord snowflake, a Slack member or channel id, a Slack message id
#: "<channel>/<ts>" (migration 0009 widened it from 32 for those).
PlatformId = String(64)

# Column declarations many tables share, written once (SQLAlchemy's ``Annotated`` type map);
# ``Mapped[X | None]`` makes any of them nullable, and ``= mapped_column(...)`` adds to it.
IntPk = Annotated[int, mapped_column(primary_key=True)]
#: When the row was written (or last updated): set by the application, in UTC.
Stamp = Annotated[datetime, mapped_column(default=utcnow)]
CohortRef = Annotated[int, mapped_column(ForeignKey("cohorts.id", ondelete="CASCADE"))]
ModuleRef = Annotated[int, mapped_column(ForeignKey("modules.id", ondelete="CASCADE"))]
#: A person the row is about or by (the database refuses to delete a person it names).
PersonRef = Annotated[int, mapped_column(ForeignKey("persons.id"))]
#: A person's own row (the database deletes it with the person).
PersonOwned = Annotated[int, mapped_column(ForeignKey("persons.id", ondelete="CASCADE"))]
PromptRef = Annotated[int, mapped_column(ForeignKey("discussion_prompts.id", ondelete="CASCADE"))]
ExerciseRef = Annotated[int, mapped_column(ForeignKey("peer_exercises.id", ondelete="CASCADE"))]
EventRef = Annotated[int, mapped_column(ForeignKey("calendar_events.id", ondelete="CASCADE"))]
OccurrenceRef = Annotated[
    int, mapped_column(ForeignKey("event_occurrences.id", ondelete="CASCADE"))
]
ChatId = Annotated[str, mapped_column(PlatformId)]
LongText = Annotated[str, mapped_column(Text)]
#: Titles and names, up to 200 characters.
Str200 = Annotated[str, mapped_column(String(200))]


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map = {
        datetime: UTCDateTime(),
        dict[str, Any]: JSON(),
        list[Any]: JSON(),
    }


def _enum(cls: type[enum.Enum], name: str) -> Enum:
    return Enum(
        cls,
        name=name,
        native_enum=False,
        create_constraint=True,
        length=32,
        values_callable=lambda members: [m.value for m in members],
        validate_strings=True,
    )


class Role(enum.StrEnum):
    STUDENT = "student"
    TUTOR = "tutor"
    ADMIN = "admin"


class Designation(enum.StrEnum):
    CORE = "core"
    COMPULSORY = "compulsory"
    ELECTIVE = "elective"


class EnrolmentStatus(enum.StrEnum):
    ACTIVE = "active"
    WITHDRAWN = "withdrawn"


class PromptStatus(enum.StrEnum):
    SCHEDULED = "scheduled"
    OPENING = "opening"  # claimed by one process: posting the prompt now
    OPEN = "open"
    CLOSING = "closing"  # claimed by one process: locking the thread now
    CLOSED = "closed"
    CANCELLED = "cancelled"


class ContributionVia(enum.StrEnum):
    GATEWAY = "gateway"
    BACKFILL = "backfill"
    MODAL = "modal"


class ExerciseStatus(enum.StrEnum):
    OPEN = "open"
    ALLOCATED = "allocated"
    RELEASED = "released"
    CANCELLED = "cancelled"


class SubmissionKind(enum.StrEnum):
    FILE = "file"
    LINK = "link"
    TEXT = "text"


class AssignmentStatus(enum.StrEnum):
    PENDING = "pending"
    DONE = "done"
    REASSIGNED = "reassigned"
    CANCELLED = "cancelled"


class EventKind(enum.StrEnum):
    TUTORIAL = "tutorial"
    SUBMISSION_DEADLINE = "submission_deadline"
    MARKING_PERIOD_END = "marking_period_end"
    FEEDBACK_RETURN = "feedback_return"


class Recurrence(enum.StrEnum):
    NONE = "none"
    WEEKLY = "weekly"
    FORTNIGHTLY = "fortnightly"


class OccurrenceStatus(enum.StrEnum):
    SCHEDULED = "scheduled"
    CANCELLED = "cancelled"


class NoticeAudience(enum.StrEnum):
    CHANNEL = "channel"
    PERSON = "person"
    TUTORS = "tutors"


class NoticeStatus(enum.StrEnum):
    PENDING = "pending"
    CLAIMED = "claimed"
    SENT = "sent"
    SKIPPED = "skipped"
    FAILED = "failed"
    CANCELLED = "cancelled"


class RsvpResponse(enum.StrEnum):
    GOING = "going"
    MAYBE = "maybe"
    NOT_GOING = "not_going"


class ExtensionStatus(enum.StrEnum):
    REQUESTED = "requested"
    APPROVED = "approved"
    DENIED = "denied"
    # Replaced by a later approved grant on the same item for the same person (bot.due).
    SUPERSEDED = "superseded"


class LedgerSource(enum.StrEnum):
    DISCUSSION_POST = "discussion_post"
    DISCUSSION_REPLY = "discussion_reply"
    QUALITY_POINTS = "quality_points"
    PEER_REVIEW_COMPLETED = "peer_review_completed"
    PEER_SCORE_RECEIVED = "peer_score_received"
    TUTORIAL_ATTENDANCE = "tutorial_attendance"
    ADJUSTMENT = "adjustment"


# --------------------------------------------------------------------------- people & cohort


class Cohort(Base):
    """One programme intake living in one chat server (a Discord guild)."""

    __tablename__ = "cohorts"

    id: Mapped[IntPk]
    code: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[Str200]
    platform: Mapped[str] = mapped_column(String(16), default="discord")
    guild_id: Mapped[ChatId | None] = mapped_column(unique=True)
    timezone: Mapped[str] = mapped_column(String(64), default="Europe/London")
    created_at: Mapped[Stamp]

    modules: Mapped[list[Module]] = relationship(back_populates="cohort")


class Module(Base):
    __tablename__ = "modules"
    __table_args__ = (
        UniqueConstraint("cohort_id", "code"),
        CheckConstraint("ects > 0", name="ects_positive"),
    )

    id: Mapped[IntPk]
    cohort_id: Mapped[CohortRef]
    code: Mapped[str] = mapped_column(String(32))
    title: Mapped[Str200]
    year: Mapped[int] = mapped_column(default=1)
    term: Mapped[str] = mapped_column(String(32))
    ects: Mapped[Decimal] = mapped_column(Numeric(6, 2))
    designation: Mapped[Designation] = mapped_column(_enum(Designation, "designation"))
    pass_fail: Mapped[bool] = mapped_column(default=False)
    in_weighted_average: Mapped[bool] = mapped_column(default=True)
    note: Mapped[LongText | None]
    channel_name: Mapped[str | None] = mapped_column(String(100))
    channel_id: Mapped[ChatId | None]
    role_id: Mapped[ChatId | None]

    cohort: Mapped[Cohort] = relationship(back_populates="modules")


class Person(Base):
    """A student or member of staff, keyed by their chat-platform id once known."""

    __tablename__ = "persons"

    id: Mapped[IntPk]
    platform_user_id: Mapped[ChatId | None] = mapped_column(unique=True)
    platform_username: Mapped[str | None] = mapped_column(String(64), index=True)
    display_name: Mapped[Str200]
    email: Mapped[str | None] = mapped_column(String(320))
    student_number: Mapped[str | None] = mapped_column(String(32), unique=True)
    timezone: Mapped[str | None] = mapped_column(String(64))
    dm_reminders: Mapped[bool] = mapped_column(default=True)
    quiet_start: Mapped[time | None] = mapped_column(Time)
    quiet_end: Mapped[time | None] = mapped_column(Time)
    calendar_token: Mapped[str | None] = mapped_column(String(64), unique=True)
    erased_at: Mapped[datetime | None]
    created_at: Mapped[Stamp]


class Enrolment(Base):
    __tablename__ = "enrolments"
    __table_args__ = (UniqueConstraint("module_id", "person_id"),)

    id: Mapped[IntPk]
    module_id: Mapped[ModuleRef]
    person_id: Mapped[PersonOwned] = mapped_column(index=True)
    role: Mapped[Role] = mapped_column(_enum(Role, "role"))
    status: Mapped[EnrolmentStatus] = mapped_column(
        _enum(EnrolmentStatus, "enrolment_status"), default=EnrolmentStatus.ACTIVE
    )
    created_at: Mapped[Stamp]

    module: Mapped[Module] = relationship()
    person: Mapped[Person] = relationship()


class StudyGroup(Base):
    __tablename__ = "study_groups"
    __table_args__ = (UniqueConstraint("cohort_id", "name"),)

    id: Mapped[IntPk]
    cohort_id: Mapped[CohortRef]
    name: Mapped[str] = mapped_column(String(64))


class GroupMembership(Base):
    __tablename__ = "group_memberships"

    group_id: Mapped[int] = mapped_column(
        ForeignKey("study_groups.id", ondelete="CASCADE"), primary_key=True
    )
    person_id: Mapped[PersonOwned] = mapped_column(primary_key=True)


# --------------------------------------------------------------------------- discussions


class DiscussionPrompt(Base):
    """A graded discussion prompt: posted at ``opens_at``, answered in a thread until ``closes_at``.

    ``rubric`` holds the participation rules shown with the prompt (minimum words, replies,
    caps, late policy, quality points).
    """

    __tablename__ = "discussion_prompts"
    __table_args__ = (CheckConstraint("closes_at > opens_at", name="closes_after_opens"),)

    id: Mapped[IntPk]
    module_id: Mapped[ModuleRef] = mapped_column(index=True)
    title: Mapped[Str200]
    body: Mapped[LongText]
    opens_at: Mapped[datetime]
    closes_at: Mapped[datetime]
    rubric: Mapped[dict[str, Any]]
    private_answers: Mapped[bool] = mapped_column(default=False)
    status: Mapped[PromptStatus] = mapped_column(
        _enum(PromptStatus, "prompt_status"), default=PromptStatus.SCHEDULED
    )
    channel_id: Mapped[ChatId | None]
    message_id: Mapped[ChatId | None] = mapped_column(unique=True)
    thread_id: Mapped[ChatId | None] = mapped_column(unique=True)
    created_by_id: Mapped[PersonRef | None]
    created_at: Mapped[Stamp]
    released_at: Mapped[datetime | None]
    # When the opening/closing claim was taken: a stale claim means a process died mid-way.
    claimed_at: Mapped[datetime | None]
    # Why a scheduled prompt cannot open (its module's channel is missing); None otherwise.
    blocked_reason: Mapped[str | None] = mapped_column(String(200))


class Contribution(Base):
    """One student message in a prompt's thread: the evidence itself, never erased."""

    __tablename__ = "contributions"

    id: Mapped[IntPk]
    prompt_id: Mapped[PromptRef] = mapped_column(index=True)
    person_id: Mapped[PersonRef | None] = mapped_column(index=True)
    author_platform_id: Mapped[ChatId]
    message_id: Mapped[ChatId] = mapped_column(unique=True)
    parent_message_id: Mapped[ChatId | None]
    thread_id: Mapped[ChatId] = mapped_column(index=True)
    mentions: Mapped[list[Any]] = mapped_column(default=list)
    content: Mapped[LongText]
    words: Mapped[int]
    created_at: Mapped[datetime]
    edited_at: Mapped[datetime | None]
    deleted_at: Mapped[datetime | None]
    late: Mapped[bool] = mapped_column(default=False)
    via: Mapped[ContributionVia] = mapped_column(
        _enum(ContributionVia, "contribution_via"), default=ContributionVia.GATEWAY
    )
    recorded_at: Mapped[Stamp]


class ContributionRevision(Base):
    """The text a contribution had before each edit."""

    __tablename__ = "contribution_revisions"
    __table_args__ = (UniqueConstraint("contribution_id", "revision"),)

    id: Mapped[IntPk]
    contribution_id: Mapped[int] = mapped_column(ForeignKey("contributions.id", ondelete="CASCADE"))
    revision: Mapped[int]
    content: Mapped[LongText]
    words: Mapped[int]
    replaced_at: Mapped[datetime]


class DiscussionScore(Base):
    """Tutor's quality points and feedback, plus the last computed participation score."""

    __tablename__ = "discussion_scores"
    __table_args__ = (UniqueConstraint("prompt_id", "person_id"),)

    id: Mapped[IntPk]
    prompt_id: Mapped[PromptRef]
    person_id: Mapped[PersonRef]
    quality_points: Mapped[Decimal | None] = mapped_column(Numeric(6, 2))
    feedback: Mapped[LongText | None]
    score: Mapped[Decimal | None] = mapped_column(Numeric(6, 2))
    explanation: Mapped[LongText | None]
    graded_by_id: Mapped[PersonRef | None]
    updated_at: Mapped[Stamp]
    # The private "your mark" message after release: claimed, then sent (or failed) once.
    notify_claimed_at: Mapped[datetime | None]
    notified_at: Mapped[datetime | None]
    notify_error: Mapped[LongText | None]
    notices_sent: Mapped[int] = mapped_column(default=0)  # >0: the next one is an update


# --------------------------------------------------------------------------- peer assessment


class PeerExercise(Base):
    __tablename__ = "peer_exercises"
    __table_args__ = (
        CheckConstraint("review_due_at > submission_due_at", name="review_after_submission"),
        CheckConstraint("reviews_per_submission >= 1", name="k_positive"),
    )

    id: Mapped[IntPk]
    module_id: Mapped[ModuleRef] = mapped_column(index=True)
    title: Mapped[Str200]
    brief: Mapped[LongText]
    submission_due_at: Mapped[datetime]
    review_due_at: Mapped[datetime]
    reviews_per_submission: Mapped[int] = mapped_column(default=3)
    rubric: Mapped[dict[str, Any]]
    double_blind: Mapped[bool] = mapped_column(default=True)
    reviewers_from_submitters_only: Mapped[bool] = mapped_column(default=True)
    avoid_same_group: Mapped[bool] = mapped_column(default=False)
    avoid_repeat_pairs: Mapped[bool] = mapped_column(default=True)
    late_policy: Mapped[dict[str, Any]] = mapped_column(default=dict)
    aggregation: Mapped[str] = mapped_column(String(32), default="median")
    seed: Mapped[int] = mapped_column(BigInteger, default=0)
    status: Mapped[ExerciseStatus] = mapped_column(
        _enum(ExerciseStatus, "exercise_status"), default=ExerciseStatus.OPEN
    )
    allocated_at: Mapped[datetime | None]
    released_at: Mapped[datetime | None]
    created_by_id: Mapped[PersonRef | None]
    created_at: Mapped[Stamp]
    # Reviewers with pending work are reminded this many hours before their review is due.
    reminder_hours: Mapped[int] = mapped_column(default=24)
    # Review credit weighted by agreement with the consensus (Moodle's "grade for assessment").
    agreement_weighting: Mapped[bool] = mapped_column(default=False)
    # What the allocation could not satisfy, in sentences for the tutor.
    allocation_notes: Mapped[list[Any]] = mapped_column(default=list)
    # Claim for the one-off "reviews are closed" processing after review_due_at.
    review_closed_at: Mapped[datetime | None]
    released_by_id: Mapped[PersonRef | None]


class PeerSubmission(Base):
    """Every version a student submitted; exactly one per student is current."""

    __tablename__ = "peer_submissions"
    __table_args__ = (UniqueConstraint("exercise_id", "person_id", "version"),)

    id: Mapped[IntPk]
    exercise_id: Mapped[ExerciseRef] = mapped_column(index=True)
    person_id: Mapped[PersonRef]
    version: Mapped[int]
    kind: Mapped[SubmissionKind] = mapped_column(_enum(SubmissionKind, "submission_kind"))
    content: Mapped[LongText]
    filename: Mapped[str | None] = mapped_column(String(255))
    size_bytes: Mapped[int | None]
    submitted_at: Mapped[datetime]
    late: Mapped[bool] = mapped_column(default=False)
    is_current: Mapped[bool] = mapped_column(default=True)
    idempotency_key: Mapped[str] = mapped_column(String(128), unique=True)
    # A file's bytes, kept so reviewers get it as the bot's own upload (never the author's
    # link, whose URL expires and whose name may identify them). Loaded only when sent.
    data: Mapped[bytes | None] = mapped_column(LargeBinary, deferred=True)
    content_type: Mapped[str | None] = mapped_column(String(128))


class ReviewAssignment(Base):
    """Reviewer -> author pairing. Never shown to the author."""

    __tablename__ = "review_assignments"
    __table_args__ = (
        UniqueConstraint("exercise_id", "reviewer_id", "author_id"),
        CheckConstraint("reviewer_id <> author_id", name="never_self"),
    )

    id: Mapped[IntPk]
    exercise_id: Mapped[ExerciseRef] = mapped_column(index=True)
    reviewer_id: Mapped[PersonRef]
    author_id: Mapped[PersonRef]
    status: Mapped[AssignmentStatus] = mapped_column(
        _enum(AssignmentStatus, "assignment_status"), default=AssignmentStatus.PENDING
    )
    assigned_at: Mapped[Stamp]
    dm_message_id: Mapped[ChatId | None]
    anonymous_label: Mapped[str] = mapped_column(String(32))
    # The version reviewed; a reviewer's own deadline (late work gets a full review window).
    submission_id: Mapped[int | None] = mapped_column(
        ForeignKey("peer_submissions.id", ondelete="SET NULL")
    )
    due_at: Mapped[datetime | None]
    # allocation | late | reassigned | manual: only the first two are reassigned when missed.
    origin: Mapped[str] = mapped_column(String(16), default="allocation")
    # Why it stopped being pending without a review: left | missed | tutor | undeliverable.
    end_reason: Mapped[str | None] = mapped_column(String(16))
    reminded_at: Mapped[datetime | None]
    completed_at: Mapped[datetime | None]


class PeerReview(Base):
    __tablename__ = "peer_reviews"

    id: Mapped[IntPk]
    assignment_id: Mapped[int] = mapped_column(
        ForeignKey("review_assignments.id", ondelete="CASCADE"), unique=True
    )
    scores: Mapped[dict[str, Any]]
    comments: Mapped[LongText] = mapped_column(default="")
    total: Mapped[Decimal] = mapped_column(Numeric(7, 3))
    submitted_at: Mapped[datetime]
    idempotency_key: Mapped[str] = mapped_column(String(128), unique=True)


class PeerResult(Base):
    __tablename__ = "peer_results"
    __table_args__ = (UniqueConstraint("exercise_id", "person_id"),)

    id: Mapped[IntPk]
    exercise_id: Mapped[ExerciseRef]
    person_id: Mapped[PersonRef]
    median: Mapped[Decimal | None] = mapped_column(Numeric(7, 3))
    corrected: Mapped[Decimal | None] = mapped_column(Numeric(7, 3))
    moderated: Mapped[Decimal | None] = mapped_column(Numeric(7, 3))
    moderation_reason: Mapped[LongText | None]
    final: Mapped[Decimal | None] = mapped_column(Numeric(7, 3))
    disagreement: Mapped[Decimal | None] = mapped_column(Numeric(7, 3))
    flagged: Mapped[bool] = mapped_column(default=False)
    computed_at: Mapped[Stamp]
    mean: Mapped[Decimal | None] = mapped_column(Numeric(7, 3))
    n_reviews: Mapped[int] = mapped_column(default=0)
    flag_reason: Mapped[LongText | None]
    # Late-policy deduction in percent of the peer mark (not applied to a moderated mark).
    penalty: Mapped[Decimal] = mapped_column(Numeric(6, 2), default=Decimal(0))
    moderated_by_id: Mapped[PersonRef | None]
    # The ledger row currently carrying this mark (a correction reverses it and adds another).
    ledger_key: Mapped[str | None] = mapped_column(String(200))


# --------------------------------------------------------------------------- calendar


class CalendarEvent(Base):
    """A tutorial series or an assessment item; its occurrences are materialised rows."""

    __tablename__ = "calendar_events"

    id: Mapped[IntPk]
    module_id: Mapped[ModuleRef] = mapped_column(index=True)
    kind: Mapped[EventKind] = mapped_column(_enum(EventKind, "event_kind"))
    title: Mapped[Str200]
    starts_at: Mapped[datetime]
    duration_minutes: Mapped[int | None]
    join_url: Mapped[str | None] = mapped_column(String(500))
    recurrence: Mapped[Recurrence] = mapped_column(
        _enum(Recurrence, "recurrence"), default=Recurrence.NONE
    )
    recurrence_until: Mapped[datetime | None]
    timezone: Mapped[str] = mapped_column(String(64))
    notice_offsets: Mapped[list[Any]] = mapped_column(default=list)
    cancelled_at: Mapped[datetime | None]
    created_by_id: Mapped[PersonRef | None]
    created_at: Mapped[Stamp]


class EventOccurrence(Base):
    __tablename__ = "event_occurrences"
    __table_args__ = (
        UniqueConstraint("event_id", "sequence"),
        CheckConstraint("ends_at >= starts_at", name="ends_after_starts"),
    )

    id: Mapped[IntPk]
    event_id: Mapped[EventRef]
    sequence: Mapped[int]
    starts_at: Mapped[datetime] = mapped_column(index=True)
    ends_at: Mapped[datetime]
    original_starts_at: Mapped[datetime]
    status: Mapped[OccurrenceStatus] = mapped_column(
        _enum(OccurrenceStatus, "occurrence_status"), default=OccurrenceStatus.SCHEDULED
    )
    message_id: Mapped[ChatId | None]


class Notice(Base):
    """A message the bot owes someone at a moment. The database is the source of truth.

    ``dedupe_key`` makes scheduling idempotent; the status change pending -> claimed is the
    atomic claim that keeps two processes from sending the same notice.
    """

    __tablename__ = "notices"
    __table_args__ = (Index("ix_notices_status_due_at", "status", "due_at"),)

    id: Mapped[IntPk]
    dedupe_key: Mapped[str] = mapped_column(String(200), unique=True)
    kind: Mapped[str] = mapped_column(String(48))
    module_id: Mapped[ModuleRef | None]
    occurrence_id: Mapped[OccurrenceRef | None]
    audience: Mapped[NoticeAudience] = mapped_column(_enum(NoticeAudience, "notice_audience"))
    person_id: Mapped[PersonRef | None]
    channel_id: Mapped[ChatId | None]
    due_at: Mapped[datetime]
    useful_until: Mapped[datetime | None]
    payload: Mapped[dict[str, Any]] = mapped_column(default=dict)
    status: Mapped[NoticeStatus] = mapped_column(
        _enum(NoticeStatus, "notice_status"), default=NoticeStatus.PENDING
    )
    attempts: Mapped[int] = mapped_column(default=0)
    claimed_by: Mapped[str | None] = mapped_column(String(64))
    claimed_at: Mapped[datetime | None]
    sent_at: Mapped[datetime | None]
    late: Mapped[bool] = mapped_column(default=False)
    platform_message_id: Mapped[ChatId | None]
    last_error: Mapped[LongText | None]
    created_at: Mapped[Stamp]
    # Notices that supersede each other (same item, audience and instant; see
    # bot.calendar.notices.notice_group): catch-up sends only the newest due one.
    group_key: Mapped[str] = mapped_column(String(200), default="", index=True)
    # After a failed delivery: not before this (backoff), so one bad notice never blocks others.
    retry_at: Mapped[datetime | None]
    # How it reached its reader: "channel", "dm", or "fallback" (a mention when DMs are closed).
    delivered_via: Mapped[str | None] = mapped_column(String(16))


class Rsvp(Base):
    __tablename__ = "rsvps"
    __table_args__ = (UniqueConstraint("occurrence_id", "person_id"),)

    id: Mapped[IntPk]
    occurrence_id: Mapped[OccurrenceRef]
    person_id: Mapped[PersonRef]
    response: Mapped[RsvpResponse] = mapped_column(_enum(RsvpResponse, "rsvp_response"))
    updated_at: Mapped[Stamp]


class Attendance(Base):
    __tablename__ = "attendance"
    __table_args__ = (UniqueConstraint("occurrence_id", "person_id"),)

    id: Mapped[IntPk]
    occurrence_id: Mapped[OccurrenceRef]
    person_id: Mapped[PersonRef]
    checked_in_at: Mapped[datetime]
    idempotency_key: Mapped[str] = mapped_column(String(128), unique=True)


class Extension(Base):
    """A per-student extension (or a request for one) on exactly one item."""

    __tablename__ = "extensions"
    __table_args__ = (
        CheckConstraint(
            "(CASE WHEN event_id IS NULL THEN 0 ELSE 1 END)"
            " + (CASE WHEN prompt_id IS NULL THEN 0 ELSE 1 END)"
            " + (CASE WHEN exercise_id IS NULL THEN 0 ELSE 1 END) = 1",
            name="exactly_one_item",
        ),
    )

    id: Mapped[IntPk]
    person_id: Mapped[PersonRef] = mapped_column(index=True)
    event_id: Mapped[EventRef | None]
    prompt_id: Mapped[PromptRef | None]
    exercise_id: Mapped[ExerciseRef | None]
    new_due_at: Mapped[datetime]
    reason_ref: Mapped[Str200]
    status: Mapped[ExtensionStatus] = mapped_column(_enum(ExtensionStatus, "extension_status"))
    requested_at: Mapped[Stamp]
    decided_by_id: Mapped[PersonRef | None]
    decided_at: Mapped[datetime | None]


# --------------------------------------------------------------------------- gradebook


class LedgerEntry(Base):
    """Append-only: one row per credited activity. Corrections are new rows, never updates."""

    __tablename__ = "ledger_entries"
    __table_args__ = (Index("ix_ledger_module_person", "module_id", "person_id"),)

    id: Mapped[IntPk]
    idempotency_key: Mapped[str] = mapped_column(String(200), unique=True)
    module_id: Mapped[int] = mapped_column(ForeignKey("modules.id"))
    person_id: Mapped[PersonRef]
    source: Mapped[LedgerSource] = mapped_column(_enum(LedgerSource, "ledger_source"))
    item_type: Mapped[str] = mapped_column(String(32))
    item_id: Mapped[int]
    source_ref: Mapped[Str200]
    points: Mapped[Decimal] = mapped_column(Numeric(9, 3))
    occurred_at: Mapped[datetime]
    recorded_at: Mapped[Stamp]
    note: Mapped[LongText | None]


class LedgerCell(Base):
    """Per student, item and component: the ledger's running sum, kept by the database.

    Derived, never written by code: an AFTER INSERT trigger on ``ledger_entries`` (migration
    0003) adds each new row's points here in the same transaction, so a 5,000-student export
    reads one row per gradebook cell instead of every credit. ``points_milli`` is the exact sum
    in thousandths of a point; ``entries`` counts the ledger rows behind it (reversals too).
    """

    __tablename__ = "ledger_cells"

    module_id: Mapped[int] = mapped_column(primary_key=True)
    person_id: Mapped[int] = mapped_column(primary_key=True)
    component: Mapped[str] = mapped_column(String(32), primary_key=True)
    item_type: Mapped[str] = mapped_column(String(32), primary_key=True)
    item_id: Mapped[int] = mapped_column(primary_key=True)
    points_milli: Mapped[int] = mapped_column(BigInteger)
    entries: Mapped[int]


class MarkScheme(Base):
    """Per-module weights of the participation components, set by a tutor."""

    __tablename__ = "mark_schemes"

    id: Mapped[IntPk]
    module_id: Mapped[ModuleRef] = mapped_column(unique=True)
    weights: Mapped[dict[str, Any]]
    #: Weight of the participation mark inside the module mark preview, on the same scale as
    #: the imported component marks' weights; None leaves participation out of the preview.
    participation_share: Mapped[Decimal | None] = mapped_column(Numeric(6, 3))
    updated_by_id: Mapped[PersonRef | None]
    updated_at: Mapped[Stamp]


class ComponentMark(Base):
    """Other component marks imported from CSV, to preview module marks and classification."""

    __tablename__ = "component_marks"
    __table_args__ = (UniqueConstraint("module_id", "person_id", "component"),)

    id: Mapped[IntPk]
    module_id: Mapped[ModuleRef]
    person_id: Mapped[PersonRef]
    component: Mapped[str] = mapped_column(String(64))
    weight: Mapped[Decimal] = mapped_column(Numeric(6, 3))
    mark: Mapped[Decimal] = mapped_column(Numeric(6, 2))
    imported_at: Mapped[Stamp]


class MarkRelease(Base):
    """An item's marks made visible to students. Before this row they are provisional-hidden."""

    __tablename__ = "mark_releases"
    __table_args__ = (UniqueConstraint("module_id", "item_type", "item_id"),)

    id: Mapped[IntPk]
    module_id: Mapped[ModuleRef]
    item_type: Mapped[str] = mapped_column(String(32))
    item_id: Mapped[int]
    released_at: Mapped[datetime]
    released_by_id: Mapped[PersonRef | None]


class AuditEntry(Base):
    """Append-only trail of every grade change: who, when, before, after, why."""

    __tablename__ = "audit_log"
    __table_args__ = (Index("ix_audit_subject", "subject_person_id", "entity_type"),)

    id: Mapped[IntPk]
    at: Mapped[Stamp]
    actor_person_id: Mapped[PersonRef | None]
    actor_label: Mapped[Str200]
    action: Mapped[str] = mapped_column(String(64))
    entity_type: Mapped[str] = mapped_column(String(32))
    entity_id: Mapped[int | None]
    subject_person_id: Mapped[PersonRef | None]
    module_id: Mapped[int | None] = mapped_column(ForeignKey("modules.id"))
    before: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    after: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    reason: Mapped[LongText | None]


# --------------------------------------------------------------------------- platform state


class ProcessedEvent(Base):
    """Idempotency for platform events that have no natural row (button clicks, commands)."""

    __tablename__ = "processed_events"

    key: Mapped[str] = mapped_column(String(200), primary_key=True)
    processed_at: Mapped[Stamp]


class ChannelCursor(Base):
    """The newest message seen per watched channel/thread, where history backfill resumes."""

    __tablename__ = "channel_cursors"

    channel_id: Mapped[ChatId] = mapped_column(primary_key=True)
    last_message_id: Mapped[ChatId]
    updated_at: Mapped[Stamp]


# --------------------------------------------------------------------------- teams


class TeamSetStatus(enum.StrEnum):
    PROPOSED = "proposed"  # a dry run the tutor has not confirmed
    ACTIVE = "active"  # the module's current teams
    SUPERSEDED = "superseded"  # replaced by a later confirmed set (kept: previous teammates)
    DISCARDED = "discarded"  # a proposal replaced by a newer one before it was confirmed


class PairRule(enum.StrEnum):
    APART = "apart"
    TOGETHER = "together"


class TeamAvailability(Base):
    """When a person is free each week, in their own zone: ``intervals`` is a list of
    [weekday, start minute, end minute] (see ``bot.teams.availability``)."""

    __tablename__ = "team_availability"

    person_id: Mapped[PersonOwned] = mapped_column(primary_key=True)
    zone: Mapped[str] = mapped_column(String(64))
    intervals: Mapped[list[Any]]
    updated_at: Mapped[Stamp]


class TeamSurveyQuestion(Base):
    """A tutor's survey question for a module's teams (skills, background, preferred role)."""

    __tablename__ = "team_survey_questions"
    __table_args__ = (UniqueConstraint("module_id", "position"),)

    id: Mapped[IntPk]
    module_id: Mapped[ModuleRef]
    position: Mapped[int]
    text: Mapped[Str200]
    choices: Mapped[list[Any]]
    created_at: Mapped[Stamp]


class TeamSurveyAnswer(Base):
    __tablename__ = "team_survey_answers"
    __table_args__ = (UniqueConstraint("question_id", "person_id"),)

    id: Mapped[IntPk]
    question_id: Mapped[int] = mapped_column(
        ForeignKey("team_survey_questions.id", ondelete="CASCADE")
    )
    person_id: Mapped[PersonOwned]
    choice: Mapped[str] = mapped_column(String(100))
    answered_at: Mapped[Stamp]


class TeamPair(Base):
    """A tutor's rule for two students of a module: always apart, or always together."""

    __tablename__ = "team_pairs"
    __table_args__ = (
        UniqueConstraint("module_id", "first_id", "second_id"),
        CheckConstraint("first_id < second_id", name="ordered_pair"),
    )

    id: Mapped[IntPk]
    module_id: Mapped[ModuleRef]
    first_id: Mapped[PersonOwned]
    second_id: Mapped[PersonOwned]
    rule: Mapped[PairRule] = mapped_column(_enum(PairRule, "pair_rule"))


class TeamSet(Base):
    """One formation of a module's teams, with the rules it was formed under.

    ``reference_week`` is the Monday (00:00 UTC) the shared slots are shown for; the slots
    hold in every one of the ``weeks`` weeks from it.
    """

    __tablename__ = "team_sets"
    __table_args__ = (
        CheckConstraint("size_min >= 1 AND size_max >= size_min", name="size_range"),
        Index("ix_team_sets_module_status", "module_id", "status"),
    )

    id: Mapped[IntPk]
    module_id: Mapped[ModuleRef]
    status: Mapped[TeamSetStatus] = mapped_column(_enum(TeamSetStatus, "team_set_status"))
    size_min: Mapped[int]
    size_max: Mapped[int]
    min_minutes: Mapped[int]
    reference_week: Mapped[datetime]
    weeks: Mapped[int]
    optimal: Mapped[bool] = mapped_column(default=False)
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("persons.id", ondelete="SET NULL"))
    created_at: Mapped[Stamp]
    confirmed_at: Mapped[datetime | None]


class Team(Base):
    """One team of a set: ``shared`` is the hex bitmask of the UTC half-hour slots of the
    week every member is free in (a snapshot, so a later availability change does not
    rewrite why the team was formed)."""

    __tablename__ = "teams"
    __table_args__ = (UniqueConstraint("set_id", "number"),)

    id: Mapped[IntPk]
    set_id: Mapped[int] = mapped_column(ForeignKey("team_sets.id", ondelete="CASCADE"))
    number: Mapped[int]
    shared: Mapped[str] = mapped_column(String(96))
    balance: Mapped[int] = mapped_column(default=0)
    thread_id: Mapped[ChatId | None]
    #: When the team's message was posted in its thread (a retry opens nothing twice).
    announced_at: Mapped[datetime | None]


class TeamMember(Base):
    __tablename__ = "team_members"
    __table_args__ = (UniqueConstraint("set_id", "person_id"),)

    team_id: Mapped[int] = mapped_column(
        ForeignKey("teams.id", ondelete="CASCADE"), primary_key=True
    )
    person_id: Mapped[PersonOwned] = mapped_column(primary_key=True)
    set_id: Mapped[int] = mapped_column(ForeignKey("team_sets.id", ondelete="CASCADE"))


# --------------------------------------------------------------------------- dashboard


class DashboardSecret(Base):
    """The key sign-in links are signed with, when the operator set none (one row, made once)."""

    __tablename__ = "dashboard_secrets"

    name: Mapped[str] = mapped_column(String(32), primary_key=True)
    value: Mapped[str] = mapped_column(String(128))
    created_at: Mapped[Stamp]


class DashboardSignInLink(Base):
    """A single-use sign-in link sent by DM: only its nonce's hash is kept; used once."""

    __tablename__ = "dashboard_sign_in_links"

    id: Mapped[IntPk]
    nonce_hash: Mapped[str] = mapped_column(String(64), unique=True)
    person_id: Mapped[PersonOwned]
    cohort_id: Mapped[CohortRef]
    created_at: Mapped[datetime]
    expires_at: Mapped[datetime]
    used_at: Mapped[datetime | None]


class DashboardSession(Base):
    """A signed-in browser: the cookie's hash, its CSRF token, and when it ends or was revoked."""

    __tablename__ = "dashboard_sessions"
    __table_args__ = (Index("ix_dashboard_sessions_person", "person_id", "revoked_at"),)

    id: Mapped[IntPk]
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    csrf_token: Mapped[str] = mapped_column(String(64))
    person_id: Mapped[PersonOwned]
    cohort_id: Mapped[CohortRef]
    link_id: Mapped[int | None] = mapped_column(
        ForeignKey("dashboard_sign_in_links.id", ondelete="SET NULL")
    )
    created_at: Mapped[datetime]
    expires_at: Mapped[datetime]
    revoked_at: Mapped[datetime | None]


class TutorMessage(Base):
    """A message a tutor sent a student from the dashboard, and whether it was delivered."""

    __tablename__ = "tutor_messages"
    __table_args__ = (Index("ix_tutor_messages_recipient", "recipient_id", "module_id"),)

    id: Mapped[IntPk]
    module_id: Mapped[ModuleRef]
    sender_id: Mapped[PersonRef | None]
    recipient_id: Mapped[PersonRef]
    text: Mapped[LongText]
    created_at: Mapped[datetime]
    sent_at: Mapped[datetime | None]
    platform_message_id: Mapped[ChatId | None]
    error: Mapped[LongText | None]


class EarlyWarningSettings(Base):
    """The programme file's ``[early_warning]`` thresholds for a cohort (absent: defaults)."""

    __tablename__ = "early_warning_settings"

    cohort_id: Mapped[int] = mapped_column(
        ForeignKey("cohorts.id", ondelete="CASCADE"), primary_key=True
    )
    thresholds: Mapped[dict[str, Any]]
    updated_at: Mapped[Stamp]


# --------------------------------------------------------------------------- outbox


class OutboxState(enum.StrEnum):
    PENDING = "pending"
    CLAIMED = "claimed"
    SENT = "sent"
    FAILED = "failed"
    CANCELLED = "cancelled"


class OutboxMessage(Base):
    """A message the bot owes, enqueued in the transaction that decided it (``bot.outbox``).

    ``key`` makes enqueueing idempotent. The target is a person (a DM), a channel, or a module
    (its channel as linked when the message is sent). ``feature``/``kind``/``scope_id``/
    ``ref_id`` are the sender's own labels, so it can count or cancel its messages and react
    when one is sent or given up on; the outbox itself never reads them.
    """

    __tablename__ = "outbox"
    __table_args__ = (
        Index("ix_outbox_state_id", "state", "id"),
        Index("ix_outbox_feature_scope_id", "feature", "scope_id"),
    )

    id: Mapped[IntPk]
    key: Mapped[str] = mapped_column(String(200), unique=True)
    feature: Mapped[str] = mapped_column(String(32))
    kind: Mapped[str] = mapped_column(String(32))
    scope_id: Mapped[int | None]
    ref_id: Mapped[int | None] = mapped_column(index=True)
    person_id: Mapped[PersonRef | None] = mapped_column(index=True)
    channel_id: Mapped[ChatId | None]
    module_id: Mapped[ModuleRef | None]
    content: Mapped[dict[str, Any]] = mapped_column(default=dict)
    #: What the marker line names (``-# cohortbot <marker>`` on Discord); None: "out <id>".
    marker: Mapped[str | None] = mapped_column(String(120))
    state: Mapped[OutboxState] = mapped_column(
        _enum(OutboxState, "outbox_state"), default=OutboxState.PENDING
    )
    attempts: Mapped[int] = mapped_column(default=0)
    #: An earlier attempt may have arrived (a timeout, a 5xx): read the history before sending.
    verify: Mapped[bool] = mapped_column(default=False)
    not_before: Mapped[datetime | None]
    claimed_by: Mapped[str | None] = mapped_column(String(64))
    claimed_at: Mapped[datetime | None]
    lease_until: Mapped[datetime | None]
    sent_at: Mapped[datetime | None]
    sent_channel_id: Mapped[ChatId | None]
    sent_message_id: Mapped[ChatId | None]
    #: "channel", "dm", or "fallback" (a mention in the module channel when DMs are closed).
    delivered_via: Mapped[str | None] = mapped_column(String(16))
    last_error: Mapped[LongText | None]
    created_at: Mapped[Stamp]


class DmChannel(Base):
    """The DM channel of a chat user, so a direct message costs one request, not two."""

    __tablename__ = "dm_channels"

    platform_user_id: Mapped[ChatId] = mapped_column(primary_key=True)
    channel_id: Mapped[ChatId]
    updated_at: Mapped[Stamp]
