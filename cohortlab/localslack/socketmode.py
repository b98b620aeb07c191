"""Socket Mode: the websocket an app opens with ``apps.connections.open`` instead of a URL.

On connect Slack sends ``hello``; each event, slash command and interaction is an envelope the
app must acknowledge with ``{"envelope_id": ..., "payload"?}``. Events not acknowledged in a
few seconds come again with ``retry_attempt`` + 1; a ``disconnect`` message asks the app to
open a new connection. ``redeliver_acked`` replays an acknowledged event once more, as Slack
sometimes does, so the app's exactly-once bookkeeping can be tested.

An outage: ``hold`` keeps new connections waiting (the app stays down after a ``drop``) until
``release``; with ``lose_while_down`` an event made while no app is connected is never
delivered, as real Slack may not deliver it (the app must read the history instead).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from aiohttp import WSMsgType, web

from cohortlab.localslack.delivery import Attempt, Delivery

log = logging.getLogger(__name__)


@dataclass
class Connection:
    id: str
    ws: web.WebSocketResponse
    ticket: str
    opened: float = field(default_factory=time.time)


@dataclass
class SocketRecord:
    """One thing that happened on the sockets (connect, hello, send, ack, disconnect, close)."""

    kind: str
    connection: str
    detail: dict[str, Any] = field(default_factory=dict)
    at: float = field(default_factory=time.time)


class SocketModeHub:
    """Every open Socket Mode connection and the envelopes waiting for one."""

    def __init__(
        self,
        *,
        app_id: str,
        url: Callable[[str], str],
        on_change: Callable[[], None],
        on_ack: Callable[[Delivery], None],
    ) -> None:
        self.app_id = app_id
        self._url = url
        self._on_change = on_change
        self._on_ack = on_ack
        #: Seconds Slack waits for an ack before sending the envelope again.
        self.ack_timeout = 3.0
        #: Redeliveries of an unacknowledged event (Slack tries three more times).
        self.max_retries = 3
        #: How many acknowledged events to send once more anyway.
        self.redeliver_acked = 0
        self.connections: list[Connection] = []
        self.tickets: dict[str, bool] = {}
        self.records: list[SocketRecord] = []
        self.unknown_messages: list[str] = []
        self.internal_errors: list[str] = []
        self._pending: dict[str, Delivery] = {}
        self._connected = asyncio.Event()
        #: Set while new connections are let in (``hold``/``release``).
        self._accepting = asyncio.Event()
        self._accepting.set()
        #: Whether an event made while no app is connected is lost rather than kept for the
        #: next connection (kept by default: most tests connect after setting up).
        self.lose_while_down = False
        self._tasks: set[asyncio.Task[None]] = set()
        self._next_conn = 0
        # Envelopes leave in the order they were made (a post before its edit), as the
        # asyncio lock hands itself out first come, first served.
        self._send_lock = asyncio.Lock()

    # ------------------------------------------------------------ tickets

    def issue_url(self) -> str:
        """A fresh websocket URL, as apps.connections.open returns."""
        ticket = uuid.uuid4().hex
        self.tickets[ticket] = False
        return self._url(ticket)

    def count(self, kind: str) -> int:
        return sum(1 for r in self.records if r.kind == kind)

    # --------------------------------------------------------- connections

    async def handle(self, request: web.Request) -> web.StreamResponse:
        ticket = request.query.get("ticket", "")
        if ticket not in self.tickets:
            self.records.append(SocketRecord("refused", "", {"ticket": ticket}))
            return web.Response(status=401, text="invalid ticket")
        self.tickets[ticket] = True
        await self._accepting.wait()
        ws = web.WebSocketResponse(autoping=True)
        await ws.prepare(request)
        conn = Connection(id=f"conn-{len(self.records)}-{ticket[:6]}", ws=ws, ticket=ticket)
        self.connections.append(conn)
        self.records.append(SocketRecord("connect", conn.id))
        hello = {
            "type": "hello",
            "num_connections": len(self.connections),
            "debug_info": {
                "host": "localslack",
                "build_number": 1,
                "approximate_connection_time": 18060,
            },
            "connection_info": {"app_id": self.app_id},
        }
        await ws.send_str(json.dumps(hello))
        self.records.append(SocketRecord("hello", conn.id))
        self._connected.set()
        self._on_change()
        try:
            async for msg in ws:
                if msg.type == WSMsgType.TEXT:
                    self._receive(conn, msg.data)
                elif msg.type == WSMsgType.ERROR:
                    break
        except Exception as exc:  # pragma: no cover - a bug of this server
            self.internal_errors.append(f"socket {conn.id}: {exc!r}")
        finally:
            self._forget(conn)
        return ws

    def _forget(self, conn: Connection) -> None:
        if conn in self.connections:
            self.connections.remove(conn)
            self.records.append(SocketRecord("close", conn.id))
        if not self.connections:
            self._connected.clear()
        self._on_change()

    def _receive(self, conn: Connection, data: str) -> None:
        try:
            message = json.loads(data)
        except ValueError:
            self.unknown_messages.append(data)
            return
        envelope_id = message.get("envelope_id") if isinstance(message, dict) else None
        delivery = self._pending.get(str(envelope_id)) if envelope_id else None
        if delivery is None:
            self.unknown_messages.append(data)
            self.records.append(SocketRecord("stray_ack", conn.id, {"message": message}))
            return
        payload = message.get("payload")
        self.records.append(
            SocketRecord("ack", conn.id, {"envelope_id": envelope_id, "payload": payload})
        )
        late = delivery.done.is_set()
        delivery.record_ack(payload if isinstance(payload, dict) else None)
        if not late:
            self._on_ack(delivery)
        self._on_change()

    async def _wait_connection(self) -> Connection:
        while True:
            live = [c for c in self.connections if not c.ws.closed]
            if live:
                self._next_conn += 1
                return live[self._next_conn % len(live)]
            self._connected.clear()
            await self._connected.wait()

    # ------------------------------------------------------------- sending

    def deliver(self, delivery: Delivery) -> None:
        if self.lose_while_down and not self.connected:
            delivery.timed_out = True
            delivery.done.set()
            self.records.append(SocketRecord("lost", "", {"envelope_id": delivery.envelope_id}))
            self._on_change()
            return
        self._pending[delivery.envelope_id] = delivery
        task = asyncio.create_task(self._run(delivery))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _send(self, delivery: Delivery, retry_attempt: int, reason: str) -> bool:
        async with self._send_lock:
            conn = await self._wait_connection()
            attempt = Attempt(retry_attempt, reason, time.time(), connection=conn.id)
            delivery.attempts.append(attempt)
            try:
                await conn.ws.send_str(json.dumps(delivery.envelope(retry_attempt, reason)))
            except (ConnectionError, RuntimeError) as exc:
                attempt.outcome = f"error: {exc!r}"
                return False
        self.records.append(
            SocketRecord(
                "send",
                conn.id,
                {
                    "envelope_id": delivery.envelope_id,
                    "type": delivery.type,
                    "retry": retry_attempt,
                },
            )
        )
        return True

    async def _run(self, delivery: Delivery) -> None:
        tries = 1 + (self.max_retries if delivery.retries else 0)
        retry = failed_sends = 0
        while retry < tries:
            reason = "" if retry == 0 else "timeout"
            if not await self._send(delivery, retry, reason):
                # A socket closing under the send: wait for the client's next one, but a
                # socket that never takes a send still uses up the tries.
                failed_sends += 1
                if failed_sends % 20 == 0:
                    retry += 1
                await asyncio.sleep(0.05)
                continue
            if await delivery.wait(self.ack_timeout):
                break
            delivery.attempts[-1].outcome = "timeout"
            retry += 1
        else:
            delivery.timed_out = True
            delivery.done.set()
            self._on_change()
            return
        if delivery.retries and self.redeliver_acked > 0:
            self.redeliver_acked -= 1
            await self._send(delivery, retry + 1, "timeout")

    # ------------------------------------------------------------- control

    async def send_disconnect(self, reason: str = "refresh_requested") -> int:
        """Ask every connected app to reconnect (Slack does so every few hours)."""
        sent = 0
        for conn in list(self.connections):
            message = {
                "type": "disconnect",
                "reason": reason,
                "debug_info": {"host": "localslack"},
            }
            with contextlib.suppress(ConnectionError, RuntimeError):
                await conn.ws.send_str(json.dumps(message))
                sent += 1
                self.records.append(SocketRecord("disconnect", conn.id, {"reason": reason}))
        return sent

    async def drop(self) -> int:
        """Close every connection abruptly, as a network blip would."""
        dropped = 0
        for conn in list(self.connections):
            with contextlib.suppress(Exception):
                await conn.ws.close(code=1011, message=b"going away")
            self._forget(conn)
            dropped += 1
        return dropped

    def hold(self) -> None:
        """Keep the next connections waiting until ``release`` (an outage the app rides out)."""
        self._accepting.clear()

    def release(self) -> None:
        self._accepting.set()

    @property
    def connected(self) -> bool:
        return any(not c.ws.closed for c in self.connections)

    async def close_all(self) -> None:
        self._accepting.set()  # a connection held waiting ends with the rest
        for task in list(self._tasks):
            task.cancel()
        for conn in list(self.connections):
            with contextlib.suppress(Exception):
                await conn.ws.close()
        self.connections.clear()
