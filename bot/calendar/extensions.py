"""Extensions of a submission deadline for one student: the effective due time, grants,
requests and tutors' decisions.

Kept apart from the deadlines so the cross-feature "due / late / extended" rule can replace
this module alone.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from bot import due as rule
from bot.access.identity import ChatUser
from bot.access.permissions import Caller, module_by_code, require_staff, require_student
from bot.calendar import messages as M
from bot.calendar import planning as P
from bot.calendar.lookups import _deadline_occurrence, _event
from bot.db.models import (
    CalendarEvent,
    Cohort,
    EventKind,
    Extension,
    ExtensionStatus,
    Module,
    Notice,
    NoticeAudience,
    NoticeStatus,
    Person,
)
from bot.delivery import Delivery, Missed, reason_of
from bot.due import text as due_text
from bot.errors import NotFound, UserError
from bot.gradebook import audit
from bot.timeparse import discord_timestamp, parse_instant, user_input


async def effective_due(
    session: AsyncSession, event: CalendarEvent, person_id: int
) -> tuple[datetime, rule.Grant | None]:
    """The instant that applies to one student and the extension behind it (``bot.due``: their
    latest approved extension, when it ends after the deadline, else the deadline)."""
    answer = await rule.due_for(session, rule.deadline_item(event), person_id)
    return answer.due_at, answer.extension


async def _due_ignoring(
    session: AsyncSession, event: CalendarEvent, person_id: int, ignored_id: int
) -> datetime:
    """The student's due time as if extension ``ignored_id`` did not exist (the one decided)."""
    item = rule.deadline_item(event)
    grants = await rule.load_grants(session, [item], [person_id])
    kept = [g for g in grants.of(item.kind, item.id, person_id) if g.id != ignored_id]
    return rule.due(item, person_id, kept).due_at


async def is_late(
    session: AsyncSession, event: CalendarEvent, person_id: int, submitted_at: datetime
) -> bool:
    due_at, _ = await effective_due(session, event, person_id)
    return rule.is_late(submitted_at, due_at)


@dataclass(frozen=True)
class ExtensionResult(due_text.Extended):
    title: str
    approved: bool
    next_due_at: datetime | None

    def render(self) -> str:
        """What was decided; whether the student was told is added from ``notices_delivery``."""
        if not self.approved:
            return (
                f"Extension request #{self.extension_id} from {self.student} for "
                f"**{self.title}** denied."
            )
        return self.granted_text(
            f"**{self.title}**", "Their reminders and late flag follow the new time."
        )

    @property
    def notice_keys(self) -> tuple[str, ...]:
        """The notice telling the student: ``notices_delivery`` says whether it reached them."""
        kind = M.EXTENSION_GRANTED if self.approved else M.EXTENSION_DENIED
        return (f"{kind}:x{self.extension_id}",)


async def _request(
    session: AsyncSession,
    person: Person,
    event: CalendarEvent,
    new_due: datetime,
    reason_ref: str,
    now: datetime,
) -> Extension:
    """A student's request waits for a tutor (a tutor's grant goes through ``bot.due.grant``)."""
    extension = Extension(
        person_id=person.id,
        event_id=event.id,
        new_due_at=new_due,
        reason_ref=reason_ref,
        status=ExtensionStatus.REQUESTED,
        requested_at=now,
    )
    session.add(extension)
    await session.flush()
    return extension


async def _settle(
    session: AsyncSession,
    extension: Extension,
    event: CalendarEvent,
    module: Module,
    student: Person,
    actor: Person,
    was_at: datetime,
    now: datetime,
    *,
    granted: bool,
) -> ExtensionResult:
    """What follows a decision, the same whether a tutor granted directly or decided a request:
    a grant moves the student's reminders; either way the student is told and it is audited."""
    planner = P.Planner()
    occ = await _deadline_occurrence(session, event)
    if granted:
        await P.cancel_pending(
            session,
            occurrence_ids=[occ.id],
            kinds=[M.DEADLINE_NOTICE],
            person_id=student.id,
        )
        planner.add(
            P.plan_deadline_person(
                event,
                module,
                occ,
                student,
                now=now,
                audience=NoticeAudience.PERSON,
                extended_due_at=extension.new_due_at,
            )
        )
    kind = M.EXTENSION_GRANTED if granted else M.EXTENSION_DENIED
    new_due = {"due_at": extension.new_due_at.isoformat()} if granted else {}
    planner.add(
        P.immediate(
            key=f"{kind}:x{extension.id}",
            kind=kind,
            audience=NoticeAudience.PERSON,
            module_id=module.id,
            now=now,
            person_id=student.id,
            occurrence_id=occ.id,
            payload={
                "title": event.title,
                "module": module.code,
                **new_due,
                "was_at": was_at.isoformat(),
                "reason_ref": extension.reason_ref,
                "extension_id": extension.id,
            },
        )
    )
    if granted:
        item = f"deadline:{event.id}"
        before = {"due_at": was_at, "item": item}
        after = {"due_at": extension.new_due_at, "item": item}
    else:
        before = {"due_at": was_at, "requested": extension.new_due_at}
        after = {"due_at": was_at}
    await audit.record(
        session,
        actor=actor,
        action="extension_granted" if granted else "extension_denied",
        entity_type="extension",
        entity_id=extension.id,
        subject_person_id=student.id,
        module_id=module.id,
        before=before,
        after=after,
        reason=extension.reason_ref,
        at=now,
    )
    await planner.flush(session)
    return ExtensionResult(
        extension_id=extension.id,
        student=student.display_name,
        module_code=module.code,
        due_at=extension.new_due_at if granted else was_at,
        was_at=was_at,
        title=event.title,
        approved=granted,
        next_due_at=planner.earliest,
    )


async def grant_extension(
    session: AsyncSession,
    caller: Caller,
    cohort: Cohort,
    *,
    event_id: int,
    student: ChatUser,
    due: str,
    reason: str,
    now: datetime,
) -> ExtensionResult:
    event, module = await _event(
        session, cohort.id, event_id, {EventKind.SUBMISSION_DEADLINE}, "submission deadline"
    )
    require_staff(caller, module)
    person = await rule.extension_student(session, module, student)
    reason_ref = rule.clean_reason(reason)
    with user_input():
        new_due = parse_instant(due, cohort.timezone, now=now)
    item = rule.deadline_item(event)
    # Approved now, and the student's earlier grants on this deadline are superseded.
    granted = await rule.grant_later(
        session,
        item,
        person.id,
        new_due,
        refusal=f"An extension must end after the deadline it extends "
        f"({discord_timestamp(event.starts_at)}); give a later time.",
        reason_ref=reason_ref,
        decided_by_id=caller.person.id,
        now=now,
    )
    return await _settle(
        session,
        granted.extension,
        event,
        module,
        person,
        caller.person,
        granted.was.due_at,
        now,
        granted=True,
    )


@dataclass(frozen=True)
class RequestResult:
    extension_id: int
    title: str
    due_at: datetime
    tutors: int
    next_due_at: datetime | None
    #: The notices asking each tutor: ``notices_delivery`` says which reached them.
    notice_keys: tuple[str, ...] = ()

    def render(self) -> str:
        return (
            f"Extension request #{self.extension_id} for **{self.title}** (until "
            f"{discord_timestamp(self.due_at)}) is with the module's tutors. You will be told "
            "privately when they decide."
        )


async def notices_delivery(session: AsyncSession, keys: Sequence[str]) -> Delivery:
    """Which of these personal notices reached their reader by DM, as the engine recorded.

    A mention in the module channel (DMs closed) is not counted as told privately.
    """
    if not keys:
        return Delivery(0)
    rows = await session.execute(
        select(Person.display_name, Notice.status, Notice.delivered_via, Notice.last_error)
        .join(Person, Person.id == Notice.person_id)
        .where(Notice.dedupe_key.in_(list(keys)))
    )
    told, pending, missed = 0, 0, []
    for name, status, via, error in rows.all():
        if status is NoticeStatus.SENT and via == "dm":
            told += 1
        elif status in (NoticeStatus.PENDING, NoticeStatus.CLAIMED):
            pending += 1
        else:
            missed.append(Missed(name, reason_of(error or "")))
    return Delivery(told, tuple(missed), pending)


async def request_extension(
    session: AsyncSession,
    caller: Caller,
    *,
    event_id: int,
    due: str,
    reason: str,
    now: datetime,
) -> RequestResult:
    event, module = await _event(
        session,
        caller.cohort_id,
        event_id,
        {EventKind.SUBMISSION_DEADLINE},
        "submission deadline",
    )
    require_student(caller, module)
    person = caller.person
    reason_ref = rule.clean_reason(reason)
    cohort_zone = event.timezone
    with user_input():
        new_due = parse_instant(due, cohort_zone, now=now)
    current, _ = await effective_due(session, event, person.id)
    if not rule.extends(current, new_due):
        raise UserError(
            f"Ask for a time after your current deadline ({discord_timestamp(current)})."
        )
    pending = (
        await session.execute(
            select(Extension.id).where(
                Extension.event_id == event.id,
                Extension.person_id == person.id,
                Extension.status == ExtensionStatus.REQUESTED,
            )
        )
    ).scalar()
    if pending is not None:
        raise UserError(
            f"You already have a pending request (#{pending}) for {event.title}; wait for the "
            "tutors' decision."
        )
    tutors = await P.module_tutors(session, module.id)
    if not tutors:
        raise UserError(
            f"{module.code} has no tutor on the roster to decide; contact the programme office."
        )
    extension = await _request(session, person, event, new_due, reason_ref, now)
    occ = await _deadline_occurrence(session, event)
    planner = P.Planner()
    keys = tuple(f"{M.EXTENSION_REQUEST}:x{extension.id}:p{tutor.id}" for tutor in tutors)
    for key, tutor in zip(keys, tutors, strict=True):
        planner.add(
            P.immediate(
                key=key,
                kind=M.EXTENSION_REQUEST,
                audience=NoticeAudience.TUTORS,
                module_id=module.id,
                now=now,
                person_id=tutor.id,
                occurrence_id=occ.id,
                payload={
                    "title": event.title,
                    "module": module.code,
                    "student": person.display_name,
                    "due_at": new_due.isoformat(),
                    "was_at": current.isoformat(),
                    "reason_ref": reason_ref,
                    "extension_id": extension.id,
                },
            )
        )
    await planner.flush(session)
    return RequestResult(
        extension.id, event.title, new_due, len(tutors), planner.earliest, notice_keys=keys
    )


async def decide_extension(
    session: AsyncSession,
    caller: Caller,
    *,
    extension_id: int,
    approve: bool,
    now: datetime,
) -> ExtensionResult:
    """A tutor's decision on a request: the first decision wins; the path is the grant's."""
    row = (
        await session.execute(
            select(Extension, CalendarEvent, Module, Person)
            .join(CalendarEvent, CalendarEvent.id == Extension.event_id)
            .join(Module, Module.id == CalendarEvent.module_id)
            .join(Person, Person.id == Extension.person_id)
            .where(Extension.id == extension_id, Module.cohort_id == caller.cohort_id)
        )
    ).first()
    if row is None:
        raise NotFound(f"There is no extension request #{extension_id} in this cohort.")
    extension, event, module, student = row
    require_staff(caller, module)
    if approve:  # a student who withdrew since asking gets no new extension
        await rule.require_eligible(session, module, student)
    status = ExtensionStatus.APPROVED if approve else ExtensionStatus.DENIED
    won = (
        await session.execute(
            update(Extension)
            .where(Extension.id == extension.id, Extension.status == ExtensionStatus.REQUESTED)
            .values(status=status, decided_by_id=caller.person.id, decided_at=now)
            .returning(Extension.id)
        )
    ).first()
    if won is None:
        await session.refresh(extension)
        decider = (
            await session.get(Person, extension.decided_by_id) if extension.decided_by_id else None
        )
        who = f" by {decider.display_name}" if decider is not None else ""
        raise UserError(
            f"Request #{extension_id} was already {extension.status.value}{who}; nothing changed."
        )
    await session.refresh(extension)
    # The approval just written is not counted as "was" (a denial is not counted anyway).
    was_at = await _due_ignoring(session, event, student.id, extension.id)
    if approve:  # the latest approval applies; the student's earlier ones are superseded
        await rule.supersede(session, extension)
    return await _settle(
        session, extension, event, module, student, caller.person, was_at, now, granted=approve
    )


@dataclass(frozen=True)
class PendingRequest:
    extension_id: int
    student: str
    title: str
    due_at: datetime
    reason_ref: str


@dataclass(frozen=True)
class PendingRequests:
    module_code: str
    items: list[PendingRequest] = field(default_factory=list)

    def render(self) -> str:
        if not self.items:
            return f"No pending extension requests in {self.module_code}."
        lines = [f"Pending extension requests in {self.module_code}:"]
        for r in self.items:
            lines.append(
                f"• #{r.extension_id} {r.student}: **{r.title}** until "
                f"{discord_timestamp(r.due_at)} (ref {r.reason_ref})"
            )
        lines.append("Decide with `/deadline decide request:<number> decision:approve|deny`.")
        return "\n".join(lines)


async def pending_requests(
    session: AsyncSession, caller: Caller, cohort: Cohort, *, module_code: str
) -> PendingRequests:
    module = await module_by_code(session, cohort.id, module_code)
    require_staff(caller, module)
    rows = (
        await session.execute(
            select(Extension, CalendarEvent.title, Person.display_name)
            .join(CalendarEvent, CalendarEvent.id == Extension.event_id)
            .join(Person, Person.id == Extension.person_id)
            .where(
                CalendarEvent.module_id == module.id,
                Extension.status == ExtensionStatus.REQUESTED,
            )
            .order_by(Extension.requested_at, Extension.id)
        )
    ).all()
    return PendingRequests(
        module.code,
        [
            PendingRequest(ext.id, name, title, ext.new_due_at, ext.reason_ref)
            for ext, title, name in rows
        ],
    )
