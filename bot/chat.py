"""The port: what a chat platform must do for the core.

Services that act on their own (scheduled openings, notices, allocation DMs) talk to this
protocol, never to discord.py, so a Slack adapter later implements the same few methods.
"""

from __future__ import annotations

import enum
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import NamedTuple, Protocol

from bot.access.identity import ChatUser


class ButtonStyle(enum.StrEnum):
    PRIMARY = "primary"
    SECONDARY = "secondary"
    SUCCESS = "success"
    DANGER = "danger"
    LINK = "link"


@dataclass(frozen=True)
class Button:
    """A button; ``custom_id`` routes the click back to the service that made it."""

    label: str
    custom_id: str = ""
    style: ButtonStyle = ButtonStyle.SECONDARY
    url: str | None = None
    disabled: bool = False


@dataclass(frozen=True)
class FileAttachment:
    filename: str
    data: bytes


@dataclass(frozen=True)
class OutgoingMessage:
    """Text the bot sends. User-written text inside never pings: mentions are off by default."""

    text: str
    buttons: tuple[Button, ...] = ()
    files: tuple[FileAttachment, ...] = ()
    mention_role_id: str | None = None
    mention_user_ids: tuple[str, ...] = ()
    #: People the bot's own text names with ``<@id>`` without meaning to ping them (the
    #: author in a relayed answer's header). Discord shows every ``<@id>`` as a name and pings
    #: only ``mention_user_ids``; Slack shows a name only as a mention, so it makes these (and
    #: ``mention_user_ids``) mentions and shows any other ``<@...>``, user text, as typed.
    named_user_ids: tuple[str, ...] = ()
    #: Names the message so a retry can find it in the history (``bot.outbox``); the adapter
    #: renders it (``with_marker``) and ``marker_of`` reads it back.
    marker: str | None = None


#: The marker convention: a last subtext line ``-# cohortbot <marker>``. Small and grey on
#: Discord; an adapter for a platform without subtext may render it otherwise, as long as
#: ``marker_of`` reads back what it wrote.
MARKER_PREFIX = "-# cohortbot "


def with_marker(message: OutgoingMessage) -> str:
    """The text as sent: the message's own text, then its marker line if it has one."""
    if message.marker is None:
        return message.text
    return f"{message.text}\n{MARKER_PREFIX}{message.marker}"


def marker_of(content: str) -> str | None:
    """The marker a sent message ends with, if any (compared whole: "peer 4" is not "peer 42")."""
    lines = content.rstrip().splitlines()
    last = lines[-1].strip() if lines else ""
    return last[len(MARKER_PREFIX) :].strip() if last.startswith(MARKER_PREFIX) else None


@dataclass(frozen=True)
class Posted:
    channel_id: str
    message_id: str


class ChatMessage(NamedTuple):
    """A message as the core needs to see it, whatever platform it came from.

    Immutable; a NamedTuple because one is built for every message the gateway delivers
    (a frozen dataclass of eleven fields costs four times as much), ``_replace`` to vary it.
    """

    id: str
    channel_id: str
    guild_id: str | None
    author: ChatUser
    author_is_bot: bool
    content: str
    created_at: datetime
    edited_at: datetime | None = None
    reply_to_id: str | None = None
    mention_ids: tuple[str, ...] = ()
    attachment_urls: tuple[str, ...] = ()


#: A ``ChatMessage`` flattened to plain values, for queues on the gateway's hot path: building
#: one costs the event loop little (no datetimes, no nested tuples of people) and a batch of
#: them pickles in about half a microsecond each. Fields, in order: id, channel id, guild id,
#: author id, author username, author display name, author is a bot, content, created (µs
#: since the Unix epoch, UTC), edited (µs or None), reply-to id, mention ids, attachment URLs,
#: and a tag the queue's owner chooses (the discussion recorder: how the message arrived).
WireMessage = tuple[
    str,
    str,
    str | None,
    str,
    str,
    str,
    bool,
    str,
    int,
    int | None,
    str | None,
    tuple[str, ...],
    tuple[str, ...],
    str,
]

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICROSECOND = timedelta(microseconds=1)


def to_micros(value: datetime) -> int:
    """Exact integer microseconds since the Unix epoch (a naive time is taken as UTC)."""
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return (value - _EPOCH) // _MICROSECOND


def from_micros(micros: int) -> datetime:
    return _EPOCH + timedelta(microseconds=micros)


def wire_message(message: ChatMessage, tag: str) -> WireMessage:
    author = message.author
    return (
        message.id,
        message.channel_id,
        message.guild_id,
        author.platform_user_id,
        author.username,
        author.display_name,
        message.author_is_bot,
        message.content,
        to_micros(message.created_at),
        to_micros(message.edited_at) if message.edited_at is not None else None,
        message.reply_to_id,
        tuple(message.mention_ids),
        tuple(message.attachment_urls),
        tag,
    )


def unwire_message(w: WireMessage) -> ChatMessage:
    """The flat form back as a ``ChatMessage`` (times come back aware, in UTC)."""
    return ChatMessage(
        w[0],
        w[1],
        w[2],
        ChatUser(w[3], w[4], w[5]),
        w[6],
        w[7],
        from_micros(w[8]),
        from_micros(w[9]) if w[9] is not None else None,
        w[10],
        w[11],
        w[12],
    )


class ChatErrorKind(enum.StrEnum):
    FORBIDDEN = "forbidden"
    NOT_FOUND = "not_found"
    DM_CLOSED = "dm_closed"
    UNAVAILABLE = "unavailable"


class ChatError(Exception):
    """A delivery the platform refused or could not make; ``kind`` says whether to retry."""

    def __init__(self, kind: ChatErrorKind, detail: str) -> None:
        super().__init__(f"{kind}: {detail}")
        self.kind = kind
        self.detail = detail

    @property
    def retryable(self) -> bool:
        return self.kind is ChatErrorKind.UNAVAILABLE


class MessageLinks(Protocol):
    """A platform's links to messages, as people copy and paste them.

    Pure and picklable: the discussion writer (another process for a SQLite file) reads the
    link in a relayed reply's header back to the message id it names.
    """

    def message_id(self, text: str) -> str | None:
        """The message id a pasted link (or a bare id) names, or None if it names none."""
        ...

    def link(self, guild_id: str | None, channel_id: str, message_id: str) -> str:
        """The link people open to see message ``message_id`` of channel or thread
        ``channel_id`` (on server or workspace ``guild_id``)."""
        ...


@dataclass(frozen=True)
class RateLimits:
    """What a platform lets one bot send, as its adapter states it: the outbox paces itself to
    these rather than running into 429s (the adapter's client still waits out any that come).

    ``per_second`` caps every request the outbox makes; ``per_channel_per_second`` caps posts
    and edits in one channel (a DM is a channel of its own), where the platform limits that;
    ``lookups_per_minute`` caps opening a DM and reading a channel's history, where the platform
    limits those methods on their own (``None``: no limit of its own).
    """

    per_second: float | None = None
    per_channel_per_second: float | None = None
    lookups_per_minute: float | None = None


class ChatPort(Protocol):
    """What a chat platform's adapter does for the core.

    Ids are opaque strings to the core: it stores them, compares them for equality and hands
    them back (``edit``, ``history``'s ``after_id``, ``create_thread``'s ``from_message_id``),
    never parses them. A message id (``Posted.message_id``, ``ChatMessage.id``, a reply-to id)
    is unique across the whole platform, not just its channel: the database keeps one row per
    message id (a Discord snowflake is global already; a Slack adapter names the channel with
    the ts, since a ts repeats across channels). Ordering is the adapter's job: ``history``
    yields oldest first, and within one channel a newer message's id sorts after an older
    one's by (length, text) (``bot.discussions.incoming.snowflake_key``), which is how the
    recorder's cursor keeps the newest message it has read.

    ``links`` reads and builds the platform's message links (``MessageLinks``).
    """

    @property
    def links(self) -> MessageLinks:
        """How this platform's message links are read and built."""
        ...

    async def post(self, channel_id: str, message: OutgoingMessage) -> Posted: ...

    async def edit(self, channel_id: str, message_id: str, message: OutgoingMessage) -> None: ...

    async def dm(self, user_id: str, message: OutgoingMessage) -> Posted: ...

    async def create_thread(
        self,
        channel_id: str,
        name: str,
        *,
        from_message_id: str | None = None,
        private: bool = False,
    ) -> str: ...

    async def add_thread_member(self, thread_id: str, user_id: str) -> None: ...

    async def set_thread_state(
        self, thread_id: str, *, locked: bool | None = None, archived: bool | None = None
    ) -> None: ...

    def history(
        self, channel_id: str, *, after_id: str | None = None, since: datetime | None = None
    ) -> AsyncIterator[ChatMessage]:
        """The channel's messages, oldest first, after ``after_id`` or posted since ``since``."""
        ...

    async def dm_channel_id(self, user_id: str) -> str:
        """Where the bot's direct messages with this user are, opened if need be: ``post``
        there is a direct message (the outbox stores it, so a DM costs one request)."""
        ...
