"""Personal data: a person's own export (JSON), erasure requests and pseudonymisation.

What an erasure does (documented in docs/gradebook.md):

- A member asks with ``/privacy erase``; the request is recorded (audit trail). A programme
  admin carries it out with ``/privacy erase-confirm``, because the exam board's records must be
  checked first (for example, marks not yet confirmed).
- The person's name becomes "Erased person <id>"; their Discord id and username, email, time
  zone, quiet hours, calendar token and reminder preferences are removed; pending notices to
  them are cancelled, and so are tutor messages not delivered yet; their dashboard sign-ins
  end. They are no longer recognised by the bot.
- Kept, because the exam board requires the mark records: the student number (the registry's
  key, so marks stay traceable to the student's official record), enrolments, the ledger,
  component marks, releases and the audit trail (append-only: it names people only by id, and
  by the label of who acted), and the assessed work itself (posts, submissions, reviews) which
  is evidence for the marks.

Peer review stays anonymous in an export: reviews a student wrote show the anonymous label
of the work, never its author; reviews they received show no reviewer, and only once the
exercise is released.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import delete, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from bot.access.permissions import Caller, require_admin
from bot.dashboard import privacy as dashboard_privacy
from bot.db.models import (
    Attendance,
    AuditEntry,
    CalendarEvent,
    ComponentMark,
    Contribution,
    ContributionRevision,
    DiscussionPrompt,
    DiscussionScore,
    DmChannel,
    Enrolment,
    EventOccurrence,
    ExerciseStatus,
    Extension,
    GroupMembership,
    LedgerEntry,
    MarkRelease,
    Module,
    Notice,
    NoticeStatus,
    OutboxMessage,
    OutboxState,
    PeerExercise,
    PeerResult,
    PeerReview,
    PeerSubmission,
    Person,
    ReviewAssignment,
    Rsvp,
    StudyGroup,
)
from bot.db.models import MarkScheme as MarkSchemeRow
from bot.delivery import DISCORD, Platform
from bot.errors import NotFound, UserError, shown
from bot.gradebook import audit
from bot.gradebook.export import ExportFile
from bot.personal_data import iso, rows
from bot.teams import privacy as team_privacy
from bot.timeparse import discord_timestamp

ERASURE_REQUESTED = "erasure_requested"
ERASED = "erased"

#: Every table that refers to a person, and how a personal-data export treats it. A test fails
#: when a new table refers to persons without being listed here, so nothing is silently left out.
PRIVACY_COVERAGE: dict[str, str] = {
    "persons": "exported: the profile",
    "enrolments": "exported",
    "group_memberships": "exported",
    "discussion_prompts": "exported: prompts the person created (staff)",
    "contributions": "exported with revisions",
    "contribution_revisions": "exported with their contribution",
    "discussion_scores": "exported (scores of the person; graded_by shown as a name)",
    "peer_exercises": "exported: exercises the person created (staff)",
    "peer_submissions": "exported",
    "review_assignments": "exported as reviewer only, without the author",
    "peer_reviews": "exported: written (no author) and received once released (no reviewer)",
    "peer_results": "exported once the exercise is released",
    "calendar_events": "exported: events the person created (staff)",
    "notices": "exported: notices addressed to the person",
    "outbox": "exported: messages owed to the person (feature, kind and state only)",
    "rsvps": "exported",
    "attendance": "exported",
    "extensions": "exported",
    "ledger_entries": "exported",
    "mark_schemes": "exported: schemes the person last changed (staff)",
    "component_marks": "exported",
    "mark_releases": "exported: releases the person made (staff)",
    "audit_log": "exported: entries about the person or by them (reviewer ids removed)",
    **team_privacy.COVERAGE,
    **dashboard_privacy.COVERAGE,
}


def _num(value: Decimal | None) -> str | None:
    return None if value is None else f"{value:f}"


def _strip_reviewers(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _strip_reviewers(v) for k, v in value.items() if "reviewer" not in k.lower()}
    if isinstance(value, list):
        return [_strip_reviewers(v) for v in value]
    return value


async def _own(session: AsyncSession, model: Any, pid: int, *order: Any) -> Sequence[Any]:
    """The person's rows of a table with a ``person_id``, in ``order``."""
    return (
        await session.scalars(select(model).where(model.person_id == pid).order_by(*order))
    ).all()


async def _tutorial_rows(
    session: AsyncSession, table: type[Rsvp] | type[Attendance], column: Any, pid: int
) -> Sequence[Any]:
    """(tutorial title, start, ``column``) of someone's rows in a per-occurrence table."""
    return await rows(
        session,
        select(CalendarEvent.title, EventOccurrence.starts_at, column)
        .join(EventOccurrence, EventOccurrence.id == table.occurrence_id)
        .join(CalendarEvent, CalendarEvent.id == EventOccurrence.event_id)
        .where(table.person_id == pid)
        .order_by(EventOccurrence.starts_at),
    )


async def _created_titles(
    session: AsyncSession,
    model: type[DiscussionPrompt] | type[PeerExercise] | type[CalendarEvent],
    pid: int,
) -> list[str]:
    """Titles of what someone created as staff, oldest first."""
    stmt = select(model.title).where(model.created_by_id == pid).order_by(model.id)
    return [t for (t,) in await rows(session, stmt)]


async def personal_data(session: AsyncSession, person: Person) -> dict[str, Any]:
    """Everything cohortbot holds about one person, as JSON-safe data."""
    pid = person.id
    data: dict[str, Any] = {
        "about": (
            "Everything cohortbot holds about you. Marks are provisional until released and "
            "confirmed by the exam board. Peer reviews never show who reviewed whom."
        ),
        "profile": {
            "id": pid,
            "display_name": person.display_name,
            "student_number": person.student_number,
            "email": person.email,
            "discord_user_id": person.platform_user_id,
            "discord_username": person.platform_username,
            "timezone": person.timezone,
            "dm_reminders": person.dm_reminders,
            "quiet_start": person.quiet_start.isoformat() if person.quiet_start else None,
            "quiet_end": person.quiet_end.isoformat() if person.quiet_end else None,
            "calendar_feed": "set" if person.calendar_token else "not set",
            "created_at": iso(person.created_at),
            "erased_at": iso(person.erased_at),
        },
    }
    data["enrolments"] = [
        {"module": code, "role": str(role), "status": str(status), "since": iso(created)}
        for code, role, status, created in await rows(
            session,
            select(Module.code, Enrolment.role, Enrolment.status, Enrolment.created_at)
            .join(Module, Module.id == Enrolment.module_id)
            .where(Enrolment.person_id == pid)
            .order_by(Module.code),
        )
    ]
    data["groups"] = [
        name
        for (name,) in await rows(
            session,
            select(StudyGroup.name)
            .join(GroupMembership, GroupMembership.group_id == StudyGroup.id)
            .where(GroupMembership.person_id == pid)
            .order_by(StudyGroup.name),
        )
    ]
    contributions = await _own(session, Contribution, pid, Contribution.created_at, Contribution.id)
    revisions: dict[int, list[dict[str, Any]]] = {}
    if contributions:
        for rev in (
            (
                await session.execute(
                    select(ContributionRevision)
                    .where(ContributionRevision.contribution_id.in_([c.id for c in contributions]))
                    .order_by(ContributionRevision.contribution_id, ContributionRevision.revision)
                )
            )
            .scalars()
            .all()
        ):
            revisions.setdefault(rev.contribution_id, []).append(
                {
                    "revision": rev.revision,
                    "content": rev.content,
                    "words": rev.words,
                    "replaced_at": iso(rev.replaced_at),
                }
            )
    prompt_titles = dict(await rows(session, select(DiscussionPrompt.id, DiscussionPrompt.title)))
    data["discussion_posts"] = [
        {
            "prompt": prompt_titles.get(c.prompt_id),
            "message_id": c.message_id,
            "reply_to": c.parent_message_id,
            "content": c.content,
            "words": c.words,
            "created_at": iso(c.created_at),
            "edited_at": iso(c.edited_at),
            "deleted_at": iso(c.deleted_at),
            "late": c.late,
            "earlier_versions": revisions.get(c.id, []),
        }
        for c in contributions
    ]
    data["discussion_scores"] = [
        {
            "prompt": prompt_titles.get(s.prompt_id),
            "score": _num(s.score),
            "quality_points": _num(s.quality_points),
            "feedback": s.feedback,
            "explanation": s.explanation,
            "updated_at": iso(s.updated_at),
        }
        for s in await _own(session, DiscussionScore, pid, DiscussionScore.prompt_id)
    ]
    exercises = {e.id: e for e in (await session.execute(select(PeerExercise))).scalars().all()}

    def exercise_title(eid: int) -> str | None:
        e = exercises.get(eid)
        return e.title if e else None

    def released(eid: int) -> bool:
        e = exercises.get(eid)
        return e is not None and (e.status == ExerciseStatus.RELEASED or e.released_at is not None)

    data["peer_submissions"] = [
        {
            "exercise": exercise_title(s.exercise_id),
            "version": s.version,
            "kind": str(s.kind),
            "content": s.content,
            "filename": s.filename,
            "size_bytes": s.size_bytes,
            "submitted_at": iso(s.submitted_at),
            "late": s.late,
            "current": s.is_current,
        }
        for s in await _own(
            session, PeerSubmission, pid, PeerSubmission.exercise_id, PeerSubmission.version
        )
    ]
    written = await rows(
        session,
        select(ReviewAssignment, PeerReview)
        .outerjoin(PeerReview, PeerReview.assignment_id == ReviewAssignment.id)
        .where(ReviewAssignment.reviewer_id == pid)
        .order_by(ReviewAssignment.exercise_id, ReviewAssignment.id),
    )
    data["reviews_assigned_to_you"] = [
        {
            "exercise": exercise_title(a.exercise_id),
            "work": a.anonymous_label,
            "status": str(a.status),
            "assigned_at": iso(a.assigned_at),
            "review": None
            if r is None
            else {
                "scores": r.scores,
                "comments": r.comments,
                "total": _num(r.total),
                "submitted_at": iso(r.submitted_at),
            },
        }
        for a, r in written
    ]
    received = await rows(
        session,
        select(ReviewAssignment.exercise_id, PeerReview)
        .join(PeerReview, PeerReview.assignment_id == ReviewAssignment.id)
        .where(ReviewAssignment.author_id == pid)
        .order_by(ReviewAssignment.exercise_id, PeerReview.submitted_at, PeerReview.id),
    )
    data["reviews_of_your_work"] = [
        {
            "exercise": exercise_title(eid),
            "scores": r.scores,
            "comments": r.comments,
            "total": _num(r.total),
        }
        for eid, r in received
        if released(eid)
    ]
    data["peer_results"] = [
        {
            "exercise": exercise_title(r.exercise_id),
            "final": _num(r.final),
            "median": _num(r.median),
            "moderated": _num(r.moderated),
            "moderation_reason": r.moderation_reason,
        }
        for r in await _own(session, PeerResult, pid, PeerResult.exercise_id)
        if released(r.exercise_id)
    ]
    data["tutorial_rsvps"] = [
        {"tutorial": title, "starts_at": iso(starts), "response": str(resp)}
        for title, starts, resp in await _tutorial_rows(session, Rsvp, Rsvp.response, pid)
    ]
    data["attendance"] = [
        {"tutorial": title, "starts_at": iso(starts), "checked_in_at": iso(at)}
        for title, starts, at in await _tutorial_rows(
            session, Attendance, Attendance.checked_in_at, pid
        )
    ]
    data["extensions"] = [
        {
            "item": (
                f"prompt {x.prompt_id}"
                if x.prompt_id
                else f"exercise {x.exercise_id}"
                if x.exercise_id
                else f"event {x.event_id}"
            ),
            "new_due_at": iso(x.new_due_at),
            "reason_ref": x.reason_ref,
            "status": str(x.status),
            "requested_at": iso(x.requested_at),
            "decided_at": iso(x.decided_at),
        }
        for x in await _own(session, Extension, pid, Extension.id)
    ]
    data["messages"] = [
        {
            "feature": feature,
            "kind": kind,
            "status": str(state),
            "created_at": iso(created),
            "sent_at": iso(sent),
        }
        for feature, kind, state, created, sent in await rows(
            session,
            select(
                OutboxMessage.feature,
                OutboxMessage.kind,
                OutboxMessage.state,
                OutboxMessage.created_at,
                OutboxMessage.sent_at,
            )
            .where(OutboxMessage.person_id == pid)
            .order_by(OutboxMessage.id),
        )
    ]
    data["notices"] = [
        {"kind": kind, "due_at": iso(due), "status": str(status), "sent_at": iso(sent)}
        for kind, due, status, sent in await rows(
            session,
            select(Notice.kind, Notice.due_at, Notice.status, Notice.sent_at)
            .where(Notice.person_id == pid)
            .order_by(Notice.due_at, Notice.id),
        )
    ]
    module_codes = dict(await rows(session, select(Module.id, Module.code)))
    data["participation_ledger"] = [
        {
            "module": module_codes.get(e.module_id),
            "source": str(e.source),
            "item": f"{e.item_type} {e.item_id}",
            "points": _num(e.points),
            "occurred_at": iso(e.occurred_at),
            "recorded_at": iso(e.recorded_at),
            "note": e.note,
        }
        for e in await _own(session, LedgerEntry, pid, LedgerEntry.occurred_at, LedgerEntry.id)
    ]
    data["component_marks"] = [
        {
            "module": module_codes.get(m.module_id),
            "component": m.component,
            "weight": _num(m.weight),
            "mark": _num(m.mark),
            "imported_at": iso(m.imported_at),
        }
        for m in await _own(
            session, ComponentMark, pid, ComponentMark.module_id, ComponentMark.component
        )
    ]
    data["audit_trail"] = [
        {
            "at": iso(e.at),
            "by": e.actor_label,
            "action": e.action,
            "entity": e.entity_type if e.entity_id is None else f"{e.entity_type} {e.entity_id}",
            "module": module_codes.get(e.module_id) if e.module_id else None,
            "before": _strip_reviewers(e.before),
            "after": _strip_reviewers(e.after),
            "reason": e.reason,
        }
        for e in (
            await session.execute(
                select(AuditEntry)
                .where(or_(AuditEntry.subject_person_id == pid, AuditEntry.actor_person_id == pid))
                .order_by(AuditEntry.at, AuditEntry.id)
            )
        )
        .scalars()
        .all()
        if not e.entity_type.lower().startswith(("review", "assignment"))
    ]
    data["created_as_staff"] = {
        "prompts": await _created_titles(session, DiscussionPrompt, pid),
        "peer_exercises": await _created_titles(session, PeerExercise, pid),
        "calendar_events": await _created_titles(session, CalendarEvent, pid),
        "mark_schemes_changed": [
            module_codes.get(m)
            for (m,) in await rows(
                session,
                select(MarkSchemeRow.module_id).where(MarkSchemeRow.updated_by_id == pid),
            )
        ],
        "releases": [
            f"{module_codes.get(m)} {t} {i}"
            for m, t, i in await rows(
                session,
                select(MarkRelease.module_id, MarkRelease.item_type, MarkRelease.item_id).where(
                    MarkRelease.released_by_id == pid
                ),
            )
        ],
    }
    data["project_teams"] = await team_privacy.personal_data(session, pid)
    data["dashboard"] = await dashboard_privacy.personal_data(session, pid)
    return data


async def export_personal_data(session: AsyncSession, caller: Caller, now: datetime) -> ExportFile:
    """The caller's own data as a JSON file (sent to them privately)."""
    data = await personal_data(session, caller.person)
    data["exported_at"] = now.isoformat()
    body = json.dumps(data, ensure_ascii=False, indent=2, sort_keys=False).encode("utf-8")
    counts = {k: len(v) for k, v in data.items() if isinstance(v, list)}
    held = " · ".join(f"{k.replace('_', ' ')} {n}" for k, n in counts.items() if n)
    summary = (
        "Here is everything cohortbot holds about you, as JSON (only you see this). "
        f"Records: {held or 'your profile only'}."
    )
    return ExportFile(f"cohortbot-data-{caller.person.id}.json", body, 1, len(data), summary)


# --------------------------------------------------------------------------- erasure


@dataclass(frozen=True)
class ErasureRequested:
    already: bool
    at: datetime
    platform: Platform = DISCORD

    @property
    def text(self) -> str:
        when = discord_timestamp(self.at, "F")
        first = (
            f"Your erasure request of {when} is already on record"
            if self.already
            else "Your erasure request is recorded"
        )
        return (
            f"{first}; a programme admin will carry it out. Your name, email and "
            f"{self.platform.name} identity will be removed; your marks records are kept "
            "under your student number "
            "because the exam board requires them. Download your data first with /privacy export."
        )


async def request_erasure(
    session: AsyncSession, caller: Caller, now: datetime, platform: Platform = DISCORD
) -> ErasureRequested:
    pid = caller.person.id
    previous = (
        await session.execute(
            select(AuditEntry.at)
            .where(
                AuditEntry.subject_person_id == pid,
                AuditEntry.entity_type == "person",
                AuditEntry.action == ERASURE_REQUESTED,
            )
            .order_by(AuditEntry.at)
        )
    ).first()
    if previous is not None:
        return ErasureRequested(True, previous[0], platform)
    await audit.record(
        session,
        actor=caller.person,
        actor_label=f"person {pid} (self)",
        action=ERASURE_REQUESTED,
        entity_type="person",
        entity_id=pid,
        subject_person_id=pid,
        reason="requested with /privacy erase",
        at=now,
    )
    return ErasureRequested(False, now, platform)


@dataclass(frozen=True)
class Erased:
    person_id: int
    pseudonym: str
    student_number: str | None
    had_request: bool
    notices_cancelled: int

    @property
    def text(self) -> str:
        request = (
            "as they requested"
            if self.had_request
            else "(no request was on record; the reason is in the audit trail)"
        )
        number = f" student number {self.student_number}," if self.student_number else ""
        return (
            f"Erased the personal data of person {self.person_id} {request}: they are now "
            f"{self.pseudonym!r};{number} marks records kept for the exam board; "
            f"{self.notices_cancelled} pending notices cancelled."
        )


async def find_person(
    session: AsyncSession, cohort_id: int, ref: str, platform: Platform = DISCORD
) -> Person:
    """A person of the cohort by student number, the platform's handle or its user id."""
    text = ref.strip().lstrip("@")
    if not text:
        raise UserError(
            f"Name the person by student number, {platform.handle} or {platform.user_id}."
        )
    in_cohort = (
        select(Enrolment.person_id)
        .join(Module, Module.id == Enrolment.module_id)
        .where(Module.cohort_id == cohort_id)
    )
    candidates = (
        (
            await session.execute(
                select(Person).where(
                    Person.id.in_(in_cohort),
                    or_(
                        Person.student_number == text,
                        Person.platform_username == text.lower(),
                        Person.platform_user_id == text,
                    ),
                )
            )
        )
        .scalars()
        .all()
    )
    if len(candidates) != 1:
        raise NotFound(
            f"Nobody in this cohort has the student number, {platform.handle} or id {shown(text)}."
        )
    return candidates[0]


async def confirm_erasure(
    session: AsyncSession,
    caller: Caller,
    ref: str,
    reason: str | None,
    now: datetime,
    platform: Platform = DISCORD,
) -> Erased:
    """Pseudonymise a person (admins only); the mark records stay."""
    require_admin(caller)
    person = await find_person(session, caller.cohort_id, ref, platform)
    if person.erased_at is not None:
        raise UserError(f"Person {person.id} was already erased on {person.erased_at:%Y-%m-%d}.")
    if person.id == caller.person.id:
        raise UserError("You cannot erase yourself; ask another programme admin.")
    requested = (
        await session.execute(
            select(AuditEntry.id).where(
                AuditEntry.subject_person_id == person.id,
                AuditEntry.action == ERASURE_REQUESTED,
            )
        )
    ).first()
    before = {
        "display_name": "(removed)",
        "email": "set" if person.email else "not set",
        "discord": "set" if person.platform_user_id or person.platform_username else "not set",
    }
    pseudonym = f"Erased person {person.id}"
    if person.platform_user_id is not None:
        await session.execute(
            delete(DmChannel).where(DmChannel.platform_user_id == person.platform_user_id)
        )
    await session.execute(
        update(OutboxMessage)
        .where(OutboxMessage.person_id == person.id, OutboxMessage.state == OutboxState.PENDING)
        .values(state=OutboxState.CANCELLED)
    )
    person.display_name = pseudonym
    person.email = None
    person.platform_user_id = None
    person.platform_username = None
    person.timezone = None
    person.quiet_start = None
    person.quiet_end = None
    person.calendar_token = None
    person.dm_reminders = False
    person.erased_at = now
    await team_privacy.erase(session, person.id)
    await dashboard_privacy.erase(session, person.id)
    cancelled = await session.execute(
        update(Notice)
        .where(
            Notice.person_id == person.id,
            Notice.status.in_([NoticeStatus.PENDING, NoticeStatus.FAILED]),
        )
        .values(status=NoticeStatus.CANCELLED)
    )
    await session.flush()
    await audit.record(
        session,
        actor=caller.person,
        action=ERASED,
        entity_type="person",
        entity_id=person.id,
        subject_person_id=person.id,
        before=before,
        after={"display_name": pseudonym, "student_number": "kept", "marks": "kept"},
        reason=reason or ("erasure request" if requested else "erased by an admin"),
        at=now,
    )
    return Erased(
        person.id,
        pseudonym,
        person.student_number,
        requested is not None,
        int(getattr(cancelled, "rowcount", 0) or 0),
    )
