"""What Slack sends the app: one :class:`Delivery` per event, slash command or interaction,
carried by Socket Mode (socketmode.py) or signed HTTP (httpmode.py), with every attempt
and the app's acknowledgement recorded.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

EVENTS = "events_api"
COMMANDS = "slash_commands"
INTERACTIVE = "interactive"


@dataclass
class Attempt:
    """One send: ``retry_attempt`` as the app saw it, and how it ended."""

    retry_attempt: int
    retry_reason: str
    at: float
    outcome: str = "sent"  # sent | acked | timeout | http_<status> | error
    connection: str = ""


@dataclass
class Delivery:
    """An envelope and its life: sent, retried, acknowledged (with a response payload)."""

    type: str
    payload: dict[str, Any]
    envelope_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    #: Slack retries events only; a slash command or click not acked in 3 s just fails.
    retries: bool = True
    attempts: list[Attempt] = field(default_factory=list)
    acks: list[dict[str, Any] | None] = field(default_factory=list)
    created: float = field(default_factory=time.time)
    timed_out: bool = False
    done: asyncio.Event = field(default_factory=asyncio.Event)

    @property
    def accepts_response_payload(self) -> bool:
        return self.type in (COMMANDS, INTERACTIVE)

    @property
    def acked(self) -> bool:
        return bool(self.acks)

    @property
    def ack_payload(self) -> dict[str, Any] | None:
        """The first acknowledgement's payload (what Slack acts on)."""
        return self.acks[0] if self.acks else None

    @property
    def event_id(self) -> str | None:
        value = self.payload.get("event_id")
        return str(value) if value is not None else None

    def envelope(self, retry_attempt: int, retry_reason: str) -> dict[str, Any]:
        return {
            "envelope_id": self.envelope_id,
            "type": self.type,
            "payload": self.payload,
            "accepts_response_payload": self.accepts_response_payload,
            "retry_attempt": retry_attempt,
            "retry_reason": retry_reason,
        }

    def record_ack(self, payload: dict[str, Any] | None) -> None:
        self.acks.append(payload)
        if self.attempts:
            self.attempts[-1].outcome = "acked"
        self.done.set()

    async def wait(self, timeout: float) -> bool:  # noqa: ASYNC109
        """True once acked or given up, False if ``timeout`` passed first."""
        try:
            await asyncio.wait_for(self.done.wait(), timeout)
        except TimeoutError:
            return False
        return True


def text_payload(body: str) -> dict[str, Any] | None:
    """An ack body as Slack reads it: JSON, plain text, or nothing."""
    import json

    body = body.strip()
    if not body:
        return None
    try:
        value = json.loads(body)
    except ValueError:
        return {"text": body}
    return value if isinstance(value, dict) else {"text": body}
