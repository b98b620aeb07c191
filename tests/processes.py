"""Waiting for a killed helper process to be gone (it is the fork server's child, not ours)."""

from __future__ import annotations

import asyncio
import os


async def gone(pid: int, within: float = 10.0) -> None:
    async with asyncio.timeout(within):
        while True:
            try:
                os.kill(pid, 0)
            except ProcessLookupError:
                return
            await asyncio.sleep(0.01)
