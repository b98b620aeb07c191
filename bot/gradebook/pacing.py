"""When a ``/marks`` answer must say "thinking" first: at once when the queue ahead is long.

Discord forgets an interaction neither answered nor deferred within 3 s of the click. A lone
``/marks`` is answered well inside that; a student who waited ``defer_after`` (2.5 s) for the
answer is deferred then. In a crowd (a cohort asking at the end of term) that fallback alone
left hundreds of deferrals late: every student whose answer was not ready defers at the same
moment, 2.5 s after the same click, and those deferrals queue behind the crowd's answers and
each other in the bot's HTTP client and on the loop (docs/benchmarks.md).

So a request that arrives behind a queue it cannot get through in time defers *at once*, when
it arrives: the deferrals go out spread over the crowd's arrival, and only for the students who
would have been deferred anyway. The estimate is the queue ahead (requests whose answer is not
computed yet; they are computed in order) over the rate at which this process has been
computing them during the current busy spell, once that spell has lasted ``warm_up`` and
computed ``MIN_SAMPLE`` answers. Before then, the rate this process measured over its last
crowd (a spell of at least ``MIN_SAMPLE`` answers), or ``assumed_rate`` before its first: a
spell's first moments measure the latency of its first answers more than the rate it keeps up,
and measured alone they deferred more than half of a crowd of a thousand that the host then
answered within the budget (docs/benchmarks.md). The host's last crowd is the better guess,
and it is its own measure: on a loaded host it is low, and more students are deferred. A
student expected to be answered within ``budget`` of the click waits for the answer as before
(one request, no "thinking").

And acknowledgements go first: the answer of a student already deferred has no deadline, so
it waits (at most ``defer_after``) until every request under way has its answer or deferral
at Discord, rather than compete with them for the loop and the HTTP client.

Platform-neutral: the cog measures the click's age and sends the deferral.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field

__all__ = ["ASSUMED_RATE", "BUDGET", "DEFER_AFTER", "WARM_UP", "AnswerPacer", "Ticket"]

#: Seconds after the click at which a student still waiting for the answer is deferred.
DEFER_AFTER = 2.5
#: A student whose answer is expected later than this after the click is deferred at once.
BUDGET = 2.0
#: Answers per second assumed until this process has measured its own (a loaded 2-core host
#: answered 200-700 a second in the bench; the lower end, so that a crowd's first arrivals
#: are not left to the 2.5 s fallback).
ASSUMED_RATE = 250.0
#: Answers in the current busy spell before its measured rate replaces the earlier estimate.
MIN_SAMPLE = 25
#: Seconds a busy spell must have lasted before its own measure replaces the earlier estimate.
WARM_UP = 0.5


@dataclass(eq=False)
class Ticket:
    """One request under way: how long it may wait before deferring, and what it has done."""

    pacer: AnswerPacer
    defer_in: float
    is_ready: bool = False
    is_acknowledged: bool = False

    def ready(self) -> None:
        """Its answer is computed (whether or not it has been sent)."""
        if not self.is_ready:
            self.is_ready = True
            self.pacer._ready()

    def acknowledged(self) -> None:
        """Discord has its answer or its deferral: its 3 s no longer matter."""
        if not self.is_acknowledged:
            self.is_acknowledged = True
            self.pacer._acknowledged()


@dataclass
class AnswerPacer:
    """Counts the requests under way and says how long each may wait before deferring."""

    defer_after: float = DEFER_AFTER
    budget: float = BUDGET
    assumed_rate: float = ASSUMED_RATE
    warm_up: float = WARM_UP
    clock: Callable[[], float] = time.monotonic
    _computing: int = field(default=0, init=False)
    _unacknowledged: int = field(default=0, init=False)
    _all_acknowledged: asyncio.Event = field(default_factory=asyncio.Event, init=False)
    _spell_started: float = field(default=0.0, init=False)
    _spell_ready: int = field(default=0, init=False)
    _last_crowd_rate: float | None = field(default=None, init=False)

    def __post_init__(self) -> None:
        self._all_acknowledged.set()

    def rate(self) -> float:
        """Answers computed per second in the current busy spell once it has lasted
        ``warm_up`` with ``MIN_SAMPLE`` answers; before that, the last crowd's rate, or
        ``assumed_rate`` before the first crowd."""
        elapsed = self.clock() - self._spell_started
        if self._spell_ready >= MIN_SAMPLE and elapsed >= self.warm_up:
            return self._spell_ready / elapsed
        return self._last_crowd_rate or self.assumed_rate

    def defer_in(self, waited: float, ahead: int) -> float:
        """Seconds to wait for the answer before deferring, for a request whose click is
        ``waited`` seconds old with ``ahead`` requests before it: 0 when it is not expected
        to be answered within ``budget`` of the click, else until ``defer_after``."""
        waited = max(0.0, waited)
        if waited + ahead / self.rate() > self.budget:
            return 0.0
        return max(0.0, self.defer_after - waited)

    @contextmanager
    def request(self, waited: float) -> Iterator[Ticket]:
        """One request from its start to its answer. The queue ahead is every request whose
        answer is not computed yet; leaving counts it ready and acknowledged."""
        if self._computing == 0:
            self._spell_started, self._spell_ready = self.clock(), 0
        ticket = Ticket(self, self.defer_in(waited, self._computing))
        self._computing += 1
        self._unacknowledged += 1
        self._all_acknowledged.clear()
        try:
            yield ticket
        finally:
            ticket.ready()
            ticket.acknowledged()

    async def acknowledgements_first(self) -> None:
        """Wait until every request under way has its answer or deferral at Discord (the
        answer of a student already deferred has no deadline, theirs does), or at most
        ``defer_after`` while new ones keep arriving."""
        with suppress(TimeoutError):
            await asyncio.wait_for(self._all_acknowledged.wait(), self.defer_after)

    def _ready(self) -> None:
        self._computing -= 1
        self._spell_ready += 1
        if self._computing == 0 and self._spell_ready >= MIN_SAMPLE:
            # A crowd's spell is over: its rate is the next crowd's first estimate.
            elapsed = self.clock() - self._spell_started
            if elapsed > 0:
                self._last_crowd_rate = self._spell_ready / elapsed

    def _acknowledged(self) -> None:
        self._unacknowledged -= 1
        if self._unacknowledged == 0:
            self._all_acknowledged.set()
