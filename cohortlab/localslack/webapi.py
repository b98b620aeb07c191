"""The Web API: ``POST /api/<method>`` with form or JSON arguments and a Bearer token.

Answers are Slack's: HTTP 200 with ``{"ok": true, ...}`` or ``{"ok": false, "error": code}``;
HTTP 429 with ``Retry-After`` when rate limited. Every call is recorded in ``calls``.
"""

from __future__ import annotations

import asyncio
import base64
import json
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from aiohttp import web

from cohortlab.localslack.models import WORKSPACE_URL, Channel, Message, SlackError
from cohortlab.localslack.ratelimit import retry_after_header

if TYPE_CHECKING:
    from cohortlab.localslack.server import LocalSlackServer

Args = dict[str, Any]
Handler = Callable[["WebApi", Args, str], Awaitable[dict[str, Any]]]
METHODS: dict[str, Handler] = {}


def method(name: str) -> Callable[[Handler], Handler]:
    def register(fn: Handler) -> Handler:
        METHODS[name] = fn
        return fn

    return register


@dataclass
class ApiCall:
    """One Web API call: what was asked, with which arguments, and what came back."""

    method: str
    args: Args
    status: int
    ok: bool
    error: str | None
    at: float = field(default_factory=time.time)


def _json_arg(value: Any) -> Any:
    if isinstance(value, str):
        try:
            return json.loads(value)
        except ValueError as exc:
            raise SlackError("invalid_arguments") from exc
    return value


def _bool(value: Any) -> bool:
    return value is True or str(value).lower() in ("1", "true", "yes")


def _str(args: Args, key: str, *, required: bool = True) -> str:
    value = args.get(key)
    if value is None or value == "":
        if required:
            raise SlackError("invalid_arguments", detail=f"missing {key}")
        return ""
    return str(value)


def _blocks(args: Args) -> list[dict[str, Any]] | None:
    if args.get("blocks") in (None, ""):
        return None
    blocks = _json_arg(args["blocks"])
    if not isinstance(blocks, list) or not all(isinstance(b, dict) for b in blocks):
        raise SlackError("invalid_blocks")
    if len(blocks) > 50:
        raise SlackError("invalid_blocks")
    return blocks


def _limit(args: Args, default: int = 100, cap: int = 999) -> int:
    try:
        value = int(args.get("limit") or default)
    except ValueError as exc:
        raise SlackError("invalid_limit") from exc
    return max(1, min(value, cap))


def _cursor(token: str, kind: str) -> str:
    return base64.b64encode(f"{kind}:{token}".encode()).decode()


def _uncursor(value: str, kind: str) -> str | None:
    if not value:
        return None
    try:
        got_kind, token = base64.b64decode(value).decode().split(":", 1)
    except (ValueError, UnicodeDecodeError) as exc:
        raise SlackError("invalid_cursor") from exc
    if got_kind != kind:
        raise SlackError("invalid_cursor")
    return token


class WebApi:
    """Dispatches Web API methods onto the server's state."""

    def __init__(self, server: LocalSlackServer) -> None:
        self.server = server
        self.state = server.state
        self.calls: list[ApiCall] = []
        self.internal_errors: list[str] = []

    # ------------------------------------------------------------- protocol

    async def _args(self, request: web.Request) -> Args:
        args: Args = dict(request.query)
        ctype = request.content_type
        if request.can_read_body:
            if ctype == "application/json":
                body = await request.json()
                if isinstance(body, dict):
                    args.update(body)
            elif ctype in ("application/x-www-form-urlencoded", "multipart/form-data"):
                form = await request.post()
                args.update({k: v for k, v in form.items() if isinstance(v, str)})
        return args

    def _token(self, request: web.Request, args: Args) -> str | None:
        header = request.headers.get("Authorization", "")
        token = args.pop("token", None)
        if header.lower().startswith("bearer "):
            return header[7:].strip()
        return str(token) if token else None

    async def handle(self, request: web.Request) -> web.Response:
        name = request.match_info["method"]
        try:
            args = await self._args(request)
        except ValueError:
            return self._answer(name, {}, 200, {"ok": False, "error": "invalid_json"})
        token = self._token(request, args)
        handler = METHODS.get(name)
        if handler is None:
            return self._answer(name, args, 404, {"ok": False, "error": "unknown_method"})
        if token is None:
            return self._answer(name, args, 200, {"ok": False, "error": "not_authed"})
        if name == "apps.connections.open":
            if token == self.server.bot_token:
                return self._answer(
                    name, args, 200, {"ok": False, "error": "not_allowed_token_type"}
                )
            if token != self.server.app_token:
                return self._answer(name, args, 200, {"ok": False, "error": "invalid_auth"})
        elif token != self.server.bot_token:
            error = "not_allowed_token_type" if token == self.server.app_token else "invalid_auth"
            return self._answer(name, args, 200, {"ok": False, "error": error})
        fault = self.server.faults.take(name)
        if fault is not None:
            if fault.delay:
                await asyncio.sleep(fault.delay)
            if fault.status == 429:
                return self._answer(
                    name,
                    args,
                    429,
                    {"ok": False, "error": "ratelimited"},
                    {"Retry-After": str(fault.retry_after)},
                )
            if fault.status is not None:
                return self._answer(name, args, fault.status, {"ok": False, "error": "fatal_error"})
            if fault.error is not None:
                return self._answer(name, args, 200, {"ok": False, "error": fault.error})
        if self.server.rate_limits:
            key = str(args.get("channel", ""))
            wait = self.server.ratelimiter.check(name, key, now=time.monotonic())
            if wait:
                return self._answer(
                    name,
                    args,
                    429,
                    {"ok": False, "error": "ratelimited"},
                    {"Retry-After": retry_after_header(wait)},
                )
        try:
            body = await handler(self, args, self.state.bot.id)
            body = {"ok": True, **body}
        except SlackError as exc:
            body = {"ok": False, "error": exc.code, **exc.extra}
        except Exception as exc:
            self.internal_errors.append(f"{name}: {exc!r}")
            body = {"ok": False, "error": "internal_error"}
        self.server.commit()
        return self._answer(name, args, 200, body)

    def _answer(
        self,
        name: str,
        args: Args,
        status: int,
        body: dict[str, Any],
        headers: dict[str, str] | None = None,
    ) -> web.Response:
        self.calls.append(ApiCall(name, args, status, bool(body.get("ok")), body.get("error")))
        self.server.notify()
        return web.json_response(body, status=status, headers=headers)

    # --------------------------------------------------------------- helpers

    def channel_for(
        self, args: Args, actor: str, key: str = "channel", *, reading: bool = False
    ) -> Channel:
        """The channel named in ``args`` as the bot may see it: a private one it is not in
        does not exist for it; reading a public one's messages needs membership too."""
        channel = self.state.channel(_str(args, key))
        if actor in channel.members:
            return channel
        if channel.is_private or channel.is_im or channel.is_mpim:
            raise SlackError("channel_not_found")
        if reading:
            raise SlackError("not_in_channel")
        return channel

    def page(self, msgs: list[Message], args: Args, *, newest_first: bool) -> dict[str, Any]:
        """One page of messages filtered by oldest/latest, with a ts cursor."""
        oldest = float(args.get("oldest") or 0)
        latest = float(args.get("latest") or 0) or float("inf")
        inclusive = _bool(args.get("inclusive", False))

        def inside(m: Message) -> bool:
            t = float(m.ts)
            if inclusive:
                return oldest <= t <= latest
            return oldest < t < latest

        chosen = [m for m in msgs if inside(m)]
        start = _uncursor(str(args.get("cursor") or ""), "ts")
        if start is not None:
            if newest_first:
                chosen = [m for m in chosen if float(m.ts) <= float(start)]
            else:
                chosen = [m for m in chosen if float(m.ts) >= float(start)]
        limit = _limit(args, default=100 if newest_first else 1000)
        page, rest = chosen[:limit], chosen[limit:]
        return {
            "messages": [m.to_json() for m in page],
            "has_more": bool(rest),
            "pin_count": 0,
            "response_metadata": {"next_cursor": _cursor(rest[0].ts, "ts") if rest else ""},
        }


# ---------------------------------------------------------------- auth, apps


@method("auth.test")
async def auth_test(api: WebApi, args: Args, actor: str) -> dict[str, Any]:
    return {
        "url": WORKSPACE_URL,
        "team": "Cohort",
        "user": api.state.bot.name,
        "team_id": api.state.team_id,
        "user_id": api.state.bot.id,
        "bot_id": api.state.bot.bot_id,
        "is_enterprise_install": False,
    }


@method("apps.connections.open")
async def connections_open(api: WebApi, args: Args, actor: str) -> dict[str, Any]:
    return {"url": api.server.socket.issue_url()}


# ------------------------------------------------------------------- chat


@method("chat.postMessage")
async def chat_post(api: WebApi, args: Args, actor: str) -> dict[str, Any]:
    channel = api.state.resolve_target(_str(args, "channel"), actor)
    metadata = _json_arg(args["metadata"]) if args.get("metadata") else None
    msg = api.state.post(
        channel,
        actor,
        str(args.get("text") or ""),
        blocks=_blocks(args),
        thread_ts=str(args["thread_ts"]) if args.get("thread_ts") else None,
        reply_broadcast=_bool(args.get("reply_broadcast", False)),
        metadata=metadata if isinstance(metadata, dict) else None,
    )
    return {"channel": channel.id, "ts": msg.ts, "message": msg.to_json()}


@method("chat.postEphemeral")
async def chat_post_ephemeral(api: WebApi, args: Args, actor: str) -> dict[str, Any]:
    channel = api.state.resolve_target(_str(args, "channel"), actor)
    eph = api.state.post_ephemeral(
        channel,
        _str(args, "user"),
        str(args.get("text") or ""),
        blocks=_blocks(args),
        thread_ts=str(args["thread_ts"]) if args.get("thread_ts") else None,
    )
    return {"message_ts": eph.ts}


@method("chat.update")
async def chat_update(api: WebApi, args: Args, actor: str) -> dict[str, Any]:
    channel = api.channel_for(args, actor)
    text = args.get("text")
    msg = api.state.update(
        channel,
        _str(args, "ts"),
        actor,
        text=str(text) if text is not None else None,
        blocks=_blocks(args),
        by_app=True,
    )
    return {"channel": channel.id, "ts": msg.ts, "text": msg.text, "message": msg.to_json()}


@method("chat.delete")
async def chat_delete(api: WebApi, args: Args, actor: str) -> dict[str, Any]:
    channel = api.channel_for(args, actor)
    ts = _str(args, "ts")
    api.state.delete(channel, ts, actor)
    return {"channel": channel.id, "ts": ts}


@method("chat.getPermalink")
async def chat_permalink(api: WebApi, args: Args, actor: str) -> dict[str, Any]:
    channel = api.state.channel(_str(args, "channel"))
    msg = api.state.message(channel.id, _str(args, "message_ts"))
    return {"channel": channel.id, "permalink": msg.permalink}


# ---------------------------------------------------------- conversations


@method("conversations.open")
async def conv_open(api: WebApi, args: Args, actor: str) -> dict[str, Any]:
    users = [u.strip() for u in str(args.get("users") or "").split(",") if u.strip()]
    if args.get("channel"):
        channel = api.channel_for(args, actor)
    elif not users:
        raise SlackError("users_list_not_supplied")
    elif len(users) > 8:
        raise SlackError("too_many_users")
    else:
        channel = api.state.open_dm(actor, users)
    if _bool(args.get("return_im", False)):
        return {"channel": channel.to_json(viewer=actor)}
    return {"channel": {"id": channel.id}}


@method("conversations.create")
async def conv_create(api: WebApi, args: Args, actor: str) -> dict[str, Any]:
    channel = api.state.create_channel(
        _str(args, "name"), creator=actor, private=_bool(args.get("is_private", False))
    )
    return {"channel": channel.to_json(viewer=actor)}


@method("conversations.list")
async def conv_list(api: WebApi, args: Args, actor: str) -> dict[str, Any]:
    types = set(str(args.get("types") or "public_channel").split(","))
    skip_archived = _bool(args.get("exclude_archived", False))

    def listed(c: Channel) -> bool:
        if skip_archived and c.is_archived:
            return False
        if c.is_im:
            return "im" in types and actor in c.members
        if c.is_mpim:
            return "mpim" in types and actor in c.members
        if c.is_private:
            return "private_channel" in types and actor in c.members
        return "public_channel" in types

    chosen = [c for c in api.state.channels.values() if listed(c)]
    start = int(_uncursor(str(args.get("cursor") or ""), "channels") or 0)
    limit = _limit(args, default=100, cap=1000)
    more = start + limit < len(chosen)
    return {
        "channels": [c.to_json(viewer=actor) for c in chosen[start : start + limit]],
        "response_metadata": {
            "next_cursor": _cursor(str(start + limit), "channels") if more else ""
        },
    }


@method("conversations.join")
async def conv_join(api: WebApi, args: Args, actor: str) -> dict[str, Any]:
    channel = api.state.channel(_str(args, "channel"))
    if channel.is_private:
        raise SlackError("method_not_supported_for_channel_type")
    if actor not in channel.members:
        api.state.join(channel, actor)
    return {"channel": channel.to_json(viewer=actor)}


@method("conversations.invite")
async def conv_invite(api: WebApi, args: Args, actor: str) -> dict[str, Any]:
    channel = api.channel_for(args, actor)
    users = [u.strip() for u in _str(args, "users").split(",")]
    api.state.invite(channel, actor, users)
    return {"channel": channel.to_json(viewer=actor)}


@method("conversations.kick")
async def conv_kick(api: WebApi, args: Args, actor: str) -> dict[str, Any]:
    channel = api.channel_for(args, actor)
    api.state.kick(channel, actor, _str(args, "user"))
    return {}


@method("conversations.archive")
async def conv_archive(api: WebApi, args: Args, actor: str) -> dict[str, Any]:
    channel = api.channel_for(args, actor)
    api.state.archive(channel, actor)
    return {}


@method("conversations.info")
async def conv_info(api: WebApi, args: Args, actor: str) -> dict[str, Any]:
    channel = api.channel_for(args, actor)
    return {"channel": channel.to_json(viewer=actor)}


@method("conversations.members")
async def conv_members(api: WebApi, args: Args, actor: str) -> dict[str, Any]:
    channel = api.channel_for(args, actor)
    start = int(_uncursor(str(args.get("cursor") or ""), "members") or 0)
    limit = _limit(args, default=100, cap=1000)
    members = channel.members[start : start + limit]
    more = start + limit < len(channel.members)
    return {
        "members": members,
        "response_metadata": {
            "next_cursor": _cursor(str(start + limit), "members") if more else ""
        },
    }


@method("conversations.history")
async def conv_history(api: WebApi, args: Args, actor: str) -> dict[str, Any]:
    channel = api.channel_for(args, actor, reading=True)
    return api.page(api.state.history(channel), args, newest_first=True)


@method("conversations.replies")
async def conv_replies(api: WebApi, args: Args, actor: str) -> dict[str, Any]:
    channel = api.channel_for(args, actor, reading=True)
    try:
        msgs = api.state.thread(channel, _str(args, "ts"))
    except SlackError as exc:
        raise SlackError("thread_not_found") from exc
    return api.page(msgs, args, newest_first=False)


# ------------------------------------------------------------------ users


@method("users.info")
async def users_info(api: WebApi, args: Args, actor: str) -> dict[str, Any]:
    return {"user": api.state.user(_str(args, "user")).to_json()}


@method("users.lookupByEmail")
async def users_by_email(api: WebApi, args: Args, actor: str) -> dict[str, Any]:
    return {"user": api.state.user_by_email(_str(args, "email")).to_json()}


@method("users.list")
async def users_list(api: WebApi, args: Args, actor: str) -> dict[str, Any]:
    users = list(api.state.users.values())
    start = int(_uncursor(str(args.get("cursor") or ""), "users") or 0)
    limit = _limit(args, default=200, cap=1000)
    more = start + limit < len(users)
    return {
        "members": [u.to_json() for u in users[start : start + limit]],
        "cache_ts": int(time.time()),
        "response_metadata": {"next_cursor": _cursor(str(start + limit), "users") if more else ""},
    }


# ------------------------------------------------------------------ views


def _view_arg(args: Args) -> dict[str, Any]:
    view = _json_arg(args.get("view"))
    if not isinstance(view, dict):
        raise SlackError("invalid_arguments", detail="missing view")
    return view


@method("views.open")
async def views_open(api: WebApi, args: Args, actor: str) -> dict[str, Any]:
    trigger = api.state.use_trigger(_str(args, "trigger_id"))
    view = api.state.open_view(trigger.user, _view_arg(args))
    return {"view": view.to_json()}


@method("views.push")
async def views_push(api: WebApi, args: Args, actor: str) -> dict[str, Any]:
    trigger = api.state.use_trigger(_str(args, "trigger_id"))
    stack = api.state.open_modals(trigger.user)
    if not stack:
        raise SlackError("not_found")
    if len(stack) >= 3:
        raise SlackError("push_limit_reached")
    view = api.state.open_view(trigger.user, _view_arg(args), previous=stack[-1])
    return {"view": view.to_json()}


@method("views.update")
async def views_update(api: WebApi, args: Args, actor: str) -> dict[str, Any]:
    target = api.state.find_view(
        str(args.get("view_id") or "") or None, str(args.get("external_id") or "") or None
    )
    view = api.state.update_view(target, _view_arg(args), str(args.get("hash") or "") or None)
    return {"view": view.to_json()}


@method("views.publish")
async def views_publish(api: WebApi, args: Args, actor: str) -> dict[str, Any]:
    view = api.state.publish_home(_str(args, "user_id"), _view_arg(args))
    return {"view": view.to_json()}


# ------------------------------------------------------------------ files


@method("files.getUploadURLExternal")
async def files_upload_url(api: WebApi, args: Args, actor: str) -> dict[str, Any]:
    try:
        length = int(args.get("length") or 0)
    except ValueError as exc:
        raise SlackError("invalid_arguments") from exc
    f = api.state.start_upload(_str(args, "filename"), length, actor)
    return {"upload_url": f"{api.server.base_url}/upload/{f.id}", "file_id": f.id}


@method("files.completeUploadExternal")
async def files_complete(api: WebApi, args: Args, actor: str) -> dict[str, Any]:
    entries = _json_arg(args.get("files"))
    if not isinstance(entries, list) or not entries:
        raise SlackError("invalid_arguments", detail="missing files")
    channel_id = str(args.get("channel_id") or args.get("channels") or "").split(",")[0]
    channel = api.state.resolve_target(channel_id, actor) if channel_id else None
    done = api.state.complete_upload(
        entries,
        actor,
        channel=channel,
        thread_ts=str(args["thread_ts"]) if args.get("thread_ts") else None,
        initial_comment=str(args.get("initial_comment") or ""),
    )
    return {"files": [{"id": f.id, "title": f.title} for f in done]}


@method("files.info")
async def files_info(api: WebApi, args: Args, actor: str) -> dict[str, Any]:
    f = api.state.file(_str(args, "file"))
    return {"file": f.to_json(), "comments": [], "response_metadata": {"next_cursor": ""}}
