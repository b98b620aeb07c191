"""The chat port (``bot.chat.ChatPort``) over Slack's Web API (slack_sdk's AsyncWebClient).

Slack has no thread objects: a thread is its parent message's ``ts``. The core's thread ids
are therefore ``"<channel>/<ts>"`` here (``thread_id``/``split_target``): posting to one sends
with ``thread_ts``, reading one reads ``conversations.replies``. A private "thread" (post
before you see others) is a private channel, whose id is an ordinary channel id.

A message's ``ts`` is unique only within its channel (two channels can hold a message at the
same ts), so the core's message ids have the same shape, ``"<channel>/<ts>"`` (``message_id``/
``split_message``): unique across the workspace, as the port requires (``bot.chat.ChatPort``),
and, within one channel, ordered as the port's rule orders them (every ts there has the same
width, so the later ts is the larger text). A message's id is also the id of the thread under it.
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import aiohttp
from slack_sdk.errors import SlackApiError
from slack_sdk.http_retry.builtin_async_handlers import AsyncRateLimitErrorRetryHandler
from slack_sdk.web.async_client import AsyncWebClient

from bot.access.identity import ChatUser
from bot.chat import (
    ButtonStyle,
    ChatError,
    ChatErrorKind,
    ChatMessage,
    OutgoingMessage,
    Posted,
    RateLimits,
    with_marker,
)
from slackapp.links import SlackLinks
from slackapp.mrkdwn import escape, mentions_in, to_mrkdwn

log = logging.getLogger(__name__)

#: Slack's section block takes 3,000 characters of text.
SECTION_LIMIT = 3000
#: How many 429s in a row one call waits out (``Retry-After``) before the outbox retries later.
RATE_LIMIT_RETRIES = 3

_NOT_FOUND = {
    "channel_not_found",
    "message_not_found",
    "thread_not_found",
    "user_not_found",
    "users_not_found",
    "cant_update_message",
    "file_not_found",
}
_DM_CLOSED = {"cannot_dm_bot", "user_disabled", "user_not_visible", "messages_tab_disabled"}
_UNAVAILABLE = {
    "ratelimited",
    "internal_error",
    "fatal_error",
    "service_unavailable",
    "request_timeout",
    "team_added_to_org",
}


def thread_id(channel: str, ts: str) -> str:
    """The core's id of the thread under message ``ts`` of ``channel``."""
    return f"{channel}/{ts}"


def message_id(channel: str, ts: str) -> str:
    """The core's id of message ``ts`` of ``channel``: unique across the workspace."""
    return f"{channel}/{ts}"


def split_message(message: str, channel: str | None = None) -> tuple[str | None, str]:
    """A message id as ``(channel, ts)``; a bare ``ts`` (a cursor or id from before ids named
    their channel) is taken as in ``channel``."""
    where, slash, ts = message.rpartition("/")
    return (where, ts) if slash else (channel, message)


def split_target(target: str) -> tuple[str, str | None]:
    """A channel or thread id as ``(channel, thread_ts or None)``."""
    channel, _, ts = target.partition("/")
    return channel, ts or None


def ts_time(ts: str) -> datetime:
    """A Slack ``ts`` ("1733570000.000100") as the moment it names, in UTC."""
    return datetime.fromtimestamp(float(ts), UTC)


def translate(exc: Exception) -> ChatError:
    """A Slack refusal or a network failure as the port's error kinds (whether to retry)."""
    if isinstance(exc, SlackApiError):
        code = str(exc.response.get("error", "")) if exc.response is not None else ""
        status = getattr(exc.response, "status_code", 200) or 200
        if code in _NOT_FOUND:
            return ChatError(ChatErrorKind.NOT_FOUND, code)
        if code in _DM_CLOSED:
            return ChatError(ChatErrorKind.DM_CLOSED, code)
        if code in _UNAVAILABLE or status == 429 or status >= 500:
            return ChatError(ChatErrorKind.UNAVAILABLE, code or f"HTTP {status}")
        return ChatError(ChatErrorKind.FORBIDDEN, code or f"HTTP {status}")
    return ChatError(ChatErrorKind.UNAVAILABLE, repr(exc))


_RETRYABLE_NETWORK = (aiohttp.ClientError, asyncio.TimeoutError, OSError)


def build_client(token: str, api_url: str) -> AsyncWebClient:
    """A Web API client on ``api_url`` that waits out 429s (``Retry-After``) by itself."""
    client = AsyncWebClient(token=token, base_url=api_url)
    client.retry_handlers.append(
        AsyncRateLimitErrorRetryHandler(max_retry_count=RATE_LIMIT_RETRIES)
    )
    return client


_SLACK_STYLES = {ButtonStyle.PRIMARY: "primary", ButtonStyle.SUCCESS: "primary"}
_SLACK_STYLES[ButtonStyle.DANGER] = "danger"


def _named(message: OutgoingMessage) -> tuple[str, ...]:
    """Whose ``<@id>`` in the text the bot wrote itself: shown as Slack mentions."""
    return message.mention_user_ids + message.named_user_ids


def blocks_of(message: OutgoingMessage) -> list[dict[str, Any]]:
    """Block Kit for a message: its text, its buttons as an actions block, its marker as a
    small context line (the ``text`` fallback carries the marker for ``marker_of``)."""
    body = to_mrkdwn(message.text, _named(message))
    if message.mention_role_id:
        body = f"<!subteam^{message.mention_role_id}> {body}"
    blocks: list[dict[str, Any]] = []
    for start in range(0, max(len(body), 1), SECTION_LIMIT):
        chunk = body[start : start + SECTION_LIMIT] or " "
        blocks.append({"type": "section", "text": {"type": "mrkdwn", "text": chunk}})
    buttons: list[dict[str, Any]] = []
    for b in message.buttons:
        if b.disabled:
            continue  # Slack has no disabled button: one that cannot be used is not shown
        element: dict[str, Any] = {
            "type": "button",
            "text": {"type": "plain_text", "text": b.label[:75]},
            "action_id": (b.custom_id or b.url or b.label)[:255],
        }
        if b.url:
            element["url"] = b.url
        else:
            element["value"] = b.custom_id[:2000]
        style = _SLACK_STYLES.get(b.style)
        if style:
            element["style"] = style
        buttons.append(element)
    for start in range(0, len(buttons), 25):  # an actions block holds 25 elements
        blocks.append({"type": "actions", "elements": buttons[start : start + 25]})
    if message.marker is not None:
        blocks.append(
            {
                "type": "context",
                "elements": [{"type": "mrkdwn", "text": escape(f"cohortbot {message.marker}")}],
            }
        )
    return blocks


def fallback_text(message: OutgoingMessage) -> str:
    """The ``text`` field: notifications and screen readers, and the marker read back."""
    return to_mrkdwn(with_marker(message), _named(message))


def unescape(text: str) -> str:
    return text.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")


_CHANNEL_NAME = re.compile(r"[^a-z0-9_-]+")
_MEMBER_ID = re.compile(r"[UW][A-Z0-9]{2,}")


def channel_name(name: str) -> str:
    """A Slack channel name from a title: lower case, no spaces or dots, at most 80."""
    slug = _CHANNEL_NAME.sub("-", name.lower()).strip("-") or "thread"
    return slug[:80]


class SlackChat:
    """ChatPort over one bot token; ``team_id`` is what the roster calls the server."""

    #: What the outbox paces itself to (https://docs.slack.dev/apis/web-api/rate-limits):
    #: chat.postMessage "generally allows posting one message per second per channel, while
    #: also maintaining a workspace-wide limit", so DMs to different people (each a channel of
    #: its own) go in parallel. Slack gives no figure for the workspace-wide limit; 5 requests a
    #: second (300 a minute) is our cautious cap. conversations.open and conversations.history
    #: are Tier 3, 50+ a minute. A 429 still happens sometimes and its Retry-After is waited out
    #: by the client (``build_client``).
    rate_limits = RateLimits(per_second=5.0, per_channel_per_second=1.0, lookups_per_minute=50)

    def __init__(self, client: AsyncWebClient, *, team_id: str | None = None) -> None:
        self.client = client
        self.team_id = team_id
        self.bot_user_id: str | None = None
        self.bot_id: str | None = None
        self._users: dict[str, ChatUser] = {}
        #: Permalinks on the workspace's own address once ``connect`` has read it.
        self.links = SlackLinks()
        #: What ``set_thread_state`` was told (Slack cannot lock a thread: the core refuses
        #: late posts itself, the record says what the thread should be).
        self.thread_states: dict[str, dict[str, bool]] = {}

    async def _call(self, method: str, **kwargs: Any) -> dict[str, Any]:
        """One Web API call through slack_sdk's own method (it knows which take JSON and
        which form fields), its refusal as a ``ChatError``."""
        try:
            response = await getattr(self.client, method.replace(".", "_"))(**kwargs)
        except SlackApiError as exc:
            raise translate(exc) from exc
        except _RETRYABLE_NETWORK as exc:
            raise translate(exc) from exc
        return dict(response.data) if isinstance(response.data, dict) else {}

    async def connect(self) -> dict[str, Any]:
        """``auth.test``: who the bot is (its own posts are not students' answers)."""
        me = await self._call("auth.test")
        self.bot_user_id = me.get("user_id")
        self.bot_id = me.get("bot_id")
        self.team_id = self.team_id or me.get("team_id")
        if me.get("url"):
            self.links = SlackLinks(str(me["url"]))
        return me

    # ---------------------------------------------------------------- sending

    async def post(self, channel_id: str, message: OutgoingMessage) -> Posted:
        channel, thread_ts = split_target(channel_id)
        args: dict[str, Any] = {
            "channel": channel,
            "text": fallback_text(message),
            "blocks": blocks_of(message),
            "unfurl_links": False,
            "unfurl_media": False,
        }
        if thread_ts:
            args["thread_ts"] = thread_ts
        sent = await self._call("chat.postMessage", **args)
        ts = str(sent.get("ts") or (sent.get("message") or {}).get("ts"))
        where = str(sent.get("channel") or channel)
        if message.files:
            await self._upload(where, thread_ts or None, message)
        return Posted(channel_id=channel_id, message_id=message_id(where, ts))

    async def _upload(self, channel: str, thread_ts: str | None, message: OutgoingMessage) -> None:
        """The external upload flow (files.getUploadURLExternal, the upload, then
        files.completeUploadExternal), under the message just posted."""
        try:
            await self.client.files_upload_v2(
                channel=channel,
                thread_ts=thread_ts,
                file_uploads=[{"content": f.data, "filename": f.filename} for f in message.files],
            )
        except SlackApiError as exc:
            raise translate(exc) from exc
        except _RETRYABLE_NETWORK as exc:
            raise translate(exc) from exc

    async def edit(self, channel_id: str, message_id: str, message: OutgoingMessage) -> None:
        channel, ts = split_message(message_id, split_target(channel_id)[0])
        await self._call(
            "chat.update",
            channel=channel,
            ts=ts,
            text=fallback_text(message),
            blocks=blocks_of(message),
        )

    async def dm_channel_id(self, user_id: str) -> str:
        """``conversations.open``: one request, the same channel every time."""
        opened = await self._call("conversations.open", users=user_id)
        return str(opened["channel"]["id"])

    async def dm(self, user_id: str, message: OutgoingMessage) -> Posted:
        return await self.post(await self.dm_channel_id(user_id), message)

    # ---------------------------------------------------------------- threads

    async def create_thread(
        self,
        channel_id: str,
        name: str,
        *,
        from_message_id: str | None = None,
        private: bool = False,
    ) -> str:
        """A thread under a message (no request: the parent's ts is the thread), a private
        channel for answers nobody sees before posting, or a parent message to start one."""
        channel, _ = split_target(channel_id)
        if from_message_id is not None:
            parent_channel, ts = split_message(from_message_id, channel)
            return thread_id(parent_channel or channel, ts)
        if private:
            return await self._private_channel(name)
        parent = await self.post(channel, OutgoingMessage(text=f"**{name}**"))
        return parent.message_id  # "<channel>/<ts>": the thread under it has the same id

    async def _private_channel(self, name: str) -> str:
        base = channel_name(name)
        for attempt in range(5):
            candidate = base if attempt == 0 else f"{base[:74]}-{attempt + 1}"
            try:
                made = await self._call("conversations.create", name=candidate, is_private=True)
            except ChatError as exc:
                if exc.detail == "name_taken":
                    continue
                raise
            return str(made["channel"]["id"])
        raise ChatError(ChatErrorKind.FORBIDDEN, f"no free channel name for {base!r}")

    async def add_thread_member(self, thread_id: str, user_id: str) -> None:
        channel, thread_ts = split_target(thread_id)
        if thread_ts is not None:
            return  # a public thread: every member of the channel already sees it
        try:
            await self._call("conversations.invite", channel=channel, users=user_id)
        except ChatError as exc:
            if exc.detail != "already_in_channel":
                raise

    async def set_thread_state(
        self, thread_id: str, *, locked: bool | None = None, archived: bool | None = None
    ) -> None:
        state = self.thread_states.setdefault(thread_id, {})
        if locked is not None:
            state["locked"] = locked
        if archived is not None:
            state["archived"] = archived
        channel, thread_ts = split_target(thread_id)
        if archived and thread_ts is None:
            try:
                await self._call("conversations.archive", channel=channel)
            except ChatError as exc:
                if exc.detail != "already_archived":
                    raise

    # ---------------------------------------------------------------- reading

    async def user(self, user_id: str) -> ChatUser:
        """A member as the roster matches them: id, handle, display name and e-mail."""
        known = self._users.get(user_id)
        if known is not None:
            return known
        try:
            info = (await self._call("users.info", user=user_id)).get("user") or {}
        except ChatError as exc:
            if exc.kind is not ChatErrorKind.NOT_FOUND:
                raise
            info = {}
        found = user_from_info(user_id, info)
        self._users[user_id] = found
        return found

    async def find_user(self, text: str) -> ChatUser | None:
        """A member named in a command: a member id (a mention), an e-mail
        (``users.lookupByEmail``) or a handle of a member seen before; None if nobody fits."""
        if _MEMBER_ID.fullmatch(text):
            found = await self.user(text)
            return found if found.username != text else None
        if "@" in text:
            try:
                info = (await self._call("users.lookupByEmail", email=text)).get("user") or {}
            except ChatError as exc:
                if exc.kind is ChatErrorKind.NOT_FOUND or exc.detail == "users_not_found":
                    return None
                raise
            found = user_from_info(str(info.get("id")), info)
            self.remember(found)
            return found
        wanted = text.lower()
        named = [u for u in self._users.values() if u.username.lower() == wanted]
        return named[0] if len(named) == 1 else None

    def remember(self, user: ChatUser) -> None:
        self._users[user.platform_user_id] = user

    async def history(
        self, channel_id: str, *, after_id: str | None = None, since: datetime | None = None
    ) -> AsyncIterator[ChatMessage]:
        channel, thread_ts = split_target(channel_id)
        args: dict[str, Any] = {"channel": channel, "limit": 200}
        after_ts = split_message(after_id)[1] if after_id is not None else None
        if after_ts is not None:
            args.update(oldest=after_ts, inclusive=False)
        elif since is not None:
            args.update(oldest=f"{since.timestamp():.6f}", inclusive=True)
        raw: list[dict[str, Any]] = []
        method = "conversations.history"
        if thread_ts is not None:
            method = "conversations.replies"
            args["ts"] = thread_ts
        cursor: str | None = None
        while True:
            page = await self._call(method, **({**args, "cursor": cursor} if cursor else args))
            raw.extend(page.get("messages") or [])
            cursor = (page.get("response_metadata") or {}).get("next_cursor") or None
            if not cursor:
                break
        raw.sort(key=lambda m: float(m.get("ts", 0)))
        for item in raw:
            ts = str(item.get("ts", ""))
            if thread_ts is not None and ts == thread_ts:
                continue  # the parent: the prompt itself, not an answer in its thread
            if after_ts is not None and float(ts) <= float(after_ts):
                continue
            yield await self.to_chat_message(channel_id, item)

    async def to_chat_message(self, target: str, item: dict[str, Any]) -> ChatMessage:
        """A Slack message (event or history item) as the core sees it; ``target`` is the
        channel or ``"<channel>/<thread ts>"`` it belongs to; its id is ``"<channel>/<ts>"``."""
        user_id = str(item.get("user") or item.get("bot_id") or "")
        is_bot = bool(item.get("bot_id")) or item.get("subtype") == "bot_message"
        author = await self.user(user_id) if user_id and not is_bot else ChatUser(user_id, "", "")
        edited = item.get("edited") or {}
        text = unescape(str(item.get("text", "")))
        files = item.get("files") or []
        return ChatMessage(
            message_id(split_target(target)[0], str(item["ts"])),
            target,
            self.team_id,
            author,
            is_bot or (self.bot_user_id is not None and user_id == self.bot_user_id),
            text,
            ts_time(str(item["ts"])),
            ts_time(str(edited["ts"])) if edited.get("ts") else None,
            None,
            mentions_in(str(item.get("text", ""))),
            tuple(str(f.get("url_private") or f.get("permalink") or f.get("id")) for f in files),
        )


def user_from_info(user_id: str, info: dict[str, Any]) -> ChatUser:
    """``users.info``'s user as a ``ChatUser`` (the e-mail needs ``users:read.email``)."""
    profile = info.get("profile") or {}
    username = str(info.get("name") or user_id)
    display = str(
        profile.get("display_name") or profile.get("real_name") or info.get("real_name") or username
    )
    email = profile.get("email")
    return ChatUser(user_id, username, display, str(email) if email else None)
