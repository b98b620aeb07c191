"""What the dashboard sends: a sign-in link to whoever asked, a tutor's message to a student,
the weekly digest (``digest``).

Everything goes out through the outbox (``bot.outbox``), enqueued in the transaction that
decided it: a tutor's message is written, audited and enqueued together (key: its row id), so
it is sent once even if the process dies, and the outbox's hooks record its delivery (or why
it failed) on the row. A sign-in link's DM carries a live credential: once sent (or given up)
the outbox keeps only a placeholder of its text.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncSession

from bot import outbox
from bot.access.permissions import Caller, roster_people
from bot.chat import ChatErrorKind
from bot.dashboard.reads import Viewer, module_export, programme_export
from bot.dashboard.signin import create_link, link_id_of, signing_key
from bot.db.engine import Database
from bot.db.models import (
    Cohort,
    OutboxMessage,
    Person,
    Role,
    TutorMessage,
)
from bot.delivery import NOT_LINKED, OTHER, reason_of
from bot.errors import NotFound, PermissionDenied, UserError
from bot.gradebook import audit
from bot.gradebook.export import ExportFile
from bot.outbox import Message, Outcome

__all__ = [
    "FEATURE",
    "MAX_MESSAGE",
    "MessageOutcome",
    "QueuedMessage",
    "SignInLink",
    "download_export",
    "message_outcome",
    "request_link",
    "send_tutor_message",
    "tutor_message_key",
]

MAX_MESSAGE = 1500
#: The outbox feature of everything the dashboard sends; kinds below.
FEATURE = "dashboard"
SIGN_IN_LINK = "sign_in_link"
TUTOR_MESSAGE = "tutor_message"
DIGEST = "digest"
#: What the outbox keeps of a sign-in link's DM once it is sent or given up.
LINK_REMOVED = "(a dashboard sign-in link; removed once sent)"


def tutor_message_key(message_id: int) -> str:
    return f"dashboard:message:{message_id}"


@dataclass(frozen=True)
class SignInLink:
    url: str
    expires_at: datetime
    #: The outbox message carrying it to the caller by DM.
    message_key: str

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
    """``/dashboard``: a single-use link for the caller (anyone on the roster), enqueued to
    them by DM in the transaction that creates it."""
    key = await signing_key(session, secret)
    url, expires = await create_link(
        session,
        key,
        person_id=caller.person.id,
        cohort_id=cohort.id,
        now=now,
        public_url=public_url,
    )
    link_id = link_id_of(url)
    link = SignInLink(url, expires, f"dashboard:link:{link_id}")
    await outbox.enqueue(
        session,
        [
            Message(
                key=link.message_key,
                feature=FEATURE,
                kind=SIGN_IN_LINK,
                text=link.text(),
                person_id=caller.person.id,
                ref_id=link_id,
            )
        ],
        now,
    )
    return link


@dataclass(frozen=True)
class MessageOutcome:
    recipient: str
    delivered: bool
    detail: str
    #: Not sent yet (the chat platform is slow or retrying): it goes out, once.
    pending: bool = False


@dataclass(frozen=True)
class QueuedMessage:
    """A tutor message written and enqueued; ``message_outcome`` says what became of it."""

    message_id: int
    key: str
    recipient: str


async def send_tutor_message(
    db: Database,
    viewer: Viewer,
    *,
    module_id: int,
    recipient_id: int,
    text: str,
    now: datetime,
) -> QueuedMessage:
    """A tutor's message to one of their module's students, from the at-risk list; written,
    audited and enqueued in one transaction, so it is sent exactly once."""
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
        student = (
            await session.scalars(
                roster_people(module_id, Role.STUDENT).where(Person.id == recipient_id)
            )
        ).first()
        if student is None:
            raise NotFound("That person is not a student of this module.")
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
        await audit.record_of(
            session,
            sender,
            "dashboard_message",
            message,
            subject_person_id=student.id,
            module_id=module_id,
            after={"text": body},
            at=now,
        )
        sender_name = sender.display_name if sender else "Your tutor"
        key = tutor_message_key(message.id)
        await outbox.enqueue(
            session,
            [
                Message(
                    key=key,
                    feature=FEATURE,
                    kind=TUTOR_MESSAGE,
                    text=f"Message from {sender_name}:\n{body}",
                    person_id=student.id,
                    module_id=module_id,
                    ref_id=message.id,
                )
            ],
            now,
        )
        return QueuedMessage(message.id, key, student.display_name)


def _why(error: str | None) -> str:
    """A stored send error as the tutor reads it."""
    reason = reason_of(error or "")
    if reason == NOT_LINKED:
        return "they have not linked a chat account yet"
    if reason == ChatErrorKind.DM_CLOSED.value:
        return "they do not accept direct messages"
    if reason == OTHER:
        return "the chat platform did not take it"
    return f"the chat platform refused it ({reason})"


async def message_outcome(db: Database, queued: QueuedMessage) -> MessageOutcome:
    """What became of a tutor message, as its row records it (the outbox's hooks write it)."""
    name = queued.recipient
    async with db.session() as session:
        stored = await session.get(TutorMessage, queued.message_id)
        assert stored is not None
        sent_at, error = stored.sent_at, stored.error
    if sent_at is not None:
        return MessageOutcome(name, True, f"Message sent to {name}.")
    if error is not None:
        return MessageOutcome(name, False, f"The message to {name} was not delivered: {error}.")
    return MessageOutcome(
        name,
        False,
        f"The message to {name} is on its way: it is delivered as soon as the chat platform "
        "takes it (this page does not update).",
        pending=True,
    )


# --------------------------------------------------------------------------- outbox hooks


async def _sent(session: AsyncSession, outcome: Outcome) -> None:
    if outcome.kind == TUTOR_MESSAGE and outcome.ref_id is not None:
        await session.execute(
            update(TutorMessage)
            .where(TutorMessage.id == outcome.ref_id)
            .values(sent_at=outcome.at, platform_message_id=outcome.message_id, error=None)
            .execution_options(synchronize_session=False)
        )
    elif outcome.kind == SIGN_IN_LINK:
        await _forget_link(session, outcome)


async def _failed(session: AsyncSession, outcome: Outcome) -> None:
    if outcome.kind == TUTOR_MESSAGE and outcome.ref_id is not None:
        await session.execute(
            update(TutorMessage)
            .where(TutorMessage.id == outcome.ref_id, TutorMessage.sent_at.is_(None))
            .values(error=_why(outcome.error))
            .execution_options(synchronize_session=False)
        )
    elif outcome.kind == SIGN_IN_LINK:
        await _forget_link(session, outcome)


async def _forget_link(session: AsyncSession, outcome: Outcome) -> None:
    """Keep no usable sign-in link in the outbox (the database keeps only hashes of links)."""
    await session.execute(
        update(OutboxMessage)
        .where(OutboxMessage.id == outcome.id)
        .values(content={"text": LINK_REMOVED})
        .execution_options(synchronize_session=False)
    )


outbox.register(FEATURE, sent=_sent, failed=_failed)


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
