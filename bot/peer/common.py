"""Limits and look-ups every peer command shares: the exercise in this cohort, the caller's
right to act on it, a named member on the roster, and the shape of its ledger credits.
"""

from __future__ import annotations

import re
from datetime import datetime
from decimal import Decimal

from sqlalchemy.ext.asyncio import AsyncSession

from bot.access.identity import ChatUser, resolve_person
from bot.access.permissions import Caller, require_staff
from bot.db.models import Cohort, LedgerSource, Module, PeerExercise, Person
from bot.errors import NotFound, UserError
from bot.gradebook import ledger
from bot.peer.reads import module_of

#: Files above this are refused: the bot re-uploads each file to its reviewers, and Discord
#: caps a bot's upload (10 MiB on an unboosted server); 8 MiB leaves room for the message.
MAX_FILE_BYTES = 8 * 1024 * 1024
MAX_TEXT = 4000
MAX_LINK = 500
MAX_BRIEF = 1500
MAX_TITLE = 100
MAX_COMMENT = 1500
ITEM_TYPE = "exercise"
URL = re.compile(r"^https?://[^\s/$.?#][^\s]*$", re.IGNORECASE)
_REF = {LedgerSource.PEER_SCORE_RECEIVED: "score", LedgerSource.PEER_REVIEW_COMPLETED: "review"}


def user_error(exc: Exception) -> UserError:
    return UserError(str(exc))


async def cohort_exercise(session: AsyncSession, cohort: Cohort, exercise_id: int) -> PeerExercise:
    exercise = await session.get(PeerExercise, exercise_id)
    if exercise is not None:
        module = await session.get(Module, exercise.module_id)
        if module is not None and module.cohort_id == cohort.id:
            return exercise
    raise NotFound(
        f"There is no peer exercise #{exercise_id} in this cohort; its number is in the "
        "exercise's announcement."
    )


async def staff_exercise(
    session: AsyncSession, caller: Caller, cohort: Cohort, exercise_id: int
) -> tuple[PeerExercise, Module]:
    exercise = await cohort_exercise(session, cohort, exercise_id)
    module = await module_of(session, exercise)
    require_staff(caller, module)
    return exercise, module


async def roster_person(session: AsyncSession, user: ChatUser, what: str) -> Person:
    person = await resolve_person(session, user)
    if person is None:
        raise NotFound(f"{user.display_name} ({what}) is not on this cohort's roster.")
    return person


def exercise_credit(
    exercise: PeerExercise,
    module: Module,
    person_id: int,
    source: LedgerSource,
    key: str,
    points: Decimal,
    now: datetime,
    note: str | None = None,
) -> ledger.Credit:
    """A ledger credit for this exercise: its item type and source reference written once."""
    return ledger.Credit(
        idempotency_key=key,
        module_id=module.id,
        person_id=person_id,
        source=source,
        item_type=ITEM_TYPE,
        item_id=exercise.id,
        source_ref=f"peer_exercise:{exercise.id}:{_REF[source]}",
        points=points,
        occurred_at=now,
        note=note,
    )
