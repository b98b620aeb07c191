"""When a ``/marks`` answer must say "thinking" first: at once when the queue ahead is long.

Discord forgets an interaction neither answered nor deferred within 3 s of the click. A lone
``/marks`` is answered well inside that; a student who waited ``defer_after`` (2.5 s) for the
answer is deferred then. In a crowd (a cohort asking at the end of term) that fallback alone
left hundreds of deferrals late: every student whose answer was not ready defers at the same
moment, 2.5 s after the same click, and those deferrals queue behind the crowd's answers and
each other in the bot's HTTP client and on the loop (docs/benchmarks.md).

So a request that arrives behind a queue it cannot get through in time defers *at once*, when
it arrives: the deferrals go out spread over the crowd's arrival, ahead of the answers, and
only for the students who would have been deferred anyway. The estimate is the queue ahead
(requests started and not yet answered, answered in order) over the rate at which this
process has been answering during the current busy spell; before enough answers have been
seen to measure that rate, ``assumed_rate``. A student expected to be answered within
``budget`` of the click waits for the answer as before (one request, no "thinking").

Platform-neutral: the cog measures the click's age and sends the deferral.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

__all__ = ["ASSUMED_RATE", "BUDGET", "DEFER_AFTER", "AnswerPacer"]

#: Seconds after the click at which a student still waiting for the answer is deferred.
DEFER_AFTER = 2.5
#: A student whose answer is expected later than this after the click is deferred at once.
BUDGET = 2.0
#: Answers per second assumed until this process has measured its own (a loaded 2-core host
#: answered 200-700 a second in the bench; the lower end, so that a crowd's first arrivals
#: are not left to the 2.5 s fallback).
ASSUMED_RATE = 250.0
#: Answers in the current busy spell before its measured rate replaces ``assumed_rate``.
MIN_SAMPLE = 25


@dataclass
class AnswerPacer:
    """Counts the requests under way and says how long each may wait before deferring."""

    defer_after: float = DEFER_AFTER
    budget: float = BUDGET
    assumed_rate: float = ASSUMED_RATE
    clock: Callable[[], float] = time.monotonic
    _pending: int = field(default=0, init=False)
    _spell_started: float = field(default=0.0, init=False)
    _spell_answered: int = field(default=0, init=False)

    def rate(self) -> float:
        """Answers per second in the current busy spell, or ``assumed_rate`` before enough."""
        elapsed = self.clock() - self._spell_started
        if self._spell_answered < MIN_SAMPLE or elapsed <= 0:
            return self.assumed_rate
        return self._spell_answered / elapsed

    def defer_in(self, waited: float, ahead: int) -> float:
        """Seconds to wait for the answer before deferring, for a request whose click is
        ``waited`` seconds old with ``ahead`` requests before it: 0 when it is not expected
        to be answered within ``budget`` of the click, else until ``defer_after``."""
        waited = max(0.0, waited)
        if waited + ahead / self.rate() > self.budget:
            return 0.0
        return max(0.0, self.defer_after - waited)

    @contextmanager
    def request(self, waited: float) -> Iterator[float]:
        """One request from its start to its answer; yields how long it may wait before
        deferring (``defer_in``). The queue ahead is every request started and not yet left."""
        if self._pending == 0:
            self._spell_started, self._spell_answered = self.clock(), 0
        wait = self.defer_in(waited, self._pending)
        self._pending += 1
        try:
            yield wait
        finally:
            self._pending -= 1
            self._spell_answered += 1
