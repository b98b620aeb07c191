"""HTTP mode: events, slash commands and interactions POSTed to the app's public URL.

Each request is signed as Slack signs it (``X-Slack-Signature: v0=HMAC-SHA256(secret,
"v0:{timestamp}:{body}")`` with ``X-Slack-Request-Timestamp``). Events are JSON; slash
commands are form-encoded; interactions are a form with one ``payload`` field holding JSON.
An event not answered with 2xx within 3 seconds is sent again, up to three times, with
``X-Slack-Retry-Num`` and ``X-Slack-Retry-Reason``; commands and clicks are not retried.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

import aiohttp

from cohortlab.localslack.delivery import COMMANDS, EVENTS, Attempt, Delivery, text_payload


def sign(secret: str, timestamp: str, body: bytes) -> str:
    """Slack's v0 request signature."""
    base = b"v0:" + timestamp.encode() + b":" + body
    return "v0=" + hmac.new(secret.encode(), base, hashlib.sha256).hexdigest()


def encode(delivery: Delivery) -> tuple[bytes, str]:
    """The body and content type Slack uses for this kind of delivery."""
    if delivery.type == EVENTS:
        return json.dumps(delivery.payload).encode(), "application/json"
    if delivery.type == COMMANDS:
        fields = {k: "" if v is None else str(v) for k, v in delivery.payload.items()}
        return urlencode(fields).encode(), "application/x-www-form-urlencoded"
    return (
        urlencode({"payload": json.dumps(delivery.payload)}).encode(),
        "application/x-www-form-urlencoded",
    )


@dataclass
class HttpRecord:
    """One POST to the app and its answer."""

    url: str
    type: str
    retry_num: int
    status: int | None
    body: str
    headers: dict[str, str] = field(default_factory=dict)
    at: float = field(default_factory=time.time)


class HttpDeliverer:
    """Posts deliveries to the app's request URLs, signed, with Slack's retries."""

    def __init__(
        self,
        *,
        signing_secret: Callable[[], str],
        url_for: Callable[[str], str],
        on_change: Callable[[], None],
        on_ack: Callable[[Delivery], None],
    ) -> None:
        self._secret = signing_secret
        self._url_for = url_for
        self._on_change = on_change
        self._on_ack = on_ack
        #: Slack waits 3 s for the app's answer.
        self.timeout = 3.0
        self.max_retries = 3
        #: Pause before each retry (Slack: at once, 1 min, 5 min; tests want it quick).
        self.retry_delays: tuple[float, ...] = (0.0, 0.2, 0.5)
        #: Timestamp skew for a test that the app refuses stale requests (seconds).
        self.clock_skew = 0
        #: Sign with this secret instead (a test that the app refuses bad signatures).
        self.wrong_secret: str | None = None
        #: How many answered events to send once more anyway (``X-Slack-Retry-Num: 1``,
        #: reason ``http_timeout``), as when Slack missed the app's answer.
        self.redeliver_acked = 0
        self.records: list[HttpRecord] = []
        self._session: aiohttp.ClientSession | None = None
        self._tasks: set[asyncio.Task[None]] = set()

    def _client(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession()
        return self._session

    def deliver(self, delivery: Delivery) -> None:
        task = asyncio.create_task(self._run(delivery))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def post(
        self, url: str, body: bytes, content_type: str, *, retry_num: int = 0, reason: str = ""
    ) -> tuple[int | None, str]:
        """One signed POST; (status or None on timeout/refusal, body)."""
        timestamp = str(int(time.time()) + self.clock_skew)
        headers = {
            "Content-Type": content_type,
            "X-Slack-Request-Timestamp": timestamp,
            "X-Slack-Signature": sign(self.wrong_secret or self._secret(), timestamp, body),
            "User-Agent": "Slackbot 1.0 (+https://api.slack.com/robots)",
        }
        if retry_num:
            headers["X-Slack-Retry-Num"] = str(retry_num)
            headers["X-Slack-Retry-Reason"] = reason
        status: int | None = None
        text = ""
        try:
            async with self._client().post(
                url, data=body, headers=headers, timeout=aiohttp.ClientTimeout(total=self.timeout)
            ) as resp:
                status = resp.status
                text = await resp.text()
        except (TimeoutError, aiohttp.ClientError):
            status = None
        self.records.append(HttpRecord(url, content_type, retry_num, status, text, headers))
        return status, text

    async def _run(self, delivery: Delivery) -> None:
        body, content_type = encode(delivery)
        url = self._url_for(delivery.type)
        tries = 1 + (self.max_retries if delivery.retries else 0)
        reason = ""
        for retry in range(tries):
            if retry:
                delays = self.retry_delays
                await asyncio.sleep(delays[min(retry - 1, len(delays) - 1)])
            attempt = Attempt(retry, reason, time.time(), connection=url)
            delivery.attempts.append(attempt)
            status, text = await self.post(url, body, content_type, retry_num=retry, reason=reason)
            if status is not None and 200 <= status < 300:
                delivery.record_ack(text_payload(text))
                self._on_ack(delivery)
                self._on_change()
                if delivery.retries and self.redeliver_acked > 0:
                    self.redeliver_acked -= 1
                    delivery.attempts.append(Attempt(retry + 1, "http_timeout", time.time()))
                    await self.post(
                        url, body, content_type, retry_num=retry + 1, reason="http_timeout"
                    )
                return
            attempt.outcome = "timeout" if status is None else f"http_{status}"
            reason = "http_timeout" if status is None else "http_error"
        delivery.timed_out = True
        delivery.done.set()
        self._on_change()

    async def verify_url(self, url: str, token: str) -> bool:
        """Send ``url_verification`` as Slack does when a request URL is saved."""
        challenge = f"challenge-{int(time.time() * 1000)}"
        body = json.dumps({"token": token, "challenge": challenge, "type": "url_verification"})
        status, text = await self.post(url, body.encode(), "application/json")
        if status != 200:
            return False
        try:
            answer: Any = json.loads(text)
        except ValueError:
            return text.strip() == challenge
        return isinstance(answer, dict) and answer.get("challenge") == challenge

    async def close(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        if self._session is not None:
            await self._session.close()
