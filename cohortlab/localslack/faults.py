"""Planned Web API faults: a method that answers an error, an HTTP status or slowly.

Tests use them to show the bot survives what Slack does on a bad day (``internal_error``,
5xx, ``ratelimited``) without monkeypatching slack_sdk.
"""

from __future__ import annotations

import fnmatch
from dataclasses import dataclass, field


@dataclass
class MethodFault:
    """Answer ``error`` (as ``{"ok": false}``) or ``status`` after ``delay`` seconds,
    ``times`` times (None: until cleared). ``method`` may hold shell wildcards (``chat.*``).
    ``retry_after`` goes with status 429."""

    method: str
    error: str | None = None
    status: int | None = None
    times: int | None = 1
    delay: float = 0.0
    retry_after: int = 1
    hits: int = 0

    @property
    def exhausted(self) -> bool:
        return self.times is not None and self.hits >= self.times


@dataclass
class FaultPlan:
    faults: list[MethodFault] = field(default_factory=list)

    def fail_next(
        self,
        method: str,
        error: str | None = None,
        *,
        status: int | None = None,
        times: int | None = 1,
        delay: float = 0.0,
        retry_after: int = 1,
    ) -> MethodFault:
        """Make the next ``times`` calls of ``method`` fail; with neither ``error`` nor
        ``status``, they answer ``internal_error``."""
        if error is None and status is None and delay == 0.0:
            error = "internal_error"
        fault = MethodFault(
            method, error=error, status=status, times=times, delay=delay, retry_after=retry_after
        )
        self.faults.append(fault)
        return fault

    def delay_next(self, method: str, seconds: float, *, times: int | None = 1) -> MethodFault:
        """Answer ``method`` normally, but only after ``seconds``."""
        return self.fail_next(method, delay=seconds, times=times)

    def take(self, method: str) -> MethodFault | None:
        for fault in self.faults:
            if not fault.exhausted and fnmatch.fnmatchcase(method, fault.method):
                fault.hits += 1
                return fault
        return None

    def clear(self) -> None:
        self.faults.clear()
