"""``cohortbot demo --serve``: keep the demo's web server up to browse the dashboard.

Adds recent weeks with two students drifting away (so the at-risk list has something to say),
asks ``/dashboard`` as a tutor, the programme admin and a student on the local server, prints
the links the bot sent them by DM, and waits for Ctrl-C.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import re
import signal

from sqlalchemy import select

from bot.db.models import Module
from cohortlab.activity import seed_recent_weeks
from cohortlab.sandbox import Sandbox, World

MODULE = "MATH70097"
WHO = (("tomaszz_stats", "tutor of MATH70095, MATH70097, MATH70098"), ("amara.codes", "student"))


async def _link(box: Sandbox, world: World, username: str) -> str:
    actor = world.person(username)
    after = box.server.script.last_id()
    await (await actor.command("dashboard", where=world.channel(MODULE))).reply()
    message = await box.server.script.wait_for_message(
        await actor.dm_channel(), contains="dashboard sign-in link", after=after
    )
    found = re.search(r"https?://\S+", message.content)
    return found.group(0) if found else message.content


async def serve_dashboard(box: Sandbox, world: World) -> None:
    async with box.db.session() as s:
        module = (await s.execute(select(Module).where(Module.code == MODULE))).scalar_one()
        await seed_recent_weeks(s, module, now=box.clock.now(), rng=random.Random(17))
    admins = [name for name, actor in world.people.items() if actor in world.admins()]
    people = [*WHO, *((name, "programme admin") for name in admins[:1])]
    print(f"\n=== Dashboard ===\nThe bot's web server is up at {box.app.web.url}/dashboard")
    print("Sign-in links the bot sent by DM (each works once):")
    for username, role in people:
        print(f"  {username} ({role}):\n    {await _link(box, world, username)}")
    print("The demo's clock stands still, so the links stay valid. Ctrl-C stops the server.")
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError):
            loop.add_signal_handler(sig, stop.set)
    await stop.wait()
