"""The ``setup`` functions the Discord permission-matrix test names in the /prompt commands'
extras: each creates what a command needs (a scheduled, open or closed prompt) on the sandbox and
returns the options to invoke it with."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from sqlalchemy import select

from bot.access.identity import ChatUser
from bot.access.permissions import load_caller
from bot.db.models import Cohort
from bot.discussions import service
from cohortlab.localdiscord.scripting import Actor, Upload

if TYPE_CHECKING:
    from cohortlab.sandbox import Sandbox

MODULE = "MATH70097"


def _at(moment: datetime) -> str:
    return f"{moment:%Y-%m-%dT%H:%M}Z"


def _name(actor: Actor) -> str:
    return actor.user.global_name or actor.name


# --------------------------------------------------------------------------- setups


async def _create(
    sandbox: Sandbox,
    *,
    opens_in: timedelta,
    lasts: timedelta = timedelta(days=3),
    private: bool = False,
) -> int:
    assert sandbox.world is not None
    teacher = sandbox.world.tutors(MODULE)[0]
    now = sandbox.clock.now()
    async with sandbox.db.session() as session:
        cohort = (
            await session.execute(select(Cohort).where(Cohort.code == sandbox.world.cohort_code))
        ).scalar_one()
        caller = await load_caller(
            session, cohort.id, ChatUser(str(teacher.id), teacher.name, _name(teacher))
        )
        info = await service.create_prompt(
            session,
            caller,
            cohort,
            module_code=MODULE,
            title="Setup prompt",
            body="What is the bias-variance trade-off?",
            opens=_at(now + opens_in),
            closes=_at(now + opens_in + lasts),
            rubric="standard",
            private_answers=private,
            now=now,
        )
    return info.id


async def setup_scheduled_prompt(sandbox: Sandbox) -> dict[str, Any]:
    """A prompt that has not opened yet (for /prompt edit)."""
    return {"prompt": await _create(sandbox, opens_in=timedelta(days=1))}


async def setup_open_prompt(sandbox: Sandbox) -> dict[str, Any]:
    """An open public prompt (for /prompt close and /prompt extend)."""
    prompt_id = await _create(sandbox, opens_in=timedelta(minutes=1))
    await sandbox.advance(timedelta(minutes=2))
    closes = sandbox.clock.now() + timedelta(days=5)
    return {"prompt": prompt_id, "until": _at(closes)}


async def setup_private_prompt(sandbox: Sandbox) -> dict[str, Any]:
    """An open "post before you see others" prompt (for /prompt answer)."""
    prompt_id = await _create(sandbox, opens_in=timedelta(minutes=1), private=True)
    await sandbox.advance(timedelta(minutes=2))
    return {"prompt": prompt_id}


async def setup_closed_prompt(sandbox: Sandbox) -> dict[str, Any]:
    """A closed prompt (for grading, the score table and release)."""
    prompt_id = await _create(sandbox, opens_in=timedelta(minutes=1), lasts=timedelta(hours=1))
    await sandbox.advance(timedelta(minutes=2))
    await sandbox.advance(timedelta(hours=1))
    return {"prompt": prompt_id}


async def setup_grades_csv(sandbox: Sandbox) -> dict[str, Any]:
    """A closed prompt and a grades file for it (for /prompt grade-csv)."""
    options = await setup_closed_prompt(sandbox)
    data = b"student_number,quality_points,feedback\n02510001,3,Well argued.\n"
    return options | {"file": Upload("grades.csv", data, "text/csv")}
