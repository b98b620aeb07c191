"""The outbox's pacer never lets more than its share of the rate leave in any rolling second,
even when the event loop stalls and sends whose slots passed meanwhile all wake at once."""

from __future__ import annotations

import asyncio
import time

from bot.outbox.sender import Pacer


async def test_a_stalled_loop_does_not_bunch_a_window_of_sends() -> None:
    pacer = Pacer(20.0)  # 19 a second at the pace's share
    left: list[float] = []
    loop = asyncio.get_running_loop()

    async def send() -> None:
        await pacer.wait()
        left.append(loop.time())

    tasks = [asyncio.create_task(send()) for _ in range(40)]
    await asyncio.sleep(0.3)
    time.sleep(0.6)  # noqa: ASYNC251 - the loop blocked: a slow write, a busy machine
    await asyncio.gather(*tasks)
    assert len(left) == 40
    # (a hair under a second: the moment a task notes is a little after the pacer let it go)
    busiest = max(sum(1 for t in left if start <= t < start + 0.99) for start in left)
    assert busiest <= pacer.per_window == 19, busiest


async def test_without_a_rate_nothing_waits() -> None:
    pacer = Pacer(None)
    for _ in range(1000):
        await pacer.wait()
