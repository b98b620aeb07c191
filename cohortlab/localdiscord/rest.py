"""REST API v10 subset: routing, auth, rate limits, planned faults and the call log.

Handlers are thin: they parse the request, call one DiscordState method as the bot and render
the result. Every request, known or not, is logged so a test can assert on what the bot did
(and fail on a route this server does not implement rather than silently pass).
"""

from __future__ import annotations

import asyncio
import json
import logging
import mimetypes
import re
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from aiohttp import web
from multidict import MultiMapping

from cohortlab.localdiscord.faults import FaultPlan
from cohortlab.localdiscord.models import JSON, BotApp, Channel, Message
from cohortlab.localdiscord.ratelimit import RateLimiter
from cohortlab.localdiscord.state import ApiError, DiscordState, Upload, invalid_form

if TYPE_CHECKING:
    from cohortlab.localdiscord.server import LocalDiscordServer

log = logging.getLogger(__name__)

API_PREFIX = "/api/v10"


@dataclass
class RestCall:
    """One request the bot made, as a test reads it back."""

    method: str
    path: str
    route: str | None
    query: dict[str, str]
    json: Any
    files: list[str]
    status: int
    at: datetime
    response: Any = None


@dataclass
class Request:
    method: str
    path: str
    params: dict[str, str]
    query: MultiMapping[str]
    body: Any
    uploads: list[Upload]
    app: BotApp | None

    def id(self, name: str) -> int:
        value = self.params[name]
        if not value.isdigit():
            raise ApiError(404, 10003 if "channel" in name else 0, "404: Not Found")
        return int(value)

    @property
    def bot(self) -> BotApp:
        assert self.app is not None
        return self.app

    def json_obj(self) -> JSON:
        if self.body is None:
            return {}
        if not isinstance(self.body, dict):
            raise ApiError(400, 50109, "The request body contains invalid JSON.")
        return self.body

    def int_query(self, name: str) -> int | None:
        value = self.query.get(name)
        if value is None or value == "":
            return None
        try:
            return int(value)
        except ValueError:
            raise invalid_form(name, "NUMBER_TYPE_COERCE", f'Value "{value}" is not int.') from None


Result = tuple[int, Any]
Handler = Callable[[Request], Awaitable[Result]]


@dataclass
class Route:
    method: str
    template: str
    handler: Handler
    auth: bool = True
    regex: re.Pattern[str] = field(init=False)

    def __post_init__(self) -> None:
        pattern = re.sub(r"\\\{(\w+)\\\}", r"(?P<\1>[^/]+)", re.escape(self.template))
        self.regex = re.compile(f"^{pattern}$")

    @property
    def key(self) -> str:
        return f"{self.method} {self.template}"


def _major(params: dict[str, str]) -> str:
    for name in ("channel_id", "guild_id"):
        if name in params:
            return params[name]
    if "token" in params:
        return f"{params.get('application_id') or params.get('interaction_id')}:{params['token']}"
    return ""


def json_response(status: int, body: Any, headers: dict[str, str] | None = None) -> web.Response:
    """JSON with Content-Type exactly ``application/json``: discord.py compares it verbatim."""
    all_headers = {"Via": "1.1 google"}
    all_headers.update(headers or {})
    if status == 204 or body is None:
        return web.Response(status=204 if body is None else status, headers=all_headers)
    data = json.dumps(body, separators=(",", ":")).encode()
    all_headers["Content-Type"] = "application/json"
    return web.Response(status=status, body=data, headers=all_headers)


class RestApi:
    """The REST side of the server, bound to one ``LocalDiscordServer``."""

    def __init__(self, server: LocalDiscordServer) -> None:
        self.server = server
        self.state: DiscordState = server.state
        self.faults: FaultPlan = server.faults
        self.ratelimiter: RateLimiter = server.ratelimiter
        self.calls: list[RestCall] = []
        self.unknown_routes: list[tuple[str, str]] = []
        #: Attachment ids, in the order their files were fetched from the CDN route.
        self.downloads: list[int] = []
        #: Server bugs met while answering (each also answered 400); a test can assert none.
        self.internal_errors: list[str] = []
        #: Seconds every request waits before being handled (a slow Discord).
        self.latency = 0.0
        self.routes: list[Route] = []
        self._register()

    # ---------------------------------------------------------------- routing

    def _add(self, method: str, template: str, handler: Handler, *, auth: bool = True) -> None:
        self.routes.append(Route(method, template, handler, auth))

    def _register(self) -> None:
        a = self._add
        a("GET", "/users/@me", self.get_me)
        a("GET", "/users/@me/guilds", self.get_my_guilds)
        a("POST", "/users/@me/channels", self.open_dm)
        a("GET", "/users/{user_id}", self.get_user)
        a("GET", "/oauth2/applications/@me", self.get_app_info)
        a("GET", "/applications/@me", self.get_app_info)
        a("GET", "/gateway", self.get_gateway, auth=False)
        a("GET", "/gateway/bot", self.get_gateway_bot)
        a("GET", "/channels/{channel_id}", self.get_channel)
        a("PATCH", "/channels/{channel_id}", self.edit_channel)
        a("GET", "/channels/{channel_id}/messages", self.get_history)
        a("POST", "/channels/{channel_id}/messages", self.post_message)
        a("POST", "/channels/{channel_id}/messages/bulk-delete", self.bulk_delete)
        a("GET", "/channels/{channel_id}/messages/pins", self.get_pins_paged)
        a("PUT", "/channels/{channel_id}/messages/pins/{message_id}", self.pin)
        a("DELETE", "/channels/{channel_id}/messages/pins/{message_id}", self.unpin)
        a("GET", "/channels/{channel_id}/pins", self.get_pins_legacy)
        a("PUT", "/channels/{channel_id}/pins/{message_id}", self.pin)
        a("DELETE", "/channels/{channel_id}/pins/{message_id}", self.unpin)
        a("GET", "/channels/{channel_id}/messages/{message_id}", self.get_message)
        a("PATCH", "/channels/{channel_id}/messages/{message_id}", self.edit_message)
        a("DELETE", "/channels/{channel_id}/messages/{message_id}", self.delete_message)
        a("PUT", "/channels/{channel_id}/messages/{message_id}/reactions/{emoji}/@me", self.react)
        a(
            "DELETE",
            "/channels/{channel_id}/messages/{message_id}/reactions/{emoji}/@me",
            self.unreact,
        )
        a("POST", "/channels/{channel_id}/messages/{message_id}/threads", self.thread_from_message)
        a("POST", "/channels/{channel_id}/threads", self.thread_without_message)
        a("GET", "/channels/{channel_id}/thread-members", self.list_thread_members)
        a("PUT", "/channels/{channel_id}/thread-members/@me", self.join_thread)
        a("DELETE", "/channels/{channel_id}/thread-members/@me", self.leave_thread)
        a("GET", "/channels/{channel_id}/thread-members/{user_id}", self.get_thread_member)
        a("PUT", "/channels/{channel_id}/thread-members/{user_id}", self.add_thread_member)
        a("DELETE", "/channels/{channel_id}/thread-members/{user_id}", self.remove_thread_member)
        a("POST", "/channels/{channel_id}/typing", self.typing)
        a("GET", "/guilds/{guild_id}", self.get_guild)
        a("GET", "/guilds/{guild_id}/channels", self.get_guild_channels)
        a("GET", "/guilds/{guild_id}/threads/active", self.get_active_threads)
        a("GET", "/guilds/{guild_id}/members", self.list_members)
        a("GET", "/guilds/{guild_id}/members/{user_id}", self.get_member)
        a("PUT", "/guilds/{guild_id}/members/{user_id}/roles/{role_id}", self.add_role)
        a("DELETE", "/guilds/{guild_id}/members/{user_id}/roles/{role_id}", self.remove_role)
        a("GET", "/guilds/{guild_id}/roles", self.get_roles)
        a("GET", "/applications/{application_id}/commands", self.get_global_commands)
        a("PUT", "/applications/{application_id}/commands", self.put_global_commands)
        a(
            "GET",
            "/applications/{application_id}/guilds/{guild_id}/commands",
            self.get_guild_commands,
        )
        a(
            "PUT",
            "/applications/{application_id}/guilds/{guild_id}/commands",
            self.put_guild_commands,
        )
        a(
            "POST",
            "/interactions/{interaction_id}/{token}/callback",
            self.interaction_callback,
            auth=False,
        )
        a("POST", "/webhooks/{application_id}/{token}", self.followup, auth=False)
        a(
            "GET",
            "/webhooks/{application_id}/{token}/messages/{message_id}",
            self.webhook_get,
            auth=False,
        )
        a(
            "PATCH",
            "/webhooks/{application_id}/{token}/messages/{message_id}",
            self.webhook_edit,
            auth=False,
        )
        a(
            "DELETE",
            "/webhooks/{application_id}/{token}/messages/{message_id}",
            self.webhook_delete,
            auth=False,
        )

    def match(self, method: str, path: str) -> tuple[Route, dict[str, str]] | None:
        for route in self.routes:
            if route.method != method:
                continue
            m = route.regex.match(path)
            if m:
                return route, m.groupdict()
        return None

    # ------------------------------------------------------------- dispatch

    async def handle(self, request: web.Request) -> web.Response:
        method = request.method.upper()
        path = request.path[len(API_PREFIX) :] or "/"
        matched = self.match(method, path)
        route = matched[0] if matched else None
        params = matched[1] if matched else {}
        body, uploads = await self._read_body(request)
        call = RestCall(
            method=method,
            path=path,
            route=route.template if route else None,
            query=dict(request.query),
            json=body,
            files=[u.filename for u in uploads],
            status=0,
            at=datetime.now(UTC),
        )
        self.calls.append(call)
        try:
            response = await self._respond(request, method, path, route, params, body, uploads)
        finally:
            self.server.commit()
        call.status = response.status
        if response.body is not None and response.content_type == "application/json":
            assert isinstance(response.body, bytes)
            call.response = json.loads(response.body)
        self.server.notify()
        return response

    async def _read_body(self, request: web.Request) -> tuple[Any, list[Upload]]:
        if not request.body_exists:
            return None, []
        ctype = request.content_type
        if ctype.startswith("multipart/"):
            payload: Any = None
            files: dict[int, Upload] = {}
            reader = await request.multipart()
            while True:
                part: Any = await reader.next()
                if part is None:
                    break
                name = part.name or ""
                if name == "payload_json":
                    payload = json.loads(await part.text())
                    continue
                m = re.fullmatch(r"files\[(\d+)\]|file(\d*)", name)
                if m:
                    index = int(m.group(1) or m.group(2) or 0)
                    filename = part.filename or f"file{index}"
                    guessed = mimetypes.guess_type(filename)[0]
                    files[index] = Upload(
                        filename=filename,
                        data=bytes(await part.read()),
                        content_type=guessed or "application/octet-stream",
                    )
            described = {}
            if isinstance(payload, dict):
                atts = payload.get("attachments")
                if atts is None and isinstance(payload.get("data"), dict):
                    atts = payload["data"].get("attachments")
                for att in atts or []:
                    if str(att.get("id", "")).isdigit():
                        described[int(att["id"])] = att
            for index, upload in files.items():
                desc = described.get(index)
                if desc is not None:
                    upload.description = desc.get("description")
                    upload.filename = desc.get("filename") or upload.filename
            return payload, [files[i] for i in sorted(files)]
        raw = await request.read()
        if not raw:
            return None, []
        try:
            return json.loads(raw), []
        except ValueError:
            return raw.decode(errors="replace"), []

    async def _respond(
        self,
        request: web.Request,
        method: str,
        path: str,
        route: Route | None,
        params: dict[str, str],
        body: Any,
        uploads: list[Upload],
    ) -> web.Response:
        if self.latency:
            await asyncio.sleep(self.latency)
        if route is None:
            self.unknown_routes.append((method, path))
            return json_response(404, {"message": "404: Not Found", "code": 0})
        app: BotApp | None = None
        token: str | None = None
        if route.auth:
            header = request.headers.get("Authorization", "")
            token = header[4:] if header.startswith("Bot ") else None
            app = self.state.app_by_token(token) if token else None
            if app is None:
                return json_response(401, {"message": "401: Unauthorized", "code": 0})
        fault = self.faults.take(method, path, route.template)
        if fault is not None:
            if fault.delay:
                await asyncio.sleep(fault.delay)
            if fault.status == 429:
                headers = {
                    "Retry-After": str(max(1, round(fault.retry_after))),
                    "X-RateLimit-Scope": "global" if fault.is_global else "user",
                }
                if fault.is_global:
                    headers["X-RateLimit-Global"] = "true"
                return json_response(
                    429,
                    fault.body
                    or {
                        "message": "You are being rate limited.",
                        "retry_after": fault.retry_after,
                        "global": fault.is_global,
                    },
                    headers,
                )
            if fault.status is not None:
                return json_response(
                    fault.status,
                    fault.body or {"message": f"{fault.status}: planned fault", "code": 0},
                )
        decision = self.ratelimiter.check(
            route.key,
            _major(params),
            token=token,
            now=time.monotonic(),
            wall_now=time.time(),
            exempt_global=not route.auth,
        )
        if not decision.allowed:
            return json_response(429, decision.body(), decision.headers)
        try:
            req = Request(method, path, params, request.query, body, uploads, app)
            status, result = await route.handler(req)
        except ApiError as err:
            return json_response(err.status, err.payload(), decision.headers)
        except Exception as exc:
            # A bug here must fail the bot's call at once: a 5xx would be retried for ~25 s.
            log.exception("localdiscord: %s %s failed", method, path)
            self.internal_errors.append(f"{method} {path}: {exc!r}")
            return json_response(
                400, {"message": f"localdiscord internal error: {exc!r}", "code": 0}
            )
        return json_response(status, result, decision.headers)

    # ------------------------------------------------------------- helpers

    def _msg(self, msg: Message, app: BotApp) -> JSON:
        return self.state.rest_message_payload(msg, app)

    def _message_fields(self, body: JSON) -> dict[str, Any]:
        flags = int(body.get("flags") or 0) & ((1 << 2) | (1 << 12))
        reference = body.get("message_reference")
        return {
            "embeds": body.get("embeds") or ([body["embed"]] if body.get("embed") else None),
            "components": body.get("components"),
            "reference": reference if isinstance(reference, dict) else None,
            "allowed_mentions": body.get("allowed_mentions"),
            "flags": flags,
            "nonce": body.get("nonce"),
            "tts": bool(body.get("tts", False)),
        }

    # ---------------------------------------------------------------- users

    async def get_me(self, req: Request) -> Result:
        user = self.state.users[req.bot.user_id].payload()
        user.update(
            {"verified": True, "mfa_enabled": False, "email": None, "bot": True, "locale": "en-GB"}
        )
        return 200, user

    async def get_user(self, req: Request) -> Result:
        uid = self.state.user(req.id("user_id"))
        return 200, uid.payload()

    async def get_my_guilds(self, req: Request) -> Result:
        uid = req.bot.user_id
        return 200, [
            {
                "id": str(g.id),
                "name": g.name,
                "icon": None,
                "owner": g.owner_id == uid,
                "permissions": str(self.state.base_permissions(g, uid)),
                "features": [],
            }
            for g in self.state.guilds.values()
            if uid in g.members
        ]

    async def get_app_info(self, req: Request) -> Result:
        app = req.bot
        return 200, {
            "id": str(app.id),
            "name": app.name,
            "description": "",
            "icon": None,
            "bot_public": False,
            "bot_require_code_grant": False,
            "owner": self.state.users[app.owner_id].payload(),
            "verify_key": "0" * 64,
            "team": None,
            "flags": app.flags,
            "bot": self.state.users[app.user_id].payload(),
            "summary": "",
            "rpc_origins": [],
            "interactions_endpoint_url": None,
            "approximate_guild_count": sum(
                1 for g in self.state.guilds.values() if app.user_id in g.members
            ),
        }

    async def get_gateway(self, req: Request) -> Result:
        return 200, {"url": self.server.gateway_url}

    async def get_gateway_bot(self, req: Request) -> Result:
        return 200, {
            "url": self.server.gateway_url,
            "shards": 1,
            "session_start_limit": {
                "total": 1000,
                "remaining": 999,
                "reset_after": 86_400_000,
                "max_concurrency": 1,
            },
        }

    async def open_dm(self, req: Request) -> Result:
        body = req.json_obj()
        try:
            recipient = int(body["recipient_id"])
        except (KeyError, TypeError, ValueError):
            raise invalid_form(
                "recipient_id", "BASE_TYPE_REQUIRED", "This field is required"
            ) from None
        ch = self.state.open_dm(req.bot.user_id, recipient)
        return 200, self.state.channel_payload(ch, viewer_id=req.bot.user_id)

    # ------------------------------------------------------------- channels

    def _visible_channel(self, req: Request) -> Channel:
        ch = self.state.channel(req.id("channel_id"))
        self.state.require(req.bot.user_id, ch.id, 0)
        return ch

    async def get_channel(self, req: Request) -> Result:
        ch = self._visible_channel(req)
        return 200, self.state.channel_payload(ch, viewer_id=req.bot.user_id)

    async def edit_channel(self, req: Request) -> Result:
        ch = self.state.edit_channel(req.bot.user_id, req.id("channel_id"), req.json_obj())
        return 200, self.state.channel_payload(ch, viewer_id=req.bot.user_id)

    async def typing(self, req: Request) -> Result:
        self._visible_channel(req)
        return 204, None

    # ------------------------------------------------------------- messages

    async def get_history(self, req: Request) -> Result:
        limit = req.int_query("limit")
        msgs = self.state.history(
            req.bot.user_id,
            req.id("channel_id"),
            limit=50 if limit is None else limit,
            before=req.int_query("before"),
            after=req.int_query("after"),
            around=req.int_query("around"),
        )
        return 200, [self._msg(m, req.bot) for m in msgs]

    async def post_message(self, req: Request) -> Result:
        body = req.json_obj()
        fields = self._message_fields(body)
        msg = self.state.create_message(
            req.bot.user_id,
            req.id("channel_id"),
            str(body.get("content") or ""),
            uploads=req.uploads,
            **fields,
        )
        return 200, self._msg(msg, req.bot)

    async def get_message(self, req: Request) -> Result:
        msg = self.state.get_message(req.bot.user_id, req.id("channel_id"), req.id("message_id"))
        return 200, self._msg(msg, req.bot)

    async def edit_message(self, req: Request) -> Result:
        msg = self.state.edit_message(
            req.bot.user_id, req.id("channel_id"), req.id("message_id"), req.json_obj(), req.uploads
        )
        return 200, self._msg(msg, req.bot)

    async def delete_message(self, req: Request) -> Result:
        self.state.delete_message(req.bot.user_id, req.id("channel_id"), req.id("message_id"))
        return 204, None

    async def bulk_delete(self, req: Request) -> Result:
        ids = req.json_obj().get("messages") or []
        if not 2 <= len(ids) <= 100:
            raise invalid_form(
                "messages", "BASE_TYPE_BAD_LENGTH", "Must be between 2 and 100 in length."
            )
        channel_id = req.id("channel_id")
        self.state.require(req.bot.user_id, channel_id, 1 << 13)
        for mid in ids:
            self.state.delete_message(req.bot.user_id, channel_id, int(mid))
        return 204, None

    async def pin(self, req: Request) -> Result:
        self.state.set_pinned(req.bot.user_id, req.id("channel_id"), req.id("message_id"), True)
        return 204, None

    async def unpin(self, req: Request) -> Result:
        self.state.set_pinned(req.bot.user_id, req.id("channel_id"), req.id("message_id"), False)
        return 204, None

    async def get_pins_legacy(self, req: Request) -> Result:
        msgs = self.state.pins(req.bot.user_id, req.id("channel_id"))
        return 200, [self._msg(m, req.bot) for m in msgs]

    async def get_pins_paged(self, req: Request) -> Result:
        msgs = self.state.pins(req.bot.user_id, req.id("channel_id"))
        before = req.query.get("before")
        if before:
            cutoff = datetime.fromisoformat(before)
            msgs = [m for m in msgs if m.pinned_at is not None and m.pinned_at < cutoff]
        limit = req.int_query("limit") or 50
        page = msgs[:limit]
        return 200, {
            "items": [
                {
                    "pinned_at": m.pinned_at.isoformat() if m.pinned_at else None,
                    "message": self._msg(m, req.bot),
                }
                for m in page
            ],
            "has_more": len(msgs) > limit,
        }

    async def react(self, req: Request) -> Result:
        self.state.react(
            req.bot.user_id,
            req.id("channel_id"),
            req.id("message_id"),
            req.params["emoji"],
            add=True,
        )
        return 204, None

    async def unreact(self, req: Request) -> Result:
        self.state.react(
            req.bot.user_id,
            req.id("channel_id"),
            req.id("message_id"),
            req.params["emoji"],
            add=False,
        )
        return 204, None

    # -------------------------------------------------------------- threads

    async def thread_from_message(self, req: Request) -> Result:
        body = req.json_obj()
        ch = self.state.start_thread_from_message(
            req.bot.user_id,
            req.id("channel_id"),
            req.id("message_id"),
            str(body.get("name") or ""),
            int(body.get("auto_archive_duration") or 4320),
        )
        return 201, self.state.channel_payload(ch, viewer_id=req.bot.user_id)

    async def thread_without_message(self, req: Request) -> Result:
        body = req.json_obj()
        if "message" in body:
            raise ApiError(400, 50024, "Cannot execute action on this channel type")
        ch = self.state.start_thread(
            req.bot.user_id,
            req.id("channel_id"),
            str(body.get("name") or ""),
            type=int(body.get("type") or 12),
            invitable=bool(body.get("invitable", True)),
            auto_archive=int(body.get("auto_archive_duration") or 4320),
        )
        return 201, self.state.channel_payload(ch, viewer_id=req.bot.user_id)

    async def list_thread_members(self, req: Request) -> Result:
        ch = self._visible_channel(req)
        return 200, [ch.thread_member_payload(u) for u in ch.thread_members]

    async def get_thread_member(self, req: Request) -> Result:
        ch = self._visible_channel(req)
        uid = req.id("user_id")
        if uid not in ch.thread_members:
            raise ApiError(404, 10007, "Unknown Member")
        return 200, ch.thread_member_payload(uid)

    async def join_thread(self, req: Request) -> Result:
        self.state.add_thread_member(req.bot.user_id, req.id("channel_id"), req.bot.user_id)
        return 204, None

    async def leave_thread(self, req: Request) -> Result:
        self.state.remove_thread_member(req.bot.user_id, req.id("channel_id"), req.bot.user_id)
        return 204, None

    async def add_thread_member(self, req: Request) -> Result:
        self.state.add_thread_member(req.bot.user_id, req.id("channel_id"), req.id("user_id"))
        return 204, None

    async def remove_thread_member(self, req: Request) -> Result:
        self.state.remove_thread_member(req.bot.user_id, req.id("channel_id"), req.id("user_id"))
        return 204, None

    # --------------------------------------------------------------- guilds

    def _my_guild(self, req: Request) -> Any:
        guild = self.state.guilds.get(req.id("guild_id"))
        if guild is None or req.bot.user_id not in guild.members:
            raise ApiError(404, 10004, "Unknown Guild")
        return guild

    async def get_guild(self, req: Request) -> Result:
        guild = self._my_guild(req)
        payload = self.state.guild_create_payload(guild, req.bot, 0)
        for key in (
            "members",
            "channels",
            "threads",
            "presences",
            "voice_states",
            "joined_at",
            "large",
            "member_count",
        ):
            payload.pop(key, None)
        return 200, payload

    async def get_guild_channels(self, req: Request) -> Result:
        guild = self._my_guild(req)
        return 200, [
            self.state.channel_payload(self.state.channels[c])
            for c in guild.channel_ids
            if not self.state.channels[c].is_thread
        ]

    async def get_active_threads(self, req: Request) -> Result:
        guild = self._my_guild(req)
        uid = req.bot.user_id
        threads = self.state.active_threads(guild.id, uid)
        return 200, {
            "threads": [self.state.channel_payload(t) for t in threads],
            "members": [t.thread_member_payload(uid) for t in threads if uid in t.thread_members],
        }

    async def list_members(self, req: Request) -> Result:
        guild = self._my_guild(req)
        if not req.bot.members_enabled:
            raise ApiError(403, 50001, "Missing Access")
        limit = max(1, min(req.int_query("limit") or 1, 1000))
        after = req.int_query("after") or 0
        members = sorted(
            (m for m in guild.members.values() if m.user_id > after), key=lambda m: m.user_id
        )[:limit]
        return 200, [self.state.member_payload(m) for m in members]

    async def get_member(self, req: Request) -> Result:
        guild = self._my_guild(req)
        return 200, self.state.member_payload(self.state.member(guild.id, req.id("user_id")))

    async def add_role(self, req: Request) -> Result:
        self.state.set_member_role(
            req.bot.user_id, req.id("guild_id"), req.id("user_id"), req.id("role_id"), add=True
        )
        return 204, None

    async def remove_role(self, req: Request) -> Result:
        self.state.set_member_role(
            req.bot.user_id, req.id("guild_id"), req.id("user_id"), req.id("role_id"), add=False
        )
        return 204, None

    async def get_roles(self, req: Request) -> Result:
        guild = self._my_guild(req)
        return 200, [r.payload() for r in guild.roles.values()]

    # ------------------------------------------------------------- commands

    def _own_app(self, req: Request) -> BotApp:
        if req.id("application_id") != req.bot.id:
            raise ApiError(403, 50001, "Missing Access")
        return req.bot

    async def get_global_commands(self, req: Request) -> Result:
        app = self._own_app(req)
        return 200, [c.payload() for c in self.state.list_commands(app.id, None)]

    async def put_global_commands(self, req: Request) -> Result:
        app = self._own_app(req)
        body = req.body if isinstance(req.body, list) else []
        cmds = self.state.overwrite_commands(app.id, None, body)
        return 200, [c.payload() for c in cmds]

    async def get_guild_commands(self, req: Request) -> Result:
        app = self._own_app(req)
        guild = self._my_guild(req)
        return 200, [c.payload() for c in self.state.list_commands(app.id, guild.id)]

    async def put_guild_commands(self, req: Request) -> Result:
        app = self._own_app(req)
        guild = self._my_guild(req)
        body = req.body if isinstance(req.body, list) else []
        cmds = self.state.overwrite_commands(app.id, guild.id, body)
        return 200, [c.payload() for c in cmds]

    # --------------------------------------------------------- interactions

    async def interaction_callback(self, req: Request) -> Result:
        result = self.state.interaction_callback(
            req.id("interaction_id"), req.params["token"], req.json_obj(), req.uploads
        )
        if req.query.get("with_response") in ("1", "true", "True"):
            return 200, result
        return 204, None

    def _webhook_app(self, req: Request) -> BotApp:
        app = self.state.apps.get(req.id("application_id"))
        if app is None:
            raise ApiError(404, 10015, "Unknown Webhook")
        return app

    async def followup(self, req: Request) -> Result:
        app = self._webhook_app(req)
        it = self.state.interaction_by_token(app.id, req.params["token"])
        msg = self.state.followup(it, req.json_obj(), req.uploads)
        if req.query.get("wait") in ("1", "true", "True"):
            return 200, self.state.message_payload(msg, viewer_id=it.user_id)
        return 204, None

    async def webhook_get(self, req: Request) -> Result:
        app = self._webhook_app(req)
        it = self.state.interaction_by_token(app.id, req.params["token"])
        msg = self.state.interaction_message(it, req.params["message_id"])
        return 200, self.state.message_payload(msg, viewer_id=it.user_id)

    async def webhook_edit(self, req: Request) -> Result:
        app = self._webhook_app(req)
        it = self.state.interaction_by_token(app.id, req.params["token"])
        msg = self.state.interaction_message(it, req.params["message_id"])
        edited = self.state.edit_message(
            msg.author_id, msg.channel_id, msg.id, req.json_obj(), req.uploads, as_webhook=True
        )
        return 200, self.state.message_payload(edited, viewer_id=it.user_id)

    async def webhook_delete(self, req: Request) -> Result:
        app = self._webhook_app(req)
        it = self.state.interaction_by_token(app.id, req.params["token"])
        msg = self.state.interaction_message(it, req.params["message_id"])
        self.state.delete_message(msg.author_id, msg.channel_id, msg.id, as_webhook=True)
        return 204, None

    # ----------------------------------------------------------- attachments

    async def serve_attachment(self, request: web.Request) -> web.StreamResponse:
        try:
            att_id = int(request.match_info["attachment_id"])
        except ValueError:
            raise web.HTTPNotFound() from None
        att = self.state.attachments.get(att_id)
        if att is None:
            raise web.HTTPNotFound()
        self.downloads.append(att_id)
        return web.Response(body=att.data, content_type=att.content_type)
