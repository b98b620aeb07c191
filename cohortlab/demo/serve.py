"""``cohortbot demo --serve``: keep the demo's web server up to browse the dashboard.

Adds recent weeks with two students drifting away (so the at-risk list has something to say),
asks ``/dashboard`` as a tutor, the programme admin and a student, prints the links the bot
sent them by DM, and waits for Ctrl-C. The same on both platforms.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import re
import signal
from typing import TextIO

from sqlalchemy import select

from bot.db.models import Module
from cohortlab.activity import seed_recent_weeks
from cohortlab.drive import Cohort, Person

MODULE = "MATH70097"


async def _link(cohort: Cohort, person: Person) -> str:
    before = len(person.dms())
    await person.command("dashboard", where=MODULE)
    message = await cohort.wait_for(
        lambda: next(
            (p for p in person.dms()[before:] if "dashboard sign-in link" in p.text), None
        ),
        what=f"a dashboard sign-in link for {person.name}",
    )
    found = re.search(r"https?://\S+", message.text)
    return found.group(0) if found else message.text


async def serve_dashboard(cohort: Cohort, out: TextIO) -> None:
    async with cohort.db.session() as s:
        module = (await s.execute(select(Module).where(Module.code == MODULE))).scalar_one()
        await seed_recent_weeks(s, module, now=cohort.clock.now(), rng=random.Random(17))
    tutor = cohort.tutor(MODULE)
    people = [
        (tutor, f"tutor of {', '.join(cohort.modules_of(tutor))}"),
        (cohort.admins()[0], "programme admin"),
        (cohort.students(MODULE)[0], "student"),
    ]
    print(
        f"\n=== Dashboard ===\nThe bot's web server is up at {cohort.web_url}/dashboard", file=out
    )
    print("Sign-in links the bot sent by DM (each works once):", file=out)
    for person, role in people:
        print(f"  {person.display_name} ({role}):\n    {await _link(cohort, person)}", file=out)
    print(
        "The demo's clock stands still, so the links stay valid. Ctrl-C stops the server.", file=out
    )
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError):
            loop.add_signal_handler(sig, stop.set)
    await stop.wait()
