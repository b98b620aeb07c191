"""The chat port implemented with discord.py (Discord wiring: may import discord)."""

from __future__ import annotations

import io
from collections.abc import AsyncIterator, Mapping
from datetime import datetime
from typing import Any

import discord

from bot.access.identity import ChatUser
from bot.chat import (
    ButtonStyle,
    ChatError,
    ChatErrorKind,
    ChatMessage,
    OutgoingMessage,
    Posted,
    RateLimits,
    WireMessage,
    to_micros,
    with_marker,
)
from bot.discord_links import DISCORD_LINKS

CANNOT_DM = 50007
THREAD_ALREADY_CREATED = 160004
_STYLES = {
    ButtonStyle.PRIMARY: discord.ButtonStyle.primary,
    ButtonStyle.SECONDARY: discord.ButtonStyle.secondary,
    ButtonStyle.SUCCESS: discord.ButtonStyle.success,
    ButtonStyle.DANGER: discord.ButtonStyle.danger,
    ButtonStyle.LINK: discord.ButtonStyle.link,
}


def chat_user(user: discord.abc.User) -> ChatUser:
    name = user.name
    return ChatUser(str(user.id), name, getattr(user, "display_name", None) or name)


def to_chat_message(message: discord.Message) -> ChatMessage:
    """The one translation from a discord.py message to the core's view of it.

    It runs for every message of a recorded thread inside the gateway's parse, so it reads
    each attribute once and builds the tuples only when there is something in them.
    """
    reference = message.reference
    reply_to = (
        str(reference.message_id)
        if reference is not None and reference.message_id is not None
        else None
    )
    guild = message.guild
    author = message.author
    mentions = message.mentions
    attachments = message.attachments
    return ChatMessage(
        str(message.id),
        str(message.channel.id),
        str(guild.id) if guild is not None else None,
        chat_user(author),
        author.bot,
        message.content,
        message.created_at,
        message.edited_at,
        reply_to,
        tuple([str(u.id) for u in mentions]) if mentions else (),
        tuple([a.url for a in attachments]) if attachments else (),
    )


def wire_from_payload(state: Any, data: Mapping[str, Any], tag: str) -> WireMessage:
    """``to_chat_message`` in the flat queued form (``bot.chat.WireMessage``), straight from a
    MESSAGE_CREATE payload, with no ``discord.Message`` and no ``ChatMessage`` built.

    The gateway's fast path for watched threads (``CohortBot.add_message_tap``): building a
    ``discord.Message`` (author and member objects, mentions, attachments, the message cache)
    cost the bot more than everything else it does per message. The values are the ones
    discord.py's message would give: the author's names come from its user or member cache
    when it has them (as ``Message._handle_author`` does), the nickname from the payload's
    ``member`` when there is one (``_handle_member``), else the cached member's; the guild only
    if discord.py knows it; the creation time from the snowflake, as discord.py's ``created_at``.
    ``state`` is the client's ``ConnectionState``; nothing is cached.
    """
    message_id = int(data["id"])
    author = data["author"]
    author_id = int(author["id"])
    guild_id = data.get("guild_id")
    guild = state._get_guild(int(guild_id)) if guild_id is not None else None
    member = guild._members.get(author_id) if guild is not None else None
    member_data = data.get("member")
    user = member._user if member is not None else state._users.get(author_id)
    if user is not None:
        name, global_name, bot = user.name, user.global_name, user.bot
    else:
        name, global_name = author["username"], author.get("global_name")
        bot = author.get("bot", False)
    if member_data is not None:
        nick = member_data.get("nick")
    else:
        nick = member.nick if member is not None else None
    reference = data.get("message_reference")
    reply_to = reference.get("message_id") if reference is not None else None
    edited = data.get("edited_timestamp")
    mentions = data.get("mentions")
    attachments = data.get("attachments")
    return (
        str(message_id),
        str(int(data["channel_id"])),
        str(guild.id) if guild is not None else None,
        str(author_id),
        name,
        nick or global_name or name,
        bot,
        data["content"],
        ((message_id >> 22) + discord.utils.DISCORD_EPOCH) * 1000,
        to_micros(datetime.fromisoformat(edited)) if edited else None,
        str(int(reply_to)) if reply_to is not None else None,
        tuple([str(int(m["id"])) for m in mentions if m]) if mentions else (),
        tuple([a["url"] for a in attachments]) if attachments else (),
        tag,
    )


def build_view(message: OutgoingMessage) -> discord.ui.View | None:
    if not message.buttons:
        return None
    view = discord.ui.View(timeout=None)
    for b in message.buttons:
        if b.url:
            view.add_item(
                discord.ui.Button(label=b.label, url=b.url, style=discord.ButtonStyle.link)
            )
        else:
            view.add_item(
                discord.ui.Button(
                    label=b.label,
                    custom_id=b.custom_id,
                    style=_STYLES[b.style],
                    disabled=b.disabled,
                )
            )
    return view


def send_kwargs(message: OutgoingMessage) -> dict[str, Any]:
    """Content plus the only mentions the bot itself chose (a module role, named users)."""
    text = with_marker(message)
    roles: list[discord.Object] = []
    users: list[discord.Object] = []
    if message.mention_role_id:
        text = f"<@&{message.mention_role_id}> {text}"
        roles.append(discord.Object(int(message.mention_role_id)))
    for uid in message.mention_user_ids:
        users.append(discord.Object(int(uid)))
    kwargs: dict[str, Any] = {
        "content": text,
        "allowed_mentions": discord.AllowedMentions(
            everyone=False, roles=roles or False, users=users or False, replied_user=False
        ),
    }
    view = build_view(message)
    if view is not None:
        kwargs["view"] = view
    if message.files:
        kwargs["files"] = [
            discord.File(io.BytesIO(f.data), filename=f.filename) for f in message.files
        ]
    return kwargs


def _translate(exc: discord.HTTPException) -> ChatError:
    if isinstance(exc, discord.Forbidden):
        kind = ChatErrorKind.DM_CLOSED if exc.code == CANNOT_DM else ChatErrorKind.FORBIDDEN
        return ChatError(kind, exc.text or "forbidden")
    if isinstance(exc, discord.NotFound):
        return ChatError(ChatErrorKind.NOT_FOUND, exc.text or "not found")
    return ChatError(ChatErrorKind.UNAVAILABLE, f"HTTP {exc.status}: {exc.text}")


class DiscordChat:
    """ChatPort over a connected discord.py client."""

    #: Discord's global limit (requests per second per bot): the outbox paces itself to it
    #: rather than running into 429s (discord.py still waits out any that come).
    links = DISCORD_LINKS
    rate_limits = RateLimits(per_second=50.0)

    def __init__(self, client: discord.Client) -> None:
        self.client = client

    def _sendable(self, channel_id: str) -> Any:
        """Where to send or read: the cached channel, else a partial one (no extra request;
        a DM channel the bot stored is not in discord.py's cache of 128)."""
        return self.client.get_channel(int(channel_id)) or self.client.get_partial_messageable(
            int(channel_id)
        )

    async def _messageable(self, channel_id: str) -> Any:
        channel = self.client.get_channel(int(channel_id))
        if channel is None:
            try:
                channel = await self.client.fetch_channel(int(channel_id))
            except discord.HTTPException as exc:
                raise _translate(exc) from exc
        return channel

    async def post(self, channel_id: str, message: OutgoingMessage) -> Posted:
        channel = self._sendable(channel_id)
        try:
            sent = await channel.send(**send_kwargs(message))
        except discord.HTTPException as exc:
            raise _translate(exc) from exc
        return Posted(channel_id=channel_id, message_id=str(sent.id))

    async def edit(self, channel_id: str, message_id: str, message: OutgoingMessage) -> None:
        channel = await self._messageable(channel_id)
        kwargs = send_kwargs(message)
        kwargs.pop("files", None)
        kwargs.setdefault("view", None)
        try:
            await channel.get_partial_message(int(message_id)).edit(**kwargs)
        except discord.HTTPException as exc:
            raise _translate(exc) from exc

    async def dm(self, user_id: str, message: OutgoingMessage) -> Posted:
        try:
            user = self.client.get_user(int(user_id)) or await self.client.fetch_user(int(user_id))
            sent = await user.send(**send_kwargs(message))
        except discord.HTTPException as exc:
            raise _translate(exc) from exc
        return Posted(channel_id=str(sent.channel.id), message_id=str(sent.id))

    async def create_thread(
        self,
        channel_id: str,
        name: str,
        *,
        from_message_id: str | None = None,
        private: bool = False,
    ) -> str:
        channel = await self._messageable(channel_id)
        try:
            if from_message_id is not None:
                thread = await channel.get_partial_message(int(from_message_id)).create_thread(
                    name=name[:100]
                )
                return str(thread.id)
            else:
                kind = (
                    discord.ChannelType.private_thread
                    if private
                    else discord.ChannelType.public_thread
                )
                thread = await channel.create_thread(name=name[:100], type=kind, invitable=False)
        except discord.HTTPException as exc:
            if from_message_id is not None and exc.code == THREAD_ALREADY_CREATED:
                # An earlier attempt made it; a thread started from a message has its id.
                return from_message_id
            raise _translate(exc) from exc
        return str(thread.id)

    async def dm_channel_id(self, user_id: str) -> str:
        """One request at most (``POST /users/@me/channels``), none when discord.py knows it."""
        try:
            channel = await self.client.create_dm(discord.Object(int(user_id)))
        except discord.HTTPException as exc:
            raise _translate(exc) from exc
        return str(channel.id)

    async def add_thread_member(self, thread_id: str, user_id: str) -> None:
        thread = await self._messageable(thread_id)
        try:
            await thread.add_user(discord.Object(int(user_id)))
        except discord.HTTPException as exc:
            raise _translate(exc) from exc

    async def set_thread_state(
        self, thread_id: str, *, locked: bool | None = None, archived: bool | None = None
    ) -> None:
        thread = await self._messageable(thread_id)
        changes: dict[str, bool] = {}
        if locked is not None:
            changes["locked"] = locked
        if archived is not None:
            changes["archived"] = archived
        try:
            await thread.edit(**changes)
        except discord.HTTPException as exc:
            raise _translate(exc) from exc

    async def history(
        self, channel_id: str, *, after_id: str | None = None, since: datetime | None = None
    ) -> AsyncIterator[ChatMessage]:
        channel = self._sendable(channel_id)
        after: discord.abc.Snowflake | datetime | None = (
            discord.Object(int(after_id)) if after_id else since
        )
        try:
            async for message in channel.history(limit=None, after=after, oldest_first=True):
                yield to_chat_message(message)
        except discord.HTTPException as exc:
            raise _translate(exc) from exc
