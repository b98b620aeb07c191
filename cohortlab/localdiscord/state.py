"""The server's world: guilds, channels, members, messages, commands and interactions.

Pure data plus the rules Discord applies when it changes (permissions, thread membership,
ephemeral visibility, interaction acknowledgement). No I/O: every change appends gateway
events to an outbox that the server drains and fans out, so REST handlers, the scripting API
and unit tests all go through the same rules.
"""

from __future__ import annotations

import bisect
import re
import secrets
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from cohortlab.localdiscord import permissions as P
from cohortlab.localdiscord.models import (
    DM,
    EPHEMERAL,
    GUILD_ANNOUNCEMENT,
    GUILD_CATEGORY,
    GUILD_TEXT,
    JSON,
    LOADING,
    MSG_CHAT_INPUT,
    MSG_DEFAULT,
    MSG_REPLY,
    MSG_THREAD_CREATED,
    PRIVATE_THREAD,
    PUBLIC_THREAD,
    AppCommand,
    Attachment,
    BotApp,
    Channel,
    Guild,
    Interaction,
    Member,
    Message,
    Role,
    User,
    iso,
)
from cohortlab.localdiscord.permissions import Overwrite
from cohortlab.localdiscord.snowflake import SnowflakeGenerator

# Gateway intents (https://discord.com/developers/docs/events/gateway#gateway-intents)
GUILDS = 1 << 0
GUILD_MEMBERS = 1 << 1
GUILD_PRESENCES = 1 << 8
GUILD_MESSAGES = 1 << 9
GUILD_MESSAGE_REACTIONS = 1 << 10
DIRECT_MESSAGES = 1 << 12
DIRECT_MESSAGE_REACTIONS = 1 << 13
MESSAGE_CONTENT = 1 << 15
PRIVILEGED_INTENTS = GUILD_MEMBERS | GUILD_PRESENCES | MESSAGE_CONTENT

ATTACHMENT_SIZE_LIMIT = 10 * 1024 * 1024
LARGE_THRESHOLD = 250

_USER_MENTION = re.compile(r"<@!?(\d+)>")
_ROLE_MENTION = re.compile(r"<@&(\d+)>")


class ApiError(Exception):
    """A refusal in Discord's words: HTTP status, JSON error code and message."""

    def __init__(self, status: int, code: int, message: str, errors: JSON | None = None) -> None:
        super().__init__(f"{status} {code} {message}")
        self.status = status
        self.code = code
        self.message = message
        self.errors = errors

    def payload(self) -> JSON:
        data: JSON = {"message": self.message, "code": self.code}
        if self.errors is not None:
            data["errors"] = self.errors
        return data


def missing_access() -> ApiError:
    return ApiError(403, 50001, "Missing Access")


def missing_permissions() -> ApiError:
    return ApiError(403, 50013, "Missing Permissions")


def invalid_form(field_name: str, code: str, message: str) -> ApiError:
    errors = {field_name: {"_errors": [{"code": code, "message": message}]}}
    return ApiError(400, 50035, "Invalid Form Body", errors)


@dataclass
class Event:
    """A gateway dispatch and who may receive it.

    ``render`` builds the payload per receiving bot when it depends on the receiver
    (GUILD_CREATE); ``message`` marks payloads whose content the MESSAGE_CONTENT rule may strip.
    """

    name: str
    data: JSON
    guild_id: int | None = None
    channel_id: int | None = None
    intent: int = 0
    message: Message | None = None
    only_app: int | None = None
    only_user: int | None = None
    render: Callable[[BotApp, int], JSON] | None = None


@dataclass
class Upload:
    """A file as a user or bot sends it, before the server gives it an id and URL."""

    filename: str
    data: bytes
    content_type: str = "application/octet-stream"
    description: str | None = None


@dataclass
class ModalShown:
    interaction_id: int
    data: JSON
    message_id: int | None


@dataclass
class DiscordState:
    """Everything the fake Discord knows. Methods check permissions for the acting user id."""

    attachment_base_url: str = "http://127.0.0.1/attachments"
    interaction_deadline: float | None = 3.0
    monotonic: Callable[[], float] = time.monotonic
    clock: Callable[[], datetime] = field(default=lambda: datetime.now(UTC))
    snowflakes: SnowflakeGenerator = field(default_factory=SnowflakeGenerator)
    users: dict[int, User] = field(default_factory=dict)
    apps: dict[int, BotApp] = field(default_factory=dict)
    guilds: dict[int, Guild] = field(default_factory=dict)
    channels: dict[int, Channel] = field(default_factory=dict)
    messages: dict[int, Message] = field(default_factory=dict)
    channel_messages: dict[int, list[int]] = field(default_factory=dict)
    attachments: dict[int, Attachment] = field(default_factory=dict)
    commands: dict[int, AppCommand] = field(default_factory=dict)
    interactions: dict[int, Interaction] = field(default_factory=dict)
    #: Each interaction's token, to its id: webhook calls find theirs at once, as Discord does
    #: (a scan over every interaction of a long bench run made each call slower than the last).
    interaction_tokens: dict[str, int] = field(default_factory=dict)
    modals: dict[int, ModalShown] = field(default_factory=dict)
    dm_channels: dict[frozenset[int], int] = field(default_factory=dict)
    outbox: list[Event] = field(default_factory=list)

    # ------------------------------------------------------------------ lookups

    def now(self) -> datetime:
        return self.clock()

    def use_clock(self, clock: Callable[[], datetime]) -> None:
        """Make timestamps and snowflakes follow ``clock`` (the demo's controllable time)."""
        self.clock = clock
        self.snowflakes = SnowflakeGenerator(clock_ms=lambda: int(clock().timestamp() * 1000))

    def new_id(self) -> int:
        return self.snowflakes.next()

    def drain(self) -> list[Event]:
        events, self.outbox = self.outbox, []
        return events

    def user(self, user_id: int) -> User:
        try:
            return self.users[user_id]
        except KeyError:
            raise ApiError(404, 10013, "Unknown User") from None

    def guild(self, guild_id: int) -> Guild:
        try:
            return self.guilds[guild_id]
        except KeyError:
            raise ApiError(404, 10004, "Unknown Guild") from None

    def channel(self, channel_id: int) -> Channel:
        try:
            return self.channels[channel_id]
        except KeyError:
            raise ApiError(404, 10003, "Unknown Channel") from None

    def message(self, channel_id: int, message_id: int) -> Message:
        msg = self.messages.get(message_id)
        if msg is None or msg.deleted or msg.channel_id != channel_id:
            raise ApiError(404, 10008, "Unknown Message")
        return msg

    def member(self, guild_id: int, user_id: int) -> Member:
        try:
            return self.guild(guild_id).members[user_id]
        except KeyError:
            raise ApiError(404, 10007, "Unknown Member") from None

    def app_by_token(self, token: str) -> BotApp | None:
        for app in self.apps.values():
            if secrets.compare_digest(app.token, token):
                return app
        return None

    def app_for_user(self, user_id: int) -> BotApp | None:
        for app in self.apps.values():
            if app.user_id == user_id:
                return app
        return None

    # ------------------------------------------------------------ permissions

    def base_permissions(self, guild: Guild, user_id: int) -> int:
        member = guild.members.get(user_id)
        if member is None:
            return 0
        everyone = guild.roles[guild.id].permissions
        roles = (guild.roles[r].permissions for r in member.roles if r in guild.roles)
        return P.base_permissions(
            user_id=user_id, owner_id=guild.owner_id, everyone_perms=everyone, role_perms=roles
        )

    def permissions_in(self, user_id: int, channel_id: int) -> int:
        """What a user may do in a channel, threads inheriting from their parent."""
        ch = self.channels.get(channel_id)
        if ch is None:
            return 0
        if ch.type == DM:
            if user_id not in ch.recipients:
                return 0
            return (
                P.VIEW_CHANNEL
                | P.SEND_MESSAGES
                | P.READ_MESSAGE_HISTORY
                | P.ADD_REACTIONS
                | P.ATTACH_FILES
                | P.EMBED_LINKS
            )
        if ch.is_thread:
            assert ch.parent_id is not None
            perms = self.permissions_in(user_id, ch.parent_id)
            if (
                ch.type == PRIVATE_THREAD
                and user_id not in ch.thread_members
                and not perms & P.MANAGE_THREADS
            ):
                return 0
            return perms
        assert ch.guild_id is not None
        guild = self.guilds[ch.guild_id]
        member = guild.members.get(user_id)
        if member is None:
            return 0
        base = self.base_permissions(guild, user_id)
        return P.channel_permissions(
            base,
            guild_id=guild.id,
            user_id=user_id,
            member_role_ids=member.roles,
            overwrites=ch.overwrites,
        )

    def require(self, user_id: int, channel_id: int, needed: int) -> int:
        """Raise Discord's error if a permission is missing: 50001 unseen, 50013 otherwise."""
        self.channel(channel_id)
        perms = self.permissions_in(user_id, channel_id)
        if not perms & P.VIEW_CHANNEL:
            raise missing_access()
        if perms & needed != needed:
            raise missing_permissions()
        return perms

    def can_view(self, user_id: int, channel_id: int) -> bool:
        return bool(self.permissions_in(user_id, channel_id) & P.VIEW_CHANNEL)

    # ------------------------------------------------------------------ setup

    def add_user(self, username: str, *, global_name: str | None = None, bot: bool = False) -> User:
        user = User(id=self.new_id(), username=username, global_name=global_name, bot=bot)
        self.users[user.id] = user
        return user

    def add_app(self, name: str, token: str, *, owner_id: int | None = None) -> BotApp:
        bot_user = self.add_user(name, bot=True)
        if owner_id is None:
            owner_id = self.add_user(f"{name}-owner").id
        app = BotApp(
            id=self.new_id(), user_id=bot_user.id, token=token, name=name, owner_id=owner_id
        )
        self.apps[app.id] = app
        return app

    def create_guild(self, name: str, owner_id: int) -> Guild:
        guild = Guild(id=self.new_id(), name=name, owner_id=owner_id)
        guild.roles[guild.id] = Role(
            id=guild.id, guild_id=guild.id, name="@everyone", permissions=P.DEFAULT_EVERYONE
        )
        self.guilds[guild.id] = guild
        guild.members[owner_id] = Member(guild.id, owner_id, [], self.now())
        return guild

    def create_role(
        self,
        guild_id: int,
        name: str,
        *,
        permissions: int = 0,
        color: int = 0,
        hoist: bool = False,
        mentionable: bool = True,
        managed: bool = False,
    ) -> Role:
        guild = self.guild(guild_id)
        position = max((r.position for r in guild.roles.values()), default=0) + 1
        role = Role(
            id=self.new_id(),
            guild_id=guild_id,
            name=name,
            permissions=permissions,
            position=position,
            color=color,
            hoist=hoist,
            mentionable=mentionable,
            managed=managed,
        )
        guild.roles[role.id] = role
        self._emit(
            "GUILD_ROLE_CREATE",
            {"guild_id": str(guild_id), "role": role.payload()},
            guild_id=guild_id,
            intent=GUILDS,
        )
        return role

    def create_channel(
        self,
        guild_id: int,
        name: str,
        *,
        type: int = GUILD_TEXT,
        parent_id: int | None = None,
        topic: str | None = None,
        overwrites: Iterable[Overwrite] | None = None,
        position: int | None = None,
    ) -> Channel:
        guild = self.guild(guild_id)
        if overwrites is None and parent_id is not None:
            # Discord syncs a new channel's overwrites with its category.
            overwrites = [
                Overwrite(o.id, o.type, o.allow, o.deny) for o in self.channel(parent_id).overwrites
            ]
        ch = Channel(
            id=self.new_id(),
            type=type,
            guild_id=guild_id,
            name=name,
            parent_id=parent_id,
            topic=topic,
            overwrites=list(overwrites or []),
            position=len(guild.channel_ids) if position is None else position,
        )
        self.channels[ch.id] = ch
        self.channel_messages[ch.id] = []
        guild.channel_ids.append(ch.id)
        self._emit("CHANNEL_CREATE", ch.base_payload(), guild_id=guild_id, intent=GUILDS)
        return ch

    def set_overwrite(
        self, channel_id: int, target_id: int, target_type: int, *, allow: int = 0, deny: int = 0
    ) -> None:
        ch = self.channel(channel_id)
        ch.overwrites = [
            o for o in ch.overwrites if not (o.id == target_id and o.type == target_type)
        ]
        ch.overwrites.append(Overwrite(target_id, target_type, allow, deny))
        self._emit("CHANNEL_UPDATE", ch.base_payload(), guild_id=ch.guild_id, intent=GUILDS)

    def add_member(
        self, guild_id: int, user_id: int, *, roles: Iterable[int] = (), nick: str | None = None
    ) -> Member:
        guild = self.guild(guild_id)
        self.user(user_id)
        member = Member(guild_id, user_id, list(roles), self.now(), nick)
        guild.members[user_id] = member
        app = self.app_for_user(user_id)
        if app is not None:
            self._emit(
                "GUILD_CREATE",
                {},
                guild_id=guild_id,
                only_user=user_id,
                render=lambda a, intents: self.guild_create_payload(guild, a, intents, joined=True),
            )
        else:
            self._emit(
                "GUILD_MEMBER_ADD",
                {**self.member_payload(member), "guild_id": str(guild_id)},
                guild_id=guild_id,
                intent=GUILD_MEMBERS,
            )
        return member

    def remove_member(self, guild_id: int, user_id: int) -> None:
        guild = self.guild(guild_id)
        if guild.members.pop(user_id, None) is None:
            raise ApiError(404, 10007, "Unknown Member")
        for cid in guild.channel_ids:
            self.channels[cid].thread_members.pop(user_id, None)
        if self.app_for_user(user_id) is not None:
            self._emit(
                "GUILD_DELETE", {"id": str(guild_id), "unavailable": False}, only_user=user_id
            )
        self._emit(
            "GUILD_MEMBER_REMOVE",
            {"guild_id": str(guild_id), "user": self.user(user_id).payload()},
            guild_id=guild_id,
            intent=GUILD_MEMBERS,
        )

    def _highest_role_position(self, guild: Guild, user_id: int) -> int:
        if user_id == guild.owner_id:
            return 1 << 30
        member = guild.members.get(user_id)
        if member is None:
            return -1
        return max((guild.roles[r].position for r in member.roles if r in guild.roles), default=0)

    def set_member_role(
        self, actor_id: int, guild_id: int, user_id: int, role_id: int, *, add: bool
    ) -> None:
        """Add or remove a role: MANAGE_ROLES and a higher top role than the role, like Discord."""
        guild = self.guild(guild_id)
        member = self.member(guild_id, user_id)
        role = guild.roles.get(role_id)
        if role is None or role_id == guild_id:
            raise ApiError(404, 10011, "Unknown Role")
        if actor_id != guild.owner_id:
            perms = self.base_permissions(guild, actor_id)
            if not perms & P.MANAGE_ROLES:
                raise missing_permissions()
            if role.position >= self._highest_role_position(guild, actor_id) or role.managed:
                raise missing_permissions()
        if add and role_id not in member.roles:
            member.roles.append(role_id)
        elif not add and role_id in member.roles:
            member.roles.remove(role_id)
        else:
            return
        self._emit(
            "GUILD_MEMBER_UPDATE",
            {**self.member_payload(member), "guild_id": str(guild_id)},
            guild_id=guild_id,
            intent=GUILD_MEMBERS,
        )

    # --------------------------------------------------------------- payloads

    def member_payload(self, member: Member, *, permissions: int | None = None) -> JSON:
        data = member.partial_payload()
        data["user"] = self.users[member.user_id].payload()
        if permissions is not None:
            data["permissions"] = str(permissions)
        return data

    def channel_payload(self, ch: Channel, *, viewer_id: int | None = None) -> JSON:
        data = ch.base_payload()
        if ch.type == DM:
            data["recipients"] = [
                self.users[u].payload() for u in ch.recipients if u != viewer_id
            ] or [self.users[ch.recipients[0]].payload()]
        if ch.is_thread and viewer_id is not None and viewer_id in ch.thread_members:
            data["member"] = ch.thread_member_payload(viewer_id)
        return data

    def guild_create_payload(
        self, guild: Guild, app: BotApp, intents: int, *, joined: bool = False
    ) -> JSON:
        """GUILD_CREATE as a bot sees it: members only with GUILD_MEMBERS and a small guild.

        After READY it says ``unavailable: false`` (the guild came online); on joining a
        guild the key is absent, which is how clients tell a join from an outage ending.
        """
        bot_id = app.user_id
        count = len(guild.members)
        large = count > LARGE_THRESHOLD
        if intents & GUILD_MEMBERS and not large:
            members = list(guild.members.values())
        else:
            members = [m for m in guild.members.values() if m.user_id == bot_id]
        channels = [self.channels[c] for c in guild.channel_ids]
        me = guild.members.get(bot_id)
        payload: JSON = {
            "id": str(guild.id),
            "name": guild.name,
            "owner_id": str(guild.owner_id),
            "icon": None,
            "splash": None,
            "discovery_splash": None,
            "banner": None,
            "description": None,
            "features": [],
            "verification_level": 0,
            "default_message_notifications": 0,
            "explicit_content_filter": 0,
            "mfa_level": 0,
            "nsfw_level": 0,
            "premium_tier": 0,
            "preferred_locale": "en-GB",
            "afk_timeout": 300,
            "system_channel_id": None,
            "system_channel_flags": 0,
            "rules_channel_id": None,
            "application_id": None,
            "joined_at": iso(me.joined_at if me else guild.created_at),
            "large": large,
            "unavailable": False,
            "member_count": count,
            "roles": [r.payload() for r in guild.roles.values()],
            "emojis": [],
            "stickers": [],
            "members": [self.member_payload(m) for m in members],
            "channels": [self.channel_payload(c) for c in channels if not c.is_thread],
            "threads": [
                self.channel_payload(c, viewer_id=bot_id)
                for c in channels
                if c.is_thread and not c.archived and self.can_view(bot_id, c.id)
            ],
            "presences": [],
            "voice_states": [],
            "stage_instances": [],
            "guild_scheduled_events": [],
            "soundboard_sounds": [],
            "premium_progress_bar_enabled": False,
        }
        if joined:
            del payload["unavailable"]
        return payload

    def message_payload(
        self, msg: Message, *, viewer_id: int | None = None, with_referenced: bool = True
    ) -> JSON:
        author = self.users[msg.author_id]
        data: JSON = {
            "id": str(msg.id),
            "channel_id": str(msg.channel_id),
            "author": author.payload(),
            "content": msg.content,
            "timestamp": iso(msg.created_at),
            "edited_timestamp": iso(msg.edited_at),
            "tts": msg.tts,
            "mention_everyone": msg.mention_everyone,
            "mentions": [self._mention_payload(msg, u) for u in msg.mention_user_ids],
            "mention_roles": [str(r) for r in msg.mention_role_ids],
            "attachments": [a.payload() for a in msg.attachments],
            "embeds": [dict(e) for e in msg.embeds],
            "components": [dict(c) for c in msg.components],
            "reactions": [
                {
                    "emoji": _emoji_payload(key),
                    "count": len(users),
                    "count_details": {"burst": 0, "normal": len(users)},
                    "me": viewer_id in users,
                    "me_burst": False,
                    "burst_colors": [],
                }
                for key, users in msg.reactions.items()
                if users
            ],
            "pinned": msg.pinned,
            "type": msg.type,
            "flags": msg.flags,
        }
        if msg.nonce is not None:
            data["nonce"] = msg.nonce
        if msg.guild_id is not None:
            data["guild_id"] = str(msg.guild_id)
            member = self.guilds[msg.guild_id].members.get(msg.author_id)
            if member is not None and msg.webhook_id is None:
                data["member"] = member.partial_payload()
        if msg.webhook_id is not None:
            data["webhook_id"] = str(msg.webhook_id)
        if msg.application_id is not None:
            data["application_id"] = str(msg.application_id)
        if msg.interaction_metadata is not None:
            meta = msg.interaction_metadata
            data["interaction_metadata"] = meta
            legacy: JSON = {
                "id": meta["id"],
                "type": meta["type"],
                "name": meta.get("name", ""),
                "user": meta["user"],
            }
            data["interaction"] = legacy
        if msg.reference is not None:
            data["message_reference"] = msg.reference
            if with_referenced and msg.type == MSG_REPLY:
                ref = self.messages.get(int(msg.reference["message_id"]))
                data["referenced_message"] = (
                    None
                    if ref is None or ref.deleted
                    else self.message_payload(ref, viewer_id=viewer_id, with_referenced=False)
                )
        if msg.thread_id is not None and msg.thread_id in self.channels:
            data["thread"] = self.channel_payload(self.channels[msg.thread_id])
        return data

    def _mention_payload(self, msg: Message, user_id: int) -> JSON:
        data = self.users[user_id].payload()
        if msg.guild_id is not None:
            member = self.guilds[msg.guild_id].members.get(user_id)
            if member is not None:
                data["member"] = member.partial_payload()
        return data

    # ---------------------------------------------------------------- messages

    def store_attachment(self, upload: Upload, channel_id: int) -> Attachment:
        att_id = self.new_id()
        safe_name = re.sub(r"[^A-Za-z0-9._-]", "_", upload.filename) or "file"
        att = Attachment(
            id=att_id,
            filename=upload.filename,
            content_type=upload.content_type,
            data=upload.data,
            url=f"{self.attachment_base_url}/{channel_id}/{att_id}/{safe_name}",
            description=upload.description,
        )
        self.attachments[att_id] = att
        return att

    def _resolve_mentions(self, msg: Message, author_id: int, allowed: JSON | None) -> None:
        """Fill the mention fields the way Discord does: only what allowed_mentions lets ping."""
        parse: list[str]
        users_allowed: list[int] = []
        roles_allowed: list[int] = []
        if allowed is None:
            parse = ["users", "roles", "everyone"]
            replied = True
        else:
            parse = list(allowed.get("parse") or [])
            users_allowed = [int(u) for u in allowed.get("users") or []]
            roles_allowed = [int(r) for r in allowed.get("roles") or []]
            replied = bool(allowed.get("replied_user", False))
        ids: list[int] = []
        for match in _USER_MENTION.finditer(msg.content):
            uid = int(match.group(1))
            if uid in self.users and ("users" in parse or uid in users_allowed) and uid not in ids:
                ids.append(uid)
        if msg.type == MSG_REPLY and replied and msg.reference is not None:
            ref = self.messages.get(int(msg.reference["message_id"]))
            if ref is not None and ref.author_id not in ids:
                ids.append(ref.author_id)
        msg.mention_user_ids = ids
        if msg.guild_id is not None:
            guild = self.guilds[msg.guild_id]
            role_ids: list[int] = []
            for match in _ROLE_MENTION.finditer(msg.content):
                rid = int(match.group(1))
                if rid in guild.roles and ("roles" in parse or rid in roles_allowed):
                    role_ids.append(rid)
            msg.mention_role_ids = role_ids
            everyone = (
                "@everyone" in msg.content or "@here" in msg.content
            ) and "everyone" in parse
            msg.mention_everyone = bool(
                everyone and self.permissions_in(author_id, msg.channel_id) & P.MENTION_EVERYONE
            )

    def _validate_message(self, content: str, embeds: list[JSON], components: list[JSON]) -> None:
        if len(content) > 2000:
            raise invalid_form(
                "content", "BASE_TYPE_MAX_LENGTH", "Must be 2000 or fewer in length."
            )
        if len(embeds) > 10:
            raise invalid_form("embeds", "BASE_TYPE_MAX_LENGTH", "Must be 10 or fewer in length.")
        total = 0
        limits = {"title": 256, "description": 4096}
        for i, embed in enumerate(embeds):
            for key, limit in limits.items():
                value = str(embed.get(key) or "")
                total += len(value)
                if len(value) > limit:
                    raise invalid_form(
                        f"embeds.{i}.{key}",
                        "BASE_TYPE_MAX_LENGTH",
                        f"Must be {limit} or fewer in length.",
                    )
            fields = embed.get("fields") or []
            if len(fields) > 25:
                raise invalid_form(
                    f"embeds.{i}.fields", "BASE_TYPE_MAX_LENGTH", "Must be 25 or fewer in length."
                )
            for j, fld in enumerate(fields):
                name, value = str(fld.get("name", "")), str(fld.get("value", ""))
                if not name or not value:
                    raise invalid_form(
                        f"embeds.{i}.fields.{j}", "BASE_TYPE_REQUIRED", "This field is required"
                    )
                if len(name) > 256 or len(value) > 1024:
                    raise invalid_form(
                        f"embeds.{i}.fields.{j}",
                        "BASE_TYPE_MAX_LENGTH",
                        "Field name or value too long.",
                    )
                total += len(name) + len(value)
            footer = (embed.get("footer") or {}).get("text") or ""
            author = (embed.get("author") or {}).get("name") or ""
            total += len(footer) + len(author)
        if total > 6000:
            raise invalid_form(
                "embeds", "MAX_EMBED_SIZE_EXCEEDED", "Embed size exceeds maximum size of 6000"
            )
        if len(components) > 5:
            raise invalid_form(
                "components", "BASE_TYPE_MAX_LENGTH", "Must be 5 or fewer in length."
            )
        for i, row in enumerate(components):
            for j, comp in enumerate(row.get("components") or []):
                cid = comp.get("custom_id")
                if cid is not None and len(str(cid)) > 100:
                    raise invalid_form(
                        f"components.{i}.components.{j}.custom_id",
                        "BASE_TYPE_MAX_LENGTH",
                        "Must be 100 or fewer in length.",
                    )

    def _check_can_post(self, author_id: int, ch: Channel) -> None:
        if ch.type == DM:
            if author_id not in ch.recipients:
                raise missing_access()
            other = [u for u in ch.recipients if u != author_id]
            target = self.users[other[0]] if other else None
            if target is not None and not target.accepts_dms:
                raise ApiError(403, 50007, "Cannot send messages to this user")
            return
        needed = P.SEND_MESSAGES_IN_THREADS if ch.is_thread else P.SEND_MESSAGES
        perms = self.require(author_id, ch.id, needed)
        if ch.is_thread and (ch.locked and not perms & P.MANAGE_THREADS):
            raise ApiError(400, 50083, "Thread is archived")

    def create_message(
        self,
        author_id: int,
        channel_id: int,
        content: str = "",
        *,
        embeds: list[JSON] | None = None,
        components: list[JSON] | None = None,
        uploads: list[Upload] | None = None,
        reference: JSON | None = None,
        allowed_mentions: JSON | None = None,
        flags: int = 0,
        nonce: str | int | None = None,
        tts: bool = False,
        check_permissions: bool = True,
        webhook_id: int | None = None,
        interaction_metadata: JSON | None = None,
        visible_to: int | None = None,
        msg_type: int | None = None,
        raw_reference: JSON | None = None,
    ) -> Message:
        ch = self.channel(channel_id)
        embeds = [dict(e, type=e.get("type", "rich")) for e in embeds or []]
        components = list(components or [])
        uploads = list(uploads or [])
        if check_permissions:
            self._check_can_post(author_id, ch)
        self._validate_message(content, embeds, components)
        if not (content or embeds or components or uploads or flags & LOADING):
            raise ApiError(400, 50006, "Cannot send an empty message")
        if ch.is_thread and ch.archived:
            if (
                ch.locked
                and check_permissions
                and not (self.permissions_in(author_id, ch.id) & P.MANAGE_THREADS)
            ):
                raise ApiError(400, 50083, "Thread is archived")
            ch.archived = False
            ch.archive_timestamp = self.now()
            self._emit_thread_update(ch)
        ref_json: JSON | None = None
        if reference is not None and reference.get("message_id") is not None:
            ref_id = int(reference["message_id"])
            ref_channel = int(reference.get("channel_id") or channel_id)
            ref_msg = self.messages.get(ref_id)
            if ref_msg is None or ref_msg.deleted or ref_msg.channel_id != ref_channel:
                if reference.get("fail_if_not_exists", True):
                    raise invalid_form(
                        "message_reference", "REPLIES_UNKNOWN_MESSAGE", "Unknown message"
                    )
            else:
                ref_json = {
                    "type": 0,
                    "message_id": str(ref_id),
                    "channel_id": str(ref_channel),
                }
                if ch.guild_id is not None:
                    ref_json["guild_id"] = str(ch.guild_id)
        if raw_reference is not None:
            ref_json = raw_reference
        msg_id = self.new_id()
        if msg_type is None:
            msg_type = MSG_REPLY if ref_json is not None else MSG_DEFAULT
        msg = Message(
            id=msg_id,
            channel_id=channel_id,
            guild_id=ch.guild_id,
            author_id=author_id,
            content=content,
            created_at=self.now(),
            type=msg_type,
            embeds=embeds,
            components=components,
            attachments=[self.store_attachment(u, channel_id) for u in uploads],
            flags=flags,
            reference=ref_json,
            allowed_mentions=allowed_mentions,
            nonce=nonce,
            tts=tts,
            webhook_id=webhook_id,
            application_id=webhook_id,
            interaction_metadata=interaction_metadata,
            visible_to=visible_to,
        )
        self._resolve_mentions(msg, author_id, allowed_mentions)
        self.messages[msg_id] = msg
        if visible_to is not None:
            return msg
        self.channel_messages.setdefault(channel_id, []).append(msg_id)
        ch.last_message_id = msg_id
        if ch.is_thread:
            ch.message_count += 1
            ch.total_message_sent += 1
            if author_id not in ch.thread_members and author_id in self.users:
                self._join_thread(ch, author_id)
        self._emit_message("MESSAGE_CREATE", msg)
        return msg

    def _message_intent(self, msg: Message) -> int:
        return GUILD_MESSAGES if msg.guild_id is not None else DIRECT_MESSAGES

    def _emit_message(self, name: str, msg: Message) -> None:
        self._emit(
            name,
            self.message_payload(msg),
            guild_id=msg.guild_id,
            channel_id=msg.channel_id,
            intent=self._message_intent(msg),
            message=msg,
        )

    def edit_message(
        self,
        actor_id: int,
        channel_id: int,
        message_id: int,
        body: JSON,
        uploads: list[Upload] | None = None,
        *,
        as_webhook: bool = False,
    ) -> Message:
        """PATCH a message: authors edit content, others with MANAGE_MESSAGES only flags."""
        msg = self.messages.get(message_id)
        if msg is None or msg.deleted or msg.channel_id != channel_id:
            raise ApiError(404, 10008, "Unknown Message")
        if msg.visible_to is None and not as_webhook:
            self.require(actor_id, channel_id, 0)
        own = msg.author_id == actor_id or as_webhook
        content_keys = {"content", "embeds", "components", "attachments", "allowed_mentions"}
        if not own:
            if content_keys & {k for k, v in body.items() if v is not None}:
                raise ApiError(403, 50005, "Cannot edit a message authored by another user")
            self.require(actor_id, channel_id, P.MANAGE_MESSAGES)
        content = str(body["content"] or "") if "content" in body else msg.content
        embeds = (
            [dict(e, type=e.get("type", "rich")) for e in body["embeds"] or []]
            if "embeds" in body
            else msg.embeds
        )
        components = list(body["components"] or []) if "components" in body else msg.components
        # Validate before changing anything: a refused edit leaves the message as it was.
        self._validate_message(content, embeds, components)
        msg.content, msg.embeds, msg.components = content, embeds, components
        if "flags" in body and body["flags"] is not None:
            keep = msg.flags & EPHEMERAL
            msg.flags = (int(body["flags"]) & ~(EPHEMERAL | LOADING)) | keep
        if "attachments" in body and body["attachments"] is not None:
            existing = {a.id for a in msg.attachments}
            keep_ids = {
                int(a["id"])
                for a in body["attachments"]
                if str(a.get("id", "")).isdigit() and int(a["id"]) in existing
            }
            msg.attachments = [a for a in msg.attachments if a.id in keep_ids]
        for upload in uploads or []:
            msg.attachments.append(self.store_attachment(upload, channel_id))
        if "allowed_mentions" in body:
            msg.allowed_mentions = body["allowed_mentions"]
        msg.flags &= ~LOADING
        msg.edited_at = self.now()
        self._resolve_mentions(msg, msg.author_id, msg.allowed_mentions)
        if msg.visible_to is None:
            self._emit_message("MESSAGE_UPDATE", msg)
        return msg

    def delete_message(
        self, actor_id: int, channel_id: int, message_id: int, *, as_webhook: bool = False
    ) -> None:
        msg = self.messages.get(message_id)
        if msg is None or msg.deleted or msg.channel_id != channel_id:
            raise ApiError(404, 10008, "Unknown Message")
        if msg.author_id != actor_id and not as_webhook:
            self.require(actor_id, channel_id, P.MANAGE_MESSAGES)
        elif msg.visible_to is None and not as_webhook:
            self.require(actor_id, channel_id, 0)
        msg.deleted = True
        if msg.visible_to is not None:
            return
        ids = self.channel_messages.get(channel_id, [])
        idx = bisect.bisect_left(ids, message_id)
        if idx < len(ids) and ids[idx] == message_id:
            ids.pop(idx)
        ch = self.channels[channel_id]
        if ch.is_thread:
            ch.message_count = max(ch.message_count - 1, 0)
        data: JSON = {"id": str(message_id), "channel_id": str(channel_id)}
        if msg.guild_id is not None:
            data["guild_id"] = str(msg.guild_id)
        self._emit(
            "MESSAGE_DELETE",
            data,
            guild_id=msg.guild_id,
            channel_id=channel_id,
            intent=self._message_intent(msg),
        )

    def history(
        self,
        actor_id: int,
        channel_id: int,
        *,
        limit: int = 50,
        before: int | None = None,
        after: int | None = None,
        around: int | None = None,
    ) -> list[Message]:
        """Channel history newest first, as Discord returns it for every cursor kind."""
        self.require(actor_id, channel_id, P.READ_MESSAGE_HISTORY)
        limit = max(1, min(limit, 100))
        ids = self.channel_messages.get(channel_id, [])
        if around is not None:
            idx = bisect.bisect_left(ids, around)
            half = limit // 2
            start = max(0, idx - half)
            chosen = ids[start : start + limit]
        elif after is not None:
            idx = bisect.bisect_right(ids, after)
            chosen = ids[idx : idx + limit]
        else:
            end = len(ids) if before is None else bisect.bisect_left(ids, before)
            chosen = ids[max(0, end - limit) : end]
        return [self.messages[i] for i in reversed(chosen)]

    def get_message(self, actor_id: int, channel_id: int, message_id: int) -> Message:
        self.require(actor_id, channel_id, P.READ_MESSAGE_HISTORY)
        msg = self.message(channel_id, message_id)
        if msg.visible_to is not None:
            raise ApiError(404, 10008, "Unknown Message")
        return msg

    def set_pinned(self, actor_id: int, channel_id: int, message_id: int, pinned: bool) -> None:
        ch = self.channel(channel_id)
        if ch.type != DM:
            self.require(actor_id, channel_id, P.MANAGE_MESSAGES)
        msg = self.message(channel_id, message_id)
        if pinned == msg.pinned:
            return
        if pinned and sum(1 for m in self.pins(actor_id, channel_id)) >= 250:
            raise ApiError(400, 30003, "Maximum number of pins reached (250)")
        msg.pinned_at = self.now() if pinned else None
        last = max((m.pinned_at for m in self._pinned(channel_id) if m.pinned_at), default=None)
        data: JSON = {"channel_id": str(channel_id), "last_pin_timestamp": iso(last)}
        if ch.guild_id is not None:
            data["guild_id"] = str(ch.guild_id)
        self._emit(
            "CHANNEL_PINS_UPDATE",
            data,
            guild_id=ch.guild_id,
            channel_id=channel_id,
            intent=GUILDS if ch.guild_id is not None else DIRECT_MESSAGES,
        )
        self._emit_message("MESSAGE_UPDATE", msg)

    def _pinned(self, channel_id: int) -> list[Message]:
        found = [
            self.messages[i]
            for i in self.channel_messages.get(channel_id, [])
            if self.messages[i].pinned
        ]
        return sorted(found, key=lambda m: m.pinned_at or m.created_at, reverse=True)

    def pins(self, actor_id: int, channel_id: int) -> list[Message]:
        self.require(actor_id, channel_id, P.READ_MESSAGE_HISTORY)
        return self._pinned(channel_id)

    def react(
        self, actor_id: int, channel_id: int, message_id: int, emoji: str, *, add: bool
    ) -> None:
        needed = P.READ_MESSAGE_HISTORY | (P.ADD_REACTIONS if add else 0)
        self.require(actor_id, channel_id, needed)
        msg = self.message(channel_id, message_id)
        users = msg.reactions.setdefault(emoji, [])
        if add == (actor_id in users):
            return
        if add:
            users.append(actor_id)
        else:
            users.remove(actor_id)
        data: JSON = {
            "user_id": str(actor_id),
            "channel_id": str(channel_id),
            "message_id": str(message_id),
            "emoji": _emoji_payload(emoji),
            "burst": False,
            "type": 0,
        }
        if msg.guild_id is not None:
            data["guild_id"] = str(msg.guild_id)
            member = self.guilds[msg.guild_id].members.get(actor_id)
            if add and member is not None:
                data["member"] = self.member_payload(member)
        if add:
            data["message_author_id"] = str(msg.author_id)
        intent = GUILD_MESSAGE_REACTIONS if msg.guild_id is not None else DIRECT_MESSAGE_REACTIONS
        self._emit(
            "MESSAGE_REACTION_ADD" if add else "MESSAGE_REACTION_REMOVE",
            data,
            guild_id=msg.guild_id,
            channel_id=channel_id,
            intent=intent,
        )

    # ----------------------------------------------------------------- threads

    def _emit_thread_update(self, ch: Channel) -> None:
        self._emit(
            "THREAD_UPDATE",
            self.channel_payload(ch),
            guild_id=ch.guild_id,
            channel_id=ch.id,
            intent=GUILDS,
        )

    def _join_thread(self, ch: Channel, user_id: int) -> None:
        if user_id in ch.thread_members:
            return
        ch.thread_members[user_id] = self.now()
        added = ch.thread_member_payload(user_id)
        assert ch.guild_id is not None
        member = self.guilds[ch.guild_id].members.get(user_id)
        if member is not None:
            added["member"] = self.member_payload(member)
        data: JSON = {
            "id": str(ch.id),
            "guild_id": str(ch.guild_id),
            "member_count": len(ch.thread_members),
            "added_members": [added],
        }
        app = self.app_for_user(user_id)
        if app is not None and ch.type == PRIVATE_THREAD:
            # A bot added to a private thread learns of it the way Discord tells it.
            payload = self.channel_payload(ch, viewer_id=user_id)
            self._emit(
                "THREAD_CREATE", payload, guild_id=ch.guild_id, only_user=user_id, intent=GUILDS
            )
        self._emit(
            "THREAD_MEMBERS_UPDATE", data, guild_id=ch.guild_id, channel_id=ch.id, intent=GUILDS
        )

    def _leave_thread(self, ch: Channel, user_id: int) -> None:
        if ch.thread_members.pop(user_id, None) is None:
            return
        data: JSON = {
            "id": str(ch.id),
            "guild_id": str(ch.guild_id),
            "member_count": len(ch.thread_members),
            "removed_member_ids": [str(user_id)],
        }
        self._emit(
            "THREAD_MEMBERS_UPDATE", data, guild_id=ch.guild_id, channel_id=ch.id, intent=GUILDS
        )
        if ch.type == PRIVATE_THREAD and self.app_for_user(user_id) is not None:
            self._emit(
                "THREAD_DELETE",
                {
                    "id": str(ch.id),
                    "guild_id": str(ch.guild_id),
                    "parent_id": str(ch.parent_id),
                    "type": ch.type,
                },
                guild_id=ch.guild_id,
                only_user=user_id,
                intent=GUILDS,
            )

    def _new_thread(
        self,
        parent: Channel,
        thread_id: int,
        name: str,
        type_: int,
        owner_id: int,
        auto_archive: int,
        invitable: bool,
    ) -> Channel:
        if not name or len(name) > 100:
            raise invalid_form(
                "name", "BASE_TYPE_BAD_LENGTH", "Must be between 1 and 100 in length."
            )
        now = self.now()
        ch = Channel(
            id=thread_id,
            type=type_,
            guild_id=parent.guild_id,
            name=name,
            parent_id=parent.id,
            owner_id=owner_id,
            auto_archive_duration=auto_archive,
            archive_timestamp=now,
            create_timestamp=now,
            invitable=invitable,
        )
        self.channels[ch.id] = ch
        self.channel_messages[ch.id] = []
        assert parent.guild_id is not None
        self.guilds[parent.guild_id].channel_ids.append(ch.id)
        ch.thread_members[owner_id] = now

        def render(app: BotApp, intents: int) -> JSON:
            payload = self.channel_payload(ch, viewer_id=app.user_id)
            payload["newly_created"] = True
            return payload

        self._emit(
            "THREAD_CREATE",
            {},
            guild_id=ch.guild_id,
            channel_id=ch.id,
            intent=GUILDS,
            render=render,
        )
        owner_app = self.app_for_user(owner_id)
        if owner_app is None:
            ch.thread_members.pop(owner_id)
            self._join_thread(ch, owner_id)
        return ch

    def start_thread_from_message(
        self, actor_id: int, channel_id: int, message_id: int, name: str, auto_archive: int = 4320
    ) -> Channel:
        parent = self.channel(channel_id)
        if parent.is_thread or parent.type not in (GUILD_TEXT, GUILD_ANNOUNCEMENT):
            raise ApiError(400, 50024, "Cannot execute action on this channel type")
        self.require(actor_id, channel_id, P.CREATE_PUBLIC_THREADS | P.READ_MESSAGE_HISTORY)
        msg = self.message(channel_id, message_id)
        if msg.thread_id is not None:
            raise ApiError(400, 160004, "A thread has already been created for this message")
        type_ = 10 if parent.type == GUILD_ANNOUNCEMENT else PUBLIC_THREAD
        ch = self._new_thread(parent, msg.id, name, type_, actor_id, auto_archive, True)
        msg.thread_id = ch.id
        self._emit_message("MESSAGE_UPDATE", msg)
        return ch

    def start_thread(
        self,
        actor_id: int,
        channel_id: int,
        name: str,
        *,
        type: int = PRIVATE_THREAD,
        invitable: bool = True,
        auto_archive: int = 4320,
    ) -> Channel:
        parent = self.channel(channel_id)
        if parent.is_thread or parent.type not in (GUILD_TEXT, GUILD_ANNOUNCEMENT):
            raise ApiError(400, 50024, "Cannot execute action on this channel type")
        if type not in (PUBLIC_THREAD, PRIVATE_THREAD, 10):
            raise invalid_form("type", "BASE_TYPE_CHOICES", "Value must be one of {10, 11, 12}.")
        needed = P.CREATE_PRIVATE_THREADS if type == PRIVATE_THREAD else P.CREATE_PUBLIC_THREADS
        self.require(actor_id, channel_id, needed)
        ch = self._new_thread(parent, self.new_id(), name, type, actor_id, auto_archive, invitable)
        if type != PRIVATE_THREAD:
            self.create_message(
                actor_id,
                channel_id,
                name,
                check_permissions=False,
                msg_type=MSG_THREAD_CREATED,
                raw_reference={"channel_id": str(ch.id), "guild_id": str(ch.guild_id)},
            )
        return ch

    def add_thread_member(self, actor_id: int, thread_id: int, user_id: int) -> None:
        ch = self.channel(thread_id)
        if not ch.is_thread:
            raise ApiError(400, 50024, "Cannot execute action on this channel type")
        perms = self.require(actor_id, thread_id, P.SEND_MESSAGES_IN_THREADS)
        if ch.archived:
            raise ApiError(400, 50083, "Thread is archived")
        if (
            actor_id != user_id
            and ch.type == PRIVATE_THREAD
            and not (perms & P.MANAGE_THREADS or (ch.invitable and actor_id in ch.thread_members))
        ):
            raise missing_permissions()
        assert ch.guild_id is not None
        self.member(ch.guild_id, user_id)
        if ch.type != PRIVATE_THREAD and not self.can_view(user_id, thread_id):
            raise missing_access()
        self._join_thread(ch, user_id)

    def remove_thread_member(self, actor_id: int, thread_id: int, user_id: int) -> None:
        ch = self.channel(thread_id)
        if not ch.is_thread:
            raise ApiError(400, 50024, "Cannot execute action on this channel type")
        if actor_id != user_id:
            perms = self.require(actor_id, thread_id, 0)
            is_owner = ch.type == PRIVATE_THREAD and ch.owner_id == actor_id
            if not (perms & P.MANAGE_THREADS or is_owner):
                raise missing_permissions()
        if user_id not in ch.thread_members:
            raise ApiError(404, 10007, "Unknown Member")
        self._leave_thread(ch, user_id)

    def edit_channel(self, actor_id: int, channel_id: int, body: JSON) -> Channel:
        ch = self.channel(channel_id)
        perms = self.require(actor_id, channel_id, 0)
        if ch.is_thread:
            owner = ch.owner_id == actor_id
            manage = bool(perms & P.MANAGE_THREADS)
            if "locked" in body and bool(body["locked"]) != ch.locked and not manage:
                raise missing_permissions()
            if ch.locked and ch.archived and not manage:
                raise ApiError(400, 50083, "Thread is archived")
            if ("name" in body or "auto_archive_duration" in body or "invitable" in body) and not (
                owner or manage
            ):
                raise missing_permissions()
            if "archived" in body and not (owner or manage or perms & P.SEND_MESSAGES_IN_THREADS):
                raise missing_permissions()
            for key in ("name", "locked", "invitable", "auto_archive_duration"):
                if key in body and body[key] is not None:
                    setattr(ch, key, body[key])
            archived = body.get("archived")
            if archived is not None and bool(archived) != ch.archived:
                ch.archived = bool(body["archived"])
                ch.archive_timestamp = self.now()
            self._emit_thread_update(ch)
            return ch
        if not perms & P.MANAGE_CHANNELS:
            raise missing_permissions()
        for key in ("name", "topic", "position", "rate_limit_per_user"):
            if key in body:
                setattr(ch, key, body[key])
        if "parent_id" in body:
            ch.parent_id = None if body["parent_id"] is None else int(body["parent_id"])
        if "permission_overwrites" in body:
            ch.overwrites = [
                Overwrite(
                    int(o["id"]), int(o["type"]), int(o.get("allow", 0)), int(o.get("deny", 0))
                )
                for o in body["permission_overwrites"]
            ]
        self._emit("CHANNEL_UPDATE", ch.base_payload(), guild_id=ch.guild_id, intent=GUILDS)
        return ch

    def open_dm(self, user_id: int, recipient_id: int) -> Channel:
        self.user(recipient_id)
        key = frozenset({user_id, recipient_id})
        existing = self.dm_channels.get(key)
        if existing is not None:
            return self.channels[existing]
        ch = Channel(
            id=self.new_id(),
            type=DM,
            guild_id=None,
            name=None,
            recipients=sorted(key) if len(key) > 1 else [user_id],
        )
        self.channels[ch.id] = ch
        self.channel_messages[ch.id] = []
        self.dm_channels[key] = ch.id
        return ch

    # ---------------------------------------------------------------- commands

    def overwrite_commands(
        self, app_id: int, guild_id: int | None, body: list[JSON]
    ) -> list[AppCommand]:
        """Bulk overwrite keeps the id of a command whose (name, type) survives, like Discord.

        The whole list is validated first: a refused overwrite changes nothing.
        """
        if guild_id is not None:
            self.guild(guild_id)
        if len(body) > 100:
            raise invalid_form("_root", "BASE_TYPE_MAX_LENGTH", "Must be 100 or fewer in length.")
        seen: set[tuple[str, int]] = set()
        for i, data in enumerate(body):
            ctype = int(data.get("type", 1))
            _validate_command_node(data, f"{i}", chat_input=ctype == 1, top=True)
            key = (str(data["name"]), ctype)
            if key in seen:
                raise invalid_form(
                    f"{i}.name",
                    "APPLICATION_COMMANDS_DUPLICATE_NAME",
                    "Application command names must be unique",
                )
            seen.add(key)
        existing = {
            (c.name, c.type): c
            for c in self.commands.values()
            if c.application_id == app_id and c.guild_id == guild_id
        }
        result: list[AppCommand] = []
        for data in body:
            old = existing.pop((str(data["name"]), int(data.get("type", 1))), None)
            if old is not None:
                old.data = dict(data)
                old.version = self.new_id()
                result.append(old)
            else:
                cmd = AppCommand(
                    id=self.new_id(),
                    application_id=app_id,
                    guild_id=guild_id,
                    version=self.new_id(),
                    data=dict(data),
                )
                self.commands[cmd.id] = cmd
                result.append(cmd)
        for stale in existing.values():
            del self.commands[stale.id]
        return result

    def list_commands(self, app_id: int, guild_id: int | None) -> list[AppCommand]:
        return [
            c
            for c in self.commands.values()
            if c.application_id == app_id and c.guild_id == guild_id
        ]

    def find_command(
        self, app_id: int, guild_id: int | None, name: str, ctype: int = 1
    ) -> AppCommand:
        """The command a user would see: the guild's own first, then global."""
        for scope in ([guild_id] if guild_id is not None else []) + [None]:
            for cmd in self.commands.values():
                if (
                    cmd.application_id == app_id
                    and cmd.guild_id == scope
                    and cmd.name == name
                    and cmd.type == ctype
                ):
                    return cmd
        raise ApiError(404, 10063, f"Unknown application command {name!r}")

    # ------------------------------------------------------------ interactions

    def create_interaction(
        self,
        app_id: int,
        type: int,
        user_id: int,
        channel_id: int,
        data: JSON,
        *,
        message_id: int | None = None,
    ) -> Interaction:
        ch = self.channel(channel_id)
        guild_id = ch.guild_id
        self.expire_interactions(timedelta(minutes=15))
        it = Interaction(
            id=self.new_id(),
            token="aW50ZXJhY3Rpb24" + secrets.token_urlsafe(48),
            type=type,
            application_id=app_id,
            user_id=user_id,
            guild_id=guild_id,
            channel_id=channel_id,
            data=data,
            created_monotonic=self.monotonic(),
            message_id=message_id,
        )
        self.interactions[it.id] = it
        self.interaction_tokens[it.token] = it.id
        # Interactions reach the bot even where it cannot read the channel, so no channel_id
        # for guild channels; DMs carry it so shard routing and recipient checks apply.
        self._emit(
            "INTERACTION_CREATE",
            self.interaction_payload(it),
            guild_id=guild_id,
            channel_id=channel_id if guild_id is None else None,
            only_app=app_id,
        )
        return it

    def interaction_payload(self, it: Interaction) -> JSON:
        app = self.apps[it.application_id]
        user = self.users[it.user_id]
        ch = self.channels[it.channel_id]
        user_perms = self.permissions_in(it.user_id, ch.id)
        channel = self.channel_payload(ch, viewer_id=app.user_id)
        channel["permissions"] = str(user_perms)
        data: JSON = {
            "id": str(it.id),
            "application_id": str(app.id),
            "type": it.type,
            "data": it.data,
            "token": it.token,
            "version": 1,
            "channel_id": str(ch.id),
            "channel": channel,
            "locale": "en-GB",
            "app_permissions": str(self.permissions_in(app.user_id, ch.id)),
            "entitlements": [],
            "entitlement_sku_ids": [],
            "attachment_size_limit": ATTACHMENT_SIZE_LIMIT,
        }
        if it.guild_id is not None:
            member = self.guilds[it.guild_id].members[it.user_id]
            data["guild_id"] = str(it.guild_id)
            data["guild"] = {"id": str(it.guild_id), "locale": "en-GB", "features": []}
            data["guild_locale"] = "en-GB"
            data["member"] = self.member_payload(member, permissions=user_perms)
            data["authorizing_integration_owners"] = {"0": str(it.guild_id)}
            data["context"] = 0
        else:
            data["user"] = user.payload()
            data["authorizing_integration_owners"] = {"1": str(it.user_id)}
            data["context"] = 1
        if it.message_id is not None:
            data["message"] = self.message_payload(
                self.messages[it.message_id], viewer_id=it.user_id
            )
        return data

    def interaction_by_token(self, app_id: int, token: str) -> Interaction:
        iid = self.interaction_tokens.get(token)
        it = self.interactions.get(iid) if iid is not None else None
        if it is None or it.application_id != app_id or not secrets.compare_digest(it.token, token):
            raise ApiError(404, 10015, "Unknown Webhook")
        return it

    def _interaction_metadata(self, it: Interaction) -> JSON:
        meta: JSON = {
            "id": str(it.id),
            "type": it.type,
            "user": self.users[it.user_id].payload(),
            "authorizing_integration_owners": (
                {"0": str(it.guild_id)} if it.guild_id is not None else {"1": str(it.user_id)}
            ),
        }
        if it.type == 2:
            meta["name"] = _command_path(it.data)
            meta["command_type"] = int(it.data.get("type", 1))
        if it.message_id is not None:
            meta["interacted_message_id"] = str(it.message_id)
        if it.original_message_id is not None:
            meta["original_response_message_id"] = str(it.original_message_id)
        return meta

    def _interaction_message(
        self, it: Interaction, body: JSON, uploads: list[Upload], *, loading: bool = False
    ) -> Message:
        app = self.apps[it.application_id]
        flags = int(body.get("flags") or 0)
        ephemeral = bool(flags & EPHEMERAL)
        if loading:
            flags = LOADING | (EPHEMERAL if ephemeral else 0)
        return self.create_message(
            app.user_id,
            it.channel_id,
            "" if loading else str(body.get("content") or ""),
            embeds=[] if loading else body.get("embeds"),
            components=[] if loading else body.get("components"),
            uploads=[] if loading else uploads,
            allowed_mentions=body.get("allowed_mentions"),
            flags=flags,
            tts=bool(body.get("tts", False)),
            check_permissions=False,
            webhook_id=app.id,
            interaction_metadata=self._interaction_metadata(it),
            visible_to=it.user_id if ephemeral else None,
            msg_type=MSG_CHAT_INPUT if it.type == 2 else MSG_DEFAULT,
        )

    def answered(self, it: Interaction) -> bool:
        """The user sees the answer: a message reply, or a "thinking" one since filled in."""
        if it.response_type != 5:
            return it.acknowledged
        original = self.messages.get(it.original_message_id or 0)
        return original is not None and not original.flags & LOADING

    def interaction_callback(
        self, interaction_id: int, token: str, body: JSON, uploads: list[Upload]
    ) -> JSON:
        """Acknowledge an interaction once, within the deadline, with a type it allows."""
        it = self.interactions.get(interaction_id)
        if it is None or not secrets.compare_digest(it.token, token):
            raise ApiError(404, 10062, "Unknown interaction")
        if it.acknowledged:
            raise ApiError(400, 40060, "Interaction has already been acknowledged.")
        if (
            self.interaction_deadline is not None
            and self.monotonic() - it.created_monotonic > self.interaction_deadline
        ):
            raise ApiError(404, 10062, "Unknown interaction")
        rtype = int(body.get("type", 0))
        data = body.get("data") or {}
        allowed = {2: {4, 5, 9}, 3: {4, 5, 6, 7, 9}, 4: {8}, 5: {4, 5, 6, 7}}.get(it.type, set())
        if rtype == 7 and it.type == 5 and it.message_id is None:
            allowed = set()
        if rtype not in allowed:
            raise ApiError(
                400,
                40043 if rtype == 9 else 50035,
                f"Interaction response type {rtype} is not valid for this interaction",
            )
        resource: JSON = {"type": rtype}
        message: Message | None = None
        if rtype == 4:
            message = self._interaction_message(it, data, uploads)
            it.original_message_id = message.id
        elif rtype == 5:
            message = self._interaction_message(it, data, [], loading=True)
            it.original_message_id = message.id
            it.ephemeral_defer = message.ephemeral
        elif rtype == 7:
            assert it.message_id is not None
            target = self.messages[it.message_id]
            message = self.edit_message(
                target.author_id, target.channel_id, target.id, data, uploads, as_webhook=True
            )
        elif rtype == 8:
            choices = data.get("choices") or []
            if len(choices) > 25:
                raise invalid_form(
                    "data.choices", "BASE_TYPE_MAX_LENGTH", "Must be 25 or fewer in length."
                )
            it.response_data = data
        elif rtype == 9:
            for key in ("custom_id", "title", "components"):
                if not data.get(key):
                    raise invalid_form(
                        f"data.{key}", "BASE_TYPE_REQUIRED", "This field is required"
                    )
            it.response_data = data
            self.modals[it.user_id] = ModalShown(it.id, data, it.message_id)
        it.response_type = rtype
        if message is not None:
            resource["message"] = self.message_payload(message, viewer_id=it.user_id)
        summary: JSON = {
            "id": str(it.id),
            "type": it.type,
            "response_message_loading": rtype == 5,
            "response_message_ephemeral": bool(message is not None and message.ephemeral),
        }
        if message is not None:
            summary["response_message_id"] = str(message.id)
        return {"interaction": summary, "resource": resource}

    def original_message(self, it: Interaction) -> Message:
        if it.response_type in (4, 5) and it.original_message_id is not None:
            msg = self.messages[it.original_message_id]
        elif it.response_type in (6, 7) and it.message_id is not None:
            msg = self.messages[it.message_id]
        else:
            raise ApiError(404, 10008, "Unknown Message")
        if msg.deleted:
            raise ApiError(404, 10008, "Unknown Message")
        return msg

    def interaction_message(self, it: Interaction, message_id: str) -> Message:
        if message_id == "@original":
            return self.original_message(it)
        mid = int(message_id)
        if mid not in it.followup_ids and mid != it.original_message_id:
            raise ApiError(404, 10008, "Unknown Message")
        msg = self.messages[mid]
        if msg.deleted:
            raise ApiError(404, 10008, "Unknown Message")
        return msg

    def followup(self, it: Interaction, body: JSON, uploads: list[Upload]) -> Message:
        if not it.acknowledged or it.response_type in (8, 9):
            raise ApiError(404, 10015, "Unknown Webhook")
        if it.response_type == 5 and it.original_message_id is not None:
            original = self.messages[it.original_message_id]
            if original.flags & LOADING and not original.deleted:
                # Deprecated Discord behaviour: the first follow-up fills the "thinking" message.
                return self.edit_message(
                    original.author_id,
                    original.channel_id,
                    original.id,
                    body,
                    uploads,
                    as_webhook=True,
                )
        msg = self._interaction_message(it, body, uploads)
        it.followup_ids.append(msg.id)
        return msg

    # ------------------------------------------------------------------- emit

    def _emit(
        self,
        name: str,
        data: JSON,
        *,
        guild_id: int | None = None,
        channel_id: int | None = None,
        intent: int = 0,
        message: Message | None = None,
        only_app: int | None = None,
        only_user: int | None = None,
        render: Callable[[BotApp, int], JSON] | None = None,
    ) -> None:
        self.outbox.append(
            Event(name, data, guild_id, channel_id, intent, message, only_app, only_user, render)
        )

    def render_for(self, event: Event, app: BotApp, intents: int) -> JSON | None:
        """What a bot's session receives for an event; None where Discord would not send it."""
        if event.only_app is not None and event.only_app != app.id:
            return None
        if event.only_user is not None and event.only_user != app.user_id:
            return None
        if event.intent and not intents & event.intent:
            return None
        if event.guild_id is not None:
            guild = self.guilds.get(event.guild_id)
            if guild is None or app.user_id not in guild.members:
                return None
        if event.channel_id is not None:
            ch = self.channels.get(event.channel_id)
            if ch is not None and ch.type == DM:
                if app.user_id not in ch.recipients:
                    return None
            elif not self.can_view(app.user_id, event.channel_id):
                return None
        if event.render is not None:
            return event.render(app, intents)
        if (
            event.message is not None
            and not intents & MESSAGE_CONTENT
            and not self._content_visible(event.message, app)
        ):
            return _withhold(event.data)
        if event.name == "THREAD_MEMBERS_UPDATE" and not intents & GUILD_MEMBERS:
            data = dict(event.data)
            added = [m for m in data.get("added_members", []) if int(m["user_id"]) == app.user_id]
            removed = [u for u in data.get("removed_member_ids", []) if int(u) == app.user_id]
            if not added and not removed:
                return None
            data["added_members"], data["removed_member_ids"] = added, removed
            return data
        return event.data

    def _content_visible(self, msg: Message, app: BotApp) -> bool:
        return (
            msg.guild_id is None
            or msg.author_id == app.user_id
            or app.user_id in msg.mention_user_ids
        )

    def rest_message_payload(self, msg: Message, app: BotApp) -> JSON:
        """A message as REST returns it to a bot: content withheld without the portal flag."""
        data = self.message_payload(msg, viewer_id=app.user_id)
        if not app.message_content_enabled and not self._content_visible(msg, app):
            return _withhold(data)
        return data

    def members_chunk(
        self, guild_id: int, *, query: str | None, limit: int, user_ids: list[int] | None
    ) -> list[Member]:
        guild = self.guild(guild_id)
        found: list[Member] = []
        for member in guild.members.values():
            user = self.users[member.user_id]
            if user_ids is not None:
                if member.user_id in user_ids:
                    found.append(member)
            elif (
                not query
                or user.username.lower().startswith(query.lower())
                or (member.nick and member.nick.lower().startswith(query.lower()))
            ):
                found.append(member)
        if limit:
            found = found[:limit]
        return found

    def active_threads(self, guild_id: int, viewer_id: int) -> list[Channel]:
        guild = self.guild(guild_id)
        return [
            self.channels[c]
            for c in guild.channel_ids
            if self.channels[c].is_thread
            and not self.channels[c].archived
            and self.can_view(viewer_id, c)
        ]

    def expire_interactions(self, older_than: timedelta) -> None:
        """Forget interactions whose tokens Discord would have expired (15 minutes)."""
        cutoff = self.monotonic() - older_than.total_seconds()
        # Oldest first (the dict keeps creation order, and the clock never goes back): stop at
        # the first one still valid, rather than scan every interaction on every click.
        while self.interactions:
            oldest = next(iter(self.interactions.values()))
            if oldest.created_monotonic >= cutoff:
                break
            del self.interactions[oldest.id]
            self.interaction_tokens.pop(oldest.token, None)


_COMMAND_NAME = re.compile(r"[-_\w]{1,32}")


def _validate_command_node(node: JSON, where: str, *, chat_input: bool, top: bool) -> None:
    """Discord's checks on a command or option: names, descriptions, counts, required order."""
    name = node.get("name")
    if (
        not isinstance(name, str)
        or not (_COMMAND_NAME.fullmatch(name) if chat_input or not top else 1 <= len(name) <= 32)
        or (chat_input and name != name.lower())
    ):
        raise invalid_form(f"{where}.name", "APPLICATION_COMMAND_INVALID_NAME", "Invalid name")
    if chat_input and not 1 <= len(str(node.get("description") or "")) <= 100:
        raise invalid_form(
            f"{where}.description", "BASE_TYPE_BAD_LENGTH", "Must be between 1 and 100 in length."
        )
    options = node.get("options") or []
    if len(options) > 25:
        raise invalid_form(f"{where}.options", "BASE_TYPE_MAX_LENGTH", "Must be 25 or fewer.")
    names: set[str] = set()
    optional_seen = False
    for j, opt in enumerate(options):
        here = f"{where}.options.{j}"
        _validate_command_node(opt, here, chat_input=True, top=False)
        if opt["name"] in names:
            raise invalid_form(here, "APPLICATION_COMMAND_OPTION_NAME_ALREADY_EXISTS", "Duplicate")
        names.add(opt["name"])
        if opt.get("type") in (1, 2):
            continue
        if opt.get("required"):
            if optional_seen:
                raise invalid_form(
                    here,
                    "APPLICATION_COMMAND_OPTIONS_REQUIRED_INVALID",
                    "Required options must be placed before non-required options",
                )
        else:
            optional_seen = True
        if len(opt.get("choices") or []) > 25:
            raise invalid_form(f"{here}.choices", "BASE_TYPE_MAX_LENGTH", "Must be 25 or fewer.")


def _emoji_payload(key: str) -> JSON:
    match = re.fullmatch(r"(?:a:)?([\w~]+):(\d+)", key)
    if match:
        return {"id": match.group(2), "name": match.group(1), "animated": key.startswith("a:")}
    return {"id": None, "name": key}


def _withhold(data: JSON) -> JSON:
    stripped = dict(data)
    stripped["content"] = ""
    stripped["embeds"] = []
    stripped["attachments"] = []
    stripped["components"] = []
    stripped.pop("poll", None)
    ref = stripped.get("referenced_message")
    if isinstance(ref, dict):
        stripped["referenced_message"] = _withhold(ref)
    return stripped


def _command_path(data: JSON) -> str:
    parts = [str(data.get("name", ""))]
    options: Any = data.get("options") or []
    while options and isinstance(options, list) and options[0].get("type") in (1, 2):
        parts.append(str(options[0]["name"]))
        options = options[0].get("options") or []
    return " ".join(parts)


__all__ = [
    "DIRECT_MESSAGES",
    "GUILDS",
    "GUILD_CATEGORY",
    "GUILD_MEMBERS",
    "GUILD_MESSAGES",
    "MESSAGE_CONTENT",
    "PRIVILEGED_INTENTS",
    "ApiError",
    "DiscordState",
    "Event",
    "ModalShown",
    "Upload",
]
