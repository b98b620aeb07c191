"""What a feature hands the outbox, and how it hears back.

A feature builds ``Message`` values and enqueues them in the transaction that decided them.
It never sends: the outbox does, once, through the chat port. A feature that must react to an
outcome (record a message id it needs, reassign a review whose reviewer cannot be reached,
mark a notice sent) registers ``Hooks`` under its ``feature`` name; they run in the outbox's
own transaction that records the outcome, so the reaction and the record commit together.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from bot.chat import Button, ButtonStyle, OutgoingMessage
from bot.db.models import OutboxState

log = logging.getLogger(__name__)

__all__ = [
    "FileRef",
    "Hooks",
    "Message",
    "Outcome",
    "content_of",
    "message_of",
    "register",
    "register_files",
]


@dataclass(frozen=True, slots=True)
class FileRef:
    """A file stored elsewhere (a submission), read when the message is sent, not copied."""

    source: str  # a loader registered with ``register_files``
    ref: int
    filename: str


@dataclass(frozen=True, slots=True)
class Message:
    """One message owed: to a person (a DM), a channel, or a module's channel.

    ``key`` makes it idempotent (enqueued twice, sent once). ``marker`` names it in the
    history; leave it None for the outbox's own (``out <id>``), or pass the one messages of
    this kind carried before the outbox existed, so those are still recognised. A DM with
    ``fallback_text`` and a ``module_id`` is posted in the module's channel instead, mentioning
    the person, when the person's DMs are closed. ``edit_of`` edits that message of the channel
    (or module channel) instead of posting: an edit is idempotent, so it is never verified.
    """

    key: str
    feature: str
    kind: str
    text: str
    person_id: int | None = None
    channel_id: str | None = None
    module_id: int | None = None
    buttons: tuple[Button, ...] = ()
    files: tuple[FileRef, ...] = ()
    mention_role_id: str | None = None
    #: Users the text mentions who are to be notified (as ``OutgoingMessage``).
    mention_user_ids: tuple[str, ...] = ()
    marker: str | None = None
    scope_id: int | None = None
    ref_id: int | None = None
    not_before: datetime | None = None
    fallback_text: str | None = None
    fallback_buttons: tuple[Button, ...] = ()
    edit_of: str | None = None
    #: It may already have been sent under this marker (work handed over from an older
    #: sender): the first attempt reads the history before sending.
    verify: bool = False

    def __post_init__(self) -> None:
        if self.person_id is None and self.channel_id is None and self.module_id is None:
            raise ValueError(f"outbox message {self.key!r} has nowhere to go")
        if self.person_id is not None and self.channel_id is not None:
            raise ValueError(f"outbox message {self.key!r}: a DM or a channel post, not both")
        if self.edit_of is not None and self.person_id is not None:
            raise ValueError(f"outbox message {self.key!r}: only channel messages are edited")


def _buttons_json(buttons: tuple[Button, ...]) -> list[dict[str, Any]]:
    return [
        {
            "label": b.label,
            "custom_id": b.custom_id,
            "style": b.style.value,
            "url": b.url,
            "disabled": b.disabled,
        }
        for b in buttons
    ]


def _buttons(data: list[dict[str, Any]] | None) -> tuple[Button, ...]:
    return tuple(
        Button(
            str(b["label"]),
            str(b.get("custom_id") or ""),
            ButtonStyle(b.get("style") or ButtonStyle.SECONDARY.value),
            url=b.get("url"),
            disabled=bool(b.get("disabled")),
        )
        for b in data or []
    )


def content_of(message: Message) -> dict[str, Any]:
    """The stored form of what a message says (JSON: it crosses processes and versions)."""
    content: dict[str, Any] = {"text": message.text}
    if message.buttons:
        content["buttons"] = _buttons_json(message.buttons)
    if message.files:
        content["files"] = [
            {"source": f.source, "ref": f.ref, "filename": f.filename} for f in message.files
        ]
    if message.mention_role_id:
        content["mention_role_id"] = message.mention_role_id
    if message.mention_user_ids:
        content["mention_user_ids"] = list(message.mention_user_ids)
    if message.fallback_text is not None:
        content["fallback"] = {
            "text": message.fallback_text,
            "buttons": _buttons_json(message.fallback_buttons),
        }
    if message.edit_of is not None:
        content["edit_of"] = message.edit_of
    return content


def message_of(
    content: dict[str, Any], marker: str, *, fallback: bool = False, mention: str | None = None
) -> OutgoingMessage:
    """The stored content as the chat port takes it (files are attached by the sender)."""
    if fallback:
        part = content.get("fallback") or {}
        return OutgoingMessage(
            text=str(part.get("text", "")),
            buttons=_buttons(part.get("buttons")),
            mention_user_ids=(mention,) if mention else (),
            marker=marker,
        )
    return OutgoingMessage(
        text=str(content.get("text", "")),
        buttons=_buttons(content.get("buttons")),
        mention_role_id=content.get("mention_role_id"),
        mention_user_ids=tuple(str(u) for u in content.get("mention_user_ids") or ()),
        marker=marker,
    )


# --------------------------------------------------------------------------- hooks


@dataclass(frozen=True, slots=True)
class Outcome:
    """What became of one message, as a feature's hook sees it."""

    id: int
    key: str
    feature: str
    kind: str
    scope_id: int | None
    ref_id: int | None
    person_id: int | None
    state: OutboxState  # SENT or FAILED
    #: The sending run's time (the feature's reaction is dated by it).
    at: datetime
    channel_id: str | None = None
    message_id: str | None = None
    via: str | None = None
    error: str | None = None
    #: The platform refused it for good (closed DMs, no account), not merely out of attempts.
    refused: bool = False
    #: Found already delivered by an earlier, interrupted attempt (nothing was sent now).
    recovered: bool = False
    #: Attempts made (a takeover after a crash counts as one).
    attempts: int = 1


OnOutcome = Callable[[AsyncSession, Outcome], Awaitable[None]]
FileLoader = Callable[[AsyncSession, int], Awaitable[bytes | None]]


@dataclass(frozen=True, slots=True)
class Hooks:
    sent: OnOutcome | None = None
    failed: OnOutcome | None = None


_HOOKS: dict[str, Hooks] = {}
_FILES: dict[str, FileLoader] = {}


def register(
    feature: str, *, sent: OnOutcome | None = None, failed: OnOutcome | None = None
) -> None:
    """React to a feature's sent or failed messages (called where the feature is defined, so
    every process that can enqueue its messages also knows how to finish them)."""
    _HOOKS[feature] = Hooks(sent, failed)


def hooks_for(feature: str) -> Hooks:
    return _HOOKS.get(feature) or Hooks()


def register_files(source: str, loader: FileLoader) -> None:
    """How to read the bytes of a ``FileRef`` of this source when sending."""
    _FILES[source] = loader


def file_loader(source: str) -> FileLoader | None:
    loader = _FILES.get(source)
    if loader is None:
        log.warning("outbox: no loader for files of %r; sent without them", source)
    return loader
