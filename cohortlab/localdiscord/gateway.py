"""The gateway: a real websocket speaking Discord's v10 JSON protocol.

Sessions outlive connections so a client that drops can RESUME and be replayed every event it
missed (by sequence number); faults (close codes, RECONNECT, INVALID_SESSION, silence) are
injected here so the bot's reconnect paths run for real.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import secrets
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from aiohttp import WSMsgType, web

from cohortlab.localdiscord.models import JSON, BotApp
from cohortlab.localdiscord.state import PRIVILEGED_INTENTS, DiscordState, Event

log = logging.getLogger(__name__)

DISPATCH = 0
HEARTBEAT = 1
IDENTIFY = 2
PRESENCE_UPDATE = 3
VOICE_STATE_UPDATE = 4
RESUME = 6
RECONNECT = 7
REQUEST_GUILD_MEMBERS = 8
INVALID_SESSION = 9
HELLO = 10
HEARTBEAT_ACK = 11

CLOSE_UNKNOWN_OPCODE = 4001
CLOSE_DECODE_ERROR = 4002
CLOSE_NOT_AUTHENTICATED = 4003
CLOSE_AUTHENTICATION_FAILED = 4004
CLOSE_ALREADY_AUTHENTICATED = 4005
CLOSE_INVALID_SHARD = 4010
CLOSE_INVALID_INTENTS = 4013
CLOSE_DISALLOWED_INTENTS = 4014

MEMBER_CHUNK_SIZE = 1000


@dataclass
class GatewayRecord:
    """One thing a client did on the gateway, for tests to assert on (identify, resume...)."""

    kind: str
    session_id: str | None
    at: datetime
    detail: JSON = field(default_factory=dict)


class Connection:
    """One websocket; frames go out in order through a single writer task."""

    def __init__(self, ws: web.WebSocketResponse, request: web.Request) -> None:
        self.ws = ws
        self.request = request
        self.queue: asyncio.Queue[str | None] = asyncio.Queue()
        self.session: Session | None = None
        self.closed = False
        self.writer = asyncio.create_task(self._write())

    async def _write(self) -> None:
        while True:
            frame = await self.queue.get()
            if frame is None or self.ws.closed:
                return
            try:
                await self.ws.send_str(frame)
            except (ConnectionError, RuntimeError):
                return

    def send(self, payload: JSON) -> None:
        self.send_frame(json.dumps(payload, separators=(",", ":")))

    def send_frame(self, frame: str) -> None:
        if not self.closed:
            self.queue.put_nowait(frame)

    async def close(self, code: int) -> None:
        """Close after the frames already queued, as Discord flushes before closing."""
        if self.closed:
            return
        self.closed = True
        self.queue.put_nowait(None)
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await asyncio.wait_for(asyncio.shield(self.writer), timeout=2)
        with contextlib.suppress(Exception):
            await self.ws.close(code=code)

    def abort(self) -> None:
        """Cut the TCP connection with no close frame: a network failure as the client sees it."""
        self.closed = True
        self.writer.cancel()
        transport = self.request.transport
        if transport is not None:
            transport.abort()


@dataclass
class Session:
    id: str
    app: BotApp
    intents: int
    shard: tuple[int, int] | None
    buffer_size: int
    seq: int = 0
    conn: Connection | None = None
    buffer: deque[tuple[int, str]] = field(default_factory=deque)

    def owns_guild(self, guild_id: int | None) -> bool:
        if self.shard is None:
            return True
        shard_id, count = self.shard
        if guild_id is None:
            return shard_id == 0
        return (guild_id >> 22) % count == shard_id

    def dispatch(self, name: str, data: JSON) -> None:
        self.seq += 1
        frame = json.dumps(
            {"op": DISPATCH, "t": name, "s": self.seq, "d": data}, separators=(",", ":")
        )
        self.buffer.append((self.seq, frame))
        while len(self.buffer) > self.buffer_size:
            self.buffer.popleft()
        if self.conn is not None:
            self.conn.send_frame(frame)


class GatewayHub:
    """Accepts gateway websockets, owns sessions and fans state events out to them."""

    def __init__(
        self,
        state: DiscordState,
        *,
        url: Callable[[], str],
        heartbeat_interval_ms: int = 41_250,
        resume_buffer: int = 10_000,
        on_change: Callable[[], None] = lambda: None,
    ) -> None:
        self.state = state
        self._url = url
        self.heartbeat_interval_ms = heartbeat_interval_ms
        self.resume_buffer = resume_buffer
        self.sessions: dict[str, Session] = {}
        self.connections: list[Connection] = []
        self.records: list[GatewayRecord] = []
        #: Set False to stop answering heartbeats (a zombied connection as the client sees it).
        self.ack_heartbeats = True
        self._closing: set[asyncio.Future[None]] = set()
        #: Server bugs met while handling client ops; a test can assert none.
        self.internal_errors: list[str] = []
        self._on_change = on_change

    # -------------------------------------------------------------- fan-out

    def publish(self, events: list[Event]) -> None:
        for event in events:
            for session in list(self.sessions.values()):
                if event.guild_id is not None and not session.owns_guild(event.guild_id):
                    continue
                if (
                    event.guild_id is None
                    and event.channel_id is not None
                    and not (session.owns_guild(None))
                ):
                    continue
                data = self.state.render_for(event, session.app, session.intents)
                if data is not None:
                    session.dispatch(event.name, data)

    # ------------------------------------------------------------ websocket

    async def handle(self, request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse(autoping=True, max_msg_size=16 * 1024 * 1024)
        await ws.prepare(request)
        conn = Connection(ws, request)
        self.connections.append(conn)
        conn.send(
            {
                "op": HELLO,
                "d": {"heartbeat_interval": self.heartbeat_interval_ms},
                "s": None,
                "t": None,
            }
        )
        try:
            async for msg in ws:
                if msg.type != WSMsgType.TEXT:
                    if msg.type == WSMsgType.BINARY:
                        await self._close(conn, CLOSE_DECODE_ERROR)
                    continue
                try:
                    payload = json.loads(msg.data)
                    op = payload["op"]
                except (ValueError, KeyError, TypeError):
                    await self._close(conn, CLOSE_DECODE_ERROR)
                    break
                try:
                    await self._on_op(conn, op, payload.get("d"))
                except Exception as exc:
                    log.exception("localdiscord gateway: op %s failed", op)
                    self.internal_errors.append(f"op {op}: {exc!r}")
                if conn.closed:
                    break
        finally:
            close_code = ws.close_code
            self._detach(conn, client_close_code=close_code if not conn.closed else None)
            conn.closed = True
            conn.queue.put_nowait(None)
            with contextlib.suppress(Exception):
                await asyncio.wait_for(asyncio.shield(conn.writer), timeout=1)
            if conn in self.connections:
                self.connections.remove(conn)
            self._on_change()
        return ws

    def _detach(self, conn: Connection, *, client_close_code: int | None) -> None:
        session = conn.session
        if session is None or session.conn is not conn:
            return
        session.conn = None
        self.records.append(
            GatewayRecord(
                "disconnect",
                session.id,
                datetime.now(UTC),
                {"client_close_code": client_close_code},
            )
        )
        if client_close_code in (1000, 1001):
            # A client closing normally ends its session, as on Discord.
            self.sessions.pop(session.id, None)

    async def _close(self, conn: Connection, code: int) -> None:
        self.records.append(
            GatewayRecord(
                "server_close",
                conn.session.id if conn.session else None,
                datetime.now(UTC),
                {"code": code},
            )
        )
        await conn.close(code)

    async def _on_op(self, conn: Connection, op: int, data: Any) -> None:
        if op == HEARTBEAT:
            if self.ack_heartbeats:
                conn.send({"op": HEARTBEAT_ACK, "d": None, "s": None, "t": None})
            return
        if op == IDENTIFY:
            await self._identify(conn, data)
            return
        if op == RESUME:
            await self._resume(conn, data)
            return
        if conn.session is None:
            await self._close(conn, CLOSE_NOT_AUTHENTICATED)
            return
        if op == REQUEST_GUILD_MEMBERS:
            self._request_members(conn.session, data)
            return
        if op in (PRESENCE_UPDATE, VOICE_STATE_UPDATE):
            return
        await self._close(conn, CLOSE_UNKNOWN_OPCODE)

    async def _identify(self, conn: Connection, data: Any) -> None:
        if conn.session is not None:
            await self._close(conn, CLOSE_ALREADY_AUTHENTICATED)
            return
        token = str((data or {}).get("token") or "")
        if token.startswith("Bot "):
            token = token[4:]
        app = self.state.app_by_token(token)
        if app is None:
            await self._close(conn, CLOSE_AUTHENTICATION_FAILED)
            return
        intents = data.get("intents")
        if not isinstance(intents, int) or intents < 0 or intents >= 1 << 26:
            await self._close(conn, CLOSE_INVALID_INTENTS)
            return
        allowed_privileged = 0
        if app.members_enabled:
            allowed_privileged |= 1 << 1
        if app.presences_enabled:
            allowed_privileged |= 1 << 8
        if app.message_content_enabled:
            allowed_privileged |= 1 << 15
        if intents & PRIVILEGED_INTENTS & ~allowed_privileged:
            await self._close(conn, CLOSE_DISALLOWED_INTENTS)
            return
        shard: tuple[int, int] | None = None
        raw_shard = data.get("shard")
        if raw_shard is not None:
            try:
                shard = (int(raw_shard[0]), int(raw_shard[1]))
            except (TypeError, ValueError, IndexError):
                shard = (-1, 0)
            if shard[1] < 1 or not 0 <= shard[0] < shard[1]:
                await self._close(conn, CLOSE_INVALID_SHARD)
                return
        session = Session(
            id=secrets.token_hex(16),
            app=app,
            intents=intents,
            shard=shard,
            buffer_size=self.resume_buffer,
        )
        self.sessions[session.id] = session
        conn.session = session
        session.conn = conn
        self.records.append(
            GatewayRecord(
                "identify", session.id, datetime.now(UTC), {"intents": intents, "shard": raw_shard}
            )
        )
        guilds = [
            g
            for g in self.state.guilds.values()
            if app.user_id in g.members and session.owns_guild(g.id)
        ]
        user = self.state.users[app.user_id].payload()
        user.update({"verified": True, "mfa_enabled": False, "email": None, "bot": True})
        ready: JSON = {
            "v": 10,
            "user": user,
            "guilds": [{"id": str(g.id), "unavailable": True} for g in guilds],
            "session_id": session.id,
            "session_type": "normal",
            "resume_gateway_url": self._url(),
            "application": {"id": str(app.id), "flags": app.flags},
            "private_channels": [],
            "relationships": [],
            "presences": [],
            "user_settings": {},
            "guild_join_requests": [],
            "geo_ordered_rtc_regions": ["rotterdam"],
            "auth": {},
        }
        if shard is not None:
            ready["shard"] = list(shard)
        session.dispatch("READY", ready)
        for guild in guilds:
            session.dispatch(
                "GUILD_CREATE", self.state.guild_create_payload(guild, app, session.intents)
            )
        self._on_change()

    async def _resume(self, conn: Connection, data: Any) -> None:
        if conn.session is not None:
            await self._close(conn, CLOSE_ALREADY_AUTHENTICATED)
            return
        data = data or {}
        session = self.sessions.get(str(data.get("session_id")))
        token = str(data.get("token") or "")
        if token.startswith("Bot "):
            token = token[4:]
        seq = data.get("seq") or 0
        replay: list[str] | None = None
        if session is not None and secrets.compare_digest(session.app.token, token):
            first = session.buffer[0][0] if session.buffer else session.seq + 1
            if seq >= session.seq or seq + 1 >= first:
                replay = [frame for s, frame in session.buffer if s > seq]
        if session is None or replay is None:
            self.records.append(
                GatewayRecord(
                    "resume_refused", data.get("session_id"), datetime.now(UTC), {"seq": seq}
                )
            )
            if session is not None:
                self.sessions.pop(session.id, None)
            conn.send({"op": INVALID_SESSION, "d": False, "s": None, "t": None})
            return
        old = session.conn
        if old is not None and old is not conn:
            old.session = None
            self._closing.add(asyncio.ensure_future(old.close(4000)))
            self._closing = {t for t in self._closing if not t.done()}
        for frame in replay:
            conn.send_frame(frame)
        conn.session = session
        session.conn = conn
        self.records.append(
            GatewayRecord(
                "resume", session.id, datetime.now(UTC), {"seq": seq, "replayed": len(replay)}
            )
        )
        session.dispatch("RESUMED", {})
        self._on_change()

    def _request_members(self, session: Session, data: Any) -> None:
        data = data or {}
        guild_ids = data.get("guild_id")
        if not isinstance(guild_ids, list):
            guild_ids = [guild_ids]
        nonce = data.get("nonce")
        self.records.append(
            GatewayRecord("request_members", session.id, datetime.now(UTC), dict(data))
        )
        user_ids = data.get("user_ids")
        if user_ids is not None and not isinstance(user_ids, list):
            user_ids = [user_ids]
        for raw_gid in guild_ids:
            try:
                guild_id = int(raw_gid)
            except (TypeError, ValueError):
                continue
            guild = self.state.guilds.get(guild_id)
            if guild is None or session.app.user_id not in guild.members:
                continue
            members = self.state.members_chunk(
                guild_id,
                query=data.get("query"),
                limit=int(data.get("limit") or 0),
                user_ids=[int(u) for u in user_ids] if user_ids is not None else None,
            )
            chunks = [
                members[i : i + MEMBER_CHUNK_SIZE]
                for i in range(0, len(members), MEMBER_CHUNK_SIZE)
            ] or [[]]
            for index, chunk in enumerate(chunks):
                payload: JSON = {
                    "guild_id": str(guild_id),
                    "members": [self.state.member_payload(m) for m in chunk],
                    "chunk_index": index,
                    "chunk_count": len(chunks),
                }
                if nonce is not None:
                    payload["nonce"] = nonce
                if user_ids is not None and index == len(chunks) - 1:
                    found = {m.user_id for m in members}
                    missing = [str(u) for u in user_ids if int(u) not in found]
                    if missing:
                        payload["not_found"] = missing
                session.dispatch("GUILD_MEMBERS_CHUNK", payload)

    # ---------------------------------------------------------------- faults

    def _targets(self, app_id: int | None) -> list[Connection]:
        return [
            c
            for c in self.connections
            if c.session is not None
            and not c.closed
            and (app_id is None or c.session.app.id == app_id)
        ]

    async def drop(self, *, code: int | None = 4000, app_id: int | None = None) -> int:
        """Close live connections with ``code`` (None: cut TCP with no close frame)."""
        targets = self._targets(app_id)
        for conn in targets:
            self.records.append(
                GatewayRecord(
                    "drop",
                    conn.session.id if conn.session else None,
                    datetime.now(UTC),
                    {"code": code},
                )
            )
            if code is None:
                conn.abort()
                if conn.session is not None and conn.session.conn is conn:
                    conn.session.conn = None
            else:
                await conn.close(code)
        return len(targets)

    def send_reconnect(self, *, app_id: int | None = None) -> int:
        """Op 7: ask clients to reconnect and resume."""
        targets = self._targets(app_id)
        for conn in targets:
            self.records.append(
                GatewayRecord(
                    "reconnect_sent", conn.session.id if conn.session else None, datetime.now(UTC)
                )
            )
            conn.send({"op": RECONNECT, "d": None, "s": None, "t": None})
        return len(targets)

    def invalidate(self, *, resumable: bool, app_id: int | None = None) -> int:
        """Op 9: tell clients their session is invalid (False: forget it, they must IDENTIFY)."""
        targets = self._targets(app_id)
        for conn in targets:
            session = conn.session
            assert session is not None
            self.records.append(
                GatewayRecord(
                    "invalid_session_sent", session.id, datetime.now(UTC), {"resumable": resumable}
                )
            )
            if not resumable:
                self.sessions.pop(session.id, None)
                session.conn = None
                conn.session = None
            conn.send({"op": INVALID_SESSION, "d": resumable, "s": None, "t": None})
        return len(targets)

    def count(self, kind: str) -> int:
        return sum(1 for r in self.records if r.kind == kind)

    async def close_all(self) -> None:
        for conn in list(self.connections):
            await conn.close(1001)
