"""Slack's Web API rate limits: per-method tiers per minute, and chat.postMessage's ~1/s
per channel. Pure logic: the caller passes the clock in.

Slack answers HTTP 429 with ``Retry-After`` (whole seconds) and ``{"ok": false, "error":
"ratelimited"}``; slack_sdk's RateLimitErrorRetryHandler reads that header.
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass, field

#: Requests per minute of each tier (https://api.slack.com/apis/rate-limits).
TIERS: dict[int, int] = {1: 1, 2: 20, 3: 50, 4: 100}

METHOD_TIERS: dict[str, int] = {
    "apps.connections.open": 1,
    "auth.test": 4,
    "chat.postEphemeral": 4,
    "chat.update": 3,
    "chat.delete": 3,
    "chat.getPermalink": 4,
    "conversations.open": 3,
    "conversations.create": 2,
    "conversations.invite": 3,
    "conversations.kick": 3,
    "conversations.archive": 2,
    "conversations.info": 3,
    "conversations.join": 3,
    "conversations.list": 2,
    "conversations.members": 4,
    "conversations.history": 3,
    "conversations.replies": 3,
    "users.info": 4,
    "users.lookupByEmail": 3,
    "users.list": 2,
    "views.open": 4,
    "views.update": 4,
    "views.push": 4,
    "views.publish": 4,
    "files.getUploadURLExternal": 4,
    "files.completeUploadExternal": 4,
    "files.info": 4,
}


@dataclass
class Window:
    """At most ``limit`` requests in any ``seconds``-long window (a sliding log)."""

    limit: int
    seconds: float


@dataclass
class SlackRateLimiter:
    """Sliding windows keyed by (method, channel for chat.postMessage).

    ``overrides`` replace a method's window (tests shrink them: a real Tier 2 window is a
    minute long); ``post_message`` is the per-channel rule.
    """

    tiers: dict[int, int] = field(default_factory=lambda: dict(TIERS))
    method_tiers: dict[str, int] = field(default_factory=lambda: dict(METHOD_TIERS))
    overrides: dict[str, Window] = field(default_factory=dict)
    post_message: Window = field(default_factory=lambda: Window(limit=1, seconds=1.0))
    post_message_burst: int = 3
    _log: dict[tuple[str, str], deque[float]] = field(default_factory=dict)

    def window_for(self, method: str) -> Window | None:
        if method in self.overrides:
            return self.overrides[method]
        if method == "chat.postMessage":
            return Window(
                self.post_message.limit * self.post_message_burst,
                self.post_message.seconds * self.post_message_burst,
            )
        tier = self.method_tiers.get(method)
        if tier is None:
            return None
        return Window(limit=self.tiers[tier], seconds=60.0)

    def check(self, method: str, key: str, *, now: float) -> float:
        """Count one call; 0.0 if it passes, else the seconds to wait before retrying."""
        window = self.window_for(method)
        if window is None:
            return 0.0
        log = self._log.setdefault((method, key if method == "chat.postMessage" else ""), deque())
        while log and now - log[0] >= window.seconds:
            log.popleft()
        if len(log) >= window.limit:
            return max(log[0] + window.seconds - now, 0.001)
        log.append(now)
        return 0.0

    def reset(self) -> None:
        self._log.clear()


def retry_after_header(wait: float) -> str:
    """Slack sends whole seconds, never 0."""
    return str(max(1, math.ceil(wait)))
