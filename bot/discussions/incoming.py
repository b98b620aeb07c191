"""Thread messages on their way to the record: the queued (wire) form, edits and deletions,
which threads are watched and how far each has been read, and whose message it is.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import NamedTuple

from sqlalchemy import or_, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Session

from bot.access.identity import ChatUser, people_of_sync
from bot.chat import ChatMessage, WireMessage, unwire_message, wire_message
from bot.db.models import ChannelCursor, ContributionVia, DiscussionPrompt, Person, PromptStatus
from bot.discussions.rows import VIA_BY_TEXT

IN_CHUNK = 500
USER_MENTION = re.compile(r"<@!?(\d+)>")
#: Prompts stay watched this long after closing: tutors' late edits, extension answers.
WATCH_AFTER_CLOSE = timedelta(days=60)


class Incoming(NamedTuple):
    """A queued message and how it arrived (a tuple: one is made per gateway message)."""

    message: ChatMessage
    via: ContributionVia = ContributionVia.GATEWAY


#: The tag of a message queued from the gateway (``bot.chat.WireMessage``'s last field).
GATEWAY_TAG = ContributionVia.GATEWAY.value


def wire(message: ChatMessage, via: ContributionVia = ContributionVia.GATEWAY) -> WireMessage:
    """The recorder's queued form (``bot.chat.WireMessage``, tagged with how it arrived)."""
    return wire_message(message, via.value)


def unwire(w: WireMessage) -> Incoming:
    """The queued form back as an ``Incoming`` (in the writer, off the event loop)."""
    return Incoming(unwire_message(w), VIA_BY_TEXT[w[13]])


@dataclass(frozen=True)
class MessageEdit:
    """A message as it is after an edit, with the text before it when the platform still had it.

    ``before`` matters when an edit races the message's own creation event: discord.py updates
    its cached message in place, so the creation handler may already see the edited text.
    """

    message: ChatMessage
    before: str | None = None


@dataclass(frozen=True)
class MessageDelete:
    message_id: str
    channel_id: str
    deleted_at: datetime


@dataclass
class BatchResult:
    inserted: int = 0
    revised: int = 0
    deleted: int = 0
    seen: int = 0
    people: dict[str, int] = field(default_factory=dict)


def snowflake_key(message_id: str) -> tuple[int, str]:
    """Order message ids of one channel as the port promises (``bot.chat.ChatPort``): by
    length, then as text (numeric snowflakes by value; fixed-width ids as text)."""
    return (len(message_id), message_id)


async def watched_threads(session: AsyncSession, *, now: datetime) -> dict[str, int]:
    """Threads whose messages are evidence right now: thread id -> prompt id."""
    rows = await session.execute(
        select(DiscussionPrompt.thread_id, DiscussionPrompt.id).where(
            DiscussionPrompt.thread_id.is_not(None),
            DiscussionPrompt.status.in_(
                [PromptStatus.OPEN, PromptStatus.CLOSING, PromptStatus.CLOSED]
            ),
            or_(
                DiscussionPrompt.released_at.is_(None),
                DiscussionPrompt.closes_at > now - WATCH_AFTER_CLOSE,
            ),
        )
    )
    return {str(thread_id): prompt_id for thread_id, prompt_id in rows.all()}


def cursors_sync(session: Session, thread_ids: Iterable[str]) -> dict[str, str]:
    ids = list(thread_ids)
    found: dict[str, str] = {}
    for start in range(0, len(ids), IN_CHUNK):
        rows = session.execute(
            select(ChannelCursor.channel_id, ChannelCursor.last_message_id).where(
                ChannelCursor.channel_id.in_(ids[start : start + IN_CHUNK])
            )
        )
        found.update({c: m for c, m in rows.all()})
    return found


# --------------------------------------------------------------------------- people


def known_people_sync(session: Session) -> dict[str, int]:
    """Every roster person already linked to a platform id: platform id -> person id."""
    rows = session.execute(
        select(Person.platform_user_id, Person.id).where(Person.platform_user_id.is_not(None))
    )
    return {str(uid): pid for uid, pid in rows.all()}


def person_ids_sync(
    session: Session,
    users: Mapping[str, ChatUser | None],
    known: Mapping[str, int] | None = None,
) -> dict[str, int]:
    """Roster person ids of platform users, linking a roster username on first sight.

    ``known`` is a cache of ids already resolved (a person's platform id never changes).
    """
    found: dict[str, int] = {}
    if known:
        found.update({uid: known[uid] for uid in users if uid in known})
    rest = {uid: user for uid, user in users.items() if uid not in found}
    if rest:
        found.update(people_of_sync(session, rest))
    return found
