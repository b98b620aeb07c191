"""The server's records: plain data, rendered to Discord API v10 JSON shapes.

Field names and required keys follow discord.py 2.7's parsers (the ground truth a bot meets);
anything discord.py reads with ``data[...]`` is always present here.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from cohortlab.localdiscord.permissions import Overwrite

JSON = dict[str, Any]

GUILD_TEXT = 0
DM = 1
GUILD_CATEGORY = 4
GUILD_ANNOUNCEMENT = 5
ANNOUNCEMENT_THREAD = 10
PUBLIC_THREAD = 11
PRIVATE_THREAD = 12
GUILD_FORUM = 15
THREAD_TYPES = frozenset({ANNOUNCEMENT_THREAD, PUBLIC_THREAD, PRIVATE_THREAD})

EPHEMERAL = 1 << 6
LOADING = 1 << 7

MSG_DEFAULT = 0
MSG_THREAD_CREATED = 18
MSG_REPLY = 19
MSG_CHAT_INPUT = 20
MSG_THREAD_STARTER = 21


def iso(moment: datetime | None) -> str | None:
    """Discord's timestamp format (ISO 8601 with offset)."""
    return None if moment is None else moment.astimezone(UTC).isoformat()


@dataclass
class User:
    id: int
    username: str
    global_name: str | None = None
    bot: bool = False
    #: False makes DMs to this user fail with 50007, as when a student closes their DMs.
    accepts_dms: bool = True

    def payload(self) -> JSON:
        data: JSON = {
            "id": str(self.id),
            "username": self.username,
            "discriminator": "0",
            "global_name": self.global_name,
            "avatar": None,
            "public_flags": 0,
            "flags": 0,
        }
        if self.bot:
            data["bot"] = True
        return data


@dataclass
class Role:
    id: int
    guild_id: int
    name: str
    permissions: int
    position: int = 0
    color: int = 0
    hoist: bool = False
    mentionable: bool = True
    managed: bool = False

    def payload(self) -> JSON:
        return {
            "id": str(self.id),
            "name": self.name,
            "permissions": str(self.permissions),
            "position": self.position,
            "color": self.color,
            "colors": {
                "primary_color": self.color,
                "secondary_color": None,
                "tertiary_color": None,
            },
            "hoist": self.hoist,
            "managed": self.managed,
            "mentionable": self.mentionable,
            "icon": None,
            "unicode_emoji": None,
            "flags": 0,
        }


@dataclass
class Member:
    guild_id: int
    user_id: int
    roles: list[int]
    joined_at: datetime
    nick: str | None = None

    def partial_payload(self) -> JSON:
        """The member object without ``user`` (as embedded in messages and mentions)."""
        return {
            "roles": [str(r) for r in self.roles],
            "joined_at": iso(self.joined_at),
            "nick": self.nick,
            "deaf": False,
            "mute": False,
            "flags": 0,
            "pending": False,
            "avatar": None,
            "banner": None,
            "premium_since": None,
            "communication_disabled_until": None,
        }


@dataclass
class Guild:
    id: int
    name: str
    owner_id: int
    roles: dict[int, Role] = field(default_factory=dict)
    members: dict[int, Member] = field(default_factory=dict)
    channel_ids: list[int] = field(default_factory=list)
    created_at: datetime = field(default_factory=lambda: datetime.now(UTC))


@dataclass
class Channel:
    id: int
    type: int
    guild_id: int | None
    name: str | None
    position: int = 0
    parent_id: int | None = None
    topic: str | None = None
    overwrites: list[Overwrite] = field(default_factory=list)
    last_message_id: int | None = None
    rate_limit_per_user: int = 0
    # threads
    owner_id: int | None = None
    archived: bool = False
    locked: bool = False
    invitable: bool = True
    auto_archive_duration: int = 4320
    archive_timestamp: datetime | None = None
    create_timestamp: datetime | None = None
    thread_members: dict[int, datetime] = field(default_factory=dict)
    message_count: int = 0
    total_message_sent: int = 0
    # DMs
    recipients: list[int] = field(default_factory=list)

    @property
    def is_thread(self) -> bool:
        return self.type in THREAD_TYPES

    def thread_member_payload(self, user_id: int) -> JSON:
        joined = self.thread_members[user_id]
        return {
            "id": str(self.id),
            "user_id": str(user_id),
            "join_timestamp": iso(joined),
            "flags": 0,
        }

    def base_payload(self) -> JSON:
        data: JSON = {
            "id": str(self.id),
            "type": self.type,
            "name": self.name,
            "last_message_id": None if self.last_message_id is None else str(self.last_message_id),
            "flags": 0,
        }
        if self.guild_id is not None:
            data["guild_id"] = str(self.guild_id)
            data["position"] = self.position
            data["parent_id"] = None if self.parent_id is None else str(self.parent_id)
            data["permission_overwrites"] = [o.payload() for o in self.overwrites]
            data["nsfw"] = False
            data["rate_limit_per_user"] = self.rate_limit_per_user
            if self.type in (GUILD_TEXT, GUILD_ANNOUNCEMENT, GUILD_FORUM):
                data["topic"] = self.topic
        if self.is_thread:
            data["owner_id"] = str(self.owner_id)
            data["message_count"] = self.message_count
            data["total_message_sent"] = self.total_message_sent
            data["member_count"] = min(len(self.thread_members), 50)
            data["thread_metadata"] = {
                "archived": self.archived,
                "locked": self.locked,
                "invitable": self.invitable,
                "auto_archive_duration": self.auto_archive_duration,
                "archive_timestamp": iso(self.archive_timestamp or self.create_timestamp),
                "create_timestamp": iso(self.create_timestamp),
            }
            data.pop("permission_overwrites", None)
            data.pop("position", None)
        return data


@dataclass
class Attachment:
    id: int
    filename: str
    content_type: str
    data: bytes
    url: str
    description: str | None = None

    def payload(self) -> JSON:
        data: JSON = {
            "id": str(self.id),
            "filename": self.filename,
            "size": len(self.data),
            "url": self.url,
            "proxy_url": self.url,
            "content_type": self.content_type,
        }
        if self.description:
            data["description"] = self.description
        return data


@dataclass
class Message:
    id: int
    channel_id: int
    guild_id: int | None
    author_id: int
    content: str
    created_at: datetime
    type: int = MSG_DEFAULT
    embeds: list[JSON] = field(default_factory=list)
    components: list[JSON] = field(default_factory=list)
    attachments: list[Attachment] = field(default_factory=list)
    flags: int = 0
    edited_at: datetime | None = None
    reference: JSON | None = None
    mention_user_ids: list[int] = field(default_factory=list)
    mention_role_ids: list[int] = field(default_factory=list)
    mention_everyone: bool = False
    allowed_mentions: JSON | None = None
    webhook_id: int | None = None
    application_id: int | None = None
    interaction_metadata: JSON | None = None
    pinned_at: datetime | None = None
    reactions: dict[str, list[int]] = field(default_factory=dict)
    nonce: str | int | None = None
    tts: bool = False
    #: For an ephemeral interaction message, the only user who can see it.
    visible_to: int | None = None
    #: The thread started from this message, if any.
    thread_id: int | None = None
    deleted: bool = False

    @property
    def ephemeral(self) -> bool:
        return bool(self.flags & EPHEMERAL)

    @property
    def pinned(self) -> bool:
        return self.pinned_at is not None


@dataclass
class AppCommand:
    id: int
    application_id: int
    guild_id: int | None
    version: int
    data: JSON

    @property
    def name(self) -> str:
        return str(self.data["name"])

    @property
    def type(self) -> int:
        return int(self.data.get("type", 1))

    def payload(self) -> JSON:
        data = dict(self.data)
        data.setdefault("type", 1)
        data.setdefault("description", "")
        data.setdefault("options", [])
        data.setdefault("default_member_permissions", None)
        data.setdefault("nsfw", False)
        data.setdefault("dm_permission", True)
        data.setdefault("contexts", None)
        data.setdefault("integration_types", [0])
        data["id"] = str(self.id)
        data["application_id"] = str(self.application_id)
        data["version"] = str(self.version)
        if self.guild_id is not None:
            data["guild_id"] = str(self.guild_id)
        return data


@dataclass
class BotApp:
    """One bot application: its token, its user and what the developer portal allows it."""

    id: int
    user_id: int
    token: str
    name: str
    owner_id: int
    message_content_enabled: bool = True
    members_enabled: bool = True
    presences_enabled: bool = True

    @property
    def flags(self) -> int:
        flags = 0
        if self.presences_enabled:
            flags |= 1 << 12
        if self.members_enabled:
            flags |= 1 << 14
        if self.message_content_enabled:
            flags |= 1 << 18
        return flags


@dataclass
class Interaction:
    id: int
    token: str
    type: int
    application_id: int
    user_id: int
    guild_id: int | None
    channel_id: int
    data: JSON
    created_monotonic: float
    message_id: int | None = None
    response_type: int | None = None
    response_data: JSON | None = None
    original_message_id: int | None = None
    followup_ids: list[int] = field(default_factory=list)
    ephemeral_defer: bool = False

    @property
    def acknowledged(self) -> bool:
        return self.response_type is not None
