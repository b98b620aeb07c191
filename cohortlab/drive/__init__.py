"""One way to drive a cohort on either platform, for the parity tests and the demo.

    cohort = await start_cohort("slack", Database(url), start=TERM_START)
    tutor = cohort.tutor("MATH70097")
    reply = await tutor.command("prompt create", where="MATH70097", module="MATH70097", ...)
    if reply.form:
        reply = await tutor.fill_form(text="What is the bias-variance trade-off?")
    thread = await cohort.prompt_thread(1)
    await cohort.students("MATH70097")[0].post(thread, "My answer")

``base`` holds the neutral shapes, ``discord``/``slack`` the two implementations over the local
servers and the real applications, ``text.readable`` the one rendering both are compared in.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from bot.db.engine import Database
from cohortlab.drive.base import (
    PLATFORMS,
    Cohort,
    File,
    NotOnPlatform,
    Person,
    Post,
    Reply,
    Thread,
)
from cohortlab.drive.text import readable, when


async def start_cohort(
    platform: str, db: Database, *, start: datetime, settings: dict[str, Any] | None = None
) -> Cohort:
    """The example cohort on ``platform`` ("discord" or "slack"), the bot serving it."""
    if platform == "discord":
        from cohortlab.drive.discord import DiscordCohort

        return await DiscordCohort.start(db, start=start, settings=settings)
    if platform == "slack":
        from cohortlab.drive.slack import SlackCohort

        return await SlackCohort.start(db, start=start, settings=settings)
    raise ValueError(f"platform must be one of {PLATFORMS}, not {platform!r}")


__all__ = [
    "PLATFORMS",
    "Cohort",
    "File",
    "NotOnPlatform",
    "Person",
    "Post",
    "Reply",
    "Thread",
    "readable",
    "start_cohort",
    "when",
]
