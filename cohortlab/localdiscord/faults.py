"""Planned REST faults: a route that fails, throttles or lags a given number of times.

Tests use them to prove the bot survives what Discord does on a bad day (5xx bursts, 429s,
slow answers) without sleeping real seconds or monkeypatching discord.py.
"""

from __future__ import annotations

import fnmatch
from dataclasses import dataclass, field
from typing import Any


@dataclass
class RouteFault:
    """Answer ``status`` (None = answer normally) after ``delay`` seconds, ``times`` times,
    once ``after`` matching requests have gone through normally.

    ``pattern`` matches either the route template (``/channels/{channel_id}/messages``) exactly
    or the concrete path with shell wildcards (``/channels/*/messages``).
    """

    pattern: str
    method: str | None = None
    status: int | None = 500
    times: int | None = 1
    retry_after: float = 0.05
    is_global: bool = False
    delay: float = 0.0
    body: dict[str, Any] | None = None
    after: int = 0
    hits: int = 0
    passed: int = 0

    def matches(self, method: str, path: str, route_key: str | None) -> bool:
        if self.method is not None and self.method.upper() != method.upper():
            return False
        return self.pattern == route_key or fnmatch.fnmatchcase(path, self.pattern)

    @property
    def exhausted(self) -> bool:
        return self.times is not None and self.hits >= self.times


@dataclass
class FaultPlan:
    faults: list[RouteFault] = field(default_factory=list)

    def add(self, fault: RouteFault) -> RouteFault:
        self.faults.append(fault)
        return fault

    def take(self, method: str, path: str, route_key: str | None) -> RouteFault | None:
        """The first live fault for this request, counted as used."""
        for fault in self.faults:
            if not fault.exhausted and fault.matches(method, path, route_key):
                if fault.passed < fault.after:
                    fault.passed += 1
                    continue
                fault.hits += 1
                return fault
        return None

    def clear(self) -> None:
        self.faults.clear()
