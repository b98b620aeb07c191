"""Discord-style REST rate limits: per-route buckets and a global per-bot limit.

The headers and 429 body are what discord.py's HTTP client reads to pace itself, so a bot
that floods (mass DMs to a cohort) is slowed here exactly as Discord would slow it.
Pure logic: the caller passes the clock in.
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass, field


@dataclass(frozen=True)
class BucketRule:
    """``limit`` requests per ``window`` seconds."""

    limit: int
    window: float


@dataclass
class _Window:
    started: float
    count: int = 0


@dataclass
class Decision:
    allowed: bool
    headers: dict[str, str]
    retry_after: float = 0.0
    is_global: bool = False

    def body(self) -> dict[str, object]:
        return {
            "message": "You are being rate limited.",
            "retry_after": round(self.retry_after, 3),
            "global": self.is_global,
        }


def bucket_hash(route_key: str) -> str:
    return hashlib.sha1(route_key.encode()).hexdigest()[:16]


@dataclass
class RateLimiter:
    """Fixed-window buckets keyed by (route, major parameter) and one global window per token."""

    default: BucketRule = field(default_factory=lambda: BucketRule(limit=50, window=1.0))
    rules: dict[str, BucketRule] = field(default_factory=dict)
    global_limit: int | None = 50
    global_window: float = 1.0
    _buckets: dict[tuple[str, str], _Window] = field(default_factory=dict)
    _global: dict[str, _Window] = field(default_factory=dict)

    @classmethod
    def discord_like(cls) -> RateLimiter:
        """Buckets close to Discord's published ones, for demos that should feel real.

        The default limiter is generous per route (50/s) so tests stay fast; this one makes a
        bot that posts ten notices in a row in one channel wait as it would on Discord.
        """
        return cls(
            default=BucketRule(limit=50, window=1.0),
            rules={
                "POST /channels/{channel_id}/messages": BucketRule(limit=5, window=5.0),
                "PATCH /channels/{channel_id}/messages/{message_id}": BucketRule(5, 5.0),
                "PUT /channels/{channel_id}/messages/{message_id}/reactions/{emoji}/@me": (
                    BucketRule(1, 0.25)
                ),
            },
            global_limit=50,
        )

    def rule_for(self, route_key: str) -> BucketRule:
        return self.rules.get(route_key, self.default)

    def check(
        self,
        route_key: str,
        major: str,
        *,
        token: str | None,
        now: float,
        wall_now: float,
        exempt_global: bool = False,
    ) -> Decision:
        """Count one request; say whether it passes and with which headers."""
        if self.global_limit is not None and token is not None and not exempt_global:
            win = self._global.get(token)
            if win is None or now - win.started >= self.global_window:
                win = self._global[token] = _Window(started=now)
            if win.count >= self.global_limit:
                retry = max(win.started + self.global_window - now, 0.001)
                return Decision(
                    allowed=False,
                    headers={
                        "X-RateLimit-Global": "true",
                        "X-RateLimit-Scope": "global",
                        "Retry-After": str(math.ceil(retry)),
                    },
                    retry_after=retry,
                    is_global=True,
                )
            win.count += 1
        rule = self.rule_for(route_key)
        key = (route_key, major)
        bucket = self._buckets.get(key)
        if bucket is None or now - bucket.started >= rule.window:
            bucket = self._buckets[key] = _Window(started=now)
        reset_after = max(bucket.started + rule.window - now, 0.0)
        headers = {
            "X-RateLimit-Limit": str(rule.limit),
            "X-RateLimit-Bucket": bucket_hash(route_key),
            "X-RateLimit-Reset": f"{wall_now + reset_after:.3f}",
            "X-RateLimit-Reset-After": f"{reset_after:.3f}",
        }
        if bucket.count >= rule.limit:
            headers["X-RateLimit-Remaining"] = "0"
            headers["X-RateLimit-Scope"] = "user"
            headers["Retry-After"] = str(math.ceil(reset_after))
            return Decision(allowed=False, headers=headers, retry_after=max(reset_after, 0.001))
        bucket.count += 1
        headers["X-RateLimit-Remaining"] = str(rule.limit - bucket.count)
        return Decision(allowed=True, headers=headers)
