"""What the dashboard holds about a person, for the personal-data export and erasure
(``bot.gradebook.privacy`` asks; published in ``PUBLIC_MODULES``).

Sign-ins are exported as times only: the hashes of cookies and link nonces and the CSRF
tokens are credentials, not data about the person. A tutor message received shows its sender
by name, as the message itself did and as the audit trail shows who acted; a message a tutor
sent names no student (the student's data is theirs). Erasure deletes the person's sessions
and links, and keeps tutor messages like the other messages owed to the person (the audit
trail holds them too): one not delivered yet is marked undelivered, its outbox row cancelled.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import delete, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

from bot.db.models import DashboardSession, DashboardSignInLink, Module, Person, TutorMessage
from bot.personal_data import iso, rows

#: Why an undelivered tutor message was never sent (``tutor_messages.error``).
ERASED = "cancelled: the recipient's personal data was erased"

#: How the personal-data export treats each dashboard table that refers to a person.
COVERAGE: dict[str, str] = {
    "dashboard_sign_in_links": "exported (times only, no token); deleted on erasure",
    "dashboard_sessions": "exported (times only, no cookie or CSRF token); deleted on erasure",
    "tutor_messages": (
        "exported: received (text, module, when, delivered, sender's name) and sent as staff "
        "(no recipient); kept on erasure, undelivered ones cancelled"
    ),
}


async def _sign_ins(
    session: AsyncSession,
    table: type[DashboardSignInLink] | type[DashboardSession],
    ended: Any,
    pid: int,
) -> Sequence[Any]:
    """(created, expires, ``ended``) of the person's links or sessions: times only."""
    return await rows(
        session,
        select(table.created_at, table.expires_at, ended)
        .where(table.person_id == pid)
        .order_by(table.id),
    )


async def personal_data(session: AsyncSession, pid: int) -> dict[str, Any]:
    links = await _sign_ins(session, DashboardSignInLink, DashboardSignInLink.used_at, pid)
    sessions = await _sign_ins(session, DashboardSession, DashboardSession.revoked_at, pid)
    sender = aliased(Person)
    received = await rows(
        session,
        select(
            Module.code,
            TutorMessage.text,
            TutorMessage.created_at,
            TutorMessage.sent_at,
            sender.display_name,
        )
        .select_from(TutorMessage)
        .join(Module, Module.id == TutorMessage.module_id)
        .outerjoin(sender, sender.id == TutorMessage.sender_id)
        .where(TutorMessage.recipient_id == pid)
        .order_by(TutorMessage.created_at, TutorMessage.id),
    )
    sent = await rows(
        session,
        select(Module.code, TutorMessage.text, TutorMessage.created_at, TutorMessage.sent_at)
        .select_from(TutorMessage)
        .join(Module, Module.id == TutorMessage.module_id)
        .where(TutorMessage.sender_id == pid)
        .order_by(TutorMessage.created_at, TutorMessage.id),
    )
    return {
        "sign_in_links": [
            {"created_at": iso(c), "expires_at": iso(e), "used_at": iso(u)} for c, e, u in links
        ],
        "sessions": [
            {"signed_in_at": iso(c), "expires_at": iso(e), "revoked_at": iso(r)}
            for c, e, r in sessions
        ],
        "tutor_messages_received": [
            {
                "module": m,
                "from": name,
                "text": t,
                "written_at": iso(c),
                "delivered": s is not None,
                "delivered_at": iso(s),
            }
            for m, t, c, s, name in received
        ],
        "tutor_messages_sent": [
            {
                "module": m,
                "text": t,
                "written_at": iso(c),
                "delivered": s is not None,
                "delivered_at": iso(s),
            }
            for m, t, c, s in sent
        ],
    }


async def erase(session: AsyncSession, pid: int) -> None:
    """End the person's sign-ins for good and mark tutor messages to them as never delivered.

    The caller cancels the person's pending outbox rows (which carry those messages)."""
    await session.execute(delete(DashboardSession).where(DashboardSession.person_id == pid))
    await session.execute(delete(DashboardSignInLink).where(DashboardSignInLink.person_id == pid))
    await session.execute(
        update(TutorMessage)
        .where(
            TutorMessage.recipient_id == pid,
            TutorMessage.sent_at.is_(None),
            TutorMessage.error.is_(None),
        )
        .values(error=ERASED)
        .execution_options(synchronize_session=False)
    )
