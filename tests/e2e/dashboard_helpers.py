"""Shared by the dashboard's end-to-end tests: seed a module, get a sign-in link by DM."""

from __future__ import annotations

import random
import re

from sqlalchemy import select

from bot.db.models import Module
from cohortlab.activity import Planted, seed_recent_weeks
from cohortlab.localdiscord.scripting import Actor
from cohortlab.sample import seed_term
from cohortlab.sandbox import Sandbox, World

MODULE = "MATH70097"
OTHER_MODULE = "MATH70096"


async def seed_module(sandbox: Sandbox, code: str = MODULE, seed: int = 11) -> tuple[int, Planted]:
    """Weeks of records with credits (the mark distribution) and recent weeks with two students
    fading and one steady but quiet."""
    async with sandbox.db.session() as s:
        module = (await s.execute(select(Module).where(Module.code == code))).scalar_one()
        now = sandbox.clock.now()
        await seed_term(s, module, now=now, rng=random.Random(seed), prompts=2, tutorials=3)
        planted = await seed_recent_weeks(s, module, now=now, rng=random.Random(seed))
        return module.id, planted


async def sign_in_link(sandbox: Sandbox, world: World, actor: Actor, code: str = MODULE) -> str:
    """``/dashboard`` as ``actor``; the link from the DM, pointed at the test's web server."""
    after = sandbox.server.script.last_id()
    handle = await actor.command("dashboard", where=world.channel(code))
    reply = await handle.reply()
    assert "sent you a sign-in link by direct message" in reply.content, reply.content
    dm = await actor.dm_channel()
    message = await sandbox.server.script.wait_for_message(
        dm, contains="dashboard sign-in link", after=after
    )
    found = re.search(r"https?://\S+/dashboard/signin\?token=\S+", message.content)
    assert found, message.content
    return re.sub(r"^https?://[^/]+", sandbox.app.web.url, found.group(0))
