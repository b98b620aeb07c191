"""The student page: one student's evidence, ledger, extensions and notices."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.dashboard.viewer import NOT_YOURS, STUDENT_ONLY_OWN, Viewer
from bot.db.models import (
    CalendarEvent,
    Contribution,
    DiscussionPrompt,
    Enrolment,
    EventOccurrence,
    Extension,
    LedgerEntry,
    Module,
    Notice,
    NoticeStatus,
    PeerExercise,
    PeerSubmission,
    Person,
    Role,
    Rsvp,
    TutorMessage,
)
from bot.errors import NotFound, PermissionDenied
from bot.insights.service import activities


@dataclass(frozen=True)
class Evidence:
    at: datetime
    module_code: str
    kind: str
    detail: str


@dataclass(frozen=True)
class LedgerLine:
    at: datetime
    module_code: str
    source: str
    points: Decimal
    ref: str


@dataclass(frozen=True)
class ExtensionLine:
    item: str
    new_due_at: datetime
    status: str


@dataclass(frozen=True)
class NoticeLine:
    at: datetime
    kind: str
    text: str


@dataclass
class StudentPage:
    person_id: int
    name: str
    student_number: str | None
    modules: list[str]
    timeline: list[Evidence]
    ledger: list[LedgerLine]
    extensions: list[ExtensionLine]
    notices: list[NoticeLine]
    own: bool
    message_module_id: int | None = None


#: How the timeline shows each kind of activity (``insights.service.activities`` order): its
#: name, the columns it adds, and its line from the title and those columns.
_TIMELINE: tuple[tuple[str, tuple[Any, ...], Callable[..., str]], ...] = (
    (
        "post",
        (Contribution.words, Contribution.late),
        lambda title, words, late: f"{title} ({words} words{', late' if late else ''})",
    ),
    ("submission", (PeerSubmission.late,), lambda title, late: title + (" (late)" if late else "")),
    ("review", (), lambda title: f"reviewed a peer's {title}"),
    ("check-in", (), lambda title: title),
    (
        "RSVP",
        (Rsvp.response, EventOccurrence.starts_at),
        lambda title, response, starts: (
            f"{str(response).replace('_', ' ')}: {title} {starts:%d %b}"
        ),
    ),
)


async def student_page(
    session: AsyncSession, viewer: Viewer, person_id: int, now: datetime
) -> StudentPage:
    """A student's evidence, ledger, extensions and notices, limited to modules the viewer may
    see (their own page: all their modules)."""
    own = viewer.person_id == person_id
    if not own and not viewer.is_staff:
        raise PermissionDenied(STUDENT_ONLY_OWN)
    person = await session.get(Person, person_id)
    if person is None or person.erased_at is not None:
        raise NotFound("There is no such student.")
    enrolled = {
        mid: code
        for mid, code in (
            await session.execute(
                select(Module.id, Module.code)
                .join(Enrolment, Enrolment.module_id == Module.id)
                .where(
                    Enrolment.person_id == person_id,
                    Enrolment.role == Role.STUDENT,
                    Module.cohort_id == viewer.cohort_id,
                )
            )
        ).all()
    }
    visible = enrolled if own else {m: c for m, c in enrolled.items() if viewer.may_see_module(m)}
    if not visible:
        if own:
            raise PermissionDenied(STUDENT_ONLY_OWN if not viewer.is_staff else NOT_YOURS)
        raise PermissionDenied(NOT_YOURS)
    ids = list(visible)
    timeline: list[Evidence] = []
    for query, (kind, extra, detail) in zip(activities(), _TIMELINE, strict=True):
        pid_col, _at_col, module_col = query.selected_columns[:3]
        rows = await session.execute(
            query.add_columns(*extra).where(pid_col == person_id, module_col.in_(ids))
        )
        for _pid, at, mid, title, *more in rows.all():
            timeline.append(Evidence(at, visible[mid], kind, detail(title, *more)))
    timeline.sort(key=lambda e: e.at, reverse=True)
    ledger = [
        LedgerLine(at, visible[mid], str(source).replace("_", " "), points, ref)
        for at, mid, source, points, ref in (
            await session.execute(
                select(
                    LedgerEntry.occurred_at,
                    LedgerEntry.module_id,
                    LedgerEntry.source,
                    LedgerEntry.points,
                    LedgerEntry.source_ref,
                )
                .where(LedgerEntry.person_id == person_id, LedgerEntry.module_id.in_(ids))
                .order_by(LedgerEntry.occurred_at.desc(), LedgerEntry.id.desc())
            )
        ).all()
    ]
    extensions: list[ExtensionLine] = []
    ext_rows = await session.execute(
        select(Extension, DiscussionPrompt.title, PeerExercise.title, CalendarEvent.title)
        .outerjoin(DiscussionPrompt, DiscussionPrompt.id == Extension.prompt_id)
        .outerjoin(PeerExercise, PeerExercise.id == Extension.exercise_id)
        .outerjoin(CalendarEvent, CalendarEvent.id == Extension.event_id)
        .where(
            Extension.person_id == person_id,
            func.coalesce(
                DiscussionPrompt.module_id, PeerExercise.module_id, CalendarEvent.module_id
            ).in_(ids),
        )
        .order_by(Extension.requested_at.desc())
    )
    for ext, p_title, e_title, c_title in ext_rows.all():
        item = p_title or e_title or c_title or "an item"
        extensions.append(ExtensionLine(item, ext.new_due_at, str(ext.status)))
    notices: list[NoticeLine] = []
    for at, kind, payload in (
        await session.execute(
            select(Notice.sent_at, Notice.kind, Notice.payload).where(
                Notice.person_id == person_id,
                Notice.status == NoticeStatus.SENT,
                Notice.module_id.in_(ids),
            )
        )
    ).all():
        text = str(payload.get("title") or payload.get("text") or "") if payload else ""
        notices.append(NoticeLine(at, kind.replace("_", " "), text))
    for at, text, error in (
        await session.execute(
            select(TutorMessage.created_at, TutorMessage.text, TutorMessage.error).where(
                TutorMessage.recipient_id == person_id, TutorMessage.module_id.in_(ids)
            )
        )
    ).all():
        kind = "message from a tutor" + (" (not delivered)" if error else "")
        notices.append(NoticeLine(at, kind, text))
    notices.sort(key=lambda n: n.at or now, reverse=True)
    staff_module = next((m for m in ids if viewer.may_see_module(m)), None)
    return StudentPage(
        person.id,
        person.display_name,
        person.student_number,
        sorted(visible.values()),
        timeline,
        ledger,
        extensions,
        notices,
        own,
        staff_module if not own else None,
    )
