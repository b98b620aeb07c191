"""What the dashboard sends: a sign-in link to whoever asked, a tutor's message to a student.

Both go out as direct messages through ``send_dm``, the one place the dashboard talks to the
chat platform (the outbox replaces it later). A tutor's message is written and audited in one
transaction before it is sent, and its delivery (or why it failed) recorded after.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.access.permissions import Caller
from bot.chat import ChatError, ChatPort, OutgoingMessage, Posted
from bot.dashboard.reads import Viewer, module_export, programme_export
from bot.dashboard.signin import create_link, signing_key
from bot.db.engine import Database
from bot.db.models import Cohort, Enrolment, EnrolmentStatus, Person, Role, TutorMessage
from bot.errors import NotFound, PermissionDenied, UserError
from bot.gradebook import audit
from bot.gradebook.export import ExportFile

__all__ = [
    "MAX_MESSAGE",
    "MessageOutcome",
    "SignInLink",
    "download_export",
    "request_link",
    "send_dm",
    "send_tutor_message",
]

MAX_MESSAGE = 1500


async def send_dm(chat: ChatPort, platform_user_id: str, text: str) -> Posted:
    """The dashboard's only way out to the chat platform (to be replaced by the outbox)."""
    return await chat.dm(platform_user_id, OutgoingMessage(text=text))


@dataclass(frozen=True)
class SignInLink:
    url: str
    expires_at: datetime

    def text(self) -> str:
        return (
            "Your cohortbot dashboard sign-in link (works once, for 10 minutes; "
            f"do not share it):\n{self.url}"
        )


async def request_link(
    session: AsyncSession,
    caller: Caller,
    cohort: Cohort,
    *,
    now: datetime,
    secret: str | None,
    public_url: str,
) -> SignInLink:
    """``/dashboard``: a single-use link for the caller (anyone on the roster)."""
    from sqlalchemy.ext.asyncio import AsyncSession

    assert isinstance(session, AsyncSession)
    key = await signing_key(session, secret)
    url, expires = await create_link(
        session,
        key,
        person_id=caller.person.id,
        cohort_id=cohort.id,
        now=now,
        public_url=public_url,
    )
    return SignInLink(url, expires)


@dataclass(frozen=True)
class MessageOutcome:
    recipient: str
    delivered: bool
    detail: str


async def send_tutor_message(
    db: Database,
    chat: ChatPort,
    viewer: Viewer,
    *,
    module_id: int,
    recipient_id: int,
    text: str,
    now: datetime,
) -> MessageOutcome:
    """A tutor's message to one of their module's students, from the at-risk list; audited."""
    body = text.strip()
    if not body:
        raise UserError("Write a message first.")
    if len(body) > MAX_MESSAGE:
        raise UserError(f"A message can be at most {MAX_MESSAGE} characters.")
    if any(ord(ch) < 32 and ch not in "\n\t" for ch in body):
        raise UserError("The message contains control characters.")
    if not viewer.may_see_module(module_id):
        raise PermissionDenied("Only the module's tutors and the programme admins can do that.")
    async with db.session() as session:
        row = (
            await session.execute(
                select(Person, Enrolment.module_id)
                .join(Enrolment, Enrolment.person_id == Person.id)
                .where(
                    Person.id == recipient_id,
                    Enrolment.module_id == module_id,
                    Enrolment.role == Role.STUDENT,
                    Enrolment.status == EnrolmentStatus.ACTIVE,
                    Person.erased_at.is_(None),
                )
            )
        ).first()
        if row is None:
            raise NotFound("That person is not a student of this module.")
        student = row[0]
        sender = await session.get(Person, viewer.person_id)
        message = TutorMessage(
            module_id=module_id,
            sender_id=viewer.person_id,
            recipient_id=student.id,
            text=body,
            created_at=now,
        )
        session.add(message)
        await session.flush()
        await audit.record(
            session,
            actor=sender,
            action="dashboard_message",
            entity_type="tutor_message",
            entity_id=message.id,
            subject_person_id=student.id,
            module_id=module_id,
            after={"text": body},
            at=now,
        )
        message_id = message.id
        name, platform_id = student.display_name, student.platform_user_id
        sender_name = sender.display_name if sender else "Your tutor"
    outcome: MessageOutcome
    posted: Posted | None = None
    error: str | None = None
    if platform_id is None:
        error = "they have not linked a chat account yet"
    else:
        try:
            posted = await send_dm(chat, platform_id, f"Message from {sender_name}:\n{body}")
        except ChatError as exc:
            error = (
                "they do not accept direct messages"
                if exc.kind.value == "dm_closed"
                else f"the chat platform refused it ({exc.kind.value})"
            )
    async with db.session() as session:
        stored = await session.get(TutorMessage, message_id)
        assert stored is not None
        if posted is not None:
            stored.sent_at = now
            stored.platform_message_id = posted.message_id
        else:
            stored.error = error
    if posted is not None:
        outcome = MessageOutcome(name, True, f"Message sent to {name}.")
    else:
        outcome = MessageOutcome(name, False, f"The message to {name} was not delivered: {error}.")
    return outcome


async def download_export(
    db: Database, viewer: Viewer, *, module_id: int | None, fmt: str, now: datetime
) -> ExportFile:
    """A module's gradebook file (``module_id`` None: the whole cohort's, admins only) from the
    dashboard; audited like ``/gradebook export``."""
    async with db.session() as session:
        if module_id is None:
            file = await programme_export(session, viewer, fmt, now)
        else:
            file = await module_export(session, viewer, module_id, fmt, now)
        await audit.record(
            session,
            actor=await session.get(Person, viewer.person_id),
            action="dashboard_export",
            entity_type="gradebook_export",
            entity_id=None,
            module_id=module_id,
            after={"file": file.filename, "students": file.students},
            at=now,
        )
    return file
