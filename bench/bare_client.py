"""A bare discord.py client in its own process: the bot's intents, an on_message that counts.

The denominator of the ingest ratio: what discord.py alone costs to receive and parse the same
frames the bot receives. Driven by ``bench/harness.py`` over stdin/stdout: it prints ``ready``
once connected, and answers each ``wait <channel_id> <n>`` with ``done`` once it has seen ``n``
messages in that channel.
"""

from __future__ import annotations

import asyncio
import logging
import os
import sys
import threading
from collections import Counter

import discord

from bot.discord_app import build_intents
from bot.discord_endpoints import configure_endpoints


async def main() -> None:
    configure_endpoints(os.environ["BENCH_API_BASE"], os.environ["BENCH_GATEWAY_URL"])
    client = discord.Client(intents=build_intents(), guild_ready_timeout=0.1)
    seen: Counter[int] = Counter()
    waiting: dict[int, tuple[int, asyncio.Future[None]]] = {}
    loop = asyncio.get_running_loop()

    async def no_wait(shard_id: int | None, *, initial: bool = False) -> None:
        """Discord allows one IDENTIFY per 5 s; the local server does not need the wait."""

    client.before_identify_hook = no_wait  # type: ignore[method-assign]

    @client.event
    async def on_message(message: discord.Message) -> None:
        channel = message.channel.id
        seen[channel] += 1
        wanted = waiting.get(channel)
        if wanted is not None and seen[channel] >= wanted[0] and not wanted[1].done():
            wanted[1].set_result(None)

    def reply(line: str) -> None:
        sys.stdout.write(line + "\n")
        sys.stdout.flush()

    async def serve(line: str) -> None:
        _, channel_text, n_text = line.split()
        channel, n = int(channel_text), int(n_text)
        done = loop.create_future()
        waiting[channel] = (n, done)
        if seen[channel] >= n:
            done.set_result(None)
        await done
        reply("done")

    finished = loop.create_future()

    def read_stdin() -> None:
        for line in sys.stdin:
            if line.startswith("wait "):
                asyncio.run_coroutine_threadsafe(serve(line), loop)
        loop.call_soon_threadsafe(finished.set_result, None)

    await client.login(os.environ["BENCH_TOKEN"])
    runner = asyncio.create_task(client.connect())
    await client.wait_until_ready()
    reply("ready")
    threading.Thread(target=read_stdin, daemon=True).start()
    await finished
    await client.close()
    await asyncio.gather(runner, return_exceptions=True)


if __name__ == "__main__":
    logging.basicConfig(level=logging.WARNING)
    logging.getLogger("discord").setLevel(logging.ERROR)
    asyncio.run(main())
