"""The workspace and Slack's rules: who is where, which messages exist, which modals are open.

Pure bookkeeping (no I/O): the Web API and the scripted people both change the world through
these methods, which raise :class:`SlackError` with Slack's own error codes and queue the
events Slack would send to the app (``drain`` hands them to the server for delivery).
"""

from __future__ import annotations

import itertools
import re
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from cohortlab.localslack.models import (
    Channel,
    Ephemeral,
    File,
    Message,
    SlackError,
    TsClock,
    User,
    View,
)

CHANNEL_NAME = re.compile(r"^[a-z0-9_\-]{1,80}$")
TEXT_LIMIT = 40_000


@dataclass
class Trigger:
    """A ``trigger_id``: lets the app open one modal for one person within a few seconds."""

    id: str
    user: str
    created: float
    used: bool = False


@dataclass
class SlackState:
    team_id: str = "T0COHORT"
    trigger_ttl: float = 3.0
    users: dict[str, User] = field(default_factory=dict)
    channels: dict[str, Channel] = field(default_factory=dict)
    messages: dict[str, dict[str, Message]] = field(default_factory=dict)
    ephemerals: list[Ephemeral] = field(default_factory=list)
    files: dict[str, File] = field(default_factory=dict)
    views: dict[str, View] = field(default_factory=dict)
    triggers: dict[str, Trigger] = field(default_factory=dict)
    file_base_url: str = ""
    clock: TsClock = field(default_factory=TsClock)
    _ids: itertools.count[int] = field(default_factory=lambda: itertools.count(1))
    _events: list[dict[str, Any]] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.bot = self.add_user("cohortbot", is_bot=True, real_name="Cohort Bot")
        self.bot.bot_id = "B0LOCALBOT"

    # ------------------------------------------------------------------ ids

    def new_id(self, prefix: str) -> str:
        return f"{prefix}0{next(self._ids):08d}"

    def now(self) -> int:
        return int(time.time())

    # --------------------------------------------------------------- events

    def emit(self, event: dict[str, Any]) -> None:
        event.setdefault("event_ts", self.clock.next())
        self._events.append(event)

    def drain(self) -> list[dict[str, Any]]:
        events, self._events = self._events, []
        return events

    # ---------------------------------------------------------------- users

    def add_user(
        self,
        name: str,
        *,
        email: str | None = None,
        tz: str = "Europe/London",
        is_admin: bool = False,
        is_bot: bool = False,
        real_name: str = "",
    ) -> User:
        user = User(
            id=self.new_id("U"),
            name=name,
            team_id=self.team_id,
            real_name=real_name or name.title(),
            email=email,
            tz=tz,
            is_admin=is_admin,
            is_bot=is_bot,
        )
        self.users[user.id] = user
        return user

    def user(self, user_id: str) -> User:
        user = self.users.get(user_id)
        if user is None:
            raise SlackError("user_not_found")
        return user

    def user_by_email(self, email: str) -> User:
        wanted = email.strip().lower()
        for user in self.users.values():
            if user.email is not None and user.email.lower() == wanted and not user.deleted:
                return user
        raise SlackError("users_not_found")

    # ------------------------------------------------------------- channels

    def channel(self, channel_id: str) -> Channel:
        channel = self.channels.get(channel_id)
        if channel is None:
            raise SlackError("channel_not_found")
        return channel

    def resolve_target(self, channel_or_user: str, actor: str) -> Channel:
        """A channel id, or a user id meaning the DM with that user (as chat.postMessage does)."""
        if channel_or_user in self.channels:
            return self.channels[channel_or_user]
        if channel_or_user in self.users:
            return self.open_dm(actor, [channel_or_user])
        if channel_or_user.startswith("#"):
            for channel in self.channels.values():
                if channel.name == channel_or_user[1:]:
                    return channel
        raise SlackError("channel_not_found")

    def create_channel(self, name: str, *, creator: str, private: bool = False) -> Channel:
        if not CHANNEL_NAME.match(name):
            raise SlackError("invalid_name_specials")
        if any(c.name == name and not c.is_im for c in self.channels.values()):
            raise SlackError("name_taken")
        channel = Channel(
            id=self.new_id("C"),
            name=name,
            creator=creator,
            created=self.now(),
            is_private=private,
            members=[creator],
        )
        self.channels[channel.id] = channel
        self.messages[channel.id] = {}
        return channel

    def open_dm(self, actor: str, others: list[str]) -> Channel:
        """The DM (one other person) or group DM between ``actor`` and ``others``."""
        for other in others:
            self.user(other)
        people = sorted({actor, *others})
        for channel in self.channels.values():
            if (channel.is_im or channel.is_mpim) and sorted(channel.members) == people:
                return channel
        is_im = len(people) <= 2
        channel = Channel(
            id=self.new_id("D" if is_im else "G"),
            name="" if is_im else "mpdm-" + "--".join(self.users[p].name for p in people),
            creator=actor,
            created=self.now(),
            is_private=True,
            is_im=is_im,
            is_mpim=not is_im,
            members=people,
            dm_user=next((p for p in people if p != actor), actor) if is_im else None,
        )
        self.channels[channel.id] = channel
        self.messages[channel.id] = {}
        return channel

    def _require_member(self, channel: Channel, actor: str) -> None:
        if actor not in channel.members:
            raise SlackError("not_in_channel")

    def _require_open(self, channel: Channel) -> None:
        if channel.is_archived:
            raise SlackError("is_archived")

    def join(self, channel: Channel, user_id: str, *, inviter: str | None = None) -> None:
        self._require_open(channel)
        if channel.is_im or channel.is_mpim:
            raise SlackError("method_not_supported_for_channel_type")
        if user_id in channel.members:
            raise SlackError("already_in_channel")
        channel.members.append(user_id)
        event: dict[str, Any] = {
            "type": "member_joined_channel",
            "user": user_id,
            "channel": channel.id,
            "channel_type": "G" if channel.is_private else "C",
            "team": self.team_id,
        }
        if inviter:
            event["inviter"] = inviter
        self.emit(event)

    def invite(self, channel: Channel, actor: str, user_ids: Iterable[str]) -> None:
        self._require_member(channel, actor)
        ids = [u for u in user_ids if u]
        if not ids:
            raise SlackError("no_user")
        for user_id in ids:
            self.user(user_id)
            if user_id == actor:
                raise SlackError("cant_invite_self")
            if user_id in channel.members:
                raise SlackError("already_in_channel", errors=[{"user": user_id}])
        for user_id in ids:
            self.join(channel, user_id, inviter=actor)

    def kick(self, channel: Channel, actor: str, user_id: str) -> None:
        self._require_member(channel, actor)
        self.user(user_id)
        if user_id == actor:
            raise SlackError("cant_kick_self")
        if user_id not in channel.members:
            raise SlackError("not_in_channel")
        self.emit(
            {
                "type": "member_left_channel",
                "user": user_id,
                "channel": channel.id,
                "channel_type": "G" if channel.is_private else "C",
                "team": self.team_id,
            }
        )
        channel.members.remove(user_id)

    def archive(self, channel: Channel, actor: str) -> None:
        if channel.is_archived:
            raise SlackError("already_archived")
        if channel.is_im or channel.is_mpim:
            raise SlackError("method_not_supported_for_channel_type")
        self._require_member(channel, actor)
        self.emit({"type": "channel_archive", "channel": channel.id, "user": actor})
        channel.is_archived = True

    # ------------------------------------------------------------- messages

    def message(self, channel_id: str, ts: str) -> Message:
        msg = self.messages.get(channel_id, {}).get(ts)
        if msg is None:
            raise SlackError("message_not_found")
        return msg

    def find_message(self, ts: str) -> Message:
        """The message at ``ts`` in whichever channel has it (a script naming it by ts alone)."""
        found = [by_ts[ts] for by_ts in self.messages.values() if ts in by_ts]
        if len(found) > 1:
            raise ValueError(f"several channels have a message at ts {ts}: pass the message")
        if not found:
            raise SlackError("message_not_found")
        return found[0]

    def post(
        self,
        channel: Channel,
        actor: str,
        text: str,
        *,
        blocks: list[dict[str, Any]] | None = None,
        thread_ts: str | None = None,
        reply_broadcast: bool = False,
        files: list[File] | None = None,
        subtype: str | None = None,
        metadata: dict[str, Any] | None = None,
        require_member: bool = True,
        ts: str | None = None,
    ) -> Message:
        """Post a message as ``actor`` (a person or the bot) and queue its ``message`` event.

        ``ts`` scripts the message's ts (the clock's next one otherwise): Slack keeps a ts unique
        within a channel only, so a test can give two channels a message at the same ts."""
        self._require_open(channel)
        if ts is not None and ts in self.messages.get(channel.id, {}):
            raise ValueError(f"channel {channel.id} already has a message at ts {ts}")
        if require_member and (channel.is_private or channel.is_im or channel.is_mpim):
            self._require_member(channel, actor)
        if not text and not blocks and not files:
            raise SlackError("no_text")
        if len(text) > TEXT_LIMIT:
            raise SlackError("msg_too_long")
        parent: Message | None = None
        if thread_ts:
            parent = self.messages[channel.id].get(thread_ts)
            if parent is None:
                raise SlackError("thread_not_found")
            if parent.is_reply:
                assert parent.thread_ts is not None
                parent = self.messages[channel.id][parent.thread_ts]
            thread_ts = parent.ts
        author = self.users.get(actor)
        msg = Message(
            ts=ts if ts is not None else self.clock.next(),
            channel=channel.id,
            user=actor,
            text=text,
            blocks=blocks,
            thread_ts=thread_ts,
            subtype=subtype,
            bot_id=author.bot_id if author is not None else None,
            files=list(files or []),
            reply_broadcast=reply_broadcast and thread_ts is not None,
            team=self.team_id,
            metadata=metadata,
        )
        self.messages[channel.id][msg.ts] = msg
        if parent is not None:
            parent.thread_ts = parent.ts
            parent.replies.append(msg.ts)
            msg.parent_user_id = parent.user
        if msg.reply_broadcast:
            msg.subtype = "thread_broadcast"
        event = msg.to_json()
        event.update({"channel": channel.id, "channel_type": channel.kind, "event_ts": msg.ts})
        self.emit(event)
        if f"<@{self.bot.id}>" in text and actor != self.bot.id:
            self.emit(
                {
                    "type": "app_mention",
                    "user": actor,
                    "text": text,
                    "ts": msg.ts,
                    "channel": channel.id,
                    **({"thread_ts": thread_ts} if thread_ts else {}),
                }
            )
        return msg

    def update(
        self,
        channel: Channel,
        ts: str,
        actor: str,
        *,
        text: str | None = None,
        blocks: list[dict[str, Any]] | None = None,
        by_app: bool = False,
    ) -> Message:
        """Edit a message (only its author may, as Slack allows) and queue message_changed."""
        msg = self.message(channel.id, ts)
        if msg.user != actor:
            raise SlackError("cant_update_message")
        previous = msg.to_json()
        if text is not None:
            if len(text) > TEXT_LIMIT:
                raise SlackError("msg_too_long")
            msg.text = text
        if blocks is not None:
            msg.blocks = blocks
        if not by_app:
            msg.edited = {"user": actor, "ts": self.clock.next()}
        self.emit(
            {
                "type": "message",
                "subtype": "message_changed",
                "hidden": True,
                "channel": channel.id,
                "channel_type": channel.kind,
                "ts": self.clock.next(),
                "message": msg.to_json(),
                "previous_message": previous,
            }
        )
        return msg

    def delete(self, channel: Channel, ts: str, actor: str, *, force: bool = False) -> None:
        """Remove a message (its author, or an admin when ``force``) and queue message_deleted.

        A thread parent with replies stays as a tombstone, as in Slack, so the thread lives on.
        """
        msg = self.message(channel.id, ts)
        if msg.user != actor and not force:
            raise SlackError("cant_delete_message")
        previous = msg.to_json()
        if msg.replies and msg.subtype != "tombstone":
            msg.subtype, msg.text, msg.blocks, msg.files = (
                "tombstone",
                "This message was deleted.",
                None,
                [],
            )
            self.emit(
                {
                    "type": "message",
                    "subtype": "message_changed",
                    "hidden": True,
                    "channel": channel.id,
                    "channel_type": channel.kind,
                    "ts": self.clock.next(),
                    "message": msg.to_json(),
                    "previous_message": previous,
                }
            )
            return
        del self.messages[channel.id][ts]
        if msg.is_reply and msg.thread_ts in self.messages[channel.id]:
            parent = self.messages[channel.id][msg.thread_ts]
            parent.replies = [r for r in parent.replies if r != ts]
        event: dict[str, Any] = {
            "type": "message",
            "subtype": "message_deleted",
            "hidden": True,
            "channel": channel.id,
            "channel_type": channel.kind,
            "ts": self.clock.next(),
            "deleted_ts": ts,
            "previous_message": previous,
        }
        if msg.is_reply:
            event["thread_ts"] = msg.thread_ts
        self.emit(event)

    def history(self, channel: Channel) -> list[Message]:
        """Channel history, newest first (as conversations.history answers)."""
        msgs = [m for m in self.messages[channel.id].values() if m.in_history]
        return sorted(msgs, key=lambda m: float(m.ts), reverse=True)

    def thread(self, channel: Channel, ts: str) -> list[Message]:
        """A thread's parent then its replies, oldest first (as conversations.replies)."""
        msg = self.message(channel.id, ts)
        root_ts = msg.thread_ts if msg.is_reply and msg.thread_ts else msg.ts
        root = self.message(channel.id, root_ts)
        replies = [self.messages[channel.id][r] for r in root.replies]
        return [root, *sorted(replies, key=lambda m: float(m.ts))]

    def post_ephemeral(
        self,
        channel: Channel,
        user_id: str,
        text: str,
        *,
        blocks: list[dict[str, Any]] | None = None,
        thread_ts: str | None = None,
        source: str = "chat.postEphemeral",
    ) -> Ephemeral:
        self.user(user_id)
        if user_id not in channel.members and not channel.is_im:
            raise SlackError("user_not_in_channel")
        if not text and not blocks:
            raise SlackError("no_text")
        eph = Ephemeral(
            ts=self.clock.next(),
            channel=channel.id,
            user=user_id,
            text=text,
            blocks=blocks,
            thread_ts=thread_ts,
            source=source,
        )
        self.ephemerals.append(eph)
        return eph

    # ---------------------------------------------------------------- files

    def start_upload(self, filename: str, length: int, actor: str) -> File:
        if not filename:
            raise SlackError("invalid_arguments")
        if length <= 0:
            raise SlackError("invalid_arguments")
        f = File(
            id=self.new_id("F"),
            name=filename,
            title=filename,
            user=actor,
            created=self.now(),
            length=length,
            base_url=self.file_base_url,
        )
        self.files[f.id] = f
        return f

    def receive_upload(self, file_id: str, content: bytes) -> File:
        f = self.files.get(file_id)
        if f is None or f.completed:
            raise SlackError("file_not_found")
        f.content = content
        f.uploaded = True
        return f

    def complete_upload(
        self,
        entries: list[dict[str, Any]],
        actor: str,
        *,
        channel: Channel | None,
        thread_ts: str | None = None,
        initial_comment: str = "",
    ) -> list[File]:
        """Finish uploads; shared to ``channel`` they appear there as one file_share message."""
        done: list[File] = []
        for entry in entries:
            f = self.files.get(str(entry.get("id", "")))
            if f is None or f.user != actor:
                raise SlackError("file_not_found")
            if not f.uploaded:
                raise SlackError("file_upload_not_found")
            if entry.get("title"):
                f.title = str(entry["title"])
            done.append(f)
        for f in done:
            f.completed = True
        if channel is not None:
            for f in done:
                f.channels.append(channel.id)
            self.post(
                channel,
                actor,
                initial_comment,
                thread_ts=thread_ts,
                files=done,
                subtype="file_share",
            )
        return done

    def file(self, file_id: str) -> File:
        f = self.files.get(file_id)
        if f is None or not f.completed:
            raise SlackError("file_not_found")
        return f

    # ------------------------------------------------------------- triggers

    def new_trigger(self, user_id: str) -> str:
        trigger = Trigger(
            id=f"{next(self._ids)}.{int(time.time())}.localtrigger", user=user_id, created=0.0
        )
        trigger.created = time.monotonic()
        self.triggers[trigger.id] = trigger
        return trigger.id

    def use_trigger(self, trigger_id: str) -> Trigger:
        trigger = self.triggers.get(trigger_id)
        if trigger is None:
            raise SlackError("invalid_trigger_id")
        if trigger.used:
            raise SlackError("trigger_exchanged")
        if time.monotonic() - trigger.created > self.trigger_ttl:
            raise SlackError("expired_trigger_id")
        trigger.used = True
        return trigger

    # ---------------------------------------------------------------- views

    def _view_hash(self) -> str:
        return f"{int(time.time())}.{next(self._ids):08d}"

    def _check_view(self, view: dict[str, Any]) -> None:
        if not isinstance(view, dict) or view.get("type") not in ("modal", "home"):
            raise SlackError("invalid_arguments")
        blocks = view.get("blocks", [])
        if not isinstance(blocks, list) or len(blocks) > 100:
            raise SlackError("invalid_arguments")
        if view.get("type") == "modal" and not view.get("title"):
            raise SlackError("invalid_arguments")

    def open_view(
        self, user_id: str, view: dict[str, Any], *, previous: View | None = None
    ) -> View:
        self._check_view(view)
        view_id = self.new_id("V")
        opened = View(
            id=view_id,
            user=user_id,
            team_id=self.team_id,
            view=view,
            hash=self._view_hash(),
            root_view_id=previous.root_view_id if previous else view_id,
            previous_view_id=previous.id if previous else None,
            external_id=view.get("external_id"),
        )
        self.views[view_id] = opened
        return opened

    def find_view(self, view_id: str | None, external_id: str | None) -> View:
        for view in self.views.values():
            if (view_id and view.id == view_id) or (
                external_id and view.external_id == external_id
            ):
                if view.closed:
                    raise SlackError("not_found")
                return view
        raise SlackError("not_found")

    def update_view(self, target: View, view: dict[str, Any], hash_: str | None) -> View:
        self._check_view(view)
        if hash_ and hash_ != target.hash:
            raise SlackError("hash_conflict")
        target.view = view
        target.hash = self._view_hash()
        target.errors = {}
        if view.get("external_id"):
            target.external_id = str(view["external_id"])
        return target

    def publish_home(self, user_id: str, view: dict[str, Any]) -> View:
        self.user(user_id)
        self._check_view(view)
        for existing in self.views.values():
            if existing.user == user_id and existing.type == "home":
                return self.update_view(existing, view, None)
        return self.open_view(user_id, view)

    def open_modals(self, user_id: str) -> list[View]:
        """The user's modal stack, bottom first."""
        return [
            v
            for v in self.views.values()
            if v.user == user_id and v.type == "modal" and not v.closed
        ]

    def close_stack(self, view: View) -> None:
        for other in self.views.values():
            if other.root_view_id == view.root_view_id:
                other.closed = True
