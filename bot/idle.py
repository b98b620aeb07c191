"""Waiting, at a clean stop, for work under way to finish (the outbox's sends, scheduled runs).

Both wait the same way: an event set when nothing is under way, a bound on the wait, and a
warning when time runs out; what is still claimed then is verified by the next process after
its lease.
"""

from __future__ import annotations

import asyncio
import logging


async def wait_idle(
    idle: asyncio.Event, within: float, *, log: logging.Logger, left_running: str
) -> bool:
    """Wait at most ``within`` seconds for ``idle``; False, with ``left_running`` warned in the
    caller's ``log``, if it did not come."""
    try:
        await asyncio.wait_for(idle.wait(), within)
    except TimeoutError:
        log.warning(left_running)
        return False
    return True
