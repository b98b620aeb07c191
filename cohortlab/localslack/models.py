"""The objects of a Slack workspace and the JSON shapes Slack gives them.

Plain dataclasses: the world (state.py) changes them, the Web API and the event payloads read
them through the ``to_json`` methods so every method answers the same shape.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

WORKSPACE_URL = "https://cohort.slack.local/"


class SlackError(Exception):
    """A Web API error: ``{"ok": false, "error": code}`` (HTTP 200, as Slack answers)."""

    def __init__(self, code: str, **extra: Any) -> None:
        super().__init__(code)
        self.code = code
        self.extra = extra


class TsClock:
    """Message timestamps shaped like Slack's ("1733570000.000100"), strictly increasing.

    Slack's ts is both a message id and a time; tests compare and sort them as strings and
    as floats, so every one has six decimals and is later than the last one handed out.
    """

    def __init__(self, source: Callable[[], float] = time.time) -> None:
        #: Seconds since the epoch now: the wall clock, or a test's or the demo's term clock.
        self.source = source
        self._last = 0

    def next(self) -> str:
        micros = max(int(self.source() * 1_000_000), self._last + 1)
        self._last = micros
        return f"{micros // 1_000_000}.{micros % 1_000_000:06d}"


@dataclass
class User:
    id: str
    name: str
    team_id: str
    real_name: str = ""
    email: str | None = None
    tz: str = "Europe/London"
    is_admin: bool = False
    is_bot: bool = False
    bot_id: str | None = None
    deleted: bool = False

    def to_json(self) -> dict[str, Any]:
        profile: dict[str, Any] = {
            "real_name": self.real_name or self.name,
            "display_name": self.name,
            "real_name_normalized": self.real_name or self.name,
            "display_name_normalized": self.name,
        }
        if self.email is not None:
            profile["email"] = self.email
        if self.bot_id is not None:
            profile["bot_id"] = self.bot_id
        return {
            "id": self.id,
            "team_id": self.team_id,
            "name": self.name,
            "deleted": self.deleted,
            "real_name": self.real_name or self.name,
            "tz": self.tz,
            "tz_label": self.tz,
            "tz_offset": 0,
            "profile": profile,
            "is_admin": self.is_admin,
            "is_owner": False,
            "is_bot": self.is_bot,
            "is_app_user": False,
        }


@dataclass
class Channel:
    id: str
    name: str
    creator: str
    created: int
    is_private: bool = False
    is_im: bool = False
    is_mpim: bool = False
    is_archived: bool = False
    members: list[str] = field(default_factory=list)
    #: For a DM, the person the bot talks to.
    dm_user: str | None = None

    @property
    def kind(self) -> str:
        """The ``channel_type`` of message events."""
        if self.is_im:
            return "im"
        if self.is_mpim:
            return "mpim"
        return "group" if self.is_private else "channel"

    def to_json(self, *, viewer: str | None = None) -> dict[str, Any]:
        if self.is_im:
            return {
                "id": self.id,
                "created": self.created,
                "is_im": True,
                "is_org_shared": False,
                "user": self.dm_user,
                "is_user_deleted": False,
                "priority": 0,
            }
        return {
            "id": self.id,
            "name": self.name,
            "is_channel": not self.is_private and not self.is_mpim,
            "is_group": self.is_private and not self.is_mpim,
            "is_im": False,
            "is_mpim": self.is_mpim,
            "is_private": self.is_private,
            "created": self.created,
            "creator": self.creator,
            "is_archived": self.is_archived,
            "is_general": False,
            "name_normalized": self.name,
            "is_shared": False,
            "is_member": viewer in self.members if viewer else False,
            "num_members": len(self.members),
            "topic": {"value": "", "creator": "", "last_set": 0},
            "purpose": {"value": "", "creator": "", "last_set": 0},
        }


@dataclass
class File:
    id: str
    name: str
    title: str
    user: str
    created: int
    content: bytes = b""
    length: int = 0
    uploaded: bool = False
    completed: bool = False
    channels: list[str] = field(default_factory=list)
    base_url: str = ""

    @property
    def mimetype(self) -> str:
        ext = self.name.rsplit(".", 1)[-1].lower() if "." in self.name else ""
        return {
            "pdf": "application/pdf",
            "txt": "text/plain",
            "csv": "text/csv",
            "png": "image/png",
            "jpg": "image/jpeg",
            "zip": "application/zip",
            "json": "application/json",
        }.get(ext, "application/octet-stream")

    def to_json(self) -> dict[str, Any]:
        ext = self.name.rsplit(".", 1)[-1].lower() if "." in self.name else "binary"
        url = f"{self.base_url}/files/{self.id}/{self.name}"
        return {
            "id": self.id,
            "created": self.created,
            "timestamp": self.created,
            "name": self.name,
            "title": self.title,
            "mimetype": self.mimetype,
            "filetype": ext,
            "user": self.user,
            "size": len(self.content),
            "mode": "hosted",
            "is_external": False,
            "is_public": False,
            "url_private": url,
            "url_private_download": url + "?download=1",
            "permalink": f"{WORKSPACE_URL}files/{self.user}/{self.id}/{self.name}",
            "channels": list(self.channels),
        }


@dataclass
class Message:
    ts: str
    channel: str
    user: str
    text: str = ""
    blocks: list[dict[str, Any]] | None = None
    thread_ts: str | None = None
    subtype: str | None = None
    bot_id: str | None = None
    edited: dict[str, str] | None = None
    files: list[File] = field(default_factory=list)
    reply_broadcast: bool = False
    replies: list[str] = field(default_factory=list)
    parent_user_id: str = ""
    team: str = ""
    metadata: dict[str, Any] | None = None

    @property
    def is_reply(self) -> bool:
        return self.thread_ts is not None and self.thread_ts != self.ts

    @property
    def permalink(self) -> str:
        """What "Copy link" gives (and ``chat.getPermalink`` answers)."""
        link = f"{WORKSPACE_URL}archives/{self.channel}/p{self.ts.replace('.', '')}"
        if self.is_reply:
            link += f"?thread_ts={self.thread_ts}&cid={self.channel}"
        return link

    @property
    def in_history(self) -> bool:
        """Top-level messages and replies also sent to the channel show in the history."""
        return not self.is_reply or self.reply_broadcast

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "type": "message",
            "ts": self.ts,
            "user": self.user,
            "text": self.text,
            "team": self.team,
        }
        if self.subtype:
            out["subtype"] = self.subtype
        if self.bot_id:
            out["bot_id"] = self.bot_id
            out["app_id"] = "A0LOCALAPP"
        if self.blocks is not None:
            out["blocks"] = self.blocks
        if self.thread_ts:
            out["thread_ts"] = self.thread_ts
            if self.ts == self.thread_ts:
                out["reply_count"] = len(self.replies)
                out["reply_users_count"] = len(set(self.replies))
                if self.replies:
                    out["latest_reply"] = self.replies[-1]
            else:
                out["parent_user_id"] = self.parent_user_id
        if self.edited:
            out["edited"] = dict(self.edited)
        if self.files:
            out["files"] = [f.to_json() for f in self.files]
            out["upload"] = True
        if self.metadata:
            out["metadata"] = self.metadata
        return out


@dataclass
class Ephemeral:
    """A message only ``user`` sees; Slack never stores it in the channel's history."""

    ts: str
    channel: str
    user: str
    text: str = ""
    blocks: list[dict[str, Any]] | None = None
    thread_ts: str | None = None
    source: str = "chat.postEphemeral"
    deleted: bool = False

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"type": "message", "ts": self.ts, "text": self.text}
        if self.blocks is not None:
            out["blocks"] = self.blocks
        if self.thread_ts:
            out["thread_ts"] = self.thread_ts
        return out


@dataclass
class View:
    """A modal (or a Home tab) as ``views.open``/``update``/``push``/``publish`` left it."""

    id: str
    user: str
    team_id: str
    view: dict[str, Any]
    hash: str
    root_view_id: str
    previous_view_id: str | None = None
    external_id: str | None = None
    closed: bool = False
    errors: dict[str, str] = field(default_factory=dict)

    @property
    def type(self) -> str:
        return str(self.view.get("type", "modal"))

    @property
    def callback_id(self) -> str:
        return str(self.view.get("callback_id", ""))

    @property
    def private_metadata(self) -> str:
        return str(self.view.get("private_metadata", ""))

    @property
    def blocks(self) -> list[dict[str, Any]]:
        blocks = self.view.get("blocks", [])
        return list(blocks) if isinstance(blocks, list) else []

    def to_json(self, state_values: dict[str, Any] | None = None) -> dict[str, Any]:
        out = dict(self.view)
        out.update(
            {
                "id": self.id,
                "team_id": self.team_id,
                "type": self.type,
                "blocks": self.blocks,
                "private_metadata": self.private_metadata,
                "callback_id": self.callback_id,
                "state": {"values": state_values or {}},
                "hash": self.hash,
                "root_view_id": self.root_view_id,
                "previous_view_id": self.previous_view_id,
                "external_id": self.external_id or "",
                "app_id": "A0LOCALAPP",
                "bot_id": "B0LOCALBOT",
            }
        )
        return out


def find_action(blocks: list[dict[str, Any]], action_id: str) -> tuple[str, dict[str, Any]] | None:
    """The (block_id, element) carrying ``action_id`` in a block list, or None."""
    for block in blocks:
        block_id = str(block.get("block_id", ""))
        elements: list[Any] = []
        if isinstance(block.get("elements"), list):
            elements.extend(block["elements"])
        if isinstance(block.get("accessory"), dict):
            elements.append(block["accessory"])
        if isinstance(block.get("element"), dict):
            elements.append(block["element"])
        for element in elements:
            if isinstance(element, dict) and element.get("action_id") == action_id:
                return block_id, element
    return None


def action_ids(blocks: list[dict[str, Any]]) -> list[str]:
    """Every action_id in a block list (for error messages that say what was there)."""
    found: list[str] = []
    for block in blocks:
        for key in ("elements", "accessory", "element"):
            value = block.get(key)
            items = value if isinstance(value, list) else [value] if value else []
            found.extend(
                str(e["action_id"]) for e in items if isinstance(e, dict) and "action_id" in e
            )
    return found
