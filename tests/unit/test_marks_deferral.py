"""When /marks says "thinking": Discord drops an interaction neither answered nor deferred
within 3 s of the click. A student is deferred DEFER_AFTER after the click whatever the host's
clock, and at once when the queue ahead will not be answered within BUDGET of the click."""

from __future__ import annotations

import asyncio
from contextlib import ExitStack

import pytest

from bot.gradebook.pacing import (
    ASSUMED_RATE,
    BUDGET,
    DEFER_AFTER,
    MIN_SAMPLE,
    WARM_UP,
    AnswerPacer,
)


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_a_click_seen_at_once_waits_for_the_answer_until_defer_after() -> None:
    assert AnswerPacer().defer_in(0.0, ahead=0) == DEFER_AFTER


def test_a_click_that_reached_the_bot_late_is_deferred_by_defer_after_from_the_click() -> None:
    pacer = AnswerPacer()
    for late in (0.1, 0.5, 1.0, 1.9):
        assert late + pacer.defer_in(late, ahead=0) == pytest.approx(DEFER_AFTER)
    for late in (BUDGET + 0.1, 2.5, 2.9, 10.0):
        assert pacer.defer_in(late, ahead=0) == 0  # "thinking" at once


def test_a_host_clock_behind_the_click_never_waits_past_defer_after() -> None:
    assert AnswerPacer().defer_in(-5.0, ahead=0) == DEFER_AFTER


def test_behind_a_queue_that_cannot_be_answered_in_time_it_defers_at_once() -> None:
    pacer = AnswerPacer()
    in_time = int(BUDGET * ASSUMED_RATE) - 1
    assert pacer.defer_in(0.0, ahead=in_time) == DEFER_AFTER
    assert pacer.defer_in(0.0, ahead=in_time + 2) == 0
    # The click's age counts: the same queue is too long for a click already 1 s old.
    assert pacer.defer_in(1.0, ahead=in_time) == 0


def test_the_queue_is_the_requests_under_way_and_the_rate_the_one_this_spell_measured() -> None:
    clock = Clock()
    pacer = AnswerPacer(clock=clock)
    with ExitStack() as queue:
        for _ in range(150):  # 150 under way: 0.6 s at the assumed rate
            assert queue.enter_context(pacer.request(0.0)).defer_in == DEFER_AFTER
        for _ in range(MIN_SAMPLE):
            with pacer.request(0.0):
                pass  # computed and answered
        clock.now += 0.5
        assert pacer.rate() == MIN_SAMPLE / 0.5  # a slow host: 50 answers a second
        assert queue.enter_context(pacer.request(0.0)).defer_in == 0  # 150 ahead are 3 s away
    # The spell is over (176 answers in 0.5 s); the next crowd starts from that rate.
    with pacer.request(0.0) as ticket:
        assert ticket.defer_in == DEFER_AFTER
        assert pacer.rate() == 176 / 0.5


def crowd(pacer: AnswerPacer, clock: Clock, size: int, seconds: float) -> None:
    """A crowd of ``size`` all answered, the last ``seconds`` after the first arrived."""
    with ExitStack() as queue:
        for _ in range(size):
            queue.enter_context(pacer.request(0.0))
        clock.now += seconds


def test_a_crowd_starts_from_the_rate_of_the_last_crowd_until_it_has_its_own() -> None:
    clock = Clock()
    pacer = AnswerPacer(clock=clock)
    # The first crowd ever: the assumed rate; 1,000 ahead are 4 s away, so defer at once.
    with pacer.request(0.0):
        assert pacer.rate() == ASSUMED_RATE
    clock.now += 10
    crowd(pacer, clock, 1000, 1.25)  # this host answered 800 a second
    clock.now += 60
    with ExitStack() as queue:
        for _ in range(999):
            queue.enter_context(pacer.request(0.0))
        # 999 ahead at 800 a second are 1.25 s away: within the budget, no "thinking".
        assert queue.enter_context(pacer.request(0.0)).defer_in == DEFER_AFTER
        # Once this spell has lasted WARM_UP with answers, its own measure decides.
        for _ in range(MIN_SAMPLE):
            with pacer.request(0.0):
                pass
        clock.now += WARM_UP
        assert pacer.rate() == MIN_SAMPLE / WARM_UP  # this time the host is slow
        assert queue.enter_context(pacer.request(0.0)).defer_in == 0


def test_a_crowd_on_a_loaded_host_makes_the_next_crowd_defer_sooner() -> None:
    clock = Clock()
    pacer = AnswerPacer(clock=clock)
    crowd(pacer, clock, 1000, 10.0)  # 100 a second: a loaded host
    clock.now += 60
    with ExitStack() as queue:
        for _ in range(250):
            queue.enter_context(pacer.request(0.0))
        # 250 ahead at 100 a second are 2.5 s away: defer at once (the assumed rate says 1 s).
        assert queue.enter_context(pacer.request(0.0)).defer_in == 0


def test_a_lone_request_does_not_change_the_estimate() -> None:
    clock = Clock()
    pacer = AnswerPacer(clock=clock)
    crowd(pacer, clock, 1000, 1.25)
    for _ in range(5):
        clock.now += 30
        crowd(pacer, clock, 1, 0.5)  # one student, answered in 0.5 s: latency, not rate
    with pacer.request(0.0):
        assert pacer.rate() == 800


async def test_an_answer_after_a_deferral_waits_until_the_others_are_acknowledged() -> None:
    """The answer of a deferred student has no deadline; the others' acknowledgements do."""
    pacer = AnswerPacer()
    with pacer.request(0.0) as deferred, pacer.request(0.0) as waiting:
        deferred.acknowledged()
        answer = asyncio.ensure_future(pacer.acknowledgements_first())
        await asyncio.sleep(0.05)
        assert not answer.done()  # the other one still needs its answer or "thinking"
        waiting.acknowledged()
        await asyncio.wait_for(answer, 1)


async def test_the_answer_after_a_deferral_waits_at_most_defer_after() -> None:
    pacer = AnswerPacer(defer_after=0.05)
    with pacer.request(0.0), pacer.request(0.0):  # neither acknowledged, ever
        await asyncio.wait_for(pacer.acknowledgements_first(), 10)
